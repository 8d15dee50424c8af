//! A document an owner added to a bot's knowledge base (its passages are in `kb_passages`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "kb_documents")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub bot_id: i64,
    /// The file's name, cited with its passages.
    pub name: String,
    /// SHA-256 of the text extracted from it.
    pub sha256: String,
    pub passages: i32,
    /// Personal data found in it was replaced by placeholders at the owner's word.
    pub redacted: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
