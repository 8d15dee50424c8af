//! Several businesses on one gateway: two Telegram bots that do not share a business never link
//! a person (separate records, pseudonyms, exports and erasures); named as one business in
//! `[businesses]`, they know the person as one.

use std::{collections::HashMap, time::Duration};

use consentgate::{
    app::Gateway,
    config::{Config, Mode},
    privacy::keys::{GeneratedKeys, Keys},
};
use consentgate_e2e::{FakeLlm, FakeTelegram, TestDb, updates, wait_for};
use consentgate_entity::subjects;
use sea_orm::{EntityTrait, PaginatorTrait};

const IVAN: i64 = 555_000_111;

struct Two {
    gateway: Gateway,
    a: FakeTelegram,
    b: FakeTelegram,
    llm: FakeLlm,
    db: TestDb,
}

async fn start(businesses: &str) -> Two {
    let (a, b, llm, db) = (
        FakeTelegram::start().await,
        FakeTelegram::start().await,
        FakeLlm::start().await,
        TestDb::new().await,
    );
    let file = format!(
        r#"
[webchat]
enabled = false

[[bots]]
name = "shop_a"
channel = "telegram"
token_env = "A_TOKEN"
api_url = "{}"

[[bots]]
name = "shop_b"
channel = "telegram"
token_env = "B_TOKEN"
api_url = "{}"

{businesses}
"#,
        a.url, b.url
    );
    let path = db.dir().join("two.toml");
    std::fs::write(&path, file).unwrap();
    let keys = GeneratedKeys::new();
    let env: HashMap<String, String> = [
        ("CONSENTGATE_DATABASE_URL", db.url.clone()),
        ("CONSENTGATE_HTTP_ADDR", "127.0.0.1:0".into()),
        ("A_TOKEN", "111:A-token".into()),
        ("B_TOKEN", "222:B-token".into()),
        ("LLM_BASE_URL", llm.base_url.clone()),
        ("LLM_MODEL", "fake".into()),
        ("FERNET_KEYS", keys.fernet.clone()),
        ("PSEUDONYM_KEY", keys.pseudonym.clone()),
        ("AUDIT_KEY", keys.audit.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = Config::load(Some(&path), &env).unwrap();
    let (keys, _) = Keys::load(Mode::Dev, &db.dir().join("secrets"), &env).unwrap();
    let gateway = Gateway::start(config, keys).await.unwrap();
    Two {
        gateway,
        a,
        b,
        llm,
        db,
    }
}

/// Pushes `update` to `tg` and waits for the `n`th message to Ivan there; its text.
async fn said(tg: &FakeTelegram, update: serde_json::Value, n: usize) -> String {
    tg.push_update(update);
    wait_for(Duration::from_secs(10), || {
        let texts = tg.sent_texts(IVAN);
        async move { (texts.len() >= n).then(|| texts[n - 1].clone()) }
    })
    .await
    .unwrap_or_else(|| panic!("no reply {n}: {:?}", tg.sent_texts(IVAN)))
}

/// Ivan agrees on one bot and asks a question there; the pseudonym the provider saw.
async fn agree_and_ask(two: &Two, tg: &FakeTelegram, question: &str) -> String {
    said(tg, updates::text(1, IVAN, "hi"), 1).await;
    let agree = tg
        .buttons_sent_to(IVAN)
        .into_iter()
        .find(|(label, _)| label == "Agree")
        .unwrap()
        .1;
    said(tg, updates::button(2, IVAN, &agree), 2).await;
    let answer = said(tg, updates::text(3, IVAN, question), 3).await;
    assert_eq!(answer, format!("LLM: {question}"));
    two.llm
        .requests()
        .iter()
        .find(|r| r.raw.contains(question))
        .map(|r| r.body["user"].as_str().unwrap().to_string())
        .unwrap()
}

#[tokio::test]
async fn bots_of_different_businesses_never_link_a_person() {
    let two = start("").await;
    let on_a = agree_and_ask(&two, &two.a, "question for A").await;
    let on_b = agree_and_ask(&two, &two.b, "question for B").await;
    assert_ne!(on_a, on_b, "one pseudonym across two businesses");
    assert_eq!(
        subjects::Entity::find()
            .count(&two.gateway.db)
            .await
            .unwrap(),
        2
    );
    // Erasure on A, at once (no grace period is needed to see it): B goes on answering.
    said(&two.a, updates::text(4, IVAN, "/delete"), 4).await;
    let confirm = two
        .a
        .buttons_sent_to(IVAN)
        .into_iter()
        .map(|(_, data)| data)
        .rfind(|d| d.starts_with("erase:confirm"))
        .unwrap();
    said(&two.a, updates::button(5, IVAN, &confirm), 5).await;
    let answer = said(&two.b, updates::text(4, IVAN, "still there, B?"), 4).await;
    assert_eq!(answer, "LLM: still there, B?");
    two.gateway.stop(Duration::from_secs(5)).await;
    two.db.drop_db().await;
}

#[tokio::test]
async fn bots_of_one_business_know_a_person_as_one() {
    let two = start("[businesses]\nshop = [\"shop_a\", \"shop_b\"]\n").await;
    let on_a = agree_and_ask(&two, &two.a, "question for A").await;
    // Consent is asked per bot; the person and their pseudonym are one.
    let on_b = agree_and_ask(&two, &two.b, "question for B").await;
    assert_eq!(on_a, on_b);
    assert_eq!(
        subjects::Entity::find()
            .count(&two.gateway.db)
            .await
            .unwrap(),
        1
    );
    two.gateway.stop(Duration::from_secs(5)).await;
    two.db.drop_db().await;
}
