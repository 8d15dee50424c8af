//! Business owners and their linked accounts: owners per bot, one-time invite codes, OAuth
//! `state` records (PKCE verifier encrypted), integrations with Fernet-encrypted tokens, and
//! admin API keys (stored only as SHA-256).
use sea_orm_migration::{prelude::*, schema::*};

use crate::fk;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Bots {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Subjects {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Owners {
    Table,
    Id,
    BotId,
    SubjectId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OwnerInvites {
    Table,
    Id,
    BotId,
    CodeSha256,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum OauthStates {
    Table,
    Id,
    StateSha256,
    BotId,
    SubjectId,
    ChatIdEnc,
    Provider,
    VerifierEnc,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Integrations {
    Table,
    Id,
    BotId,
    OwnerSubjectId,
    Provider,
    Scopes,
    AccessTokenEnc,
    RefreshTokenEnc,
    ExpiresAt,
    Status,
    LinkedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AdminKeys {
    Table,
    Id,
    KeySha256,
    Role,
    Label,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Owners::Table)
                    .col(big_pk_auto(Owners::Id))
                    .col(big_integer(Owners::BotId))
                    .col(big_integer(Owners::SubjectId))
                    .col(timestamp_with_time_zone(Owners::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_owner_bot",
                        (Owners::Table, Owners::BotId),
                        (Bots::Table, Bots::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_owner_subject",
                        (Owners::Table, Owners::SubjectId),
                        (Subjects::Table, Subjects::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_owner_bot_subject")
                    .table(Owners::Table)
                    .col(Owners::BotId)
                    .col(Owners::SubjectId)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OwnerInvites::Table)
                    .col(big_pk_auto(OwnerInvites::Id))
                    .col(big_integer(OwnerInvites::BotId))
                    .col(string_uniq(OwnerInvites::CodeSha256))
                    .col(timestamp_with_time_zone(OwnerInvites::CreatedAt))
                    .col(timestamp_with_time_zone(OwnerInvites::ExpiresAt))
                    .col(timestamp_with_time_zone_null(OwnerInvites::UsedAt))
                    .foreign_key(&mut fk(
                        "fk_invite_bot",
                        (OwnerInvites::Table, OwnerInvites::BotId),
                        (Bots::Table, Bots::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OauthStates::Table)
                    .col(big_pk_auto(OauthStates::Id))
                    .col(string_uniq(OauthStates::StateSha256))
                    .col(big_integer(OauthStates::BotId))
                    .col(big_integer(OauthStates::SubjectId))
                    .col(text(OauthStates::ChatIdEnc))
                    .col(string(OauthStates::Provider))
                    .col(text(OauthStates::VerifierEnc))
                    .col(timestamp_with_time_zone(OauthStates::CreatedAt))
                    .col(timestamp_with_time_zone(OauthStates::ExpiresAt))
                    .col(timestamp_with_time_zone_null(OauthStates::UsedAt))
                    .foreign_key(&mut fk(
                        "fk_state_subject",
                        (OauthStates::Table, OauthStates::SubjectId),
                        (Subjects::Table, Subjects::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Integrations::Table)
                    .col(big_pk_auto(Integrations::Id))
                    .col(big_integer(Integrations::BotId))
                    .col(big_integer(Integrations::OwnerSubjectId))
                    .col(string(Integrations::Provider))
                    .col(text(Integrations::Scopes))
                    .col(text_null(Integrations::AccessTokenEnc))
                    .col(text_null(Integrations::RefreshTokenEnc))
                    .col(timestamp_with_time_zone_null(Integrations::ExpiresAt))
                    .col(string(Integrations::Status))
                    .col(timestamp_with_time_zone(Integrations::LinkedAt))
                    .col(timestamp_with_time_zone_null(Integrations::LastUsedAt))
                    .col(timestamp_with_time_zone_null(Integrations::RevokedAt))
                    .foreign_key(&mut fk(
                        "fk_integration_bot",
                        (Integrations::Table, Integrations::BotId),
                        (Bots::Table, Bots::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_integration_owner")
                    .table(Integrations::Table)
                    .col(Integrations::OwnerSubjectId)
                    .col(Integrations::Provider)
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AdminKeys::Table)
                    .col(big_pk_auto(AdminKeys::Id))
                    .col(string_uniq(AdminKeys::KeySha256))
                    .col(string(AdminKeys::Role))
                    .col(string(AdminKeys::Label))
                    .col(timestamp_with_time_zone(AdminKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(AdminKeys::LastUsedAt))
                    .col(timestamp_with_time_zone_null(AdminKeys::RevokedAt))
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AdminKeys::Table.into_iden(),
            Integrations::Table.into_iden(),
            OauthStates::Table.into_iden(),
            OwnerInvites::Table.into_iden(),
            Owners::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }
}
