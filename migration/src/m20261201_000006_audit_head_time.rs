//! The audit chain's head also keeps the time of the last entry, and which entry that was, so an
//! append reads the head alone (in the statement that locks it) instead of also reading the
//! previous entry. The time counts only while it belongs to the entry before the one being
//! appended: chains written before this migration, or appended to by an older binary during a
//! rolling upgrade, send the next append to the previous entry instead.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditHead {
    Table,
    At,
    AtSeq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(AuditHead::Table)
                    .add_column(timestamp_with_time_zone_null(AuditHead::At))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditHead::Table)
                    .add_column(big_integer_null(AuditHead::AtSeq))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [AuditHead::AtSeq, AuditHead::At] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditHead::Table)
                        .drop_column(column)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
