//! Two gateways behind a load balancer, in webhook mode, on one database (PostgreSQL in CI):
//! the same update delivered to both is answered once, a consent change taken by one applies
//! to the next message on the other, and the audit log stays one verifiable chain.

mod common;

use common::*;
use consentgate::{audit::verify::verify, keys::HmacKey};
use consentgate_entity::consent_events;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::Value;

async fn post(h: &Harness, base: &str, secret: &str, update: &Value) -> reqwest::StatusCode {
    h.http
        .post(format!("{base}/webhooks/telegram/telegram"))
        .header("X-Telegram-Bot-Api-Secret-Token", secret)
        .json(update)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn two_replicas_answer_once_share_consent_and_keep_one_chain() {
    let h = Harness::start(Options {
        telegram_webhook: true,
        ..Default::default()
    })
    .await;
    let b = h.replica().await;
    let (a_base, b_base) = (h.base.clone(), format!("http://{}", b.addr));
    let secret = h.telegram.calls("setWebhook")[0].body["secret_token"]
        .as_str()
        .unwrap()
        .to_string();

    // Telegram retries a delivery and the balancer sends it to the other replica; and again,
    // both at once.
    let hi = text_update(1, IVAN, "hi");
    assert!(post(&h, &a_base, &secret, &hi).await.is_success());
    assert!(post(&h, &b_base, &secret, &hi).await.is_success());
    let both = futures::future::join(
        post(&h, &a_base, &secret, &text_update(2, MARYAM, "hello")),
        post(&h, &b_base, &secret, &text_update(2, MARYAM, "hello")),
    )
    .await;
    assert!(both.0.is_success() && both.1.is_success());
    h.wait_sent(IVAN.id, 1).await;
    h.wait_sent(MARYAM.id, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(h.telegram.sent_texts(IVAN.id).len(), 1, "answered twice");
    assert_eq!(h.telegram.sent_texts(MARYAM.id).len(), 1, "answered twice");

    // Ivan agrees through replica A; his next message, on replica B, is answered.
    let agree = button_data(&h, IVAN.id, "Agree");
    assert!(
        post(&h, &a_base, &secret, &button_update(3, IVAN, &agree))
            .await
            .is_success()
    );
    h.wait_sent(IVAN.id, 2).await;
    assert!(
        post(&h, &b_base, &secret, &text_update(4, IVAN, "question"))
            .await
            .is_success()
    );
    let texts = h.wait_sent(IVAN.id, 3).await;
    assert_eq!(texts[2], "LLM: question");
    // He withdraws on B; A stops forwarding at once.
    post(&h, &b_base, &secret, &text_update(5, IVAN, "/revoke")).await;
    h.wait_sent(IVAN.id, 4).await;
    post(&h, &a_base, &secret, &text_update(6, IVAN, "another")).await;
    let texts = h.wait_sent(IVAN.id, 6).await;
    assert!(texts[5].contains("Do you agree"), "{texts:?}");
    assert_eq!(h.llm.requests().len(), 1);
    assert_eq!(
        consent_events::Entity::find().count(h.db()).await.unwrap(),
        2
    );

    // Both wrote to the audit log, concurrently: one chain, and it verifies.
    let updates: Vec<Value> = (0..20)
        .map(|i| text_update(100 + i, MARYAM, &format!("m{i}")))
        .collect();
    let writes: Vec<_> = updates
        .iter()
        .enumerate()
        .map(|(i, u)| post(&h, if i % 2 == 0 { &a_base } else { &b_base }, &secret, u))
        .collect();
    futures::future::join_all(writes).await;
    h.wait_sent(MARYAM.id, 2).await;
    let key = HmacKey::parse("AUDIT_KEY", &h.keys.audit).unwrap();
    let report = verify(h.db(), &key, None).await.unwrap();
    assert_eq!(report.broken, None, "{report:?}");
    assert!(report.entries >= 20, "{report:?}");
    b.stop(std::time::Duration::from_secs(5)).await;
    h.finish().await;
}
