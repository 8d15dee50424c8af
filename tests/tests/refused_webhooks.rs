//! A flood of forged webhook requests is counted in the metrics and logged at most once a minute
//! per channel: the log cannot be flooded by strangers.

mod common;

use common::*;
use reqwest::StatusCode;

#[tokio::test]
async fn a_flood_of_forged_webhooks_is_counted_not_logged_line_by_line() {
    let captured = Capture::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let h = Harness::start(Options {
        telegram_webhook: true,
        ..Default::default()
    })
    .await;
    const FORGED: usize = 60;
    for n in 0..FORGED {
        let status = h
            .http
            .post(format!("{}/webhooks/telegram/telegram", h.base))
            .header("X-Telegram-Bot-Api-Secret-Token", format!("forged-{n:040}"))
            .body("{}")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let refused = metric(
        &h.metrics().await,
        "consentgate_webhooks_refused{channel=\"telegram\"}",
    ) as u64;
    assert!(refused >= FORGED as u64, "{refused}");
    let log = captured.text();
    let lines = log.lines().filter(|l| l.contains("refused")).count();
    assert!(
        (1..=2).contains(&lines),
        "{lines} log lines for {FORGED} refusals:\n{log}"
    );
    h.finish().await;
}
