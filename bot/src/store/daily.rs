//! Counts per bot and day that no table holds otherwise — assistant answers, their total time
//! and how many fell in each range of time — for the console's overview. Counted in memory as
//! answers come, added to `daily_counts` every minute by housekeeping and at shutdown; every
//! replica adds to the same rows. Never per person.

use std::collections::HashMap;

use chrono::{NaiveDate, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
    sea_query::{Alias, Expr, ExprTrait, OnConflict},
};

use consentgate_entity::daily_counts;

/// Assistant answers.
pub const ANSWERS: &str = "llm.answers";
/// Milliseconds the answers took, summed.
pub const ANSWER_MS: &str = "llm.ms";

/// Answers by how long they took: each counted once, under the first range it fits.
pub const ANSWER_TIMES: [(u64, &str, &str); 6] = [
    (1_000, "llm.within_1s", "under 1 s"),
    (2_000, "llm.within_2s", "1–2 s"),
    (5_000, "llm.within_5s", "2–5 s"),
    (10_000, "llm.within_10s", "5–10 s"),
    (30_000, "llm.within_30s", "10–30 s"),
    (u64::MAX, "llm.over_30s", "over 30 s"),
];

type Key = (i64, NaiveDate, &'static str);

/// Counts not yet written.
#[derive(Default)]
pub struct DailyCounts {
    pending: std::sync::Mutex<HashMap<Key, i64>>,
}

impl DailyCounts {
    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<Key, i64>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `n` to today's count `name` of a bot.
    pub fn add(&self, bot_id: i64, name: &'static str, n: i64) {
        *self
            .pending()
            .entry((bot_id, Utc::now().date_naive(), name))
            .or_default() += n;
    }

    /// One answer of the assistant, and how long it took.
    pub fn answered(&self, bot_id: i64, took: std::time::Duration) {
        let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        self.add(bot_id, ANSWERS, 1);
        self.add(bot_id, ANSWER_MS, i64::try_from(ms).unwrap_or(i64::MAX));
        if let Some((_, name, _)) = ANSWER_TIMES.iter().find(|(within, _, _)| ms < *within) {
            self.add(bot_id, name, 1);
        }
    }

    /// Adds what was counted to the database; what could not be written is kept for the next
    /// time. Returns the rows written.
    pub async fn flush(&self, db: &impl ConnectionTrait) -> Result<usize, DbErr> {
        let taken: Vec<(Key, i64)> = self.pending().drain().collect();
        let mut written = 0;
        let mut rest = taken.into_iter();
        while let Some(((bot_id, day, name), value)) = rest.next() {
            let row = daily_counts::ActiveModel {
                bot_id: Set(bot_id),
                day: Set(day),
                name: Set(name.to_string()),
                value: Set(value),
            };
            let added = daily_counts::Entity::insert(row)
                .on_conflict(
                    OnConflict::columns([
                        daily_counts::Column::BotId,
                        daily_counts::Column::Day,
                        daily_counts::Column::Name,
                    ])
                    .value(
                        daily_counts::Column::Value,
                        Expr::col((daily_counts::Entity, daily_counts::Column::Value)).add(
                            Expr::col((Alias::new("excluded"), daily_counts::Column::Value)),
                        ),
                    )
                    .to_owned(),
                )
                .exec_without_returning(db)
                .await;
            if let Err(err) = added {
                let mut pending = self.pending();
                for ((bot_id, day, name), value) in
                    std::iter::once(((bot_id, day, name), value)).chain(rest)
                {
                    *pending.entry((bot_id, day, name)).or_default() += value;
                }
                return Err(err);
            }
            written += 1;
        }
        Ok(written)
    }
}

/// The counts of the given bots (all with `None`) since `since`, as (bot, day, name) → value.
pub async fn since(
    db: &impl ConnectionTrait,
    bots: Option<&[i64]>,
    since: NaiveDate,
) -> Result<HashMap<(i64, NaiveDate, String), i64>, DbErr> {
    let mut q = daily_counts::Entity::find().filter(daily_counts::Column::Day.gte(since));
    if let Some(bots) = bots {
        q = q.filter(daily_counts::Column::BotId.is_in(bots.to_vec()));
    }
    Ok(q.all(db)
        .await?
        .into_iter()
        .map(|r| ((r.bot_id, r.day, r.name), r.value))
        .collect())
}
