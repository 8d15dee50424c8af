//! One outbound path for every reply: the platform's `retry_after` is honoured, per-chat limits
//! hold under a burst (measured at the fake), a blocked person is marked unreachable, and a Bale
//! bot uses Bale's base URL for every call.

mod common;

use std::time::Duration;

use common::*;
use consentgate_e2e::LlmBehaviour;
use consentgate_entity::{audit_log, subjects};
use sea_orm::EntityTrait;
use serde_json::json;

async fn agreed(h: &Harness, who: Person, first_update: i64) -> usize {
    h.telegram.push_update(text_update(first_update, who, "hi"));
    h.wait_sent(who.id, 1).await;
    let agree = button_data(h, who.id, "Agree");
    h.telegram
        .push_update(button_update(first_update + 1, who, &agree));
    h.wait_sent(who.id, 2).await.len()
}

#[tokio::test]
async fn a_429_retry_after_is_waited_out_on_the_platforms_clock() {
    let h = Harness::start(Options {
        telegram: true,
        ..Default::default()
    })
    .await;
    let n = agreed(&h, IVAN, 1).await;
    h.telegram.fail_sends(
        1,
        429,
        json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 2", "parameters": {"retry_after": 2}}),
    );
    h.telegram.push_update(text_update(3, IVAN, "question"));
    // The refused attempt and the accepted one are both recorded at the fake.
    let texts = h.wait_sent(IVAN.id, n + 2).await;
    assert_eq!(texts.last().unwrap(), "LLM: question");
    let sends = h.telegram.sends_to(IVAN.id);
    let (refused, accepted) = (&sends[sends.len() - 2], &sends[sends.len() - 1]);
    assert_eq!(
        refused.body["text"], accepted.body["text"],
        "the same message, retried"
    );
    let waited = accepted.at - refused.at;
    assert!(waited >= Duration::from_secs(2), "retried after {waited:?}");

    // /metrics shows the wait and the traffic, and nothing about the person. The send's job
    // ends once the outbox has forgotten the reply, a moment after the send itself.
    let drained = consentgate_e2e::wait_for(Duration::from_secs(5), || async {
        let metrics = h.metrics().await;
        (metric(&metrics, "consentgate_outbound_queue_depth") == 0.0).then_some(())
    })
    .await;
    assert!(drained.is_some(), "the send queue never emptied");
    let metrics = h.metrics().await;
    let value = |name: &str| metric(&metrics, name);
    assert!(value("consentgate_rate_limit_waits") >= 1.0);
    assert_eq!(value("consentgate_outbound_queue_depth"), 0.0);
    assert!(value("consentgate_messages_in_total{channel=\"telegram\"}") >= 3.0);
    assert!(value("consentgate_consent_events_total") >= 1.0);
    let pseudonym = h.expected_pseudonym("telegram", &IVAN.id.to_string());
    for secret in [
        IVAN.id.to_string().as_str(),
        &pseudonym[..12],
        "question",
        IVAN.first_name,
    ] {
        assert!(!metrics.contains(secret), "/metrics holds {secret}");
    }
    h.finish().await;
}

#[tokio::test]
async fn per_chat_limits_hold_under_a_burst_and_other_chats_are_not_held_up() {
    let h = Harness::start(Options {
        telegram: true,
        ..Default::default()
    })
    .await;
    agreed(&h, IVAN, 1).await;
    let n = agreed(&h, MARYAM, 10).await;
    // An answer of eight messages (over 4096 characters each) to one chat.
    h.llm.set(LlmBehaviour::Fixed("z".repeat(8 * 4096)));
    h.telegram
        .push_update(text_update(20, IVAN, "tell me everything"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.llm.set(LlmBehaviour::Echo);
    h.telegram.push_update(text_update(21, MARYAM, "quick one"));
    h.wait_sent(MARYAM.id, n + 1).await;
    let maryam_done = std::time::Instant::now();
    let parts: Vec<_> = {
        let tg = h.telegram.clone();
        consentgate_e2e::wait_for(Duration::from_secs(20), || {
            let sends: Vec<_> = tg
                .sends_to(IVAN.id)
                .into_iter()
                .filter(|r| {
                    r.body["text"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("zzz"))
                })
                .collect();
            async move { (sends.len() == 8).then_some(sends) }
        })
        .await
        .unwrap_or_else(|| {
            panic!(
                "all eight parts; got {:?}",
                h.telegram
                    .sends_to(IVAN.id)
                    .iter()
                    .map(|r| r.body["text"].as_str().map(|t| t.len()))
                    .collect::<Vec<_>>()
            )
        })
    };
    // Counted at the fake: a burst of at most five, then one a second.
    let spread = parts[7].at - parts[0].at;
    assert!(
        spread >= Duration::from_millis(2_700),
        "eight sends within {spread:?}"
    );
    for window in parts.windows(6) {
        assert!(
            window[5].at - window[0].at >= Duration::from_millis(900),
            "six sends to one chat within a second"
        );
    }
    // Maryam's answer did not wait for Ivan's queue.
    assert!(maryam_done < parts[7].at, "the other chat was held up");
    h.finish().await;
}

#[tokio::test]
async fn a_person_who_blocked_the_bot_is_marked_unreachable_from_the_send_error() {
    let h = Harness::start(Options {
        telegram: true,
        ..Default::default()
    })
    .await;
    let n = agreed(&h, IVAN, 1).await;
    // Bale-style wording: no my_chat_member update, only the error of the next send.
    h.telegram.fail_sends(
        1,
        403,
        json!({"ok": false, "error_code": 403, "description": "Forbidden: user blocked the bot"}),
    );
    h.telegram.push_update(text_update(3, IVAN, "question"));
    let db = h.db().clone();
    consentgate_e2e::wait_for(WAIT, || {
        let db = db.clone();
        async move {
            let s = subjects::Entity::find().one(&db).await.ok()??;
            (!s.reachable).then_some(())
        }
    })
    .await
    .expect("marked unreachable");
    // Tried once: a block is permanent.
    assert_eq!(h.telegram.sends_to(IVAN.id).len(), n + 1);
    let actions: Vec<String> = audit_log::Entity::find()
        .all(h.db())
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert!(actions.contains(&"subject.undeliverable".to_string()));
    h.finish().await;
}

#[tokio::test]
async fn a_bale_bot_makes_every_call_at_bales_base_url() {
    const BALE_TOKEN: &str = "987654:BALE-test-token";
    let h = Harness::start(Options {
        extra_env: vec![("BALE_BOT_TOKEN".into(), BALE_TOKEN.into())],
        bale_api_is_fake: true,
        ..Default::default()
    })
    .await;
    h.telegram.push_update(text_update(1, IVAN, "hi"));
    h.wait_sent(IVAN.id, 1).await;
    let requests = h.telegram.requests();
    assert!(!requests.is_empty());
    assert!(
        requests
            .iter()
            .all(|r| r.token_segment == format!("bot{BALE_TOKEN}")),
        "a call went elsewhere"
    );
    // The first getUpdates sends no offset (Bale re-delivers on offset=0).
    let first = requests.iter().find(|r| r.method == "getUpdates").unwrap();
    assert!(first.body.get("offset").is_none(), "{}", first.raw);
    h.finish().await;
}

#[tokio::test]
async fn a_sender_over_the_limit_gets_one_polite_notice() {
    let h = Harness::start(Options {
        telegram: true,
        // A burst of three: "hi" (held for consent) takes one, two questions are answered.
        extra_env: vec![("CONSENTGATE_MESSAGES_PER_MINUTE".into(), "3".into())],
        ..Default::default()
    })
    .await;
    let n = agreed(&h, IVAN, 1).await;
    for i in 0..6 {
        h.telegram
            .push_update(text_update(10 + i, IVAN, &format!("message {i}")));
    }
    let texts = h.wait_sent(IVAN.id, n + 3).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let texts_after = h.telegram.sent_texts(IVAN.id);
    assert_eq!(texts_after.len(), texts.len(), "{texts_after:?}");
    let notices = texts_after
        .iter()
        .filter(|t| t.contains("faster than I can read"))
        .count();
    assert_eq!(notices, 1, "{texts_after:?}");
    assert_eq!(h.llm.requests().len(), 2);
    h.finish().await;
}

#[tokio::test]
async fn shutdown_sends_the_replies_already_decided() {
    let mut h = Harness::start(Options {
        telegram: true,
        ..Default::default()
    })
    .await;
    agreed(&h, IVAN, 1).await;
    // Eight messages to one chat take seconds at one a second after the burst.
    h.llm.set(LlmBehaviour::Fixed("y".repeat(8 * 4096)));
    h.telegram
        .push_update(text_update(3, IVAN, "everything, please"));
    let tg = h.telegram.clone();
    let count = move || {
        tg.sends_to(IVAN.id)
            .iter()
            .filter(|r| {
                r.body["text"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("yyy"))
            })
            .count()
    };
    let c = count.clone();
    consentgate_e2e::wait_for(WAIT, || {
        let n = c();
        async move { (n >= 1).then_some(()) }
    })
    .await
    .expect("the answer began");
    assert!(count() < 8, "all sent before the stop; nothing was tested");
    // SIGTERM: stop taking updates, send what was decided, then exit.
    h.gateway
        .take()
        .unwrap()
        .stop(Duration::from_secs(15))
        .await;
    assert_eq!(count(), 8, "replies were lost at shutdown");
    h.finish().await;
}

#[tokio::test]
async fn readiness_reports_each_channel_connected() {
    let h = Harness::start(Options {
        telegram: true,
        ..Default::default()
    })
    .await;
    let ready = || {
        let (http, url) = (h.http.clone(), format!("{}/readyz", h.base));
        async move {
            let r = http.get(url).send().await.unwrap();
            (r.status(), r.json::<serde_json::Value>().await.unwrap())
        }
    };
    // Ready once the bot's first getUpdates succeeded.
    let body = consentgate_e2e::wait_for(WAIT, || async {
        let (status, body) = ready().await;
        (status == reqwest::StatusCode::OK).then_some(body)
    })
    .await
    .expect("ready");
    assert_eq!(body["channels"]["telegram"], true, "{body}");
    assert_eq!(body["database"], true);
    h.finish().await;
}
