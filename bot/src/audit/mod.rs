//! The audit log: one entry per decision, metadata only (pseudonyms, never content or raw ids),
//! chained so that editing, deleting or reordering entries is detectable.
//!
//! Each entry's hash is `HMAC-SHA256(AUDIT_KEY, prev_hash ‖ canonical(entry))`, where
//! `canonical` is, in order:
//!
//! ```text
//! "consentgate-audit-v1"
//! seq            u64, big-endian
//! at             i64 milliseconds since the Unix epoch, big-endian
//! bot_id         0x00, or 0x01 and i64 big-endian
//! subject        0x00, or 0x01, u32 big-endian length and the UTF-8 bytes
//! action         u32 big-endian length and the UTF-8 bytes
//! detail         u32 big-endian length and the UTF-8 bytes
//! ```
//!
//! and `prev_hash` is the previous entry's hash (32 zero bytes before the first). Appends lock the
//! one row of `audit_head` inside their transaction, so concurrent writers — tasks or replicas on
//! one PostgreSQL — take turns and the chain cannot fork. [`verify`] checks it with a separate
//! implementation of the same encoding.

pub mod action;
pub mod verify;

pub use action::Action;

use chrono::{DateTime, SubsecRound, Utc};
use hmac::{Hmac, Mac};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, Set,
    TransactionTrait,
    sea_query::{Expr, ExprTrait},
};
use serde_json::Value;
use sha2::Sha256;

use consentgate_entity::{audit_head, audit_log};

use crate::privacy::digest;
use crate::{privacy::keys::HmacKey, privacy::pseudonym::Pseudonym};

/// The first entry's previous hash.
pub const GENESIS: [u8; 32] = [0; 32];
const VERSION_TAG: &[u8] = b"consentgate-audit-v1";

/// What an entry says, before it is chained.
pub struct Entry<'a> {
    pub at: DateTime<Utc>,
    pub bot_id: Option<i64>,
    pub subject: Option<&'a str>,
    pub action: &'a str,
    pub detail: &'a str,
}

fn field(mac: &mut Hmac<Sha256>, bytes: &[u8]) {
    mac.update(&(bytes.len() as u32).to_be_bytes());
    mac.update(bytes);
}

/// The chain hash of an entry at `seq` after `prev`.
pub fn chain_hash(key: &HmacKey, prev: &[u8], seq: i64, entry: &Entry<'_>) -> [u8; 32] {
    let mut mac = digest::keyed(key);
    mac.update(prev);
    mac.update(VERSION_TAG);
    mac.update(&(seq as u64).to_be_bytes());
    mac.update(&entry.at.timestamp_millis().to_be_bytes());
    match entry.bot_id {
        Some(id) => {
            mac.update(&[1]);
            mac.update(&id.to_be_bytes());
        }
        None => mac.update(&[0]),
    }
    match entry.subject {
        Some(s) => {
            mac.update(&[1]);
            field(&mut mac, s.as_bytes());
        }
        None => mac.update(&[0]),
    }
    field(&mut mac, entry.action.as_bytes());
    field(&mut mac, entry.detail.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Begins a transaction in which the head-row lock serialises appenders. On PostgreSQL the level
/// is set to READ COMMITTED explicitly: under REPEATABLE READ or SERIALIZABLE (a server's default
/// may be either) a waiting appender would fail with a serialisation error instead of reading
/// the new head.
pub async fn begin(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => {
            db.begin_with_config(Some(sea_orm::IsolationLevel::ReadCommitted), None)
                .await
        }
        _ => db.begin().await,
    }
}

/// An entry to be appended: what it says, before its time and place in the chain are known.
#[derive(Clone, Debug)]
pub struct Pending {
    pub bot_id: Option<i64>,
    pub subject: Option<Pseudonym>,
    pub action: Action,
    pub detail: Value,
}

/// Appends entries to the chain.
#[derive(Clone, Debug)]
pub struct AuditLog {
    key: HmacKey,
}

impl AuditLog {
    pub fn new(key: HmacKey) -> Self {
        AuditLog { key }
    }

    /// Appends one entry in its own transaction. Callers treat a failure as "do not proceed"
    /// (fail closed).
    pub async fn record(
        &self,
        db: &DatabaseConnection,
        bot_id: Option<i64>,
        subject: Option<&Pseudonym>,
        action: Action,
        detail: Value,
    ) -> Result<(), DbErr> {
        let txn = begin(db).await?;
        self.append(&txn, bot_id, subject, action, detail).await?;
        txn.commit().await
    }

    /// Appends one entry inside the caller's transaction: it is kept only if the transaction
    /// commits, together with whatever else the transaction wrote.
    pub async fn append(
        &self,
        txn: &DatabaseTransaction,
        bot_id: Option<i64>,
        subject: Option<&Pseudonym>,
        action: Action,
        detail: Value,
    ) -> Result<(), DbErr> {
        let entry = Pending {
            bot_id,
            subject: subject.cloned(),
            action,
            detail,
        };
        self.append_all(txn, &[&entry]).await
    }

    /// Appends `entries`, in order, inside the caller's transaction: three statements for up to
    /// 100 of them (the head moved past all of them, the entries, the new head), so a group
    /// commit chains its messages' entries at once. (A head written by an older version, without
    /// the previous entry's time, adds a read of that entry.)
    pub async fn append_all(
        &self,
        txn: &DatabaseTransaction,
        entries: &[&Pending],
    ) -> Result<(), DbErr> {
        if entries.is_empty() {
            return Ok(());
        }
        let count = entries.len() as i64;
        // Moving the head first locks its row (PostgreSQL row lock, SQLite write lock) until the
        // transaction ends: appenders take turns. The same statement returns it, at the last of
        // the sequence numbers taken.
        let head = audit_head::Entity::update_many()
            .col_expr(
                audit_head::Column::Seq,
                Expr::col(audit_head::Column::Seq).add(count),
            )
            .filter(audit_head::Column::Id.eq(1))
            .exec_with_returning(txn)
            .await?
            .pop()
            .ok_or_else(|| DbErr::Custom("the audit chain head is missing".into()))?;
        let first = head.seq - count + 1;
        let mut prev: [u8; 32] = hex::decode(&head.hash)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| DbErr::Custom("the audit chain head is corrupt".into()))?;
        // Taken under the lock and never before the previous entry's time (replicas' clocks
        // differ, and clocks step back), so time follows the sequence; millisecond precision
        // survives every database's timestamp type. A head whose time is not the previous
        // entry's (written before heads kept it, or by an older replica) sends us to the entry.
        let previous_at = match (first, head.at, head.at_seq) {
            (1, _, _) => None,
            (first, Some(at), Some(of)) if of == first - 1 => Some(at),
            (first, _, _) => audit_log::Entity::find()
                .filter(audit_log::Column::Seq.eq(first - 1))
                .all(txn)
                .await?
                .pop()
                .map(|row| row.at),
        };
        let now = Utc::now().trunc_subsecs(3);
        let at = previous_at.map_or(now, |previous| std::cmp::max(previous, now));
        let mut rows = Vec::with_capacity(entries.len());
        for (seq, pending) in (first..).zip(entries) {
            let detail = pending.detail.to_string();
            let subject = pending.subject.as_ref().map(|p| p.as_str().to_string());
            let entry = Entry {
                at,
                bot_id: pending.bot_id,
                subject: subject.as_deref(),
                action: pending.action.as_str(),
                detail: &detail,
            };
            let hash = chain_hash(&self.key, &prev, seq, &entry);
            rows.push(audit_log::ActiveModel {
                at: Set(at),
                bot_id: Set(pending.bot_id),
                subject: Set(subject),
                action: Set(pending.action.as_str().to_string()),
                detail: Set(detail),
                seq: Set(Some(seq)),
                prev_hash: Set(Some(hex::encode(prev))),
                hash: Set(Some(hex::encode(hash))),
                ..Default::default()
            });
            prev = hash;
        }
        // Statements stay well under every database's limit on parameters.
        for chunk in rows.chunks(100) {
            audit_log::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(txn)
                .await?;
        }
        audit_head::Entity::update_many()
            .col_expr(audit_head::Column::Hash, Expr::value(hex::encode(prev)))
            .col_expr(audit_head::Column::At, Expr::value(at))
            .col_expr(audit_head::Column::AtSeq, Expr::value(head.seq))
            .filter(audit_head::Column::Id.eq(1))
            .exec(txn)
            .await?;
        Ok(())
    }

    /// Retention: deletes the entries older than `cutoff` and appends an anchor entry naming
    /// the last one removed (its sequence number and hash), from which `audit verify` checks the
    /// rest. Time follows the sequence, so what goes is always a prefix of the chain. Returns how
    /// many entries went (or would go, with `dry_run`).
    pub async fn prune(
        &self,
        db: &DatabaseConnection,
        cutoff: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<u64, DbErr> {
        use sea_orm::{PaginatorTrait, QueryOrder};
        let old = audit_log::Entity::find().filter(audit_log::Column::At.lt(cutoff));
        if dry_run {
            return old.count(db).await;
        }
        let txn = begin(db).await?;
        // Write first: the head row's lock makes appenders wait, and on SQLite a transaction
        // that reads before writing can fail outright when another writer got in between.
        audit_head::Entity::update_many()
            .col_expr(audit_head::Column::Seq, Expr::col(audit_head::Column::Seq))
            .filter(audit_head::Column::Id.eq(1))
            .exec(&txn)
            .await?;
        // Walk the part about to go and check every link first: entries whose time was moved
        // back (to get them pruned) or edited are refused, not deleted.
        let mut last: Option<(i64, String)> = None;
        let mut pages = audit_log::Entity::find()
            .filter(audit_log::Column::Seq.is_not_null())
            .order_by_asc(audit_log::Column::Seq)
            .paginate(&txn, 1_000);
        'walk: while let Some(rows) = pages.fetch_and_next().await? {
            for row in rows {
                if row.at >= cutoff {
                    break 'walk;
                }
                let prev = match &last {
                    Some((_, hash)) => hash.clone(),
                    // The first entry kept so far: from genesis, or vouched for by an anchor.
                    None => row.prev_hash.clone().unwrap_or_default(),
                };
                let seq = row.seq.unwrap_or_default();
                if last.as_ref().is_some_and(|(s, _)| *s + 1 != seq)
                    || !verify::links_to(&self.key, &prev, &row)
                {
                    return Err(DbErr::Custom(format!(
                        "the audit chain does not verify at entry {seq}; nothing was pruned (run `consentgate audit verify`)"
                    )));
                }
                last = Some((seq, row.hash.clone().unwrap_or_default()));
            }
        }
        let mut removed = audit_log::Entity::delete_many()
            .filter(audit_log::Column::Seq.is_null())
            .filter(audit_log::Column::At.lt(cutoff))
            .exec(&txn)
            .await?
            .rows_affected;
        if let Some((through, _)) = &last {
            removed += audit_log::Entity::delete_many()
                .filter(audit_log::Column::Seq.lte(*through))
                .exec(&txn)
                .await?
                .rows_affected;
        }
        if removed == 0 {
            return Ok(0);
        }
        self.append(
            &txn,
            None,
            None,
            Action::AuditAnchor,
            serde_json::json!({
                "pruned_through_seq": last.as_ref().map(|l| l.0),
                "pruned_through_hash": last.as_ref().map(|l| l.1.clone()),
                "removed": removed,
                "older_than": cutoff.to_rfc3339(),
            }),
        )
        .await?;
        txn.commit().await?;
        Ok(removed)
    }
}
