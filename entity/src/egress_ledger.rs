//! The egress ledger: one row per LLM call about a person — provider, model, time and the SHA-256
//! of the exact bytes sent. Never the bytes themselves.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "egress_ledger")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub subject_id: i64,
    pub bot_id: i64,
    pub provider: String,
    pub model: String,
    /// Hex SHA-256 of the request body sent to the provider.
    pub payload_sha256: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
