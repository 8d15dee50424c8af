//! Allowances and plans in Telegram Stars: free requests per day run out with a message saying
//! when they renew; `/plans` sends an invoice in XTR; the pre-checkout query is answered (no for
//! a wrong price, yes for the plan's); the payment adds its requests and is in the person's
//! export; an admin's refund goes to Telegram and takes back what was left.

mod common;

use common::*;
use consentgate_entity::audit_log;
use sea_orm::EntityTrait;

const PLANS: &str = r#"
[allowance]
requests_per_day = 2

[[plans]]
name = "plus"
title = "Plus"
stars = 50
requests = 3
days = 30
"#;

async fn start() -> (Harness, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("consentgate.toml");
    std::fs::write(&path, PLANS).unwrap();
    let h = Harness::start(Options {
        telegram: true,
        extra_env: vec![("CONSENTGATE_CONFIG".to_string(), path.display().to_string())],
        ..Default::default()
    })
    .await;
    (h, dir)
}

#[tokio::test]
async fn requests_run_out_a_stars_plan_adds_more_and_a_refund_takes_them_back() {
    let (h, _dir) = start().await;
    agreed(&h, MARYAM, false).await;
    let llm = || h.llm.requests().len();
    // Rights commands never count.
    h.telegram.push_update(text_update(3, MARYAM, "/privacy"));
    let sent = h.wait_sent(MARYAM.id, 3).await;
    assert!(sent[2].contains("assistant"), "{sent:?}");
    // Two free requests a day; the third is refused, saying when they renew.
    for (id, n) in [(4, 4), (5, 5)] {
        h.telegram
            .push_update(text_update(id, MARYAM, "how much is bread?"));
        h.wait_sent(MARYAM.id, n).await;
    }
    assert_eq!(llm(), 2);
    h.telegram.push_update(text_update(6, MARYAM, "and milk?"));
    let sent = h.wait_sent(MARYAM.id, 6).await;
    assert!(
        sent[5].contains("today's 2 free requests") && sent[5].contains("/plans"),
        "{sent:?}"
    );
    assert_eq!(llm(), 2);

    // /plans: the plans in words, and an invoice in Stars.
    h.telegram.push_update(text_update(7, MARYAM, "/plans"));
    let sent = h.wait_sent(MARYAM.id, 7).await;
    assert!(
        sent[6].contains("Plus") && sent[6].contains("50 ⭐"),
        "{sent:?}"
    );
    let invoice = consentgate_e2e::wait_for(WAIT, || {
        let calls = h.telegram.calls("sendInvoice");
        async move { calls.into_iter().next() }
    })
    .await
    .expect("an invoice");
    assert_eq!(invoice.body["currency"], "XTR");
    assert_eq!(invoice.body["prices"][0]["amount"], 50);
    assert_eq!(invoice.body["payload"], "plan:plus");
    assert_eq!(invoice.body["chat_id"], MARYAM.id);

    // Pre-checkout: a wrong price is refused, the plan's price accepted.
    h.telegram
        .push_update(pre_checkout_update(8, MARYAM, "plan:plus", 10));
    h.telegram
        .push_update(pre_checkout_update(9, MARYAM, "plan:plus", 50));
    let answers = consentgate_e2e::wait_for(WAIT, || {
        let calls = h.telegram.calls("answerPreCheckoutQuery");
        async move { (calls.len() >= 2).then_some(calls) }
    })
    .await
    .expect("both queries answered");
    let answer = |id: &str| {
        answers
            .iter()
            .find(|a| a.body["pre_checkout_query_id"] == id)
            .unwrap()
            .body
            .clone()
    };
    assert_eq!(answer("pcq-8")["ok"], false);
    assert!(answer("pcq-8")["error_message"].is_string());
    assert_eq!(answer("pcq-9")["ok"], true);

    // Paid: three more requests, answered at once.
    h.telegram
        .push_update(payment_update(10, MARYAM, "plan:plus", 50, "stxCHARGE-1"));
    let sent = h.wait_sent(MARYAM.id, 8).await;
    assert!(sent[7].contains("3 more requests"), "{sent:?}");
    // Telegram repeating the payment adds nothing.
    h.telegram
        .push_update(payment_update(11, MARYAM, "plan:plus", 50, "stxCHARGE-1"));
    h.telegram.push_update(text_update(12, MARYAM, "and milk?"));
    let sent = h.wait_sent(MARYAM.id, 9).await;
    assert!(sent[8].starts_with("LLM: and milk"), "{sent:?}");
    assert_eq!(llm(), 3);

    // In the export: the plan, the Stars, what is left and Telegram's charge id.
    h.telegram.push_update(text_update(13, MARYAM, "/export"));
    let export = exported(&h, MARYAM.id).await;
    assert_eq!(
        export["payments"].as_array().unwrap().len(),
        1,
        "recorded once"
    );
    assert_eq!(export["requests_used"][0]["free_requests"], 2);
    let payment = &export["payments"][0];
    assert_eq!(payment["plan"], "plus");
    assert_eq!(payment["stars"], 50);
    assert_eq!(payment["remaining_requests"], 2);
    assert_eq!(payment["telegram_payment_charge_id"], "stxCHARGE-1");
    // Not in clear at rest.
    let at_rest = h.sqlite_bytes();
    assert!(
        !at_rest
            .windows(b"stxCHARGE-1".len())
            .any(|w| w == b"stxCHARGE-1")
    );

    // The console shows the Stars per bot, never who paid.
    let c = common::console::Client::new(&h);
    let (admin, _) = common::console::admin_session(&h, &c).await;
    let overview = c.get("/console/", &admin).await;
    assert!(
        overview.body.contains("50 ⭐") && overview.body.contains("1 plans bought"),
        "{}",
        overview.body
    );

    // An admin refunds it: Telegram is asked, the unused requests go, the person is told.
    let app = h.app(h.config(&[])).await;
    let said = consentgate::cli::payments::refund(&app, "stxCHARGE-1")
        .await
        .unwrap();
    assert!(said.contains("refunded 50 Stars"), "{said}");
    let refund = h
        .telegram
        .calls("refundStarPayment")
        .pop()
        .expect("refunded");
    assert_eq!(refund.body["user_id"], MARYAM.id);
    assert_eq!(refund.body["telegram_payment_charge_id"], "stxCHARGE-1");
    assert!(
        consentgate::cli::payments::refund(&app, "stxCHARGE-1")
            .await
            .is_err(),
        "once"
    );
    let sent = h.wait_sent(MARYAM.id, 10).await;
    assert!(sent[9].contains("was refunded"), "{sent:?}");
    h.telegram.push_update(text_update(14, MARYAM, "and eggs?"));
    let sent = h.wait_sent(MARYAM.id, 11).await;
    assert!(sent.last().unwrap().contains("free requests"), "{sent:?}");
    assert_eq!(llm(), 3);

    // Help with a payment, as Telegram asks of bots that take Stars.
    h.telegram
        .push_update(text_update(15, MARYAM, "/paysupport"));
    let sent = h.wait_sent(MARYAM.id, 12).await;
    assert!(sent[11].contains("refund"), "{sent:?}");

    // Audited: received and refunded.
    let actions: Vec<String> = audit_log::Entity::find()
        .all(h.db())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(actions.contains(&"payment.received".to_string()));
    assert!(actions.contains(&"payment.refunded".to_string()));
    h.finish().await;
}
