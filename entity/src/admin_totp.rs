//! An admin key's second factor: its TOTP secret (Fernet-encrypted), whether enrolment was
//! confirmed with a first code, the last time step used (a code is good once), and the
//! one-time recovery codes, stored as SHA-256 digests.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "admin_totp")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub key_id: i64,
    pub secret_enc: String,
    pub confirmed_at: Option<DateTimeUtc>,
    pub last_step: i64,
    /// JSON array of the unused recovery codes' SHA-256 digests.
    pub recovery_sha256: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
