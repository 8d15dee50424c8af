//! A database of a test's own: a fresh PostgreSQL database on the server named by
//! `TEST_DATABASE_URL`, or a SQLite file in a temporary directory.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
};

use sea_orm::{ConnectionTrait, Database};

/// A database of this test's own.
pub struct TestDb {
    pub url: String,
    pub sqlite_file: Option<PathBuf>,
    dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub async fn new() -> TestDb {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = tempfile::tempdir().unwrap();
        match std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|v| !v.is_empty())
        {
            Some(base) => {
                let name = format!(
                    "cg_test_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .subsec_nanos()
                );
                let admin = Database::connect(&base)
                    .await
                    .expect("TEST_DATABASE_URL reachable");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap();
                let _ = admin.close().await;
                let mut url = url::Url::parse(&base).unwrap();
                url.set_path(&format!("/{name}"));
                TestDb {
                    url: url.to_string(),
                    sqlite_file: None,
                    dir,
                    postgres: Some((base, name)),
                }
            }
            None => {
                let file = dir.path().join("consentgate.db");
                TestDb {
                    url: format!("sqlite://{}?mode=rwc", file.display()),
                    sqlite_file: Some(file),
                    dir,
                    postgres: None,
                }
            }
        }
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Drops a PostgreSQL test database (SQLite files go with the temp dir).
    pub async fn drop_db(&self) {
        if let Some((base, name)) = &self.postgres
            && let Ok(admin) = Database::connect(base).await
        {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
            let _ = admin.close().await;
        }
    }
}
