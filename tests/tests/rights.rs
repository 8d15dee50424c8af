//! Data-subject rights end to end, over the fake Telegram and the web chat: purposes chosen one
//! by one, /privacy, /consent, /revoke, /export, /delete and /restore, STOP and START, renewal
//! after a policy change, and retention. Runs on SQLite, and on PostgreSQL when
//! TEST_DATABASE_URL is set.

mod common;

use chrono::{Duration, Utc};
use common::*;
use consentgate::{
    audit::verify::verify, privacy::keys::HmacKey, rights::retention::PURGED_NOTICE,
};
use consentgate_entity::{
    channel_identities, consent_events, conversation_messages, egress_ledger, subjects,
};
use sea_orm::{EntityTrait, PaginatorTrait, QueryOrder};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Update ids, unique across the people of a test (the bot dedupes by update id).
static NEXT_UPDATE: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);

fn next_update() -> i64 {
    NEXT_UPDATE.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
}

/// One person's chat with the bot on the fake Telegram.
struct Chat<'a> {
    h: &'a Harness,
    who: Person,
    seen: usize,
}

impl<'a> Chat<'a> {
    fn new(h: &'a Harness, who: Person) -> Self {
        Chat { h, who, seen: 0 }
    }

    /// Sends `text` and returns the `n` messages it brought.
    async fn say(&mut self, text: &str, n: usize) -> Vec<String> {
        self.h
            .telegram
            .push_update(text_update(next_update(), self.who, text));
        self.wait(n).await
    }

    /// Presses the latest button labelled `label` and returns the `n` messages it brought.
    async fn press(&mut self, label: &str, n: usize) -> Vec<String> {
        let data = button_data(self.h, self.who.id, label);
        self.h
            .telegram
            .push_update(button_update(next_update(), self.who, &data));
        self.wait(n).await
    }

    async fn wait(&mut self, n: usize) -> Vec<String> {
        let texts = self.h.wait_sent(self.who.id, self.seen + n).await;
        let new = texts[self.seen..].to_vec();
        self.seen = texts.len();
        new
    }

    async fn agree(&mut self) {
        let prompt = self.say("hi", 1).await;
        assert!(prompt[0].contains("Do you agree"), "{prompt:?}");
        self.press("Agree", 1).await;
    }
}

async fn telegram(extra_env: &[(&str, &str)]) -> Harness {
    Harness::start(Options {
        telegram: true,
        extra_env: extra_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    })
    .await
}

async fn events(h: &Harness) -> Vec<consent_events::Model> {
    consent_events::Entity::find()
        .order_by_asc(consent_events::Column::Id)
        .all(h.db())
        .await
        .unwrap()
}

async fn stored_messages(h: &Harness) -> u64 {
    conversation_messages::Entity::find()
        .count(h.db())
        .await
        .unwrap()
}

#[tokio::test]
async fn purposes_are_chosen_one_by_one_and_only_history_keeps_text() {
    let h = telegram(&[]).await;
    let mut ivan = Chat::new(&h, IVAN);
    let prompt = ivan.say("hi", 1).await;
    // The prompt names the recipient of the messages and asks only for the required purpose.
    assert!(
        prompt[0].contains("the AI service at 127.0.0.1"),
        "{prompt:?}"
    );
    assert!(!prompt[0].contains("Keeping our conversation"));
    let thanks = ivan.press("Agree", 1).await;
    assert!(thanks[0].starts_with("Thank you"), "{thanks:?}");
    assert!(
        thanks[0].contains("Optional choices, each off"),
        "{thanks:?}"
    );
    // Each optional purpose has its own buttons; none was turned on by agreeing.
    for label in [
        "history: yes",
        "history: no",
        "marketing: yes",
        "marketing: no",
    ] {
        button_data(&h, IVAN.id, label);
    }
    let given: Vec<String> = events(&h).await.into_iter().map(|e| e.purpose).collect();
    assert_eq!(given, ["assistant"]);

    // Assistant only: answered, and no message text is stored anywhere.
    let answer = ivan.say("my secret plan is tulips", 1).await;
    assert_eq!(answer[0], "LLM: my secret plan is tulips");
    assert_eq!(stored_messages(&h).await, 0);
    assert!(!h.dump().await.contains("tulips"));

    // With history: stored encrypted, and sent back as context.
    let on = ivan.press("history: yes", 1).await;
    assert!(on[0].contains("is on"), "{on:?}");
    ivan.say("remember the code word marigold", 1).await;
    assert_eq!(stored_messages(&h).await, 2);
    assert!(!h.dump().await.contains("marigold"), "stored in clear");
    ivan.say("what was the code word?", 1).await;
    let last = h.llm.requests().last().unwrap().body.clone();
    let roles: Vec<&str> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(
        last["messages"][1]["content"],
        "remember the code word marigold"
    );
    // Context is redacted like the message: Ivan's name never leaves.
    ivan.say("I am Ivanushka by the way", 1).await;
    ivan.say("and who am I?", 1).await;
    let raw = h.llm.requests().last().unwrap().raw.clone();
    assert!(!raw.contains("Ivanushka"), "{raw}");
    assert!(raw.contains("[PERSON_1]"), "{raw}");
    // After a rename the old name stays redacted in the context, the new one in the message.
    ivan.who.first_name = "Zhorzhetta";
    ivan.say("Zhorzhetta is my name now", 1).await;
    let raw = h.llm.requests().last().unwrap().raw.clone();
    assert!(
        !raw.contains("Ivanushka"),
        "old name in clear after a rename: {raw}"
    );
    assert!(!raw.contains("Zhorzhetta"), "{raw}");
    assert!(raw.contains("I am [PERSON_"), "{raw}");
    assert!(
        !h.dump().await.contains("Ivanushka"),
        "names stored in clear"
    );

    // /privacy shows each choice; /privacy history lists the versions.
    let privacy = ivan.say("/privacy", 1).await;
    assert!(
        privacy[0].contains("Keeping our conversation: on since"),
        "{privacy:?}"
    );
    assert!(privacy[0].contains("News and offers: not decided (off)"));
    let history = ivan.say("/privacy history", 1).await;
    assert!(history[0].contains("Version 1"), "{history:?}");
    assert!(history[0].contains("in effect"));

    // /consent turns history off again, and the stored conversation goes with it.
    let overview = ivan.say("/consent", 1).await;
    assert!(overview[0].contains("one per purpose"), "{overview:?}");
    let off = ivan.press("Turn off history", 1).await;
    assert!(off[0].contains("is off"), "{off:?}");
    assert!(off[0].contains("10 stored messages"), "{off:?}");
    assert_eq!(stored_messages(&h).await, 0);

    // /revoke withdraws everything at once; then nothing is forwarded.
    let before = h.llm.requests().len();
    let revoked = ivan.say("/revoke", 1).await;
    assert!(revoked[0].contains("All your consent is withdrawn"));
    let held = ivan.say("hello?", 2).await;
    assert!(held[1].contains("Do you agree"), "{held:?}");
    assert_eq!(h.llm.requests().len(), before);
    let actions: Vec<(String, String)> = events(&h)
        .await
        .into_iter()
        .map(|e| (e.purpose, e.action))
        .collect();
    assert_eq!(
        actions,
        [
            ("assistant".into(), "given".into()),
            ("history".into(), "given".into()),
            ("history".into(), "withdrawn".into()),
            ("assistant".into(), "withdrawn".into()),
        ]
    );
    let help = ivan.say("/help", 1).await;
    assert!(help[0].contains("/export"));
    h.finish().await;
}

#[tokio::test]
async fn stop_and_start_change_only_marketing() {
    let h = telegram(&[]).await;
    let mut ivan = Chat::new(&h, IVAN);
    ivan.agree().await;
    let on = ivan.press("marketing: yes", 1).await;
    assert!(on[0].contains("News and offers"), "{on:?}");
    let stop = ivan.say("STOP", 1).await;
    assert!(stop[0].contains("no marketing messages"), "{stop:?}");
    let again = ivan.say("stop", 1).await;
    assert!(again[0].contains("already unsubscribed"), "{again:?}");
    let start = ivan.say("START", 1).await;
    assert!(
        start[0].contains("news and offers from us again"),
        "{start:?}"
    );
    let stop = ivan.say("/stop", 1).await;
    assert!(stop[0].contains("no marketing messages"), "{stop:?}");
    // STOP and START never reach the assistant, and the assistant purpose is untouched.
    assert!(h.llm.requests().is_empty());
    let answer = ivan.say("still there?", 1).await;
    assert_eq!(answer[0], "LLM: still there?");
    let marketing: Vec<(String, String)> = events(&h)
        .await
        .into_iter()
        .filter(|e| e.purpose == "marketing")
        .map(|e| (e.action, e.method))
        .collect();
    assert_eq!(
        marketing,
        [
            ("given".into(), "button".into()),
            ("withdrawn".into(), "keyword".into()),
            ("given".into(), "keyword".into()),
            ("withdrawn".into(), "command".into()),
        ]
    );

    // The record, as the operator prints it for a regulator.
    let pseudonym = h.expected_pseudonym("telegram", &IVAN.id.to_string());
    let text = consentgate::cli::consent::show(h.db(), &pseudonym[..10], false)
        .await
        .unwrap();
    assert!(text.contains(&pseudonym), "{text}");
    assert!(text.contains("marketing    withdrawn"), "{text}");
    assert!(text.contains("via telegram keyword"), "{text}");
    let json: Value = serde_json::from_str(
        &consentgate::cli::consent::show(h.db(), &pseudonym, true)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(json["events"].as_array().unwrap().len(), 5);
    assert_eq!(json["events"][0]["text_sha256"].as_str().unwrap().len(), 64);
    assert!(
        consentgate::cli::consent::show(h.db(), "zz", false)
            .await
            .is_err()
    );
    h.finish().await;
}

#[tokio::test]
async fn export_on_telegram_is_a_document_with_every_category_and_no_secret() {
    let h = telegram(&[]).await;
    let mut ivan = Chat::new(&h, IVAN);
    ivan.agree().await;
    ivan.press("history: yes", 1).await;
    ivan.say("my favourite flower is the marigold", 1).await;
    ivan.say("/export", 0).await;
    let docs = consentgate_e2e::wait_for(WAIT, || {
        let docs = h.telegram.documents_to(IVAN.id);
        async move { (!docs.is_empty()).then_some(docs) }
    })
    .await
    .expect("an export document");
    let (file_name, content, caption) = &docs[0];
    assert!(file_name.ends_with(".json"), "{file_name}");
    assert!(caption.as_deref().unwrap().contains("as JSON"));
    let export: Value = serde_json::from_str(content).unwrap();
    assert_eq!(export["format"], "consentgate-export-v1");
    // Identity rows, decrypted: it is Ivan's own data.
    assert_eq!(export["identities"][0]["user_id"], IVAN.id.to_string());
    assert_eq!(export["identities"][0]["chat_id"], IVAN.id.to_string());
    assert_eq!(
        export["subject"]["pseudonym"],
        h.expected_pseudonym("telegram", &IVAN.id.to_string())
    );
    // Consent: the history and where each purpose stands now.
    let history = export["consent"]["history"].as_array().unwrap();
    assert_eq!(history[0]["purpose"], "assistant");
    assert_eq!(history[0]["method"], "button");
    assert_eq!(export["consent"]["current"]["telegram"]["history"], "given");
    assert_eq!(
        export["consent"]["current"]["telegram"]["marketing"],
        "not_asked"
    );
    // The stored conversation.
    let conversation = export["conversation"].as_array().unwrap();
    assert_eq!(
        conversation[0]["text"],
        "my favourite flower is the marigold"
    );
    assert_eq!(conversation[1]["role"], "assistant");
    assert_eq!(export["integrations"], Value::Array(Vec::new()));
    let audit: Vec<&str> = export["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert!(audit.contains(&"consent.given"), "{audit:?}");
    assert!(audit.contains(&"message.forwarded"));
    // The egress ledger proves exactly what left: the SHA-256 of the bytes the provider got.
    let egress = export["egress"].as_array().unwrap();
    assert_eq!(egress.len(), 1);
    assert_eq!(egress[0]["model"], "fake-model");
    let sent = &h.llm.requests()[0].raw;
    assert_eq!(
        egress[0]["payload_sha256"],
        hex::encode(Sha256::digest(sent.as_bytes()))
    );
    // Never a token or a key.
    for secret in [
        TOKEN,
        h.keys.fernet.as_str(),
        h.keys.pseudonym.as_str(),
        h.keys.audit.as_str(),
        "test-llm-key",
    ] {
        assert!(!content.contains(secret), "the export holds a secret");
    }
    h.finish().await;
}

#[tokio::test]
async fn export_on_the_web_chat_is_a_one_time_link() {
    let h = Harness::start(Options::default()).await;
    let (mut browser, _) = Browser::open(&h).await;
    let prompt = browser.say("hello").await;
    browser.press(&web_button(&prompt[0], "Agree")).await;
    browser.say("a question").await;
    let replies = browser.say("/export").await;
    let text = replies[0]["text"].as_str().unwrap();
    let url = text
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("a link in {text}"));
    assert!(url.starts_with(&format!("{}/export/", h.base)), "{url}");
    // The link is no use without the token: a guess is refused.
    let guess = h
        .http
        .get(format!("{}/export/{}", h.base, "A".repeat(43)))
        .send()
        .await
        .unwrap();
    assert_eq!(guess.status(), reqwest::StatusCode::GONE);
    let first = h.http.get(url).send().await.unwrap();
    assert_eq!(first.status(), reqwest::StatusCode::OK);
    assert_eq!(first.headers()["cache-control"], "no-store");
    assert!(
        first.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let export: Value = first.json().await.unwrap();
    assert_eq!(export["identities"][0]["channel"], "webchat");
    assert_eq!(export["egress"].as_array().unwrap().len(), 1);
    // Once only.
    let second = h.http.get(url).send().await.unwrap();
    assert_eq!(second.status(), reqwest::StatusCode::GONE);
    // Only the token's hash is stored.
    let token = url.rsplit('/').next().unwrap();
    assert!(!h.dump().await.contains(token));
    h.finish().await;
}

#[tokio::test]
async fn delete_blocks_at_once_restore_undoes_it_and_the_purge_follows_the_grace_period() {
    let h = telegram(&[]).await;
    let mut ivan = Chat::new(&h, IVAN);
    let mut maryam = Chat::new(&h, MARYAM);
    ivan.agree().await;
    maryam.agree().await;
    ivan.say("first question", 1).await;

    let confirm = ivan.say("/delete", 1).await;
    assert!(confirm[0].contains("after 30 days"), "{confirm:?}");
    let scheduled = ivan.press("Yes, delete", 1).await;
    assert!(scheduled[0].contains("/restore"), "{scheduled:?}");
    // Blocked at once: nothing is forwarded, not even with consent on record.
    let before = h.llm.requests().len();
    let pending = ivan.say("are you there?", 1).await;
    assert!(pending[0].contains("scheduled for deletion"), "{pending:?}");
    let pending = ivan.say("/privacy", 1).await;
    assert!(pending[0].contains("scheduled for deletion"), "{pending:?}");
    assert_eq!(h.llm.requests().len(), before);

    // /restore undoes it, with the earlier choices.
    let restored = ivan.say("/restore", 1).await;
    assert!(restored[0].contains("cancelled"), "{restored:?}");
    let answer = ivan.say("back again", 1).await;
    assert_eq!(answer[0], "LLM: back again");

    // Deleted for good this time: nothing happens before the grace period ends.
    ivan.say("/delete", 1).await;
    ivan.press("Yes, delete", 1).await;
    let early = h.retention(Utc::now() + Duration::days(29), false).await;
    assert!(early.contains("erased"), "{early}");
    assert_eq!(subjects::Entity::find().count(h.db()).await.unwrap(), 2);
    let dry = h.retention(Utc::now() + Duration::days(31), true).await;
    assert!(
        dry.lines()
            .any(|l| l.starts_with("erased") && l.contains("would delete      1")),
        "{dry}"
    );
    assert_eq!(subjects::Entity::find().count(h.db()).await.unwrap(), 2);
    let done = h.retention(Utc::now() + Duration::days(31), false).await;
    assert!(
        done.lines()
            .any(|l| l.starts_with("erased") && l.contains("deleted      1")),
        "{done}"
    );

    // Ivan is told, and only Maryam is left.
    let told = ivan.wait(1).await;
    assert_eq!(told[0], PURGED_NOTICE);
    assert_eq!(subjects::Entity::find().count(h.db()).await.unwrap(), 1);
    assert_eq!(
        channel_identities::Entity::find()
            .count(h.db())
            .await
            .unwrap(),
        1
    );
    let left = events(&h).await;
    assert!(left.iter().all(|e| e.subject_id == left[0].subject_id));
    assert_eq!(
        egress_ledger::Entity::find().count(h.db()).await.unwrap(),
        0
    );
    let dump = h.dump().await;
    assert!(dump.contains("erasure.completed"));
    // The chain still verifies: erasure never rewrites it.
    let key = HmacKey::parse("AUDIT_KEY", &h.keys.audit).unwrap();
    assert_eq!(verify(h.db(), &key, None).await.unwrap().broken, None);

    // Writing again, Ivan is someone new.
    let prompt = ivan.say("hello again", 1).await;
    assert!(prompt[0].contains("Do you agree"), "{prompt:?}");
    h.finish().await;
}

#[tokio::test]
async fn delete_with_no_grace_period_erases_at_once() {
    let h = telegram(&[("CONSENTGATE_ERASURE_GRACE_DAYS", "0")]).await;
    let mut ivan = Chat::new(&h, IVAN);
    ivan.agree().await;
    let confirm = ivan.say("/delete", 1).await;
    assert!(confirm[0].contains("cannot be undone"), "{confirm:?}");
    let cancelled = ivan.press("Cancel", 1).await;
    assert_eq!(cancelled[0], "Nothing was deleted.");
    assert_eq!(subjects::Entity::find().count(h.db()).await.unwrap(), 1);
    ivan.say("/delete", 1).await;
    let gone = ivan.press("Yes, delete", 1).await;
    assert!(gone[0].contains("has been deleted"), "{gone:?}");
    assert_eq!(subjects::Entity::find().count(h.db()).await.unwrap(), 0);
    assert!(events(&h).await.is_empty());
    h.finish().await;
}

#[tokio::test]
async fn retention_dry_run_counts_and_a_run_deletes_per_class() {
    let h = telegram(&[]).await;
    let mut ivan = Chat::new(&h, IVAN);
    ivan.agree().await;
    ivan.press("history: yes", 1).await;
    ivan.say("one", 1).await;
    ivan.say("two", 1).await;
    assert_eq!(stored_messages(&h).await, 4);

    let line = |report: &str, class: &str| {
        report
            .lines()
            .find(|l| l.starts_with(class))
            .unwrap_or_else(|| panic!("no {class} line in {report}"))
            .to_string()
    };
    let dry = h.retention(Utc::now() + Duration::days(31), true).await;
    assert!(
        line(&dry, "conversation").contains("would delete      4"),
        "{dry}"
    );
    assert!(
        line(&dry, "egress").contains("would delete      0"),
        "{dry}"
    );
    assert_eq!(stored_messages(&h).await, 4, "a dry run deletes nothing");
    let run = h.retention(Utc::now() + Duration::days(31), false).await;
    assert!(
        line(&run, "conversation").contains("deleted      4"),
        "{run}"
    );
    assert_eq!(stored_messages(&h).await, 0);

    // A year on: the egress ledger and the audit log go too; an anchor entry is left.
    let dry = h.retention(Utc::now() + Duration::days(400), true).await;
    assert!(
        line(&dry, "egress").contains("would delete      2"),
        "{dry}"
    );
    assert!(line(&dry, "temporary").contains("would delete"), "{dry}");
    let run = h.retention(Utc::now() + Duration::days(400), false).await;
    assert!(!line(&run, "audit").contains("deleted      0"), "{run}");
    let key = HmacKey::parse("AUDIT_KEY", &h.keys.audit).unwrap();
    let report = verify(h.db(), &key, None).await.unwrap();
    assert_eq!(report.broken, None, "{report:?}");
    assert!(h.dump().await.contains("audit.anchor"));

    // Six years on, Ivan has been inactive for longer than five: he is erased.
    let run = h
        .retention(Utc::now() + Duration::days(6 * 365), false)
        .await;
    assert!(
        line(&run, "inactive_subjects").contains("deleted      1"),
        "{run}"
    );
    assert_eq!(subjects::Entity::find().count(h.db()).await.unwrap(), 0);
    h.finish().await;
}

#[tokio::test]
async fn a_changed_optional_purpose_is_renewed_and_refusals_stay_refusals() {
    let h = telegram(&[]).await;
    let mut ivan = Chat::new(&h, IVAN);
    let mut maryam = Chat::new(&h, MARYAM);
    ivan.agree().await;
    ivan.press("history: yes", 1).await;
    ivan.say("remember me", 1).await;
    maryam.agree().await;
    maryam.press("history: no", 1).await;
    assert_eq!(stored_messages(&h).await, 2);

    // The history purpose's text changes; the assistant purpose does not.
    let mut config = h.config(&[]);
    for p in &mut config.purposes {
        if p.name == "history" {
            p.text = "Your messages are stored encrypted for up to 60 days.".into();
        }
    }
    let out = h
        .publish_with(
            &config,
            "Policy, second edition.",
            "History is kept longer.",
            true,
        )
        .await;
    assert!(out.contains("purposes to renew: history"), "{out}");
    // --notify told everyone whose latest decision is a grant: both agreed to the assistant.
    assert!(out.contains("notified 2"), "{out}");
    let notice = ivan.wait(1).await;
    assert!(notice[0].contains("History is kept longer."), "{notice:?}");
    assert!(notice[0].contains("Keeping our conversation"), "{notice:?}");
    maryam.wait(1).await;

    // Ivan's next message: the notice first, then the answer (the assistant grant stands).
    let replies = ivan.say("and now?", 2).await;
    assert!(replies[0].contains("changed the text"), "{replies:?}");
    assert!(replies[0].contains("up to 60 days"), "{replies:?}");
    assert_eq!(replies[1], "LLM: and now?");
    // The grant expired, so the old conversation went and nothing new is kept.
    assert_eq!(stored_messages(&h).await, 0);
    // Maryam had refused: nothing to renew, no notice.
    let replies = maryam.say("and me?", 1).await;
    assert_eq!(replies[0], "LLM: and me?");
    let history: Vec<(String, String)> = events(&h)
        .await
        .into_iter()
        .filter(|e| e.purpose == "history")
        .map(|e| (e.action, e.method))
        .collect();
    assert_eq!(
        history,
        [
            ("given".into(), "button".into()),
            ("refused".into(), "button".into()),
            ("expired".into(), "policy_change".into()),
        ]
    );
    // /privacy shows the summary of changes.
    let privacy = ivan.say("/privacy", 1).await;
    assert!(privacy[0].contains("version 2"), "{privacy:?}");
    assert!(privacy[0].contains("What changed: History is kept longer."));

    // A version published for later does not apply yet.
    let out = h
        .publish_policy_at(
            "Policy, third edition.",
            "Coming soon.",
            &[],
            &(Utc::now() + Duration::days(10))
                .format("%Y-%m-%d")
                .to_string(),
        )
        .await;
    assert!(out.contains("published version 3"), "{out}");
    let privacy = ivan.say("/privacy", 1).await;
    assert!(privacy[0].contains("version 2"), "{privacy:?}");
    let versions = ivan.say("/privacy history", 1).await;
    assert!(versions[0].contains("not yet in effect"), "{versions:?}");
    h.finish().await;
}

#[tokio::test]
async fn every_right_works_the_same_on_the_web_chat() {
    let h = Harness::start(Options::default()).await;
    let (mut browser, _) = Browser::open(&h).await;
    let text = |replies: &[Value], i: usize| replies[i]["text"].as_str().unwrap().to_string();
    let prompt = browser.say("hello").await;
    let thanks = browser.press(&web_button(&prompt[0], "Agree")).await;
    assert!(text(&thanks, 0).contains("Optional choices"));
    browser.press(&web_button(&thanks[0], "history: yes")).await;
    browser.say("keep this: peonies").await;
    assert_eq!(stored_messages(&h).await, 2);

    let privacy = browser.say("/privacy").await;
    assert!(text(&privacy, 0).contains("Keeping our conversation: on since"));
    let versions = browser.say("/privacy history").await;
    assert!(text(&versions, 0).contains("Version 1"));
    let overview = browser.say("/consent").await;
    let off = browser
        .press(&web_button(&overview[0], "Turn off history"))
        .await;
    assert!(text(&off, 0).contains("2 stored messages"), "{off:?}");
    assert_eq!(stored_messages(&h).await, 0);
    assert!(text(&browser.say("STOP").await, 0).contains("no marketing messages"));
    // START from someone who never agreed to the marketing text shows it first.
    let offer = browser.say("START").await;
    assert!(text(&offer, 0).contains("News and offers"), "{offer:?}");
    let on = browser
        .press(&web_button(&offer[0], "marketing: yes"))
        .await;
    assert!(text(&on, 0).contains("is on"), "{on:?}");
    assert!(text(&browser.say("/stop").await, 0).contains("no marketing messages"));

    let confirm = browser.say("/delete").await;
    let scheduled = browser.press(&web_button(&confirm[0], "Yes, delete")).await;
    assert!(text(&scheduled, 0).contains("/restore"));
    let held = browser.say("a question").await;
    assert!(text(&held, 0).contains("scheduled for deletion"));
    assert!(text(&browser.say("/restore").await, 0).contains("cancelled"));
    assert!(text(&browser.say("/revoke").await, 0).contains("withdrawn"));
    let again = browser.say("a question").await;
    assert!(text(&again, again.len() - 1).contains("Do you agree"));
    // Nothing after the first exchange reached the provider.
    assert_eq!(h.llm.requests().len(), 1);
    h.finish().await;
}

#[tokio::test]
async fn export_is_refused_in_groups_and_links_expire() {
    let h = telegram(&[]).await;
    let mut ivan = Chat::new(&h, IVAN);
    ivan.agree().await;
    // /export written in a group would post the file there: refused.
    let mut update = text_update(next_update(), IVAN, "/export");
    update["message"]["chat"] =
        serde_json::json!({"id": -100_123, "type": "supergroup", "title": "Shop fans"});
    h.telegram.push_update(update);
    let group = h.wait_sent(-100_123, 1).await;
    assert!(group[0].contains("only in a private chat"), "{group:?}");
    assert!(h.telegram.calls("sendDocument").is_empty());
    h.finish().await;

    // A web chat link older than 15 minutes no longer works.
    let h = Harness::start(Options::default()).await;
    let (mut browser, _) = Browser::open(&h).await;
    let prompt = browser.say("hello").await;
    browser.press(&web_button(&prompt[0], "Agree")).await;
    let replies = browser.say("/export").await;
    let text = replies[0]["text"].as_str().unwrap().to_string();
    let url = text
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();
    use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};
    let mut link = consentgate_entity::export_links::Entity::find()
        .one(h.db())
        .await
        .unwrap()
        .unwrap()
        .into_active_model();
    link.expires_at = Set(Utc::now() - Duration::minutes(1));
    link.update(h.db()).await.unwrap();
    let late = h.http.get(&url).send().await.unwrap();
    assert_eq!(late.status(), reqwest::StatusCode::GONE);
    h.finish().await;
}

#[tokio::test]
async fn start_from_someone_who_never_agreed_to_marketing_only_offers_it() {
    let h = telegram(&[]).await;
    let mut ivan = Chat::new(&h, IVAN);
    let offer = ivan.say("START", 1).await;
    assert!(offer[0].contains("News and offers"), "{offer:?}");
    assert!(events(&h).await.is_empty(), "nothing was granted");
    h.finish().await;
}

/// Asking to see the help, the policy or one's choices again and again leaves no lasting record
/// (a flood of them cannot grow the audit log); a command that acts is still audited.
#[tokio::test]
async fn looking_leaves_no_record_and_acting_does() {
    let h = telegram(&[]).await;
    let mut ivan = Chat::new(&h, IVAN);
    ivan.agree().await;
    let entries = || async {
        consentgate_entity::audit_log::Entity::find()
            .count(h.db())
            .await
            .unwrap()
    };
    let before = entries().await;
    for text in [
        "/help",
        "/privacy",
        "/consent",
        "/help",
        "/privacy",
        "/nonsense",
    ] {
        ivan.say(text, 1).await;
    }
    assert_eq!(entries().await, before, "reading commands were audited");
    ivan.say("/stop", 1).await;
    assert!(
        entries().await > before,
        "an acting command was not audited"
    );
    h.finish().await;
}
