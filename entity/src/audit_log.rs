//! One entry per decision the gateway takes, chained by keyed hashes. Metadata only: pseudonyms,
//! never content or raw ids.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    pub bot_id: Option<i64>,
    /// The subject's pseudonym, when the decision is about a person.
    pub subject: Option<String>,
    /// What was decided, e.g. `consent.given`, `message.forwarded`, `message.held`.
    pub action: String,
    /// Short machine-readable metadata (JSON); never message text.
    pub detail: String,
    /// Position in the hash chain (1, 2, 3 …); `None` for entries from before the chain.
    #[sea_orm(unique)]
    pub seq: Option<i64>,
    /// The previous entry's hash, hex (64 zeros for the first).
    pub prev_hash: Option<String>,
    /// HMAC-SHA256(AUDIT_KEY, previous hash ‖ canonical bytes of this entry), hex.
    pub hash: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
