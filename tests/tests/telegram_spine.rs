//! One message's whole route over Telegram: fake Bot API → gateway → fake LLM → fake Bot API.

mod common;

use std::time::Duration;

use common::*;
use consentgate_e2e::{LlmBehaviour, wait_for};
use consentgate_entity::consent_events;
use sea_orm::{EntityTrait, QueryOrder};

async fn telegram() -> Harness {
    Harness::start(Options {
        telegram: true,
        ..Default::default()
    })
    .await
}

/// Sends a first message and presses Agree; returns the number of messages the chat has so far.
async fn agree(h: &Harness, p: Person, first_update: i64) -> usize {
    h.telegram.push_update(text_update(first_update, p, "hi"));
    h.wait_sent(p.id, 1).await;
    let data = button_data(h, p.id, "Agree");
    h.telegram
        .push_update(button_update(first_update + 1, p, &data));
    h.wait_sent(p.id, 2).await.len()
}

#[tokio::test]
async fn message_without_consent_gets_prompt_and_is_neither_forwarded_nor_stored() {
    let h = telegram().await;
    h.telegram
        .push_update(text_update(1, IVAN, "my secret question about invoices"));

    let texts = h.wait_sent(IVAN.id, 1).await;
    assert!(texts[0].contains("Do you agree"), "{texts:?}");
    let prompt = &h.telegram.calls("sendMessage")[0];
    let buttons = &prompt.body["reply_markup"]["inline_keyboard"][0];
    assert_eq!(buttons[0]["text"], "Agree");
    assert_eq!(buttons[1]["text"], "Decline");

    // Give the pipeline a moment in case it (wrongly) forwards after replying.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(h.llm.requests().is_empty(), "the LLM received something");
    let dump = h.dump().await;
    assert!(!dump.contains("secret question"), "message text was stored");
    assert!(dump.contains("message.held"), "the hold was not audited");
    h.finish().await;
}

#[tokio::test]
async fn after_agreeing_messages_reach_the_llm_under_a_pseudonym_only() {
    let h = telegram().await;
    let before = agree(&h, IVAN, 1).await;
    let answered = h.telegram.calls("answerCallbackQuery");
    assert_eq!(answered.len(), 1, "the button press was not answered");
    assert_eq!(answered[0].body["callback_query_id"], "cbq-2");

    h.telegram
        .push_update(text_update(3, IVAN, "When do you open tomorrow?"));
    let texts = h.wait_sent(IVAN.id, before + 1).await;
    assert_eq!(texts.last().unwrap(), "LLM: When do you open tomorrow?");

    let requests = h.llm.requests();
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(
        req.body["user"].as_str().unwrap(),
        h.expected_pseudonym("telegram", &IVAN.id.to_string())
    );
    assert_eq!(req.body["model"], "fake-model");
    assert_eq!(req.authorization.as_deref(), Some("Bearer test-llm-key"));
    for leak in [
        IVAN.id.to_string(),
        IVAN.first_name.to_string(),
        IVAN.username.to_string(),
    ] {
        assert!(!req.raw.contains(&leak), "LLM request contains {leak}");
    }
    // The answer quotes the person's message.
    let last = h.telegram.calls("sendMessage").pop().unwrap();
    assert_eq!(last.body["reply_parameters"]["message_id"], 3);
    h.finish().await;
}

#[tokio::test]
async fn revoke_stops_forwarding_and_the_record_shows_grant_then_withdrawal() {
    let h = telegram().await;
    let mut n = agree(&h, IVAN, 1).await;
    h.telegram
        .push_update(text_update(3, IVAN, "first question"));
    n += 1;
    h.wait_sent(IVAN.id, n).await;
    assert_eq!(h.llm.requests().len(), 1);

    h.telegram.push_update(text_update(4, IVAN, "/revoke"));
    n += 1;
    let texts = h.wait_sent(IVAN.id, n).await;
    assert!(texts.last().unwrap().contains("withdrawn"), "{texts:?}");

    h.telegram
        .push_update(text_update(5, IVAN, "second question"));
    // A note that nothing was forwarded, then the prompt.
    let texts = h.wait_sent(IVAN.id, n + 2).await;
    assert!(texts.iter().skip(n).any(|t| t.contains("Do you agree")));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        h.llm.requests().len(),
        1,
        "a message after /revoke was forwarded"
    );

    let events = consent_events::Entity::find()
        .order_by_asc(consent_events::Column::Id)
        .all(h.db())
        .await
        .unwrap();
    let actions: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.action.as_str(), e.method.as_str()))
        .collect();
    assert_eq!(actions, vec![("given", "button"), ("withdrawn", "command")]);
    let policy_hash = &events[0].text_sha256;
    assert_eq!(policy_hash.len(), 64);
    assert_eq!(events[0].channel, "telegram");
    assert_eq!(
        events[0].platform_message_id.as_deref(),
        Some(h.expected_message_ref("telegram", "5002").as_str())
    );
    h.finish().await;
}

#[tokio::test]
async fn decline_is_recorded_and_nothing_is_forwarded() {
    let h = telegram().await;
    h.telegram.push_update(text_update(1, MARYAM, "hello"));
    h.wait_sent(MARYAM.id, 1).await;
    let data = button_data(&h, MARYAM.id, "Decline");
    h.telegram.push_update(button_update(2, MARYAM, &data));
    let texts = h.wait_sent(MARYAM.id, 2).await;
    assert!(texts[1].contains("Nothing you write"), "{texts:?}");
    h.telegram
        .push_update(text_update(3, MARYAM, "are you there"));
    h.wait_sent(MARYAM.id, 4).await;
    assert!(h.llm.requests().is_empty());
    let events = consent_events::Entity::find().all(h.db()).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, "refused");
    h.finish().await;
}

#[tokio::test]
async fn the_database_holds_no_telegram_id_or_name_in_clear() {
    let h = telegram().await;
    let n = agree(&h, IVAN, 1).await;
    h.telegram.push_update(text_update(3, IVAN, "question one"));
    h.wait_sent(IVAN.id, n + 1).await;

    let dump = h.dump().await;
    for leak in [
        IVAN.id.to_string(),
        IVAN.first_name.into(),
        IVAN.username.into(),
    ] {
        assert!(!dump.contains(&leak), "a table holds {leak}");
    }
    assert!(!dump.contains("question one"));
    if let Some(file) = &h.db.sqlite_file {
        // The raw bytes, including the write-ahead log, not only what queries return.
        let mut bytes = std::fs::read(file).unwrap();
        if let Ok(wal) = std::fs::read(file.with_extension("db-wal")) {
            bytes.extend(wal);
        }
        let needle = IVAN.id.to_string();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "the SQLite file holds the chat id in clear"
        );
        assert!(!bytes.windows(10).any(|w| w == b"question o"));
    }
    h.finish().await;
}

#[tokio::test]
async fn the_same_update_delivered_twice_is_answered_once() {
    let h = telegram().await;
    let n = agree(&h, IVAN, 1).await;
    let update = text_update(3, IVAN, "only once please");
    h.telegram.push_update(update.clone());
    h.wait_sent(IVAN.id, n + 1).await;
    // The platform delivers it again (a webhook retry, or a restart before the offset moved).
    h.telegram.redeliver(update);
    h.telegram.push_update(text_update(4, IVAN, "next"));
    h.wait_sent(IVAN.id, n + 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let texts = h.telegram.sent_texts(IVAN.id);
    assert_eq!(
        texts
            .iter()
            .filter(|t| *t == "LLM: only once please")
            .count(),
        1,
        "{texts:?}"
    );
    assert_eq!(h.llm.requests().len(), 2);
    h.finish().await;
}

#[tokio::test]
async fn malformed_and_unknown_updates_do_not_stop_the_poller() {
    let h = telegram().await;
    // A body that is not JSON at all, then updates that are wrong in different ways.
    h.telegram.garble_next_get_updates();
    h.telegram.push_raw(
        Some(1),
        r#"{"update_id": 1, "message": "not an object"}"#.into(),
    );
    h.telegram
        .push_raw(None, r#"{"no_update_id": true}"#.into());
    h.telegram.push_raw(
        Some(2),
        r#"{"update_id": 2, "brand_new_kind": {"x": 1}}"#.into(),
    );
    h.telegram.push_update(text_update(3, IVAN, "still there?"));
    let texts = h.wait_sent(IVAN.id, 1).await;
    assert!(texts[0].contains("Do you agree"));
    // Everything up to the good update was confirmed, so nothing is redelivered forever.
    let tg = h.telegram.clone();
    assert!(
        wait_for(WAIT, || {
            let pending = tg.pending();
            async move { (pending == 0).then_some(()) }
        })
        .await
        .is_some(),
        "updates were never confirmed"
    );
    h.finish().await;
}

#[tokio::test]
async fn provider_failure_and_timeout_get_a_polite_apology() {
    let h = Harness::start(Options {
        telegram: true,
        llm_timeout_secs: Some(1),
        ..Default::default()
    })
    .await;
    let mut n = agree(&h, IVAN, 1).await;

    h.llm.set(LlmBehaviour::Status(500));
    h.telegram
        .push_update(text_update(3, IVAN, "my card is 4111 1111"));
    n += 1;
    let texts = h.wait_sent(IVAN.id, n).await;
    assert!(
        texts
            .last()
            .unwrap()
            .starts_with("Sorry, the assistant can't answer")
    );

    h.llm.set(LlmBehaviour::Stall(Duration::from_secs(3)));
    h.telegram.push_update(text_update(4, IVAN, "hello again"));
    n += 1;
    let texts = h.wait_sent(IVAN.id, n).await;
    assert!(
        texts
            .last()
            .unwrap()
            .starts_with("Sorry, the assistant can't answer")
    );

    // The poller is still alive and the provider is used again once it recovers.
    h.llm.set(LlmBehaviour::Echo);
    h.telegram.push_update(text_update(5, IVAN, "third time"));
    n += 1;
    let texts = h.wait_sent(IVAN.id, n).await;
    assert_eq!(texts.last().unwrap(), "LLM: third time");
    let dump = h.dump().await;
    assert!(dump.contains("llm.failed"));
    // (A short digit run could occur by chance in the dump's hashes; the text cannot.)
    assert!(
        !dump.contains("card is 4111 1111"),
        "a failed message was stored"
    );
    assert!(!dump.contains("4111 1111"), "a failed message was stored");
    h.finish().await;
}

#[tokio::test]
async fn long_answers_are_split_and_the_gateway_never_deletes_a_webhook() {
    let h = telegram().await;
    let n = agree(&h, IVAN, 1).await;
    let long = "word ".repeat(1500); // 7,500 characters
    h.llm.set(LlmBehaviour::Fixed(long.clone()));
    h.telegram
        .push_update(text_update(3, IVAN, "tell me everything"));
    let texts = h.wait_sent(IVAN.id, n + 2).await;
    let parts = &texts[n..];
    assert_eq!(parts.len(), 2);
    assert!(parts.iter().all(|p| p.chars().count() <= 4096));
    // A Markdown answer's trailing spaces are not shown.
    assert_eq!(parts.concat(), long.trim_end());
    assert!(h.telegram.calls("deleteWebhook").is_empty());
    // The token travels only in the path segment the Bot API expects.
    assert!(
        h.telegram
            .requests()
            .iter()
            .all(|r| r.token_segment == format!("bot{TOKEN}"))
    );
    h.finish().await;
}

#[tokio::test]
async fn rights_commands_are_answered_without_consent() {
    let h = telegram().await;
    h.telegram.push_update(text_update(1, IVAN, "/privacy"));
    let texts = h.wait_sent(IVAN.id, 1).await;
    assert!(texts[0].contains("Privacy policy, version 1"), "{texts:?}");
    assert!(texts[0].contains("not decided (off)"), "{texts:?}");
    h.telegram.push_update(text_update(2, IVAN, "/revoke"));
    let texts = h.wait_sent(IVAN.id, 2).await;
    assert!(texts[1].contains("no active consent"));
    h.telegram.push_update(text_update(3, IVAN, "/frobnicate"));
    let texts = h.wait_sent(IVAN.id, 3).await;
    assert!(texts[2].contains("don't know /frobnicate"));
    h.telegram.push_update(text_update(4, IVAN, "/start"));
    let texts = h.wait_sent(IVAN.id, 4).await;
    assert!(texts[3].contains("Do you agree"));
    assert!(h.llm.requests().is_empty());
    h.finish().await;
}

#[tokio::test]
async fn a_blocked_send_does_not_stall_other_chats() {
    let h = telegram().await;
    h.telegram.fail_sends(
        1,
        403,
        serde_json::json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
    );
    h.telegram.push_update(text_update(1, IVAN, "hi"));
    h.telegram.push_update(text_update(2, MARYAM, "hi"));
    h.wait_sent(MARYAM.id, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Ivan's prompt was tried once, refused (blocked) and not retried; Maryam was answered.
    let to_ivan = h.telegram.sends_to(IVAN.id).len();
    assert_eq!(to_ivan, 1);
    h.finish().await;
}

#[tokio::test]
async fn a_changed_policy_asks_again_and_old_buttons_no_longer_count() {
    let mut h = telegram().await;
    let mut n = agree(&h, IVAN, 1).await;
    let old_agree = button_data(&h, IVAN.id, "Agree");
    h.telegram.push_update(text_update(3, IVAN, "before"));
    n += 1;
    h.wait_sent(IVAN.id, n).await;

    // A second AI provider changes the text of the `assistant` purpose: grants must be renewed.
    // The running gateway picks the new version up without a restart.
    let out = h
        .publish_policy(
            "New policy: we now also use a second AI provider.",
            "A second AI provider answers some questions.",
            &[("LLM_RECIPIENT", "FakeAI Inc. and SecondAI Ltd.")],
            false,
        )
        .await;
    assert!(out.contains("purposes to renew: assistant"), "{out}");
    h.telegram
        .push_update(text_update(4, IVAN, "after the change"));
    n += 2;
    let texts = h.wait_sent(IVAN.id, n).await;
    assert!(texts[n - 2].contains("policy has changed"), "{texts:?}");
    assert!(texts[n - 1].starts_with("New policy"), "{texts:?}");
    assert!(texts[n - 1].contains("SecondAI Ltd."), "{texts:?}");
    assert_eq!(h.llm.requests().len(), 1, "forwarded under the old grant");

    // A button from the old prompt does not grant the new version.
    h.telegram.push_update(button_update(5, IVAN, &old_agree));
    n += 3;
    let texts = h.wait_sent(IVAN.id, n).await;
    assert!(texts[n - 3].contains("earlier version"), "{texts:?}");

    let new_agree = button_data(&h, IVAN.id, "Agree");
    assert_ne!(new_agree, old_agree);
    h.telegram.push_update(button_update(6, IVAN, &new_agree));
    n += 1;
    h.wait_sent(IVAN.id, n).await;
    h.telegram.push_update(text_update(7, IVAN, "now?"));
    n += 1;
    let texts = h.wait_sent(IVAN.id, n).await;
    assert_eq!(texts.last().unwrap(), "LLM: now?");

    let events = consent_events::Entity::find()
        .order_by_asc(consent_events::Column::Id)
        .all(h.db())
        .await
        .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["given", "expired", "given"]);
    assert_eq!(events[1].method, "policy_change");
    assert_ne!(events[0].policy_version_id, events[2].policy_version_id);
    // Every button press was answered, the stale one included.
    assert_eq!(h.telegram.calls("answerCallbackQuery").len(), 3);
    assert_ne!(events[0].text_sha256, events[2].text_sha256);
    // A restart with the old configuration does not bring the old version back.
    h.restart(None).await;
    h.telegram.push_update(text_update(8, IVAN, "still?"));
    n += 1;
    let texts = h.wait_sent(IVAN.id, n).await;
    assert_eq!(texts.last().unwrap(), "LLM: still?");
    h.finish().await;
}

/// A version published for later takes effect at its time on the running gateway, though the
/// gateway keeps the version it last read: the number of the version in effect is read with the
/// person on every message.
#[tokio::test]
async fn a_version_published_for_later_takes_effect_at_its_time() {
    let h = telegram().await;
    let mut n = agree(&h, IVAN, 1).await;
    let effective = chrono::Utc::now() + chrono::Duration::seconds(8);
    let out = h
        .publish_policy_at(
            "Policy, second edition: a second AI provider.",
            "A second AI provider answers some questions.",
            &[("LLM_RECIPIENT", "FakeAI Inc. and SecondAI Ltd.")],
            &effective.to_rfc3339(),
        )
        .await;
    assert!(out.contains("purposes to renew: assistant"), "{out}");
    h.telegram.push_update(text_update(3, IVAN, "before"));
    n += 1;
    let texts = h.wait_sent(IVAN.id, n).await;
    assert_eq!(texts.last().unwrap(), "LLM: before", "{texts:?}");
    assert!(
        chrono::Utc::now() < effective,
        "the machine took 8 s to publish and answer; the test proves nothing"
    );

    let wait = effective - chrono::Utc::now() + chrono::Duration::milliseconds(300);
    tokio::time::sleep(wait.to_std().unwrap_or_default()).await;
    h.telegram.push_update(text_update(4, IVAN, "after"));
    n += 2;
    let texts = h.wait_sent(IVAN.id, n).await;
    assert!(texts[n - 2].contains("policy has changed"), "{texts:?}");
    assert!(texts[n - 1].contains("SecondAI Ltd."), "{texts:?}");
    assert_eq!(
        h.llm.requests().len(),
        1,
        "only the message before the change"
    );
    h.finish().await;
}

#[tokio::test]
async fn blocking_the_bot_marks_the_person_unreachable() {
    let h = telegram().await;
    h.telegram.push_update(text_update(1, IVAN, "hi"));
    h.wait_sent(IVAN.id, 1).await;
    h.telegram.push_update(serde_json::json!({
        "update_id": 2,
        "my_chat_member": {
            "chat": {"id": IVAN.id, "type": "private", "first_name": IVAN.first_name},
            "from": {"id": IVAN.id, "is_bot": false, "first_name": IVAN.first_name},
            "date": 1_700_000_000,
            "old_chat_member": {"user": {"id": 1, "is_bot": true, "first_name": "Fake"}, "status": "member"},
            "new_chat_member": {"user": {"id": 1, "is_bot": true, "first_name": "Fake"}, "status": "kicked", "until_date": 0}
        }
    }));
    let db = h.db().clone();
    let unreachable = wait_for(WAIT, || {
        let db = db.clone();
        async move {
            let subjects = consentgate_entity::subjects::Entity::find()
                .all(&db)
                .await
                .ok()?;
            (subjects.len() == 1 && !subjects[0].reachable).then_some(())
        }
    })
    .await;
    assert!(unreachable.is_some(), "the block was not recorded");
    assert_eq!(
        h.telegram.sent_texts(IVAN.id).len(),
        1,
        "something was sent after the block"
    );
    assert!(h.dump().await.contains("subject.blocked_bot"));
    h.finish().await;
}

#[tokio::test]
async fn an_update_whose_handling_was_cut_short_by_a_crash_is_answered_on_redelivery() {
    use consentgate_entity::{bots, processed_updates};
    use sea_orm::{ActiveModelTrait, ColumnTrait, QueryFilter, Set};

    let h = telegram().await;
    let bot = bots::Entity::find()
        .filter(bots::Column::Name.eq("telegram"))
        .one(h.db())
        .await
        .unwrap()
        .unwrap();
    // A claim taken ten minutes ago by a process that died before finishing.
    processed_updates::ActiveModel {
        bot_id: Set(bot.id),
        update_key: Set(h.expected_delivery_key("41")),
        processed_at: Set(chrono::Utc::now() - chrono::Duration::minutes(10)),
        completed: Set(false),
    }
    .insert(h.db())
    .await
    .unwrap();
    // And one taken a moment ago by a replica that is still working on it.
    processed_updates::ActiveModel {
        bot_id: Set(bot.id),
        update_key: Set(h.expected_delivery_key("42")),
        processed_at: Set(chrono::Utc::now()),
        completed: Set(false),
    }
    .insert(h.db())
    .await
    .unwrap();

    h.telegram
        .push_update(text_update(41, IVAN, "was I answered?"));
    h.telegram
        .push_update(text_update(42, MARYAM, "in progress elsewhere"));
    h.telegram.push_update(text_update(43, MARYAM, "next one"));
    let texts = h.wait_sent(IVAN.id, 1).await;
    assert!(texts[0].contains("Do you agree"));
    // Maryam's 42 is left to the replica working on it, and her 43 waits behind it: neither is
    // answered, and 42 is not confirmed (Telegram is to deliver it again).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(h.telegram.sent_texts(MARYAM.id).is_empty());
    assert!(
        h.telegram.pending() >= 2,
        "update 42 was confirmed unhandled"
    );
    // The replica finishes 42: its redelivery is a duplicate, and 43 is answered.
    processed_updates::Entity::update_many()
        .col_expr(
            processed_updates::Column::Completed,
            sea_orm::sea_query::Expr::value(true),
        )
        .filter(processed_updates::Column::UpdateKey.eq(h.expected_delivery_key("42")))
        .exec(h.db())
        .await
        .unwrap();
    h.wait_sent(MARYAM.id, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Maryam's update 42 belongs to the other claim and is not answered twice.
    assert_eq!(h.telegram.sent_texts(MARYAM.id).len(), 1);
    let claims = processed_updates::Entity::find().all(h.db()).await.unwrap();
    assert!(
        claims
            .iter()
            .filter(|c| c.update_key != h.expected_delivery_key("42"))
            .all(|c| c.completed)
    );
    h.finish().await;
}
