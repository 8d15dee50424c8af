//! The stored conversation: kept only for people who chose the `history` purpose, each text
//! Fernet-encrypted, deleted by retention, withdrawal of `history`, or erasure.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversation_messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub subject_id: i64,
    pub bot_id: i64,
    /// `user` or `assistant`.
    pub role: String,
    /// Fernet token of the text.
    pub text_enc: String,
    pub created_at: DateTimeUtc,
    /// The group chat it belongs to (a keyed digest of its id); `None` for the person's private
    /// chat. Context is read per chat.
    pub chat_key: Option<String>,
    /// Fernet token of the sender's names (a JSON list) as the channel reported them when they
    /// wrote this message: after a rename the old names stay redacted in the context.
    pub names_enc: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
