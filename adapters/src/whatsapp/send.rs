//! Sending on one number: `POST {graph}/{version}/{phone_number_id}/messages` with text, reply
//! buttons or a template, paced by the number's limit, errors mapped by [`GraphError`].

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{
    GraphError, MAX_BUTTON_BODY, MAX_BUTTON_ID, MAX_BUTTON_TITLE, MAX_BUTTONS, MAX_TEXT,
    WhatsAppSettings,
};
use crate::{
    format::{Style, render},
    model::{Channel, ChannelKind, Format, Media, MediaError, Outbound, PlatformId, SendError},
    outbound::Pacer,
    progress::{Stage, Writing},
    text::split_message,
};

/// WhatsApp shows the typing indicator for up to 25 s (or until the reply): it is sent again
/// this often while an answer is written.
const TYPING_EVERY: Duration = Duration::from_secs(20);

/// Sends on one WhatsApp number.
pub struct WhatsAppChannel {
    settings: WhatsAppSettings,
    http: reqwest::Client,
    pacer: Arc<Pacer>,
}

/// Where the number's token may go for media: the Graph API's own origin, or Meta's media
/// hosts over https.
fn media_host_allowed(url: &url::Url, graph: &url::Url) -> bool {
    if url.origin() == graph.origin() {
        return true;
    }
    let meta = |host: &str| {
        ["fbsbx.com", "facebook.com", "whatsapp.net", "fbcdn.net"]
            .iter()
            .any(|d| host == *d || host.ends_with(&format!(".{d}")))
    };
    url.scheme() == "https" && url.host_str().is_some_and(meta)
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The Graph API's error, mapped to what the sender can act on.
pub(super) fn map_error(status: u16, body: &str) -> SendError {
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
            // Nothing here follows a redirect: the number's token goes only where it is sent.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .redirect(reqwest::redirect::Policy::none())
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

    /// Marks the message being answered as read and shows the typing indicator. This is not a
    /// message to the person, so it takes only the number's token.
    async fn typing(&self, to: &str, message_id: &str) {
        self.pacer.take_bot_token().await;
        let body = json!({
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": message_id,
            "typing_indicator": {"type": "text"},
        });
        if let Err(err) = self.post(to, &body).await {
            tracing::debug!(error = %err, "typing indicator not shown");
        }
    }

    /// The request bodies for one reply: text parts, then button groups of at most three.
    fn bodies(&self, to: &str, out: &Outbound) -> Vec<Value> {
        // The assistant's Markdown in WhatsApp's own markers, split between paragraphs.
        let parts = match out.format {
            Format::Markdown => render(&out.text, Style::WhatsApp, MAX_TEXT)
                .into_iter()
                .map(|r| r.markup)
                .collect(),
            Format::Plain => split_message(&out.text, MAX_TEXT),
        };
        let mut text = parts.join("\n\n");
        // Link buttons become lines of text (WhatsApp's reply buttons carry no URL).
        let mut parts = Some(parts);
        for b in out.buttons.iter().flatten() {
            if let Some(url) = &b.url {
                text.push_str(&format!("\n{}: {url}", b.label));
                parts = None;
            }
        }
        let parts = parts.unwrap_or_else(|| split_message(&text, MAX_TEXT));
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
            let mut m = json!({"messaging_product": "whatsapp", "recipient_type": "individual"});
            m[addressee(to)] = to.into();
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
            for part in parts {
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

    /// The media's URL from the Graph API (`GET /{media-id}`), then the file, both with the
    /// number's token. The token goes only to https addresses or the Graph API's own.
    async fn fetch_media(&self, media: &Media, max_bytes: u64) -> Result<Vec<u8>, MediaError> {
        let failed = |why: String| MediaError::Failed(why);
        // The id as one path segment (escaped): it cannot reach another endpoint.
        let mut lookup = self.settings.graph_url.clone();
        lookup
            .path_segments_mut()
            .map_err(|_| failed("the Graph URL cannot be a base URL".into()))?
            .pop_if_empty()
            .push(&self.settings.api_version)
            .push(&media.file);
        let answer: Value = crate::media::lookup(
            self.http
                .get(lookup)
                .bearer_auth(&self.settings.access_token),
        )
        .await?;
        if answer["file_size"].as_u64().is_some_and(|n| n > max_bytes) {
            return Err(MediaError::TooLarge(max_bytes));
        }
        let url = answer["url"]
            .as_str()
            .and_then(|u| url::Url::parse(u).ok())
            .ok_or_else(|| failed("the Graph API gave no media URL".into()))?;
        if !media_host_allowed(&url, &self.settings.graph_url) {
            return Err(failed("the media URL is not one of Meta's".into()));
        }
        crate::media::download(
            self.http.get(url).bearer_auth(&self.settings.access_token),
            max_bytes,
        )
        .await
    }

    async fn send(&self, chat: &PlatformId, out: &Outbound) -> Result<(), SendError> {
        let to = chat.expose();
        for body in self.bodies(to, out) {
            self.pacer.send(to, false, || self.post(to, &body)).await?;
        }
        Ok(())
    }

    /// The typing indicator (which also marks the message read) while the answer is written,
    /// renewed until it is ready; WhatsApp has no drafts.
    async fn show_progress(&self, to: &Writing, mut stages: tokio::sync::watch::Receiver<Stage>) {
        let Some(message_id) = to.message_id.as_deref() else {
            while stages.changed().await.is_ok() {}
            return;
        };
        let chat = to.chat.expose();
        let mut last: Option<tokio::time::Instant> = None;
        loop {
            let writing = !matches!(*stages.borrow_and_update(), Stage::Idle);
            if writing && last.is_none_or(|at| at.elapsed() >= TYPING_EVERY) {
                self.typing(chat, message_id).await;
                last = Some(tokio::time::Instant::now());
            }
            let open = match last {
                Some(at) => tokio::select! {
                    r = stages.changed() => r.is_ok(),
                    _ = tokio::time::sleep_until(at + TYPING_EVERY) => true,
                },
                None => stages.changed().await.is_ok(),
            };
            if !open {
                return;
            }
        }
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
        let mut body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "type": "template",
            "template": {
                "name": template.name,
                "language": {"code": template.language},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": truncate(&out.text, MAX_BUTTON_BODY)}]}],
            },
        });
        body[addressee(to)] = to.into();
        self.pacer.send(to, false, || self.post(to, &body)).await
    }
}

/// The field a recipient goes in: `to` for a phone number, `recipient` for a business-scoped
/// user id (a country code, a dot, alphanumerics: `US.1349…`, or a parent `US.ENT.…`), which
/// Meta takes when the phone number is not known.
fn addressee(chat: &str) -> &'static str {
    if chat.contains('.') {
        "recipient"
    } else {
        "to"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::Limits;
    use url::Url;

    #[test]
    fn the_token_goes_only_to_the_graph_api_and_metas_media_hosts() {
        let graph = url::Url::parse("https://graph.facebook.com").unwrap();
        let ok = |u: &str| media_host_allowed(&url::Url::parse(u).unwrap(), &graph);
        assert!(ok(
            "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1"
        ));
        assert!(ok("https://graph.facebook.com/v21.0/123"));
        assert!(!ok("http://lookaside.fbsbx.com/x"));
        assert!(!ok("https://fbsbx.com.evil.example/x"));
        assert!(!ok("https://evil-fbsbx.com/x"));
        let local = url::Url::parse("http://127.0.0.1:9000").unwrap();
        assert!(media_host_allowed(
            &url::Url::parse("http://127.0.0.1:9000/media/1").unwrap(),
            &local
        ));
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
