//! Tools through linked accounts: an owner links Google and HubSpot and enables three tools
//! from the chat; a price question is answered from the linked sheet; a booking is appended
//! only after the person granted the purpose naming Google Sheets (the sheet gets the real phone
//! number, the model only a placeholder); a CRM contact likewise; every call is in the audit
//! log, the egress ledger and the export; an unlinked account's tools are gone from the next
//! request; `/delete` names the services and the owner is told; a slow service is an error
//! result, not a crash.

mod common;

use common::owners::*;
use common::*;
use consentgate_e2e::{FakeHubSpot, FakeOAuth, FakeSheets, LlmBehaviour};
use consentgate_entity::{audit_log, egress_ledger};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;

const SHEET: &str = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms";
const PHONE: &str = "+44 20 7946 0958";

async fn start_with_services(
    extra: &[(&str, &str)],
) -> (Harness, FakeOAuth, FakeSheets, FakeHubSpot) {
    let oauth = FakeOAuth::start().await;
    let sheets = FakeSheets::start().await;
    let hubspot = FakeHubSpot::start().await;
    let mut env = oauth_env("google", &oauth);
    env.extend(oauth_env("hubspot", &oauth));
    env.push(("TOOLS_SHEETS_URL".into(), sheets.url.clone()));
    env.push(("TOOLS_HUBSPOT_URL".into(), hubspot.url.clone()));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let h = Harness::start(Options {
        telegram: true,
        extra_env: env,
        ..Default::default()
    })
    .await;
    (h, oauth, sheets, hubspot)
}

/// The tools offered with the latest request to the provider, by name.
fn tools_offered(h: &Harness) -> Vec<String> {
    h.llm.requests().last().unwrap().body["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .map(|t| t["function"]["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn audit_of(h: &Harness, action: &str) -> Vec<serde_json::Value> {
    audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq(action))
        .order_by_asc(audit_log::Column::Id)
        .all(h.db())
        .await
        .unwrap()
        .into_iter()
        .map(|e| serde_json::from_str(&e.detail).unwrap())
        .collect()
}

#[tokio::test]
async fn an_owner_links_a_sheet_and_a_crm_and_the_assistant_uses_them_with_consent() {
    let (h, _oauth, sheets, hubspot) = start_with_services(&[]).await;
    let i = service(&h).await;
    let mut owner = claimed_owner(&h, &i).await;
    link_provider(&h, &mut owner, "google", "Google").await;
    link_provider(&h, &mut owner, "hubspot", "HubSpot").await;

    // Three tools from the chat.
    let added = owner
        .say(
            &format!(
                "/tools add prices sheets.read https://docs.google.com/spreadsheets/d/{SHEET}/edit Prices!A1:B3 Our price list"
            ),
            1,
        )
        .await;
    assert!(added[0].contains("Added the tool prices"), "{added:?}");
    let added = owner
        .say(
            &format!(
                "/tools add booking sheets.append {SHEET} Bookings name,phone,when Book a table"
            ),
            1,
        )
        .await;
    assert!(
        added[0]
            .contains("only for people who turned on \"Bookings and requests in Google Sheets\""),
        "{added:?}"
    );
    owner
        .say(
            "/tools add callback hubspot.contact Ask our team to call the person back",
            1,
        )
        .await;
    let refused = owner.say("/tools add Bad sheets.read", 1).await;
    assert!(
        refused[0].contains("cannot be a tool's name"),
        "{refused:?}"
    );
    // A description goes to the provider with every question: none with personal data.
    let refused = owner
        .say(
            &format!("/tools add anna hubspot.contact Call Anna on {PHONE}"),
            1,
        )
        .await;
    assert!(
        refused[0].contains("appears to hold personal data") && refused[0].contains("PHONE"),
        "{refused:?}"
    );
    let listed = owner.say("/tools", 1).await;
    assert!(
        listed[0].contains("prices — sheets.read (on)")
            && listed[0].contains("booking — sheets.append (on)")
            && listed[0].contains("callback — hubspot.contact (on)"),
        "{listed:?}"
    );
    // What a tool points at is stored encrypted.
    assert!(!h.dump().await.contains(SHEET));

    // A price question, answered from the linked sheet.
    sheets.put(
        SHEET,
        "Prices!A1:B3",
        &[&["item", "price"], &["sourdough", "4 EUR"]],
    );
    h.llm.set(LlmBehaviour::UsesTool {
        tool: "prices".into(),
        arguments: json!({}),
    });
    let next = maryam_agrees(&h, 900).await;
    h.telegram
        .push_update(text_update(next, MARYAM, "how much is the sourdough?"));
    let sent = h.wait_sent(MARYAM.id, 3).await;
    assert!(
        sent[2].contains("Done. The tool said: item | price\nsourdough | 4 EUR"),
        "{sent:?}"
    );
    let read = &sheets.requests()[0];
    assert_eq!(
        (read.method.as_str(), read.path.as_str()),
        (
            "GET",
            format!("/v4/spreadsheets/{SHEET}/values/Prices!A1:B3").as_str()
        )
    );
    assert!(
        read.authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bearer at-secret-")),
        "{read:?}"
    );
    // The writing tools are not offered: Maryam has not agreed to what they pass on, and the
    // model is told where she can.
    assert_eq!(tools_offered(&h), ["prices"]);
    let context = h.llm.requests().last().unwrap().body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        context.contains("booking (\"Bookings and requests in Google Sheets\")"),
        "{context}"
    );

    // A booking before the purpose: refused, and nothing reaches the sheet.
    h.llm.set(LlmBehaviour::UsesTool {
        tool: "booking".into(),
        arguments: json!({"name": "$PERSON", "phone": "$PHONE", "when": "tomorrow 7pm"}),
    });
    let booking = format!("Please book a table for Anna Petrova, phone {PHONE}, tomorrow 7pm");
    h.telegram
        .push_update(text_update(next + 1, MARYAM, &booking));
    let sent = h.wait_sent(MARYAM.id, 4).await;
    assert!(sent[3].contains("I cannot do that from here"), "{sent:?}");
    assert!(sheets.rows(SHEET, "Bookings").is_empty());

    // Granted, the same request books: the sheet gets the real values, the model placeholders.
    let on = button_data(&h, MARYAM.id, "sheets: yes");
    h.telegram.push_update(button_update(next + 2, MARYAM, &on));
    h.wait_sent(MARYAM.id, 5).await;
    let before = h.llm.requests().len();
    h.telegram
        .push_update(text_update(next + 3, MARYAM, &booking));
    let sent = h.wait_sent(MARYAM.id, 6).await;
    assert!(
        sent[5].contains("Done. The tool said: The row was added"),
        "{sent:?}"
    );
    assert_eq!(
        sheets.rows(SHEET, "Bookings"),
        [["Anna Petrova", PHONE, "tomorrow 7pm"]]
    );
    let append = sheets.requests().last().unwrap().clone();
    assert_eq!(append.query["valueInputOption"], "RAW");
    let asked = &h.llm.requests()[before..];
    assert_eq!(asked.len(), 2, "the question, then the tool's result");
    for request in asked {
        assert!(!request.raw.contains("7946"), "{}", request.raw);
        assert!(!request.raw.contains("Petrova"), "{}", request.raw);
    }
    let call = &asked[1].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "assistant" && m["tool_calls"].is_array())
        .unwrap()["tool_calls"][0];
    assert!(
        call["function"]["arguments"]
            .as_str()
            .unwrap()
            .contains("[PHONE_1]"),
        "{call}"
    );

    // The CRM, with its own purpose.
    let on = button_data(&h, MARYAM.id, "crm: yes");
    h.telegram.push_update(button_update(next + 4, MARYAM, &on));
    h.wait_sent(MARYAM.id, 7).await;
    h.llm.set(LlmBehaviour::UsesTool {
        tool: "callback".into(),
        arguments: json!({"name": "$PERSON", "phone": "$PHONE", "note": "call back about a cake"}),
    });
    h.telegram.push_update(text_update(
        next + 5,
        MARYAM,
        &format!("Anna Petrova here, please call me back on {PHONE} about a cake"),
    ));
    let sent = h.wait_sent(MARYAM.id, 8).await;
    assert!(
        sent[7].contains("A new contact was created and the note added"),
        "{sent:?}"
    );
    let contacts = hubspot.contacts();
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].1["phone"], PHONE);
    assert_eq!(contacts[0].1["lastname"], "Petrova");
    assert_eq!(hubspot.notes()[0].1, "call back about a cake");

    // Every call in the audit log (before and after), the egress ledger and the export.
    let called = audit_of(&h, "tool.called").await;
    assert_eq!(
        called
            .iter()
            .map(|d| d["tool"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["prices", "booking", "callback"]
    );
    assert!(
        called
            .iter()
            .all(|d| d["sent_sha256"].as_str().unwrap().len() == 64)
    );
    let completed = audit_of(&h, "tool.completed").await;
    assert_eq!(completed[1]["made"], "Bookings!A1:Z1");
    assert_eq!(completed[2]["made"], "contact 501");
    let ledger = egress_ledger::Entity::find()
        .filter(egress_ledger::Column::Provider.starts_with("tool:"))
        .order_by_asc(egress_ledger::Column::Id)
        .all(h.db())
        .await
        .unwrap();
    assert_eq!(
        ledger
            .iter()
            .map(|r| (r.provider.as_str(), r.model.as_str()))
            .collect::<Vec<_>>(),
        [
            ("tool:google-sheets", "sheets.read:prices"),
            ("tool:google-sheets", "sheets.append:booking"),
            ("tool:hubspot", "hubspot.contact:callback"),
        ]
    );
    h.telegram
        .push_update(text_update(next + 6, MARYAM, "/export"));
    let export = exported(&h, MARYAM.id).await;
    let exported = export["egress"].to_string();
    assert!(
        exported.contains("sheets.append:booking") && exported.contains("tool:hubspot"),
        "{exported}"
    );
    assert!(export["audit"].to_string().contains("tool.called"));
    // The owner's statistics: tool calls per day, by kind.
    let c = common::console::Client::new(&h);
    let (admin, csrf) = common::console::admin_session(&h, &c).await;
    let overview = c.get("/console/", &admin).await;
    let calls = &overview.body[overview.body.find("Tool calls").expect("tool calls shown")..];
    assert!(
        calls.contains("<td>1</td><td>1</td><td>1</td><td>0</td>"),
        "{calls}"
    );
    // The export came as a document; the texts so far:
    let seen = h.wait_sent(MARYAM.id, 8).await.len();

    // Unlinking HubSpot takes its tool away from the very next request.
    owner.next = 2000;
    owner.say("/unlink hubspot", 1).await;
    let listed = owner.say("/tools", 1).await;
    assert!(
        listed[0].contains("callback — hubspot.contact (off until /link hubspot)"),
        "{listed:?}"
    );
    h.telegram
        .push_update(text_update(next + 2000, MARYAM, "and call me again?"));
    h.wait_sent(MARYAM.id, seen + 1).await;
    assert_eq!(tools_offered(&h), ["prices", "booking"]);

    // /delete names where the tools passed her details; confirmed, the owner is told.
    h.telegram
        .push_update(text_update(next + 2001, MARYAM, "/delete"));
    let asked = h.wait_sent(MARYAM.id, seen + 2).await;
    assert!(
        asked[seen + 1].contains("passed your details to the business's Google Sheets and HubSpot"),
        "{asked:?}"
    );
    let yes = button_data(&h, MARYAM.id, "Yes, delete");
    h.telegram
        .push_update(button_update(next + 2002, MARYAM, &yes));
    h.wait_sent(MARYAM.id, seen + 3).await;
    let told = owner.wait(1).await;
    assert!(
        told[0].contains("asked for their data to be deleted")
            && told[0].contains("Google Sheets: Bookings!A1:Z1")
            && told[0].contains("HubSpot: contact 501"),
        "{told:?}"
    );
    // The knowledge page shows the tools; one removed there is gone from the chat's list too.
    let page = c.get("/console/knowledge", &admin).await;
    assert!(
        page.body.contains("only for people who granted `sheets`"),
        "{}",
        page.body
    );
    let removed = c
        .post(
            "/console/tools/remove",
            &admin,
            &[("csrf", &csrf), ("bot", "telegram"), ("id", "booking")],
        )
        .await;
    assert!(
        removed.body.contains("Removed the tool booking"),
        "{}",
        removed.body
    );
    owner.next = 5000;
    let listed = owner.say("/tools", 1).await;
    assert!(!listed[0].contains("booking"), "{listed:?}");
    h.finish().await;
}

#[tokio::test]
async fn a_slow_or_failing_service_is_an_error_result_and_tools_can_be_removed() {
    let (h, _oauth, sheets, _hubspot) = start_with_services(&[("TOOLS_TIMEOUT_SECS", "1")]).await;
    let i = service(&h).await;
    let mut owner = claimed_owner(&h, &i).await;
    link_provider(&h, &mut owner, "google", "Google").await;
    owner
        .say(&format!("/tools add prices sheets.read {SHEET} Prices"), 1)
        .await;
    h.llm.set(LlmBehaviour::UsesTool {
        tool: "prices".into(),
        arguments: json!({}),
    });
    let next = maryam_agrees(&h, 900).await;
    // No such range at the service: the model is told, and answers.
    h.telegram.push_update(text_update(next, MARYAM, "prices?"));
    let sent = h.wait_sent(MARYAM.id, 3).await;
    assert!(
        sent[2].contains("error: the service refused the request (HTTP 404)"),
        "{sent:?}"
    );
    // Too slow: given up after the timeout.
    sheets.put(SHEET, "Prices", &[&["bread", "4"]]);
    sheets.set_delay(std::time::Duration::from_secs(3));
    h.telegram
        .push_update(text_update(next + 1, MARYAM, "prices now?"));
    let sent = h.wait_sent(MARYAM.id, 4).await;
    assert!(sent[3].contains("did not answer in time"), "{sent:?}");
    let completed = audit_of(&h, "tool.completed").await;
    assert_eq!(
        completed
            .iter()
            .map(|d| d["error"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["status", "timeout"]
    );
    // A model that keeps calling is stopped after the calls one answer may make (4), and then
    // answers with what it has.
    sheets.set_delay(std::time::Duration::ZERO);
    let reads = sheets.requests().len();
    h.llm.set(LlmBehaviour::KeepsCallingTool("prices".into()));
    h.telegram
        .push_update(text_update(next + 2, MARYAM, "all prices, again and again"));
    let sent = h.wait_sent(MARYAM.id, 5).await;
    assert!(sent[4].contains("Stopped after 4 tool results"), "{sent:?}");
    assert_eq!(sheets.requests().len() - reads, 4);
    // Removed, it is offered no more.
    owner.next = 2000;
    let removed = owner.say("/tools remove prices", 1).await;
    assert!(
        removed[0].contains("Removed the tool prices"),
        "{removed:?}"
    );
    h.llm.set(LlmBehaviour::UsesTool {
        tool: "prices".into(),
        arguments: json!({}),
    });
    h.telegram
        .push_update(text_update(next + 2000, MARYAM, "prices?"));
    let sent = h.wait_sent(MARYAM.id, 6).await;
    assert!(sent[5].contains("I cannot do that from here"), "{sent:?}");
    assert!(tools_offered(&h).is_empty());
    h.finish().await;
}
