//! Erasure: `/delete` blocks all processing of the person at once and schedules the purge after
//! a grace period; `/restore` undoes it until then; the purge deletes every row about them.
//! The audit log keeps its entries (pseudonyms and metadata, never content), so the chain is
//! never rewritten.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    sea_query::Expr,
};

use consentgate_entity::{
    channel_identities, consent_events, conversation_messages, egress_ledger, export_links,
    integrations, oauth_states, owners, subjects,
};

use crate::audit::Action;
use crate::{audit::AuditLog, privacy::pseudonym::Pseudonym};

/// A confirmed `/delete`.
pub struct Request<'a> {
    pub subject_id: i64,
    pub pseudonym: &'a Pseudonym,
    /// The bot it was asked on; none when it came by other means (the console).
    pub bot_id: Option<i64>,
    pub grace_days: u32,
    /// Integrations the person had linked as an owner, already revoked.
    pub integrations_revoked: u64,
    /// Who decided it when it was not the person in their chat (an admin key in the console).
    pub by: Option<serde_json::Value>,
}

/// Blocks the person at once and schedules the purge for `now + grace`. Returns when; `None`
/// when an erasure was already decided (by another request at the same moment): nothing is
/// changed or recorded then.
pub async fn request(
    db: &DatabaseConnection,
    audit: &AuditLog,
    r: Request<'_>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let Request {
        subject_id,
        pseudonym,
        bot_id,
        grace_days,
        integrations_revoked,
        by,
    } = r;
    let purge_after = now + Duration::days(grace_days.into());
    let txn = crate::audit::begin(db).await?;
    let marked = subjects::Entity::update_many()
        .col_expr(subjects::Column::ErasureRequestedAt, Expr::value(now))
        .col_expr(subjects::Column::PurgeAfter, Expr::value(purge_after))
        .filter(subjects::Column::Id.eq(subject_id))
        .filter(subjects::Column::ErasureRequestedAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected;
    if marked == 0 {
        txn.rollback().await?;
        return Ok(None);
    }
    let mut detail = serde_json::json!({
        "grace_days": grace_days,
        "purge_after": purge_after.to_rfc3339(),
        "integrations_revoked": integrations_revoked,
    });
    if let Some(by) = by {
        detail["by"] = by;
    }
    audit
        .append(
            &txn,
            bot_id,
            Some(pseudonym),
            Action::ErasureRequested,
            detail,
        )
        .await?;
    txn.commit().await?;
    Ok(Some(purge_after))
}

/// Cancels a pending erasure that has not been purged yet. `false` when there was none.
pub async fn restore(
    db: &DatabaseConnection,
    audit: &AuditLog,
    subject_id: i64,
    pseudonym: &Pseudonym,
    bot_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let txn = crate::audit::begin(db).await?;
    let changed = subjects::Entity::update_many()
        .col_expr(
            subjects::Column::ErasureRequestedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            subjects::Column::PurgeAfter,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(subjects::Column::Id.eq(subject_id))
        .filter(subjects::Column::ErasureRequestedAt.is_not_null())
        .filter(subjects::Column::PurgeAfter.gt(now))
        .exec(&txn)
        .await?
        .rows_affected;
    if changed == 0 {
        return Ok(false);
    }
    audit
        .append(
            &txn,
            Some(bot_id),
            Some(pseudonym),
            Action::ErasureCancelled,
            serde_json::json!({}),
        )
        .await?;
    txn.commit().await?;
    Ok(true)
}

/// What a purge removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub identities: u64,
    pub consent_events: u64,
    pub messages: u64,
    pub egress: u64,
}

/// Why a subject is purged, checked again inside the purge's transaction so that a `/restore`,
/// a new message, or another replica's sweep that got there first is respected.
#[derive(Clone, Copy, Debug)]
pub enum Because {
    /// `/delete` with no grace period: at once.
    RequestNow,
    /// The grace period of a `/delete` ended by `now`.
    RequestDue(DateTime<Utc>),
    /// No identity of theirs has been seen since the cutoff.
    InactiveSince(DateTime<Utc>),
}

impl Because {
    fn reason(self) -> &'static str {
        match self {
            Because::RequestNow | Because::RequestDue(_) => "request",
            Because::InactiveSince(_) => "inactive",
        }
    }
}

/// Deletes every row about a subject and records that it happened, in one transaction: all of
/// it, or none. `None` when the reason no longer holds (nothing is deleted).
pub async fn purge(
    db: &DatabaseConnection,
    audit: &AuditLog,
    subject_id: i64,
    pseudonym: &Pseudonym,
    because: Because,
) -> Result<Option<Purged>, DbErr> {
    let txn = crate::audit::begin(db).await?;
    // Claim the subject row first (a write, so concurrent sweeps take turns), under the condition.
    let mut claim = subjects::Entity::update_many()
        .col_expr(
            subjects::Column::Reachable,
            Expr::col(subjects::Column::Reachable),
        )
        .filter(subjects::Column::Id.eq(subject_id));
    claim = match because {
        Because::RequestNow => claim.filter(subjects::Column::ErasureRequestedAt.is_not_null()),
        Because::RequestDue(now) => claim
            .filter(subjects::Column::ErasureRequestedAt.is_not_null())
            .filter(subjects::Column::PurgeAfter.lte(now)),
        Because::InactiveSince(_) => claim.filter(subjects::Column::ErasureRequestedAt.is_null()),
    };
    if claim.exec(&txn).await?.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(None);
    }
    if let Because::InactiveSince(cutoff) = because {
        let seen = channel_identities::Entity::find()
            .filter(channel_identities::Column::SubjectId.eq(subject_id))
            .filter(channel_identities::Column::LastSeenAt.gte(cutoff))
            .one(&txn)
            .await?;
        if seen.is_some() {
            txn.rollback().await?;
            return Ok(None);
        }
    }
    let reason = because.reason();
    let purged = delete_rows(&txn, subject_id).await?;
    audit
        .append(
            &txn,
            None,
            Some(pseudonym),
            Action::ErasureCompleted,
            serde_json::json!({
                "reason": reason,
                "identities": purged.identities,
                "consent_events": purged.consent_events,
                "messages": purged.messages,
                "egress": purged.egress,
            }),
        )
        .await?;
    txn.commit().await?;
    Ok(Some(purged))
}

async fn delete_rows(db: &impl ConnectionTrait, subject_id: i64) -> Result<Purged, DbErr> {
    let messages = conversation_messages::Entity::delete_many()
        .filter(conversation_messages::Column::SubjectId.eq(subject_id))
        .exec(db)
        .await?
        .rows_affected;
    let egress = egress_ledger::Entity::delete_many()
        .filter(egress_ledger::Column::SubjectId.eq(subject_id))
        .exec(db)
        .await?
        .rows_affected;
    consentgate_entity::request_usage::Entity::delete_many()
        .filter(consentgate_entity::request_usage::Column::SubjectId.eq(subject_id))
        .exec(db)
        .await?;
    consentgate_entity::payments::Entity::delete_many()
        .filter(consentgate_entity::payments::Column::SubjectId.eq(subject_id))
        .exec(db)
        .await?;
    export_links::Entity::delete_many()
        .filter(export_links::Column::SubjectId.eq(subject_id))
        .exec(db)
        .await?;
    oauth_states::Entity::delete_many()
        .filter(oauth_states::Column::SubjectId.eq(subject_id))
        .exec(db)
        .await?;
    // Revoked at `/delete` (the rows then hold no tokens); their record goes with the person.
    integrations::Entity::delete_many()
        .filter(integrations::Column::OwnerSubjectId.eq(subject_id))
        .exec(db)
        .await?;
    owners::Entity::delete_many()
        .filter(owners::Column::SubjectId.eq(subject_id))
        .exec(db)
        .await?;
    let consent_events = consent_events::Entity::delete_many()
        .filter(consent_events::Column::SubjectId.eq(subject_id))
        .exec(db)
        .await?
        .rows_affected;
    let identities = channel_identities::Entity::delete_many()
        .filter(channel_identities::Column::SubjectId.eq(subject_id))
        .exec(db)
        .await?
        .rows_affected;
    subjects::Entity::delete_many()
        .filter(subjects::Column::Id.eq(subject_id))
        .exec(db)
        .await?;
    Ok(Purged {
        identities,
        consent_events,
        messages,
        egress,
    })
}
