//! `[retention]`: how long each class of data is kept, and how erasure works.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, bad};

/// How long each class of data is kept, in days, and how erasure works.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Stored conversation (only kept with the `history` purpose).
    pub conversation_days: u32,
    /// The egress ledger: which LLM calls were made about a person.
    pub egress_days: u32,
    /// Telegram Stars payments, and the count of free requests used.
    pub payments_days: u32,
    /// Temporary records: delivery ids kept to drop platform redeliveries, export links.
    pub temporary_days: u32,
    /// Audit log entries; pruning leaves an anchor entry.
    pub audit_days: u32,
    /// People who have not written for this long are erased.
    pub inactive_subject_days: u32,
    /// Time between `/delete` and the purge, during which `/restore` undoes it; 0 purges at once.
    pub erasure_grace_days: u32,
    /// How often the background sweeper runs.
    pub sweep_interval: Duration,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            conversation_days: 30,
            egress_days: 365,
            payments_days: 5 * 365,
            temporary_days: 90,
            audit_days: 365,
            inactive_subject_days: 5 * 365,
            erasure_grace_days: 30,
            sweep_interval: Duration::from_secs(3600),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRetention {
    pub(super) conversation_days: Option<u32>,
    pub(super) egress_days: Option<u32>,
    pub(super) payments_days: Option<u32>,
    pub(super) temporary_days: Option<u32>,
    pub(super) audit_days: Option<u32>,
    pub(super) inactive_subject_days: Option<u32>,
    pub(super) erasure_grace_days: Option<u32>,
    pub(super) sweep_interval_secs: Option<u64>,
}

/// The longest retention anything may have: a hundred years.
pub const MAX_DAYS: u32 = 36_500;

pub(super) fn settings(file: Option<FileRetention>) -> Result<RetentionSettings, ConfigError> {
    let mut r = RetentionSettings::default();
    let Some(f) = file else {
        return Ok(r);
    };
    let at_least = |place: &str, v: Option<u32>, min: u32, default: u32| match v {
        Some(v) if v < min => Err(bad(
            format!("retention.{place}"),
            format!("must be at least {min}"),
        )),
        Some(v) if v > MAX_DAYS => Err(bad(
            format!("retention.{place}"),
            format!("at most {MAX_DAYS} days"),
        )),
        Some(v) => Ok(v),
        None => Ok(default),
    };
    r.conversation_days = at_least(
        "conversation_days",
        f.conversation_days,
        1,
        r.conversation_days,
    )?;
    r.egress_days = at_least("egress_days", f.egress_days, 1, r.egress_days)?;
    // A plan runs up to 366 days; its payment is kept at least as long.
    r.payments_days = at_least("payments_days", f.payments_days, 366, r.payments_days)?;
    // Platforms redeliver for up to 7 days (WhatsApp); delivery ids must outlive that.
    r.temporary_days = at_least("temporary_days", f.temporary_days, 8, r.temporary_days)?;
    r.audit_days = at_least("audit_days", f.audit_days, 1, r.audit_days)?;
    r.inactive_subject_days = at_least(
        "inactive_subject_days",
        f.inactive_subject_days,
        1,
        r.inactive_subject_days,
    )?;
    r.erasure_grace_days = at_least(
        "erasure_grace_days",
        f.erasure_grace_days,
        0,
        r.erasure_grace_days,
    )?;
    if let Some(secs) = f.sweep_interval_secs {
        if secs < 10 {
            return Err(bad("retention.sweep_interval_secs", "must be at least 10"));
        }
        r.sweep_interval = Duration::from_secs(secs);
    }
    Ok(r)
}
