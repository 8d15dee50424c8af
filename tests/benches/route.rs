//! The whole route, measured: webhook in, dedupe, identity and pseudonym, consent check,
//! redaction, audit, the (instantly answering) fake LLM, and the send to the fake platform.
//! For Telegram webhooks and WhatsApp, 1,000 distinct people who have agreed, three messages
//! each: messages per second, and latency from the webhook request to the platform receiving the
//! answer (p50, p99). `-- rate`: at a fixed 500 messages a second, beside a bare teloxide echo
//! bot taking the same webhooks (the floor the added latency is read against); `-- inflight`:
//! with 4 requests in flight (light load) and 64 (saturation: throughput). Both by default.
//! `-- disk`: how long this machine's disk takes to flush a write (what every commit with
//! `synchronous=full` waits for), to read the tail of the `rate` runs against.
//! `cargo bench -p consentgate-e2e --bench route`; SQLite by default (`-- normal` for
//! `synchronous=normal`), or the PostgreSQL server named by `TEST_DATABASE_URL`.
//!
//! The platforms' own per-bot limits (Telegram 30 msg/s, WhatsApp 80 msg/s) would cap what is
//! measured, so the bench raises them (as paid broadcasts and upgraded numbers do); the per-chat
//! limits stay as they are.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use consentgate::{
    app::Gateway,
    config::{Config, Mode},
    consent,
    privacy::keys::{GeneratedKeys, Keys},
};
use consentgate_e2e::{FakeGraph, FakeLlm, FakeTelegram, TestDb, updates, wait_for};
use futures::StreamExt;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const PEOPLE: i64 = 1_000;
const MESSAGES_EACH: i64 = 3;

struct Run {
    gateway: Gateway,
    base: String,
    http: reqwest::Client,
    db: TestDb,
    /// The `PSEUDONYM_KEY`, to make the buttons people press.
    pseudonym_key: consentgate::privacy::keys::HmacKey,
}

async fn start(env: Vec<(&str, String)>, file: Option<String>) -> Run {
    let db = TestDb::new().await;
    let dir = db.dir();
    let keys = GeneratedKeys::new();
    let mut map: HashMap<String, String> =
        env.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    // `-- normal`: SQLite with synchronous=normal (docs/configuration.md explains the trade-off).
    let url = match std::env::args().any(|a| a == "normal") && db.url.starts_with("sqlite:") {
        true => format!("{}&synchronous=normal", db.url),
        false => db.url.clone(),
    };
    map.insert("CONSENTGATE_DATABASE_URL".into(), url);
    map.insert("CONSENTGATE_HTTP_ADDR".into(), "127.0.0.1:0".into());
    map.insert("CONSENTGATE_MESSAGES_PER_MINUTE".into(), "600".into());
    map.insert("FERNET_KEYS".into(), keys.fernet.clone());
    map.insert("PSEUDONYM_KEY".into(), keys.pseudonym.clone());
    map.insert("AUDIT_KEY".into(), keys.audit.clone());
    let file_path = file.map(|text| {
        let p = dir.join("bench.toml");
        std::fs::write(&p, text).unwrap();
        p
    });
    let config = Config::load(file_path.as_deref(), &map).unwrap();
    let (keys, _) = Keys::load(Mode::Dev, &dir.join("secrets"), &map).unwrap();
    let pseudonym_key = keys.pseudonym.clone();
    let gateway = Gateway::start(config, keys).await.unwrap();
    Run {
        pseudonym_key,
        base: format!("http://{}", gateway.addr),
        gateway,
        http: reqwest::Client::new(),
        db,
    }
}

async fn policy_id(run: &Run, bot: &str) -> i64 {
    let names = consentgate::rights::export::bot_names(&run.gateway.db)
        .await
        .unwrap();
    let id = names.into_iter().find(|(_, n)| n == bot).unwrap().0;
    consent::current_policy(&run.gateway.db, id, chrono::Utc::now())
        .await
        .unwrap()
        .unwrap()
        .id
}

/// p50 and p99 of durations, in milliseconds.
fn percentiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e3;
    (at(0.50), at(0.99))
}

fn report(
    label: &str,
    sent: &HashMap<String, Instant>,
    received: &HashMap<String, Instant>,
    began: Instant,
) {
    let latencies: Vec<Duration> = sent
        .iter()
        .filter_map(|(id, t)| Some(*received.get(id)? - *t))
        .collect();
    let last = received.values().max().copied().unwrap_or(began);
    let rate = latencies.len() as f64 / (last - began).as_secs_f64();
    let (p50, p99) = percentiles(latencies.clone());
    println!(
        "{label:<20} {:>6} answered  {rate:>8.0} msg/s   p50 {p50:>7.1} ms   p99 {p99:>7.1} ms",
        latencies.len()
    );
}

/// How the measured messages are sent.
#[derive(Clone, Copy)]
enum Load {
    /// A fixed number of requests in flight (closed loop).
    InFlight(usize),
    /// A fixed rate, whatever the answers do (open loop): latency counts from the moment each
    /// message was due, so a sender falling behind shows up in it.
    Rate(u32),
}

impl Load {
    fn label(self) -> String {
        match self {
            Load::InFlight(n) => format!("x{n}"),
            Load::Rate(r) => format!("@{r}/s"),
        }
    }
}

/// Sends `jobs` under `load`; when each one was sent (or due).
async fn drive<F>(load: Load, jobs: Vec<(String, F)>) -> HashMap<String, Instant>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    match load {
        Load::InFlight(n) => futures::stream::iter(jobs.into_iter().map(|(id, job)| async move {
            let t = Instant::now();
            job.await;
            (id, t)
        }))
        .buffer_unordered(n)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect(),
        Load::Rate(per_second) => {
            let gap = Duration::from_secs_f64(1.0 / f64::from(per_second));
            let began = Instant::now();
            let mut due = HashMap::new();
            let mut tasks = tokio::task::JoinSet::new();
            for (i, (id, job)) in jobs.into_iter().enumerate() {
                let at = began + gap.mul_f64(i as f64);
                tokio::time::sleep_until(at.into()).await;
                tasks.spawn(job);
                due.insert(id, at);
            }
            tasks.join_all().await;
            due
        }
    }
}

/// The measured messages: three questions from each of the people.
fn questions(first_update: i64) -> Vec<(i64, Value)> {
    let mut u = first_update;
    let mut out = Vec::new();
    for round in 0..MESSAGES_EACH {
        for p in 1..=PEOPLE {
            let id = 10_000_000 + p;
            u += 1;
            out.push((
                u,
                updates::text(u, id, &format!("question {round} about delivery times")),
            ));
        }
    }
    out
}

fn webhook_post(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    update: Value,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let (http, url, secret) = (http.clone(), url.to_string(), secret.to_string());
    async move {
        let status = http
            .post(url)
            .header("X-Telegram-Bot-Api-Secret-Token", secret)
            .json(&update)
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "{status}");
    }
}

/// Posts the questions to `url` and reports when the fake Bot API had every answer.
async fn measure_telegram(
    label: &str,
    tg: &FakeTelegram,
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    load: Load,
    first_update: i64,
) {
    let jobs = questions(first_update)
        .into_iter()
        .map(|(u, update)| (u.to_string(), webhook_post(http, url, secret, update)))
        .collect();
    let before = tg.count("sendMessage");
    let began = Instant::now();
    let sent = drive(load, jobs).await;
    let expected = (PEOPLE * MESSAGES_EACH) as usize;
    // Counting is cheap; the calls are copied once, at the end.
    wait_for(Duration::from_secs(120), || {
        let n = tg.count("sendMessage");
        async move { (n >= before + expected).then_some(()) }
    })
    .await
    .expect("every message answered");
    let received: HashMap<String, Instant> = tg
        .calls("sendMessage")
        .iter()
        .filter_map(|r| {
            let id = r.body["reply_parameters"]["message_id"]
                .as_i64()?
                .to_string();
            sent.contains_key(&id).then_some((id, r.at))
        })
        .collect();
    report(
        &format!("{label} {}", load.label()),
        &sent,
        &received,
        began,
    );
}

/// The floor: a bare teloxide echo bot taking the same webhooks (no database, no LLM), so the
/// latency the gateway adds can be read off against it.
async fn telegram_echo(load: Load) {
    use axum::{Json, extract::State, routing::post};
    use teloxide::{
        prelude::*,
        types::{ReplyParameters, UpdateKind},
    };
    let tg = FakeTelegram::start().await;
    let bot = Bot::new("1:ECHO").set_api_url(reqwest::Url::parse(&tg.url).unwrap());
    let app = axum::Router::new()
        .route(
            "/",
            post(
                |State(bot): State<Bot>, Json(update): Json<Update>| async move {
                    if let UpdateKind::Message(msg) = update.kind
                        && let Some(text) = msg.text()
                    {
                        let _ = bot
                            .send_message(msg.chat.id, text)
                            .reply_parameters(ReplyParameters::new(msg.id))
                            .await;
                    }
                },
            ),
        )
        .with_state(bot);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    measure_telegram("teloxide echo", &tg, &http, &url, "-", load, 0).await;
    server.abort();
}

async fn telegram(load: Load) {
    let tg = FakeTelegram::start().await;
    let llm = FakeLlm::start().await;
    let token = "424242:BENCH-token";
    let file = r#"
[[bots]]
name = "telegram"
channel = "telegram"
token_env = "BENCH_TELEGRAM_TOKEN"
webhook_url = "http://127.0.0.1:9/webhooks/telegram/telegram"
limits = { per_bot_per_second = 5000 }
"#
    .to_string();
    let run = start(
        vec![
            ("BENCH_TELEGRAM_TOKEN", token.to_string()),
            ("LLM_BASE_URL", llm.base_url.clone()),
            ("LLM_MODEL", "fake".into()),
        ],
        Some(file.replace("[[bots]]", &format!("[[bots]]\napi_url = \"{}\"", tg.url))),
    )
    .await;
    let policy = policy_id(&run, "telegram").await;
    let url = format!("{}/webhooks/telegram/telegram", run.base);
    // The secret the gateway derived and registered.
    let secret = tg.calls("setWebhook")[0].body["secret_token"]
        .as_str()
        .unwrap()
        .to_string();
    // Everyone agrees first (not measured).
    let mut seed = Vec::new();
    let mut u = 0i64;
    for p in 1..=PEOPLE {
        let id = 10_000_000 + p;
        u += 1;
        let hi = updates::text(u, id, "hi");
        u += 1;
        let data = consentgate::pipeline::buttons::for_person(
            &run.pseudonym_key,
            "telegram",
            consentgate_adapters::ChannelKind::Telegram,
            &id.to_string(),
            &format!("c:req:y:{policy}"),
        );
        let agree = updates::button(u, id, &data);
        seed.push(webhook_post(&run.http, &url, &secret, hi));
        seed.push(webhook_post(&run.http, &url, &secret, agree));
    }
    // In order per person: the agreement after the greeting.
    futures::stream::iter(seed)
        .buffered(16)
        .collect::<Vec<_>>()
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    measure_telegram("telegram webhook", &tg, &run.http, &url, &secret, load, u).await;
    run.gateway.stop(Duration::from_secs(5)).await;
    run.db.drop_db().await;
}

async fn whatsapp(load: Load) {
    let graph = FakeGraph::start().await;
    let llm = FakeLlm::start().await;
    let secret = "bench-app-secret";
    let run = start(
        vec![
            ("WHATSAPP_ACCESS_TOKEN", "bench".into()),
            ("WHATSAPP_PHONE_NUMBER_ID", "1065".into()),
            ("WHATSAPP_APP_SECRET", secret.into()),
            ("WHATSAPP_VERIFY_TOKEN", "v".into()),
            ("WHATSAPP_GRAPH_URL", graph.url.clone()),
            ("WHATSAPP_MESSAGES_PER_SECOND", "5000".into()),
            ("LLM_BASE_URL", llm.base_url.clone()),
            ("LLM_MODEL", "fake".into()),
        ],
        None,
    )
    .await;
    let policy = policy_id(&run, "whatsapp").await;
    let url = format!("{}/webhooks/whatsapp/whatsapp", run.base);
    let post = |message: Value, from: String| {
        let (http, url) = (run.http.clone(), url.clone());
        let raw = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp", "metadata": {"phone_number_id": "1065"},
            "contacts": [{"profile": {"name": "Person"}, "wa_id": from}], "messages": [message]}}]}]})
        .to_string();
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(raw.as_bytes());
        let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        async move {
            let status = http
                .post(url)
                .header("x-hub-signature-256", sig)
                .header("content-type", "application/json")
                .body(raw)
                .send()
                .await
                .unwrap()
                .status();
            assert!(status.is_success(), "{status}");
        }
    };
    let mut seed = Vec::new();
    for p in 1..=PEOPLE {
        let from = format!("7916{:07}", p);
        seed.push(post(json!({"from": from, "id": format!("wamid.hi{p}"), "timestamp": "1", "type": "text", "text": {"body": "hi"}}), from.clone()));
        seed.push(post(json!({"from": from, "id": format!("wamid.ok{p}"), "timestamp": "2", "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": consentgate::pipeline::buttons::for_person(&run.pseudonym_key, "whatsapp", consentgate_adapters::ChannelKind::WhatsApp, &from, &format!("c:req:y:{policy}")), "title": "Agree"}}}), from.clone()));
    }
    // In order per person: the agreement after the greeting.
    futures::stream::iter(seed)
        .buffered(16)
        .collect::<Vec<_>>()
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut jobs = Vec::new();
    for round in 0..MESSAGES_EACH {
        for p in 1..=PEOPLE {
            let from = format!("7916{:07}", p);
            let wamid = format!("wamid.q{round}-{p}");
            jobs.push((wamid.clone(), post(json!({"from": from, "id": wamid, "timestamp": "3", "type": "text", "text": {"body": format!("question {round} about delivery times")}}), from)));
        }
    }
    let began = Instant::now();
    let before = graph.count();
    let sent = drive(load, jobs).await;
    let expected = (PEOPLE * MESSAGES_EACH) as usize;
    wait_for(Duration::from_secs(180), || {
        let n = graph.count();
        async move { (n >= before + expected).then_some(()) }
    })
    .await
    .expect("every message answered");
    let received: HashMap<String, Instant> = graph
        .requests()
        .iter()
        .filter_map(|r| {
            let id = r.body["context"]["message_id"].as_str()?.to_string();
            sent.contains_key(&id).then_some((id, r.at))
        })
        .collect();
    report(
        &format!("whatsapp {}", load.label()),
        &sent,
        &received,
        began,
    );
    run.gateway.stop(Duration::from_secs(5)).await;
    run.db.drop_db().await;
}

/// 3,000 writes of 16 KB (about what one commit adds to SQLite's log here), each flushed with
/// fsync as SQLite does, 1 ms apart, in a temporary directory like the bench's database.
fn disk_flushes() {
    use std::{io::Write, os::unix::fs::FileExt};
    let dir = tempfile::tempdir().unwrap();
    let mut file = std::fs::File::create(dir.path().join("flush-probe")).unwrap();
    file.write_all(&vec![0u8; 16 << 20]).unwrap();
    file.sync_all().unwrap();
    let block = vec![1u8; 16 << 10];
    let mut took = Vec::with_capacity(3_000);
    for i in 0..3_000u64 {
        file.write_all_at(&block, (i % 1_024) * (16 << 10)).unwrap();
        let began = Instant::now();
        file.sync_all().unwrap();
        took.push(began.elapsed());
        std::thread::sleep(Duration::from_millis(1));
    }
    let over_5ms = took.iter().filter(|d| d.as_millis() >= 5).count();
    took.sort();
    let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    println!(
        "disk flush, 3000 x 16 KB   p50 {:>5.2} ms   p99 {:>5.2} ms   p99.9 {:>6.1} ms   max {:>6.1} ms   {over_5ms} took 5 ms or more",
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let db = if std::env::var("TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty()) {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "whole route, {PEOPLE} people x {MESSAGES_EACH} messages, {db}{}; xN = N requests in flight",
        if std::env::args().any(|a| a == "normal") {
            " (synchronous=normal)"
        } else {
            ""
        }
    );
    // `-- rate` or `-- inflight` runs one part (cargo bench also passes `--bench`).
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |part: &str| parts.iter().all(|p| p == "normal") || parts.iter().any(|p| p == part);
    // 500 messages a second, the target load: the latency the route adds over a bare echo.
    if wants("rate") {
        let load = Load::Rate(500);
        telegram_echo(load).await;
        telegram(load).await;
        whatsapp(load).await;
    }
    if parts.iter().any(|p| p == "disk") {
        tokio::task::spawn_blocking(disk_flushes).await.unwrap();
    }
    // Light load and saturation (throughput).
    if wants("inflight") {
        for load in [Load::InFlight(4), Load::InFlight(64)] {
            telegram(load).await;
            whatsapp(load).await;
        }
    }
}
