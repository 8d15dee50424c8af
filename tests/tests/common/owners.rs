//! Business owners and their linked accounts, for the tests that need one: a gateway with a
//! fake OAuth provider, an owner made with an invite, and a Google account linked through the
//! whole OAuth dance.

use chrono::Utc;
use consentgate::owners::integrations::Integrations;
use consentgate_e2e::FakeOAuth;
use reqwest::{StatusCode, header};

use super::*;

pub async fn start() -> (Harness, FakeOAuth) {
    let oauth = FakeOAuth::start().await;
    let env = |k: &str, v: String| (k.to_string(), v);
    let h = Harness::start(Options {
        telegram: true,
        extra_env: vec![
            env("OAUTH_GOOGLE_CLIENT_ID", "test-client".into()),
            env("OAUTH_GOOGLE_CLIENT_SECRET", "test-client-secret".into()),
            env(
                "OAUTH_GOOGLE_AUTHORIZE_URL",
                format!("{}/authorize", oauth.url),
            ),
            env("OAUTH_GOOGLE_TOKEN_URL", format!("{}/token", oauth.url)),
            env(
                "OAUTH_GOOGLE_REVOCATION_URL",
                format!("{}/revoke", oauth.url),
            ),
            env(
                "OAUTH_GOOGLE_ACCOUNT_URL",
                format!("{}/userinfo", oauth.url),
            ),
        ],
        ..Default::default()
    })
    .await;
    (h, oauth)
}

pub async fn service(h: &Harness) -> Integrations {
    let mut config = h.config(&[]);
    // The gateway's callbacks are on the address it bound.
    config.public_url = Some(url::Url::parse(&h.base).unwrap());
    h.app(config).await.offline_integrations()
}

/// The URL on the latest link button sent to `chat`.
pub fn link_button(h: &Harness, chat: i64) -> String {
    h.telegram
        .sends_to(chat)
        .iter()
        .rev()
        .filter_map(|r| r.body.get("reply_markup"))
        .flat_map(|m| m["inline_keyboard"].as_array().cloned().unwrap_or_default())
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .find_map(|b| b["url"].as_str().map(str::to_string))
        .expect("a link button")
}

pub async fn telegram_bot_id(h: &Harness) -> i64 {
    consentgate::rights::export::bot_names(h.db())
        .await
        .unwrap()
        .into_iter()
        .find(|(_, n)| n == "telegram")
        .unwrap()
        .0
}

/// Ivan, made an owner with an invite code.
pub async fn claimed_owner<'a>(h: &'a Harness, i: &Integrations) -> Owner<'a> {
    let mut owner = Owner {
        h,
        next: 0,
        seen: 0,
    };
    let code = i
        .invite(telegram_bot_id(h).await, Utc::now())
        .await
        .unwrap();
    let claimed = owner.say(&format!("/claim {code}"), 1).await;
    assert!(claimed[0].contains("You are now an owner"), "{claimed:?}");
    owner
}

/// The `state` parameter of an authorization URL.
pub fn state_in(authorize: &str) -> String {
    url::Url::parse(authorize)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .to_string()
}

pub struct Owner<'a> {
    pub h: &'a Harness,
    pub next: i64,
    pub seen: usize,
}

impl Owner<'_> {
    pub async fn say(&mut self, text: &str, n: usize) -> Vec<String> {
        self.next += 1;
        self.h
            .telegram
            .push_update(text_update(self.next, IVAN, text));
        self.wait(n).await
    }

    pub async fn press(&mut self, label: &str, n: usize) -> Vec<String> {
        self.next += 1;
        let data = button_data(self.h, IVAN.id, label);
        self.h
            .telegram
            .push_update(button_update(self.next, IVAN, &data));
        self.wait(n).await
    }

    pub async fn wait(&mut self, n: usize) -> Vec<String> {
        let all = self.h.wait_sent(IVAN.id, self.seen + n).await;
        let new = all[self.seen..].to_vec();
        self.seen = all.len();
        new
    }
}

/// /link, Continue, and the browser's round trip for Google; returns the callback URL used.
pub async fn link_google(h: &Harness, owner: &mut Owner<'_>) -> String {
    let linked = link_provider(h, owner, "google", "Google").await;
    assert!(
        linked
            .shown
            .contains("see, edit, create and delete your Google Sheets spreadsheets"),
        "{}",
        linked.shown
    );
    assert!(
        linked.authorize.contains("code_challenge_method=S256"),
        "{}",
        linked.authorize
    );
    assert!(linked.authorize.contains("access_type=offline"));
    assert!(
        linked
            .callback
            .starts_with(&format!("{}/oauth/google/callback?", h.base)),
        "{}",
        linked.callback
    );
    assert!(linked.page.contains("confirm Google in the chat"));
    // Asked in the chat, naming the account, before it is used.
    assert!(
        linked
            .asked
            .contains("The Google account owner@example.com"),
        "{}",
        linked.asked
    );
    linked.callback
}

/// What the owner saw and the browser did while linking.
pub struct Linked {
    /// The disclosure before Continue.
    pub shown: String,
    pub authorize: String,
    pub callback: String,
    /// The callback page's text.
    pub page: String,
    /// The question in the chat naming the account.
    pub asked: String,
}

/// The browser at the provider's authorization page, redirected back with a code: the
/// gateway's callback URL.
pub async fn approve_in_browser(authorize: &str) -> String {
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let back = no_redirects.get(authorize).send().await.unwrap();
    assert_eq!(back.status(), StatusCode::FOUND);
    back.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string()
}

/// `/link NAME`, Continue, the browser's round trip and the confirmation in the chat, for any
/// provider pointed at the fake.
pub async fn link_provider(h: &Harness, owner: &mut Owner<'_>, name: &str, title: &str) -> Linked {
    let shown = owner.say(&format!("/link {name}"), 1).await.remove(0);
    owner.press(&format!("Continue to {title}"), 1).await;
    let authorize = link_button(h, IVAN.id);
    let callback = approve_in_browser(&authorize).await;
    let page = h.http.get(&callback).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    let asked = owner.wait(1).await.remove(0);
    assert!(asked.contains("was just connected"), "{asked}");
    let told = owner.press("Yes, use it", 1).await;
    assert!(told[0].contains(&format!("{title} is linked")), "{told:?}");
    Linked {
        shown,
        authorize,
        callback,
        page,
        asked,
    }
}

/// The variables pointing a provider's OAuth endpoints at the fake.
pub fn oauth_env(name: &str, oauth: &FakeOAuth) -> Vec<(String, String)> {
    let upper = name.to_ascii_uppercase();
    let env = |k: &str, v: String| (format!("OAUTH_{upper}_{k}"), v);
    vec![
        env("CLIENT_ID", "test-client".into()),
        env("CLIENT_SECRET", "test-client-secret".into()),
        env("AUTHORIZE_URL", format!("{}/authorize", oauth.url)),
        env("TOKEN_URL", format!("{}/token", oauth.url)),
        env("REVOCATION_URL", format!("{}/revoke", oauth.url)),
        env("ACCOUNT_URL", format!("{}/userinfo", oauth.url)),
    ]
}
