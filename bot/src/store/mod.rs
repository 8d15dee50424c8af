//! The database: connecting, and applying migrations. The same code serves SQLite and PostgreSQL.

pub mod commit;
pub mod daily;

use std::time::Duration;

use consentgate_migration::{Migrator, MigratorTrait};

use crate::privacy::files;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};

/// How hard SQLite works to keep a commit through a power cut (`synchronous` on the URL, e.g.
/// `sqlite://consentgate.db?mode=rwc&synchronous=normal`). Either way, a commit survives the
/// process being killed, and the database stays consistent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// Every commit is flushed to disk before it counts: nothing committed is lost when the
    /// machine loses power. The default.
    #[default]
    Full,
    /// The log is flushed at checkpoints only: commits are much cheaper, and the last ones
    /// before a power cut or kernel crash can be rolled back (consent records among them).
    Normal,
}

/// Splits our own parameters off a database URL; what is left goes to the driver.
pub fn split_url(url: &str) -> Result<(String, Synchronous), String> {
    let Some((base, query)) = url.split_once('?').filter(|_| url.starts_with("sqlite:")) else {
        return Ok((url.to_string(), Synchronous::default()));
    };
    let mut kept = Vec::new();
    let mut synchronous = Synchronous::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("synchronous", value)) => {
                synchronous = match value.to_ascii_lowercase().as_str() {
                    "full" => Synchronous::Full,
                    "normal" => Synchronous::Normal,
                    _ => {
                        return Err(format!(
                            "synchronous={value} is not known: expected full or normal"
                        ));
                    }
                }
            }
            _ => kept.push(pair),
        }
    }
    let url = match kept.is_empty() {
        true => base.to_string(),
        false => format!("{base}?{}", kept.join("&")),
    };
    Ok((url, synchronous))
}

/// Opens the database named by `url`.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let (url, synchronous) = split_url(url).map_err(DbErr::Custom)?;
    let url = url.as_str();
    let mut options = ConnectOptions::new(url.to_string());
    options
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        private_sqlite_files(url).map_err(|e| DbErr::Custom(format!("the SQLite file: {e}")))?;
        // One writer at a time is SQLite's model (the pipeline's writes share one writer task);
        // readers proceed side by side under WAL. Each connection is a thread with its own page
        // cache, so a few are enough.
        // sqlx pings a connection when it is handed out and again when it is given back: on
        // SQLite each ping is one more round trip to the connection's thread. An embedded
        // connection is not dropped by a server, so it is not pinged when handed out.
        options
            .max_connections(4)
            .min_connections(1)
            .test_before_acquire(false)
            .map_sqlx_sqlite_opts(move |o| {
                // Deleted rows are overwritten, not left in free pages: a purged person is gone
                // from the file, not only from what queries return.
                let o = o.pragma("secure_delete", "on");
                // Asked for by every connection: on a new, empty file WAL is written into the file
                // only with the first write, whichever connection makes it.
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(match synchronous {
                        Synchronous::Full => SqliteSynchronous::Full,
                        Synchronous::Normal => SqliteSynchronous::Normal,
                    })
            });
    } else {
        // A connection in use is not pinged before each use; one idle long enough to have been
        // dropped by the server, a proxy or a firewall is.
        options
            .max_connections(16)
            .test_before_acquire_if_idle_for(Duration::from_secs(30));
    }
    // On SQLite, WAL lets readers proceed during a write. (sqlx also sets busy_timeout and
    // foreign_keys on every connection.)
    Database::connect(options).await
}

/// The file of a `sqlite://PATH?…` URL; `None` for an in-memory database.
fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory =
        path.is_empty() || path == ":memory:" || query.split('&').any(|p| p == "mode=memory");
    (!in_memory).then(|| std::path::PathBuf::from(path))
}

/// The database file and its write-ahead log and index, owner-only: created so when the URL
/// lets SQLite create it (SQLite gives the log files the database file's mode), and narrowed
/// if they are wider.
fn private_sqlite_files(url: &str) -> std::io::Result<()> {
    let Some(path) = sqlite_path(url) else {
        return Ok(());
    };
    if url.contains("mode=rwc") {
        files::create_private(&path)?;
    }
    let name = path.as_os_str().to_owned();
    for suffix in ["", "-wal", "-shm"] {
        let mut file = name.clone();
        file.push(suffix);
        if let Some(was) = files::owner_only(std::path::Path::new(&file))? {
            tracing::warn!(
                file = %std::path::Path::new(&file).display(),
                was = format!("{was:o}"),
                "a database file was readable by others; it is owner-only now"
            );
        }
    }
    Ok(())
}

/// For a SQLite database, a second handle on the same file (one connection) whose commits are
/// not flushed to disk on their own (`synchronous=normal`). Meant for writes whose loss in a
/// power cut costs nothing as long as every write acted upon outside the database is committed
/// in full afterwards: SQLite's log is written in commit order, so flushing a later commit
/// flushes these too. (A process being killed loses neither.) `None` for other databases, and
/// for a SQLite database not in WAL mode (in memory, or where the file system refused WAL),
/// where that ordering does not hold.
pub async fn unflushed_sqlite_writer(db: &DatabaseConnection) -> Option<DatabaseConnection> {
    if db.get_database_backend() != sea_orm::DatabaseBackend::Sqlite {
        return None;
    }
    let mode = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Sqlite,
            "PRAGMA journal_mode",
        ))
        .await
        .ok()
        .flatten()
        .and_then(|row| row.try_get_by_index::<String>(0).ok());
    if !mode.is_some_and(|m| m.eq_ignore_ascii_case("wal")) {
        return None;
    }
    // Its writes touch one table, mostly near the newest keys: a small page cache will do.
    let options = (*db.get_sqlite_connection_pool().connect_options())
        .clone()
        .synchronous(SqliteSynchronous::Normal)
        .pragma("cache_size", "-512");
    let pool = sea_orm::sqlx::pool::PoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy_with(options);
    Some(sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
}

/// Applies every pending migration.
pub async fn migrate_up(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Whether every known migration has been applied (for `/readyz`).
pub async fn migrations_applied(db: &DatabaseConnection) -> Result<bool, DbErr> {
    Ok(Migrator::get_pending_migrations(db).await?.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synchronous_is_ours_and_leaves_the_rest_of_the_url_to_the_driver() {
        assert_eq!(
            split_url("sqlite://a.db?mode=rwc").unwrap(),
            ("sqlite://a.db?mode=rwc".into(), Synchronous::Full)
        );
        assert_eq!(
            split_url("sqlite://a.db?mode=rwc&synchronous=NORMAL").unwrap(),
            ("sqlite://a.db?mode=rwc".into(), Synchronous::Normal)
        );
        assert_eq!(
            split_url("sqlite://a.db?synchronous=full").unwrap(),
            ("sqlite://a.db".into(), Synchronous::Full)
        );
        assert!(
            split_url("sqlite://a.db?synchronous=off")
                .unwrap_err()
                .contains("expected full or normal")
        );
        // Not ours to read on PostgreSQL: passed through as given.
        let pg = "postgres://u@h/db?synchronous=normal";
        assert_eq!(split_url(pg).unwrap().0, pg);
    }

    #[tokio::test]
    async fn the_setting_reaches_every_connection() {
        let dir = tempfile::tempdir().unwrap();
        for (param, expected) in [("", 2), ("&synchronous=normal", 1)] {
            let url = format!(
                "sqlite://{}?mode=rwc{param}",
                dir.path().join(format!("s{expected}.db")).display()
            );
            let db = connect(&url).await.unwrap();
            // Several at once, so more than one pooled connection answers.
            let values = futures::future::join_all((0..4).map(|_| {
                db.query_one_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    "PRAGMA synchronous",
                ))
            }))
            .await;
            for row in values {
                let v: i32 = row.unwrap().unwrap().try_get_by_index(0).unwrap();
                assert_eq!(v, expected, "{url}");
            }
        }
    }

    #[tokio::test]
    async fn the_unflushed_writer_shares_the_file_but_not_the_flush() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("u.db").display());
        let db = connect(&url).await.unwrap();
        // A new, empty file: WAL all the same, because every connection asks for it.
        let unflushed = unflushed_sqlite_writer(&db).await.unwrap();
        db.execute_unprepared("CREATE TABLE seen (v INTEGER)")
            .await
            .unwrap();
        async fn one(db: &DatabaseConnection, sql: &str) -> i32 {
            let statement = sea_orm::Statement::from_string(db.get_database_backend(), sql);
            let row = db.query_one_raw(statement).await.unwrap().unwrap();
            row.try_get_by_index(0).unwrap()
        }
        assert_eq!(one(&db, "PRAGMA synchronous").await, 2);
        assert_eq!(one(&unflushed, "PRAGMA synchronous").await, 1);
        assert_eq!(one(&unflushed, "PRAGMA cache_size").await, -512);
        // The same database, with the driver's other settings (foreign keys among them).
        assert_eq!(one(&unflushed, "PRAGMA foreign_keys").await, 1);
        unflushed
            .execute_unprepared("INSERT INTO seen VALUES (7)")
            .await
            .unwrap();
        assert_eq!(one(&db, "SELECT v FROM seen").await, 7);
        // Not for PostgreSQL or anything else.
        let pg = sea_orm::sqlx::PgPool::connect_lazy("postgres://127.0.0.1:9/none").unwrap();
        let pg = sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(pg);
        assert!(unflushed_sqlite_writer(&pg).await.is_none());
        // Nor without WAL, whose log order the argument rests on.
        let memory = connect("sqlite::memory:").await.unwrap();
        assert!(unflushed_sqlite_writer(&memory).await.is_none());
    }
}
