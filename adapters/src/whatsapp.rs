//! WhatsApp Business Cloud API: the webhook (verification handshake, `X-Hub-Signature-256` over
//! the raw body before any parsing, messages, statuses and marketing preferences) and sending
//! (`POST {graph}/{version}/{phone_number_id}/messages`: text, reply buttons, templates).
//!
//! Free-form messages may only go within 24 hours of the person's last message. Replies always
//! are; notices outside that window go as the configured template, or not at all.

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use url::Url;

use crate::{
    model::{
        Channel, ChannelKind, Chat, DeliveryStatus, FailureReason, Inbound, InboundHandler,
        InboundKind, Outbound, PlatformId, SendError, Sender,
    },
    outbound::{ChatQueues, Limits, Pacer},
    telegram::parse_command,
    text::split_message,
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

/// Sends on one WhatsApp number.
pub struct WhatsAppChannel {
    settings: WhatsAppSettings,
    http: reqwest::Client,
    pacer: Arc<Pacer>,
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
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

/// The Graph API's error, mapped to what the sender can act on.
fn map_error(status: u16, body: &str) -> SendError {
    let code = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["code"].as_i64());
    match (status, code.and_then(GraphError::from_code)) {
        (_, Some(GraphError::WindowClosed)) => SendError::WindowClosed,
        (_, Some(GraphError::Unreachable)) => {
            SendError::Unreachable("not a WhatsApp user (131026)".into())
        }
        (_, Some(GraphError::PairRateLimited)) => SendError::RateLimited(6),
        (_, Some(GraphError::RateLimited)) | (429, _) => SendError::RateLimited(2),
        (500..=599, _) => SendError::Transient(format!("Graph API answered {status}")),
        _ => match code {
            Some(code) => SendError::Other(format!("Graph API error {code} (HTTP {status})")),
            None => SendError::Other(format!("Graph API answered {status}")),
        },
    }
}

impl WhatsAppChannel {
    pub fn new(settings: WhatsAppSettings) -> Self {
        WhatsAppChannel {
            pacer: Arc::new(Pacer::new(settings.limits)),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap_or_default(),
            settings,
        }
    }

    pub fn pacer(&self) -> &Arc<Pacer> {
        &self.pacer
    }

    fn endpoint(&self) -> String {
        format!(
            "{}/{}/{}/messages",
            self.settings.graph_url.as_str().trim_end_matches('/'),
            self.settings.api_version,
            self.settings.phone_number_id
        )
    }

    async fn post(&self, to: &str, body: &Value) -> Result<(), SendError> {
        let response = self
            .http
            .post(self.endpoint())
            .bearer_auth(&self.settings.access_token)
            .json(body)
            .send()
            .await
            .map_err(|e| SendError::Transient(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        let err = map_error(status, &text);
        tracing::debug!(to_len = to.len(), error = %err, "WhatsApp send refused");
        Err(err)
    }

    /// The request bodies for one reply: text parts, then button groups of at most three.
    fn bodies(&self, to: &str, out: &Outbound) -> Vec<Value> {
        let mut text = out.text.clone();
        // Link buttons become links in the text.
        for b in out.buttons.iter().flatten() {
            if let Some(url) = &b.url {
                text.push_str(&format!("\n{}: {url}", b.label));
            }
        }
        // Groups of at most three, never splitting a row (a yes/no pair stays together).
        let mut groups: Vec<Vec<&crate::model::Button>> = Vec::new();
        for row in &out.buttons {
            let row: Vec<_> = row
                .iter()
                .filter(|b| b.url.is_none() && b.data.len() <= MAX_BUTTON_ID)
                .collect();
            for chunk in row.chunks(MAX_BUTTONS) {
                match groups.last_mut() {
                    Some(last)
                        if last.len() + chunk.len() <= MAX_BUTTONS && row.len() <= MAX_BUTTONS =>
                    {
                        last.extend_from_slice(chunk)
                    }
                    _ => groups.push(chunk.to_vec()),
                }
            }
        }
        let buttons: Vec<_> = groups.iter().flatten().collect();
        let mut bodies = Vec::new();
        let message = |body: Value| {
            let mut m =
                json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to});
            if let Value::Object(extra) = body {
                for (k, v) in extra {
                    m[k] = v;
                }
            }
            m
        };
        let text_for_buttons =
            if !buttons.is_empty() && text.chars().count() <= MAX_BUTTON_BODY && !text.is_empty() {
                Some(text.clone())
            } else {
                None
            };
        if text_for_buttons.is_none() && !text.trim().is_empty() {
            for part in split_message(&text, MAX_TEXT) {
                bodies.push(message(
                    json!({"type": "text", "text": {"preview_url": false, "body": part}}),
                ));
            }
        }
        for (i, group) in groups.iter().enumerate() {
            let body_text = match (&text_for_buttons, i) {
                (Some(t), 0) => t.clone(),
                _ => "Choose:".to_string(),
            };
            let action: Vec<Value> = group
                .iter()
                .map(|b| {
                    json!({"type": "reply", "reply": {"id": b.data, "title": truncate(&b.label, MAX_BUTTON_TITLE)}})
                })
                .collect();
            bodies.push(message(json!({
                "type": "interactive",
                "interactive": {"type": "button", "body": {"text": body_text}, "action": {"buttons": action}},
            })));
        }
        if let (Some(reply_to), Some(first)) = (&out.reply_to, bodies.first_mut()) {
            first["context"] = json!({"message_id": reply_to});
        }
        bodies
    }
}

#[async_trait]
impl Channel for WhatsAppChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::WhatsApp
    }

    fn has_window(&self) -> bool {
        true
    }

    async fn send(&self, chat: &PlatformId, out: &Outbound) -> Result<(), SendError> {
        let to = chat.expose();
        for body in self.bodies(to, out) {
            self.pacer.send(to, false, || self.post(to, &body)).await?;
        }
        Ok(())
    }

    async fn send_outside_window(
        &self,
        chat: &PlatformId,
        out: &Outbound,
    ) -> Result<(), SendError> {
        let Some(template) = &self.settings.template else {
            tracing::warn!(
                bot = %self.settings.bot_name,
                "not sent: outside the 24-hour window only a template may go, and none is configured (WHATSAPP_TEMPLATE)"
            );
            return Err(SendError::WindowClosed);
        };
        let to = chat.expose();
        let body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "template",
            "template": {
                "name": template.name,
                "language": {"code": template.language},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": truncate(&out.text, MAX_BUTTON_BODY)}]}],
            },
        });
        self.pacer.send(to, false, || self.post(to, &body)).await
    }
}

/// Checks `X-Hub-Signature-256: sha256=<hex>` against HMAC-SHA256(app secret, raw body), in
/// constant time.
pub fn signature_valid(app_secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(given) = header
        .and_then(|h| h.strip_prefix("sha256="))
        .and_then(|h| hex::decode(h.trim()).ok())
    else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// One webhook body, read into what the pipeline takes. Unknown parts are skipped.
pub fn parse_webhook(bot_name: &str, body: &Value) -> Vec<Inbound> {
    let mut out = Vec::new();
    let inbound = |key: String, user: String, name: Option<String>, kind: InboundKind| Inbound {
        channel: ChannelKind::WhatsApp,
        bot: bot_name.to_string(),
        update_key: key,
        chat: Chat {
            id: PlatformId::new(user.clone()),
            private: true,
        },
        sender: Sender {
            id: Some(PlatformId::new(user)),
            first_name: name,
            last_name: None,
            username: None,
        },
        kind,
        text: None,
        message_id: None,
        received_at: Utc::now(),
        addressed: true,
        bot_handle: None,
    };
    for change in body["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["changes"].as_array().into_iter().flatten())
    {
        let value = &change["value"];
        match change["field"].as_str() {
            Some("messages") => {
                let names: HashMap<String, String> = value["contacts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| {
                        let id = c["wa_id"].as_str().or(c["user_id"].as_str())?;
                        Some((id.to_string(), c["profile"]["name"].as_str()?.to_string()))
                    })
                    .collect();
                for m in value["messages"].as_array().into_iter().flatten() {
                    // Business-scoped user ids may come without a phone number (wa_id).
                    let Some(from) = m["from"].as_str().or(m["from_user_id"].as_str()) else {
                        continue;
                    };
                    let Some(id) = m["id"].as_str() else {
                        continue;
                    };
                    let (kind, text) = match m["type"].as_str() {
                        Some("text") => {
                            let text = m["text"]["body"].as_str().unwrap_or_default().to_string();
                            let kind = match parse_command(&text) {
                                Some((name, args)) => InboundKind::Command { name, args },
                                None => InboundKind::Text,
                            };
                            (kind, Some(text))
                        }
                        Some("interactive") => {
                            let reply = &m["interactive"]["button_reply"];
                            match reply["id"].as_str() {
                                Some(data) => (
                                    InboundKind::ButtonPress {
                                        data: data.to_string(),
                                    },
                                    None,
                                ),
                                None => (InboundKind::Text, None),
                            }
                        }
                        // A quick-reply button of a template.
                        Some("button") => match m["button"]["payload"].as_str() {
                            Some(data) => (
                                InboundKind::ButtonPress {
                                    data: data.to_string(),
                                },
                                None,
                            ),
                            None => (InboundKind::Text, None),
                        },
                        // Images, voice …: the pipeline answers that only text is understood.
                        _ => (InboundKind::Text, None),
                    };
                    let mut i = inbound(
                        id.to_string(),
                        from.to_string(),
                        names.get(from).cloned(),
                        kind,
                    );
                    i.text = text;
                    i.message_id = Some(id.to_string());
                    out.push(i);
                }
                for s in value["statuses"].as_array().into_iter().flatten() {
                    let (Some(id), Some(status)) = (s["id"].as_str(), s["status"].as_str()) else {
                        continue;
                    };
                    let Some(to) = s["recipient_id"]
                        .as_str()
                        .or(s["recipient_user_id"].as_str())
                    else {
                        continue;
                    };
                    let Some(status) = DeliveryStatus::parse(status) else {
                        tracing::debug!(status, "a delivery status this gateway does not act on");
                        continue;
                    };
                    let error_code = s["errors"][0]["code"].as_i64();
                    out.push(inbound(
                        format!("status:{id}:{status}"),
                        to.to_string(),
                        None,
                        InboundKind::Status {
                            status,
                            error_code,
                            failure: (status == DeliveryStatus::Failed)
                                .then(|| GraphError::failure(error_code)),
                        },
                    ));
                }
            }
            Some("user_preferences") => {
                for p in value["user_preferences"].as_array().into_iter().flatten() {
                    let Some(user) = p["wa_id"].as_str().or(p["user_id"].as_str()) else {
                        continue;
                    };
                    if p["category"].as_str() != Some("marketing_messages") {
                        continue;
                    }
                    let resume = match p["value"].as_str() {
                        Some("stop") => false,
                        Some("resume") => true,
                        _ => continue,
                    };
                    let ts = p["timestamp"]
                        .as_i64()
                        .map(|t| t.to_string())
                        .or_else(|| p["timestamp"].as_str().map(str::to_string))
                        .unwrap_or_default();
                    out.push(inbound(
                        format!("pref:{user}:{ts}:{resume}"),
                        user.to_string(),
                        None,
                        InboundKind::MarketingPreference { resume },
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

/// A WhatsApp number in the gateway: its channel, the pipeline and the per-chat queues.
pub struct WhatsAppBot {
    pub settings: WhatsAppSettings,
    pub channel: Arc<WhatsAppChannel>,
    handler: Arc<dyn InboundHandler>,
    queues: Arc<ChatQueues>,
}

impl WhatsAppBot {
    pub fn new(settings: WhatsAppSettings, handler: Arc<dyn InboundHandler>) -> Self {
        WhatsAppBot {
            channel: Arc::new(WhatsAppChannel::new(settings.clone())),
            settings,
            handler,
            queues: Arc::new(ChatQueues::default()),
        }
    }
}

impl WhatsAppBot {
    /// Sends replies through `queues` (shared across the gateway, so shutdown can drain them).
    pub fn with_queues(mut self, queues: Arc<ChatQueues>) -> Self {
        self.queues = queues;
        self
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
            tracing::warn!(bot = %name, "WhatsApp verification refused");
            StatusCode::FORBIDDEN.into_response()
        }
    }
}

async fn receive(
    State(bots): State<Bots>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let Some(bot) = bots.get(&name) else {
        return StatusCode::NOT_FOUND;
    };
    // Before any parsing: the signature is over the raw bytes exactly as sent.
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if !signature_valid(&bot.settings.app_secret, &body, signature) {
        tracing::warn!(bot = %name, "WhatsApp webhook with a missing or wrong signature refused");
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        tracing::warn!(bot = %name, "unreadable WhatsApp webhook body dropped");
        return StatusCode::OK;
    };
    let mut retry = false;
    for inbound in parse_webhook(&name, &value) {
        let chat = inbound.chat.id.clone();
        let user = inbound.sender.id.clone();
        match bot.handler.handle(inbound).await {
            Ok(replies) if replies.is_empty() => {}
            Ok(replies) => {
                let (channel, handler, bot_name) =
                    (bot.channel.clone(), bot.handler.clone(), name.clone());
                bot.queues.push(chat.expose().to_string(), async move {
                    for reply in &replies {
                        if let Err(err) = channel.send(&chat, reply).await {
                            tracing::warn!(bot = %bot_name, error = %err, "WhatsApp reply not delivered");
                            if err.about_recipient()
                                && let Some(user) = &user
                            {
                                handler
                                    .undeliverable(&bot_name, ChannelKind::WhatsApp, user, &err)
                                    .await;
                            }
                            break;
                        }
                    }
                });
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_documented_vector_and_nothing_else() {
        // HMAC-SHA256(key="secret", msg="test")
        let header = "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914";
        assert!(signature_valid("secret", b"test", Some(header)));
        assert!(!signature_valid("secret", b"test ", Some(header)));
        assert!(!signature_valid("other", b"test", Some(header)));
        assert!(!signature_valid("secret", b"test", None));
        assert!(!signature_valid("secret", b"test", Some("0329a06b")));
    }

    #[test]
    fn graph_errors_map_to_what_the_sender_can_act_on() {
        let err = |code: i64| format!(r#"{{"error":{{"message":"(#{code})","code":{code}}}}}"#);
        assert!(matches!(
            map_error(400, &err(131047)),
            SendError::WindowClosed
        ));
        assert!(matches!(
            map_error(400, &err(131026)),
            SendError::Unreachable(_)
        ));
        assert!(matches!(
            map_error(400, &err(131056)),
            SendError::RateLimited(6)
        ));
        assert!(matches!(
            map_error(400, &err(130429)),
            SendError::RateLimited(_)
        ));
        assert!(matches!(map_error(503, "oops"), SendError::Transient(_)));
        assert!(matches!(map_error(400, &err(100)), SendError::Other(_)));
    }

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn the_published_payloads_parse() {
        let text = parse_webhook("wa", &fixture("whatsapp_webhook_text_message.json"));
        assert_eq!(text.len(), 1);
        assert_eq!(text[0].kind, InboundKind::Text);
        assert!(text[0].text.is_some());
        assert!(text[0].update_key.starts_with("wamid."));
        let button = parse_webhook(
            "wa",
            &fixture("whatsapp_webhook_interactive_button_reply.json"),
        );
        assert!(matches!(button[0].kind, InboundKind::ButtonPress { .. }));
        let delivered = parse_webhook("wa", &fixture("whatsapp_webhook_status_delivered.json"));
        assert!(
            matches!(&delivered[0].kind, InboundKind::Status { status, .. } if status == "delivered")
        );
        let failed = parse_webhook("wa", &fixture("whatsapp_webhook_status_failed.json"));
        assert!(matches!(
            failed[0].kind,
            InboundKind::Status {
                error_code: Some(_),
                ..
            }
        ));
        let pref = parse_webhook(
            "wa",
            &fixture("whatsapp_webhook_user_preferences_marketing_resume.json"),
        );
        assert_eq!(
            pref[0].kind,
            InboundKind::MarketingPreference { resume: true }
        );
        // Garbage is skipped, never a panic.
        assert!(parse_webhook("wa", &json!({"entry": [{"changes": [{"field": "messages", "value": {"messages": [{}]}}]}]})).is_empty());
        assert!(parse_webhook("wa", &json!([1, 2])).is_empty());
    }

    #[test]
    fn buttons_are_grouped_by_three_with_short_titles() {
        let channel = WhatsAppChannel::new(WhatsAppSettings {
            bot_name: "wa".into(),
            graph_url: Url::parse("http://127.0.0.1:9").unwrap(),
            api_version: "v21.0".into(),
            phone_number_id: "1".into(),
            access_token: "t".into(),
            app_secret: "s".into(),
            verify_token: "v".into(),
            template: None,
            limits: Limits::WHATSAPP,
        });
        let out = Outbound::text("Pick").with_buttons(vec![
            vec![
                crate::model::Button::callback("history: yes please, always", "c:history:y:1"),
                crate::model::Button::callback("history: no", "c:history:n:1"),
            ],
            vec![
                crate::model::Button::callback("marketing: yes", "c:marketing:y:1"),
                crate::model::Button::callback("marketing: no", "c:marketing:n:1"),
            ],
        ]);
        let bodies = channel.bodies("123", &out);
        // Rows are not split: each yes/no pair stays in one message.
        assert_eq!(bodies.len(), 2);
        let first = &bodies[0]["interactive"]["action"]["buttons"];
        assert_eq!(first.as_array().unwrap().len(), 2);
        assert_eq!(first[1]["reply"]["id"], "c:history:n:1");
        assert!(first[0]["reply"]["title"].as_str().unwrap().chars().count() <= 20);
        assert_eq!(bodies[0]["interactive"]["body"]["text"], "Pick");
        let long = channel.bodies("123", &Outbound::text("x".repeat(5000)));
        assert_eq!(long.len(), 2, "split at 4096");
    }
}
