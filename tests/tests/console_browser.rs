//! The console in a real browser: headless Chromium driven over WebDriver (Debian's `chromium`
//! and `chromium-driver`, which `.ci/run` installs). An admin enrols TOTP, signs in with a code,
//! sees an owner's linked Google account and revokes it with one click and a confirmation; the
//! fake OAuth provider receives the revocation. The window is phone-sized (the console is also
//! the Telegram Mini App). Screenshots of each page are saved under
//! `target/tmp/console-screenshots/` for review.
//!
//! Without chromedriver the test says so and passes, except under CI (`CI` set), where it
//! fails: there the browser must be present.

mod common;

use std::{path::PathBuf, process::Stdio, time::Duration};

use common::owners::*;
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
    b.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
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
    let key = admin::create_key(h.db(), Role::Admin, "browser test")
        .await
        .unwrap();

    let driver = start_driver(&driver_path).await;
    let b = browser(&driver, &binary).await;

    // Without a session, the console sends the browser to sign in.
    b.goto(&format!("{}/console/", h.base)).await.unwrap();
    assert!(
        b.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/console/login")
    );
    shoot(&b, "1-sign-in").await;
    b.find(Locator::Css("#key"))
        .await
        .unwrap()
        .send_keys(&key)
        .await
        .unwrap();
    b.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // First sign-in: the authenticator is set up from the page's secret.
    let secret = text_of(&b, "code.mono").await;
    assert!(
        text_of(&b, "h1")
            .await
            .contains("Set up your authenticator")
    );
    shoot(&b, "2-enrol").await;
    let secret = data_encoding::BASE32_NOPAD
        .decode(secret.trim().as_bytes())
        .unwrap();
    let code = totp::code_at(&secret, totp::step_at(chrono::Utc::now().timestamp()));
    b.find(Locator::Css("#code"))
        .await
        .unwrap()
        .send_keys(&code)
        .await
        .unwrap();
    b.find(Locator::Css("button.primary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(text_of(&b, "h1").await.contains("recovery codes"));
    let codes = b.find_all(Locator::Css("ul.codes li")).await.unwrap();
    assert_eq!(codes.len(), 10);
    shoot(&b, "3-recovery-codes").await;
    b.find(Locator::LinkText("Continue to the console"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // Signed in: the overview, then the connections.
    assert_eq!(text_of(&b, "h1").await, "Overview");
    shoot(&b, "4-overview").await;
    b.find(Locator::LinkText("Connections"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let table = text_of(&b, "table").await;
    assert!(
        table.contains("google") && table.contains("active"),
        "{table}"
    );
    shoot(&b, "5-connections").await;

    // One click, one confirmation: revoked, here and at the provider.
    b.find(Locator::LinkText("Revoke"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(text_of(&b, "h1").await.contains("Revoke this connection?"));
    shoot(&b, "6-confirm-revoke").await;
    b.find(Locator::Css("button.danger"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(text_of(&b, "h1").await, "Connection revoked");
    assert_eq!(oauth.revocations().len(), 1, "the provider was told");
    b.find(Locator::LinkText("Back to connections"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(text_of(&b, "table").await.contains("revoked"));

    // The audit log names the admin's key for the revocation, and shows the chain intact.
    b.find(Locator::LinkText("Audit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(text_of(&b, "main").await.contains("The chain is intact"));
    let table = text_of(&b, "table").await;
    assert!(
        table.contains("admin.revoke") && table.contains("\"via\":\"console\""),
        "{table}"
    );
    shoot(&b, "7-audit").await;

    // Signing out ends the session: the console asks to sign in again.
    b.find(Locator::Css("form.signout button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.goto(&format!("{}/console/connections", h.base))
        .await
        .unwrap();
    assert!(
        b.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/console/login")
    );
    b.close().await.unwrap();
    drop(driver);
    h.finish().await;
}
