//! Dedupe: an atomic insert of (bot, update key) claims an update. Whoever inserts first handles
//! it; a platform's retry, or a second replica receiving the same update, finds the row and
//! stops. The claim is marked completed after handling. A claim left incomplete (the process
//! died while handling) is taken over by a redelivery once it is older than [`LEASE`], so the
//! update is answered rather than lost.

use chrono::{Duration, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
    sea_query::{Expr, OnConflict},
};

use consentgate_entity::processed_updates::{self, Column};

/// How long a claim protects an update that is still being handled.
pub const LEASE: Duration = Duration::minutes(5);

/// Claims an update. `true` means this call must handle it.
pub async fn claim(db: &impl ConnectionTrait, bot_id: i64, key: String) -> Result<bool, DbErr> {
    let now = Utc::now();
    let row = processed_updates::ActiveModel {
        bot_id: Set(bot_id),
        update_key: Set(key.clone()),
        processed_at: Set(now),
        completed: Set(false),
    };
    let inserted = processed_updates::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([Column::BotId, Column::UpdateKey])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    if inserted > 0 {
        return Ok(true);
    }
    // Take over a stale, incomplete claim; the conditional update is atomic across replicas.
    let taken = processed_updates::Entity::update_many()
        .col_expr(Column::ProcessedAt, Expr::value(now))
        .filter(Column::BotId.eq(bot_id))
        .filter(Column::UpdateKey.eq(key))
        .filter(Column::Completed.eq(false))
        .filter(Column::ProcessedAt.lt(now - LEASE))
        .exec(db)
        .await?;
    Ok(taken.rows_affected > 0)
}

/// Marks a claimed update as handled.
pub async fn complete(db: &impl ConnectionTrait, bot_id: i64, key: String) -> Result<(), DbErr> {
    processed_updates::Entity::update_many()
        .col_expr(Column::Completed, Expr::value(true))
        .filter(Column::BotId.eq(bot_id))
        .filter(Column::UpdateKey.eq(key))
        .exec(db)
        .await?;
    Ok(())
}

/// Gives a claim back after handling failed, so the redelivery is processed. A claim already
/// marked handled stays.
pub async fn release(db: &impl ConnectionTrait, bot_id: i64, key: &str) -> Result<(), DbErr> {
    processed_updates::Entity::delete_many()
        .filter(Column::BotId.eq(bot_id))
        .filter(Column::UpdateKey.eq(key))
        .filter(Column::Completed.eq(false))
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_handled_claim_is_never_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("d.db").display());
        let db = crate::store::connect(&url).await.unwrap();
        crate::store::migrate_up(&db).await.unwrap();
        let bot =
            crate::app::bots::register_bot(&db, "b", consentgate_adapters::ChannelKind::Telegram)
                .await
                .unwrap();
        let key = || "update:1".to_string();
        assert!(claim(&db, bot, key()).await.unwrap());
        // Failed before the decision: given back, and the redelivery is handled.
        release(&db, bot, "update:1").await.unwrap();
        assert!(claim(&db, bot, key()).await.unwrap());
        // Failed after the forward was recorded: the claim stays, the redelivery is a duplicate.
        complete(&db, bot, key()).await.unwrap();
        release(&db, bot, "update:1").await.unwrap();
        assert!(!claim(&db, bot, key()).await.unwrap());
    }
}
