//! Long polling: our own `getUpdates` loop, so the offset moves past an update only once the
//! pipeline has handled it. Updates of one person are handled in the order Telegram delivered
//! them, whatever chat they came from (a withdrawal in private applies to the group message
//! after it); different people at once.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    ALLOWED_UPDATES, MAX_ATTEMPTS, TelegramChannel, TelegramSettings, deliver, method_url,
    parse::{Me, ParseError, ParsedUpdate, parse_update_as},
};
use crate::{
    delivery::Delivery,
    model::InboundHandler,
    outbound::{ChatQueues, Pacer},
    shutdown::Shutdown,
};

#[derive(Deserialize)]
struct ApiResponse {
    ok: bool,
    #[serde(default)]
    result: Option<Vec<Box<RawValue>>>,
    #[serde(default)]
    error_code: Option<u16>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<ResponseParameters>,
}

#[derive(Deserialize)]
struct ResponseParameters {
    #[serde(default)]
    retry_after: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(
        "Telegram answered 409 Conflict ({0}). Another process is polling with this token, or a \
         webhook is set. Stop the other instance, or remove the webhook (deleteWebhook) if this \
         bot should poll; the gateway never deletes a webhook on its own."
    )]
    Conflict(String),
    #[error("the bot token was rejected (401 Unauthorized); check the token")]
    Unauthorized,
    #[error("rate limited; retrying after {0} s")]
    RetryAfter(u64),
    #[error("getUpdates failed: {0}")]
    Other(String),
}

/// The long-polling loop of one bot.
pub struct Poller {
    settings: Arc<TelegramSettings>,
    http: reqwest::Client,
    channel: Arc<TelegramChannel>,
    delivery: Delivery,
    me: std::sync::OnceLock<Me>,
    /// Whether the last getUpdates succeeded (for readiness).
    connected: Arc<std::sync::atomic::AtomicBool>,
}

impl Poller {
    pub fn new(settings: TelegramSettings, handler: Arc<dyn InboundHandler>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(u64::from(settings.poll_timeout) + 15))
            .build()
            .unwrap_or_default();
        let channel = Arc::new(TelegramChannel::new(&settings));
        let delivery = Delivery::new(&settings.bot_name, channel.clone(), handler);
        Poller {
            settings: Arc::new(settings),
            http,
            channel,
            delivery,
            me: std::sync::OnceLock::new(),
            connected: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }

    /// True while the last getUpdates succeeded: the bot is connected.
    pub fn connected(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.connected.clone()
    }

    /// Sends replies through `queues` (shared across the gateway, so shutdown can drain them).
    pub fn with_queues(mut self, queues: Arc<ChatQueues>) -> Self {
        self.delivery = self.delivery.with_queues(queues);
        self
    }

    /// Where this bot's replies go out (for replies left unsent by a crash).
    pub fn delivery(&self) -> Delivery {
        self.delivery.clone()
    }

    /// The pacer of this bot's sends.
    pub fn pacer(&self) -> Arc<Pacer> {
        self.channel.pacer().clone()
    }

    async fn get_updates(&self, offset: Option<i64>) -> Result<Vec<Box<RawValue>>, PollError> {
        let url = method_url(&self.settings.api_url, &self.settings.token, "getUpdates")
            .map_err(PollError::Other)?;
        let mut body = serde_json::json!({
            "timeout": self.settings.poll_timeout,
            "allowed_updates": ALLOWED_UPDATES,
        });
        // Bale rejects offset=0, so the first call sends no offset at all.
        if let Some(offset) = offset {
            body["offset"] = offset.into();
        }
        let resp = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| PollError::Other(e.without_url().to_string()))?;
        let status = resp.status();
        let parsed: ApiResponse = resp
            .json()
            .await
            .map_err(|e| PollError::Other(format!("HTTP {status}: {}", e.without_url())))?;
        if parsed.ok {
            return Ok(parsed.result.unwrap_or_default());
        }
        let description = parsed.description.unwrap_or_default();
        match parsed.error_code.unwrap_or(status.as_u16()) {
            409 => Err(PollError::Conflict(description)),
            401 | 404 => Err(PollError::Unauthorized),
            429 => Err(PollError::RetryAfter(
                parsed.parameters.and_then(|p| p.retry_after).unwrap_or(5),
            )),
            code => Err(PollError::Other(format!("{code} {description}"))),
        }
    }

    /// Handles a batch: updates of one person in order, different people concurrently. Returns the
    /// next offset (past everything handled, or at the first update that must be retried) and
    /// whether something must be retried.
    async fn handle_batch(
        &self,
        raw: Vec<Box<RawValue>>,
        offset: Option<i64>,
    ) -> (Option<i64>, bool) {
        let mut by_person: BTreeMap<String, Vec<ParsedUpdate>> = BTreeMap::new();
        let mut max_seen = offset.map(|o| o - 1);
        for value in raw {
            match parse_update_as(
                self.settings.channel,
                &self.settings.bot_name,
                self.me.get(),
                value.get(),
            ) {
                Ok(parsed) => {
                    max_seen = max_seen.max(Some(parsed.update_id));
                    // A payment's pre-checkout query has ten seconds: it waits for nobody's
                    // answer in this batch (and is not retried: late is as good as no).
                    if parsed
                        .inbound
                        .as_ref()
                        .is_some_and(|i| matches!(i.kind, crate::InboundKind::PreCheckout { .. }))
                    {
                        let (settings, channel, delivery) = (
                            self.settings.clone(),
                            self.channel.clone(),
                            self.delivery.clone(),
                        );
                        tokio::spawn(async move {
                            if deliver(&settings, &channel, &delivery, parsed)
                                .await
                                .is_err()
                            {
                                tracing::warn!(bot = %settings.bot_name, "a pre-checkout query was not answered");
                            }
                        });
                        continue;
                    }
                    // The person; for updates without one (channel posts), the chat.
                    let key = parsed
                        .inbound
                        .as_ref()
                        .map(|i| match &i.sender.id {
                            Some(user) => format!("u{}", user.expose()),
                            None => format!("c{}", i.chat.id.expose()),
                        })
                        .unwrap_or_default();
                    by_person.entry(key).or_default().push(parsed);
                }
                Err(err) => {
                    // Skipped, never retried: it would fail the same way again.
                    if let ParseError::Malformed { update_id, .. } = &err {
                        max_seen = max_seen.max(Some(*update_id));
                    }
                    tracing::warn!(bot = %self.settings.bot_name, error = %err, "skipping unreadable update");
                }
            }
        }
        // Each person on a task of its own, so the batch's work spreads over every core.
        let mut groups = tokio::task::JoinSet::new();
        let mut firsts = HashMap::new();
        for updates in by_person.into_values() {
            let first = updates.first().map(|u| u.update_id);
            let (settings, channel, delivery) = (
                self.settings.clone(),
                self.channel.clone(),
                self.delivery.clone(),
            );
            let task = groups.spawn(async move {
                for parsed in updates {
                    let id = parsed.update_id;
                    if deliver(&settings, &channel, &delivery, parsed)
                        .await
                        .is_err()
                    {
                        return Some(id);
                    }
                }
                None
            });
            firsts.insert(task.id(), first);
        }
        let mut failed: Option<i64> = None;
        while let Some(joined) = groups.join_next_with_id().await {
            // A chat whose task panicked is retried from its first update.
            let first = match joined {
                Ok((_, first)) => first,
                Err(err) => firsts.get(&err.id()).copied().flatten(),
            };
            failed = match (failed, first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        match failed {
            Some(id) => (Some(id), true),
            None => (max_seen.map(|m| m + 1), false),
        }
    }

    /// Polls until `shutdown` fires; the batch in hand is finished first.
    pub async fn run(self, mut shutdown: Shutdown) {
        let mut offset: Option<i64> = None;
        let mut backoff = Duration::from_millis(500);
        // The update that failed last time, and how many times in a row.
        let mut stuck: Option<(i64, u32)> = None;
        if let Some(me) = self.channel.me().await {
            let _ = self.me.set(me);
            // The platform answered: ready now, not only after the first long poll returns.
            self.connected
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        tracing::info!(channel = %self.settings.channel, bot = %self.settings.bot_name, "polling for updates");
        while !shutdown.is_requested() {
            let fetched = tokio::select! {
                r = self.get_updates(offset) => r,
                _ = shutdown.requested() => break,
            };
            self.connected
                .store(fetched.is_ok(), std::sync::atomic::Ordering::Relaxed);
            let wait = match fetched {
                Ok(updates) if updates.is_empty() => None,
                Ok(updates) => {
                    let (next, retry) = self.handle_batch(updates, offset).await;
                    match (retry, next) {
                        (true, Some(id)) => {
                            let attempts = match stuck {
                                Some((same, n)) if same == id => n + 1,
                                _ => 1,
                            };
                            if attempts >= MAX_ATTEMPTS {
                                tracing::error!(
                                    bot = %self.settings.bot_name,
                                    update_id = id,
                                    attempts,
                                    "giving up on an update that keeps failing"
                                );
                                stuck = None;
                                offset = Some(id + 1);
                                None
                            } else {
                                stuck = Some((id, attempts));
                                offset = Some(id);
                                Some(backoff)
                            }
                        }
                        _ => {
                            stuck = None;
                            offset = next.or(offset);
                            None
                        }
                    }
                }
                Err(err) => {
                    tracing::error!(channel = %self.settings.channel, bot = %self.settings.bot_name, error = %err, "polling error");
                    Some(match err {
                        PollError::RetryAfter(secs) => Duration::from_secs(secs.min(300)),
                        PollError::Conflict(_) | PollError::Unauthorized => Duration::from_secs(30),
                        PollError::Other(_) => backoff,
                    })
                }
            };
            match wait {
                Some(delay) => {
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.requested() => break,
                    }
                }
                None => backoff = Duration::from_millis(500),
            }
        }
        tracing::info!(bot = %self.settings.bot_name, "poller stopped");
    }
}
