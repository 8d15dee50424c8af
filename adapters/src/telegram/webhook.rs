//! Telegram webhook mode: Telegram POSTs updates to `/webhooks/telegram/{bot}`.
//!
//! At start the gateway registers the webhook with `setWebhook`, passing a secret token and the
//! update types it handles. Telegram sends the secret back in `X-Telegram-Bot-Api-Secret-Token`
//! with every request; a request without that exact header (compared in constant time) gets 401
//! and is not read. The bot token never appears in the webhook URL. Several replicas behind a
//! load balancer derive the same secret, and the pipeline's dedupe makes a retried or doubly
//! delivered update count once.

use std::{collections::HashMap, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    extract::{DefaultBodyLimit, Path, State},
    http::{HeaderMap, StatusCode},
    routing::post,
};
use serde::Deserialize;
use url::Url;

use crate::{
    delivery::Delivery,
    model::InboundHandler,
    telegram::{ALLOWED_UPDATES, TelegramChannel, TelegramSettings, deliver, method_url},
};

/// The header Telegram echoes the secret token in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// Largest update body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Whether `secret` is acceptable to Telegram and long enough to be unguessable.
pub fn valid_secret(secret: &str) -> bool {
    (32..=256).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// One bot in webhook mode.
pub struct WebhookBot {
    pub settings: TelegramSettings,
    /// The public URL Telegram should call (this gateway's `/webhooks/telegram/{bot}`).
    pub url: Url,
    secret: String,
    channel: Arc<TelegramChannel>,
    delivery: Delivery,
    me: std::sync::OnceLock<crate::telegram::Me>,
}

impl WebhookBot {
    /// `secret` must pass [`valid_secret`]; a webhook without one is refused.
    pub fn new(
        settings: TelegramSettings,
        url: Url,
        secret: String,
        handler: Arc<dyn InboundHandler>,
    ) -> Result<Self, String> {
        if !valid_secret(&secret) {
            return Err(format!(
                "the webhook secret of bot `{}` must be 32-256 characters of A-Z a-z 0-9 _ -",
                settings.bot_name
            ));
        }
        let channel = Arc::new(TelegramChannel::new(&settings));
        let delivery = Delivery::new(&settings.bot_name, channel.clone(), handler);
        Ok(WebhookBot {
            settings,
            url,
            secret,
            channel,
            delivery,
            me: std::sync::OnceLock::new(),
        })
    }

    /// Registers the webhook with Telegram: URL, secret token and the update types we handle.
    /// Sends replies through `queues` (shared across the gateway, so shutdown can drain them).
    pub fn with_queues(mut self, queues: Arc<crate::outbound::ChatQueues>) -> Self {
        self.delivery = self.delivery.with_queues(queues);
        self
    }

    /// Where this bot's replies go out (for replies left unsent by a crash).
    pub fn delivery(&self) -> Delivery {
        self.delivery.clone()
    }

    /// The pacer of this bot's sends.
    pub fn pacer(&self) -> Arc<crate::outbound::Pacer> {
        self.channel.pacer().clone()
    }

    /// The URL the platform calls. Bale authenticates by a secret path segment (it is not known
    /// to send the secret header), so its URL ends in the secret; never log it.
    pub fn callback_url(&self) -> Url {
        let mut url = self.url.clone();
        if self.settings.channel == crate::model::ChannelKind::Bale
            && let Ok(mut segments) = url.path_segments_mut()
        {
            segments.pop_if_empty().push(&self.secret);
        }
        url
    }

    pub async fn register(&self) -> Result<(), String> {
        if let Some(me) = self.channel.me().await {
            let _ = self.me.set(me);
        }
        #[derive(Deserialize)]
        struct Answer {
            ok: bool,
            #[serde(default)]
            description: Option<String>,
        }
        let endpoint = method_url(&self.settings.api_url, &self.settings.token, "setWebhook")?;
        let body = serde_json::json!({
            "url": self.callback_url().as_str(),
            "secret_token": self.secret,
            "allowed_updates": ALLOWED_UPDATES,
        });
        let answer: Answer = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?
            .post(endpoint)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("setWebhook failed: {}", e.without_url()))?
            .json()
            .await
            .map_err(|e| {
                format!(
                    "setWebhook answered something unreadable: {}",
                    e.without_url()
                )
            })?;
        if answer.ok {
            Ok(())
        } else {
            Err(format!(
                "Telegram refused setWebhook: {}",
                answer.description.unwrap_or_default()
            ))
        }
    }
}

/// The webhook routes of every bot in webhook mode.
pub fn router(bots: Vec<Arc<WebhookBot>>) -> Router {
    let by_name: HashMap<String, Arc<WebhookBot>> = bots
        .into_iter()
        .map(|b| (b.settings.bot_name.clone(), b))
        .collect();
    Router::new()
        .route("/webhooks/telegram/{bot}", post(receive))
        .route("/webhooks/bale/{bot}/{secret}", post(receive_bale))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(Arc::new(by_name))
}

/// Bale: the secret is the last path segment (and the header, when Bale sends one, must match
/// too).
async fn receive_bale(
    State(bots): State<Arc<HashMap<String, Arc<WebhookBot>>>>,
    Path((name, secret)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> StatusCode {
    let Some(bot) = bots
        .get(&name)
        .filter(|b| b.settings.channel == crate::model::ChannelKind::Bale)
    else {
        return StatusCode::NOT_FOUND;
    };
    let header_ok = headers
        .get(SECRET_HEADER)
        .is_none_or(|v| crate::constant_time_eq(v.as_bytes(), bot.secret.as_bytes()));
    if !crate::constant_time_eq(secret.as_bytes(), bot.secret.as_bytes()) || !header_ok {
        crate::refusals::refused(crate::model::ChannelKind::Bale, &name, "wrong secret");
        return StatusCode::UNAUTHORIZED;
    }
    handle(bot, &name, &headers, body).await
}

async fn receive(
    State(bots): State<Arc<HashMap<String, Arc<WebhookBot>>>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> StatusCode {
    let Some(bot) = bots
        .get(&name)
        .filter(|b| b.settings.channel == crate::model::ChannelKind::Telegram)
    else {
        return StatusCode::NOT_FOUND;
    };
    let authentic = headers
        .get(SECRET_HEADER)
        .is_some_and(|v| crate::constant_time_eq(v.as_bytes(), bot.secret.as_bytes()));
    if !authentic {
        crate::refusals::refused(
            crate::model::ChannelKind::Telegram,
            &name,
            "wrong secret token",
        );
        return StatusCode::UNAUTHORIZED;
    }
    handle(bot, &name, &headers, body).await
}

/// An authenticated request: its body is read now, within the limit.
async fn handle(bot: &WebhookBot, name: &str, headers: &HeaderMap, body: Body) -> StatusCode {
    let body = match crate::body::read_limited(headers, body, MAX_BODY_BYTES, |_| {}).await {
        Ok(body) => body,
        Err(status) => return status,
    };
    let Ok(raw) = std::str::from_utf8(&body) else {
        tracing::warn!(bot = %name, "webhook body is not UTF-8; dropped");
        return StatusCode::OK;
    };
    let parsed = match super::parse_update_as(
        bot.settings.channel,
        &bot.settings.bot_name,
        bot.me.get(),
        raw,
    ) {
        Ok(parsed) => parsed,
        Err(err) => {
            // Answered 200: Telegram would otherwise send the same unreadable update forever.
            tracing::warn!(bot = %name, error = %err, "unreadable webhook update dropped");
            return StatusCode::OK;
        }
    };
    match deliver(&bot.settings, &bot.channel, &bot.delivery, parsed).await {
        Ok(()) => StatusCode::OK,
        // Telegram retries non-2xx answers; dedupe makes the retry count once.
        Err(()) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_must_be_long_and_of_the_allowed_characters() {
        assert!(valid_secret(&"a".repeat(32)));
        assert!(valid_secret("abcdefghijklmnopqrstuvwxyz_-0123456789"));
        assert!(!valid_secret(&"a".repeat(31)));
        assert!(!valid_secret(&format!("{}+", "a".repeat(40))));
    }

    #[test]
    fn comparison_needs_every_byte() {
        assert!(crate::constant_time_eq(b"abc", b"abc"));
        assert!(!crate::constant_time_eq(b"abd", b"abc"));
        assert!(!crate::constant_time_eq(b"ab", b"abc"));
    }
}
