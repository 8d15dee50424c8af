//! Allowances and paid plans: the free requests each person used per bot and day, and their
//! Telegram Stars payments (the plan, the requests it added and used, the charge id encrypted
//! with a keyed index to find it for a refund).
use sea_orm_migration::{prelude::*, schema::*};

use crate::fk;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Subjects {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum RequestUsage {
    Table,
    SubjectId,
    BotId,
    Day,
    Count,
}

#[derive(DeriveIden)]
enum Payments {
    Table,
    Id,
    SubjectId,
    BotId,
    Plan,
    Stars,
    Requests,
    Used,
    ChargeIdEnc,
    ChargeIndex,
    PaidAt,
    ExpiresAt,
    RefundedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RequestUsage::Table)
                    .col(big_integer(RequestUsage::SubjectId))
                    .col(big_integer(RequestUsage::BotId))
                    .col(date(RequestUsage::Day))
                    .col(big_integer(RequestUsage::Count))
                    .primary_key(
                        Index::create()
                            .col(RequestUsage::SubjectId)
                            .col(RequestUsage::BotId)
                            .col(RequestUsage::Day),
                    )
                    .foreign_key(&mut fk(
                        "fk_request_usage_subject",
                        (RequestUsage::Table, RequestUsage::SubjectId),
                        (Subjects::Table, Subjects::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Payments::Table)
                    .col(big_pk_auto(Payments::Id))
                    .col(big_integer(Payments::SubjectId))
                    .col(big_integer(Payments::BotId))
                    .col(string(Payments::Plan))
                    .col(integer(Payments::Stars))
                    .col(integer(Payments::Requests))
                    .col(integer(Payments::Used))
                    .col(text(Payments::ChargeIdEnc))
                    .col(string(Payments::ChargeIndex).unique_key())
                    .col(timestamp_with_time_zone(Payments::PaidAt))
                    .col(timestamp_with_time_zone(Payments::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Payments::RefundedAt))
                    .foreign_key(&mut fk(
                        "fk_payments_subject",
                        (Payments::Table, Payments::SubjectId),
                        (Subjects::Table, Subjects::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_payments_subject_bot")
                    .table(Payments::Table)
                    .col(Payments::SubjectId)
                    .col(Payments::BotId)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Payments::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(RequestUsage::Table).take())
            .await
    }
}
