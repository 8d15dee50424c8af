//! The sender's names as the channel reported them when they wrote a stored message (a Fernet
//! token of a JSON list), so their old names stay redacted in the context after a rename. Rows
//! written before have none.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ConversationMessages {
    Table,
    NamesEnc,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ConversationMessages::Table)
                    .add_column(text_null(ConversationMessages::NamesEnc))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ConversationMessages::Table)
                    .drop_column(ConversationMessages::NamesEnc)
                    .take(),
            )
            .await
    }
}
