//! The whole route, measured: webhook in, dedupe, identity and pseudonym, consent check,
//! redaction, audit, the (instantly answering) fake LLM, and the send to the fake platform.
//! For Telegram webhooks and WhatsApp, 1,000 distinct people who have agreed, three messages
//! each: messages per second, and latency from the webhook request to the platform receiving the
//! answer (p50, p99), with 4 requests in flight (light load: the latency the route adds) and with
//! 64 (saturation: throughput). `cargo bench -p consentgate-e2e --bench route`; SQLite by default, or the
//! PostgreSQL server named by `TEST_DATABASE_URL`.
//!
//! The platforms' own per-bot limits (Telegram 30 msg/s, WhatsApp 80 msg/s) would cap what is
//! measured, so the bench raises them (as paid broadcasts and upgraded numbers do); the per-chat
//! limits stay as they are.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use consentgate::{
    config::{Config, Mode},
    consent,
    keys::{GeneratedKeys, Keys},
    startup::Gateway,
};
use consentgate_e2e::{FakeGraph, FakeLlm, FakeTelegram, wait_for};
use futures::StreamExt;
use hmac::{Hmac, Mac};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use sha2::Sha256;

const PEOPLE: i64 = 1_000;
const MESSAGES_EACH: i64 = 3;

struct Run {
    gateway: Gateway,
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn database_url(dir: &std::path::Path, tag: &str) -> String {
    match std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(base) => {
            let name = format!("cg_bench_{tag}_{}", std::process::id());
            let admin = Database::connect(&base).await.expect("database");
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            let mut url = url::Url::parse(&base).unwrap();
            url.set_path(&format!("/{name}"));
            url.to_string()
        }
        None => format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()),
    }
}

async fn start(env: Vec<(&str, String)>, file: Option<String>, tag: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let keys = GeneratedKeys::new();
    let mut map: HashMap<String, String> =
        env.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    map.insert(
        "CONSENTGATE_DATABASE_URL".into(),
        database_url(dir.path(), tag).await,
    );
    map.insert("CONSENTGATE_HTTP_ADDR".into(), "127.0.0.1:0".into());
    map.insert("CONSENTGATE_MESSAGES_PER_MINUTE".into(), "600".into());
    map.insert("FERNET_KEYS".into(), keys.fernet.clone());
    map.insert("PSEUDONYM_KEY".into(), keys.pseudonym.clone());
    map.insert("AUDIT_KEY".into(), keys.audit.clone());
    let file_path = file.map(|text| {
        let p = dir.path().join("bench.toml");
        std::fs::write(&p, text).unwrap();
        p
    });
    let config = Config::load(file_path.as_deref(), &map).unwrap();
    let (keys, _) = Keys::load(Mode::Dev, &dir.path().join("secrets"), &map).unwrap();
    let gateway = Gateway::start(config, keys).await.unwrap();
    Run {
        base: format!("http://{}", gateway.addr),
        gateway,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

async fn policy_id(run: &Run, bot: &str) -> i64 {
    let names = consentgate::export::bot_names(&run.gateway.db)
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

async fn telegram(concurrency: usize) {
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
        "tg",
    )
    .await;
    let policy = policy_id(&run, "telegram").await;
    let url = format!("{}/webhooks/telegram/telegram", run.base);
    // The secret the gateway derived and registered.
    let secret = tg.calls("setWebhook")[0].body["secret_token"]
        .as_str()
        .unwrap()
        .to_string();
    let post = |update: Value| {
        let (http, url, secret) = (run.http.clone(), url.clone(), secret.clone());
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
    };
    let user = |id: i64| json!({"id": id, "is_bot": false, "first_name": "Person"});
    let chat = |id: i64| json!({"id": id, "type": "private", "first_name": "Person"});
    let mut update_id = 0i64;
    let mut next = || {
        update_id += 1;
        update_id
    };
    // Everyone agrees first (not measured).
    let mut seed = Vec::new();
    for p in 1..=PEOPLE {
        let id = 10_000_000 + p;
        let u = next();
        seed.push(json!({"update_id": u, "message": {"message_id": u, "date": 1_700_000_000, "chat": chat(id), "from": user(id), "text": "hi"}}));
        let u = next();
        seed.push(json!({"update_id": u, "callback_query": {"id": format!("cb{u}"), "from": user(id), "chat_instance": "1",
            "message": {"message_id": u, "date": 1_700_000_000, "chat": chat(id), "text": "policy"}, "data": format!("c:req:y:{policy}")}}));
    }
    futures::stream::iter(seed.into_iter().map(post))
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut sent = HashMap::new();
    let mut updates = Vec::new();
    for round in 0..MESSAGES_EACH {
        for p in 1..=PEOPLE {
            let id = 10_000_000 + p;
            let u = next();
            updates.push((u, json!({"update_id": u, "message": {"message_id": u, "date": 1_700_000_000, "chat": chat(id), "from": user(id), "text": format!("question {round} about delivery times")}})));
        }
    }
    let began = Instant::now();
    let stamped = futures::stream::iter(updates.into_iter().map(|(u, update)| {
        let post = post(update);
        async move {
            let t = Instant::now();
            post.await;
            (u.to_string(), t)
        }
    }))
    .buffer_unordered(concurrency)
    .collect::<Vec<_>>()
    .await;
    sent.extend(stamped);
    let expected = (PEOPLE * MESSAGES_EACH) as usize;
    let received = wait_for(Duration::from_secs(120), || {
        let calls = tg.calls("sendMessage");
        let got: HashMap<String, Instant> = calls
            .iter()
            .filter_map(|r| {
                let id = r.body["reply_parameters"]["message_id"]
                    .as_i64()?
                    .to_string();
                sent.contains_key(&id).then_some((id, r.at))
            })
            .collect();
        async move { (got.len() >= expected).then_some(got) }
    })
    .await
    .expect("every message answered");
    report(
        &format!("telegram webhook x{concurrency}"),
        &sent,
        &received,
        began,
    );
    run.gateway.stop(Duration::from_secs(5)).await;
}

async fn whatsapp(concurrency: usize) {
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
        "wa",
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
            "interactive": {"type": "button_reply", "button_reply": {"id": format!("c:req:y:{policy}"), "title": "Agree"}}}), from.clone()));
    }
    // In order per person: the agreement after the greeting.
    futures::stream::iter(seed)
        .buffered(concurrency)
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
    let sent: HashMap<String, Instant> =
        futures::stream::iter(jobs.into_iter().map(|(id, job)| async move {
            let t = Instant::now();
            job.await;
            (id, t)
        }))
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect();
    let expected = (PEOPLE * MESSAGES_EACH) as usize;
    let received = wait_for(Duration::from_secs(180), || {
        let got: HashMap<String, Instant> = graph
            .requests()
            .iter()
            .filter_map(|r| {
                let id = r.body["context"]["message_id"].as_str()?.to_string();
                sent.contains_key(&id).then_some((id, r.at))
            })
            .collect();
        async move { (got.len() >= expected).then_some(got) }
    })
    .await
    .expect("every message answered");
    report(&format!("whatsapp x{concurrency}"), &sent, &received, began);
    run.gateway.stop(Duration::from_secs(5)).await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let db = if std::env::var("TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty()) {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "whole route, {PEOPLE} people x {MESSAGES_EACH} messages, {db}; xN = N requests in flight"
    );
    // Light load (latency the route adds) and saturation (throughput).
    for concurrency in [4, 64] {
        telegram(concurrency).await;
        whatsapp(concurrency).await;
    }
}
