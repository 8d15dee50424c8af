//! Streamed answers: how soon a person sees text, and what streaming costs.
//!
//! 50 people (consented) write at the same instant; the fake provider streams each answer in
//! 20 pieces, 50 ms apart. For every conversation, the time from the provider sending its first
//! piece to the first draft carrying text arriving at the fake Bot API (both clocks are this
//! process's). Rounds alternate streamed answers with the same answers sent whole
//! (`LlmBehaviour::Whole`), and each reports CPU per reply (the whole process: gateway, fakes
//! and driver) and the resident memory the round added at its peak, per reply.
//!
//! Run once with the bot's own limits raised (what the gateway adds) and once with Telegram's
//! (30 messages a second per bot, which drafts share).
//!
//! `cargo bench -p consentgate-e2e --bench streaming`

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use consentgate::{
    app::Gateway,
    config::{Config, Mode},
    privacy::keys::{GeneratedKeys, Keys},
};
use consentgate_e2e::{FakeLlm, FakeTelegram, LlmBehaviour, updates, wait_for};

const PEOPLE: i64 = 50;
const ROUNDS: usize = 6;
const PIECES: usize = 20;
const GAP: Duration = Duration::from_millis(50);
/// Between rounds: a person reads an answer before writing again (and the chats' rate-limit
/// buckets refill, as they would).
const PAUSE: Duration = Duration::from_secs(5);

/// CPU time this process has used so far, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}

/// Resident memory of this process now, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct Setup {
    tg: FakeTelegram,
    llm: FakeLlm,
    gateway: Gateway,
    _dir: tempfile::TempDir,
    next_update: i64,
}

async fn start(per_bot_per_second: u32) -> Setup {
    let tg = FakeTelegram::start().await;
    let llm = FakeLlm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let keys = GeneratedKeys::new();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        format!(
            "messages_per_minute = 600\n[[bots]]\nname = \"telegram\"\nchannel = \"telegram\"\ntoken_env = \"BENCH_TOKEN\"\napi_url = \"{}\"\nlimits = {{ per_bot_per_second = {per_bot_per_second} }}\n",
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
    let mut u = 0;
    for p in 1..=PEOPLE {
        let id = 30_000_000 + p;
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
    wait_for(Duration::from_secs(120), || {
        let n = tg.count("sendMessage");
        async move { (n >= seeded).then_some(()) }
    })
    .await
    .expect("seeded");
    Setup {
        tg,
        llm,
        gateway,
        _dir: dir,
        next_update: u,
    }
}

struct Round {
    /// First piece sent → first draft with text received, per conversation, in ms.
    first_visible_ms: Vec<f64>,
    cpu_us_per_reply: f64,
    peak_kib_per_reply: f64,
}

async fn round(s: &mut Setup, n: usize, streamed: bool) -> Round {
    tokio::time::sleep(PAUSE).await;
    let answer: Vec<String> = (0..PIECES)
        .map(|i| {
            if i == 0 {
                "Sure, ".into()
            } else {
                format!("word{i} ")
            }
        })
        .collect();
    s.llm.set(if streamed {
        LlmBehaviour::Pieces(answer, GAP)
    } else {
        LlmBehaviour::Whole(answer.concat())
    });
    let sent_before = s.tg.count("sendMessage");
    let drafts_before = s.tg.count("sendMessageDraft");
    let (cpu, rss) = (cpu_seconds(), rss_kib());
    let mut peak = rss;
    for p in 1..=PEOPLE {
        s.next_update += 1;
        s.tg.push_update(updates::text(
            s.next_update,
            30_000_000 + p,
            &format!("question {n} from {p}"),
        ));
    }
    let expected = sent_before + PEOPLE as usize;
    let deadline = Instant::now() + Duration::from_secs(120);
    while s.tg.count("sendMessage") < expected {
        assert!(Instant::now() < deadline, "round {n} not answered");
        peak = peak.max(rss_kib());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cpu_us_per_reply = (cpu_seconds() - cpu) * 1e6 / PEOPLE as f64;
    let peak_kib_per_reply = peak.saturating_sub(rss) as f64 / PEOPLE as f64;
    let mut first_visible_ms = Vec::new();
    if streamed {
        let drafts = s.tg.calls("sendMessageDraft");
        for p in 1..=PEOPLE {
            let chat = 30_000_000 + p;
            let Some(piece) = s.llm.first_piece_at(&format!("question {n} from {p}")) else {
                continue;
            };
            let shown = drafts[drafts_before..]
                .iter()
                .filter(|d| d.body["chat_id"].as_i64() == Some(chat))
                .map(|d| d.at)
                .min();
            if let Some(shown) = shown {
                first_visible_ms.push(shown.saturating_duration_since(piece).as_secs_f64() * 1e3);
            }
        }
    }
    Round {
        first_visible_ms,
        cpu_us_per_reply,
        peak_kib_per_reply,
    }
}

async fn run(label: &str, per_bot_per_second: u32) {
    let mut s = start(per_bot_per_second).await;
    // One round of each to warm up (not counted).
    round(&mut s, 0, true).await;
    round(&mut s, 1, false).await;
    let (mut latencies, mut cpu, mut mem) = (
        Vec::new(),
        [Vec::new(), Vec::new()],
        [Vec::new(), Vec::new()],
    );
    for n in 0..ROUNDS {
        let streamed = n % 2 == 0;
        let r = round(&mut s, n + 2, streamed).await;
        latencies.extend(r.first_visible_ms);
        cpu[usize::from(!streamed)].push(r.cpu_us_per_reply);
        mem[usize::from(!streamed)].push(r.peak_kib_per_reply);
    }
    latencies.sort_by(f64::total_cmp);
    let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len().max(1) as f64;
    println!(
        "{label}: first token → first visible text over {} conversations ({} at once): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        PEOPLE,
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or(f64::NAN),
    );
    println!(
        "{label}: CPU per reply: streamed {:.0} µs, whole {:.0} µs; peak memory added per reply: streamed {:.1} KiB, whole {:.1} KiB",
        mean(&cpu[0]),
        mean(&cpu[1]),
        mean(&mem[0]),
        mean(&mem[1]),
    );
    s.gateway.stop(Duration::from_secs(10)).await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        run("limits raised (5,000/s per bot)", 5_000).await;
        run("Telegram's limits (30/s per bot)", 30).await;
    });
}
