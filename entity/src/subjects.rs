//! A data subject: the person behind one or more channel identities, known only by pseudonym.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "subjects")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// HMAC-SHA256(PSEUDONYM_KEY, "channel:platform_user_id") in hex.
    #[sea_orm(unique)]
    pub pseudonym: String,
    /// False once the person blocked the bot; nothing is sent to them until they write again.
    pub reachable: bool,
    pub created_at: DateTimeUtc,
    /// Set by `/delete`: from then on nothing about the person is processed.
    pub erasure_requested_at: Option<DateTimeUtc>,
    /// When the person's data is purged, unless `/restore` comes first.
    pub purge_after: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
