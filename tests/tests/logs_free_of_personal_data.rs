//! Whole conversations full of personal data and secrets, with every log line captured at debug
//! level and scanned: no token, key, raw id, name, message text or redacted value may appear.

mod common;

use std::time::Duration;

use common::*;
use consentgate_e2e::LlmBehaviour;
use reqwest::header;
use serde_json::json;

#[tokio::test]
async fn logs_hold_no_secrets_ids_names_or_message_text() {
    let captured = Capture::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let h = Harness::start(Options {
        telegram: true,
        llm_timeout_secs: Some(1),
        ..Default::default()
    })
    .await;
    let phone = "+7 912 345-67-89";
    let email = "ivan.secret@example.org";

    // Telegram: a first message, a malformed update, agreeing, PII, a failing provider.
    h.telegram
        .push_update(text_update(1, IVAN, "first words nobody may log"));
    h.telegram.push_raw(
        Some(2),
        r#"{"update_id": 2, "message": {"chat": "broken"}}"#.into(),
    );
    h.wait_sent(IVAN.id, 1).await;
    let data = button_data(&h, IVAN.id, "Agree");
    h.telegram.push_update(button_update(3, IVAN, &data));
    h.wait_sent(IVAN.id, 2).await;
    h.telegram.push_update(text_update(
        4,
        IVAN,
        &format!("I am Ivanushka, call {phone} or mail {email}"),
    ));
    h.wait_sent(IVAN.id, 3).await;
    h.llm.set(LlmBehaviour::Status(500));
    h.telegram
        .push_update(text_update(5, IVAN, "secret plans for the weekend"));
    h.wait_sent(IVAN.id, 4).await;
    h.llm.set(LlmBehaviour::Stall(Duration::from_secs(3)));
    h.telegram
        .push_update(text_update(6, IVAN, "another private thought"));
    h.wait_sent(IVAN.id, 5).await;
    // A send the platform refuses.
    h.telegram.fail_sends(
        1,
        403,
        json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
    );
    h.llm.set(LlmBehaviour::Echo);
    h.telegram
        .push_update(text_update(7, MARYAM, "maryam writes privately"));
    tokio::time::sleep(Duration::from_millis(300)).await;

    // History, an export (raw ids in a document), an erasure and its purge.
    let history = button_data(&h, IVAN.id, "history: yes");
    h.telegram.push_update(button_update(8, IVAN, &history));
    h.wait_sent(IVAN.id, 6).await;
    h.telegram
        .push_update(text_update(9, IVAN, "diary entry about lilacs"));
    h.wait_sent(IVAN.id, 7).await;
    h.telegram.push_update(text_update(10, IVAN, "/export"));
    consentgate_e2e::wait_for(WAIT, || {
        let n = h.telegram.calls("sendDocument").len();
        async move { (n > 0).then_some(()) }
    })
    .await
    .expect("an export document");
    h.telegram.push_update(text_update(11, IVAN, "/delete"));
    h.wait_sent(IVAN.id, 8).await;
    let confirm = button_data(&h, IVAN.id, "Yes, delete");
    h.telegram.push_update(button_update(12, IVAN, &confirm));
    h.wait_sent(IVAN.id, 9).await;
    h.retention(chrono::Utc::now() + chrono::Duration::days(31), false)
        .await;
    h.wait_sent(IVAN.id, 10).await;

    // The web chat.
    let resp = h
        .http
        .post(format!("{}/webchat/api/session", h.base))
        .send()
        .await
        .unwrap();
    let cookie = resp.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    h.http
        .post(format!("{}/webchat/api/messages", h.base))
        .header(header::COOKIE, &cookie)
        .json(&json!({"text": "web visitor secret text"}))
        .send()
        .await
        .unwrap();

    let keys = (
        h.keys.fernet.clone(),
        h.keys.pseudonym.clone(),
        h.keys.audit.clone(),
    );
    h.finish().await;

    let logs = captured.text();
    assert!(
        logs.contains("LLM call failed"),
        "the capture did not work:\n{logs}"
    );
    let session = cookie.split('=').nth(1).unwrap();
    let forbidden = [
        TOKEN,
        TOKEN.split(':').nth(1).unwrap(),
        "test-llm-key",
        &keys.0,
        &keys.1,
        &keys.2,
        &IVAN.id.to_string(),
        &MARYAM.id.to_string(),
        IVAN.first_name,
        IVAN.username,
        MARYAM.first_name,
        MARYAM.username,
        "first words nobody may log",
        "secret plans",
        "private thought",
        "maryam writes",
        "web visitor secret",
        "lilacs",
        phone,
        "912 345",
        email,
        session,
    ];
    for needle in forbidden {
        assert!(
            !logs.contains(needle),
            "a log line holds {needle:?}:\n{}",
            logs.lines()
                .filter(|l| l.contains(needle))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
