//! The audit chain's head also keeps the time of the last entry, so an append reads the head
//! alone (in the statement that locks it) instead of also reading the previous entry. Chains
//! written before this migration have no time in the head until their next append.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditHead {
    Table,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditHead::Table)
                    .add_column(timestamp_with_time_zone_null(AuditHead::At))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditHead::Table)
                    .drop_column(AuditHead::At)
                    .take(),
            )
            .await
    }
}
