//! The console: sign-in sessions (only a digest of each session id is stored) and the admins'
//! second factor (TOTP secrets Fernet-encrypted, recovery codes as digests).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ConsoleSessions {
    Table,
    Id,
    TokenSha256,
    Principal,
    Role,
    Stage,
    Csrf,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AdminTotp {
    Table,
    KeyId,
    SecretEnc,
    ConfirmedAt,
    LastStep,
    RecoverySha256,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConsoleSessions::Table)
                    .col(pk_auto(ConsoleSessions::Id).big_integer())
                    .col(string_uniq(ConsoleSessions::TokenSha256))
                    .col(string(ConsoleSessions::Principal))
                    .col(string(ConsoleSessions::Role))
                    .col(string(ConsoleSessions::Stage))
                    .col(string(ConsoleSessions::Csrf))
                    .col(timestamp_with_time_zone(ConsoleSessions::CreatedAt))
                    .col(timestamp_with_time_zone(ConsoleSessions::LastSeenAt))
                    .col(timestamp_with_time_zone(ConsoleSessions::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ConsoleSessions::RevokedAt))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_console_sessions_principal")
                    .table(ConsoleSessions::Table)
                    .col(ConsoleSessions::Principal)
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AdminTotp::Table)
                    .col(big_integer(AdminTotp::KeyId).primary_key())
                    .col(text(AdminTotp::SecretEnc))
                    .col(timestamp_with_time_zone_null(AdminTotp::ConfirmedAt))
                    .col(big_integer(AdminTotp::LastStep).default(0))
                    .col(text(AdminTotp::RecoverySha256))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AdminTotp::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(ConsoleSessions::Table).take())
            .await
    }
}
