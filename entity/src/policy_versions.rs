//! One published version of a bot's privacy policy: the exact text people were shown and its hash.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "policy_versions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub bot_id: i64,
    /// 1, 2, 3 … per bot.
    pub version: i32,
    pub label: String,
    pub text: String,
    /// SHA-256 of `text`, hex.
    pub text_sha256: String,
    pub effective_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    /// What changed since the previous version, in the publisher's words.
    pub summary: String,
    /// The purposes of this version as JSON: `[{name, title, text, text_sha256, required}]`.
    /// Null on versions published before purposes existed (one `assistant` purpose, the text).
    pub purposes: Option<String>,
    /// The assistant's system prompt this version put live (from the console's settings);
    /// none: the configured one.
    #[sea_orm(column_type = "Text", nullable)]
    pub system_prompt: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
