//! One-time console sign-in links for owners (`/panel`): only a digest of each link's token is
//! stored; a link works once, for ten minutes.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ConsoleLinks {
    Table,
    TokenSha256,
    Principal,
    BotId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConsoleLinks::Table)
                    .col(string(ConsoleLinks::TokenSha256).primary_key())
                    .col(string(ConsoleLinks::Principal))
                    .col(big_integer(ConsoleLinks::BotId))
                    .col(timestamp_with_time_zone(ConsoleLinks::CreatedAt))
                    .col(timestamp_with_time_zone(ConsoleLinks::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ConsoleLinks::UsedAt))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ConsoleLinks::Table).take())
            .await
    }
}
