//! A bot's settings as edited in the console: the assistant's system prompt and the purposes'
//! texts. They replace the configuration's for this bot, and go live only when a policy
//! version is published (the version keeps what it put live).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bot_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub bot_id: i64,
    /// Replaces the configured system prompt; none keeps it.
    #[sea_orm(column_type = "Text", nullable)]
    pub system_prompt: Option<String>,
    /// A JSON object of purpose name → text, replacing the configured texts.
    #[sea_orm(column_type = "Text", nullable)]
    pub purpose_texts: Option<String>,
    pub updated_at: DateTimeUtc,
    /// `key:{id}`, or `owner` (which owner: the audit entry).
    pub updated_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
