//! The same consent flow over the web chat's HTTP API.

mod common;

use common::*;
use consentgate_entity::consent_events;
use reqwest::{StatusCode, header};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Value, json};

#[tokio::test]
async fn web_chat_asks_for_consent_then_talks_to_the_assistant() {
    let h = Harness::start(Options::default()).await;
    let (mut browser, set_cookie) = Browser::open(&h).await;
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");

    let replies = browser.say("what are your prices?").await;
    assert_eq!(replies.len(), 1);
    assert!(
        replies[0]["text"]
            .as_str()
            .unwrap()
            .contains("Do you agree")
    );
    assert!(h.llm.requests().is_empty());
    assert!(!h.dump().await.contains("your prices"));

    let agree = web_button(&replies[0], "Agree");
    let replies = browser.press(&agree).await;
    assert!(
        replies[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Thank you")
    );

    let replies = browser.say("what are your prices?").await;
    assert_eq!(replies[0]["text"], "LLM: what are your prices?");
    let requests = h.llm.requests();
    assert_eq!(requests.len(), 1);
    let user = requests[0].body["user"].as_str().unwrap();
    assert_eq!(user.len(), 64);
    // The session cookie, the browser's credential, never reaches the provider.
    let session = browser.cookie.split('=').nth(1).unwrap().to_string();
    assert!(!requests[0].raw.contains(&session));

    let replies = browser.say("/revoke").await;
    assert!(replies[0]["text"].as_str().unwrap().contains("withdrawn"));
    let replies = browser.say("and now?").await;
    assert!(
        replies
            .iter()
            .any(|r| r["text"].as_str().unwrap().contains("Do you agree"))
    );
    assert_eq!(h.llm.requests().len(), 1);

    let events = consent_events::Entity::find()
        .order_by_asc(consent_events::Column::Id)
        .all(h.db())
        .await
        .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["given", "withdrawn"]);
    assert!(events.iter().all(|e| e.channel == "webchat"));
    // Neither the session nor anything derived from it in clear is stored.
    let dump = h.dump().await;
    assert!(!dump.contains(&session));
    h.finish().await;
}

#[tokio::test]
async fn web_chat_refuses_bad_requests_politely() {
    let h = Harness::start(Options::default()).await;
    // No session cookie.
    let resp = h
        .http
        .post(format!("{}/webchat/api/messages", h.base))
        .json(&json!({"text": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(
        resp.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("session")
    );

    let (browser, _) = Browser::open(&h).await;
    // Not JSON.
    let resp = h
        .http
        .post(format!("{}/webchat/api/messages", h.base))
        .header(header::COOKIE, &browser.cookie)
        .header(header::CONTENT_TYPE, "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.json::<Value>().await.unwrap()["error"].is_string());
    // Too long.
    let resp = browser
        .post("/webchat/api/messages", json!({"text": "x".repeat(5000)}))
        .await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Over the body limit.
    let resp = browser
        .post(
            "/webchat/api/messages",
            json!({"text": "y".repeat(100_000)}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Empty.
    let resp = browser
        .post("/webchat/api/messages", json!({"text": "  "}))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // A forged button.
    let resp = browser
        .post("/webchat/api/buttons", json!({"data": "consent:agree:999"}))
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert!(h.llm.requests().is_empty());
    let events = consent_events::Entity::find().all(h.db()).await.unwrap();
    assert!(events.is_empty(), "a forged button recorded consent");
    h.finish().await;
}

#[tokio::test]
async fn a_retried_web_request_is_handled_once() {
    let h = Harness::start(Options::default()).await;
    let (mut browser, _) = Browser::open(&h).await;
    let first = browser.say("hello").await;
    let agree = web_button(&first[0], "Agree");
    browser.press(&agree).await;
    for _ in 0..2 {
        let resp = browser
            .post(
                "/webchat/api/messages",
                json!({"text": "once", "client_id": "abc-1"}),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
    }
    let replies = browser.replies().await;
    assert_eq!(replies.len(), 1);
    assert_eq!(h.llm.requests().len(), 1);
    let dump = h.dump().await;
    assert!(
        !dump.contains("abc-1"),
        "the client's key is stored in clear"
    );
    h.finish().await;
}

#[tokio::test]
async fn health_and_readiness() {
    let h = Harness::start(Options::default()).await;
    let resp = h
        .http
        .get(format!("{}/healthz", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = h
        .http
        .get(format!("{}/readyz", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"database": true, "migrations": true, "channels": {}})
    );
    h.finish().await;
}

/// Every response says: no sniffing, no framing, no referrer, and a Content-Security-Policy;
/// the chat page's policy allows exactly its own inline script and style, by hash.
#[tokio::test]
async fn every_response_carries_security_headers_and_the_page_its_own_policy() {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let h = Harness::start(Options::default()).await;
    for path in ["/", "/healthz", "/webchat/api/replies", "/export/nope"] {
        let resp = h
            .http
            .get(format!("{}{path}", h.base))
            .send()
            .await
            .unwrap();
        let headers = resp.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.starts_with("default-src 'none'"), "{path}: {policy}");
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
    }
    let page = h.http.get(format!("{}/", h.base)).send().await.unwrap();
    let policy = page.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    let html = page.text().await.unwrap();
    let hash = |inner: &str| {
        let digest = Sha256::digest(inner.as_bytes());
        format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(digest)
        )
    };
    let between = |open: &str, close: &str| {
        html.split_once(open)
            .unwrap()
            .1
            .split_once(close)
            .unwrap()
            .0
            .to_string()
    };
    let script = between("<script>", "</script>");
    let style = between("<style>", "</style>");
    assert!(
        policy.contains(&format!("script-src {}", hash(&script))),
        "{policy}"
    );
    assert!(
        policy.contains(&format!("style-src {}", hash(&style))),
        "{policy}"
    );
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    // Nothing on the page needs what the policy forbids: no inline handlers or style attributes.
    assert!(!html.contains(" onclick=") && !html.contains(" style="));
    h.finish().await;
}

/// Web-chat identities cost something: a session id the server never issued is refused (no
/// person, no outbox, no reply), `/session` answers it with a fresh session instead of adopting
/// it, and new sessions are limited, with a clear message.
#[tokio::test]
async fn invented_sessions_are_never_adopted_and_new_ones_are_limited() {
    let h = Harness::start(Options::default()).await;
    let invented = format!("cg_session={}", "A".repeat(43));
    let say = h
        .http
        .post(format!("{}/webchat/api/messages", h.base))
        .header(header::COOKIE, &invented)
        .json(&json!({"text": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(say.status(), StatusCode::UNAUTHORIZED);
    let read = h
        .http
        .get(format!("{}/webchat/api/replies?wait=0", h.base))
        .header(header::COOKIE, &invented)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::UNAUTHORIZED);
    assert!(
        consentgate_entity::subjects::Entity::find()
            .all(h.db())
            .await
            .unwrap()
            .is_empty(),
        "an invented session created a person"
    );
    let fresh = h
        .http
        .post(format!("{}/webchat/api/session", h.base))
        .header(header::COOKIE, &invented)
        .send()
        .await
        .unwrap();
    let set_cookie = fresh.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(!set_cookie.contains(&"A".repeat(43)), "{set_cookie}");

    // New sessions from one address, one after another: a burst is allowed, then a polite
    // refusal.
    let (n, body) = sessions_until_refused(&h, None).await;
    assert!(n >= 4, "refused after only {n}");
    assert!(
        body["error"].as_str().unwrap().contains("your address"),
        "{body}"
    );
    h.finish().await;
}

/// Opens new sessions (as forwarded for `client`, if given) until one is refused; how many were
/// accepted first and the refusal. Bounded: 100 attempts.
async fn sessions_until_refused(h: &Harness, client: Option<&str>) -> (usize, Value) {
    for n in 0..100 {
        let mut req = h.http.post(format!("{}/webchat/api/session", h.base));
        if let Some(c) = client {
            req = req.header("x-forwarded-for", c);
        }
        let resp = req.send().await.unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            return (n, resp.json::<Value>().await.unwrap());
        }
        assert_eq!(resp.status(), StatusCode::OK);
    }
    panic!("100 new sessions in a row were all accepted");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance() {
    let h = Harness::start(Options {
        extra_env: vec![(
            "CONSENTGATE_HTTP_TRUSTED_PROXIES".into(),
            "127.0.0.1".into(),
        )],
        ..Default::default()
    })
    .await;
    // One client through the proxy uses up its own allowance…
    let (first, body) = sessions_until_refused(&h, Some("203.0.113.1")).await;
    assert!((4..30).contains(&first), "{first}");
    assert!(body["error"].as_str().unwrap().contains("your address"));
    // …which leaves the next client theirs (the proxy's own address is not what is counted).
    let (second, _) = sessions_until_refused(&h, Some("198.51.100.1, 203.0.113.2")).await;
    assert!((4..30).contains(&second), "{second}");
    // A client writing its own X-Forwarded-For before the proxy's entry gains nothing: the
    // proxy's entry (the last) is the one counted.
    let (spoofed, _) = sessions_until_refused(&h, Some("192.0.2.99, 203.0.113.2")).await;
    assert_eq!(spoofed, 0);
    // Many clients together still meet the limit of all.
    let mut global = None;
    for i in 0..200 {
        let resp = h
            .http
            .post(format!("{}/webchat/api/session", h.base))
            .header(
                "x-forwarded-for",
                format!("10.9.{}.{}", i / 200, i % 200 + 1),
            )
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            global = Some(resp.json::<Value>().await.unwrap());
            break;
        }
    }
    let global = global.expect("200 clients opened sessions without limit");
    assert!(
        global["error"]
            .as_str()
            .unwrap()
            .contains("Too many new chats are starting"),
        "{global}"
    );
    h.finish().await;
}

#[tokio::test]
async fn agreeing_renews_the_session_and_the_old_cookie_is_nobodys() {
    let h = Harness::start(Options::default()).await;
    let (mut browser, _) = Browser::open(&h).await;
    let replies = browser.say("hello").await;
    let agree = web_button(&replies[0], "Agree");
    // A copy of the cookie as it was before the choice (planted, or read over a shoulder).
    let old = browser.cookie.clone();
    // A long-poll still open with the old cookie while the choice is made.
    let waiting = h
        .http
        .get(format!(
            "{}/webchat/api/replies?after={}&wait=20",
            h.base, browser.seen
        ))
        .header(header::COOKIE, &old)
        .send();
    let waiting = tokio::spawn(waiting);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let replies = browser.press(&agree).await;
    assert_ne!(browser.cookie, old, "the session was not renewed");
    assert!(
        replies[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Thank you"),
        "{replies:?}"
    );
    // The old long-poll let go at once instead of holding the page for its whole wait.
    let left: Value = waiting.await.unwrap().unwrap().json().await.unwrap();
    assert!(left["replies"].as_array().unwrap().is_empty(), "{left}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));

    // The renewed session is the same person: consent holds.
    let replies = browser.say("what are your hours?").await;
    assert_eq!(replies[0]["text"], "LLM: what are your hours?");
    // The old cookie is nobody's now: it reads nothing, and writing with it makes a newcomer who
    // is asked for consent.
    let mut stale = Browser {
        h: &h,
        cookie: old,
        seen: 0,
    };
    let replies = stale.say("is this still Ivan?").await;
    assert!(
        replies[0]["text"]
            .as_str()
            .unwrap()
            .contains("Do you agree"),
        "{replies:?}"
    );
    assert_eq!(h.llm.requests().len(), 1);
    let changed = consentgate_entity::audit_log::Entity::find()
        .all(h.db())
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "identity.changed")
        .count();
    assert_eq!(changed, 1);
    h.finish().await;
}
