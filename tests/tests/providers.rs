//! Several LLM providers in order (`[[llm.providers]]`): a busy one is passed over for the next,
//! every forward is in the egress ledger under the provider that received it, the busy one rests
//! as long as it asked (`Retry-After`), each key goes only to its own provider, and consent names
//! every recipient.

mod common;

use common::*;
use consentgate_e2e::{FakeLlm, LlmBehaviour};
use consentgate_entity::{audit_log, egress_ledger};
use sea_orm::{EntityTrait, QueryOrder};

#[tokio::test]
async fn a_busy_provider_is_passed_over_for_the_next_and_rests_as_it_asked() {
    let primary = FakeLlm::start().await;
    let spare = FakeLlm::start().await;
    let (h, _dir) = with_providers(
        &format!(
            r#"
[[llm.providers]]
name = "primary"
base_url = "{}"
model = "big-model"
api_key_env = "PRIMARY_KEY"
recipient = "Primary AI Ltd (EU)"

[[llm.providers]]
name = "spare"
base_url = "{}"
model = "small-model"
recipient = "Spare AI Inc (USA)"
"#,
            primary.base_url, spare.base_url
        ),
        &[("PRIMARY_KEY", "primary-secret-key")],
    )
    .await;

    // Consent names both recipients, in order.
    h.telegram.push_update(text_update(1, IVAN, "hi"));
    let prompt = h.wait_sent(IVAN.id, 1).await;
    assert!(
        prompt[0].contains("Primary AI Ltd (EU), or when that one is busy, Spare AI Inc (USA)"),
        "{prompt:?}"
    );
    let agree = button_data(&h, IVAN.id, "Agree");
    h.telegram.push_update(button_update(2, IVAN, &agree));
    h.wait_sent(IVAN.id, 2).await;

    // The first provider answers 429 with Retry-After: the second answers the person.
    primary.set(LlmBehaviour::Busy(120));
    h.telegram
        .push_update(text_update(3, IVAN, "when do you open?"));
    let sent = h.wait_sent(IVAN.id, 3).await;
    assert_eq!(sent[2], "LLM: when do you open?");
    assert_eq!(primary.requests().len(), 1);
    assert_eq!(spare.requests().len(), 1);
    assert_eq!(primary.requests()[0].body["model"], "big-model");
    assert_eq!(spare.requests()[0].body["model"], "small-model");
    // Each key goes only to the provider it was named for.
    assert_eq!(
        primary.requests()[0].authorization.as_deref(),
        Some("Bearer primary-secret-key")
    );
    assert_eq!(spare.requests()[0].authorization, None);

    // The egress ledger holds both forwards, each under the provider that received it.
    let ledger = egress_ledger::Entity::find()
        .order_by_asc(egress_ledger::Column::Id)
        .all(h.db())
        .await
        .unwrap();
    let sent_to: Vec<(&str, &str)> = ledger
        .iter()
        .map(|r| (r.provider.as_str(), r.model.as_str()))
        .collect();
    assert_eq!(
        sent_to,
        [("primary", "big-model"), ("spare", "small-model")]
    );
    assert_ne!(ledger[0].payload_sha256, ledger[1].payload_sha256);
    let audit = audit_log::Entity::find()
        .order_by_asc(audit_log::Column::Seq)
        .all(h.db())
        .await
        .unwrap();
    let failed: Vec<&str> = audit
        .iter()
        .filter(|e| e.action == "llm.failed")
        .map(|e| e.detail.as_str())
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].contains("\"primary\"") && failed[0].contains("busy"));

    // The busy provider rests for the time it asked: the next message goes to the spare alone.
    h.telegram
        .push_update(text_update(4, IVAN, "and on Sunday?"));
    let sent = h.wait_sent(IVAN.id, 4).await;
    assert_eq!(sent[3], "LLM: and on Sunday?");
    assert_eq!(primary.requests().len(), 1);
    assert_eq!(spare.requests().len(), 2);

    // With every provider failing, the person gets an apology, not silence.
    spare.set(LlmBehaviour::Status(502));
    h.telegram.push_update(text_update(5, IVAN, "hello?"));
    let sent = h.wait_sent(IVAN.id, 5).await;
    assert!(sent[4].contains("can't answer right now"), "{sent:?}");
    h.finish().await;
}

/// A provider that cannot be reached is passed over like a busy one; a request a provider
/// refuses (400) goes to no other provider and ends in the apology.
#[tokio::test]
async fn an_unreachable_provider_is_passed_over_and_a_refused_request_is_not_resent() {
    let primary = FakeLlm::start().await;
    let spare = FakeLlm::start().await;
    // Port 9 on loopback: nothing listens there, the connection is refused.
    let (h, _dir) = with_providers(
        &format!(
            "[[llm.providers]]\nname = \"gone\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m0\"\n\
             [[llm.providers]]\nname = \"primary\"\nbase_url = \"{}\"\nmodel = \"m1\"\n\
             [[llm.providers]]\nname = \"spare\"\nbase_url = \"{}\"\nmodel = \"m2\"\n",
            primary.base_url, spare.base_url
        ),
        &[],
    )
    .await;
    agreed(&h, IVAN, false).await;
    h.telegram
        .push_update(text_update(3, IVAN, "are you there?"));
    let sent = h.wait_sent(IVAN.id, 3).await;
    assert_eq!(sent[2], "LLM: are you there?");
    assert_eq!((primary.requests().len(), spare.requests().len()), (1, 0));

    primary.set(LlmBehaviour::Status(400));
    h.telegram
        .push_update(text_update(4, IVAN, "a very long question"));
    let sent = h.wait_sent(IVAN.id, 4).await;
    assert!(sent[3].contains("can't answer right now"), "{sent:?}");
    assert_eq!((primary.requests().len(), spare.requests().len()), (2, 0));
    h.finish().await;
}
