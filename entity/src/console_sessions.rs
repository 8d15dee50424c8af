//! A console sign-in session. The cookie holds a random id; only its SHA-256 is stored, so a
//! database dump opens no session.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "console_sessions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub token_sha256: String,
    /// Who signed in: `key:{admin key id}` (or, for owners, `owner:{pseudonym}`).
    pub principal: String,
    /// `admin` or `auditor`.
    pub role: String,
    /// `key` (the key was right; the second factor is asked next), `enrol` (first sign-in:
    /// setting up TOTP) or `full`.
    pub stage: String,
    /// The token every change made in this session must carry.
    pub csrf: String,
    pub created_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    /// The absolute end, however active the session is.
    pub expires_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
