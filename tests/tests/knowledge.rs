//! The knowledge base from the chat: an owner sends a Markdown file and a PDF with `/kb add`, is told it
//! holds a phone number, lists and redacts it; the provider is given the best passages with
//! their source for a customer's question, and nothing of a removed document. The text is
//! encrypted at rest.

mod common;

use common::owners::*;
use common::*;
use consentgate_entity::audit_log;
use sea_orm::{EntityTrait, QueryOrder};
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
    // A PDF too.
    let hours = consentgate_e2e::pdf::saying(
        "Opening hours: we open at 8 on weekdays and at 10 on Sundays.",
    );
    h.telegram.put_file("doc-2", hours.clone());
    owner.next += 1;
    let mut upload = media_update(
        owner.next,
        IVAN,
        "document",
        json!({"file_id": "doc-2", "file_unique_id": "u-doc-2", "file_name": "hours.pdf",
               "mime_type": "application/pdf", "file_size": hours.len()}),
    );
    upload["message"]["caption"] = json!("/kb add");
    h.telegram.push_update(upload);
    let added = owner.wait(1).await;
    assert!(added[0].contains("Added hours.pdf"), "{added:?}");
    let listed = owner.say("/kb", 1).await;
    assert!(
        listed[0].contains("1. prices.md") && listed[0].contains("2. hours.pdf"),
        "{listed:?}"
    );

    // A customer's question: the best passages go along, with their source.
    maryam_agrees(&h, 900).await;
    h.telegram
        .push_update(text_update(902, MARYAM, "how much is the sourdough bread?"));
    h.wait_sent(MARYAM.id, 3).await;
    let given = knowledge_sent(&h).expect("passages given");
    assert!(
        given.contains("[prices.md]\n# Prices\n\nSourdough bread costs 4 euros"),
        "{given}"
    );
    h.telegram
        .push_update(text_update(903, MARYAM, "when do you open on Sundays?"));
    h.wait_sent(MARYAM.id, 4).await;
    let given = knowledge_sent(&h).expect("passages given");
    assert!(
        given.contains("[hours.pdf]\n") && given.contains("10 on Sundays"),
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
    h.wait_sent(MARYAM.id, 5).await;
    let given = knowledge_sent(&h).expect("passages given");
    assert!(
        given.contains("large orders")
            && !given.contains("7946")
            && given.contains("[phone removed]"),
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
    h.wait_sent(MARYAM.id, 6).await;
    let given = knowledge_sent(&h);
    assert!(
        given.as_deref().is_none_or(|k| !k.contains("prices.md")),
        "{given:?}"
    );

    // Someone who is not an owner cannot touch it; the changes are audited; nothing in clear.
    h.telegram.push_update(text_update(5002, MARYAM, "/kb"));
    let refused = h.wait_sent(MARYAM.id, 7).await;
    assert!(refused[6].contains("Only the owners"), "{refused:?}");
    let actions: Vec<String> = audit_log::Entity::find()
        .all(h.db())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions.iter().filter(|a| *a == "kb.added").count(), 3);
    assert_eq!(actions.iter().filter(|a| *a == "kb.removed").count(), 2);
    let at_rest = h.sqlite_bytes();
    assert!(
        !at_rest
            .windows(b"Sourdough bread costs".len())
            .any(|w| w == b"Sourdough bread costs")
    );
    h.finish().await;
}

#[tokio::test]
async fn documents_are_added_redacted_and_removed_from_the_console_and_auditors_only_read() {
    use common::console::{Client, admin_session, key_session};
    let (h, _oauth) = start().await;
    let c = Client::new(&h);
    let (admin, csrf) = admin_session(&h, &c).await;
    let page = c.get("/console/knowledge", &admin).await;
    assert_eq!(page.status, reqwest::StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("No documents yet."), "{}", page.body);

    // A Markdown file with a phone number: added, and the admin told about the number.
    let added = c
        .upload(
            "/console/knowledge/add",
            &admin,
            &[("csrf", &csrf), ("bot", "telegram")],
            (
                "C:\\Users\\me\\prices.md",
                "text/markdown",
                PRICES.as_bytes().to_vec(),
            ),
        )
        .await;
    assert_eq!(added.status, reqwest::StatusCode::OK, "{}", added.body);
    assert!(
        added.body.contains("Added prices.md") && added.body.contains("1 PHONE"),
        "{}",
        added.body
    );
    let page = c.get("/console/knowledge", &admin).await;
    assert!(page.body.contains("prices.md"), "{}", page.body);
    // A file of a kind it cannot read is refused, and one over 2 MB.
    let refused = c
        .upload(
            "/console/knowledge/add",
            &admin,
            &[("csrf", &csrf), ("bot", "telegram")],
            ("photo.png", "image/png", vec![0x89, b'P', b'N', b'G']),
        )
        .await;
    assert_eq!(refused.status, reqwest::StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("plain text, Markdown, HTML and PDF"));
    let huge = c
        .upload(
            "/console/knowledge/add",
            &admin,
            &[("csrf", &csrf), ("bot", "telegram")],
            ("big.txt", "text/plain", vec![b'a'; 3 * 1024 * 1024]),
        )
        .await;
    assert!(huge.status.is_client_error(), "{}", huge.status);
    // Without the form's token nothing is added.
    let forged = c
        .upload(
            "/console/knowledge/add",
            &admin,
            &[("csrf", "forged"), ("bot", "telegram")],
            ("x.txt", "text/plain", b"some text".to_vec()),
        )
        .await;
    assert!(forged.status.is_client_error(), "{}", forged.status);
    assert_eq!(
        consentgate::knowledge::list(h.db(), telegram_bot_id(&h).await)
            .await
            .unwrap()
            .len(),
        1
    );

    // Its personal data replaced: a new version, the number gone; then removed.
    let redacted = c
        .post(
            "/console/knowledge/redact",
            &admin,
            &[("csrf", &csrf), ("bot", "telegram"), ("id", "1")],
        )
        .await;
    assert!(
        redacted.body.contains("now document 2"),
        "{}",
        redacted.body
    );
    let (_, text) =
        consentgate::knowledge::text_of(h.db(), &h.keys_with(&[]), telegram_bot_id(&h).await, 2)
            .await
            .unwrap()
            .unwrap();
    assert!(
        text.contains("[phone removed]") && !text.contains("7946"),
        "{text}"
    );

    // An auditor sees the page and changes nothing.
    let (auditor, auditor_csrf) = key_session(&h, &c, consentgate::web::admin::Role::Auditor).await;
    let seen = c.get("/console/knowledge", &auditor).await;
    assert!(seen.body.contains("prices.md") && !seen.body.contains("/console/knowledge/remove"));
    let refused = c
        .post(
            "/console/knowledge/remove",
            &auditor,
            &[("csrf", &auditor_csrf), ("bot", "telegram"), ("id", "2")],
        )
        .await;
    assert_eq!(
        refused.status,
        reqwest::StatusCode::FORBIDDEN,
        "{}",
        refused.body
    );

    let removed = c
        .post(
            "/console/knowledge/remove",
            &admin,
            &[("csrf", &csrf), ("bot", "telegram"), ("id", "2")],
        )
        .await;
    assert!(
        removed.body.contains("Removed prices.md"),
        "{}",
        removed.body
    );
    // Audited with the key that did it.
    let entries: Vec<audit_log::Model> = audit_log::Entity::find().all(h.db()).await.unwrap();
    let kb: Vec<&audit_log::Model> = entries
        .iter()
        .filter(|e| e.action.starts_with("kb."))
        .collect();
    assert_eq!(kb.len(), 4, "added, redacted (removed + added), removed");
    assert!(
        kb.iter()
            .all(|e| e.detail.contains("\"by\"") && e.bot_id.is_some())
    );
    h.finish().await;
}

#[tokio::test]
async fn with_an_embeddings_service_a_passage_is_found_by_meaning_and_only_redacted_text_leaves() {
    let embeddings = consentgate_e2e::FakeLlm::start().await;
    let h = Harness::start(Options {
        telegram: true,
        extra_env: vec![
            ("EMBEDDINGS_BASE_URL".into(), embeddings.base_url.clone()),
            ("EMBEDDINGS_MODEL".into(), "fake-embed".into()),
        ],
        ..Default::default()
    })
    .await;
    let i = service(&h).await;
    let mut owner = claimed_owner(&h, &i).await;
    let hours = "# Hours\n\nDoors open at 8 on weekdays. For group visits ring Anna Petrova on +44 20 7946 0958.";
    for (n, (file, name, text)) in [
        ("doc-h", "hours.md", hours),
        (
            "doc-p",
            "prices.md",
            "Sourdough bread costs 4 euros a loaf.",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        h.telegram.put_file(file, text.as_bytes().to_vec());
        owner.next += 1;
        let mut upload = media_update(
            owner.next,
            IVAN,
            "document",
            json!({"file_id": file, "file_unique_id": format!("u-{n}"), "file_name": name,
                   "mime_type": "text/markdown", "file_size": text.len()}),
        );
        upload["message"]["caption"] = json!("/kb add");
        h.telegram.push_update(upload);
        let added = owner.wait(1).await;
        assert!(added[0].contains(&format!("Added {name}")), "{added:?}");
    }
    // The passages went to the embeddings service redacted, even the one whose personal data
    // the owner kept.
    let sent = embeddings.embedding_inputs().concat();
    assert!(
        sent.iter().any(|t| t.contains("Doors open at 8")),
        "{sent:?}"
    );
    assert!(
        sent.iter()
            .all(|t| !t.contains("7946") && !t.contains("Petrova")),
        "{sent:?}"
    );

    // A question sharing no word with the hours ("opening" is not "open" to the full-text
    // index) finds them by meaning; the question leaves redacted and is recorded first.
    h.telegram.push_update(text_update(900, MARYAM, "hi"));
    h.wait_sent(MARYAM.id, 1).await;
    let prompt = h.telegram.sends_to(MARYAM.id)[0].body["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        prompt.contains("the embeddings service at 127.0.0.1 (model fake-embed)"),
        "{prompt}"
    );
    let agree = button_data(&h, MARYAM.id, "Agree");
    h.telegram.push_update(button_update(901, MARYAM, &agree));
    h.wait_sent(MARYAM.id, 2).await;
    h.telegram.push_update(text_update(
        902,
        MARYAM,
        "when is it opening tomorrow? reach me on +44 20 7946 0000",
    ));
    h.wait_sent(MARYAM.id, 3).await;
    let given = knowledge_sent(&h).expect("passages given");
    assert!(given.contains("[hours.md]"), "{given}");
    let question = embeddings.embedding_inputs().last().unwrap().clone();
    assert_eq!(question.len(), 1);
    assert!(
        question[0].contains("[PHONE_1]") && !question[0].contains("7946"),
        "{question:?}"
    );
    let entries = audit_log::Entity::find()
        .order_by_asc(audit_log::Column::Id)
        .all(h.db())
        .await
        .unwrap();
    // Each document's passages were recorded before they left.
    assert_eq!(
        entries.iter().filter(|e| e.action == "kb.embedded").count(),
        2
    );
    let embedded = entries
        .iter()
        .position(|e| e.action == "knowledge.embedded")
        .expect("recorded");
    let forwarded = entries
        .iter()
        .rposition(|e| e.action == "message.forwarded")
        .unwrap();
    assert!(embedded < forwarded);
    let ledger = consentgate_entity::egress_ledger::Entity::find()
        .all(h.db())
        .await
        .unwrap();
    assert!(
        ledger
            .iter()
            .any(|r| r.provider == "embeddings:127.0.0.1" && r.model == "fake-embed")
    );
    // The vectors are stored encrypted with the passages: none in clear.
    assert!(
        consentgate_entity::kb_passages::Entity::find()
            .all(h.db())
            .await
            .unwrap()
            .iter()
            .all(|p| p
                .embedding_enc
                .as_deref()
                .is_some_and(|e| e.starts_with("gAAAAA")))
    );
    h.finish().await;
}
