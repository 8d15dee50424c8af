//! Allowances: how many requests for the assistant a person may still make on a bot. Free
//! requests per day and per calendar month (UTC) come first; past them, a paid plan's requests
//! (Telegram Stars), the one running out soonest first. A request is spent when its forward is
//! recorded, in the same transaction and under the person's lock, so two messages at once
//! cannot both take the last one. Rights commands never reach this.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set,
    sea_query::{Alias, Expr, ExprTrait, OnConflict},
};

use consentgate_entity::{payments, request_usage};

use crate::config::AllowanceSettings;

/// Which limit ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Day,
    Month,
}

/// The allowance ran out: which, how many it had, and when it renews.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Out {
    pub period: Period,
    pub limit: u32,
    pub renews_at: DateTime<Utc>,
}

/// Where a person stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// No allowance is configured.
    Unlimited,
    /// A free request is left.
    Free,
    /// Free ones are used up; this payment's plan has requests left.
    Plan(i64),
    Out(Out),
}

fn month_start(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

fn next_month(day: NaiveDate) -> NaiveDate {
    let first = month_start(day);
    first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first)
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// Free requests used today and this month.
async fn used(
    db: &impl ConnectionTrait,
    subject_id: i64,
    bot_id: i64,
    today: NaiveDate,
) -> Result<(u64, u64), DbErr> {
    let rows = request_usage::Entity::find()
        .filter(request_usage::Column::SubjectId.eq(subject_id))
        .filter(request_usage::Column::BotId.eq(bot_id))
        .filter(request_usage::Column::Day.gte(month_start(today)))
        .all(db)
        .await?;
    let count = |r: &request_usage::Model| u64::try_from(r.count).unwrap_or(0);
    let day = rows.iter().filter(|r| r.day == today).map(count).sum();
    let month = rows.iter().map(count).sum();
    Ok((day, month))
}

/// The payments of a person on a bot with requests left now, the one ending soonest first.
pub async fn active_plans(
    db: &impl ConnectionTrait,
    subject_id: i64,
    bot_id: i64,
    now: DateTime<Utc>,
) -> Result<Vec<payments::Model>, DbErr> {
    Ok(payments::Entity::find()
        .filter(payments::Column::SubjectId.eq(subject_id))
        .filter(payments::Column::BotId.eq(bot_id))
        .filter(payments::Column::RefundedAt.is_null())
        .filter(payments::Column::ExpiresAt.gt(now))
        .order_by_asc(payments::Column::ExpiresAt)
        .all(db)
        .await?
        .into_iter()
        .filter(|p| p.used < p.requests)
        .collect())
}

/// Where a person stands on a bot now.
pub async fn standing(
    db: &impl ConnectionTrait,
    a: &AllowanceSettings,
    subject_id: i64,
    bot_id: i64,
    now: DateTime<Utc>,
) -> Result<Standing, DbErr> {
    if !a.limited() {
        return Ok(Standing::Unlimited);
    }
    let today = now.date_naive();
    let (day, month) = used(db, subject_id, bot_id, today).await?;
    let day_left = a.per_day.is_none_or(|d| day < u64::from(d));
    let month_left = a.per_month.is_none_or(|m| month < u64::from(m));
    if day_left && month_left {
        return Ok(Standing::Free);
    }
    if let Some(plan) = active_plans(db, subject_id, bot_id, now).await?.first() {
        return Ok(Standing::Plan(plan.id));
    }
    // The later renewal is the one that matters when both ran out.
    Ok(Standing::Out(if !month_left {
        Out {
            period: Period::Month,
            limit: a.per_month.unwrap_or_default(),
            renews_at: midnight(next_month(today)),
        }
    } else {
        Out {
            period: Period::Day,
            limit: a.per_day.unwrap_or_default(),
            renews_at: midnight(today + Duration::days(1)),
        }
    }))
}

/// Spends one request (call inside the forward's transaction, holding the person's lock);
/// `Some` when none is left, and then nothing is spent.
pub async fn spend(
    txn: &impl ConnectionTrait,
    a: &AllowanceSettings,
    subject_id: i64,
    bot_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<Out>, DbErr> {
    match standing(txn, a, subject_id, bot_id, now).await? {
        Standing::Unlimited => Ok(None),
        Standing::Out(out) => Ok(Some(out)),
        Standing::Free => {
            request_usage::Entity::insert(request_usage::ActiveModel {
                subject_id: Set(subject_id),
                bot_id: Set(bot_id),
                day: Set(now.date_naive()),
                count: Set(1),
            })
            .on_conflict(
                OnConflict::columns([
                    request_usage::Column::SubjectId,
                    request_usage::Column::BotId,
                    request_usage::Column::Day,
                ])
                .value(
                    request_usage::Column::Count,
                    Expr::col((request_usage::Entity, request_usage::Column::Count)).add(
                        Expr::col((Alias::new("excluded"), request_usage::Column::Count)),
                    ),
                )
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
            Ok(None)
        }
        Standing::Plan(id) => {
            payments::Entity::update_many()
                .col_expr(
                    payments::Column::Used,
                    Expr::col(payments::Column::Used).add(1),
                )
                .filter(payments::Column::Id.eq(id))
                .exec(txn)
                .await?;
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_days_renew_at_midnight_utc() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        assert_eq!(next_month(d), NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
        assert_eq!(
            midnight(d + Duration::days(1)).to_rfc3339(),
            "2027-01-01T00:00:00+00:00"
        );
        let d = NaiveDate::from_ymd_opt(2027, 1, 31).unwrap();
        assert_eq!(next_month(d), NaiveDate::from_ymd_opt(2027, 2, 1).unwrap());
    }
}
