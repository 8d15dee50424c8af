//! WhatsApp Business Cloud API: the webhook (verification handshake, `X-Hub-Signature-256` over
//! the raw body before any parsing, messages, statuses and marketing preferences) and sending
//! (`POST {graph}/{version}/{phone_number_id}/messages`: text, reply buttons, templates).
//!
//! Free-form messages may only go within 24 hours of the person's last message. Replies always
//! are; notices outside that window go as the configured template, or not at all.

mod parse;
mod send;

use std::{collections::HashMap, sync::Arc};

use axum::{
    Router,
    body::Body,
    extract::{DefaultBodyLimit, Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use hmac::Mac;
use serde_json::Value;
use url::Url;

pub use parse::{parse_webhook, signature_valid};
pub use send::WhatsAppChannel;

use crate::{
    delivery::Delivery,
    model::{ChannelKind, FailureReason, InboundHandler},
    outbound::{ChatQueues, Limits},
};

/// WhatsApp's cap on a text body, in characters.
pub const MAX_TEXT: usize = 4096;
/// Cap on an interactive message's body.
pub const MAX_BUTTON_BODY: usize = 1024;
/// Reply buttons per message, title length, id length.
pub const MAX_BUTTONS: usize = 3;
pub const MAX_BUTTON_TITLE: usize = 20;
pub const MAX_BUTTON_ID: usize = 256;
/// Webhook bodies larger than this are refused.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The approved template sent outside the 24-hour window: its name, language, and whether its
/// body takes the message as its one parameter (`{{1}}`).
#[derive(Clone, Debug)]
pub struct Template {
    pub name: String,
    pub language: String,
}

/// One WhatsApp number.
#[derive(Clone)]
pub struct WhatsAppSettings {
    pub bot_name: String,
    /// e.g. `https://graph.facebook.com`.
    pub graph_url: Url,
    /// e.g. `v21.0`.
    pub api_version: String,
    pub phone_number_id: String,
    pub access_token: String,
    pub app_secret: String,
    pub verify_token: String,
    pub template: Option<Template>,
    pub limits: Limits,
}

impl std::fmt::Debug for WhatsAppSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsAppSettings")
            .field("bot_name", &self.bot_name)
            .field("graph_url", &self.graph_url.as_str())
            .field("api_version", &self.api_version)
            .finish_non_exhaustive()
    }
}

/// The Graph API error codes the gateway acts on: the one place they are named, for sends and
/// for delivery statuses alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphError {
    /// 131026: the number is not on WhatsApp or cannot receive messages.
    Unreachable,
    /// 131047: over 24 hours since the person last wrote; only templates go out.
    WindowClosed,
    /// 131050: the person stopped marketing messages.
    MarketingStopped,
    /// 131056: too many messages to this one person.
    PairRateLimited,
    /// 130429, 80007, 4: the number's or the app's throughput limits.
    RateLimited,
}

impl GraphError {
    pub fn from_code(code: i64) -> Option<GraphError> {
        Some(match code {
            131026 => GraphError::Unreachable,
            131047 => GraphError::WindowClosed,
            131050 => GraphError::MarketingStopped,
            131056 => GraphError::PairRateLimited,
            130429 | 80007 | 4 => GraphError::RateLimited,
            _ => return None,
        })
    }

    /// What a failed delivery with this code means for the person.
    pub fn failure(code: Option<i64>) -> FailureReason {
        match code.and_then(GraphError::from_code) {
            Some(GraphError::Unreachable) => FailureReason::Unreachable,
            Some(GraphError::WindowClosed) => FailureReason::WindowClosed,
            Some(GraphError::MarketingStopped) => FailureReason::MarketingStopped,
            _ => FailureReason::Other,
        }
    }
}

/// A WhatsApp number in the gateway: its channel, the pipeline and the per-chat queues.
pub struct WhatsAppBot {
    pub settings: WhatsAppSettings,
    pub channel: Arc<WhatsAppChannel>,
    delivery: Delivery,
}

impl WhatsAppBot {
    pub fn new(settings: WhatsAppSettings, handler: Arc<dyn InboundHandler>) -> Self {
        let channel = Arc::new(WhatsAppChannel::new(settings.clone()));
        WhatsAppBot {
            delivery: Delivery::new(&settings.bot_name, channel.clone(), handler),
            channel,
            settings,
        }
    }
}

impl WhatsAppBot {
    /// Sends replies through `queues` (shared across the gateway, so shutdown can drain them).
    pub fn with_queues(mut self, queues: Arc<ChatQueues>) -> Self {
        self.delivery = self.delivery.with_queues(queues);
        self
    }

    /// Where this bot's replies go out (for replies left unsent by a crash).
    pub fn delivery(&self) -> Delivery {
        self.delivery.clone()
    }
}

/// `GET|POST /webhooks/whatsapp/{bot}`.
pub fn router(bots: Vec<Arc<WhatsAppBot>>) -> Router {
    let by_name: HashMap<String, Arc<WhatsAppBot>> = bots
        .into_iter()
        .map(|b| (b.settings.bot_name.clone(), b))
        .collect();
    Router::new()
        .route("/webhooks/whatsapp/{bot}", get(verify).post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(Arc::new(by_name))
}

type Bots = Arc<HashMap<String, Arc<WhatsAppBot>>>;

/// The subscription handshake: echo `hub.challenge` only for the right verify token.
async fn verify(
    State(bots): State<Bots>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(bot) = bots.get(&name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mode_ok = q.get("hub.mode").map(String::as_str) == Some("subscribe");
    let token_ok = q.get("hub.verify_token").is_some_and(|t| {
        crate::constant_time_eq(t.as_bytes(), bot.settings.verify_token.as_bytes())
    });
    match (mode_ok && token_ok, q.get("hub.challenge")) {
        (true, Some(challenge)) if challenge.len() <= 256 => {
            (StatusCode::OK, challenge.clone()).into_response()
        }
        _ => {
            crate::refusals::refused(ChannelKind::WhatsApp, &name, "verification refused");
            StatusCode::FORBIDDEN.into_response()
        }
    }
}

async fn receive(
    State(bots): State<Bots>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> StatusCode {
    let Some(bot) = bots.get(&name) else {
        return StatusCode::NOT_FOUND;
    };
    // Before a byte of the body is read: a signature header of the right shape.
    let Some(given) = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .and_then(parse::signature_header)
    else {
        crate::refusals::refused(ChannelKind::WhatsApp, &name, "no signature");
        return StatusCode::UNAUTHORIZED;
    };
    // The signature is over the raw bytes exactly as sent, computed as they stream in.
    let mut mac = parse::signer(&bot.settings.app_secret);
    let body =
        match crate::body::read_limited(&headers, body, MAX_BODY_BYTES, |chunk| mac.update(chunk))
            .await
        {
            Ok(body) => body,
            Err(status) => return status,
        };
    if mac.verify_slice(&given).is_err() {
        crate::refusals::refused(ChannelKind::WhatsApp, &name, "wrong signature");
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        tracing::warn!(bot = %name, "unreadable WhatsApp webhook body dropped");
        return StatusCode::OK;
    };
    let mut retry = false;
    for inbound in parse_webhook(&name, &value) {
        match bot.delivery.handle(inbound).await {
            Ok(()) => {}
            Err(err) if err.retry => retry = true,
            Err(err) => tracing::warn!(bot = %name, error = %err, "WhatsApp message dropped"),
        }
    }
    // Meta retries non-2xx for days; dedupe by message id makes the retry count once.
    if retry {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}
