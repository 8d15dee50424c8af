//! Replies not yet sent: written, encrypted, before the update they answer is acknowledged to its
//! platform, deleted once the platform took them. After a crash, what is left here is sent then.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub bot_id: i64,
    /// The answered update's dedupe key (a keyed digest, as in `processed_updates`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub update_key: String,
    /// Fernet: JSON of the chat id, the sender's id and the replies.
    pub sealed: String,
    pub created_at: DateTimeUtc,
    /// Until then the process that wrote the row is sending it; afterwards anyone may.
    pub send_after: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
