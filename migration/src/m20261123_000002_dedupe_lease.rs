//! Dedupe claims become leases: a claim is `completed` once the update was handled. A claim left
//! incomplete by a crash can be taken over after a while, so the platform's redelivery of that
//! update is handled instead of being dropped as a duplicate.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ProcessedUpdates {
    Table,
    Completed,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ProcessedUpdates::Table)
                    .add_column(boolean(ProcessedUpdates::Completed).default(true))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ProcessedUpdates::Table)
                    .drop_column(ProcessedUpdates::Completed)
                    .take(),
            )
            .await
    }
}
