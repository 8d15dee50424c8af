//! Retention: each class of data is kept for its configured time and then deleted, by the
//! background sweeper and by `consentgate retention run [--dry-run]`. The clock is a parameter,
//! so tests (and operators checking "what would go next month") can run it at any time.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

use consentgate_entity::{
    channel_identities, conversation_messages, egress_ledger, export_links, oauth_states,
    processed_updates, subjects,
};

use crate::{
    audit::AuditLog, config::RetentionSettings, privacy::identity, privacy::keys::Keys,
    privacy::pseudonym::Pseudonym, rights::erasure, rights::notify::Notifier,
};

/// Told to a person when their requested erasure is carried out.
pub const PURGED_NOTICE: &str = "As you asked, everything stored about you on this channel has \
now been deleted. If you write again, you will be asked for consent again.";

/// People purged per sweep at most, so one sweep stays short; the next one continues.
const SUBJECTS_PER_SWEEP: u64 = 500;

/// One class of data and what happened to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassReport {
    pub class: &'static str,
    pub kept_days: u32,
    pub what: &'static str,
    pub count: u64,
}

/// Everything the sweeper needs.
pub struct Sweeper<'a> {
    pub db: &'a DatabaseConnection,
    pub keys: &'a Keys,
    pub audit: &'a AuditLog,
    pub settings: &'a RetentionSettings,
    pub notifier: &'a Notifier,
    /// To revoke, at the provider, what a purged person linked as an owner.
    pub integrations: Option<&'a crate::owners::integrations::Integrations>,
}

fn days(n: u32) -> Duration {
    Duration::days(n.into())
}

impl Sweeper<'_> {
    /// Deletes what is due at `now` (or only counts it, with `dry_run`), class by class.
    pub async fn run(&self, now: DateTime<Utc>, dry_run: bool) -> Result<Vec<ClassReport>, DbErr> {
        let s = self.settings;
        let class = |class, kept_days, what, count| ClassReport {
            class,
            kept_days,
            what,
            count,
        };
        Ok(vec![
            class(
                "conversation",
                s.conversation_days,
                "stored messages",
                self.conversation(now, dry_run).await?,
            ),
            class(
                "egress",
                s.egress_days,
                "egress ledger rows",
                self.egress(now, dry_run).await?,
            ),
            class(
                "payments",
                s.payments_days,
                "Stars payments (and counts of free requests used, after two months)",
                self.payments(now, dry_run).await?,
            ),
            class(
                "temporary",
                s.temporary_days,
                "delivery records, expired export links and OAuth states",
                self.temporary(now, dry_run).await?,
            ),
            class(
                "erased",
                s.erasure_grace_days,
                "people whose erasure grace period ended",
                self.erased(now, dry_run).await?,
            ),
            class(
                "inactive_subjects",
                s.inactive_subject_days,
                "people inactive for the whole period",
                self.inactive(now, dry_run).await?,
            ),
            class(
                "audit",
                s.audit_days,
                "audit entries (an anchor entry records the pruning)",
                self.audit
                    .prune(self.db, now - days(s.audit_days), dry_run)
                    .await?,
            ),
        ])
    }

    /// Stored conversation older than its period.
    async fn conversation(&self, now: DateTime<Utc>, dry_run: bool) -> Result<u64, DbErr> {
        let s = self.settings;
        let cutoff = now - days(s.conversation_days);
        let q = conversation_messages::Entity::delete_many()
            .filter(conversation_messages::Column::CreatedAt.lt(cutoff));
        let count = if dry_run {
            conversation_messages::Entity::find()
                .filter(conversation_messages::Column::CreatedAt.lt(cutoff))
                .count(self.db)
                .await?
        } else {
            q.exec(self.db).await?.rows_affected
        };
        Ok(count)
    }
    /// Egress ledger rows older than their period.
    async fn egress(&self, now: DateTime<Utc>, dry_run: bool) -> Result<u64, DbErr> {
        let s = self.settings;
        let cutoff = now - days(s.egress_days);
        let count = if dry_run {
            egress_ledger::Entity::find()
                .filter(egress_ledger::Column::CreatedAt.lt(cutoff))
                .count(self.db)
                .await?
        } else {
            egress_ledger::Entity::delete_many()
                .filter(egress_ledger::Column::CreatedAt.lt(cutoff))
                .exec(self.db)
                .await?
                .rows_affected
        };
        Ok(count)
    }
    /// Payments older than their period (by when they were made), and counts of free requests
    /// used before last month (only this month's are ever read).
    async fn payments(&self, now: DateTime<Utc>, dry_run: bool) -> Result<u64, DbErr> {
        use consentgate_entity::{payments, request_usage};
        let cutoff = now - days(self.settings.payments_days);
        let usage_cutoff = now - days(62);
        let count = if dry_run {
            payments::Entity::find()
                .filter(payments::Column::PaidAt.lt(cutoff))
                .count(self.db)
                .await?
                + request_usage::Entity::find()
                    .filter(request_usage::Column::Day.lt(usage_cutoff.date_naive()))
                    .count(self.db)
                    .await?
        } else {
            payments::Entity::delete_many()
                .filter(payments::Column::PaidAt.lt(cutoff))
                .exec(self.db)
                .await?
                .rows_affected
                + request_usage::Entity::delete_many()
                    .filter(request_usage::Column::Day.lt(usage_cutoff.date_naive()))
                    .exec(self.db)
                    .await?
                    .rows_affected
        };
        Ok(count)
    }
    /// Delivery ids (kept to drop redeliveries) past their period, expired export links and OAuth states.
    async fn temporary(&self, now: DateTime<Utc>, dry_run: bool) -> Result<u64, DbErr> {
        let s = self.settings;
        let cutoff = now - days(s.temporary_days);
        let updates = processed_updates::Entity::find()
            .filter(processed_updates::Column::Completed.eq(true))
            .filter(processed_updates::Column::ProcessedAt.lt(cutoff));
        let links = export_links::Entity::find().filter(export_links::Column::ExpiresAt.lt(now));
        let states = oauth_states::Entity::find().filter(oauth_states::Column::ExpiresAt.lt(now));
        let count = if dry_run {
            updates.count(self.db).await?
                + links.count(self.db).await?
                + states.count(self.db).await?
        } else {
            oauth_states::Entity::delete_many()
                .filter(oauth_states::Column::ExpiresAt.lt(now))
                .exec(self.db)
                .await?
                .rows_affected
                + processed_updates::Entity::delete_many()
                    .filter(processed_updates::Column::Completed.eq(true))
                    .filter(processed_updates::Column::ProcessedAt.lt(cutoff))
                    .exec(self.db)
                    .await?
                    .rows_affected
                + export_links::Entity::delete_many()
                    .filter(export_links::Column::ExpiresAt.lt(now))
                    .exec(self.db)
                    .await?
                    .rows_affected
        };
        Ok(count)
    }
    /// Requested erasures whose grace period is over: purged, then told.
    async fn erased(&self, now: DateTime<Utc>, dry_run: bool) -> Result<u64, DbErr> {
        let due: Vec<subjects::Model> = subjects::Entity::find()
            .filter(subjects::Column::ErasureRequestedAt.is_not_null())
            .filter(subjects::Column::PurgeAfter.lte(now))
            .limit(SUBJECTS_PER_SWEEP)
            .all(self.db)
            .await?;
        let count = due.len() as u64;
        if !dry_run {
            for subject in due {
                // Read before the purge, told after it commits: only what really happened.
                let identities = identity::identities_of(self.db, self.keys, subject.id).await?;
                let pseudonym = Pseudonym::from_stored(subject.pseudonym);
                if let Some(i) = self.integrations {
                    i.revoke_owned_by(subject.id, "erasure").await?;
                }
                let purged = erasure::purge(
                    self.db,
                    self.audit,
                    subject.id,
                    &pseudonym,
                    erasure::Because::RequestDue(now),
                )
                .await?;
                if purged.is_some() {
                    let told = self.notifier.tell(&identities, PURGED_NOTICE).await;
                    tracing::info!(
                        subject = pseudonym.short(),
                        told = told.sent,
                        "erasure carried out"
                    );
                }
            }
        }
        Ok(count)
    }
    /// Inactive people: no identity of theirs seen within the period.
    async fn inactive(&self, now: DateTime<Utc>, dry_run: bool) -> Result<u64, DbErr> {
        let s = self.settings;
        let cutoff = now - days(s.inactive_subject_days);
        let active = sea_orm::sea_query::Query::select()
            .column(channel_identities::Column::SubjectId)
            .from(channel_identities::Entity)
            .and_where(channel_identities::Column::LastSeenAt.gte(cutoff))
            .to_owned();
        let inactive = subjects::Entity::find()
            .filter(subjects::Column::ErasureRequestedAt.is_null())
            .filter(subjects::Column::CreatedAt.lt(cutoff))
            .filter(subjects::Column::Id.not_in_subquery(active));
        let inactive = inactive.limit(SUBJECTS_PER_SWEEP).all(self.db).await?;
        let count = inactive.len() as u64;
        if !dry_run {
            for subject in inactive {
                let pseudonym = Pseudonym::from_stored(subject.pseudonym);
                if let Some(i) = self.integrations {
                    i.revoke_owned_by(subject.id, "inactive").await?;
                }
                erasure::purge(
                    self.db,
                    self.audit,
                    subject.id,
                    &pseudonym,
                    erasure::Because::InactiveSince(cutoff),
                )
                .await?;
                // Where the tools passed their data, the owners are told (from the audit log,
                // which the purge keeps).
                if let Some(i) = self.integrations {
                    crate::tools::erasure::tell_owners(
                        i,
                        &pseudonym,
                        None,
                        crate::tools::erasure::Why::Inactive,
                    )
                    .await;
                }
            }
        }
        Ok(count)
    }
}

/// The report as the CLI prints it.
pub fn render(report: &[ClassReport], dry_run: bool) -> String {
    let verb = if dry_run { "would delete" } else { "deleted" };
    let mut out = String::new();
    for r in report {
        out.push_str(&format!(
            "{:<18} kept {:>5} days  {verb} {:>6} {}\n",
            r.class, r.kept_days, r.count, r.what
        ));
    }
    out
}
