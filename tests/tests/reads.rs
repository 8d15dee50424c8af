//! What the pipeline reads for every message: the person and, in the same statement, their
//! consent events on the bot and the number of the policy version in effect, which decides
//! whether the version the gateway already holds will do. Runs on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set.

use std::collections::HashMap;

use chrono::{Duration, Utc};
use consentgate::{
    config::Mode,
    consent::{self, Draft, Purpose},
    privacy::identity,
    privacy::keys::Keys,
    store,
};
use consentgate_adapters::{ChannelKind, PlatformId};
use consentgate_e2e::TestDb;
use consentgate_entity::{bots, consent_events};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbBackend, Set};

fn draft(text: &str, effective: chrono::DateTime<Utc>) -> Draft {
    Draft {
        label: text.into(),
        text: text.into(),
        summary: "test".into(),
        effective_at: effective,
        purposes: vec![Purpose {
            name: consent::PURPOSE_ASSISTANT.into(),
            title: "Answers".into(),
            text: text.into(),
            text_sha256: consentgate::privacy::digest::sha256_hex(text),
            required: true,
        }],
        system_prompt: None,
    }
}

#[tokio::test]
async fn the_choices_and_the_version_in_effect_are_read_with_the_person() {
    let t = TestDb::new().await;
    let db = store::connect(&t.url).await.unwrap();
    store::migrate_up(&db).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env: HashMap<String, String> = HashMap::new();
    let (keys, _) = Keys::load(Mode::Dev, &dir.path().join("secrets"), &env).unwrap();
    let add_bot = |name: &'static str| {
        bots::ActiveModel {
            name: Set(name.into()),
            channel: Set("telegram".into()),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&db)
    };
    let bot = add_bot("reads").await.unwrap();
    let other_bot = add_bot("other").await.unwrap();
    let (ivan, chat) = (PlatformId::new("4242"), PlatformId::new("4242"));
    let read = |at: chrono::DateTime<Utc>| {
        identity::find_with(
            &db,
            &keys,
            bot.id,
            ChannelKind::Telegram,
            &ivan,
            consent::version_in_effect(bot.id, at),
        )
    };
    let now = Utc::now();

    // Nobody known yet: nothing comes back, not even the version.
    assert!(read(now).await.unwrap().is_none());

    let (subject, _) = identity::identify(
        &db,
        &keys,
        (bot.id, ChannelKind::Telegram, "telegram"),
        (&ivan, None),
        &chat,
    )
    .await
    .unwrap();
    let found = read(now).await.unwrap().expect("known");
    assert_eq!(found.subject.id, subject.id);
    assert_eq!(found.extra, None, "no version is in effect yet");
    assert!(found.consent_events.is_empty());

    let first = consent::publish(&db, bot.id, &draft("first", now - Duration::minutes(1)))
        .await
        .unwrap();
    consent::publish(
        &db,
        other_bot.id,
        &draft("first", now - Duration::minutes(1)),
    )
    .await
    .unwrap();
    // Their events on this bot come back oldest first; theirs on another bot and someone
    // else's on this one do not.
    let (someone_else, _) = identity::identify(
        &db,
        &keys,
        (bot.id, ChannelKind::Telegram, "telegram"),
        (&PlatformId::new("77"), None),
        &PlatformId::new("77"),
    )
    .await
    .unwrap();
    let event = |subject_id: i64, bot_id: i64, purpose: &str, action: &str| {
        consent_events::ActiveModel {
            subject_id: Set(subject_id),
            bot_id: Set(bot_id),
            purpose: Set(purpose.into()),
            action: Set(action.into()),
            policy_version_id: Set(first.id),
            text_sha256: Set(consentgate::privacy::digest::sha256_hex("first")),
            channel: Set("telegram".into()),
            method: Set("button".into()),
            platform_message_id: Set(None),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&db)
    };
    let given = event(subject.id, bot.id, "assistant", "given")
        .await
        .unwrap();
    event(subject.id, other_bot.id, "assistant", "refused")
        .await
        .unwrap();
    event(someone_else.id, bot.id, "assistant", "refused")
        .await
        .unwrap();
    let history = event(subject.id, bot.id, "history", "given").await.unwrap();
    let withdrawn = event(subject.id, bot.id, "assistant", "withdrawn")
        .await
        .unwrap();
    let found = read(now).await.unwrap().expect("known");
    assert_eq!(found.subject.id, subject.id);
    assert_eq!(
        found.consent_events,
        vec![given, history, withdrawn.clone()]
    );
    assert_eq!(found.extra, Some(1));

    // An event that is there but cannot be read fails the read: it is never taken for a missing
    // one, which would let the grant before a withdrawal stand. (Only SQLite lets a column hold
    // what its type forbids.)
    if db.get_database_backend() == DbBackend::Sqlite {
        let garble = format!(
            "UPDATE consent_events SET created_at = 'garbled' WHERE id = {}",
            withdrawn.id
        );
        db.execute_unprepared(&garble).await.unwrap();
        assert!(read(now).await.is_err());
        let mended = consent_events::ActiveModel {
            id: Set(withdrawn.id),
            created_at: Set(withdrawn.created_at),
            ..Default::default()
        };
        mended.update(&db).await.unwrap();
        let found = read(now).await.unwrap().expect("known");
        assert_eq!(found.consent_events.last(), Some(&withdrawn));
    }
    consent::publish(&db, bot.id, &draft("second", now + Duration::days(1)))
        .await
        .unwrap();
    // The second is published but not in effect until tomorrow.
    let version = |found: Option<identity::Found>| found.and_then(|f| f.extra);
    assert_eq!(version(read(now).await.unwrap()), Some(1));
    assert_eq!(
        version(read(now + Duration::days(2)).await.unwrap()),
        Some(2)
    );
    let current = consent::current_policy(&db, bot.id, now).await.unwrap();
    assert_eq!(
        current.map(|p| (p.version, p.text)),
        Some((1, "first".into()))
    );
    let second = consent::policy_version(&db, bot.id, 2).await.unwrap();
    assert_eq!(second.map(|p| p.text), Some("second".into()));
    assert!(
        consent::policy_version(&db, bot.id, 3)
            .await
            .unwrap()
            .is_none()
    );
    t.drop_db().await;
}

/// Daily counts from several flushes (and replicas) add up in one row per bot, day and name,
/// each answer counted under one range of time.
#[tokio::test]
async fn daily_counts_add_up_across_flushes() {
    use consentgate::store::daily::{self, DailyCounts};
    let t = TestDb::new().await;
    let db = store::connect(&t.url).await.unwrap();
    store::migrate_up(&db).await.unwrap();
    let (one, other) = (DailyCounts::default(), DailyCounts::default());
    one.answered(7, std::time::Duration::from_millis(300));
    one.answered(7, std::time::Duration::from_millis(1_500));
    assert_eq!(one.flush(&db).await.unwrap(), 4);
    // The same rows again, from this replica and another.
    one.answered(7, std::time::Duration::from_millis(700));
    other.answered(7, std::time::Duration::from_secs(45));
    other.answered(8, std::time::Duration::from_millis(10));
    one.flush(&db).await.unwrap();
    other.flush(&db).await.unwrap();
    assert_eq!(one.flush(&db).await.unwrap(), 0, "nothing left to add");
    let today = Utc::now().date_naive();
    let counts = daily::since(&db, Some(&[7]), today).await.unwrap();
    let get = |name: &str| counts.get(&(7, today, name.to_string())).copied();
    assert_eq!(get(daily::ANSWERS), Some(4));
    assert_eq!(get(daily::ANSWER_MS), Some(300 + 1_500 + 700 + 45_000));
    assert_eq!(get("llm.within_1s"), Some(2));
    assert_eq!(get("llm.within_2s"), Some(1));
    assert_eq!(get("llm.over_30s"), Some(1));
    assert_eq!(get("llm.within_5s"), None);
    assert!(
        counts.keys().all(|(bot, _, _)| *bot == 7),
        "only the bots asked for"
    );
}
