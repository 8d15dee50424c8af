//! Telegram groups: the bot answers only when addressed (a command, a mention, a reply to it);
//! consent is per person, asked in a private chat, never in front of the group.

mod common;

use std::time::Duration;

use common::*;
use consentgate_entity::subjects;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

const GROUP: i64 = -100_200_300;

fn in_group(mut update: Value) -> Value {
    update["message"]["chat"] = json!({"id": GROUP, "type": "supergroup", "title": "Shop fans"});
    update
}

#[tokio::test]
async fn the_bot_answers_in_groups_only_when_addressed_and_asks_for_consent_in_private() {
    let h = Harness::start(Options {
        telegram: true,
        ..Default::default()
    })
    .await;
    // Chatter not meant for the bot: no answer, nothing stored, nothing forwarded.
    h.telegram.push_update(in_group(text_update(
        1,
        IVAN,
        "anyone seen the new prices?",
    )));
    h.telegram
        .push_update(in_group(text_update(2, IVAN, "/help@some_other_bot")));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        h.telegram.sends_to(GROUP).is_empty(),
        "{:?}",
        h.telegram.sent_texts(GROUP)
    );
    assert_eq!(subjects::Entity::find().count(h.db()).await.unwrap(), 0);

    // Addressed by mention, before any consent: sent to a private chat, no prompt in public.
    h.telegram.push_update(in_group(text_update(
        3,
        IVAN,
        "@fake_bot what are your prices?",
    )));
    let group = h.wait_sent(GROUP, 1).await;
    assert!(
        group[0].contains("https://t.me/fake_bot?start=consent"),
        "{group:?}"
    );
    assert!(!group[0].contains("Do you agree"));
    assert!(h.llm.requests().is_empty());
    // /start in the group points the same way.
    h.telegram
        .push_update(in_group(text_update(4, IVAN, "/start")));
    let group = h.wait_sent(GROUP, 2).await;
    assert!(group[1].contains("private chat"), "{group:?}");

    // Ivan decides in private (the deep link's /start consent) …
    h.telegram
        .push_update(text_update(5, IVAN, "/start consent"));
    h.wait_sent(IVAN.id, 1).await;
    let agree = button_data(&h, IVAN.id, "Agree");
    h.telegram.push_update(button_update(6, IVAN, &agree));
    h.wait_sent(IVAN.id, 2).await;

    // … and is answered in the group when he addresses the bot; the mention is not forwarded.
    h.telegram.push_update(in_group(text_update(
        7,
        IVAN,
        "@fake_bot what are your prices?",
    )));
    let group = h.wait_sent(GROUP, 3).await;
    assert_eq!(group[2], "LLM: what are your prices?");
    assert!(!h.llm.requests()[0].raw.contains("fake_bot"));
    // Drafts are for private chats: the group is shown `typing` while the answer is written.
    assert!(h.telegram.drafts_to(GROUP).is_empty());
    assert!(
        h.telegram
            .calls("sendChatAction")
            .iter()
            .any(|c| c.body["chat_id"] == GROUP && c.body["action"] == "typing")
    );
    // A reply to the bot's message counts as addressing it.
    let mut reply = in_group(text_update(8, IVAN, "and delivery?"));
    reply["message"]["reply_to_message"] = json!({
        "message_id": 1, "date": 1_700_000_000,
        "chat": {"id": GROUP, "type": "supergroup", "title": "Shop fans"},
        "from": {"id": 1, "is_bot": true, "first_name": "Fake", "username": "fake_bot"},
        "text": "LLM: what are your prices?"
    });
    h.telegram.push_update(reply);
    let group = h.wait_sent(GROUP, 4).await;
    assert_eq!(group[3], "LLM: and delivery?");
    // Maryam, who never consented, is not prompted in public either.
    h.telegram
        .push_update(in_group(text_update(9, MARYAM, "@fake_bot hello")));
    let group = h.wait_sent(GROUP, 5).await;
    assert!(group[4].contains("private chat"), "{group:?}");
    assert_eq!(h.llm.requests().len(), 2);
    h.finish().await;
}

#[tokio::test]
async fn paths_and_other_bots_mentions_are_not_addressed_to_the_bot() {
    let h = Harness::start(Options {
        telegram: true,
        ..Default::default()
    })
    .await;
    agreed(&h, IVAN, false).await;
    // A path: Telegram marks `/srv` as a bot command, but the word is `/srv/shop/prices.csv`.
    let mut path = in_group(text_update(3, IVAN, "/srv/shop/prices.csv is out of date"));
    path["message"]["entities"] = json!([{"type": "bot_command", "offset": 0, "length": 4}]);
    h.telegram.push_update(path);
    // Another bot whose name begins with ours.
    h.telegram
        .push_update(in_group(text_update(4, IVAN, "@fake_bot_x please do this")));
    // A text starting with a slash and no entity at all.
    let mut bare = in_group(text_update(5, IVAN, "/shrug"));
    bare["message"].as_object_mut().unwrap().remove("entities");
    h.telegram.push_update(bare);
    // Then one that is for the bot, in any case, to show the others were read and passed over.
    h.telegram
        .push_update(in_group(text_update(6, IVAN, "@Fake_Bot, prices?")));
    let group = h.wait_sent(GROUP, 1).await;
    assert_eq!(group, vec!["LLM: prices?".to_string()]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.telegram.sent_texts(GROUP).len(), 1);
    assert_eq!(h.llm.requests().len(), 1);
    h.finish().await;
}

fn button_in_group(mut update: Value) -> Value {
    update["callback_query"]["message"]["chat"] =
        json!({"id": GROUP, "type": "supergroup", "title": "Shop fans"});
    update
}

async fn events_of(h: &Harness, action: &str) -> usize {
    consentgate_entity::consent_events::Entity::find()
        .all(h.db())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action)
        .count()
}

#[tokio::test]
async fn choices_are_neither_shown_nor_made_in_groups_and_buttons_belong_to_their_person() {
    let h = Harness::start(Options {
        telegram: true,
        ..Default::default()
    })
    .await;
    // Ivan agrees in private and turns history on.
    let agree = agreed(&h, IVAN, true).await;
    let granted = events_of(&h, "given").await;
    assert_eq!(granted, 2);

    // /privacy in the group shows nothing of his choices there.
    h.telegram
        .push_update(in_group(text_update(4, IVAN, "/privacy")));
    let group = h.wait_sent(GROUP, 1).await;
    assert!(group[0].contains("private chat"), "{group:?}");
    assert!(!group[0].to_lowercase().contains("history"), "{group:?}");

    // Maryam, never asked, presses data typed by hand: nothing is granted.
    h.telegram.push_update(text_update(5, MARYAM, "hello"));
    h.wait_sent(MARYAM.id, 1).await;
    h.telegram
        .push_update(button_update(6, MARYAM, "c:req:y:1"));
    let told = h.wait_sent(MARYAM.id, 2).await;
    assert!(told[1].contains("not shown to you"), "{told:?}");
    // Nor with Ivan's own button, copied into her chat.
    h.telegram.push_update(button_update(7, MARYAM, &agree));
    let told = h.wait_sent(MARYAM.id, 3).await;
    assert!(told[2].contains("not shown to you"), "{told:?}");
    // A genuine optional button of hers before she agreed to the assistant: purposes keep order.
    let marketing = consentgate::pipeline::buttons::for_person(
        &consentgate::privacy::keys::HmacKey::parse("PSEUDONYM_KEY", &h.keys.pseudonym).unwrap(),
        "telegram",
        consentgate_adapters::ChannelKind::Telegram,
        &MARYAM.id.to_string(),
        "c:marketing:y:1",
    );
    h.telegram.push_update(button_update(8, MARYAM, &marketing));
    let told = h.wait_sent(MARYAM.id, 4).await;
    assert!(told[3].contains("main purpose first"), "{told:?}");
    assert_eq!(
        events_of(&h, "given").await,
        granted,
        "someone was granted consent"
    );

    // A consent or erasure button pressed on a group message is refused there.
    let erase = consentgate::pipeline::buttons::for_person(
        &consentgate::privacy::keys::HmacKey::parse("PSEUDONYM_KEY", &h.keys.pseudonym).unwrap(),
        "telegram",
        consentgate_adapters::ChannelKind::Telegram,
        &IVAN.id.to_string(),
        "erase:confirm",
    );
    h.telegram
        .push_update(button_in_group(button_update(9, IVAN, &erase)));
    let group = h.wait_sent(GROUP, 2).await;
    assert!(group[1].contains("private chat"), "{group:?}");

    // /revoke in the group takes effect, and the group hears only "noted".
    h.telegram
        .push_update(in_group(text_update(10, IVAN, "/revoke")));
    let group = h.wait_sent(GROUP, 3).await;
    assert!(group[2].starts_with("Noted"), "{group:?}");
    assert!(!group[2].contains("withdrawn"), "{group:?}");
    assert_eq!(events_of(&h, "withdrawn").await, 2);
    let audit = consentgate_entity::audit_log::Entity::find()
        .all(h.db())
        .await
        .unwrap();
    assert!(!audit.iter().any(|a| a.action == "erasure.requested"));
    h.finish().await;
}

#[tokio::test]
async fn a_private_conversation_is_never_context_in_a_group_nor_the_other_way() {
    let h = Harness::start(Options {
        telegram: true,
        ..Default::default()
    })
    .await;
    agreed(&h, IVAN, true).await;
    // In private, with history on: personal details.
    h.telegram.push_update(text_update(
        4,
        IVAN,
        "my phone is +7 912 345-67-89 and my diagnosis is asthma",
    ));
    h.wait_sent(IVAN.id, 4).await;
    // In the group: the private exchange does not go along as context.
    h.telegram.push_update(in_group(text_update(
        5,
        IVAN,
        "@fake_bot what did I tell you?",
    )));
    let group = h.wait_sent(GROUP, 1).await;
    assert_eq!(group[0], "LLM: what did I tell you?");
    let sent = &h.llm.requests()[1];
    let messages = sent.body["messages"].as_array().unwrap();
    assert!(
        !sent.raw.contains("asthma") && !sent.raw.contains("PHONE"),
        "{}",
        sent.raw
    );
    assert_eq!(
        messages.iter().filter(|m| m["role"] == "user").count(),
        1,
        "{messages:?}"
    );
    // Back in private: the private exchange is context, the group's is not.
    h.telegram.push_update(text_update(6, IVAN, "and now?"));
    h.wait_sent(IVAN.id, 5).await;
    let sent = &h.llm.requests()[2];
    assert!(sent.raw.contains("asthma"), "{}", sent.raw);
    assert!(!sent.raw.contains("what did I tell you"), "{}", sent.raw);
    // A second group message has the first group exchange as its context.
    h.telegram.push_update(in_group(text_update(
        7,
        IVAN,
        "@fake_bot and in the group?",
    )));
    h.wait_sent(GROUP, 2).await;
    let sent = &h.llm.requests()[3];
    assert!(sent.raw.contains("what did I tell you"), "{}", sent.raw);
    assert!(!sent.raw.contains("asthma"), "{}", sent.raw);
    h.finish().await;
}

#[tokio::test]
async fn a_withdrawal_or_erasure_applies_to_the_group_message_after_it_in_the_same_batch() {
    let h = Harness::start(Options {
        telegram: true,
        ..Default::default()
    })
    .await;
    let mut u = 0;
    let mut next = || {
        u += 1;
        u
    };
    for trial in 0..4i64 {
        let p = Person {
            id: 900_000_000 + trial,
            first_name: "Trial",
            username: "trial_person",
        };
        h.telegram.push_update(text_update(next(), p, "hi"));
        h.wait_sent(p.id, 1).await;
        let agree = button_data(&h, p.id, "Agree");
        h.telegram.push_update(button_update(next(), p, &agree));
        h.wait_sent(p.id, 2).await;
        // The decision in private, and right behind it, in the same getUpdates batch, a group
        // message: Telegram orders them so, and so must the gateway.
        let decision = if trial < 3 {
            text_update(next(), p, "/revoke")
        } else {
            h.telegram.push_update(text_update(next(), p, "/delete"));
            h.wait_sent(p.id, 3).await;
            let confirm = h
                .telegram
                .buttons_sent_to(p.id)
                .into_iter()
                .map(|(_, data)| data)
                .rfind(|d| d.starts_with("erase:confirm"))
                .unwrap();
            button_update(next(), p, &confirm)
        };
        let before = h.telegram.sent_texts(GROUP).len();
        h.telegram.push_batch(&[
            decision,
            in_group(text_update(next(), p, "@fake_bot are you still there?")),
        ]);
        h.wait_sent(GROUP, before + 1).await;
    }
    assert_eq!(
        h.llm.requests().len(),
        0,
        "forwarded after a withdrawal: {:?}",
        h.llm
            .requests()
            .iter()
            .map(|r| r.raw.clone())
            .collect::<Vec<_>>()
    );
    h.finish().await;
}

#[tokio::test]
async fn a_renewal_offer_is_never_posted_in_a_group() {
    let h = Harness::start(Options {
        telegram: true,
        ..Default::default()
    })
    .await;
    agreed(&h, IVAN, true).await;
    // The history purpose's text changes.
    let mut config = h.config(&[]);
    for p in &mut config.purposes {
        if p.name == "history" {
            p.text = "Your messages are stored encrypted for up to 60 days.".into();
        }
    }
    h.publish_with(
        &config,
        "Policy, second edition.",
        "History is kept longer.",
        false,
    )
    .await;
    // Ivan's next message is in the group: the grant expires (recorded), the answer comes, and
    // the offer, which would tell the group he had history on, is not posted there.
    h.telegram
        .push_update(in_group(text_update(4, IVAN, "@fake_bot hello again")));
    let group = h.wait_sent(GROUP, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        h.telegram.sent_texts(GROUP),
        vec!["LLM: hello again".to_string()]
    );
    assert!(h.telegram.buttons_sent_to(GROUP).is_empty(), "{group:?}");
    assert_eq!(events_of(&h, "expired").await, 1);
    h.finish().await;
}
