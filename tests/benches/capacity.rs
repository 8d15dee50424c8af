//! Capacity against a ceiling, and memory:
//!
//! 1. **Polling throughput** through the fake Bot API: the gateway's whole route (consent,
//!    pseudonym, redaction, audit, an instant fake LLM) against a bare teloxide echo bot on the
//!    same fake — 1,000 distinct people, three messages each, replies per second. Between the
//!    two, the same echo bot asking the fake LLM for each reply: what the LLM request alone
//!    costs.
//! 2. **Peak memory** of the gateway process (`VmHWM`) after 10,000 and 100,000 distinct people
//!    have written to it (webhook mode, SQLite).
//!
//! `cargo build --release -p consentgate && cargo bench -p consentgate-e2e --bench capacity`
//! (part 2 runs the release binary; set CONSENTGATE_BIN to use another).

use std::{
    collections::HashMap,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use consentgate::{
    app::Gateway,
    config::{Config, Mode},
    privacy::keys::{GeneratedKeys, Keys},
};
use consentgate_e2e::{FakeLlm, FakeTelegram, updates, wait_for};
use futures::StreamExt;
use teloxide::prelude::*;

const PEOPLE: i64 = 1_000;
const EACH: i64 = 3;

/// CPU time this process (gateway, fakes and driver together) has used so far, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime and stime are 12 and 13.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}

/// A measured run: replies per second and CPU microseconds per reply (the whole process).
struct Rate {
    per_second: f64,
    cpu_us: f64,
}

/// Pushes the measured messages and waits for `expected` sends in all.
async fn measure(tg: &FakeTelegram, first_update: i64, expected: usize) -> Rate {
    let mut u = first_update;
    let (began, cpu) = (Instant::now(), cpu_seconds());
    for round in 0..EACH {
        for p in 1..=PEOPLE {
            u += 1;
            tg.push_update(updates::text(
                u,
                20_000_000 + p,
                &format!("question {round} about delivery"),
            ));
        }
    }
    let done = wait_for(Duration::from_secs(300), || {
        let n = tg.count("sendMessage");
        async move { (n >= expected).then_some(Instant::now()) }
    })
    .await
    .expect("all answered");
    let n = (PEOPLE * EACH) as f64;
    Rate {
        per_second: n / (done - began).as_secs_f64(),
        cpu_us: (cpu_seconds() - cpu) * 1e6 / n,
    }
}

/// Runs a teloxide bot with `handler` on the fake while the measured messages go through it.
async fn dispatch_and_measure<E>(
    tg: &FakeTelegram,
    bot: Bot,
    handler: teloxide::dispatching::UpdateHandler<E>,
) -> Rate
where
    E: std::fmt::Debug + Send + Sync + 'static,
{
    let mut dispatcher = Dispatcher::builder(bot, handler).build();
    let stop = dispatcher.shutdown_token();
    let task = tokio::spawn(async move { dispatcher.dispatch().await });
    let rate = measure(tg, 0, (PEOPLE * EACH) as usize).await;
    if let Ok(f) = stop.shutdown() {
        f.await;
    }
    let _ = task.await;
    rate
}

async fn teloxide_echo() -> Rate {
    let tg = FakeTelegram::start().await;
    let bot = Bot::new("1:ECHO").set_api_url(reqwest::Url::parse(&tg.url).unwrap());
    let handler = Update::filter_message().endpoint(|bot: Bot, msg: Message| async move {
        if let Some(t) = msg.text() {
            bot.send_message(msg.chat.id, t).await?;
        }
        respond(())
    });
    dispatch_and_measure(&tg, bot, handler).await
}

/// The same echo bot, but each reply is first asked of the fake LLM (one chat-completions
/// request, as the route makes): the part of the route's cost that is neither consent nor
/// privacy.
async fn teloxide_llm_echo() -> Rate {
    let tg = FakeTelegram::start().await;
    let llm = FakeLlm::start().await;
    let bot = Bot::new("1:ECHO").set_api_url(reqwest::Url::parse(&tg.url).unwrap());
    let url = format!("{}/chat/completions", llm.base_url);
    let http = reqwest::Client::new();
    let handler = Update::filter_message().endpoint(move |bot: Bot, msg: Message| {
        let (url, http) = (url.clone(), http.clone());
        async move {
            if let Some(t) = msg.text() {
                let body = serde_json::json!({
                    "model": "fake",
                    "messages": [{"role": "user", "content": t}],
                });
                let answer: serde_json::Value =
                    http.post(&url).json(&body).send().await?.json().await?;
                let text = answer["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap_or("?");
                bot.send_message(msg.chat.id, text).await?;
            }
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        }
    });
    dispatch_and_measure(&tg, bot, handler).await
}

async fn gateway_polling() -> Rate {
    let tg = FakeTelegram::start().await;
    let llm = FakeLlm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let keys = GeneratedKeys::new();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        format!(
            "messages_per_minute = 600\n[[bots]]\nname = \"telegram\"\nchannel = \"telegram\"\ntoken_env = \"BENCH_TOKEN\"\napi_url = \"{}\"\nlimits = {{ per_bot_per_second = 5000 }}\n",
            tg.url
        ),
    )
    .unwrap();
    let env: HashMap<String, String> = [
        ("BENCH_TOKEN", "1:BENCH".to_string()),
        (
            "CONSENTGATE_DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display()),
        ),
        ("CONSENTGATE_HTTP_ADDR", "127.0.0.1:0".into()),
        ("FERNET_KEYS", keys.fernet.clone()),
        ("PSEUDONYM_KEY", keys.pseudonym.clone()),
        ("AUDIT_KEY", keys.audit.clone()),
        ("LLM_BASE_URL", llm.base_url.clone()),
        ("LLM_MODEL", "fake".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = Config::load(Some(&file), &env).unwrap();
    let (keys, _) = Keys::load(Mode::Dev, &dir.path().join("s"), &env).unwrap();
    let pseudonym_key = keys.pseudonym.clone();
    let gateway = Gateway::start(config, keys).await.unwrap();
    // Everyone agrees first (not measured): a prompt and a thank-you each.
    let mut u = 0;
    for p in 1..=PEOPLE {
        let id = 20_000_000 + p;
        u += 1;
        tg.push_update(updates::text(u, id, "hi"));
        u += 1;
        let agree = consentgate::pipeline::buttons::for_person(
            &pseudonym_key,
            "telegram",
            consentgate_adapters::ChannelKind::Telegram,
            &id.to_string(),
            "c:req:y:1",
        );
        tg.push_update(updates::button(u, id, &agree));
    }
    let seeded = (2 * PEOPLE) as usize;
    wait_for(Duration::from_secs(300), || {
        let n = tg.count("sendMessage");
        async move { (n >= seeded).then_some(()) }
    })
    .await
    .expect("seeded");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rate = measure(&tg, u, seeded + (PEOPLE * EACH) as usize).await;
    gateway.stop(Duration::from_secs(10)).await;
    rate
}

fn vm_hwm_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn memory() {
    let bin = std::env::var("CONSENTGATE_BIN").unwrap_or_else(|_| {
        format!(
            "{}/../target/release/consentgate",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    if !std::path::Path::new(&bin).exists() {
        println!("memory: {bin} not found; run `cargo build --release -p consentgate` first");
        return;
    }
    let tg = FakeTelegram::start().await;
    let llm = FakeLlm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let keys = GeneratedKeys::new();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        format!(
            "[[bots]]\nname = \"telegram\"\nchannel = \"telegram\"\ntoken_env = \"BENCH_TOKEN\"\napi_url = \"{}\"\nwebhook_url = \"http://127.0.0.1:9/webhooks/telegram/telegram\"\nwebhook_secret_env = \"BENCH_SECRET\"\nlimits = {{ per_bot_per_second = 5000 }}\n",
            tg.url
        ),
    )
    .unwrap();
    let secret = "b".repeat(40);
    let mut child = Command::new(&bin)
        .args(["--config", file.to_str().unwrap(), "serve"])
        .env_clear()
        .env("BENCH_TOKEN", "1:MEM")
        .env("BENCH_SECRET", &secret)
        .env(
            "CONSENTGATE_DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display()),
        )
        .env("CONSENTGATE_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("CONSENTGATE_MODE", "production")
        .env("FERNET_KEYS", &keys.fernet)
        .env("PSEUDONYM_KEY", &keys.pseudonym)
        .env("AUDIT_KEY", &keys.audit)
        .env("LLM_BASE_URL", &llm.base_url)
        .env("LLM_MODEL", "fake")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/webhooks/telegram/telegram");
    wait_for(Duration::from_secs(30), || {
        let http = http.clone();
        let ready = format!("http://127.0.0.1:{port}/readyz");
        async move {
            http.get(ready)
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
        }
    })
    .await
    .expect("gateway up");
    println!(
        "memory: peak RSS at start {:>6.1} MB",
        vm_hwm_kb(child.id()) as f64 / 1024.0
    );
    let mut seen = 0i64;
    for target in [10_000i64, 100_000] {
        let began = Instant::now();
        futures::stream::iter((seen + 1..=target).map(|p| {
            let (http, url, secret) = (http.clone(), url.clone(), secret.clone());
            async move {
                let _ = http
                    .post(url)
                    .header("X-Telegram-Bot-Api-Secret-Token", secret)
                    .json(&updates::text(p, 30_000_000 + p, "hello"))
                    .send()
                    .await;
            }
        }))
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
        seen = target;
        println!(
            "memory: peak RSS after {target:>7} people {:>6.1} MB   ({:.0} new people/s)",
            vm_hwm_kb(child.id()) as f64 / 1024.0,
            (target as f64 * if target == 10_000 { 1.0 } else { 0.9 })
                / began.elapsed().as_secs_f64()
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Prints a run's line, with its share of the ceiling's replies per second when given.
fn report(label: &str, rate: &Rate, ceiling: Option<&Rate>) {
    let share = ceiling.map_or(String::new(), |c| {
        format!(
            "   ({:.0}% of the echo)",
            100.0 * rate.per_second / c.per_second
        )
    });
    println!(
        "{label:<28}{:>8.0} replies/s   {:>5.0} µs CPU per reply{share}",
        rate.per_second, rate.cpu_us
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `-- throughput` or `-- memory` runs one part (cargo bench also passes `--bench`).
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |part: &str| parts.is_empty() || parts.iter().any(|p| p == part);
    if wants("throughput") {
        println!("polling through the fake Bot API, {PEOPLE} people x {EACH} messages, SQLite");
        let ceiling = teloxide_echo().await;
        report("bare teloxide echo", &ceiling, None);
        report(
            "teloxide echo asking the LLM",
            &teloxide_llm_echo().await,
            Some(&ceiling),
        );
        report(
            "gateway, whole route",
            &gateway_polling().await,
            Some(&ceiling),
        );
    }
    if wants("memory") {
        memory().await;
    }
}
