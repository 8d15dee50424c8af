//! Telegram Stars payments for plans: recorded when Telegram confirms them (the charge id
//! Fernet-encrypted, found again by a keyed index), audited, and refunded on an admin's word
//! (`consentgate payments refund`) or marked so when Telegram reports a refund. A refunded
//! payment's unused requests are gone; the ones used stay used.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
    sea_query::Expr,
};

use consentgate_entity::{payments, subjects};

use crate::{
    audit::{Action, AuditLog},
    config::PlanSettings,
    privacy::{digest::keyed_hex, keys::Keys, pseudonym::Pseudonym},
};

/// The invoice payload of a plan.
pub fn payload(plan: &str) -> String {
    format!("plan:{plan}")
}

/// The plan an invoice payload names.
pub fn plan_of(payload: &str) -> Option<&str> {
    payload.strip_prefix("plan:")
}

/// The keyed index a charge id is found by.
pub fn charge_index(keys: &Keys, charge_id: &str) -> String {
    keyed_hex(
        &keys.pseudonym,
        &[b"payment-charge\0", charge_id.as_bytes()],
    )
}

/// A confirmed payment to record.
pub struct Payment<'a> {
    pub subject_id: i64,
    pub pseudonym: &'a Pseudonym,
    pub bot_id: i64,
    pub plan: &'a PlanSettings,
    pub stars: u32,
    pub charge_id: &'a str,
}

/// Records a payment and the requests it adds until `now + plan.days`; audited in the same
/// transaction. `None` when this charge was recorded before (Telegram repeated itself).
pub async fn record(
    db: &DatabaseConnection,
    keys: &Keys,
    audit: &AuditLog,
    p: Payment<'_>,
    now: DateTime<Utc>,
) -> Result<Option<payments::Model>, DbErr> {
    let index = charge_index(keys, p.charge_id);
    let txn = crate::audit::begin(db).await?;
    if payments::Entity::find()
        .filter(payments::Column::ChargeIndex.eq(index.clone()))
        .one(&txn)
        .await?
        .is_some()
    {
        txn.rollback().await?;
        return Ok(None);
    }
    let expires_at = now + Duration::days(p.plan.days.into());
    let row = payments::ActiveModel {
        subject_id: Set(p.subject_id),
        bot_id: Set(p.bot_id),
        plan: Set(p.plan.name.clone()),
        stars: Set(i32::try_from(p.stars).unwrap_or(i32::MAX)),
        requests: Set(i32::try_from(p.plan.requests).unwrap_or(i32::MAX)),
        used: Set(0),
        charge_id_enc: Set(keys.fernet.encrypt(p.charge_id.as_bytes())),
        charge_index: Set(index),
        paid_at: Set(now),
        expires_at: Set(expires_at),
        refunded_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit
        .append(
            &txn,
            Some(p.bot_id),
            Some(p.pseudonym),
            Action::PaymentReceived,
            serde_json::json!({
                "payment": row.id, "plan": row.plan, "stars": p.stars,
                "requests": p.plan.requests, "expires_at": expires_at.to_rfc3339(),
            }),
        )
        .await?;
    txn.commit().await?;
    Ok(Some(row))
}

/// Marks a payment refunded (its unused requests are gone), audited with `by`. `None` when no
/// payment has this charge id or it was refunded already.
pub async fn mark_refunded(
    db: &DatabaseConnection,
    keys: &Keys,
    audit: &AuditLog,
    charge_id: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<payments::Model>, DbErr> {
    let index = charge_index(keys, charge_id);
    let txn = crate::audit::begin(db).await?;
    let marked = payments::Entity::update_many()
        .col_expr(payments::Column::RefundedAt, Expr::value(Some(now)))
        .filter(payments::Column::ChargeIndex.eq(index.clone()))
        .filter(payments::Column::RefundedAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected;
    let row = payments::Entity::find()
        .filter(payments::Column::ChargeIndex.eq(index))
        .one(&txn)
        .await?;
    let (1, Some(row)) = (marked, row) else {
        txn.rollback().await?;
        return Ok(None);
    };
    let pseudonym = subjects::Entity::find_by_id(row.subject_id)
        .one(&txn)
        .await?
        .map(|s| Pseudonym::from_stored(s.pseudonym));
    audit
        .append(
            &txn,
            Some(row.bot_id),
            pseudonym.as_ref(),
            Action::PaymentRefunded,
            serde_json::json!({
                "payment": row.id, "plan": row.plan, "stars": row.stars,
                "unused_requests": (row.requests - row.used).max(0), "by": by,
            }),
        )
        .await?;
    txn.commit().await?;
    Ok(Some(row))
}

/// A payment by its charge id (for a refund).
pub async fn find(
    db: &DatabaseConnection,
    keys: &Keys,
    charge_id: &str,
) -> Result<Option<payments::Model>, DbErr> {
    payments::Entity::find()
        .filter(payments::Column::ChargeIndex.eq(charge_index(keys, charge_id)))
        .one(db)
        .await
}
