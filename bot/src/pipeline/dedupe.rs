//! Dedupe: an atomic insert of (bot, update key) claims an update. Whoever inserts first handles
//! it; a platform's retry, or a second replica receiving the same update, finds the row and
//! stops. The claim is marked completed after handling. While a claim is incomplete a
//! redelivery is sent back to be delivered again later ([`Claim::Busy`]); a claim left
//! incomplete for a lease (the process died while handling) is taken over, so the update is
//! answered rather than lost.

use chrono::{Duration, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, Set,
    sea_query::{Expr, OnConflict},
};

use consentgate_entity::processed_updates::{self, Column};

/// What claiming an update found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This call must handle it.
    Taken,
    /// It was handled already: a duplicate.
    Handled,
    /// It is being handled elsewhere (or was, by a process that died less than a lease ago):
    /// the platform must deliver it again later, when it is either handled or free to take.
    Busy,
}

/// Claims an update; a claim left incomplete for `lease` is taken over.
pub async fn claim(
    db: &impl ConnectionTrait,
    bot_id: i64,
    key: String,
    lease: Duration,
) -> Result<Claim, DbErr> {
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
        return Ok(Claim::Taken);
    }
    // Take over a stale, incomplete claim; the conditional update is atomic across replicas.
    let taken = processed_updates::Entity::update_many()
        .col_expr(Column::ProcessedAt, Expr::value(now))
        .filter(Column::BotId.eq(bot_id))
        .filter(Column::UpdateKey.eq(key.as_str()))
        .filter(Column::Completed.eq(false))
        .filter(Column::ProcessedAt.lt(now - lease))
        .exec(db)
        .await?;
    if taken.rows_affected > 0 {
        return Ok(Claim::Taken);
    }
    let handled = processed_updates::Entity::find()
        .filter(Column::BotId.eq(bot_id))
        .filter(Column::UpdateKey.eq(key))
        .filter(Column::Completed.eq(true))
        .count(db)
        .await?;
    Ok(if handled > 0 {
        Claim::Handled
    } else {
        Claim::Busy
    })
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
        let lease = Duration::minutes(1);
        assert_eq!(claim(&db, bot, key(), lease).await.unwrap(), Claim::Taken);
        // Being handled: a redelivery is to come again later; after the lease it is taken over.
        assert_eq!(claim(&db, bot, key(), lease).await.unwrap(), Claim::Busy);
        assert_eq!(
            claim(&db, bot, key(), Duration::zero()).await.unwrap(),
            Claim::Taken
        );
        // Failed before the decision: given back, and the redelivery is handled.
        release(&db, bot, "update:1").await.unwrap();
        assert_eq!(claim(&db, bot, key(), lease).await.unwrap(), Claim::Taken);
        // Failed after the forward was recorded: the claim stays, the redelivery is a duplicate.
        complete(&db, bot, key()).await.unwrap();
        release(&db, bot, "update:1").await.unwrap();
        assert_eq!(claim(&db, bot, key(), lease).await.unwrap(), Claim::Handled);
    }
}
