//! Knowledge-base passages may carry their embedding (a vector from the configured `/embeddings`
//! service), Fernet-encrypted like their text.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum KbPassages {
    Table,
    EmbeddingEnc,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(KbPassages::Table)
                    .add_column(ColumnDef::new(KbPassages::EmbeddingEnc).text().null())
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(KbPassages::Table)
                    .drop_column(KbPassages::EmbeddingEnc)
                    .take(),
            )
            .await
    }
}
