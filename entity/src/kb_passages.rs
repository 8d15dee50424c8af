//! One passage of a knowledge-base document, Fernet-encrypted, with its embedding where there is one.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "kb_passages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub document_id: i64,
    pub bot_id: i64,
    pub seq: i32,
    #[sea_orm(column_type = "Text")]
    pub text_enc: String,
    /// Its embedding (little-endian f32s), Fernet-encrypted; `None` without an embeddings
    /// service, or when it did not answer.
    #[sea_orm(column_type = "Text", nullable)]
    pub embedding_enc: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
