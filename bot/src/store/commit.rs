//! Group commit: the writes of the messages in flight share transactions. One writer task takes
//! every write waiting for it, runs them in order in one transaction and commits once; each
//! caller is answered only after that commit, so nothing is acted on before it is committed
//! (and on disk, unless SQLite runs with `synchronous=normal`; see `storage`).
//!
//! A message's writes (its dedupe claim, its audit entry with the egress row, …) are small; what
//! costs is the commit (a flush to disk) and, with one audit chain, waiting for the head row.
//! Sharing both between the messages in flight is what lets throughput grow with load while a
//! lone message still waits for one commit, as before.
//!
//! Audit entries given with writes ([`Committer::write_recorded`]) are chained together at the end
//! of the batch's transaction, after its writes: one move of the chain's head for the whole
//! batch instead of one per entry, and the head's row lock is held only from there to the commit.
//!
//! If any write in a batch fails, the batch is rolled back and every write in it is run again in
//! a transaction of its own, so one failing write never takes others down with it. Writes must
//! therefore touch only the database: they may run twice, and only the committed run counts.
//! When no transaction can be begun (the database is unreachable), every write waiting fails at
//! once instead. A write that panics fails like a write that errs; the writer carries on.

use std::{
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex},
};

use futures::{FutureExt, future::BoxFuture};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr};
use tokio::sync::{mpsc, oneshot};

use crate::audit::{AuditLog, Pending};

/// The most writes one transaction takes.
pub const MAX_BATCH: usize = 128;

type Run =
    Box<dyn for<'t> Fn(&'t DatabaseTransaction) -> BoxFuture<'t, Result<(), DbErr>> + Send + Sync>;

struct Job {
    run: Run,
    done: Box<dyn FnOnce(Result<(), DbErr>) + Send + Sync>,
    /// Where the write goes among others that carry one (see [`Committer::write_in_order`]).
    order: Option<String>,
    /// Audit entries appended with the write, in this order.
    entries: Vec<Pending>,
}

/// A write: given the shared transaction, what to do in it. It may run more than once.
pub trait Write<T>:
    for<'t> Fn(&'t DatabaseTransaction) -> BoxFuture<'t, Result<T, DbErr>> + Send + Sync + 'static
{
}

impl<T, F> Write<T> for F where
    F: for<'t> Fn(&'t DatabaseTransaction) -> BoxFuture<'t, Result<T, DbErr>>
        + Send
        + Sync
        + 'static
{
}

/// A handle on the writer task; cheap to clone.
#[derive(Clone)]
pub struct Committer {
    jobs: mpsc::Sender<Job>,
}

fn stopped() -> DbErr {
    DbErr::Custom("the database writer has stopped".into())
}

/// Held by a writer for each batch, so writers on one SQLite file take turns in this process
/// instead of waiting for the file lock with the busy handler's sleeps.
pub type WriteLock = Arc<tokio::sync::Mutex<()>>;

/// When a writer's commits reach the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// Each commit is flushed before its callers are answered (unless SQLite runs with
    /// `synchronous=normal`; see `storage`).
    Each,
    /// Commits are visible at once but flushed with the next flushed commit of any writer
    /// (SQLite's and PostgreSQL's logs are written in commit order): for writes whose loss in a
    /// power cut or server crash costs nothing as long as whatever is acted upon outside the
    /// database is committed with [`Flush::Each`] afterwards. A killed process loses nothing.
    Later,
}

impl Committer {
    /// Starts the writer task on the current runtime.
    pub fn start(db: DatabaseConnection) -> Self {
        Self::start_with(db, None, Flush::Each, None)
    }

    /// Starts a writer that runs each batch holding `lock`, if given (shared with other writers),
    /// flushes its commits as `flush` says, and chains entries given with writes to `audit`.
    pub fn start_with(
        db: DatabaseConnection,
        lock: Option<WriteLock>,
        flush: Flush,
        audit: Option<AuditLog>,
    ) -> Self {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(async move {
            let db = match flush {
                // On SQLite the setting belongs to the connection: a handle of its own (where
                // there is none to be had, the commits are flushed like any other).
                Flush::Later => crate::store::unflushed_sqlite_writer(&db)
                    .await
                    .unwrap_or(db),
                Flush::Each => db,
            };
            writer(db, rx, lock, flush, audit).await
        });
        Committer { jobs }
    }

    /// Runs `write` in a shared transaction and returns its result once that transaction has
    /// committed. `write` may be called more than once (see the module documentation).
    pub async fn write<T, F>(&self, write: F) -> Result<T, DbErr>
    where
        T: Send + 'static,
        F: Write<T>,
    {
        self.submit(None, Vec::new(), write).await
    }

    /// Like [`Self::write`], and appends `entry` to the audit log in the same transaction (after
    /// the write; see the module documentation). Fails on a writer started without an audit log.
    pub async fn write_recorded<T, F>(&self, entry: Pending, write: F) -> Result<T, DbErr>
    where
        T: Send + 'static,
        F: Write<T>,
    {
        self.submit(None, vec![entry], write).await
    }

    /// Like [`Self::write`], for writes that lock one row each, named by `order`: a batch made
    /// only of such writes runs them sorted by it. Two processes batching writes to the same
    /// rows then take the row locks in the same order and cannot deadlock each other.
    pub async fn write_in_order<T, F>(&self, order: String, write: F) -> Result<T, DbErr>
    where
        T: Send + 'static,
        F: Write<T>,
    {
        self.submit(Some(order), Vec::new(), write).await
    }

    async fn submit<T, F>(
        &self,
        order: Option<String>,
        entries: Vec<Pending>,
        write: F,
    ) -> Result<T, DbErr>
    where
        T: Send + 'static,
        F: Write<T>,
    {
        let slot: Arc<Mutex<Option<T>>> = Arc::new(Mutex::new(None));
        let written = slot.clone();
        let run: Run = Box::new(move |txn| {
            let written = written.clone();
            let pending = write(txn);
            Box::pin(async move {
                let value = pending.await?;
                *written.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
                Ok(())
            })
        });
        let (tx, rx) = oneshot::channel();
        let done = Box::new(move |result: Result<(), DbErr>| {
            let value = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            let _ = tx.send(result.and_then(|()| value.ok_or_else(stopped)));
        });
        self.jobs
            .send(Job {
                run,
                done,
                order,
                entries,
            })
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

async fn writer(
    db: DatabaseConnection,
    mut rx: mpsc::Receiver<Job>,
    lock: Option<WriteLock>,
    flush: Flush,
    audit: Option<AuditLog>,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let _turn = match &lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        order_batch(&mut jobs);
        match run_batch(&db, &jobs, flush, audit.as_ref()).await {
            Ok(()) => {
                for job in jobs.drain(..) {
                    (job.done)(Ok(()));
                }
            }
            // The commit itself failed: whether it took effect is unknown, so nothing is run
            // again (a dedupe claim would find its own row, an audit entry would be doubled).
            Err(Failed::Commit(err)) => {
                for job in jobs.drain(..) {
                    (job.done)(Err(DbErr::Custom(format!("commit failed: {err}"))));
                }
            }
            Err(Failed::Begin(err)) => fail_all(&mut jobs, &err),
            Err(Failed::Write(err)) if jobs.len() == 1 => {
                if let Some(job) = jobs.pop() {
                    (job.done)(Err(err));
                }
            }
            Err(Failed::Write(_)) => {
                let mut pending = jobs.drain(..);
                while let Some(job) = pending.next() {
                    match run_batch(&db, std::slice::from_ref(&job), flush, audit.as_ref()).await {
                        Err(Failed::Begin(err)) => {
                            (job.done)(Err(DbErr::Custom(err.to_string())));
                            let mut rest: Vec<Job> = pending.by_ref().collect();
                            fail_all(&mut rest, &err);
                        }
                        result => (job.done)(result.map_err(Failed::into_inner)),
                    }
                }
            }
        }
    }
}

/// Sorts a batch whose writes all carry an order; any other batch keeps the order of arrival
/// (an audit entry must follow what was recorded before it).
fn order_batch(jobs: &mut [Job]) {
    if jobs.iter().all(|job| job.order.is_some()) {
        jobs.sort_by(|a, b| a.order.cmp(&b.order));
    }
}

fn fail_all(jobs: &mut Vec<Job>, err: &DbErr) {
    for job in jobs.drain(..) {
        (job.done)(Err(DbErr::Custom(err.to_string())));
    }
}

enum Failed {
    /// No transaction could be begun: nothing about the writes themselves.
    Begin(DbErr),
    Write(DbErr),
    Commit(DbErr),
}

impl Failed {
    fn into_inner(self) -> DbErr {
        match self {
            Failed::Begin(err) | Failed::Write(err) | Failed::Commit(err) => err,
        }
    }
}

async fn run_batch(
    db: &DatabaseConnection,
    jobs: &[Job],
    flush: Flush,
    audit: Option<&AuditLog>,
) -> Result<(), Failed> {
    let txn = crate::audit::begin(db).await.map_err(Failed::Begin)?;
    if flush == Flush::Later && db.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_unprepared("SET LOCAL synchronous_commit = off")
            .await
            .map_err(Failed::Begin)?;
    }
    for job in jobs {
        // On error the transaction is dropped, which rolls it back.
        AssertUnwindSafe((job.run)(&txn))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(DbErr::Custom("a database write panicked".into())))
            .map_err(Failed::Write)?;
    }
    let entries: Vec<&Pending> = jobs.iter().flat_map(|job| &job.entries).collect();
    if !entries.is_empty() {
        let audit = audit.ok_or_else(|| {
            Failed::Write(DbErr::Custom(
                "audit entries given to a writer without an audit log".into(),
            ))
        })?;
        audit
            .append_all(&txn, &entries)
            .await
            .map_err(Failed::Write)?;
    }
    txn.commit().await.map_err(Failed::Commit)
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Statement};

    use super::*;

    async fn db() -> (DatabaseConnection, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display());
        let db = crate::store::connect(&url).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (v INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        (db, dir)
    }

    fn insert(v: i64) -> impl Write<i64> {
        move |txn| {
            Box::pin(async move {
                txn.execute_raw(Statement::from_sql_and_values(
                    txn.get_database_backend(),
                    "INSERT INTO t (v) VALUES (?)",
                    [v.into()],
                ))
                .await?;
                Ok(v)
            })
        }
    }

    async fn rows(db: &DatabaseConnection) -> Vec<i64> {
        db.query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT v FROM t ORDER BY v",
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get::<i64>("", "v").unwrap())
        .collect()
    }

    #[tokio::test]
    async fn a_failing_write_fails_alone_and_the_others_commit() {
        let (db, _dir) = db().await;
        let committer = Committer::start(db.clone());
        // 1 is written twice: the second fails (primary key), the rest of its batch commits.
        let results =
            futures::future::join_all([1, 2, 1, 3, 4].map(|v| committer.write(insert(v)))).await;
        let ok: Vec<i64> = results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .copied()
            .collect();
        assert_eq!(ok, vec![1, 2, 3, 4]);
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
        assert_eq!(rows(&db).await, vec![1, 2, 3, 4]);
    }

    fn boom(_: &DatabaseTransaction) -> BoxFuture<'_, Result<i64, DbErr>> {
        Box::pin(async { panic!("a bug in a write") })
    }

    #[tokio::test]
    async fn a_write_that_panics_fails_alone_and_the_writer_carries_on() {
        let (db, _dir) = db().await;
        let committer = Committer::start(db.clone());
        let (one, panicked, two) = futures::future::join3(
            committer.write(insert(1)),
            committer.write(boom),
            committer.write(insert(2)),
        )
        .await;
        assert_eq!((one.unwrap(), two.unwrap()), (1, 2));
        assert!(panicked.is_err());
        assert_eq!(committer.write(insert(3)).await.unwrap(), 3);
        assert_eq!(rows(&db).await, vec![1, 2, 3]);
    }

    fn job(order: Option<&str>) -> Job {
        Job {
            run: Box::new(|_| Box::pin(async { Ok(()) })),
            done: Box::new(|_| {}),
            order: order.map(str::to_string),
            entries: Vec::new(),
        }
    }

    fn orders(jobs: &[Job]) -> Vec<Option<&str>> {
        jobs.iter().map(|j| j.order.as_deref()).collect()
    }

    #[test]
    fn a_batch_of_ordered_writes_is_sorted_and_any_other_keeps_its_order() {
        let mut claims = vec![job(Some("1:b")), job(Some("1:a")), job(Some("1:c"))];
        order_batch(&mut claims);
        assert_eq!(orders(&claims), [Some("1:a"), Some("1:b"), Some("1:c")]);
        let mut mixed = vec![job(Some("1:b")), job(None), job(Some("1:a"))];
        order_batch(&mut mixed);
        assert_eq!(orders(&mixed), [Some("1:b"), None, Some("1:a")]);
    }

    #[tokio::test]
    async fn many_concurrent_writes_all_land() {
        let (db, _dir) = db().await;
        let committer = Committer::start(db.clone());
        let results = futures::future::join_all((0..500).map(|v| committer.write(insert(v)))).await;
        assert!(results.iter().all(|r| r.is_ok()));
        assert_eq!(rows(&db).await, (0..500).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_serialized_writer_waits_for_its_turn() {
        let (db, _dir) = db().await;
        let lock = WriteLock::default();
        let committer = Committer::start_with(db.clone(), Some(lock.clone()), Flush::Each, None);
        let turn = lock.lock().await;
        let pending = tokio::spawn({
            let committer = committer.clone();
            async move { committer.write(insert(1)).await }
        });
        // Held elsewhere: nothing is written meanwhile.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(!pending.is_finished());
        assert!(rows(&db).await.is_empty());
        drop(turn);
        assert_eq!(pending.await.unwrap().unwrap(), 1);
        assert_eq!(rows(&db).await, vec![1]);
    }
}
