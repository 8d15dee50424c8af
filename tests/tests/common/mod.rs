//! Shared set-up for the end-to-end tests: a fresh database (SQLite, or PostgreSQL when
//! `TEST_DATABASE_URL` is set), the fake peers, and the real gateway on 127.0.0.1:0.
#![allow(dead_code)]

pub mod console;
pub mod owners;

use std::{collections::HashMap, time::Duration};

use consentgate::{
    app::Gateway,
    config::{Config, Mode},
    privacy::keys::{GeneratedKeys, Keys},
};
pub use consentgate_e2e::TestDb;
use consentgate_e2e::{FakeLlm, FakeTelegram};
use hmac::{Hmac, Mac};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use sha2::Sha256;

pub const TOKEN: &str = "123456:TEST-not-a-real-token";
pub const WAIT: Duration = Duration::from_secs(10);

/// What a test may change about the gateway it starts.
#[derive(Default)]
pub struct Options {
    pub telegram: bool,
    /// Telegram in webhook mode (implies `telegram`).
    pub telegram_webhook: bool,
    /// Policy text to publish instead of the built-in one.
    pub policy_text: Option<String>,
    /// Longest text the redactor accepts (longer ones fail redaction).
    pub redact_max_chars: Option<usize>,
    pub llm_timeout_secs: Option<u64>,
    pub extra_env: Vec<(String, String)>,
    /// Point BALE_API_URL at the fake Bot API (set BALE_BOT_TOKEN in `extra_env`).
    pub bale_api_is_fake: bool,
    /// Leave out the `LLM_*` variables (the test configures providers in a file).
    pub omit_llm_env: bool,
}

/// A running gateway with its fakes.
pub struct Harness {
    pub gateway: Option<Gateway>,
    pub base: String,
    pub telegram: FakeTelegram,
    pub llm: FakeLlm,
    pub db: TestDb,
    pub keys: GeneratedKeys,
    pub http: reqwest::Client,
    env: HashMap<String, String>,
}

impl Harness {
    pub async fn start(options: Options) -> Harness {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn,consentgate=info".into()),
            )
            .try_init();
        let telegram = FakeTelegram::start().await;
        let llm = FakeLlm::start().await;
        let db = TestDb::new().await;
        let keys = GeneratedKeys::new();
        let mut env: HashMap<String, String> = HashMap::new();
        let mut set = |k: &str, v: &str| {
            env.insert(k.to_string(), v.to_string());
        };
        set("CONSENTGATE_DATABASE_URL", &db.url);
        set("CONSENTGATE_HTTP_ADDR", "127.0.0.1:0");
        if !options.omit_llm_env {
            set("LLM_BASE_URL", &llm.base_url);
            set("LLM_MODEL", "fake-model");
            set("LLM_API_KEY", "test-llm-key");
        }
        set("FERNET_KEYS", &keys.fernet);
        set("PSEUDONYM_KEY", &keys.pseudonym);
        set("AUDIT_KEY", &keys.audit);
        if options.telegram || options.telegram_webhook {
            set("TELEGRAM_BOT_TOKEN", TOKEN);
            set("TELEGRAM_API_URL", &telegram.url);
        }
        if options.bale_api_is_fake {
            set("BALE_API_URL", &telegram.url);
        }
        if options.telegram_webhook {
            // Telegram would call this public URL; tests post to the gateway directly.
            set(
                "TELEGRAM_WEBHOOK_URL",
                "http://127.0.0.1:9/webhooks/telegram/telegram",
            );
        }
        if let Some(t) = options.llm_timeout_secs {
            set("LLM_TIMEOUT_SECS", &t.to_string());
        }
        for (k, v) in &options.extra_env {
            env.insert(k.clone(), v.clone());
        }
        let gateway = start_gateway(
            &env,
            &db,
            options.policy_text.as_deref(),
            options.redact_max_chars,
        )
        .await;
        let base = format!("http://{}", gateway.addr);
        Harness {
            gateway: Some(gateway),
            base,
            telegram,
            llm,
            db,
            keys,
            http: reqwest::Client::new(),
            env,
        }
    }

    /// Stops the gateway and starts a new one on the same database, as after a redeploy.
    pub async fn restart(&mut self, policy_text: Option<&str>) {
        if let Some(gw) = self.gateway.take() {
            gw.stop(Duration::from_secs(5)).await;
        }
        let gateway = start_gateway(&self.env, &self.db, policy_text, None).await;
        self.base = format!("http://{}", gateway.addr);
        self.gateway = Some(gateway);
    }

    /// Restarts with `extra` variables set from now on (a changed configuration).
    pub async fn restart_with(&mut self, extra: &[(&str, &str)]) {
        for (k, v) in extra {
            self.env.insert(k.to_string(), v.to_string());
        }
        self.restart(None).await;
    }

    /// The configuration the gateway runs with, plus `extra` variables.
    pub fn config(&self, extra: &[(&str, &str)]) -> Config {
        let mut env = self.env.clone();
        for (k, v) in extra {
            env.insert(k.to_string(), v.to_string());
        }
        Config::load(None, &env).unwrap()
    }

    pub fn gateway_keys(&self) -> Keys {
        self.keys_with(&[])
    }

    /// The keys under a changed environment (e.g. a new FERNET_KEYS).
    pub fn keys_with(&self, extra: &[(&str, &str)]) -> Keys {
        let mut env = self.env.clone();
        for (k, v) in extra {
            env.insert(k.to_string(), v.to_string());
        }
        Keys::load_existing(Mode::Dev, &self.db.dir().join("consentgate.secrets"), &env).unwrap()
    }

    /// `consentgate policy publish` with `text` as the policy file, under the configuration
    /// changed by `extra` (e.g. a new LLM_RECIPIENT, which changes the assistant purpose).
    pub async fn publish_policy(
        &self,
        text: &str,
        summary: &str,
        extra: &[(&str, &str)],
        notify: bool,
    ) -> String {
        self.publish_with(&self.config(extra), text, summary, notify)
            .await
    }

    /// `consentgate policy publish` under `config`.
    pub async fn publish_with(
        &self,
        config: &Config,
        text: &str,
        summary: &str,
        notify: bool,
    ) -> String {
        self.publish(config, text, summary, None, notify).await
    }

    /// `consentgate policy publish --effective DATE` under the configuration changed by `extra`.
    pub async fn publish_policy_at(
        &self,
        text: &str,
        summary: &str,
        extra: &[(&str, &str)],
        effective: &str,
    ) -> String {
        self.publish(
            &self.config(extra),
            text,
            summary,
            Some(effective.to_string()),
            false,
        )
        .await
    }

    async fn publish(
        &self,
        config: &Config,
        text: &str,
        summary: &str,
        effective: Option<String>,
        notify: bool,
    ) -> String {
        let file = self.db.dir().join(format!("publish-{}.txt", text.len()));
        std::fs::write(&file, text).unwrap();
        consentgate::cli::policy::publish(
            &self.app(config.clone()).await,
            consentgate::cli::policy::PublishRequest {
                file: &file,
                label: Some("v-test".into()),
                summary: summary.into(),
                effective,
                bots: Vec::new(),
                notify,
            },
        )
        .await
        .unwrap()
    }

    /// `consentgate retention run` at `now`.
    pub async fn retention(&self, now: chrono::DateTime<chrono::Utc>, dry_run: bool) -> String {
        consentgate::cli::retention::sweep(&self.app(self.config(&[])).await, now, dry_run)
            .await
            .unwrap()
    }

    /// The app the CLI's commands open, on the gateway's database and keys.
    pub async fn app(&self, config: Config) -> consentgate::app::App {
        consentgate::app::App::with_db(self.db().clone(), config, self.gateway_keys())
            .await
            .unwrap()
    }

    /// Stops the gateway and removes the test database.
    pub async fn finish(mut self) {
        if let Some(gw) = self.gateway.take() {
            gw.stop(Duration::from_secs(5)).await;
        }
        self.db.drop_db().await;
    }

    pub fn db(&self) -> &sea_orm::DatabaseConnection {
        &self.gateway.as_ref().unwrap().db
    }

    /// The pseudonym a Telegram user should have, computed independently of the gateway.
    pub fn expected_pseudonym(&self, channel: &str, user_id: &str) -> String {
        // Here every bot is its own business, named like its channel.
        let key = base64_decode(&self.keys.pseudonym);
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("business\0{channel}\0{channel}:{user_id}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// What the consent record keeps of a platform message id, computed independently of the
    /// gateway: hex HMAC-SHA256(`PSEUDONYM_KEY`, "message\0" + channel + ":" + id).
    pub fn expected_message_ref(&self, channel: &str, message_id: &str) -> String {
        let key = base64_decode(&self.keys.pseudonym);
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("message\0{channel}:{message_id}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The dedupe key the gateway stores for a platform delivery id, computed independently:
    /// hex HMAC-SHA256(`PSEUDONYM_KEY`, "delivery\0" + id).
    pub fn expected_delivery_key(&self, update_key: &str) -> String {
        let key = base64_decode(&self.keys.pseudonym);
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("delivery\0{update_key}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Sends a request head promising a 1 MiB body (and `headers`), then only 16 bytes of it;
    /// returns the status line the gateway answers within `limit`, if any.
    pub async fn unfinished_post(
        &self,
        path: &str,
        headers: &str,
        limit: Duration,
    ) -> Option<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://").to_string();
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n{headers}\r\n{{\"update_id\": 1,"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 256];
        match tokio::time::timeout(limit, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => String::from_utf8_lossy(&buf[..n])
                .lines()
                .next()
                .map(str::to_string),
            _ => None,
        }
    }

    /// The Prometheus text `/metrics` serves now.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The SQLite file and its write-ahead log, byte for byte (empty on PostgreSQL).
    pub fn sqlite_bytes(&self) -> Vec<u8> {
        let Some(file) = &self.db.sqlite_file else {
            return Vec::new();
        };
        let mut bytes = std::fs::read(file).unwrap();
        if let Ok(wal) = std::fs::read(file.with_extension("db-wal")) {
            bytes.extend(wal);
        }
        bytes
    }

    /// Waits until `chat` has received at least `n` messages; returns them all.
    pub async fn wait_sent(&self, chat: i64, n: usize) -> Vec<String> {
        self.telegram
            .wait_sent(chat, n, WAIT)
            .await
            .unwrap_or_else(|| {
                panic!(
                    "chat received {:?}, expected at least {n} messages; requests: {:?}",
                    self.telegram.sent_texts(chat),
                    self.telegram
                        .requests()
                        .iter()
                        .map(|r| format!("{} {}", r.method, r.raw))
                        .collect::<Vec<_>>()
                )
            })
    }

    /// Every row of every table, as JSON text: what a database dump would show.
    pub async fn dump(&self) -> String {
        use consentgate_entity::*;
        let db = self.db();
        let mut all = Vec::new();
        all.extend(bots::Entity::find().into_json().all(db).await.unwrap());
        all.extend(subjects::Entity::find().into_json().all(db).await.unwrap());
        all.extend(
            channel_identities::Entity::find()
                .into_json()
                .all(db)
                .await
                .unwrap(),
        );
        all.extend(
            policy_versions::Entity::find()
                .into_json()
                .all(db)
                .await
                .unwrap(),
        );
        all.extend(
            consent_events::Entity::find()
                .into_json()
                .all(db)
                .await
                .unwrap(),
        );
        all.extend(audit_log::Entity::find().into_json().all(db).await.unwrap());
        all.extend(
            conversation_messages::Entity::find()
                .into_json()
                .all(db)
                .await
                .unwrap(),
        );
        all.extend(
            egress_ledger::Entity::find()
                .into_json()
                .all(db)
                .await
                .unwrap(),
        );
        all.extend(
            export_links::Entity::find()
                .into_json()
                .all(db)
                .await
                .unwrap(),
        );
        all.extend(
            processed_updates::Entity::find()
                .into_json()
                .all(db)
                .await
                .unwrap(),
        );
        serde_json::to_string(&all).unwrap()
    }
}

async fn start_gateway(
    env: &HashMap<String, String>,
    db: &TestDb,
    policy_text: Option<&str>,
    redact_max_chars: Option<usize>,
) -> Gateway {
    let mut config = Config::load(None, env).unwrap();
    if let Some(max) = redact_max_chars {
        config.redact.max_chars = max;
    }
    if let Some(text) = policy_text {
        let file = db.dir().join(format!("policy-{}.txt", text.len()));
        std::fs::write(&file, text).unwrap();
        config.policy.file = Some(file);
        config.policy.label = "test".into();
    }
    let (keys, _) = Keys::load(Mode::Dev, &db.dir().join("consentgate.secrets"), env).unwrap();
    Gateway::start(config, keys).await.unwrap()
}

fn base64_decode(s: &str) -> Vec<u8> {
    // Test-side decoder for the standard alphabet, independent of the gateway's code.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

/// A person on Telegram, with personal data the gateway must keep to itself.
#[derive(Clone, Copy)]
pub struct Person {
    pub id: i64,
    pub first_name: &'static str,
    pub username: &'static str,
}

pub const IVAN: Person = Person {
    id: 777_000_123_456,
    first_name: "Ivanushka",
    username: "ivan_secret_handle",
};

pub const MARYAM: Person = Person {
    id: 888_000_654_321,
    first_name: "Maryamjan",
    username: "maryam_private_nick",
};

fn user(p: Person) -> Value {
    json!({"id": p.id, "is_bot": false, "first_name": p.first_name, "username": p.username, "language_code": "ru"})
}

fn chat(p: Person) -> Value {
    json!({"id": p.id, "type": "private", "first_name": p.first_name, "username": p.username})
}

pub fn text_update(update_id: i64, p: Person, text: &str) -> Value {
    let mut message = json!({
        "message_id": update_id,
        "date": 1_700_000_000,
        "chat": chat(p),
        "from": user(p),
        "text": text,
    });
    if text.starts_with('/') {
        let len = text.split_whitespace().next().unwrap().chars().count();
        message["entities"] = json!([{"type": "bot_command", "offset": 0, "length": len}]);
    }
    json!({"update_id": update_id, "message": message})
}

/// A message from `p` carrying media: `field` (`voice`, `audio`, `photo`) set to `media`.
pub fn media_update(update_id: i64, p: Person, field: &str, media: Value) -> Value {
    let mut message = json!({
        "message_id": update_id,
        "date": 1_700_000_000,
        "chat": chat(p),
        "from": user(p),
    });
    message[field] = media;
    json!({"update_id": update_id, "message": message})
}

/// Telegram asks whether `p`'s Stars payment may go ahead.
pub fn pre_checkout_update(update_id: i64, p: Person, payload: &str, stars: u32) -> Value {
    json!({"update_id": update_id, "pre_checkout_query": {
        "id": format!("pcq-{update_id}"), "from": user(p), "currency": "XTR",
        "total_amount": stars, "invoice_payload": payload,
    }})
}

/// `p`'s Stars payment went through.
pub fn payment_update(update_id: i64, p: Person, payload: &str, stars: u32, charge: &str) -> Value {
    json!({"update_id": update_id, "message": {
        "message_id": update_id, "date": 1_700_000_000, "chat": chat(p), "from": user(p),
        "successful_payment": {"currency": "XTR", "total_amount": stars, "invoice_payload": payload,
            "telegram_payment_charge_id": charge, "provider_payment_charge_id": ""},
    }})
}

pub fn button_update(update_id: i64, p: Person, data: &str) -> Value {
    json!({
        "update_id": update_id,
        "callback_query": {
            "id": format!("cbq-{update_id}"),
            "from": user(p),
            "message": {
                "message_id": 5000 + update_id,
                "date": 1_700_000_000,
                "chat": chat(p),
                "from": {"id": 1, "is_bot": true, "first_name": "Fake", "username": "fake_bot"},
                "text": "policy"
            },
            "chat_instance": "-42",
            "data": data
        }
    })
}

/// Telegram: `p` says hi in private (update 1) and presses Agree (update 2); with `history`,
/// also turns history on (update 3). Returns the Agree button's data.
pub async fn agreed(h: &Harness, p: Person, history: bool) -> String {
    h.telegram.push_update(text_update(1, p, "hi"));
    h.wait_sent(p.id, 1).await;
    let agree = button_data(h, p.id, "Agree");
    h.telegram.push_update(button_update(2, p, &agree));
    h.wait_sent(p.id, 2).await;
    if history {
        let on = button_data(h, p.id, "history: yes");
        h.telegram.push_update(button_update(3, p, &on));
        h.wait_sent(p.id, 3).await;
    }
    agree
}

/// Maryam says hi and agrees to the required purposes; returns the next update id.
pub async fn maryam_agrees(h: &Harness, first: i64) -> i64 {
    h.telegram.push_update(text_update(first, MARYAM, "hi"));
    h.wait_sent(MARYAM.id, 1).await;
    let agree = button_data(h, MARYAM.id, "Agree");
    h.telegram
        .push_update(button_update(first + 1, MARYAM, &agree));
    h.wait_sent(MARYAM.id, 2).await;
    first + 2
}

/// The first export sent to `chat` as a document, parsed.
pub async fn exported(h: &Harness, chat: i64) -> Value {
    let doc = consentgate_e2e::wait_for(WAIT, || {
        let docs = h.telegram.documents_to(chat);
        async move { docs.into_iter().next() }
    })
    .await
    .expect("the export");
    serde_json::from_str(&doc.1).unwrap()
}

/// The callback data of the latest button labelled `label` sent to `chat`.
pub fn button_data(h: &Harness, chat: i64, label: &str) -> String {
    button_data_where(h, chat, label, "")
}

/// The callback data of the latest button labelled `label` on a message to `chat` whose text
/// contains `text`.
pub fn button_data_where(h: &Harness, chat: i64, label: &str, text: &str) -> String {
    h.telegram
        .button_data(chat, label, text)
        .unwrap_or_else(|| panic!("no button `{label}` on a message with `{text}`"))
}

/// A browser: keeps the session cookie the gateway set.
pub struct Browser<'a> {
    pub h: &'a Harness,
    pub cookie: String,
    pub seen: u64,
}

impl<'a> Browser<'a> {
    pub async fn open(h: &'a Harness) -> (Browser<'a>, String) {
        let page = h.http.get(&h.base).send().await.unwrap();
        assert_eq!(page.status(), reqwest::StatusCode::OK);
        assert!(page.text().await.unwrap().contains("/webchat/api/messages"));
        let resp = h
            .http
            .post(format!("{}/webchat/api/session", h.base))
            .send()
            .await
            .unwrap();
        let set_cookie = resp
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .expect("a session cookie")
            .to_str()
            .unwrap()
            .to_string();
        let cookie = set_cookie.split(';').next().unwrap().to_string();
        (Browser { h, cookie, seen: 0 }, set_cookie)
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.h
            .http
            .post(format!("{}{path}", self.h.base))
            .header(reqwest::header::COOKIE, &self.cookie)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn say(&mut self, text: &str) -> Vec<Value> {
        let resp = self
            .post("/webchat/api/messages", json!({"text": text}))
            .await;
        assert_eq!(resp.status(), reqwest::StatusCode::ACCEPTED);
        self.replies().await
    }

    /// Presses a button; a renewed session cookie is kept, as a browser would.
    pub async fn press(&mut self, data: &str) -> Vec<Value> {
        let resp = self
            .post("/webchat/api/buttons", json!({"data": data}))
            .await;
        assert_eq!(resp.status(), reqwest::StatusCode::ACCEPTED);
        if let Some(set) = resp.headers().get(reqwest::header::SET_COOKIE) {
            self.cookie = set.to_str().unwrap().split(';').next().unwrap().to_string();
        }
        self.replies().await
    }

    /// Long-polls for replies after the last one seen.
    pub async fn replies(&mut self) -> Vec<Value> {
        let resp: Value = self
            .h
            .http
            .get(format!(
                "{}/webchat/api/replies?after={}&wait=5",
                self.h.base, self.seen
            ))
            .header(reqwest::header::COOKIE, &self.cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let replies = resp["replies"].as_array().unwrap().clone();
        if let Some(last) = replies.last() {
            self.seen = last["seq"].as_u64().unwrap();
        }
        replies
    }
}

pub fn web_button(reply: &Value, label: &str) -> String {
    reply["buttons"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter())
        .find(|b| b["label"] == label)
        .and_then(|b| b["data"].as_str())
        .unwrap()
        .to_string()
}

/// Log output captured in memory: install with `tracing_subscriber::fmt().with_writer(…)`.
#[derive(Clone, Default)]
pub struct Capture(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The value of the first sample of `metrics` whose line starts with `name` (labels included).
pub fn metric(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
}

/// A gateway on Telegram whose providers are the `[[llm.providers]]` of `toml`.
pub async fn with_providers(
    toml: &str,
    extra_env: &[(&str, &str)],
) -> (Harness, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("consentgate.toml");
    std::fs::write(&file, toml).unwrap();
    let mut env = vec![("CONSENTGATE_CONFIG".to_string(), file.display().to_string())];
    env.extend(
        extra_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let h = Harness::start(Options {
        telegram: true,
        omit_llm_env: true,
        extra_env: env,
        ..Default::default()
    })
    .await;
    (h, dir)
}
