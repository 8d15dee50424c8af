//! Two replicas as real processes: two `consentgate serve` in Telegram webhook mode on one
//! database, as behind a load balancer. The same update delivered to both (one after the other,
//! and to both at the same moment) is answered once; a consent given through one applies to the
//! next message on the other, and a withdrawal taken by the other applies back on the first; the
//! audit entries both write form one chain that verifies. SQLite by default, PostgreSQL when
//! `TEST_DATABASE_URL` is set.

use std::{
    collections::HashMap,
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use consentgate::{
    audit::verify::verify, privacy::keys::GeneratedKeys, privacy::keys::HmacKey, store,
};
use consentgate_e2e::{FakeLlm, FakeTelegram, TestDb, updates, wait_for};
use consentgate_entity::{audit_log, consent_events};
use reqwest::StatusCode;
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use serde_json::Value;

const TOKEN: &str = "778:REPLICAS-test-token";
const IVAN: i64 = 6_000_001;
const MARYAM: i64 = 6_000_002;
/// Longest wait for a replica to become ready or for replies to arrive.
const WAIT: Duration = Duration::from_secs(30);
/// How long to watch for a second answer once the first has arrived.
const SETTLE: Duration = Duration::from_millis(500);

/// One `consentgate serve` process on its own loopback port. Killed when dropped, so a failed
/// assertion leaves no process behind.
struct Replica {
    name: &'static str,
    base: String,
    log: PathBuf,
    child: Child,
}

impl Replica {
    fn spawn(name: &'static str, env: &HashMap<&str, String>, port: u16, logs: &Path) -> Replica {
        let log = logs.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_consentgate"))
            .arg("serve")
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("CONSENTGATE_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("the consentgate binary");
        Replica {
            name,
            base: format!("http://127.0.0.1:{port}"),
            log,
            child,
        }
    }

    /// Waits until `/readyz` answers 200: database reachable, migrations applied, webhook
    /// registered.
    async fn wait_ready(&mut self, http: &reqwest::Client) {
        let url = format!("{}/readyz", self.base);
        let ready = wait_for(WAIT, || {
            let probe = http.get(url.as_str()).send();
            async move { matches!(probe.await, Ok(r) if r.status().is_success()).then_some(()) }
        })
        .await;
        if ready.is_none() {
            let exited = self.child.try_wait().ok().flatten();
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            panic!(
                "replica {} never became ready (exit status {exited:?}); its log:\n{log}",
                self.name
            );
        }
    }

    /// Posts `update` as Telegram would, with the secret token header.
    async fn deliver(&self, http: &reqwest::Client, secret: &str, update: &Value) -> StatusCode {
        http.post(format!("{}/webhooks/telegram/telegram", self.base))
            .header("X-Telegram-Bot-Api-Secret-Token", secret)
            .json(update)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// Delivers like Telegram: again, a moment later, while the answer is 503 (the update is
    /// being handled elsewhere). Bounded in attempts.
    async fn deliver_until_taken(
        &self,
        http: &reqwest::Client,
        secret: &str,
        update: &Value,
    ) -> StatusCode {
        let mut status = self.deliver(http, secret, update).await;
        for _ in 0..50 {
            if status != StatusCode::SERVICE_UNAVAILABLE {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            status = self.deliver(http, secret, update).await;
        }
        status
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two free loopback ports, held together while chosen so that they differ.
fn two_free_ports() -> (u16, u16) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

/// The callback data of the latest button labelled `label` sent to `chat`.
fn button_data(tg: &FakeTelegram, chat: i64, label: &str) -> String {
    tg.button_data(chat, label, "")
        .unwrap_or_else(|| panic!("no button `{label}` was sent to chat {chat}"))
}

/// Waits until `chat` has received at least `n` messages; returns their texts.
async fn wait_sent(tg: &FakeTelegram, chat: i64, n: usize) -> Vec<String> {
    tg.wait_sent(chat, n, WAIT).await.unwrap_or_else(|| {
        panic!(
            "chat {chat} received {:?}, expected at least {n} messages",
            tg.sent_texts(chat)
        )
    })
}

/// The chained audit entries as (sequence number, action), in chain order.
async fn audit_entries(db: &DatabaseConnection) -> Vec<(i64, String)> {
    let mut entries: Vec<(i64, String)> = audit_log::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| Some((e.seq?, e.action)))
        .collect();
    entries.sort_unstable();
    entries
}

/// Delivers `update` to `replica` while nothing else is in flight, and returns the audit
/// actions written meanwhile: the entries that replica appended to the chain.
async fn deliver_alone(
    replica: &Replica,
    http: &reqwest::Client,
    secret: &str,
    db: &DatabaseConnection,
    update: &Value,
) -> Vec<String> {
    let before = audit_entries(db).await.last().map_or(0, |(seq, _)| *seq);
    let status = replica.deliver(http, secret, update).await;
    assert!(
        status.is_success(),
        "replica {} answered {status}",
        replica.name
    );
    audit_entries(db)
        .await
        .into_iter()
        .filter(|(seq, _)| *seq > before)
        .map(|(_, action)| action)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_answer_once_share_consent_and_keep_one_chain() {
    let tg = FakeTelegram::start().await;
    let llm = FakeLlm::start().await;
    let test_db = TestDb::new().await;
    let logs = tempfile::tempdir().unwrap();
    let keys = GeneratedKeys::new();
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let env: HashMap<&str, String> = HashMap::from([
        ("CONSENTGATE_DATABASE_URL", test_db.url.clone()),
        ("CONSENTGATE_MODE", "production".into()),
        ("FERNET_KEYS", keys.fernet.clone()),
        ("PSEUDONYM_KEY", keys.pseudonym.clone()),
        ("AUDIT_KEY", keys.audit.clone()),
        ("TELEGRAM_BOT_TOKEN", TOKEN.into()),
        ("TELEGRAM_API_URL", tg.url.clone()),
        // The balancer's public URL, which Telegram would call; the test posts to each replica.
        (
            "TELEGRAM_WEBHOOK_URL",
            "http://127.0.0.1:9/webhooks/telegram/telegram".into(),
        ),
        ("LLM_BASE_URL", llm.base_url.clone()),
        ("LLM_MODEL", "fake".into()),
        ("CONSENTGATE_MESSAGES_PER_MINUTE", "600".into()),
    ]);
    let (port_a, port_b) = two_free_ports();
    // A migrates the empty database and publishes the initial policy before B starts.
    let mut a = Replica::spawn("A", &env, port_a, logs.path());
    a.wait_ready(&http).await;
    let mut b = Replica::spawn("B", &env, port_b, logs.path());
    b.wait_ready(&http).await;
    let db = store::connect(&test_db.url).await.unwrap();

    // Both registered the webhook, with the same secret derived from PSEUDONYM_KEY.
    let registrations = tg.calls("setWebhook");
    assert_eq!(registrations.len(), 2, "{registrations:?}");
    let secret = registrations[0].body["secret_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        registrations
            .iter()
            .all(|r| r.body["secret_token"] == secret.as_str()),
        "the replicas registered different secrets"
    );

    // Telegram retries a delivery and the balancer sends it to the other replica; and again,
    // to both at the same moment (the one that finds the other at work answers 503, and
    // Telegram delivers again).
    let hi = updates::text(1, IVAN, "hi");
    assert!(a.deliver(&http, &secret, &hi).await.is_success());
    assert!(b.deliver(&http, &secret, &hi).await.is_success());
    let hello = updates::text(2, MARYAM, "hello");
    let both = futures::future::join(
        a.deliver_until_taken(&http, &secret, &hello),
        b.deliver_until_taken(&http, &secret, &hello),
    )
    .await;
    assert!(both.0.is_success() && both.1.is_success(), "{both:?}");
    let ivan = wait_sent(&tg, IVAN, 1).await;
    wait_sent(&tg, MARYAM, 1).await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(tg.sends_to(IVAN).len(), 1, "answered twice: {ivan:?}");
    assert_eq!(
        tg.sends_to(MARYAM).len(),
        1,
        "answered twice: {:?}",
        tg.sent_texts(MARYAM)
    );
    assert!(ivan[0].contains("Do you agree"), "{ivan:?}");

    // Ivan agrees through A; his next message, on B, goes to the assistant.
    let agree = button_data(&tg, IVAN, "Agree");
    let by_a = deliver_alone(&a, &http, &secret, &db, &updates::button(3, IVAN, &agree)).await;
    assert!(
        by_a.iter().any(|x| x == "consent.given"),
        "A wrote {by_a:?}"
    );
    assert_eq!(tg.calls("answerCallbackQuery").len(), 1);
    let texts = wait_sent(&tg, IVAN, 2).await;
    assert!(texts[1].starts_with("Thank you"), "{texts:?}");
    let by_b = deliver_alone(&b, &http, &secret, &db, &updates::text(4, IVAN, "question")).await;
    assert!(
        by_b.iter().any(|x| x == "message.forwarded"),
        "B wrote {by_b:?}"
    );
    let texts = wait_sent(&tg, IVAN, 3).await;
    assert_eq!(texts[2], "LLM: question", "{texts:?}");
    assert_eq!(llm.requests().len(), 1);

    // He withdraws on B; A holds his next message at once and asks again.
    let by_b = deliver_alone(&b, &http, &secret, &db, &updates::text(5, IVAN, "/revoke")).await;
    assert!(
        by_b.iter().any(|x| x == "consent.withdrawn"),
        "B wrote {by_b:?}"
    );
    let texts = wait_sent(&tg, IVAN, 4).await;
    assert!(
        texts[3].starts_with("All your consent is withdrawn"),
        "{texts:?}"
    );
    let by_a = deliver_alone(&a, &http, &secret, &db, &updates::text(6, IVAN, "another")).await;
    assert!(by_a.iter().any(|x| x == "message.held"), "A wrote {by_a:?}");
    let texts = wait_sent(&tg, IVAN, 6).await;
    assert!(texts[5].contains("Do you agree"), "{texts:?}");
    assert_eq!(llm.requests().len(), 1, "a held message reached the LLM");
    assert_eq!(consent_events::Entity::find().count(&db).await.unwrap(), 2);

    // Both append to the audit log at once: still one chain, and it verifies.
    let updates: Vec<Value> = (0..20)
        .map(|i| updates::text(100 + i, MARYAM, &format!("m{i}")))
        .collect();
    let statuses = futures::future::join_all(updates.iter().enumerate().map(|(i, u)| {
        let replica = if i % 2 == 0 { &a } else { &b };
        replica.deliver(&http, &secret, u)
    }))
    .await;
    assert!(statuses.iter().all(StatusCode::is_success), "{statuses:?}");
    wait_sent(&tg, MARYAM, 2).await;
    let key = HmacKey::parse("AUDIT_KEY", &keys.audit).unwrap();
    let report = verify(&db, &key, None).await.unwrap();
    assert_eq!(report.broken, None, "{report:?}");
    assert_eq!(report.unchained, 0, "{report:?}");
    let entries = audit_entries(&db).await;
    assert_eq!(entries.first().map(|(seq, _)| *seq), Some(1));
    assert_eq!(report.entries, entries.len() as u64, "{report:?}");
    let held = entries
        .iter()
        .filter(|(_, action)| action == "message.held")
        .count();
    assert!(held >= 21, "{held} held messages in the chain; {report:?}");

    drop(b);
    drop(a);
    let _ = db.close().await;
    test_db.drop_db().await;
}
