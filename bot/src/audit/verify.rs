//! `consentgate audit verify`: checks every link of the chain.
//!
//! This is a second implementation of the encoding described in the module above, written apart
//! from the writer on purpose: a bug in one is caught by the other, and both are pinned by a
//! golden vector.

use hmac::Mac;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};

use consentgate_entity::{audit_head, audit_log};

use crate::privacy::digest;
use crate::privacy::keys::HmacKey;

/// Rows read per query, so memory stays flat however long the chain is.
const PAGE: u64 = 1_000;

/// A checkpoint kept outside the database: the chain had `hash` at `seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
}

impl std::str::FromStr for Checkpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (seq, hash) = s
            .trim()
            .split_once(':')
            .ok_or("expected SEQ:HASH, as printed by `consentgate audit checkpoint`")?;
        let seq = seq
            .parse()
            .map_err(|_| format!("`{seq}` is not a sequence number"))?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("the hash must be 64 hex digits".into());
        }
        Ok(Checkpoint {
            seq,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

impl std::fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// The first thing found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Break {
    /// The entry at fault (its sequence number, or the one expected there).
    pub seq: i64,
    pub reason: String,
}

/// What verification found.
#[derive(Clone, Debug)]
pub struct Report {
    /// Chained entries checked.
    pub entries: u64,
    /// Entries from before the chain existed (not covered).
    pub unchained: u64,
    /// The last entry: what to keep as a checkpoint.
    pub head: Option<Checkpoint>,
    pub broken: Option<Break>,
}

fn encode(row: &audit_log::Model, seq: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + row.detail.len());
    out.extend_from_slice(b"consentgate-audit-v1");
    out.extend_from_slice(&(seq as u64).to_be_bytes());
    out.extend_from_slice(&row.at.timestamp_millis().to_be_bytes());
    if let Some(bot) = row.bot_id {
        out.push(1);
        out.extend_from_slice(&bot.to_be_bytes());
    } else {
        out.push(0);
    }
    if let Some(subject) = &row.subject {
        out.push(1);
        out.extend_from_slice(&(subject.len() as u32).to_be_bytes());
        out.extend_from_slice(subject.as_bytes());
    } else {
        out.push(0);
    }
    for text in [&row.action, &row.detail] {
        out.extend_from_slice(&(text.len() as u32).to_be_bytes());
        out.extend_from_slice(text.as_bytes());
    }
    out
}

/// Whether a chained row links to `prev` and its hash matches its content.
pub(crate) fn links_to(key: &HmacKey, prev: &str, row: &audit_log::Model) -> bool {
    let Some(seq) = row.seq else {
        return false;
    };
    row.prev_hash.as_deref() == Some(prev)
        && row.hash.is_some()
        && expected_hash(key, prev, row, seq).as_deref() == row.hash.as_deref()
}

fn expected_hash(key: &HmacKey, prev: &str, row: &audit_log::Model, seq: i64) -> Option<String> {
    let prev = hex::decode(prev).ok().filter(|p| p.len() == 32)?;
    let mut mac = digest::keyed(key);
    mac.update(&prev);
    mac.update(&encode(row, seq));
    Some(hex::encode(mac.finalize().into_bytes()))
}

/// Checks the whole chain: contiguous sequence from 1 (or from the entry after the last one an
/// anchor says was pruned), each previous hash, each MAC, time never
/// going back (beyond [`CLOCK_TOLERANCE_MS`]), the stored head, and, when given, a checkpoint kept
/// outside the database (which catches a truncated or rewritten tail).
pub async fn verify(
    db: &impl ConnectionTrait,
    key: &HmacKey,
    checkpoint: Option<&Checkpoint>,
) -> Result<Report, DbErr> {
    let unchained = audit_log::Entity::find()
        .filter(audit_log::Column::Seq.is_null())
        .count(db)
        .await?;
    let mut report = Report {
        entries: 0,
        unchained,
        head: None,
        broken: None,
    };
    let mut prev_hash = "0".repeat(64);
    let mut prev_at: Option<i64> = None;
    let mut expected_seq = 1i64;
    // After retention pruning the chain starts later; an anchor entry inside the chain must
    // then vouch for where it starts.
    let first = audit_log::Entity::find()
        .filter(audit_log::Column::Seq.is_not_null())
        .order_by_asc(audit_log::Column::Seq)
        .one(db)
        .await?;
    let mut start_unvouched: Option<(i64, String)> = None;
    if let Some(first) = &first
        && let Some(seq) = first.seq.filter(|s| *s > 1)
    {
        expected_seq = seq;
        prev_hash = first.prev_hash.clone().unwrap_or_default();
        start_unvouched = Some((seq - 1, prev_hash.clone()));
    }
    let start_seq = expected_seq;
    let mut checkpoint_seen = false;
    let mut pages = audit_log::Entity::find()
        .filter(audit_log::Column::Seq.is_not_null())
        .order_by_asc(audit_log::Column::Seq)
        .paginate(db, PAGE);
    'pages: while let Some(rows) = pages.fetch_and_next().await? {
        for row in rows {
            let seq = row.seq.unwrap_or_default();
            let fail = |seq: i64, reason: String| Some(Break { seq, reason });
            if seq != expected_seq {
                report.broken = fail(
                    expected_seq,
                    format!("entry {expected_seq} is missing (the next one is {seq})"),
                );
                break 'pages;
            }
            if row.prev_hash.as_deref() != Some(prev_hash.as_str()) {
                report.broken = fail(
                    seq,
                    "its previous hash does not match the entry before it (removed, inserted or reordered)".into(),
                );
                break 'pages;
            }
            let stored = row.hash.clone().unwrap_or_default();
            if expected_hash(key, &prev_hash, &row, seq).as_deref() != Some(stored.as_str()) {
                report.broken = fail(
                    seq,
                    "its hash does not match its content (edited, or written without AUDIT_KEY)"
                        .into(),
                );
                break 'pages;
            }
            let at = row.at.timestamp_millis();
            if let Some(before) = prev_at
                && at < before
            {
                report.broken = fail(seq, "its time is earlier than the entry before it".into());
                break 'pages;
            }
            if let Some(cp) = checkpoint
                && cp.seq == seq
            {
                checkpoint_seen = true;
                if cp.hash != stored {
                    report.broken = fail(
                        seq,
                        "it differs from the checkpoint kept outside the database".into(),
                    );
                    break 'pages;
                }
            }
            if row.action == crate::audit::Action::AuditAnchor.as_str()
                && let Some((through, hash)) = &start_unvouched
                && let Ok(detail) = serde_json::from_str::<serde_json::Value>(&row.detail)
                && detail["pruned_through_seq"].as_i64() == Some(*through)
                && detail["pruned_through_hash"].as_str() == Some(hash.as_str())
            {
                start_unvouched = None;
            }
            report.entries += 1;
            prev_at = Some(at);
            prev_hash = stored;
            expected_seq += 1;
        }
    }
    if report.entries > 0 {
        report.head = Some(Checkpoint {
            seq: expected_seq - 1,
            hash: prev_hash.clone(),
        });
    }
    if report.broken.is_none()
        && let Some((through, _)) = start_unvouched
    {
        report.broken = Some(Break {
            seq: through,
            reason: format!(
                "entry {through} is missing: the chain starts at entry {} and no anchor entry records that entries up to {through} were pruned",
                through + 1
            ),
        });
    }
    if report.broken.is_none() {
        let last = expected_seq - 1;
        // A checkpoint older than the pruned part cannot be compared, but the chain reaches
        // past it.
        if let Some(cp) = checkpoint
            && cp.seq < start_seq
        {
            checkpoint_seen = true;
        }
        if let Some(cp) = checkpoint
            && !checkpoint_seen
        {
            report.broken = Some(Break {
                seq: cp.seq,
                reason: format!(
                    "the checkpoint names entry {} but the chain ends at {last}: its tail was cut",
                    cp.seq
                ),
            });
        } else {
            match audit_head::Entity::find_by_id(1).one(db).await? {
                None => {
                    report.broken = Some(Break {
                        seq: last + 1,
                        reason: "the chain head record is missing (deleted?)".into(),
                    });
                }
                Some(head) if head.seq != last || head.hash != prev_hash => {
                    report.broken = Some(Break {
                        seq: head.seq.max(last),
                        reason: format!(
                            "the chain head records entry {} but the log ends at {last}: entries were removed from the end",
                            head.seq
                        ),
                    });
                }
                Some(_) => {}
            }
        }
    }
    // Entries from before the chain are older than every chained one. An unchained row added
    // later (or a chained one stripped of its links) is a forgery.
    if report.broken.is_none()
        && let Some(first) = audit_log::Entity::find()
            .filter(audit_log::Column::Seq.is_not_null())
            .order_by_asc(audit_log::Column::Id)
            .one(db)
            .await?
        && let Some(stray) = audit_log::Entity::find()
            .filter(audit_log::Column::Seq.is_null())
            .filter(audit_log::Column::Id.gt(first.id))
            .order_by_asc(audit_log::Column::Id)
            .one(db)
            .await?
    {
        report.broken = Some(Break {
            seq: 0,
            reason: format!(
                "row {} sits outside the chain but was written after the chain began",
                stray.id
            ),
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Entry, chain_hash};
    use chrono::TimeZone;

    /// Both implementations of the encoding give this hash for this entry.
    #[test]
    fn golden_vector() {
        let key =
            HmacKey::parse("AUDIT_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").unwrap();
        let at = chrono::Utc.timestamp_millis_opt(1_795_000_000_123).unwrap();
        let row = audit_log::Model {
            id: 7,
            at,
            bot_id: Some(3),
            subject: Some("ab12".into()),
            action: "consent.given".into(),
            detail: r#"{"purpose":"assistant"}"#.into(),
            seq: Some(2),
            prev_hash: None,
            hash: None,
        };
        let prev = "11".repeat(32);
        let from_verifier = expected_hash(&key, &prev, &row, 2).unwrap();
        let from_writer = hex::encode(chain_hash(
            &key,
            &hex::decode(&prev).unwrap(),
            2,
            &Entry {
                at,
                bot_id: Some(3),
                subject: Some("ab12"),
                action: "consent.given",
                detail: r#"{"purpose":"assistant"}"#,
            },
        ));
        assert_eq!(from_writer, from_verifier);
        // Computed independently with Python's hmac module from the specification.
        assert_eq!(
            from_verifier,
            "51a9267119fe661b21bb9a262adc7c191c09f64e2d4a4159071d94c3ba89d84f"
        );
    }

    #[test]
    fn checkpoints_parse_and_print() {
        let cp: Checkpoint = format!("12:{}", "AB".repeat(32)).parse().unwrap();
        assert_eq!(cp.to_string(), format!("12:{}", "ab".repeat(32)));
        assert!("12".parse::<Checkpoint>().is_err());
        assert!("x:00".parse::<Checkpoint>().is_err());
    }
}
