//! Audit appends per second, one writer and 16 concurrent writers, on SQLite and (when
//! `TEST_DATABASE_URL` names a PostgreSQL server) on PostgreSQL: `cargo bench --bench audit`.
//! Each run ends with a full `verify` of the chain it wrote.

use std::{sync::Arc, time::Instant};

use consentgate::{
    audit::{Action, AuditLog, verify::verify},
    privacy::keys::{GeneratedKeys, HmacKey},
    store,
};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

const SINGLE: usize = 2_000;
const WRITERS: usize = 16;
const PER_WRITER: usize = 125;

async fn run(label: &str, db: DatabaseConnection) {
    store::migrate_up(&db).await.expect("migrations");
    let key = HmacKey::parse("AUDIT_KEY", &GeneratedKeys::new().audit).unwrap();
    let log = Arc::new(AuditLog::new(key.clone()));
    let detail = serde_json::json!({"purpose": "assistant", "channel": "telegram"});

    let started = Instant::now();
    for _ in 0..SINGLE {
        log.record(&db, Some(1), None, Action::ConsentGiven, detail.clone())
            .await
            .expect("append");
    }
    let single = SINGLE as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|_| {
            let (db, log, detail) = (db.clone(), log.clone(), detail.clone());
            tokio::spawn(async move {
                for _ in 0..PER_WRITER {
                    log.record(&db, Some(1), None, Action::ConsentGiven, detail.clone())
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("writer");
    }
    let concurrent = (WRITERS * PER_WRITER) as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let report = verify(&db, &key, None).await.expect("verify");
    assert!(report.broken.is_none(), "{:?}", report.broken);
    let verified = report.entries as f64 / started.elapsed().as_secs_f64();
    println!(
        "{label:<10} {single:>12.0} {concurrent:>16.0} {verified:>14.0}   ({} entries)",
        report.entries
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!(
        "{:<10} {:>12} {:>16} {:>14}",
        "database", "1 writer/s", "16 writers/s", "verify/s"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/bench.db?mode=rwc", dir.path().display());
    run("sqlite", store::connect(&url).await.expect("sqlite")).await;

    if let Ok(base) = std::env::var("TEST_DATABASE_URL") {
        let name = format!("cg_bench_{}", std::process::id());
        let admin = Database::connect(&base).await.expect("postgres");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        let mut url = url::Url::parse(&base).expect("url");
        url.set_path(&format!("/{name}"));
        run(
            "postgres",
            store::connect(url.as_str()).await.expect("connect"),
        )
        .await;
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    } else {
        println!("(set TEST_DATABASE_URL to a PostgreSQL server to measure it too)");
    }
}
