//! Conversations are kept per chat: a person's exchanges in a group are context only in that
//! group, and their private ones never leave their private chat. `chat_key` is a keyed digest of
//! the group's id; rows of private chats (and every row written before) have none.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ConversationMessages {
    Table,
    ChatKey,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ConversationMessages::Table)
                    .add_column(string_null(ConversationMessages::ChatKey))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ConversationMessages::Table)
                    .drop_column(ConversationMessages::ChatKey)
                    .take(),
            )
            .await
    }
}
