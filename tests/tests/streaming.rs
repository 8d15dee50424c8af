//! Streamed answers, end to end against a fake provider that streams (server-sent events) and
//! the fake Bot API: drafts while the answer grows and the restored answer after them, a
//! placeholder split across pieces never shown half, the `typing` fallback where drafts are
//! not available (remembered per bot), the web chat's answer growing in place, a stream that
//! breaks off finished by the next provider or ended with a note, and Markdown that is
//! unbalanced or holds HTML delivered safely.

mod common;

use std::time::Duration;

use common::*;
use consentgate_e2e::{FakeLlm, LlmBehaviour, telegram::parse_html, wait_for};
use consentgate_entity::{audit_log, egress_ledger};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Value, json};

fn pieces(p: &[&str]) -> Vec<String> {
    p.iter().map(|s| s.to_string()).collect()
}

async fn telegram() -> Harness {
    Harness::start(Options {
        telegram: true,
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn telegram_shows_drafts_as_the_answer_grows_then_the_restored_answer() {
    let h = telegram().await;
    agreed(&h, IVAN, false).await;
    // The placeholder arrives in two pieces, and the bold text opens before it closes.
    h.llm.set(LlmBehaviour::Pieces(
        pieces(&[
            "Thank you! I will call ",
            "[PHO",
            "NE_1] at ",
            "**noon",
            "** sharp.",
        ]),
        Duration::from_millis(600),
    ));
    h.telegram.push_update(text_update(
        3,
        IVAN,
        "Please call me on +7 912 345-67-89 tomorrow",
    ));
    let sent = h.wait_sent(IVAN.id, 3).await;
    let answer = "Thank you! I will call +7 912 345-67-89 at noon sharp.";
    assert_eq!(sent[2], answer);
    let last = h.telegram.sends_to(IVAN.id).pop().unwrap();
    assert_eq!(last.body["parse_mode"], "HTML");
    assert!(
        last.body["text"].as_str().unwrap().contains("<b>noon</b>"),
        "{}",
        last.body["text"]
    );

    // The provider was asked to stream and saw only the placeholder.
    let request = &h.llm.requests()[0];
    assert_eq!(request.body["stream"], true);
    assert!(request.raw.contains("[PHONE_1]"));
    assert!(!request.raw.contains("345-67-89"));

    // Drafts came before the message, as one animated draft, paced to the chat's limit, each
    // showing part of the answer as the person will read it: never a placeholder or half of
    // one.
    let drafts = h.telegram.drafts_to(IVAN.id);
    assert!(drafts.len() >= 2, "{drafts:?}");
    for (id, html, at) in &drafts {
        assert_eq!(*id, drafts[0].0, "one draft id per answer");
        assert_ne!(*id, 0);
        assert!(*at < last.at, "a draft after the answer");
        let seen = parse_html(html).expect("a draft the Bot API can parse");
        assert!(!seen.contains('[') && !seen.contains("PHO"), "{seen:?}");
        let seen = seen.replace('*', "");
        assert!(answer.starts_with(seen.trim_end()), "{seen:?}");
    }
    assert!(
        drafts
            .iter()
            .any(|(_, html, _)| html.contains("+7 912 345-67-89")),
        "{drafts:?}"
    );
    for pair in drafts.windows(2) {
        assert!(
            pair[1].2 - pair[0].2 >= Duration::from_millis(950),
            "drafts closer than the chat's one a second"
        );
    }
    h.finish().await;
}

#[tokio::test]
async fn without_drafts_the_chat_shows_typing_and_the_bot_remembers() {
    for status in [404, 400] {
        let h = telegram().await;
        h.telegram.refuse_drafts(status);
        agreed(&h, IVAN, false).await;
        // Long enough for the typing action to be shown again (it lasts about 5 s).
        h.llm.set(LlmBehaviour::Pieces(
            pieces(&["Good ", "morning, ", "how can ", "I help?"]),
            Duration::from_millis(1600),
        ));
        h.telegram.push_update(text_update(3, IVAN, "hello there"));
        let sent = h.wait_sent(IVAN.id, 3).await;
        assert_eq!(sent[2], "Good morning, how can I help?");
        let last = h.telegram.sends_to(IVAN.id).pop().unwrap();
        assert_eq!(h.telegram.calls("sendMessageDraft").len(), 1, "tried once");
        let typing = h.telegram.calls("sendChatAction");
        assert!(
            typing.len() >= 2,
            "typing shown again while written: {typing:?}"
        );
        assert!(typing.iter().all(|t| t.body["action"] == "typing"));
        assert!(typing.iter().all(|t| t.at < last.at));

        // Remembered for the bot: the next answer is not tried as a draft.
        h.llm.set(LlmBehaviour::Echo);
        h.telegram.push_update(text_update(4, IVAN, "thanks"));
        let sent = h.wait_sent(IVAN.id, 4).await;
        assert_eq!(sent[3], "LLM: thanks");
        assert_eq!(h.telegram.calls("sendMessageDraft").len(), 1);
        assert!(h.telegram.calls("sendChatAction").len() > typing.len());
        h.finish().await;
    }
}

#[tokio::test]
async fn unbalanced_markdown_and_html_from_the_model_reach_telegram_as_text() {
    let h = telegram().await;
    agreed(&h, IVAN, false).await;
    h.llm.set(LlmBehaviour::Fixed(
        "**Opening hours* are <9-5> & `weekdays, <b>see</b> [site](javascript:alert(1)) _soon"
            .into(),
    ));
    h.telegram.push_update(text_update(3, IVAN, "when?"));
    let sent = h.wait_sent(IVAN.id, 3).await;
    let last = h.telegram.sends_to(IVAN.id).pop().unwrap();
    assert_eq!(last.body["parse_mode"], "HTML");
    // The fake Bot API parses HTML as Telegram does: it took the message, so it was balanced.
    let seen = &sent[2];
    assert!(seen.contains("<9-5> & `weekdays, <b>see</b>"), "{seen}");
    assert!(seen.ends_with("site _soon"), "{seen}");
    assert!(!last.body["text"].as_str().unwrap().contains("javascript"));
    h.finish().await;
}

#[tokio::test]
async fn the_web_chat_answer_grows_in_place_and_arrives_as_safe_html() {
    let h = Harness::start(Options::default()).await;
    let (mut browser, _) = Browser::open(&h).await;
    let prompt = browser.say("hello").await;
    let agree = web_button(&prompt[0], "Agree");
    browser.press(&agree).await;

    h.llm.set(LlmBehaviour::Pieces(
        pieces(&[
            "Your order for ",
            "[EMA",
            "IL_1] is **ready",
            "**.\n\n<script>alert(1)</script>\n\n**unclosed",
        ]),
        Duration::from_millis(400),
    ));
    // The message is sent while the page long-polls, as the page does.
    let post = {
        let (http, base, cookie) = (h.http.clone(), h.base.clone(), browser.cookie.clone());
        tokio::spawn(async move {
            http.post(format!("{base}/webchat/api/messages"))
                .header(reqwest::header::COOKIE, cookie)
                .json(&json!({"text": "is the order for anna@example.org ready?"}))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    let poll = |after: u64, draft: u64| {
        let (http, base, cookie) = (h.http.clone(), h.base.clone(), browser.cookie.clone());
        async move {
            http.get(format!(
                "{base}/webchat/api/replies?after={after}&draft={draft}&wait=10"
            ))
            .header(reqwest::header::COOKIE, cookie)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
        }
    };
    let mut drafts: Vec<String> = Vec::new();
    let mut version = 0;
    let final_reply = loop {
        let got = poll(browser.seen, version).await;
        if let Some(reply) = got["replies"].as_array().and_then(|r| r.last()) {
            break reply.clone();
        }
        if let Some(draft) = got["draft"].as_object() {
            version = draft["version"].as_u64().unwrap();
            drafts.push(draft["html"].as_str().unwrap().to_string());
        }
        assert!(drafts.len() < 100);
    };
    assert_eq!(post.await.unwrap(), reqwest::StatusCode::ACCEPTED);
    assert!(drafts.len() >= 2, "{drafts:?}");
    assert!(
        drafts
            .iter()
            .all(|d| !d.contains("[EMA") && !d.contains("EMAIL"))
    );
    assert!(
        drafts.iter().any(|d| d.contains("anna@example.org")),
        "{drafts:?}"
    );
    // The answer: its text as written, and as HTML with every text escaped.
    let html = final_reply["html"].as_str().unwrap();
    assert_eq!(
        html,
        "<p>Your order for anna@example.org is <strong>ready</strong>.</p><p>&lt;script&gt;alert(1)&lt;/script&gt;</p><p>**unclosed</p>"
    );
    assert_eq!(final_reply["format"], "markdown");
    assert!(!h.llm.requests()[0].raw.contains("anna@example.org"));
    h.finish().await;
}

#[tokio::test]
async fn a_stream_broken_midway_is_finished_by_the_next_provider_or_ends_with_a_note() {
    let primary = FakeLlm::start().await;
    let spare = FakeLlm::start().await;
    let (h, _dir) = with_providers(
        &format!(
            r#"
[[llm.providers]]
name = "primary"
base_url = "{}"
model = "big-model"
recipient = "Primary AI Ltd (EU)"

[[llm.providers]]
name = "spare"
base_url = "{}"
model = "small-model"
recipient = "Spare AI Inc (USA)"
"#,
            primary.base_url, spare.base_url
        ),
        &[],
    )
    .await;
    agreed(&h, IVAN, false).await;

    // The first provider breaks off after half an answer: the second answers in full.
    primary.set(LlmBehaviour::BreaksAfter(
        pieces(&["We open at ", "nine and "]),
        Duration::from_millis(300),
    ));
    spare.set(LlmBehaviour::Fixed(
        "We open at nine and close at six.".into(),
    ));
    h.telegram.push_update(text_update(3, IVAN, "hours?"));
    let sent = h.wait_sent(IVAN.id, 3).await;
    assert_eq!(sent[2], "We open at nine and close at six.");
    let ledger = egress_ledger::Entity::find()
        .order_by_asc(egress_ledger::Column::Id)
        .all(h.db())
        .await
        .unwrap();
    let to: Vec<&str> = ledger.iter().map(|r| r.provider.as_str()).collect();
    assert_eq!(to, ["primary", "spare"]);
    let failed: Vec<String> = audit_log::Entity::find()
        .order_by_asc(audit_log::Column::Seq)
        .all(h.db())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "llm.failed")
        .map(|e| e.detail)
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].contains("broken") && failed[0].contains("primary"));

    // Both break off: what arrived is sent, said to be cut off, never silently short.
    spare.set(LlmBehaviour::BreaksAfter(
        pieces(&["Sunday: closed, ", "holidays: [PHO"]),
        Duration::from_millis(300),
    ));
    h.telegram.push_update(text_update(4, IVAN, "and sunday?"));
    let sent = h.wait_sent(IVAN.id, 4).await;
    assert!(sent[3].starts_with("Sunday: closed, holidays:"), "{sent:?}");
    assert!(!sent[3].contains("[PHO"), "{sent:?}");
    assert!(sent[3].contains("The answer was cut off"), "{sent:?}");
    h.finish().await;
}

#[tokio::test]
async fn an_answer_the_provider_stopped_early_says_so() {
    let h = telegram().await;
    agreed(&h, IVAN, false).await;
    for (n, reason, note) in [
        (
            3,
            "content_filter",
            "stopped this answer before it was finished",
        ),
        (4, "length", "length limit"),
    ] {
        h.llm.set(LlmBehaviour::Stops(
            pieces(&["Here is ", "the first part"]),
            reason.to_string(),
        ));
        h.telegram.push_update(text_update(n, IVAN, "tell me"));
        let sent = h.wait_sent(IVAN.id, n as usize).await;
        let last = sent.last().unwrap();
        assert!(last.starts_with("Here is the first part"), "{last}");
        assert!(last.contains(note), "{last}");
    }
    h.finish().await;
}

#[tokio::test]
async fn a_provider_that_does_not_stream_still_answers() {
    let h = telegram().await;
    agreed(&h, IVAN, false).await;
    h.llm
        .set(LlmBehaviour::Whole("A whole answer, at once.".into()));
    h.telegram.push_update(text_update(3, IVAN, "hi again"));
    let sent = h.wait_sent(IVAN.id, 3).await;
    assert_eq!(sent[2], "A whole answer, at once.");
    // The whole answer still showed as a draft first.
    let drafts = wait_for(WAIT, || {
        let d = h.telegram.drafts_to(IVAN.id);
        async move { (!d.is_empty()).then_some(d) }
    })
    .await
    .unwrap();
    assert!(drafts[0].1.contains("A whole answer"));
    h.finish().await;
}
