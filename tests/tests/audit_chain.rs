//! The audit log is one hash chain: it verifies when intact, names the entry when edited,
//! deleted, reordered or cut short, and stays one chain under concurrent writers. Runs on SQLite,
//! and on PostgreSQL when TEST_DATABASE_URL is set.

mod common;

use std::sync::Arc;

use chrono::SubsecRound;
use common::*;
use consentgate::{
    audit::{
        Action, AuditLog, Pending,
        verify::{Checkpoint, verify},
    },
    privacy::keys::{GeneratedKeys, HmacKey},
    store,
    store::commit::{Committer, Flush},
};
use consentgate_entity::{audit_head, audit_log};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, Set,
};

async fn chain(entries: usize) -> (TestDb, DatabaseConnection, AuditLog, HmacKey) {
    let test_db = TestDb::new().await;
    let db = store::connect(&test_db.url).await.unwrap();
    store::migrate_up(&db).await.unwrap();
    let key = HmacKey::parse("AUDIT_KEY", &GeneratedKeys::new().audit).unwrap();
    let log = AuditLog::new(key.clone());
    for i in 0..entries {
        log.record(
            &db,
            Some(1),
            None,
            Action::MessageHeld,
            serde_json::json!({ "n": i }),
        )
        .await
        .unwrap();
    }
    (test_db, db, log, key)
}

async fn row(db: &DatabaseConnection, seq: i64) -> audit_log::Model {
    audit_log::Entity::find()
        .filter(audit_log::Column::Seq.eq(seq))
        .one(db)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_conversation_leaves_a_chain_that_verifies() {
    let h = Harness::start(Options {
        telegram: true,
        ..Default::default()
    })
    .await;
    agreed(&h, IVAN, false).await;
    h.telegram.push_update(text_update(3, IVAN, "question"));
    h.wait_sent(IVAN.id, 3).await;
    h.telegram.push_update(text_update(4, IVAN, "/revoke"));
    h.wait_sent(IVAN.id, 4).await;

    let key = HmacKey::parse("AUDIT_KEY", &h.keys.audit).unwrap();
    let report = verify(h.db(), &key, None).await.unwrap();
    assert_eq!(report.broken, None);
    // held, consent.given, message.forwarded, command, consent.withdrawn
    assert!(report.entries >= 5, "{report:?}");
    let last = row(h.db(), report.entries as i64).await;
    assert_eq!(report.head.unwrap().hash, last.hash.unwrap());
    // A different key does not verify it: the chain is keyed.
    let other = HmacKey::parse("AUDIT_KEY", &GeneratedKeys::new().audit).unwrap();
    let report = verify(h.db(), &other, None).await.unwrap();
    assert_eq!(report.broken.unwrap().seq, 1);
    h.finish().await;
}

#[tokio::test]
async fn an_edited_entry_is_named() {
    let (t, db, _, key) = chain(5).await;
    let mut edited = row(&db, 3).await.into_active_model();
    edited.detail = Set(r#"{"n":99}"#.into());
    edited.update(&db).await.unwrap();
    let broken = verify(&db, &key, None).await.unwrap().broken.unwrap();
    assert_eq!(broken.seq, 3);
    assert!(
        broken.reason.contains("does not match its content"),
        "{broken:?}"
    );
    t.drop_db().await;
}

#[tokio::test]
async fn a_deleted_entry_is_named() {
    let (t, db, _, key) = chain(5).await;
    audit_log::Entity::delete_many()
        .filter(audit_log::Column::Seq.eq(3))
        .exec(&db)
        .await
        .unwrap();
    let broken = verify(&db, &key, None).await.unwrap().broken.unwrap();
    assert_eq!(broken.seq, 3);
    assert!(broken.reason.contains("missing"), "{broken:?}");
    t.drop_db().await;
}

#[tokio::test]
async fn reordered_entries_are_named() {
    let (t, db, _, key) = chain(5).await;
    // Swap the positions of entries 2 and 3.
    let (two, three) = (row(&db, 2).await, row(&db, 3).await);
    for (model, seq) in [(two.clone(), -2), (three.clone(), 2), (two, 3)] {
        let mut active = model.into_active_model();
        active.seq = Set(Some(seq));
        active.update(&db).await.unwrap();
    }
    let broken = verify(&db, &key, None).await.unwrap().broken.unwrap();
    assert_eq!(broken.seq, 2);
    t.drop_db().await;
}

#[tokio::test]
async fn a_cut_tail_is_caught_by_the_head_and_by_a_checkpoint() {
    let (t, db, _, key) = chain(5).await;
    let checkpoint: Checkpoint = verify(&db, &key, None).await.unwrap().head.unwrap();
    assert_eq!(checkpoint.seq, 5);

    // Cut the last entry: the stored head still names it.
    audit_log::Entity::delete_many()
        .filter(audit_log::Column::Seq.eq(5))
        .exec(&db)
        .await
        .unwrap();
    let broken = verify(&db, &key, None).await.unwrap().broken.unwrap();
    assert!(broken.reason.contains("removed from the end"), "{broken:?}");

    // Someone with database access also rewinds the head: only the checkpoint kept outside the
    // database still shows the cut.
    let four = row(&db, 4).await;
    audit_head::ActiveModel {
        id: Set(1),
        seq: Set(4),
        hash: Set(four.hash.unwrap()),
        ..Default::default()
    }
    .update(&db)
    .await
    .unwrap();
    assert_eq!(verify(&db, &key, None).await.unwrap().broken, None);
    let broken = verify(&db, &key, Some(&checkpoint))
        .await
        .unwrap()
        .broken
        .unwrap();
    assert_eq!(broken.seq, 5);
    assert!(broken.reason.contains("tail was cut"), "{broken:?}");
    t.drop_db().await;
}

#[tokio::test]
async fn a_head_time_that_is_not_the_previous_entrys_is_not_trusted() {
    // An older replica (during a rolling upgrade) moves the head without its time: the time
    // left there belongs to an earlier entry and must not date the next one.
    let (t, db, log, _) = chain(3).await;
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).trunc_subsecs(3);
    // Dates the head `tomorrow`, as if entry `of` had been written then, and appends.
    let append_after = |of: i64| {
        let (db, log) = (db.clone(), &log);
        async move {
            audit_head::ActiveModel {
                id: Set(1),
                at: Set(Some(tomorrow)),
                at_seq: Set(Some(of)),
                ..Default::default()
            }
            .update(&db)
            .await
            .unwrap();
            log.record(
                &db,
                Some(1),
                None,
                Action::MessageHeld,
                serde_json::json!({}),
            )
            .await
            .unwrap();
        }
    };
    append_after(1).await;
    assert!(row(&db, 4).await.at < tomorrow - chrono::Duration::hours(1));
    // While it is the previous entry's, it is used (and time never goes back).
    append_after(4).await;
    assert_eq!(row(&db, 5).await.at, tomorrow);
    t.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_keep_one_chain() {
    let (t, db, log, key) = chain(0).await;
    // On PostgreSQL, under a server whose default isolation would make waiting writers fail.
    let db = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => {
            db.execute_unprepared(
                "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_isolation \
                 TO %L', current_database(), 'serializable'); END $$",
            )
            .await
            .unwrap();
            let _ = db.close().await;
            store::connect(&t.url).await.unwrap()
        }
        _ => db,
    };
    let log = Arc::new(log);
    let tasks: Vec<_> = (0..16)
        .map(|w| {
            let (db, log) = (db.clone(), log.clone());
            tokio::spawn(async move {
                for i in 0..25 {
                    log.record(
                        &db,
                        None,
                        None,
                        Action::MessageHeld,
                        serde_json::json!({ "writer": w, "n": i }),
                    )
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let report = verify(&db, &key, None).await.unwrap();
    assert_eq!(report.broken, None);
    assert_eq!(report.entries, 400);
    assert_eq!(report.head.unwrap().seq, 400);
    t.drop_db().await;
}

/// Entries given with group-committed writes are chained at the end of each batch, three
/// statements per batch: alongside an appender of its own, they still make one chain, in the
/// order each caller gave them, and a write that fails takes only its own entry with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commits_chain_their_entries_together() {
    let (t, db, log, key) = chain(0).await;
    let committer = Committer::start_with(db.clone(), None, Flush::Each, Some(log.clone()));
    let entry = |who: &str, n: usize| Pending {
        bot_id: Some(1),
        subject: None,
        action: Action::MessageForwarded,
        detail: serde_json::json!({ "who": who, "n": n }),
    };
    // Eight callers of the committer, each giving 25 entries one after another, and one
    // appender outside it.
    let callers: Vec<_> = (0..8)
        .map(|c| {
            let committer = committer.clone();
            tokio::spawn(async move {
                for n in 0..25 {
                    let who = format!("caller{c}");
                    // Every fifth write of caller 0 fails: its entry must not land.
                    let fails = c == 0 && n % 5 == 0;
                    let result = committer
                        .write_recorded(entry(&who, n), move |_| {
                            Box::pin(async move {
                                match fails {
                                    true => Err(sea_orm::DbErr::Custom("refused".into())),
                                    false => Ok(()),
                                }
                            })
                        })
                        .await;
                    assert_eq!(result.is_err(), fails);
                }
            })
        })
        .collect();
    let alone = {
        let (db, log) = (db.clone(), log.clone());
        tokio::spawn(async move {
            for n in 0..25 {
                log.record(
                    &db,
                    None,
                    None,
                    Action::MessageHeld,
                    serde_json::json!({ "n": n }),
                )
                .await
                .unwrap();
            }
        })
    };
    for task in callers.into_iter().chain([alone]) {
        task.await.unwrap();
    }
    let report = verify(&db, &key, None).await.unwrap();
    assert_eq!(report.broken, None);
    assert_eq!(report.entries, 8 * 25 - 5 + 25);
    assert_eq!(report.head.unwrap().seq, 8 * 25 - 5 + 25);
    let rows = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq(Action::MessageForwarded.as_str()))
        .order_by_asc(audit_log::Column::Seq)
        .all(&db)
        .await
        .unwrap();
    for c in 0..8 {
        let who = format!("caller{c}");
        let given: Vec<u64> = rows
            .iter()
            .map(|r| serde_json::from_str::<serde_json::Value>(&r.detail).unwrap())
            .filter(|d| d["who"] == who.as_str())
            .map(|d| d["n"].as_u64().unwrap())
            .collect();
        let expected: Vec<u64> = (0..25)
            .filter(|n| c != 0 || n % 5 != 0)
            .map(|n| n as u64)
            .collect();
        assert_eq!(given, expected, "{who}");
    }
    // Time follows the sequence across batches and single appends.
    assert!(rows.windows(2).all(|w| w[0].at <= w[1].at));
    t.drop_db().await;
}

#[tokio::test]
async fn entries_given_to_a_writer_without_an_audit_log_fail_the_write() {
    let (t, db, _log, key) = chain(1).await;
    let committer = Committer::start(db.clone());
    let pending = Pending {
        bot_id: None,
        subject: None,
        action: Action::MessageHeld,
        detail: serde_json::json!({}),
    };
    let result = committer
        .write_recorded(pending, |_| Box::pin(async { Ok(()) }))
        .await;
    assert!(result.is_err());
    assert_eq!(verify(&db, &key, None).await.unwrap().entries, 1);
    t.drop_db().await;
}

#[tokio::test]
async fn a_deleted_head_or_a_row_slipped_in_outside_the_chain_is_caught() {
    let (t, db, _, key) = chain(3).await;
    // A row inserted later without chain fields (or a chained row stripped of them).
    let mut stripped = row(&db, 3).await.into_active_model();
    stripped.seq = Set(None);
    stripped.prev_hash = Set(None);
    stripped.hash = Set(None);
    stripped.update(&db).await.unwrap();
    let two = row(&db, 2).await;
    audit_head::ActiveModel {
        id: Set(1),
        seq: Set(2),
        hash: Set(two.hash.unwrap()),
        ..Default::default()
    }
    .update(&db)
    .await
    .unwrap();
    let broken = verify(&db, &key, None).await.unwrap().broken.unwrap();
    assert!(broken.reason.contains("outside the chain"), "{broken:?}");

    // Without its head record the chain does not verify either.
    audit_head::Entity::delete_many().exec(&db).await.unwrap();
    let broken = verify(&db, &key, None).await.unwrap().broken.unwrap();
    assert!(
        broken.reason.contains("head record is missing"),
        "{broken:?}"
    );
    t.drop_db().await;
}

#[tokio::test]
async fn retention_pruning_leaves_an_anchor_from_which_the_chain_verifies() {
    let (test_db, db, log, key) = chain(5).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let cutoff = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    for i in 0..5 {
        log.record(
            &db,
            None,
            None,
            Action::MessageHeld,
            serde_json::json!({ "n": i }),
        )
        .await
        .unwrap();
    }
    let old_checkpoint = Checkpoint {
        seq: 3,
        hash: row(&db, 3).await.hash.unwrap(),
    };
    assert_eq!(log.prune(&db, cutoff, true).await.unwrap(), 5, "dry run");
    assert_eq!(verify(&db, &key, None).await.unwrap().entries, 10);
    assert_eq!(log.prune(&db, cutoff, false).await.unwrap(), 5);
    let anchor = row(&db, 11).await;
    assert_eq!(anchor.action, "audit.anchor");
    assert!(anchor.detail.contains("\"pruned_through_seq\":5"));
    let report = verify(&db, &key, None).await.unwrap();
    assert_eq!(report.broken, None, "{report:?}");
    assert_eq!(report.entries, 6);
    // A checkpoint from before the pruning is older than the chain now kept: still fine.
    let report = verify(&db, &key, Some(&old_checkpoint)).await.unwrap();
    assert_eq!(report.broken, None);

    // Removing more from the start is not covered by any anchor.
    audit_log::Entity::delete_many()
        .filter(audit_log::Column::Seq.eq(6))
        .exec(&db)
        .await
        .unwrap();
    let broken = verify(&db, &key, None).await.unwrap().broken.unwrap();
    assert_eq!(broken.seq, 6, "{broken:?}");
    assert!(broken.reason.contains("no anchor"), "{broken:?}");
    test_db.drop_db().await;
}

#[tokio::test]
async fn a_forged_anchor_is_caught() {
    let (test_db, db, log, key) = chain(4).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let cutoff = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    log.record(&db, None, None, Action::MessageHeld, serde_json::json!({}))
        .await
        .unwrap();
    log.prune(&db, cutoff, false).await.unwrap();
    // Someone deletes entry 5 and rewrites the anchor to say it was pruned too.
    audit_log::Entity::delete_many()
        .filter(audit_log::Column::Seq.eq(5))
        .exec(&db)
        .await
        .unwrap();
    let mut anchor = row(&db, 6).await.into_active_model();
    let detail = anchor
        .detail
        .clone()
        .unwrap()
        .replace("\"pruned_through_seq\":4", "\"pruned_through_seq\":5");
    anchor.detail = Set(detail);
    anchor.update(&db).await.unwrap();
    let broken = verify(&db, &key, None).await.unwrap().broken.unwrap();
    assert_eq!(broken.seq, 6, "{broken:?}");
    test_db.drop_db().await;
}

#[tokio::test]
async fn pruning_refuses_entries_whose_time_was_moved_back() {
    let (test_db, db, log, key) = chain(6).await;
    // Someone without AUDIT_KEY backdates entries 1-4 to get entry 4 pruned.
    for seq in 1..=4 {
        let mut r = row(&db, seq).await.into_active_model();
        r.at = Set(chrono::Utc::now() - chrono::Duration::days(400));
        r.update(&db).await.unwrap();
    }
    let err = log
        .prune(&db, chrono::Utc::now() - chrono::Duration::days(365), false)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("does not verify at entry 1"),
        "{err}"
    );
    // Nothing was deleted, and verify names the edit.
    assert_eq!(audit_log::Entity::find().all(&db).await.unwrap().len(), 6);
    assert_eq!(
        verify(&db, &key, None).await.unwrap().broken.unwrap().seq,
        1
    );
    test_db.drop_db().await;
}
