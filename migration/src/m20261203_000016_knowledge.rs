//! The knowledge base: documents an owner added to a bot, split into passages kept
//! Fernet-encrypted (business content is encrypted at rest like everything else); the search
//! index is built in memory from them.
use sea_orm_migration::{prelude::*, schema::*};

use crate::fk;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum KbDocuments {
    Table,
    Id,
    BotId,
    Name,
    Sha256,
    Passages,
    Redacted,
    CreatedAt,
}

#[derive(DeriveIden)]
enum KbPassages {
    Table,
    Id,
    DocumentId,
    BotId,
    Seq,
    TextEnc,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(KbDocuments::Table)
                    .col(big_pk_auto(KbDocuments::Id))
                    .col(big_integer(KbDocuments::BotId))
                    .col(string(KbDocuments::Name))
                    .col(string(KbDocuments::Sha256))
                    .col(integer(KbDocuments::Passages))
                    .col(boolean(KbDocuments::Redacted))
                    .col(timestamp_with_time_zone(KbDocuments::CreatedAt))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(KbPassages::Table)
                    .col(big_pk_auto(KbPassages::Id))
                    .col(big_integer(KbPassages::DocumentId))
                    .col(big_integer(KbPassages::BotId))
                    .col(integer(KbPassages::Seq))
                    .col(text(KbPassages::TextEnc))
                    .foreign_key(&mut fk(
                        "fk_kb_passages_document",
                        (KbPassages::Table, KbPassages::DocumentId),
                        (KbDocuments::Table, KbDocuments::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_kb_passages_bot")
                    .table(KbPassages::Table)
                    .col(KbPassages::BotId)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(KbPassages::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(KbDocuments::Table).take())
            .await
    }
}
