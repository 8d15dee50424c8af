//! Per-bot settings edited in the console — the assistant's system prompt and the purposes'
//! texts — which go live only with the next policy version; and the system prompt each version
//! put live.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BotSettings {
    Table,
    BotId,
    SystemPrompt,
    PurposeTexts,
    UpdatedAt,
    UpdatedBy,
}

#[derive(DeriveIden)]
enum PolicyVersions {
    Table,
    SystemPrompt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BotSettings::Table)
                    .col(big_integer(BotSettings::BotId).primary_key())
                    .col(text_null(BotSettings::SystemPrompt))
                    .col(text_null(BotSettings::PurposeTexts))
                    .col(timestamp_with_time_zone(BotSettings::UpdatedAt))
                    .col(string(BotSettings::UpdatedBy))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PolicyVersions::Table)
                    .add_column(text_null(PolicyVersions::SystemPrompt))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(PolicyVersions::Table)
                    .drop_column(PolicyVersions::SystemPrompt)
                    .take(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(BotSettings::Table).take())
            .await
    }
}
