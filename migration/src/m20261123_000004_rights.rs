//! Purposes and data-subject rights: policy versions gain a summary of changes and their
//! purposes; subjects can be scheduled for erasure; the conversation (kept only with the
//! `history` purpose), the egress ledger and one-time export links get tables of their own.
use sea_orm_migration::{prelude::*, schema::*};

use crate::fk;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PolicyVersions {
    Table,
    Summary,
    Purposes,
}

#[derive(DeriveIden)]
enum Subjects {
    Table,
    Id,
    ErasureRequestedAt,
    PurgeAfter,
}

#[derive(DeriveIden)]
enum Bots {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ConversationMessages {
    Table,
    Id,
    SubjectId,
    BotId,
    Role,
    TextEnc,
    CreatedAt,
}

#[derive(DeriveIden)]
enum EgressLedger {
    Table,
    Id,
    SubjectId,
    BotId,
    Provider,
    Model,
    PayloadSha256,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ExportLinks {
    Table,
    Id,
    TokenSha256,
    SubjectId,
    BotId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    cols: Vec<impl IntoIden>,
) -> Result<(), DbErr> {
    let mut stmt = Index::create().name(name).table(table).take();
    for col in cols {
        stmt.col(col);
    }
    manager.create_index(stmt).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        manager
            .alter_table(
                Table::alter()
                    .table(PolicyVersions::Table)
                    .add_column(text(PolicyVersions::Summary).default(""))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PolicyVersions::Table)
                    .add_column(text_null(PolicyVersions::Purposes))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Subjects::Table)
                    .add_column(timestamp_with_time_zone_null(Subjects::ErasureRequestedAt))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Subjects::Table)
                    .add_column(timestamp_with_time_zone_null(Subjects::PurgeAfter))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ConversationMessages::Table)
                    .col(big_pk_auto(ConversationMessages::Id))
                    .col(big_integer(ConversationMessages::SubjectId))
                    .col(big_integer(ConversationMessages::BotId))
                    .col(string(ConversationMessages::Role))
                    .col(text(ConversationMessages::TextEnc))
                    .col(timestamp_with_time_zone(ConversationMessages::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_conversation_subject",
                        (ConversationMessages::Table, ConversationMessages::SubjectId),
                        (Subjects::Table, Subjects::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_conversation_bot",
                        (ConversationMessages::Table, ConversationMessages::BotId),
                        (Bots::Table, Bots::Id),
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "ix_conversation_subject",
            ConversationMessages::Table,
            vec![
                ConversationMessages::SubjectId,
                ConversationMessages::BotId,
                ConversationMessages::Id,
            ],
        )
        .await?;
        index(
            manager,
            "ix_conversation_created",
            ConversationMessages::Table,
            vec![ConversationMessages::CreatedAt],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(EgressLedger::Table)
                    .col(big_pk_auto(EgressLedger::Id))
                    .col(big_integer(EgressLedger::SubjectId))
                    .col(big_integer(EgressLedger::BotId))
                    .col(string(EgressLedger::Provider))
                    .col(string(EgressLedger::Model))
                    .col(string(EgressLedger::PayloadSha256))
                    .col(timestamp_with_time_zone(EgressLedger::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_egress_subject",
                        (EgressLedger::Table, EgressLedger::SubjectId),
                        (Subjects::Table, Subjects::Id),
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "ix_egress_subject",
            EgressLedger::Table,
            vec![EgressLedger::SubjectId],
        )
        .await?;
        index(
            manager,
            "ix_egress_created",
            EgressLedger::Table,
            vec![EgressLedger::CreatedAt],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ExportLinks::Table)
                    .col(big_pk_auto(ExportLinks::Id))
                    .col(string_uniq(ExportLinks::TokenSha256))
                    .col(big_integer(ExportLinks::SubjectId))
                    .col(big_integer(ExportLinks::BotId))
                    .col(timestamp_with_time_zone(ExportLinks::CreatedAt))
                    .col(timestamp_with_time_zone(ExportLinks::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ExportLinks::UsedAt))
                    .foreign_key(&mut fk(
                        "fk_export_subject",
                        (ExportLinks::Table, ExportLinks::SubjectId),
                        (Subjects::Table, Subjects::Id),
                    ))
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ExportLinks::Table.into_iden(),
            EgressLedger::Table.into_iden(),
            ConversationMessages::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        for col in [
            Subjects::PurgeAfter.into_iden(),
            Subjects::ErasureRequestedAt.into_iden(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Subjects::Table)
                        .drop_column(col)
                        .take(),
                )
                .await?;
        }
        for col in [
            PolicyVersions::Purposes.into_iden(),
            PolicyVersions::Summary.into_iden(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(PolicyVersions::Table)
                        .drop_column(col)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
