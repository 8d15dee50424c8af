//! Indexes for the console's overview: audit entries by action and time, consent events by
//! time.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Action,
    At,
}

#[derive(DeriveIden)]
enum ConsentEvents {
    Table,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_log_action_at")
                    .table(AuditLog::Table)
                    .col(AuditLog::Action)
                    .col(AuditLog::At)
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_consent_events_created_at")
                    .table(ConsentEvents::Table)
                    .col(ConsentEvents::CreatedAt)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_consent_events_created_at")
                    .table(ConsentEvents::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_audit_log_action_at")
                    .table(AuditLog::Table)
                    .to_owned(),
            )
            .await
    }
}
