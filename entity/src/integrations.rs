//! A linked account: provider, scopes, and the tokens, Fernet-encrypted. Revoking deletes the
//! tokens and keeps the row (status `revoked`) as a record.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "integrations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub bot_id: i64,
    pub owner_subject_id: i64,
    pub provider: String,
    /// Space-separated scopes granted.
    pub scopes: String,
    pub access_token_enc: Option<String>,
    pub refresh_token_enc: Option<String>,
    pub expires_at: Option<DateTimeUtc>,
    /// `active`, `broken` (the refresh token stopped working) or `revoked`.
    pub status: String,
    pub linked_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    /// When its tokens were last refreshed at the provider.
    pub last_refreshed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
