//! What the pipeline reads for every message: the person and, in the same statement, the number
//! of the policy version in effect, which decides whether the version the gateway already holds
//! will do. Runs on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set.

use std::collections::HashMap;

use chrono::{Duration, Utc};
use consentgate::{
    config::Mode,
    consent::{self, Draft, Purpose},
    identity,
    keys::Keys,
    storage,
};
use consentgate_adapters::{ChannelKind, PlatformId};
use consentgate_e2e::TestDb;
use consentgate_entity::bots;
use sea_orm::{ActiveModelTrait, Set};

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
            text_sha256: consent::sha256_hex(text),
            required: true,
        }],
    }
}

#[tokio::test]
async fn the_version_in_effect_is_read_with_the_person() {
    let t = TestDb::new().await;
    let db = storage::connect(&t.url).await.unwrap();
    storage::migrate_up(&db).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env: HashMap<String, String> = HashMap::new();
    let (keys, _) = Keys::load(Mode::Dev, &dir.path().join("secrets"), &env).unwrap();
    let bot = bots::ActiveModel {
        name: Set("reads".into()),
        channel: Set("telegram".into()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
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
    let (nobody, version) = read(now).await.unwrap();
    assert!(nobody.is_none());
    assert_eq!(version, None);

    let subject = identity::identify(&db, &keys, bot.id, ChannelKind::Telegram, &ivan, &chat)
        .await
        .unwrap();
    let (found, version) = read(now).await.unwrap();
    assert_eq!(found.map(|s| s.id), Some(subject.id));
    assert_eq!(version, None, "no version is in effect yet");

    consent::publish(&db, bot.id, &draft("first", now - Duration::minutes(1)))
        .await
        .unwrap();
    consent::publish(&db, bot.id, &draft("second", now + Duration::days(1)))
        .await
        .unwrap();
    // The second is published but not in effect until tomorrow.
    assert_eq!(read(now).await.unwrap().1, Some(1));
    assert_eq!(read(now + Duration::days(2)).await.unwrap().1, Some(2));
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
