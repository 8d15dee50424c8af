//! The consent record: append-only, one row per grant, refusal or withdrawal, pinned to the policy
//! version and the hash of the exact text shown. Never updated; deleted only with the person.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consent_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub subject_id: i64,
    pub bot_id: i64,
    /// The purpose consented to, e.g. `assistant`.
    pub purpose: String,
    /// `given`, `refused` or `withdrawn`.
    pub action: String,
    pub policy_version_id: i64,
    /// SHA-256 of the exact text the person was shown, hex.
    pub text_sha256: String,
    pub channel: String,
    /// `button`, `command` or `keyword`.
    pub method: String,
    pub platform_message_id: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
