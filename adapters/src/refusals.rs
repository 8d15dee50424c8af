//! Refused webhook requests (a wrong secret, a missing or wrong signature, a failed verification
//! handshake): counted per channel for the metrics, and logged at most once a minute per channel
//! with the number refused since, so a flood of forged requests cannot flood the log.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use crate::model::ChannelKind;

/// The channels that take webhooks, in the order of the counters below.
const CHANNELS: [ChannelKind; 3] = [
    ChannelKind::Telegram,
    ChannelKind::Bale,
    ChannelKind::WhatsApp,
];

static REFUSED: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
/// Refused since the last log line, per channel.
static UNLOGGED: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
/// When each channel last logged, in seconds since the epoch.
static LOGGED_AT: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

const LOG_EVERY_SECS: u64 = 60;

fn slot(channel: ChannelKind) -> usize {
    CHANNELS.iter().position(|c| *c == channel).unwrap_or(0)
}

/// Counts one refused request; logs it if this channel has not logged a refusal this minute.
pub fn refused(channel: ChannelKind, bot: &str, why: &'static str) {
    let i = slot(channel);
    REFUSED[i].fetch_add(1, Ordering::Relaxed);
    let unlogged = UNLOGGED[i].fetch_add(1, Ordering::Relaxed) + 1;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LOGGED_AT[i].load(Ordering::Relaxed);
    if now.saturating_sub(last) >= LOG_EVERY_SECS
        && LOGGED_AT[i]
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        UNLOGGED[i].fetch_sub(unlogged, Ordering::Relaxed);
        tracing::warn!(%channel, bot, why, refused = unlogged, "webhook requests refused (logged at most once a minute; see the metrics)");
    }
}

/// Requests refused so far, per channel.
pub fn counts() -> [(ChannelKind, u64); 3] {
    CHANNELS.map(|c| (c, REFUSED[slot(c)].load(Ordering::Relaxed)))
}
