//! Counts per bot and day that no table holds otherwise (assistant answers and their time,
//! sorted by how long they took), for the console's overview; and when each linked account's
//! tokens were last refreshed.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DailyCounts {
    Table,
    BotId,
    Day,
    Name,
    Value,
}

#[derive(DeriveIden)]
enum Integrations {
    Table,
    LastRefreshedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DailyCounts::Table)
                    .col(big_integer(DailyCounts::BotId))
                    .col(date(DailyCounts::Day))
                    .col(string_len(DailyCounts::Name, 64))
                    .col(big_integer(DailyCounts::Value))
                    .primary_key(
                        Index::create()
                            .col(DailyCounts::BotId)
                            .col(DailyCounts::Day)
                            .col(DailyCounts::Name),
                    )
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Integrations::Table)
                    .add_column(timestamp_with_time_zone_null(Integrations::LastRefreshedAt))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Integrations::Table)
                    .drop_column(Integrations::LastRefreshedAt)
                    .take(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(DailyCounts::Table).take())
            .await
    }
}
