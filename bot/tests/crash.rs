//! Crash safety with a real process: `kill -9` during a burst, then a restart. The fake Bot API
//! never hands out an update again once a higher offset confirmed it, as Telegram does, so an
//! update confirmed before its answer was durable would go unanswered. After the restart every
//! question is answered (by the assistant, or with an apology when its answer was lost with the
//! process) and every agreement acknowledged; at most the one reply each chat had in flight at
//! the kill is sent twice; no accepted consent event or audit entry is lost, the chain verifies,
//! and polling resumes where it stopped. SQLite by default, PostgreSQL when `TEST_DATABASE_URL`
//! is set.

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
async fn kill_9_during_a_burst_loses_no_answer_and_no_decision() {
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
        // Work the killed process left is taken over 5 s after it began, not a minute.
        ("CONSENTGATE_TAKEOVER_SECS", "5".into()),
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
                1 => updates::button(
                    u,
                    id,
                    &consentgate::pipeline::buttons::for_person(
                        &HmacKey::parse("PSEUDONYM_KEY", &keys.pseudonym).unwrap(),
                        "telegram",
                        consentgate_adapters::ChannelKind::Telegram,
                        &id.to_string(),
                        "c:req:y:1",
                    ),
                ),
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

    let questions: Vec<i64> = (0..PEOPLE).flat_map(|p| [p * 4 + 3, p * 4 + 4]).collect();
    let mut second = spawn(&env);
    let drained = wait_for(Duration::from_secs(90), || {
        let pending = tg.pending();
        async move { (pending == 0).then_some(()) }
    })
    .await;
    // Until every question has its answer (bounded: unanswered ones fail below).
    let _ = wait_for(Duration::from_secs(60), || {
        let answered = quoted(&tg);
        let all = questions.iter().all(|q| answered.contains_key(q));
        async move { all.then_some(()) }
    })
    .await;
    // Let any duplicate show itself.
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

    // Every question answered; twice at most for one reply per chat (the one being sent at
    // the kill, before its outbox row could go).
    let answers = quoted(&tg);
    let unanswered: Vec<_> = questions
        .iter()
        .filter(|q| !answers.contains_key(q))
        .collect();
    assert!(
        unanswered.is_empty(),
        "{} of {} questions never answered: {unanswered:?}",
        unanswered.len(),
        questions.len()
    );
    assert!(answers.values().all(|n| *n <= 2), "{answers:?}");
    let twice = answers.values().filter(|n| **n == 2).count();
    assert!(twice <= PEOPLE as usize, "{twice} answered twice");
    assert!(answers.keys().all(|id| *id <= total));
    // Every agreement acknowledged: thanked, or (when the kill came between the grant and its
    // reply) told so on the redelivery.
    for p in 0..PEOPLE {
        let texts = tg.sent_texts(5_000_000 + p);
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("Thank you") || t.starts_with("You have already agreed")),
            "person {p} never heard back about agreeing: {texts:?}"
        );
    }

    // Every accepted decision is in the record, once, with its audit entry; the chain verifies.
    let db = store::connect(&db_url).await.unwrap();
    let events = consentgate_entity::consent_events::Entity::find()
        .all(&db)
        .await
        .unwrap();
    // People thanked (a thank-you in flight at the kill may have been sent twice).
    let thanked = tg
        .calls("sendMessage")
        .iter()
        .filter(|r| {
            r.body["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("Thank you"))
        })
        .filter_map(|r| r.body["chat_id"].as_i64())
        .collect::<std::collections::HashSet<_>>()
        .len();
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

/// How many replies quote each message.
fn quoted(tg: &FakeTelegram) -> HashMap<i64, usize> {
    let mut answers: HashMap<i64, usize> = HashMap::new();
    for r in tg.calls("sendMessage") {
        if let Some(id) = r.body["reply_parameters"]["message_id"].as_i64() {
            *answers.entry(id).or_default() += 1;
        }
    }
    answers
}
