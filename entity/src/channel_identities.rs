//! How a subject is reached on one bot: the raw platform ids, Fernet-encrypted, found again by a
//! keyed blind index so that a database dump alone shows no chat id or phone number.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channel_identities")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub subject_id: i64,
    pub bot_id: i64,
    pub channel: String,
    /// HMAC-SHA256 over the bot and the platform user id, hex; unique.
    #[sea_orm(unique)]
    pub blind_index: String,
    /// Fernet token of the platform user id.
    pub user_id_enc: String,
    /// Fernet token of the chat id replies go to.
    pub chat_id_enc: String,
    pub created_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::subjects::Entity",
        from = "Column::SubjectId",
        to = "super::subjects::Column::Id"
    )]
    Subject,
}

impl Related<super::subjects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Subject.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
