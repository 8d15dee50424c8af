//! WhatsApp Business Cloud API end to end, against a fake Graph API on loopback: the
//! verification handshake, signed webhook bodies (one non-ASCII and `\u`-escaped), consent by
//! reply button, statuses deduped, marketing preferences, and no free-form message outside the
//! 24-hour window.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::*;
use consentgate_e2e::{FakeGraph, wait_for};
use consentgate_entity::{audit_log, channel_identities, consent_events, subjects};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
use serde_json::Value;
use sha2::Sha256;

const APP_SECRET: &str = "test-app-secret";
const VERIFY: &str = "test-verify-token";
const PHONE_ID: &str = "106540352242922";
const WA_ID: &str = "79161234567";

async fn start(template: bool) -> (Harness, FakeGraph) {
    start_with(template, Vec::new()).await
}

async fn start_with(template: bool, extra: Vec<(String, String)>) -> (Harness, FakeGraph) {
    let graph = FakeGraph::start().await;
    let mut env = vec![
        (
            "WHATSAPP_ACCESS_TOKEN".to_string(),
            "test-graph-token".to_string(),
        ),
        ("WHATSAPP_PHONE_NUMBER_ID".to_string(), PHONE_ID.to_string()),
        ("WHATSAPP_APP_SECRET".to_string(), APP_SECRET.to_string()),
        ("WHATSAPP_VERIFY_TOKEN".to_string(), VERIFY.to_string()),
        ("WHATSAPP_GRAPH_URL".to_string(), graph.url.clone()),
    ];
    if template {
        env.push(("WHATSAPP_TEMPLATE".to_string(), "policy_update".to_string()));
    }
    env.extend(extra);
    let h = Harness::start(Options {
        extra_env: env,
        ..Default::default()
    })
    .await;
    (h, graph)
}

fn sign(raw: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    mac.update(raw.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn post(h: &Harness, raw: &str, signature: Option<String>) -> StatusCode {
    let mut req = h
        .http
        .post(format!("{}/webhooks/whatsapp/whatsapp", h.base))
        .header("content-type", "application/json")
        .body(raw.to_string());
    if let Some(sig) = signature {
        req = req.header("x-hub-signature-256", sig);
    }
    req.send().await.unwrap().status()
}

fn envelope(field: &str, value: &str) -> String {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"{field}","value":{value}}}]}}]}}"#
    )
}

fn text(wamid: &str, name_escaped: &str, body_escaped: &str) -> String {
    envelope(
        "messages",
        &format!(
            r#"{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550000000","phone_number_id":"{PHONE_ID}"}},"contacts":[{{"profile":{{"name":"{name_escaped}"}},"wa_id":"{WA_ID}"}}],"messages":[{{"from":"{WA_ID}","id":"{wamid}","timestamp":"1700000000","type":"text","text":{{"body":"{body_escaped}"}}}}]}}"#
        ),
    )
}

fn button(wamid: &str, id: &str) -> String {
    envelope(
        "messages",
        &format!(
            r#"{{"messaging_product":"whatsapp","metadata":{{"phone_number_id":"{PHONE_ID}"}},"contacts":[{{"profile":{{"name":"Ivan"}},"wa_id":"{WA_ID}"}}],"messages":[{{"context":{{"from":"15550000000","id":"wamid.prompt"}},"from":"{WA_ID}","id":"{wamid}","timestamp":"1700000001","type":"interactive","interactive":{{"type":"button_reply","button_reply":{{"id":"{id}","title":"Agree"}}}}}}]}}"#
        ),
    )
}

fn failed_status(id: &str, code: i64) -> String {
    envelope(
        "messages",
        &format!(
            r#"{{"messaging_product":"whatsapp","metadata":{{"phone_number_id":"{PHONE_ID}"}},"statuses":[{{"id":"{id}","status":"failed","timestamp":"1700000002","recipient_id":"{WA_ID}","errors":[{{"code":{code},"title":"Undeliverable"}}]}}]}}"#
        ),
    )
}

/// The id of the Agree reply button on a consent prompt as sent.
fn agree_id(prompt: &Value) -> String {
    prompt["interactive"]["action"]["buttons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["reply"]["title"] == "Agree")
        .unwrap()["reply"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Ivan (by number) writes (message `first`) and presses Agree on the prompt (`second`).
async fn agree(h: &Harness, graph: &FakeGraph, first: &str, second: &str) {
    let raw = text(first, "Ivan", "hello");
    assert_eq!(post(h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    let prompt = wait_graph(graph, 1).await;
    let raw = button(second, &agree_id(&prompt[0]));
    assert_eq!(post(h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    wait_graph(graph, 2).await;
}

async fn wait_graph(graph: &FakeGraph, n: usize) -> Vec<Value> {
    let g = graph.clone();
    wait_for(WAIT, || {
        let sent = g.sent_to(WA_ID);
        async move { (sent.len() >= n).then_some(sent) }
    })
    .await
    .unwrap_or_else(|| panic!("expected {n} messages, got {:?}", graph.sent_to(WA_ID)))
}

#[tokio::test]
async fn the_verification_handshake_echoes_the_challenge_only_for_the_right_token() {
    let (h, _graph) = start(false).await;
    let get = |query: String| {
        let http = h.http.clone();
        let url = format!("{}/webhooks/whatsapp/whatsapp?{query}", h.base);
        async move {
            let r = http.get(url).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let (status, body) = get(format!(
        "hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=1158201444"
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "1158201444");
    let (status, _) = get("hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1".into()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = get(format!(
        "hub.mode=unsubscribe&hub.verify_token={VERIFY}&hub.challenge=1"
    ))
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    h.finish().await;
}

#[tokio::test]
async fn signed_messages_take_the_whole_route_and_forged_ones_nothing() {
    let (h, graph) = start(false).await;
    // Unsigned, and signed with another secret: 401, nothing processed or stored.
    let raw = text("wamid.1", "Ivan", "hello");
    assert_eq!(post(&h, &raw, None).await, StatusCode::UNAUTHORIZED);
    let forged = format!("sha256={}", "0".repeat(64));
    assert_eq!(post(&h, &raw, Some(forged)).await, StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(graph.requests().is_empty());
    assert!(
        subjects::Entity::find()
            .all(h.db())
            .await
            .unwrap()
            .is_empty()
    );

    // Meta signs the escaped form: Persian text as \u escapes, checked over the raw bytes.
    let raw = text(
        "wamid.2",
        r"\u0645\u0631\u06cc\u0645",
        r"\u0633\u0644\u0627\u0645 \u2014 hello",
    );
    assert!(raw.contains(r"\u0645"));
    assert_eq!(post(&h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    let sent = wait_graph(&graph, 1).await;
    // The consent prompt, as reply buttons: at most three, titles of at most 20 characters.
    let prompt = &sent[0];
    assert_eq!(prompt["type"], "interactive", "{prompt}");
    let buttons = prompt["interactive"]["action"]["buttons"]
        .as_array()
        .unwrap();
    assert!(buttons.len() <= 3);
    assert!(
        buttons
            .iter()
            .all(|b| b["reply"]["title"].as_str().unwrap().chars().count() <= 20)
    );
    assert!(
        prompt["interactive"]["body"]["text"]
            .as_str()
            .unwrap()
            .chars()
            .count()
            <= 1024
            || prompt["type"] == "text"
    );
    let request = &graph.requests()[0];
    assert_eq!(
        request.authorization.as_deref(),
        Some("Bearer test-graph-token")
    );
    assert_eq!(request.phone_number_id, PHONE_ID);
    assert_eq!(request.version, "v21.0");

    // The same message again (Meta retries): answered once.
    assert_eq!(post(&h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(graph.sent_to(WA_ID).len(), sent.len());

    // The Agree button grants consent; the next message reaches the assistant.
    let raw = button("wamid.3", &agree_id(prompt));
    assert_eq!(post(&h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    let sent = wait_graph(&graph, 2).await;
    let thanks = serde_json::to_string(&sent[1]).unwrap();
    assert!(thanks.contains("Thank you"), "{thanks}");
    let events = consent_events::Entity::find().all(h.db()).await.unwrap();
    assert_eq!(events[0].action, "given");
    assert_eq!(events[0].channel, "whatsapp");
    // The message that carried it, as a keyed reference: a wamid holds the number.
    assert_eq!(
        events[0].platform_message_id.as_deref(),
        Some(h.expected_message_ref("whatsapp", "wamid.3").as_str())
    );
    let before = graph.sent_to(WA_ID).len();
    let raw = text("wamid.4", "Ivan", "what are your hours?");
    assert_eq!(post(&h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    let sent = wait_graph(&graph, before + 1).await;
    let answer = sent.last().unwrap();
    assert_eq!(answer["type"], "text");
    assert_eq!(answer["text"]["body"], "LLM: what are your hours?");
    assert_eq!(answer["context"]["message_id"], "wamid.4");
    // The provider saw a pseudonym, never the number or the name.
    let llm = &h.llm.requests()[0].raw;
    assert!(!llm.contains(WA_ID));
    // The number is stored only encrypted.
    assert!(!h.dump().await.contains(WA_ID));
    h.finish().await;
}

#[tokio::test]
async fn statuses_are_deduped_and_an_undeliverable_number_is_marked() {
    let (h, graph) = start(false).await;
    let raw = text("wamid.1", "Ivan", "hi");
    post(&h, &raw, Some(sign(&raw))).await;
    wait_graph(&graph, 1).await;
    // The same failed status twice (Meta retries): recorded once.
    let raw = failed_status("wamid.out-1", 131026);
    assert_eq!(post(&h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    assert_eq!(post(&h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    let failures = audit_log::Entity::find()
        .all(h.db())
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "delivery.failed")
        .count();
    assert_eq!(failures, 1);
    let subject = subjects::Entity::find().one(h.db()).await.unwrap().unwrap();
    assert!(!subject.reachable, "131026 marks the number unreachable");
    h.finish().await;
}

#[tokio::test]
async fn stop_and_the_platforms_marketing_preference_record_an_opt_out() {
    let (h, graph) = start(false).await;
    let raw = text("wamid.1", "Ivan", "STOP");
    post(&h, &raw, Some(sign(&raw))).await;
    wait_graph(&graph, 1).await;
    let raw = envelope(
        "user_preferences",
        &format!(
            r#"{{"messaging_product":"whatsapp","metadata":{{"phone_number_id":"{PHONE_ID}"}},"contacts":[{{"wa_id":"{WA_ID}","profile":{{"name":"Ivan"}}}}],"user_preferences":[{{"wa_id":"{WA_ID}","detail":"User requested to resume marketing messages","category":"marketing_messages","value":"resume","timestamp":1731705721}}]}}"#
        ),
    );
    assert_eq!(post(&h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    let raw = raw
        .replace(r#""value":"resume""#, r#""value":"stop""#)
        .replace("1731705721", "1731705722");
    assert_eq!(post(&h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    let marketing: Vec<(String, String)> = consent_events::Entity::find()
        .all(h.db())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.purpose == "marketing")
        .map(|e| (e.action, e.method))
        .collect();
    // STOP refuses; the platform's "resume" cannot opt someone in who never saw the text (it
    // shows the choice instead, which the platform setting cannot answer), so "stop" finds
    // them already out.
    assert_eq!(marketing[0], ("refused".to_string(), "keyword".to_string()));
    assert!(marketing.iter().all(|(a, _)| a != "given"), "{marketing:?}");
    h.finish().await;
}

#[tokio::test]
async fn no_free_form_message_is_sent_outside_the_24_hour_window() {
    for template in [false, true] {
        let (h, graph) = start(template).await;
        let raw = text("wamid.1", "Ivan", "hi");
        post(&h, &raw, Some(sign(&raw))).await;
        let prompt = wait_graph(&graph, 1).await;
        let agree = prompt[0]["interactive"]["action"]["buttons"][0]["reply"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let raw = button("wamid.2", &agree);
        post(&h, &raw, Some(sign(&raw))).await;
        wait_graph(&graph, 2).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = graph.sent_to(WA_ID).len();
        // Two days pass without a message from Ivan.
        let mut identity = channel_identities::Entity::find()
            .one(h.db())
            .await
            .unwrap()
            .unwrap()
            .into_active_model();
        identity.last_seen_at = Set(Utc::now() - chrono::Duration::days(2));
        identity.update(h.db()).await.unwrap();
        // A policy change with --notify would write to him.
        let out = h
            .publish_policy(
                "Policy, second edition.",
                "A second AI provider.",
                &[("LLM_RECIPIENT", "FakeAI and SecondAI")],
                true,
            )
            .await;
        let sent = graph.sent_to(WA_ID);
        if template {
            assert!(out.contains("whatsapp: notified 1"), "{out}");
            let last = sent.last().unwrap();
            assert_eq!(last["type"], "template", "{last}");
            assert_eq!(last["template"]["name"], "policy_update");
        } else {
            assert!(out.contains("whatsapp: notified 0"), "{out}");
            assert_eq!(
                sent.len(),
                before,
                "nothing free-form was attempted: {sent:?}"
            );
        }
        h.finish().await;
    }
}

/// A message id as Meta makes them: the sender's number, base64-encoded, inside.
fn real_wamid(n: u32) -> String {
    use base64::Engine;
    let number = base64::engine::general_purpose::STANDARD_NO_PAD.encode(WA_ID);
    format!("wamid.HBgL{number}FQIAEhgUM0EwQ{n:05}")
}

/// The number in clear, in base64 (as inside a wamid) or in hex, anywhere in the SQLite file or
/// its write-ahead log.
fn number_at_rest(h: &Harness) -> Option<&'static str> {
    use base64::Engine;
    let bytes = h.sqlite_bytes();
    let base64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(WA_ID);
    let forms = [
        ("in clear", WA_ID.to_string()),
        ("in base64", base64[..12].to_string()),
        ("in hex", hex::encode(WA_ID)),
    ];
    forms.into_iter().find_map(|(how, needle)| {
        bytes
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
            .then_some(how)
    })
}

/// Neither during a conversation (messages, a button, a failed status, a marketing preference)
/// nor after the person's erasure does the database hold their number in any form.
#[tokio::test]
async fn the_number_is_nowhere_at_rest_during_the_conversation_or_after_the_purge() {
    let graph = FakeGraph::start().await;
    let env = |k: &str, v: &str| (k.to_string(), v.to_string());
    let h = Harness::start(Options {
        extra_env: vec![
            env("WHATSAPP_ACCESS_TOKEN", "test-graph-token"),
            env("WHATSAPP_PHONE_NUMBER_ID", PHONE_ID),
            env("WHATSAPP_APP_SECRET", APP_SECRET),
            env("WHATSAPP_VERIFY_TOKEN", VERIFY),
            env("WHATSAPP_GRAPH_URL", &graph.url),
            env("CONSENTGATE_ERASURE_GRACE_DAYS", "0"),
        ],
        ..Default::default()
    })
    .await;
    agree(&h, &graph, &real_wamid(1), &real_wamid(2)).await;
    let raw = text(&real_wamid(3), "Ivan", "what are your hours?");
    assert_eq!(post(&h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    wait_graph(&graph, 3).await;
    let raw = failed_status(&real_wamid(4), 131047);
    assert_eq!(post(&h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    let raw = envelope(
        "user_preferences",
        &format!(
            r#"{{"messaging_product":"whatsapp","metadata":{{"phone_number_id":"{PHONE_ID}"}},"contacts":[{{"wa_id":"{WA_ID}","profile":{{"name":"Ivan"}}}}],"user_preferences":[{{"wa_id":"{WA_ID}","detail":"User requested to stop marketing messages","category":"marketing_messages","value":"stop","timestamp":1731705721}}]}}"#
        ),
    );
    assert_eq!(post(&h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    let events = consent_events::Entity::find().all(h.db()).await.unwrap();
    assert!(events.len() >= 2, "{events:?}");
    assert_eq!(number_at_rest(&h), None, "during the conversation");

    // /delete, confirmed, with no grace period: purged at once.
    let raw = text(&real_wamid(5), "Ivan", "/delete");
    assert_eq!(post(&h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    let sent = wait_graph(&graph, 4).await;
    // The confirmation button as shown (it is bound to Ivan).
    let confirm = sent
        .iter()
        .rev()
        .flat_map(|m| {
            m["interactive"]["action"]["buttons"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|b| b["reply"]["id"].as_str().map(str::to_string))
        .find(|id| id.starts_with("erase:confirm"))
        .expect("the erasure confirmation button");
    let raw = button(&real_wamid(6), &confirm);
    assert_eq!(post(&h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    let purged = wait_for(WAIT, || async {
        let entries = audit_log::Entity::find().all(h.db()).await.unwrap();
        entries
            .iter()
            .any(|a| a.action == "erasure.completed")
            .then_some(())
    })
    .await;
    assert!(purged.is_some(), "the erasure did not complete");
    assert!(
        subjects::Entity::find()
            .all(h.db())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(number_at_rest(&h), None, "after the purge");
    h.finish().await;
}

/// A webhook without a signature header of the right shape is refused on its head, before its
/// body is read; an oversized body is 401 for a stranger.
#[tokio::test]
async fn unsigned_bodies_are_refused_before_they_are_read() {
    let (h, _graph) = start(false).await;
    let huge = "x".repeat(2 * 1024 * 1024);
    assert_eq!(post(&h, &huge, None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        post(&h, &huge, Some("sha256=short".into())).await,
        StatusCode::UNAUTHORIZED
    );
    let answered = h
        .unfinished_post("/webhooks/whatsapp/whatsapp", "", Duration::from_secs(3))
        .await;
    assert_eq!(answered.as_deref(), Some("HTTP/1.1 401 Unauthorized"));
    let answered = h
        .unfinished_post(
            "/webhooks/whatsapp/whatsapp",
            "X-Hub-Signature-256: md5=abc\r\n",
            Duration::from_secs(3),
        )
        .await;
    assert_eq!(answered.as_deref(), Some("HTTP/1.1 401 Unauthorized"));
    h.finish().await;
}

const BSUID: &str = "US.13491208655302741918";
const NEW_BSUID: &str = "US.77700011122233344455";
const NEW_NUMBER: &str = "79169876543";

/// A text as Meta sends it since April 2026: the business-scoped id always, the phone number
/// (`from`, `wa_id`) only while it may be shown.
fn text_as(wamid: &str, bsuid: Option<&str>, phone: Option<&str>, body: &str) -> String {
    let mut contact = serde_json::json!({"profile": {"name": "Ivan"}});
    let mut message = serde_json::json!({"id": wamid, "timestamp": "1700000000", "type": "text", "text": {"body": body}});
    if let Some(b) = bsuid {
        contact["user_id"] = b.into();
        message["from_user_id"] = b.into();
    }
    if let Some(p) = phone {
        contact["wa_id"] = p.into();
        message["from"] = p.into();
    }
    let value = serde_json::json!({"messaging_product": "whatsapp", "metadata": {"phone_number_id": PHONE_ID}, "contacts": [contact], "messages": [message]});
    envelope("messages", &value.to_string())
}

/// A `system` message: `user_changed_number` (from `from` to `system.wa_id`) or
/// `user_changed_user_id` (`previous_user_id` to `user_id`), as in Meta's reference.
fn system_change(wamid: &str, system: Value, from: Option<&str>) -> String {
    let mut message = serde_json::json!({"id": wamid, "timestamp": "1753851315", "type": "system", "system": system});
    if let Some(f) = from {
        message["from"] = f.into();
    }
    let value = serde_json::json!({"messaging_product": "whatsapp", "metadata": {"phone_number_id": PHONE_ID}, "messages": [message]});
    envelope("messages", &value.to_string())
}

/// Requests the fake Graph API received for a recipient, by `to` (a number) or `recipient` (a
/// business-scoped id).
fn sent_to_any(graph: &FakeGraph, id: &str) -> Vec<Value> {
    graph
        .requests()
        .into_iter()
        .map(|r| r.body)
        .filter(|b| b["to"] == id || b["recipient"] == id)
        .collect()
}

/// Posts `raw` and waits for the next message sent to `id`.
async fn answered(h: &Harness, graph: &FakeGraph, raw: &str, id: &str) -> Value {
    let n = sent_to_any(graph, id).len() + 1;
    assert_eq!(post(h, raw, Some(sign(raw))).await, StatusCode::OK);
    let g = graph.clone();
    let to = id.to_string();
    wait_for(WAIT, || {
        let sent = sent_to_any(&g, &to);
        async move { (sent.len() >= n).then_some(()) }
    })
    .await
    .unwrap_or_else(|| panic!("nothing sent to the person: {:?}", graph.requests()));
    sent_to_any(graph, id).pop().unwrap()
}

fn body_of(sent: &Value) -> String {
    sent["text"]["body"]
        .as_str()
        .or(sent["interactive"]["body"]["text"].as_str())
        .unwrap_or_default()
        .to_string()
}

async fn actions(h: &Harness, action: &str) -> usize {
    audit_log::Entity::find()
        .all(h.db())
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == action)
        .count()
}

#[tokio::test]
async fn one_person_across_business_scoped_ids_new_numbers_and_usernames_keeps_their_consent() {
    let (h, graph) = start(false).await;
    // Known by phone number alone (before BSUIDs), and agreed.
    agree(&h, &graph, "wamid.1", "wamid.2").await;

    // The same person with their BSUID beside the number: the same subject, consent kept,
    // the BSUID linked (audited).
    let raw = text_as("wamid.3", Some(BSUID), Some(WA_ID), "first with an id");
    let reply = answered(&h, &graph, &raw, WA_ID).await;
    assert_eq!(body_of(&reply), "LLM: first with an id");
    assert_eq!(actions(&h, "identity.linked").await, 1);

    // A username hides the number: the BSUID alone still finds them, and the answer goes to it
    // as `recipient`, with no `to`.
    let raw = text_as("wamid.4", Some(BSUID), None, "number hidden");
    let reply = answered(&h, &graph, &raw, BSUID).await;
    assert_eq!(body_of(&reply), "LLM: number hidden");
    assert!(reply.get("to").is_none(), "{reply}");

    // A new BSUID: it takes the old one's place.
    let raw = system_change(
        "wamid.5",
        serde_json::json!({"body": "User changed", "user_id": NEW_BSUID, "previous_user_id": BSUID, "type": "user_changed_user_id"}),
        None,
    );
    assert_eq!(post(&h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    let raw = text_as("wamid.6", Some(NEW_BSUID), None, "after the new id");
    let reply = answered(&h, &graph, &raw, NEW_BSUID).await;
    assert_eq!(body_of(&reply), "LLM: after the new id");

    // A new number: it takes the old number's place; replies follow it.
    let raw = system_change(
        "wamid.7",
        serde_json::json!({"body": "User changed number", "wa_id": NEW_NUMBER, "type": "user_changed_number"}),
        Some(WA_ID),
    );
    assert_eq!(post(&h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    let raw = text_as("wamid.8", None, Some(NEW_NUMBER), "from the new number");
    let reply = answered(&h, &graph, &raw, NEW_NUMBER).await;
    assert_eq!(body_of(&reply), "LLM: from the new number");
    assert_eq!(actions(&h, "identity.changed").await, 2);
    assert_eq!(subjects::Entity::find().all(h.db()).await.unwrap().len(), 1);
    // The provider saw one pseudonym throughout.
    let users: std::collections::HashSet<String> = h
        .llm
        .requests()
        .iter()
        .map(|r| r.body["user"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(users.len(), 1, "{users:?}");

    // The given-up number and id are nobody's now: whoever writes from them is a newcomer.
    // (The number alone: the pseudonym Ivan was first given came from it.)
    let raw = text_as("wamid.9", None, Some(WA_ID), "someone else");
    let reply = answered(&h, &graph, &raw, WA_ID).await;
    assert!(body_of(&reply).contains("agree"), "{reply}");
    assert_eq!(subjects::Entity::find().all(h.db()).await.unwrap().len(), 2);
    // No id in clear at rest.
    let dump = h.dump().await;
    for id in [WA_ID, NEW_NUMBER, BSUID, NEW_BSUID] {
        assert!(!dump.contains(id), "{id} stored in clear");
    }
    h.finish().await;
}

/// The assistant's Markdown in WhatsApp's own markers (unbalanced markup stays text), and the
/// typing indicator on the person's message while the answer is written.
#[tokio::test]
async fn answers_use_whatsapps_formatting_and_typing_shows_while_they_are_written() {
    let (h, graph) = start(false).await;
    agree(&h, &graph, "wamid.1", "wamid.2").await;
    h.llm.set(consentgate_e2e::LlmBehaviour::Pieces(
        [
            "**Price**: ",
            "_about_ 42 ",
            "~~old~~\n\n",
            "**no end and `tick",
        ]
        .map(String::from)
        .to_vec(),
        Duration::from_millis(200),
    ));
    let before = graph.sent_to(WA_ID).len();
    let raw = text("wamid.3", "Ivan", "how much?");
    assert_eq!(post(&h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    let sent = wait_graph(&graph, before + 1).await;
    let answer = sent.last().unwrap();
    assert_eq!(
        answer["text"]["body"],
        "*Price*: _about_ 42 ~old~\n\n**no end and `tick"
    );
    // Typing was shown on the message being answered, before the answer.
    assert_eq!(graph.typing_for(), ["wamid.3"]);
    let requests = graph.requests();
    let typing_at = requests
        .iter()
        .find(|r| r.body["status"] == "read")
        .unwrap()
        .at;
    let answer_at = requests.last().unwrap().at;
    assert!(typing_at < answer_at);
    h.finish().await;
}

/// The id of the reply button titled `title` on any message sent.
fn button_titled(sent: &[Value], title: &str) -> String {
    fn find(v: &Value, title: &str) -> Option<String> {
        match v {
            Value::Object(m) => {
                if m.get("title").and_then(Value::as_str) == Some(title) {
                    return m.get("id").and_then(Value::as_str).map(str::to_string);
                }
                m.values().find_map(|v| find(v, title))
            }
            Value::Array(a) => a.iter().find_map(|v| find(v, title)),
            _ => None,
        }
    }
    sent.iter()
        .rev()
        .find_map(|m| find(m, title))
        .unwrap_or_else(|| panic!("no button {title} in {sent:?}"))
}

/// A voice note (WhatsApp `audio` with `voice: true`) from Ivan.
fn voice_note(wamid: &str, media_id: &str) -> String {
    envelope(
        "messages",
        &format!(
            r#"{{"messaging_product":"whatsapp","metadata":{{"phone_number_id":"{PHONE_ID}"}},"contacts":[{{"profile":{{"name":"Ivan"}},"wa_id":"{WA_ID}"}}],"messages":[{{"from":"{WA_ID}","id":"{wamid}","timestamp":"1700000003","type":"audio","audio":{{"id":"{media_id}","mime_type":"audio/ogg; codecs=opus","voice":true}}}}]}}"#
        ),
    )
}

#[tokio::test]
async fn a_voice_note_is_fetched_from_the_graph_api_with_the_numbers_token_and_transcribed() {
    let transcriber = consentgate_e2e::FakeTranscriber::start().await;
    transcriber.answer("Is the shop open on Sunday?");
    let (h, graph) = start_with(
        false,
        vec![
            (
                "TRANSCRIBE_BASE_URL".to_string(),
                transcriber.base_url.clone(),
            ),
            ("TRANSCRIBE_MODEL".to_string(), "whisper-1".to_string()),
        ],
    )
    .await;
    let audio: Vec<u8> = b"OggS\x00\x02"
        .iter()
        .copied()
        .chain((0..2048u32).map(|i| (i * 13 % 256) as u8))
        .collect();
    graph.put_media("media-77", "audio/ogg; codecs=opus", audio.clone());
    agree(&h, &graph, "wamid.v1", "wamid.v2").await;
    // The optional choices come as several messages (three buttons each at most); voice last.
    let g = graph.clone();
    let seen = wait_for(WAIT, || {
        let sent = g.sent_to(WA_ID);
        async move {
            sent.iter()
                .any(|m| m.to_string().contains("voice: yes"))
                .then_some(sent.len())
        }
    })
    .await
    .expect("voice offered");

    // Without `voice`: how to turn it on; the media is not even looked up.
    let raw = voice_note("wamid.v3", "media-77");
    assert_eq!(post(&h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    let sent = wait_graph(&graph, seen + 1).await;
    assert!(
        body_of(&sent[seen]).contains("/consent"),
        "{:?}",
        sent[seen]
    );
    assert!(graph.media_requests().is_empty());

    // Turned on from /consent's buttons, the next one is fetched and answered.
    let raw = text("wamid.v4", "Ivan", "/consent");
    assert_eq!(post(&h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    let sent = wait_graph(&graph, seen + 2).await;
    let on = button_titled(&sent, "voice: yes");
    let raw = button("wamid.v5", &on);
    assert_eq!(post(&h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    let seen = wait_graph(&graph, sent.len() + 1).await.len();
    let raw = voice_note("wamid.v6", "media-77");
    assert_eq!(post(&h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    let sent = wait_graph(&graph, seen + 1).await;
    assert!(
        body_of(sent.last().unwrap()).contains("LLM: Is the shop open on Sunday?"),
        "{:?}",
        sent
    );
    let fetched = graph.media_requests();
    assert_eq!(fetched.len(), 2, "{fetched:?}");
    assert!(
        fetched
            .iter()
            .all(|(_, auth)| auth.as_deref() == Some("Bearer test-graph-token"))
    );
    let heard = transcriber.requests();
    assert_eq!(heard.len(), 1);
    assert_eq!(heard[0].audio, audio);
    assert_eq!(
        heard[0].content_type.as_deref(),
        Some("audio/ogg; codecs=opus")
    );
    h.finish().await;
}

/// A document with a caption from Ivan.
fn document(wamid: &str, media_id: &str, filename: &str, caption: &str) -> String {
    envelope(
        "messages",
        &format!(
            r#"{{"messaging_product":"whatsapp","metadata":{{"phone_number_id":"{PHONE_ID}"}},"contacts":[{{"profile":{{"name":"Ivan"}},"wa_id":"{WA_ID}"}}],"messages":[{{"from":"{WA_ID}","id":"{wamid}","timestamp":"1700000003","type":"document","document":{{"id":"{media_id}","mime_type":"text/markdown","filename":"{filename}","caption":"{caption}"}}}}]}}"#
        ),
    )
}

#[tokio::test]
async fn an_owner_adds_a_document_to_the_knowledge_base_with_a_caption() {
    let (h, graph) = start(false).await;
    let i = h.app(h.config(&[])).await.offline_integrations();
    let bot = consentgate::rights::export::bot_names(h.db())
        .await
        .unwrap()
        .into_iter()
        .find(|(_, n)| n == "whatsapp")
        .unwrap()
        .0;
    let code = i.invite(bot, Utc::now()).await.unwrap();
    let raw = text("wamid.k1", "Ivan", &format!("/claim {code}"));
    assert_eq!(post(&h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    let sent = wait_graph(&graph, 1).await;
    assert!(
        body_of(&sent[0]).contains("You are now an owner"),
        "{sent:?}"
    );
    let doc = b"# Hours\n\nWe open at 8 on weekdays and at 10 on Sundays.".to_vec();
    graph.put_media("media-kb", "text/markdown", doc);
    let raw = document("wamid.k2", "media-kb", "hours.md", "/kb add");
    assert_eq!(post(&h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    let sent = wait_graph(&graph, 2).await;
    assert!(body_of(&sent[1]).contains("Added hours.md"), "{sent:?}");
    assert_eq!(
        graph.media_requests().len(),
        2,
        "looked up, then downloaded"
    );
    let raw = text("wamid.k3", "Ivan", "/kb");
    assert_eq!(post(&h, &raw, Some(sign(&raw))).await, StatusCode::OK);
    let sent = wait_graph(&graph, 3).await;
    assert!(body_of(&sent[2]).contains("1. hours.md"), "{sent:?}");
    h.finish().await;
}
