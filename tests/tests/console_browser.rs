//! The console in a real browser: headless Chromium driven over WebDriver (Debian's `chromium`
//! and `chromium-driver`, which `.ci/run` installs). An admin enrols TOTP, signs in with a code,
//! sees an owner's linked Google account and revokes it with one click and a confirmation; the
//! fake OAuth provider receives the revocation; then the owner signs in with the link `/panel`
//! sent them and sees only their bot. The window is phone-sized (the console is also
//! the Telegram Mini App). Screenshots of each page are saved under
//! `target/tmp/console-screenshots/` for review.
//!
//! The web chat in the same browser: the answer grows in place while it is streamed, then is
//! replaced by the formatted answer.
//!
//! Without chromedriver the test says so and passes, except under CI (`CI` set), where it
//! fails: there the browser must be present.

mod common;

use std::{path::PathBuf, process::Stdio, time::Duration};

use common::{IVAN, MARYAM, button_data, button_update, owners::*, text_update};
use consentgate::web::{
    admin::{self, Role},
    console::totp,
};
use fantoccini::{Client, ClientBuilder, Locator};

fn chromedriver() -> Option<PathBuf> {
    let candidates = [
        std::env::var("CHROMEDRIVER").ok().map(PathBuf::from),
        Some(PathBuf::from("/usr/bin/chromedriver")),
        Some(PathBuf::from("/usr/lib/chromium/chromedriver")),
    ];
    candidates.into_iter().flatten().find(|p| p.exists())
}

fn chromium() -> Option<PathBuf> {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// A chromedriver on a free loopback port, killed when dropped.
struct Driver {
    child: tokio::process::Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn start_driver(path: &PathBuf) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tokio::process::Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let ready = consentgate_e2e::wait_for(Duration::from_secs(20), || {
        let req = http.get(format!("{url}/status")).send();
        async move { req.await.ok().filter(|r| r.status().is_success()) }
    })
    .await;
    assert!(ready.is_some(), "chromedriver did not answer");
    Driver { child, url }
}

async fn browser(driver: &Driver, binary: &PathBuf) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": binary,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=412,915"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session")
}

/// Saves a screenshot of the page as `name`.png for review.
async fn shoot(b: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = b.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

async fn text_of(b: &Client, css: &str) -> String {
    b.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits (at most 15 s) for the page whose heading contains `title` (a click navigates
/// asynchronously).
async fn page_titled(b: &Client, title: &str) {
    let until = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let h1 = match b.find(Locator::Css("h1")).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if h1.contains(title) {
            return;
        }
        assert!(
            std::time::Instant::now() < until,
            "no page titled {title:?} (at {h1:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clicks the element `css` finds (waiting for it).
async fn click(b: &Client, css: &str) {
    b.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Clicks the link reading `text` (waiting for it).
async fn follow(b: &Client, text: &str) {
    b.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::LinkText(text))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn type_into(b: &Client, css: &str, text: &str) {
    b.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

async fn at_sign_in(b: &Client) -> bool {
    b.current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/console/login")
}

#[tokio::test]
async fn an_admin_enrols_signs_in_and_revokes_a_connection_in_a_real_browser() {
    let (Some(driver_path), Some(binary)) = (chromedriver(), chromium()) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs chromium and chromium-driver (apt-get install -y chromium chromium-driver)"
        );
        eprintln!(
            "skipped: no chromium/chromedriver here (apt-get install -y chromium chromium-driver)"
        );
        return;
    };
    let (h, oauth) = start().await;
    let i = service(&h).await;
    let mut owner = claimed_owner(&h, &i).await;
    link_google(&h, &mut owner).await;
    // Someone who agreed, to be told of a new policy version.
    h.telegram.push_update(text_update(1000, MARYAM, "hi"));
    h.wait_sent(MARYAM.id, 1).await;
    let agree = button_data(&h, MARYAM.id, "Agree");
    h.telegram.push_update(button_update(1001, MARYAM, &agree));
    h.wait_sent(MARYAM.id, 2).await;
    let key = admin::create_key(h.db(), Role::Admin, "browser test")
        .await
        .unwrap();

    let driver = start_driver(&driver_path).await;
    let b = browser(&driver, &binary).await;

    // Without a session, the console sends the browser to sign in.
    b.goto(&format!("{}/console/", h.base)).await.unwrap();
    page_titled(&b, "Sign in").await;
    assert!(at_sign_in(&b).await);
    shoot(&b, "1-sign-in").await;
    type_into(&b, "#key", &key).await;
    click(&b, "button[type=submit]").await;

    // First sign-in: the authenticator is set up from the page's secret.
    page_titled(&b, "Set up your authenticator").await;
    let secret = text_of(&b, "code.mono").await;
    shoot(&b, "2-enrol").await;
    let secret = data_encoding::BASE32_NOPAD
        .decode(secret.trim().as_bytes())
        .unwrap();
    let code = totp::code_at(&secret, totp::step_at(chrono::Utc::now().timestamp()));
    type_into(&b, "#code", &code).await;
    click(&b, "button.primary").await;
    page_titled(&b, "recovery codes").await;
    assert_eq!(
        b.find_all(Locator::Css("ul.codes li")).await.unwrap().len(),
        10
    );
    shoot(&b, "3-recovery-codes").await;
    follow(&b, "Continue to the console").await;

    // Signed in: the overview, then the connections.
    page_titled(&b, "Overview").await;
    shoot(&b, "4-overview").await;
    follow(&b, "Connections").await;
    page_titled(&b, "Connections").await;
    let table = text_of(&b, "table").await;
    assert!(
        table.contains("google") && table.contains("active"),
        "{table}"
    );
    shoot(&b, "5-connections").await;

    // One click, one confirmation: revoked, here and at the provider.
    follow(&b, "Revoke").await;
    page_titled(&b, "Revoke this connection?").await;
    shoot(&b, "6-confirm-revoke").await;
    click(&b, "button.danger").await;
    page_titled(&b, "Connection revoked").await;
    assert_eq!(oauth.revocations().len(), 1, "the provider was told");
    let told = owner.wait(1).await;
    assert!(told[0].contains("revoked"), "the owner is told: {told:?}");
    follow(&b, "Back to connections").await;
    page_titled(&b, "Connections").await;
    assert!(text_of(&b, "table").await.contains("revoked"));

    // The audit log names the admin's key for the revocation, and shows the chain intact.
    follow(&b, "Audit").await;
    page_titled(&b, "Audit log").await;
    assert!(text_of(&b, "main").await.contains("The chain is intact"));
    let table = text_of(&b, "table").await;
    assert!(
        table.contains("admin.revoke") && table.contains("\"via\":\"console\""),
        "{table}"
    );
    shoot(&b, "7-audit").await;

    // A new policy version, published from the console, and the person who agreed is told.
    follow(&b, "Policy").await;
    page_titled(&b, "Policy").await;
    let text = b
        .find(Locator::Css("#text"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(!text.is_empty());
    type_into(&b, "#text", "\nWe now also answer on weekends.").await;
    type_into(&b, "#summary", "Weekend answers").await;
    click(&b, "input[name=notify]").await;
    shoot(&b, "8-policy").await;
    click(&b, "form[action='/console/policy/publish'] button.primary").await;
    page_titled(&b, "Policy published").await;
    assert!(text_of(&b, "main").await.contains("published version 2"));
    let told = h.wait_sent(MARYAM.id, 3).await;
    assert!(told[2].contains("Weekend answers"), "{told:?}");
    follow(&b, "Back to the policy").await;
    page_titled(&b, "Policy").await;
    let diff = text_of(&b, "table.diff").await;
    assert!(diff.contains("We now also answer on weekends."), "{diff}");
    shoot(&b, "9-policy-diff").await;

    // Signing out ends the session: the console asks to sign in again.
    click(&b, "form.signout button").await;
    page_titled(&b, "Sign in").await;
    b.goto(&format!("{}/console/connections", h.base))
        .await
        .unwrap();
    page_titled(&b, "Sign in").await;
    assert!(at_sign_in(&b).await);

    // The owner asks for the console in the chat and signs in with the link: their bot only.
    // (Update ids go on from Maryam's.)
    owner.next = 2000;
    // (The owner may also be told of the new policy first.)
    owner.say("/panel", 1).await;
    let link = consentgate_e2e::wait_for(Duration::from_secs(10), || {
        let url = link_button(&h, IVAN.id);
        async move { url.contains("/console/login/link/").then_some(url) }
    })
    .await
    .expect("the /panel link");
    b.goto(&link).await.unwrap();
    page_titled(&b, "Sign in to the console").await;
    shoot(&b, "10-owner-link").await;
    click(&b, "button.primary").await;
    page_titled(&b, "Overview").await;
    let mut bots = Vec::new();
    for h2 in b
        .find_all(Locator::Css("section > h2:first-child"))
        .await
        .unwrap()
    {
        bots.push(h2.text().await.unwrap());
    }
    assert_eq!(bots, ["telegram"], "the owner's bot only");
    assert!(
        b.find(Locator::LinkText("Audit")).await.is_err(),
        "no audit log for owners"
    );
    shoot(&b, "11-owner-overview").await;
    b.close().await.unwrap();
    drop(driver);
    h.finish().await;
}

/// The web chat in the same browser: the assistant's answer grows in place while it is
/// streamed (a draft bubble), then the answer replaces it, formatted, with the person's own
/// e-mail address restored and the model's HTML shown as text.
#[tokio::test]
async fn the_web_chat_answer_grows_in_place_in_a_real_browser() {
    let (Some(driver_path), Some(binary)) = (chromedriver(), chromium()) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs chromium and chromium-driver"
        );
        eprintln!("skipped: no chromium/chromedriver here");
        return;
    };
    let h = common::Harness::start(common::Options::default()).await;
    let driver = start_driver(&driver_path).await;
    let b = browser(&driver, &binary).await;
    b.goto(&format!("{}/", h.base)).await.unwrap();
    let say = |text: &'static str| {
        let b = b.clone();
        async move {
            type_into(&b, "#text", text).await;
            click(&b, "form button[type=submit]").await;
        }
    };
    say("hello").await;
    // The consent prompt's Agree button.
    let agree = b
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::XPath("//button[text()='Agree']"))
        .await
        .unwrap();
    agree.click().await.unwrap();
    shoot(&b, "webchat-0-agreed").await;
    b.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::XPath(
            "//div[contains(@class,'bot') and contains(., 'Thank you')]",
        ))
        .await
        .unwrap();

    h.llm.set(consentgate_e2e::LlmBehaviour::Pieces(
        [
            "Your order for ",
            "[EMA",
            "IL_1] is **ready",
            "**.\n\n<b>not bold</b>",
        ]
        .map(String::from)
        .to_vec(),
        Duration::from_millis(700),
    ));
    say("is the order for anna@example.org ready?").await;
    // While it is written: a draft bubble, growing, never showing a placeholder.
    let draft = b
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(".msg.draft"))
        .await
        .unwrap();
    let seen = draft.text().await.unwrap_or_default();
    assert!(seen.starts_with("Your order for"), "{seen}");
    assert!(!seen.contains("EMA") && !seen.contains('['), "{seen}");
    shoot(&b, "webchat-1-draft").await;
    // Then the answer in its place: formatted, restored, the model's HTML as text.
    let answer = b
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(".msg.bot.rich:not(.draft) strong"))
        .await
        .unwrap();
    assert_eq!(answer.text().await.unwrap(), "ready");
    assert!(
        b.find(Locator::Css(".msg.draft")).await.is_err(),
        "the draft is gone"
    );
    let text = text_of(&b, ".msg.bot.rich:not(.draft)").await;
    assert!(
        text.contains("anna@example.org") && text.contains("<b>not bold</b>"),
        "{text}"
    );
    assert!(b.find(Locator::Css(".msg.bot.rich b")).await.is_err());
    shoot(&b, "webchat-2-answer").await;
    b.close().await.unwrap();
    drop(driver);
    h.finish().await;
}
