//! Personal data never reaches the LLM provider, and the person still reads their own data back.

mod common;

use std::time::Duration;

use common::*;
use consentgate_e2e::LlmBehaviour;

async fn agreed(options: Options) -> (Harness, usize) {
    let h = Harness::start(Options {
        telegram: true,
        ..options
    })
    .await;
    h.telegram.push_update(text_update(1, IVAN, "hi"));
    h.wait_sent(IVAN.id, 1).await;
    let data = button_data(&h, IVAN.id, "Agree");
    h.telegram.push_update(button_update(2, IVAN, &data));
    let n = h.wait_sent(IVAN.id, 2).await.len();
    (h, n)
}

#[tokio::test]
async fn the_llm_receives_placeholders_and_the_person_receives_their_data_back() {
    let (h, n) = agreed(Options::default()).await;
    let text = "I'm Ivanushka, call me on +7 912 345-67-89 or 8 (912) 345-67-89, \
                mail ivan.p@example.com, card 6037 9900 0000 0006, IBAN DE89 3704 0044 0532 0130 00, \
                شماره ۰۹۱۲۳۴۵۶۷۸۹, ИНН 7707083893";
    h.telegram.push_update(text_update(3, IVAN, text));
    let texts = h.wait_sent(IVAN.id, n + 1).await;

    let requests = h.llm.requests();
    assert_eq!(requests.len(), 1);
    let sent = requests[0].body["messages"][1]["content"].as_str().unwrap();
    // The pseudonym is random hex and may by chance contain a short digit run such as 6037.
    let pseudonym = requests[0].body["user"].as_str().unwrap();
    let raw = requests[0].raw.replace(pseudonym, "");
    for value in [
        "Ivanushka",
        "912 345",
        "ivan.p@example.com",
        "6037",
        "DE89",
        "۰۹۱۲",
        "7707083893",
    ] {
        assert!(!raw.contains(value), "{value} reached the LLM: {sent}");
    }
    for placeholder in [
        "[PERSON_1]",
        "[PHONE_1]",
        "[PHONE_2]",
        "[EMAIL_1]",
        "[CARD_1]",
        "[IBAN_1]",
        "[PHONE_3]",
        "[NATIONAL_ID_1]",
    ] {
        assert!(
            sent.contains(placeholder),
            "{placeholder} missing in {sent}"
        );
    }
    // The audit log's egress ledger holds the SHA-256 of the exact bytes the provider received.
    use sha2::Digest;
    let sent_hash = hex::encode(sha2::Sha256::digest(requests[0].raw.as_bytes()));
    assert!(
        h.dump().await.contains(&sent_hash),
        "payload hash not audited"
    );
    // The fake echoes what it got; the person reads their own words back.
    assert_eq!(texts.last().unwrap(), &format!("LLM: {text}"));

    // A model that rewrites placeholders a little, repeats one and invents another.
    h.llm.set(LlmBehaviour::Fixed(
        "I'll call [phone 1] and again [ PHONE_1 ]; [PHONE_9] is not yours.".into(),
    ));
    h.telegram
        .push_update(text_update(4, IVAN, "my number is +7 912 345-67-89"));
    let texts = h.wait_sent(IVAN.id, n + 2).await;
    assert_eq!(
        texts.last().unwrap(),
        "I'll call +7 912 345-67-89 and again +7 912 345-67-89; [PHONE_9] is not yours."
    );
    let dump = h.dump().await;
    assert!(
        dump.contains(r#"\"PHONE\":"#),
        "redaction counts are audited"
    );
    assert!(!dump.contains("912 345"));
    h.finish().await;
}

#[tokio::test]
async fn when_redaction_fails_nothing_is_sent() {
    let (h, n) = agreed(Options {
        redact_max_chars: Some(40),
        ..Default::default()
    })
    .await;
    h.telegram.push_update(text_update(
        3,
        IVAN,
        "this message is long enough to exceed the limit, card 4111 1111 1111 1111",
    ));
    let texts = h.wait_sent(IVAN.id, n + 1).await;
    assert!(texts.last().unwrap().contains("not sent"), "{texts:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(h.llm.requests().is_empty(), "unredacted text was forwarded");
    assert!(h.dump().await.contains("redaction_failed"));
    // Short messages still go through.
    h.telegram.push_update(text_update(4, IVAN, "short one"));
    let texts = h.wait_sent(IVAN.id, n + 2).await;
    assert_eq!(texts.last().unwrap(), "LLM: short one");
    h.finish().await;
}
