//! The knowledge base from the chat: an owner sends a Markdown file with `/kb add`, is told it
//! holds a phone number, lists and redacts it; the provider is given the best passages with
//! their source for a customer's question, and nothing of a removed document. The text is
//! encrypted at rest.

mod common;

use common::owners::*;
use common::*;
use consentgate_entity::audit_log;
use sea_orm::EntityTrait;
use serde_json::json;

const PRICES: &str = "# Prices\n\nSourdough bread costs 4 euros a loaf.\n\nFor large orders call \
our manager on +44 20 7946 0958.\n\n## Hours\n\nWe open at 8 on weekdays.";

/// The knowledge the provider was given with the latest request, if any.
fn knowledge_sent(h: &Harness) -> Option<String> {
    let request = h.llm.requests().pop()?;
    request.body["messages"]
        .as_array()?
        .iter()
        .filter(|m| m["role"] == "system")
        .nth(1)
        .and_then(|m| m["content"].as_str().map(str::to_string))
}

#[tokio::test]
async fn an_owner_adds_a_document_from_the_chat_and_answers_cite_it() {
    let (h, _oauth) = start().await;
    let i = service(&h).await;
    let mut owner = claimed_owner(&h, &i).await;
    h.telegram.put_file("doc-1", PRICES.as_bytes().to_vec());
    owner.next += 1;
    let mut upload = media_update(
        owner.next,
        IVAN,
        "document",
        json!({"file_id": "doc-1", "file_unique_id": "u-doc-1", "file_name": "prices.md",
               "mime_type": "text/markdown", "file_size": PRICES.len()}),
    );
    upload["message"]["caption"] = json!("/kb add");
    h.telegram.push_update(upload);
    let added = owner.wait(1).await;
    assert!(
        added[0].contains("Added prices.md") && added[0].contains("personal data (1 PHONE)"),
        "{added:?}"
    );
    let listed = owner.say("/kb", 1).await;
    assert!(listed[0].contains("1. prices.md"), "{listed:?}");

    // A customer's question: the best passages go along, with their source.
    h.telegram.push_update(text_update(900, MARYAM, "hi"));
    h.wait_sent(MARYAM.id, 1).await;
    let agree = button_data(&h, MARYAM.id, "Agree");
    h.telegram.push_update(button_update(901, MARYAM, &agree));
    h.wait_sent(MARYAM.id, 2).await;
    h.telegram
        .push_update(text_update(902, MARYAM, "how much is the sourdough bread?"));
    h.wait_sent(MARYAM.id, 3).await;
    let given = knowledge_sent(&h).expect("passages given");
    assert!(
        given.contains("[prices.md]") && given.contains("Sourdough bread costs 4 euros"),
        "{given}"
    );

    // Redacted at the owner's word: the number no longer goes anywhere.
    owner.next = 2000;
    let redacted = owner.say("/kb redact 1", 1).await;
    assert!(
        redacted[0].contains("replaced with placeholders"),
        "{redacted:?}"
    );
    h.telegram
        .push_update(text_update(3001, MARYAM, "who do I call for large orders?"));
    h.wait_sent(MARYAM.id, 4).await;
    let given = knowledge_sent(&h).expect("passages given");
    assert!(
        given.contains("large orders") && !given.contains("7946"),
        "{given}"
    );

    // Removed: nothing of it is given any more. (Update ids go on from Maryam's.)
    owner.next = 4000;
    let listed = owner.say("/kb", 1).await;
    let id = listed[0]
        .lines()
        .find(|l| l.contains("prices.md"))
        .and_then(|l| l.split('.').next())
        .unwrap()
        .to_string();
    let removed = owner.say(&format!("/kb remove {id}"), 1).await;
    assert!(removed[0].contains("Removed prices.md"), "{removed:?}");
    h.telegram.push_update(text_update(
        5001,
        MARYAM,
        "how much is the sourdough bread?",
    ));
    h.wait_sent(MARYAM.id, 5).await;
    assert_eq!(knowledge_sent(&h), None);

    // Someone who is not an owner cannot touch it; the changes are audited; nothing in clear.
    h.telegram.push_update(text_update(5002, MARYAM, "/kb"));
    let refused = h.wait_sent(MARYAM.id, 6).await;
    assert!(refused[5].contains("Only the owners"), "{refused:?}");
    let actions: Vec<String> = audit_log::Entity::find()
        .all(h.db())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions.iter().filter(|a| *a == "kb.added").count(), 2);
    assert_eq!(actions.iter().filter(|a| *a == "kb.removed").count(), 2);
    let at_rest = h.sqlite_bytes();
    assert!(
        !at_rest
            .windows(b"Sourdough bread costs".len())
            .any(|w| w == b"Sourdough bread costs")
    );
    h.finish().await;
}
