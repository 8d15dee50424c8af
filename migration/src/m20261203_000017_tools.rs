//! Tools an owner enabled for a bot: each backed by a linked account's provider (Google Sheets,
//! HubSpot). What a tool points at (the spreadsheet, its range, the columns) is kept
//! Fernet-encrypted.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BotTools {
    Table,
    Id,
    BotId,
    Name,
    Kind,
    Description,
    SettingsEnc,
    CreatedBy,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BotTools::Table)
                    .col(big_pk_auto(BotTools::Id))
                    .col(big_integer(BotTools::BotId))
                    .col(string(BotTools::Name))
                    .col(string(BotTools::Kind))
                    .col(text(BotTools::Description))
                    .col(text(BotTools::SettingsEnc))
                    .col(big_integer(BotTools::CreatedBy))
                    .col(timestamp_with_time_zone(BotTools::CreatedAt))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_bot_tools_name")
                    .table(BotTools::Table)
                    .col(BotTools::BotId)
                    .col(BotTools::Name)
                    .unique()
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BotTools::Table).take())
            .await
    }
}
