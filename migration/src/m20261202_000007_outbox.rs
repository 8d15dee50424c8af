//! The outbox: replies kept (encrypted) until the platform took them, so an update is
//! acknowledged only once its answer is durable, and a crash loses no answer.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    BotId,
    UpdateKey,
    Sealed,
    CreatedAt,
    SendAfter,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(big_integer(Outbox::BotId))
                    .col(string(Outbox::UpdateKey))
                    .col(text(Outbox::Sealed))
                    .col(timestamp_with_time_zone(Outbox::CreatedAt))
                    .col(timestamp_with_time_zone(Outbox::SendAfter))
                    .primary_key(Index::create().col(Outbox::BotId).col(Outbox::UpdateKey))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_send_after")
                    .table(Outbox::Table)
                    .col(Outbox::SendAfter)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Outbox::Table).take())
            .await
    }
}
