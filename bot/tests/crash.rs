//! Crash safety with a real process: `kill -9` during a burst, then a restart. No accepted
//! consent event or audit entry is lost, the chain verifies, no message is answered twice, and
//! polling resumes where it stopped (every update is confirmed in the end). SQLite by default,
//! PostgreSQL when `TEST_DATABASE_URL` is set.

use std::{
    collections::HashMap,
    process::{Child, Command, Stdio},
    time::Duration,
};

use consentgate::{
    audit::verify::verify, privacy::keys::GeneratedKeys, privacy::keys::HmacKey, store,
};
use consentgate_e2e::{FakeLlm, FakeTelegram, TestDb, updates, wait_for};
use sea_orm::EntityTrait;

const PEOPLE: i64 = 40;
const TOKEN: &str = "777:CRASH-test-token";

fn spawn(env: &HashMap<&str, String>) -> Child {
    Command::new(env!("CARGO_BIN_EXE_consentgate"))
        .arg("serve")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the consentgate binary")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_burst_loses_no_decision_and_answers_nothing_twice() {
    let tg = FakeTelegram::start().await;
    let llm = FakeLlm::start().await;
    let test_db = TestDb::new().await;
    let db_url = test_db.url.clone();
    let keys = GeneratedKeys::new();
    let env: HashMap<&str, String> = HashMap::from([
        ("CONSENTGATE_DATABASE_URL", db_url.clone()),
        ("CONSENTGATE_HTTP_ADDR", "127.0.0.1:0".into()),
        ("CONSENTGATE_MODE", "production".into()),
        ("FERNET_KEYS", keys.fernet.clone()),
        ("PSEUDONYM_KEY", keys.pseudonym.clone()),
        ("AUDIT_KEY", keys.audit.clone()),
        ("TELEGRAM_BOT_TOKEN", TOKEN.into()),
        ("TELEGRAM_API_URL", tg.url.clone()),
        ("LLM_BASE_URL", llm.base_url.clone()),
        ("LLM_MODEL", "fake".into()),
        ("CONSENTGATE_MESSAGES_PER_MINUTE", "600".into()),
    ]);
    // The burst: everyone says hi, agrees, and asks two questions.
    let mut update_id = 0;
    for p in 0..PEOPLE {
        let id = 5_000_000 + p;
        for kind in 0..4 {
            update_id += 1;
            let u = update_id;
            let update = match kind {
                0 => updates::text(u, id, "hi"),
                1 => updates::button(u, id, "c:req:y:1"),
                _ => updates::text(u, id, &format!("question {kind}")),
            };
            tg.push_update(update);
        }
    }
    let total = update_id;

    let mut first = spawn(&env);
    // Killed once part of the burst has been answered.
    let partway = wait_for(Duration::from_secs(60), || {
        let n = tg.calls("sendMessage").len();
        async move { (n >= 30).then_some(n) }
    })
    .await;
    first.kill().expect("SIGKILL");
    first.wait().unwrap();
    assert!(partway.is_some(), "nothing was answered before the kill");
    let answered_before = tg.calls("sendMessage").len();
    assert!(
        tg.pending() > 0,
        "the burst was over before the kill; nothing was tested"
    );

    let mut second = spawn(&env);
    let drained = wait_for(Duration::from_secs(90), || {
        let pending = tg.pending();
        async move { (pending == 0).then_some(()) }
    })
    .await;
    // Let the last replies go out.
    tokio::time::sleep(Duration::from_secs(2)).await;
    second.kill().unwrap();
    second.wait().unwrap();
    assert!(
        drained.is_some(),
        "{} updates never confirmed",
        tg.pending()
    );
    assert!(
        tg.calls("sendMessage").len() > answered_before,
        "nothing after the restart"
    );

    // No message answered twice: each question has at most one answer quoting it.
    let mut answers: HashMap<i64, usize> = HashMap::new();
    for r in tg.calls("sendMessage") {
        if let Some(id) = r.body["reply_parameters"]["message_id"].as_i64() {
            *answers.entry(id).or_default() += 1;
        }
    }
    assert!(answers.values().all(|n| *n == 1), "{answers:?}");
    assert!(answers.keys().all(|id| *id <= total));

    // Every accepted decision is in the record, once, with its audit entry; the chain verifies.
    let db = store::connect(&db_url).await.unwrap();
    let events = consentgate_entity::consent_events::Entity::find()
        .all(&db)
        .await
        .unwrap();
    let thanked = tg
        .calls("sendMessage")
        .iter()
        .filter(|r| {
            r.body["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("Thank you"))
        })
        .count();
    assert!(events.len() >= thanked, "a confirmed grant is missing");
    let mut per_person: HashMap<i64, usize> = HashMap::new();
    for e in &events {
        *per_person.entry(e.subject_id).or_default() += 1;
    }
    assert!(
        per_person.values().all(|n| *n == 1),
        "a grant was recorded twice"
    );
    let audit = consentgate_entity::audit_log::Entity::find()
        .all(&db)
        .await
        .unwrap();
    let granted_entries = audit.iter().filter(|a| a.action == "consent.given").count();
    assert_eq!(
        granted_entries,
        events.len(),
        "consent events and audit entries disagree"
    );
    let key = HmacKey::parse("AUDIT_KEY", &keys.audit).unwrap();
    let report = verify(&db, &key, None).await.unwrap();
    assert_eq!(report.broken, None, "{report:?}");
    // Polling resumed at the right offset: the last getUpdates confirmed everything.
    let last_offset = tg
        .calls("getUpdates")
        .iter()
        .filter_map(|r| r.body["offset"].as_i64())
        .max()
        .unwrap();
    assert_eq!(last_offset, total + 1);
    let _ = db.close().await;
    test_db.drop_db().await;
}
