//! The console over HTTP: every page needs a session; an admin key plus TOTP (enrolled at the
//! first sign-in, with recovery codes) signs in; a wrong code, a reused one and a spent recovery
//! code fail; a change without the session's CSRF token is refused; cookie flags and security
//! headers; sign-out, and sign-out everywhere. (The same in a real browser:
//! `console_browser.rs`.)

mod common;

use common::console::*;
use common::*;
use consentgate::web::{
    admin::{self, Role},
    console::totp,
};
use consentgate_entity::{admin_totp, audit_log};
use reqwest::{StatusCode, header};
use sea_orm::{EntityTrait, QueryOrder};

async fn actions(h: &Harness) -> Vec<(String, String)> {
    audit_log::Entity::find()
        .order_by_asc(audit_log::Column::Id)
        .all(h.db())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action.starts_with("console."))
        .map(|e| (e.action, e.detail))
        .collect()
}

#[tokio::test]
async fn without_a_session_every_page_sends_you_to_sign_in() {
    let h = Harness::start(Options::default()).await;
    let c = Client::new(&h);
    for path in [
        "/console/",
        "/console/connections",
        "/console/audit",
        "/console/connections/1",
        "/console/connections/1/revoke",
        "/console/people",
        "/console/policy",
        "/console/settings",
        "/console/knowledge",
    ] {
        let r = c.get(path, "").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.location.as_deref(), Some("/console/login"), "{path}");
    }
    // A made-up session id is no session.
    let r = c.get("/console/", "cg_console=made-up").await;
    assert_eq!(r.location.as_deref(), Some("/console/login"));
    for path in [
        "/console/connections/1/revoke",
        "/console/people/erase",
        "/console/knowledge/remove",
        "/console/tools/remove",
    ] {
        let r = c.post(path, "", &[("csrf", "x")]).await;
        assert_eq!(r.location.as_deref(), Some("/console/login"), "{path}");
    }
    // The sign-in page: no script allowed, no framing, not cached.
    let r = c.get("/console/login", "").await;
    let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(r.headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    assert!(!r.body.contains("<script"));
    // A wrong key, or a form without its token, signs no one in.
    let login = r.cookie("cg_login").unwrap();
    let token = r.field("login");
    let wrong = c
        .post(
            "/console/login",
            &login,
            &[("key", "cgk_wrong"), ("login", &token)],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.cookie("cg_console").is_none());
    let forged = c
        .post(
            "/console/login",
            "",
            &[("key", "cgk_wrong"), ("login", &token)],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    h.finish().await;
}

#[tokio::test]
async fn an_admin_enrols_totp_and_signs_in_with_a_code_once() {
    let h = Harness::start(Options::default()).await;
    let key = admin::create_key(h.db(), Role::Admin, "ops").await.unwrap();
    let c = Client::new(&h);

    // First sign-in: the key, then the authenticator is set up.
    let half = c.key_step(&key).await;
    let enrol = c.get("/console/login/second", &half).await;
    assert_eq!(enrol.status, StatusCode::OK);
    assert!(
        enrol.body.contains("otpauth://totp/ConsentGate:key-"),
        "{}",
        enrol.body
    );
    assert!(enrol.body.contains("data:image/svg+xml;base64,"));
    let secret = secret_on(&enrol.body);
    // Stored encrypted, not as the secret.
    let stored = admin_totp::Entity::find().all(h.db()).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].secret_enc.contains(&totp::base32(&secret)));
    let csrf = enrol.field("csrf");
    // Half-way is not signed in.
    assert_eq!(
        c.get("/console/", &half).await.location.as_deref(),
        Some("/console/login")
    );
    let wrong = c
        .post(
            "/console/login/enrol",
            &half,
            &[("code", "000000"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let step = totp::step_at(now());
    let code = totp::code_at(&secret, step);
    let done = c
        .post(
            "/console/login/enrol",
            &half,
            &[("code", &code), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("recovery codes"));
    let recovery: Vec<String> = done
        .body
        .split("<li>")
        .skip(1)
        .map(|li| li.split('<').next().unwrap().to_string())
        .collect();
    assert_eq!(recovery.len(), 10);
    // A new session id, HttpOnly, SameSite=Lax, for /console only; Secure needs https.
    let set = done.set_cookie("cg_console");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    assert!(
        set.contains("Path=/console") && !set.contains("Secure"),
        "{set}"
    );
    let full = done.cookie("cg_console").unwrap();
    assert_ne!(full, half);
    assert_eq!(c.get("/console/", &full).await.status, StatusCode::OK);
    assert_eq!(
        c.get("/console/", &half).await.location.as_deref(),
        Some("/console/login"),
        "the half-way id is gone"
    );
    let overview = c.get("/console/", &full).await;
    let csrf = overview.field("csrf");

    // A change without the session's CSRF token is refused.
    let r = c
        .post(
            "/console/connections/1/revoke",
            &full,
            &[("csrf", "forged")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = c.post("/console/connections/1/revoke", &full, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // People: someone who wrote on the web chat and agreed, found by the first digits of their
    // pseudonym (in a form, not the URL); their consent record and their export.
    let (mut web, _) = Browser::open(&h).await;
    let prompt = web.say("hello").await;
    web.press(&web_button(&prompt[0], "Agree")).await;
    let pseudonym = consentgate_entity::subjects::Entity::find()
        .one(h.db())
        .await
        .unwrap()
        .unwrap()
        .pseudonym;
    let found = c
        .post(
            "/console/people",
            &full,
            &[("csrf", &csrf), ("who", &pseudonym[..10])],
        )
        .await;
    assert_eq!(found.status, StatusCode::OK);
    assert!(
        found.body.contains("given") && found.body.contains("assistant"),
        "{}",
        found.body
    );
    let export = c
        .post(
            "/console/people/export",
            &full,
            &[("csrf", &csrf), ("who", &pseudonym[..10])],
        )
        .await;
    assert_eq!(export.status, StatusCode::OK);
    assert!(
        export.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let data: serde_json::Value = serde_json::from_str(&export.body).unwrap();
    assert!(data.to_string().contains(&pseudonym));
    let unknown = c
        .post(
            "/console/people",
            &full,
            &[("csrf", &csrf), ("who", "00000000")],
        )
        .await;
    assert!(unknown.body.contains("no subject"), "{}", unknown.body);

    // Settings: keys listed (never shown), a new auditor key made and shown once, working, then
    // revoked; a key does not revoke itself here.
    let settings = c.get("/console/settings", &full).await;
    assert_eq!(settings.status, StatusCode::OK);
    assert!(settings.body.contains("set up") && !settings.body.contains(&key));
    let made = c
        .post(
            "/console/settings/keys",
            &full,
            &[("csrf", &csrf), ("role", "auditor"), ("label", "DPO")],
        )
        .await;
    assert_eq!(made.status, StatusCode::OK);
    let at = made.body.find("cgk_").expect("the new key, shown once");
    let new_key: String = made.body[at..].chars().take_while(|c| *c != '<').collect();
    let page = c.get("/console/login", "").await;
    let r = c
        .post(
            "/console/login",
            &page.cookie("cg_login").unwrap(),
            &[("key", &new_key), ("login", &page.field("login"))],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "the new key signs in");
    let self_revoke = c
        .post(
            "/console/settings/keys/revoke",
            &full,
            &[("csrf", &csrf), ("id", "1")],
        )
        .await;
    assert_eq!(self_revoke.status, StatusCode::BAD_REQUEST);
    let revoked = c
        .post(
            "/console/settings/keys/revoke",
            &full,
            &[("csrf", &csrf), ("id", "2")],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    let page = c.get("/console/login", "").await;
    let r = c
        .post(
            "/console/login",
            &page.cookie("cg_login").unwrap(),
            &[("key", &new_key), ("login", &page.field("login"))],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "a revoked key");

    // Signed out: the session is gone.
    let out = c.post("/console/logout", &full, &[("csrf", &csrf)]).await;
    assert_eq!(out.location.as_deref(), Some("/console/login"));
    assert_eq!(
        c.get("/console/", &full).await.location.as_deref(),
        Some("/console/login")
    );

    // Next sign-in: the code used at enrolment is spent; the next step's is good, once.
    let half = c.key_step(&key).await;
    let page = c.get("/console/login/second", &half).await;
    assert!(page.body.contains("six-digit code"), "{}", page.body);
    let csrf = page.field("csrf");
    let reused = c
        .post(
            "/console/login/code",
            &half,
            &[("code", &code), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);
    let next = totp::code_at(&secret, step + 1);
    let ok = c
        .post(
            "/console/login/code",
            &half,
            &[("code", &next), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let first = ok.cookie("cg_console").unwrap();
    let half = c.key_step(&key).await;
    let csrf = c.get("/console/login/second", &half).await.field("csrf");
    let again = c
        .post(
            "/console/login/code",
            &half,
            &[("code", &next), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::UNAUTHORIZED,
        "a code is good once"
    );

    // A recovery code works once.
    let ok = c
        .post(
            "/console/login/code",
            &half,
            &[("code", &recovery[0]), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    let second = ok.cookie("cg_console").unwrap();
    let half = c.key_step(&key).await;
    let csrf = c.get("/console/login/second", &half).await.field("csrf");
    let spent = c
        .post(
            "/console/login/code",
            &half,
            &[("code", &recovery[0]), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(spent.status, StatusCode::UNAUTHORIZED);

    // Sign out everywhere ends both sessions.
    let csrf = c.get("/console/", &second).await.field("csrf");
    c.post(
        "/console/logout",
        &second,
        &[("csrf", &csrf), ("everywhere", "1")],
    )
    .await;
    for s in [&first, &second] {
        assert_eq!(
            c.get("/console/", s).await.location.as_deref(),
            Some("/console/login")
        );
    }

    // Revoking the key ends its sessions at once.
    let half = c.key_step(&key).await;
    let csrf = c.get("/console/login/second", &half).await.field("csrf");
    let third = c
        .post(
            "/console/login/code",
            &half,
            &[("code", &recovery[1]), ("csrf", &csrf)],
        )
        .await
        .cookie("cg_console")
        .unwrap();
    assert_eq!(c.get("/console/", &third).await.status, StatusCode::OK);
    let id = admin::list_keys(h.db()).await.unwrap()[0]["id"]
        .as_i64()
        .unwrap();
    admin::revoke_key(h.db(), id).await.unwrap();
    assert_eq!(
        c.get("/console/", &third).await.location.as_deref(),
        Some("/console/login")
    );

    // Every step is in the audit log under the key's id, never the key or a code.
    let log = actions(&h).await;
    let names: Vec<&str> = log.iter().map(|(a, _)| a.as_str()).collect();
    assert!(names.contains(&"console.totp_enrolled"));
    assert_eq!(
        names.iter().filter(|a| **a == "console.signed_in").count(),
        4
    );
    assert!(
        names
            .iter()
            .filter(|a| **a == "console.sign_in_failed")
            .count()
            >= 3
    );
    for (_, detail) in &log {
        assert!(
            !detail.contains(&key) && !detail.contains(&code) && !detail.contains(&recovery[0])
        );
    }
    h.finish().await;
}

#[tokio::test]
async fn a_reset_authenticator_is_set_up_again_and_a_revoked_key_ends_its_sessions() {
    let h = Harness::start(Options::default()).await;
    let key = admin::create_key(h.db(), Role::Auditor, "auditor")
        .await
        .unwrap();
    let c = Client::new(&h);
    let half = c.key_step(&key).await;
    let enrol = c.get("/console/login/second", &half).await;
    let secret = secret_on(&enrol.body);
    let code = totp::code_at(&secret, totp::step_at(now()));
    let done = c
        .post(
            "/console/login/enrol",
            &half,
            &[("code", &code), ("csrf", &enrol.field("csrf"))],
        )
        .await;
    let full = done.cookie("cg_console").unwrap();
    // An auditor sees connections but is offered no revocation.
    let page = c.get("/console/connections", &full).await;
    assert_eq!(page.status, StatusCode::OK);
    let r = c.get("/console/connections/1/revoke", &full).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        c.get("/console/people", &full).await.status,
        StatusCode::FORBIDDEN
    );
    // Nor to publish a policy: the page shows versions only.
    let policy = c.get("/console/policy", &full).await;
    assert_eq!(policy.status, StatusCode::OK);
    assert!(
        policy.body.contains("Published versions")
            && !policy.body.contains("Publish a new version")
    );
    let csrf = policy.field("csrf");
    let r = c
        .post(
            "/console/policy/publish",
            &full,
            &[
                ("csrf", &csrf),
                ("bot", "webchat"),
                ("text", "New."),
                ("summary", "x"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let id: i64 = admin::list_keys(h.db()).await.unwrap()[0]["id"]
        .as_i64()
        .unwrap();
    assert!(
        consentgate::web::console::reset_totp(h.db(), id)
            .await
            .unwrap()
    );
    assert_eq!(
        c.get("/console/", &full).await.location.as_deref(),
        Some("/console/login"),
        "a reset ends the sessions"
    );
    let half = c.key_step(&key).await;
    let enrol = c.get("/console/login/second", &half).await;
    assert!(enrol.body.contains("Set up your authenticator"));
    let renewed = secret_on(&enrol.body);
    assert_ne!(renewed, secret, "a new secret");
    // Five wrong codes, and the key must wait, even with the right one.
    let csrf = enrol.field("csrf");
    for _ in 0..5 {
        let r = c
            .post(
                "/console/login/enrol",
                &half,
                &[("code", "123456"), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let right = totp::code_at(&renewed, totp::step_at(now()));
    let r = c
        .post(
            "/console/login/enrol",
            &half,
            &[("code", &right), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);

    admin::revoke_key(h.db(), id).await.unwrap();
    let page = c.get("/console/login", "").await;
    let r = c
        .post(
            "/console/login",
            &page.cookie("cg_login").unwrap(),
            &[("key", &key), ("login", &page.field("login"))],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "a revoked key");
    h.finish().await;
}

#[tokio::test]
async fn an_owner_signs_in_from_panel_once_and_sees_only_their_bot() {
    use common::owners::*;
    let (h, _oauth) = start().await;
    let i = service(&h).await;
    let mut owner = claimed_owner(&h, &i).await;
    link_google(&h, &mut owner).await;
    let told = owner.say("/panel", 1).await;
    assert!(told[0].contains("console"), "{told:?}");
    let url = link_button(&h, IVAN.id);
    let path = url
        .strip_prefix(&h.base)
        .expect("a link to this gateway")
        .to_string();
    assert!(path.starts_with("/console/login/link/"), "{path}");

    let c = Client::new(&h);
    // Opening the link spends nothing (a link preview may fetch it); the button signs in.
    let page = c.get(&path, "").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(c.get(&path, "").await.status, StatusCode::OK);
    let signed = c.post(&path, "", &[]).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    let cookie = signed.cookie("cg_console").unwrap();
    // Once only.
    assert_eq!(c.post(&path, "", &[]).await.status, StatusCode::GONE);
    assert_eq!(c.get(&path, "").await.status, StatusCode::GONE);

    // Their bot only: the Telegram bot they own, not the web chat.
    let overview = c.get("/console/", &cookie).await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(overview.body.contains("id=\"bot-"), "{}", overview.body);
    assert!(overview.body.contains(">telegram<") && !overview.body.contains(">webchat<"));
    let connections = c.get("/console/connections", &cookie).await;
    assert!(connections.body.contains("google"));
    // The audit log is the operator's.
    assert_eq!(
        c.get("/console/audit", &cookie).await.status,
        StatusCode::FORBIDDEN
    );
    // The sign-in is audited under the owner's pseudonym.
    let log = actions(&h).await;
    assert!(
        log.iter()
            .any(|(a, d)| a == "console.signed_in" && d.contains("\"owner\"")),
        "{log:?}"
    );

    // A link past its ten minutes no longer works.
    owner.say("/panel", 1).await;
    let late = link_button(&h, IVAN.id);
    let late = late.strip_prefix(&h.base).unwrap().to_string();
    use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, QueryOrder, Set};
    let row = consentgate_entity::console_links::Entity::find()
        .order_by_desc(consentgate_entity::console_links::Column::CreatedAt)
        .one(h.db())
        .await
        .unwrap()
        .unwrap();
    let mut row = row.into_active_model();
    row.expires_at = Set(chrono::Utc::now() - chrono::Duration::minutes(1));
    row.update(h.db()).await.unwrap();
    assert_eq!(c.post(&late, "", &[]).await.status, StatusCode::GONE);

    // Someone who is not an owner gets no link.
    h.telegram.push_update(text_update(900, MARYAM, "/panel"));
    let refused = h.wait_sent(MARYAM.id, 1).await;
    assert!(refused[0].contains("Only the owners"), "{refused:?}");

    // Inside Telegram: the Mini App button, and initData signed for this bot signs the owner
    // in; forged, stale, tampered or a non-owner's (Maryam, known to the bot now) does not.
    let mini_app = h
        .telegram
        .sends_to(IVAN.id)
        .iter()
        .rev()
        .find_map(|r| {
            r.body["reply_markup"]["inline_keyboard"][0][1]["web_app"]["url"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_else(|| {
            panic!(
                "a Mini App button: {:?}",
                h.telegram
                    .sends_to(IVAN.id)
                    .iter()
                    .map(|r| r.raw.clone())
                    .collect::<Vec<_>>()
            )
        });
    assert_eq!(mini_app, format!("{}/console/app/telegram", h.base));
    let app = c.get("/console/app/telegram", "").await;
    assert_eq!(app.status, StatusCode::OK);
    let csp = app.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("script-src https://telegram.org 'sha256-"),
        "{csp}"
    );
    assert!(
        csp.contains("frame-ancestors https://web.telegram.org"),
        "{csp}"
    );
    use consentgate::web::console::miniapp;
    let user = |id: i64| format!(r#"{{"id":{id},"first_name":"Ivan"}}"#);
    let init = |id: i64, age: i64, token: &str| {
        let date = (now() - age).to_string();
        miniapp::sign(&[("user", &user(id)), ("auth_date", &date)], token)
    };
    let post_init = |data: String| {
        let c = &c;
        async move {
            c.post("/console/app/telegram/session", "", &[("init_data", &data)])
                .await
        }
    };
    let ok = post_init(init(IVAN.id, 5, TOKEN)).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let in_app = ok.cookie("cg_console").unwrap();
    let overview = c.get("/console/", &in_app).await;
    assert!(overview.body.contains(">telegram<"));
    for (data, why) in [
        (init(IVAN.id, 5, "999:another-bot"), "another bot's token"),
        (init(IVAN.id, 400, TOKEN), "stale"),
        (init(MARYAM.id, 5, TOKEN), "not an owner"),
        (
            init(IVAN.id, 5, TOKEN).replace("auth_date", "auth_dat"),
            "tampered",
        ),
    ] {
        let r = post_init(data).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{why}");
        assert!(r.cookie("cg_console").is_none(), "{why}");
    }

    h.finish().await;
}

#[tokio::test]
async fn a_connection_shows_its_history_the_overview_its_answer_times_and_an_erasure_by_email_is_told_and_undoable()
 {
    use common::owners::*;
    let (h, _oauth) = start().await;
    let i = service(&h).await;
    let mut owner = claimed_owner(&h, &i).await;
    link_google(&h, &mut owner).await;
    let (refreshed, _) = i
        .refresh_due(chrono::Utc::now() + chrono::Duration::days(1))
        .await
        .unwrap();
    assert_eq!(refreshed, 1);
    let link = i.list(&Default::default()).await.unwrap().remove(0);
    assert!(link.last_refreshed_at.is_some());

    // Maryam talks to the bot: answered, with her phone number redacted.
    maryam_agrees(&h, 900).await;
    h.telegram
        .push_update(text_update(902, MARYAM, "call me on +44 20 7946 0958"));
    h.wait_sent(MARYAM.id, 3).await;

    let c = Client::new(&h);
    let (admin, csrf) = admin_session(&h, &c).await;

    // The connection's history: linked, confirmed, refreshed, newest first.
    let list = c.get("/console/connections", &admin).await;
    assert!(
        list.body
            .contains(&format!("href=\"/console/connections/{}\"", link.id)),
        "{}",
        list.body
    );
    let history = c
        .get(&format!("/console/connections/{}", link.id), &admin)
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    let at = |what: &str| {
        history
            .body
            .find(&format!(">{what}<"))
            .unwrap_or_else(|| panic!("{what} in {}", history.body))
    };
    assert!(at("integration.refreshed") < at("integration.confirmed"));
    assert!(at("integration.confirmed") < at("integration.linked"));
    assert_eq!(
        c.get("/console/connections/999", &admin).await.status,
        StatusCode::NOT_FOUND
    );

    // The overview: the answer's time in its range, and what was redacted, by kind.
    let overview = c.get("/console/", &admin).await;
    assert!(
        overview.body.contains("Answer times") && overview.body.contains("1 answers"),
        "{}",
        overview.body
    );
    assert!(overview.body.contains(">PHONE<"), "{}", overview.body);
    // People are counted per bot, never named: Ivan and Maryam on the Telegram bot.
    assert!(
        overview.body.contains("<b>2</b>people"),
        "{}",
        overview.body
    );

    // An erasure asked for by e-mail: Maryam's pseudonym looked up, the erasure confirmed once.
    let pseudonym = h.expected_pseudonym("telegram", &MARYAM.id.to_string());
    let who = &pseudonym[..12];
    let found = c
        .post("/console/people", &admin, &[("csrf", &csrf), ("who", who)])
        .await;
    assert!(
        found.body.contains("/console/people/erase"),
        "{}",
        found.body
    );
    let asked = c
        .post(
            "/console/people/erase",
            &admin,
            &[("csrf", &csrf), ("who", who)],
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.body.contains("Erase this person"), "{}", asked.body);
    let subject = || async {
        consentgate_entity::subjects::Entity::find()
            .all(h.db())
            .await
            .unwrap()
            .into_iter()
            .find(|s| s.pseudonym == pseudonym)
    };
    assert!(
        subject().await.unwrap().purge_after.is_none(),
        "not before it is confirmed"
    );
    let without_token = c
        .post(
            "/console/people/erase",
            &admin,
            &[("who", who), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(without_token.status, StatusCode::FORBIDDEN);
    let done = c
        .post(
            "/console/people/erase",
            &admin,
            &[("csrf", &csrf), ("who", who), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("Told on 1 chat"), "{}", done.body);
    assert!(subject().await.unwrap().purge_after.is_some());
    // Told in her chat, with how to undo it.
    let told = h.wait_sent(MARYAM.id, 4).await;
    assert!(
        told[3].contains("by other means") && told[3].contains("/restore"),
        "{told:?}"
    );
    // Audited under the admin's key.
    let requested = audit_log::Entity::find()
        .all(h.db())
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.action == "erasure.requested")
        .unwrap();
    let detail: serde_json::Value = serde_json::from_str(&requested.detail).unwrap();
    assert_eq!(detail["by"]["via"], "console");
    assert!(detail["by"]["key"].as_i64().is_some(), "{detail}");
    // Asked again, it is said to be decided already.
    let again = c
        .post(
            "/console/people/erase",
            &admin,
            &[("csrf", &csrf), ("who", who), ("confirmed", "yes")],
        )
        .await;
    assert!(again.body.contains("already due"), "{}", again.body);
    // Nothing of hers is processed; she can undo it.
    let llm_before = h.llm.requests().len();
    h.telegram
        .push_update(text_update(903, MARYAM, "are you there?"));
    let held = h.wait_sent(MARYAM.id, 5).await;
    assert!(held[4].contains("/restore"), "{held:?}");
    assert_eq!(h.llm.requests().len(), llm_before);
    h.telegram.push_update(text_update(904, MARYAM, "/restore"));
    h.wait_sent(MARYAM.id, 6).await;
    assert!(subject().await.unwrap().purge_after.is_none());

    // An owner erased on request: their console session ends and their link is revoked.
    // (Update ids go on from Maryam's.)
    owner.next = 2000;
    owner.say("/panel", 1).await;
    let link_path = link_button(&h, IVAN.id)
        .strip_prefix(&h.base)
        .unwrap()
        .to_string();
    let owner_cookie = c
        .post(&link_path, "", &[])
        .await
        .cookie("cg_console")
        .unwrap();
    assert_eq!(
        c.get("/console/", &owner_cookie).await.status,
        StatusCode::OK
    );
    let ivan = h.expected_pseudonym("telegram", &IVAN.id.to_string());
    let done = c
        .post(
            "/console/people/erase",
            &admin,
            &[("csrf", &csrf), ("who", &ivan), ("confirmed", "yes")],
        )
        .await;
    assert!(
        done.body.contains("Linked accounts revoked: 1"),
        "{}",
        done.body
    );
    assert_eq!(
        c.get("/console/", &owner_cookie).await.location.as_deref(),
        Some("/console/login")
    );
    assert_eq!(
        i.list(&Default::default()).await.unwrap()[0]
            .status
            .as_str(),
        "revoked"
    );
    h.finish().await;
}

/// The text of the textarea `name` on a page, unescaped.
fn textarea(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\"");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"));
    let text = page[at..].split_once('>').unwrap().1;
    text.split("</textarea>")
        .next()
        .unwrap()
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The system prompt of the latest request the fake provider received.
fn last_system_prompt(h: &Harness) -> String {
    let requests = h.llm.requests();
    let last = requests.last().expect("a request to the provider");
    last.body["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn an_assistants_prompt_and_purpose_texts_saved_in_settings_go_live_only_with_a_published_policy()
 {
    let h = Harness::start(Options {
        telegram: true,
        ..Default::default()
    })
    .await;
    agreed(&h, MARYAM, false).await;
    h.telegram.push_update(text_update(3, MARYAM, "hello"));
    h.wait_sent(MARYAM.id, 3).await;
    let configured = last_system_prompt(&h);

    let c = Client::new(&h);
    let (admin, csrf) = admin_session(&h, &c).await;
    let settings = c.get("/console/settings", &admin).await;
    assert_eq!(settings.status, StatusCode::OK);
    assert!(settings.body.contains("Live:"), "{}", settings.body);
    assert_eq!(textarea(&settings.body, "system_prompt"), configured);

    // The draft: a new prompt, and a new text for the assistant purpose (the others as shown).
    let prompt = "You answer for Kashi Bakery: opening hours, prices and orders. Be brief.";
    let assistant_text = "Your messages, with names, numbers and addresses replaced, are sent \
                          to our AI provider so that it can answer you about Kashi Bakery.";
    let purposes: Vec<String> = settings
        .body
        .match_indices("name=\"purpose.")
        .map(|(at, _)| {
            settings.body[at + "name=\"purpose.".len()..]
                .split('"')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(purposes.contains(&"assistant".to_string()), "{purposes:?}");
    let mut form: Vec<(String, String)> = vec![
        ("csrf".into(), csrf.clone()),
        ("bot".into(), "telegram".into()),
        ("system_prompt".into(), prompt.into()),
    ];
    // The page lists each bot; the first form is the first bot's, which is telegram's here.
    for name in &purposes {
        let field = format!("purpose.{name}");
        let text = if name == "assistant" {
            assistant_text.to_string()
        } else {
            textarea(&settings.body, &field)
        };
        if !form.iter().any(|(k, _)| *k == field) {
            form.push((field, text));
        }
    }
    let form_refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let saved = c
        .post("/console/settings/assistant", &admin, &form_refs)
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(saved.body.contains("not live yet"));
    let settings = c.get("/console/settings", &admin).await;
    assert!(settings.body.contains("not live yet"), "{}", settings.body);
    assert_eq!(textarea(&settings.body, "system_prompt"), prompt);
    // An empty purpose text is refused; so is a change without the session's token.
    let mut empty = form_refs.clone();
    empty.retain(|(k, _)| *k != "purpose.assistant");
    empty.push(("purpose.assistant", " "));
    let refused = c.post("/console/settings/assistant", &admin, &empty).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let mut forged = form_refs.clone();
    forged[0] = ("csrf", "forged");
    let refused = c.post("/console/settings/assistant", &admin, &forged).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // An auditor reads the settings and changes nothing.
    let (auditor, auditor_csrf) = key_session(&h, &c, Role::Auditor).await;
    let read = c.get("/console/settings", &auditor).await;
    assert!(read.body.contains("readonly") && !read.body.contains("Save the draft"));
    let mut as_auditor = form_refs.clone();
    as_auditor[0] = ("csrf", &auditor_csrf);
    let refused = c
        .post("/console/settings/assistant", &auditor, &as_auditor)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Not live: the provider is still told the configured prompt.
    h.telegram
        .push_update(text_update(4, MARYAM, "still there?"));
    h.wait_sent(MARYAM.id, 4).await;
    assert_eq!(last_system_prompt(&h), configured);

    // Published from the policy page: the version puts the draft live.
    let policy = c.get("/console/policy?bot=telegram", &admin).await;
    assert!(
        policy.body.contains("this version puts them live"),
        "{}",
        policy.body
    );
    let text = textarea(&policy.body, "text");
    let published = c
        .post(
            "/console/policy/publish",
            &admin,
            &[
                ("csrf", &csrf),
                ("bot", "telegram"),
                ("text", &text),
                ("summary", "The assistant now answers for the bakery"),
            ],
        )
        .await;
    assert_eq!(published.status, StatusCode::OK, "{}", published.body);
    assert!(
        published.body.contains("purposes to renew: assistant"),
        "{}",
        published.body
    );
    assert!(
        c.get("/console/settings", &admin)
            .await
            .body
            .contains("Live:")
    );
    // Maryam agreed to the old text: she is asked again, shown the new one.
    let before = h.llm.requests().len();
    h.telegram
        .push_update(text_update(5, MARYAM, "what time do you open?"));
    let asked = h.wait_sent(MARYAM.id, 6).await;
    assert!(asked[4].contains("policy has changed"), "{asked:?}");
    assert!(asked[5].contains("Kashi Bakery"), "{asked:?}");
    assert_eq!(h.llm.requests().len(), before);
    let agree = button_data(&h, MARYAM.id, "Agree");
    h.telegram.push_update(button_update(6, MARYAM, &agree));
    h.wait_sent(MARYAM.id, 7).await;
    h.telegram
        .push_update(text_update(7, MARYAM, "what time do you open?"));
    h.wait_sent(MARYAM.id, 8).await;
    assert_eq!(last_system_prompt(&h), prompt);

    // Audited with the key: the draft saved, the version published.
    let log = actions(&h).await;
    let saved = log
        .iter()
        .find(|(a, _)| a == "console.settings_saved")
        .expect("the save audited");
    assert!(
        saved.1.contains("\"key\"") && saved.1.contains("assistant"),
        "{saved:?}"
    );
    assert!(!saved.1.contains("Kashi"), "digests, not the texts");
    h.finish().await;
}
