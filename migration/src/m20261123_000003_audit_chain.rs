//! The audit log becomes a hash chain: every entry gets a sequence number, the previous entry's
//! hash and its own HMAC. `audit_head` holds the chain's head; appenders lock its one row, so
//! concurrent writers (tasks or replicas) take turns and cannot fork the chain. Entries written
//! before this migration stay as they were, outside the chain.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Seq,
    PrevHash,
    Hash,
}

#[derive(DeriveIden)]
enum AuditHead {
    Table,
    Id,
    Seq,
    Hash,
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for column in [
            big_integer_null(AuditLog::Seq),
            string_null(AuditLog::PrevHash),
            string_null(AuditLog::Hash),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditLog::Table)
                        .add_column(column)
                        .take(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ux_audit_log_seq")
                    .table(AuditLog::Table)
                    .col(AuditLog::Seq)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditHead::Table)
                    .col(integer(AuditHead::Id).primary_key())
                    .col(big_integer(AuditHead::Seq))
                    .col(string(AuditHead::Hash))
                    .take(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(AuditHead::Table)
                    .columns([AuditHead::Id, AuditHead::Seq, AuditHead::Hash])
                    .values_panic([1.into(), 0i64.into(), GENESIS.into()])
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditHead::Table).take())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ux_audit_log_seq")
                    .table(AuditLog::Table)
                    .to_owned(),
            )
            .await?;
        for column in [AuditLog::Hash, AuditLog::PrevHash, AuditLog::Seq] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditLog::Table)
                        .drop_column(column)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
