//! The first tables: bots, subjects, channel identities, policy versions, the consent record,
//! the audit log and the dedupe table.
use sea_orm_migration::{prelude::*, schema::*};

use crate::fk;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Bots {
    Table,
    Id,
    Name,
    Channel,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Subjects {
    Table,
    Id,
    Pseudonym,
    Reachable,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ChannelIdentities {
    Table,
    Id,
    SubjectId,
    BotId,
    Channel,
    BlindIndex,
    UserIdEnc,
    ChatIdEnc,
    CreatedAt,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum PolicyVersions {
    Table,
    Id,
    BotId,
    Version,
    Label,
    Text,
    TextSha256,
    EffectiveAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ConsentEvents {
    Table,
    Id,
    SubjectId,
    BotId,
    Purpose,
    Action,
    PolicyVersionId,
    TextSha256,
    Channel,
    Method,
    PlatformMessageId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    BotId,
    Subject,
    Action,
    Detail,
}

#[derive(DeriveIden)]
enum ProcessedUpdates {
    Table,
    BotId,
    UpdateKey,
    ProcessedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Bots::Table)
                    .col(big_pk_auto(Bots::Id))
                    .col(string_uniq(Bots::Name))
                    .col(string(Bots::Channel))
                    .col(timestamp_with_time_zone(Bots::CreatedAt))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Subjects::Table)
                    .col(big_pk_auto(Subjects::Id))
                    .col(string_uniq(Subjects::Pseudonym))
                    .col(boolean(Subjects::Reachable).default(true))
                    .col(timestamp_with_time_zone(Subjects::CreatedAt))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChannelIdentities::Table)
                    .col(big_pk_auto(ChannelIdentities::Id))
                    .col(big_integer(ChannelIdentities::SubjectId))
                    .col(big_integer(ChannelIdentities::BotId))
                    .col(string(ChannelIdentities::Channel))
                    .col(string_uniq(ChannelIdentities::BlindIndex))
                    .col(text(ChannelIdentities::UserIdEnc))
                    .col(text(ChannelIdentities::ChatIdEnc))
                    .col(timestamp_with_time_zone(ChannelIdentities::CreatedAt))
                    .col(timestamp_with_time_zone(ChannelIdentities::LastSeenAt))
                    .foreign_key(&mut fk(
                        "fk_identity_subject",
                        (ChannelIdentities::Table, ChannelIdentities::SubjectId),
                        (Subjects::Table, Subjects::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_identity_bot",
                        (ChannelIdentities::Table, ChannelIdentities::BotId),
                        (Bots::Table, Bots::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PolicyVersions::Table)
                    .col(big_pk_auto(PolicyVersions::Id))
                    .col(big_integer(PolicyVersions::BotId))
                    .col(integer(PolicyVersions::Version))
                    .col(string(PolicyVersions::Label))
                    .col(text(PolicyVersions::Text))
                    .col(string(PolicyVersions::TextSha256))
                    .col(timestamp_with_time_zone(PolicyVersions::EffectiveAt))
                    .col(timestamp_with_time_zone(PolicyVersions::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_policy_bot",
                        (PolicyVersions::Table, PolicyVersions::BotId),
                        (Bots::Table, Bots::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_policy_bot_version")
                    .table(PolicyVersions::Table)
                    .col(PolicyVersions::BotId)
                    .col(PolicyVersions::Version)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ConsentEvents::Table)
                    .col(big_pk_auto(ConsentEvents::Id))
                    .col(big_integer(ConsentEvents::SubjectId))
                    .col(big_integer(ConsentEvents::BotId))
                    .col(string(ConsentEvents::Purpose))
                    .col(string(ConsentEvents::Action))
                    .col(big_integer(ConsentEvents::PolicyVersionId))
                    .col(string(ConsentEvents::TextSha256))
                    .col(string(ConsentEvents::Channel))
                    .col(string(ConsentEvents::Method))
                    .col(string_null(ConsentEvents::PlatformMessageId))
                    .col(timestamp_with_time_zone(ConsentEvents::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_consent_subject",
                        (ConsentEvents::Table, ConsentEvents::SubjectId),
                        (Subjects::Table, Subjects::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_consent_policy",
                        (ConsentEvents::Table, ConsentEvents::PolicyVersionId),
                        (PolicyVersions::Table, PolicyVersions::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_consent_subject_bot_purpose")
                    .table(ConsentEvents::Table)
                    .col(ConsentEvents::SubjectId)
                    .col(ConsentEvents::BotId)
                    .col(ConsentEvents::Purpose)
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(big_pk_auto(AuditLog::Id))
                    .col(timestamp_with_time_zone(AuditLog::At))
                    .col(big_integer_null(AuditLog::BotId))
                    .col(string_null(AuditLog::Subject))
                    .col(string(AuditLog::Action))
                    .col(text(AuditLog::Detail))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProcessedUpdates::Table)
                    .col(big_integer(ProcessedUpdates::BotId))
                    .col(string(ProcessedUpdates::UpdateKey))
                    .col(timestamp_with_time_zone(ProcessedUpdates::ProcessedAt))
                    .primary_key(
                        Index::create()
                            .col(ProcessedUpdates::BotId)
                            .col(ProcessedUpdates::UpdateKey),
                    )
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ProcessedUpdates::Table.into_iden(),
            AuditLog::Table.into_iden(),
            ConsentEvents::Table.into_iden(),
            PolicyVersions::Table.into_iden(),
            ChannelIdentities::Table.into_iden(),
            Subjects::Table.into_iden(),
            Bots::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().take())
                .await?;
        }
        Ok(())
    }
}
