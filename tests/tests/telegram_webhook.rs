//! Telegram in webhook mode: the webhook is registered with a secret, forged or unsigned
//! requests are refused before anything is read, and real ones take the same route as polling.

mod common;

use std::time::Duration;

use common::*;
use consentgate_entity::subjects;
use reqwest::StatusCode;
use sea_orm::EntityTrait;

async fn webhook() -> (Harness, String) {
    let h = Harness::start(Options {
        telegram_webhook: true,
        ..Default::default()
    })
    .await;
    let registered = h.telegram.calls("setWebhook");
    assert_eq!(registered.len(), 1, "setWebhook was not called once");
    let secret = registered[0].body["secret_token"]
        .as_str()
        .unwrap()
        .to_string();
    (h, secret)
}

async fn post(h: &Harness, secret: Option<&str>, body: String) -> StatusCode {
    let mut req = h
        .http
        .post(format!("{}/webhooks/telegram/telegram", h.base))
        .header("content-type", "application/json")
        .body(body);
    if let Some(secret) = secret {
        req = req.header("X-Telegram-Bot-Api-Secret-Token", secret);
    }
    req.send().await.unwrap().status()
}

#[tokio::test]
async fn the_webhook_is_registered_with_a_secret_and_the_gateway_does_not_poll() {
    let (h, secret) = webhook().await;
    let call = &h.telegram.calls("setWebhook")[0];
    assert_eq!(
        call.body["url"],
        "http://127.0.0.1:9/webhooks/telegram/telegram"
    );
    assert!(secret.len() >= 32);
    assert!(
        secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    );
    assert_eq!(
        call.body["allowed_updates"],
        serde_json::json!([
            "message",
            "callback_query",
            "my_chat_member",
            "pre_checkout_query"
        ])
    );
    assert!(!call.body["url"].as_str().unwrap().contains(TOKEN));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        h.telegram.calls("getUpdates").is_empty(),
        "webhook mode must not poll"
    );
    assert!(h.telegram.calls("deleteWebhook").is_empty());
    h.finish().await;
}

#[tokio::test]
async fn requests_without_the_exact_secret_are_refused_and_not_processed() {
    let (h, secret) = webhook().await;
    let update = text_update(1, IVAN, "forged hello").to_string();
    assert_eq!(
        post(&h, None, update.clone()).await,
        StatusCode::UNAUTHORIZED
    );
    let wrong = format!("{}x", &secret[..secret.len() - 1]);
    assert_eq!(
        post(&h, Some(&wrong), update.clone()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(post(&h, Some(""), update).await, StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(h.telegram.calls("sendMessage").is_empty());
    assert!(
        subjects::Entity::find()
            .all(h.db())
            .await
            .unwrap()
            .is_empty()
    );
    h.finish().await;
}

#[tokio::test]
async fn signed_updates_take_the_whole_route_once() {
    let (h, secret) = webhook().await;
    let first = text_update(1, IVAN, "hello").to_string();
    assert_eq!(post(&h, Some(&secret), first.clone()).await, StatusCode::OK);
    let texts = h.wait_sent(IVAN.id, 1).await;
    assert!(texts[0].contains("Do you agree"));
    // Telegram retries a delivery it thinks failed: answered once.
    assert_eq!(post(&h, Some(&secret), first).await, StatusCode::OK);

    let data = button_data(&h, IVAN.id, "Agree");
    let press = button_update(2, IVAN, &data).to_string();
    assert_eq!(post(&h, Some(&secret), press).await, StatusCode::OK);
    assert_eq!(h.telegram.calls("answerCallbackQuery").len(), 1);
    let question = text_update(3, IVAN, "call +7 912 345-67-89").to_string();
    assert_eq!(post(&h, Some(&secret), question).await, StatusCode::OK);
    let texts = h.wait_sent(IVAN.id, 3).await;
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert_eq!(texts[2], "LLM: call +7 912 345-67-89");
    assert!(h.llm.requests()[0].raw.contains("[PHONE_1]"));

    // Malformed bodies are dropped with 200 so Telegram does not resend them forever.
    assert_eq!(
        post(&h, Some(&secret), "{not json".into()).await,
        StatusCode::OK
    );
    assert_eq!(
        post(
            &h,
            Some(&secret),
            r#"{"update_id": 9, "message": "x"}"#.into()
        )
        .await,
        StatusCode::OK
    );
    // An unknown bot name is not found.
    let status = h
        .http
        .post(format!("{}/webhooks/telegram/other", h.base))
        .header("X-Telegram-Bot-Api-Secret-Token", &secret)
        .body("{}")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::NOT_FOUND);
    h.finish().await;
}

#[tokio::test]
async fn bale_webhooks_are_authenticated_by_a_secret_path_segment() {
    const BALE_TOKEN: &str = "555:BALE-webhook-token";
    let h = Harness::start(Options {
        bale_api_is_fake: true,
        extra_env: vec![
            ("BALE_BOT_TOKEN".into(), BALE_TOKEN.into()),
            (
                "BALE_WEBHOOK_URL".into(),
                "http://127.0.0.1:9/webhooks/bale/bale".into(),
            ),
        ],
        ..Default::default()
    })
    .await;
    let registered = h.telegram.calls("setWebhook");
    let url = registered[0].body["url"].as_str().unwrap().to_string();
    let secret = url.rsplit('/').next().unwrap().to_string();
    assert!(
        url.starts_with("http://127.0.0.1:9/webhooks/bale/bale/"),
        "{url}"
    );
    assert!(secret.len() >= 32, "{secret}");
    assert!(!url.contains(BALE_TOKEN));
    assert!(h.telegram.calls("deleteWebhook").is_empty());

    let post = |path: String| {
        let http = h.http.clone();
        async move {
            http.post(path)
                .json(&text_update(1, IVAN, "hello from Bale"))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // A forged segment, and none: refused, nothing processed.
    let forged = post(format!(
        "{}/webhooks/bale/bale/{}",
        h.base,
        "x".repeat(secret.len())
    ))
    .await;
    assert_eq!(forged, reqwest::StatusCode::UNAUTHORIZED);
    let missing = post(format!("{}/webhooks/bale/bale", h.base)).await;
    assert!(missing.is_client_error());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(h.telegram.sent_texts(IVAN.id).is_empty());
    // The right one: answered (the consent prompt), through Bale's base URL.
    let ok = post(format!("{}/webhooks/bale/bale/{secret}", h.base)).await;
    assert_eq!(ok, reqwest::StatusCode::OK);
    let texts = h.wait_sent(IVAN.id, 1).await;
    assert!(texts[0].contains("Do you agree"), "{texts:?}");
    assert!(
        h.telegram
            .requests()
            .iter()
            .all(|r| r.token_segment == format!("bot{BALE_TOKEN}"))
    );
    h.finish().await;
}

/// A stranger's body is never read: refused on the request head, whether the body is oversized
/// or never finishes; the secret's owner gets 413 for an oversized one.
#[tokio::test]
async fn unauthenticated_bodies_are_refused_before_they_are_read() {
    let (h, secret) = webhook().await;
    let huge = "x".repeat(2 * 1024 * 1024);
    assert_eq!(post(&h, None, huge.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        post(
            &h,
            Some("wrong-secret-wrong-secret-wrong-secret"),
            huge.clone()
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(&h, Some(&secret), huge).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // A body that never arrives: the answer comes at once, not after a timeout.
    let answered = h
        .unfinished_post("/webhooks/telegram/telegram", "", Duration::from_secs(3))
        .await;
    assert_eq!(answered.as_deref(), Some("HTTP/1.1 401 Unauthorized"));
    h.finish().await;
}

#[tokio::test]
async fn a_withdrawal_wins_over_a_message_arriving_just_after_it_on_another_connection() {
    let (h, secret) = webhook().await;
    let mut u = 0;
    for trial in 0..10i64 {
        let p = Person {
            id: 910_000_000 + trial,
            first_name: "Trial",
            username: "trial_person",
        };
        u += 1;
        post(&h, Some(&secret), text_update(u, p, "hi").to_string()).await;
        h.wait_sent(p.id, 1).await;
        let agree = button_data(&h, p.id, "Agree");
        u += 1;
        post(&h, Some(&secret), button_update(u, p, &agree).to_string()).await;
        h.wait_sent(p.id, 2).await;
        // /revoke, and 2 ms later, on a second connection, a question.
        let revoke = text_update(u + 1, p, "/revoke").to_string();
        let question = text_update(u + 2, p, "still there?").to_string();
        u += 2;
        let first = post(&h, Some(&secret), revoke);
        let second = async {
            tokio::time::sleep(Duration::from_millis(2)).await;
            post(&h, Some(&secret), question).await
        };
        let (a, b) = tokio::join!(first, second);
        assert!(a.is_success() && b.is_success(), "{a} {b}");
    }
    assert_eq!(
        h.llm.requests().len(),
        0,
        "forwarded after a withdrawal in {} of 10 trials",
        h.llm.requests().len()
    );
    h.finish().await;
}
