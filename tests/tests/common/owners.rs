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

/// /claim, /link, Continue, and the browser's round trip; returns the callback URL used.
pub async fn link_google(h: &Harness, owner: &mut Owner<'_>) -> String {
    let shown = owner.say("/link google", 1).await;
    assert!(
        shown[0].contains("see, edit, create and delete your Google Sheets spreadsheets"),
        "{shown:?}"
    );
    owner.press("Continue to Google", 1).await;
    let authorize = link_button(h, IVAN.id);
    assert!(
        authorize.contains("code_challenge_method=S256"),
        "{authorize}"
    );
    assert!(authorize.contains("access_type=offline"));
    // The browser: the provider redirects back to the gateway.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let back = no_redirects.get(&authorize).send().await.unwrap();
    assert_eq!(back.status(), StatusCode::FOUND);
    let callback = back.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        callback.starts_with(&format!("{}/oauth/google/callback?", h.base)),
        "{callback}"
    );
    let page = h.http.get(&callback).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("confirm Google in the chat")
    );
    // Asked in the chat, naming the account, before it is used.
    let asked = owner.wait(1).await;
    assert!(
        asked[0].contains("The Google account owner@example.com"),
        "{asked:?}"
    );
    let told = owner.press("Yes, use it", 1).await;
    assert!(told[0].contains("Google is linked"), "{told:?}");
    callback
}
