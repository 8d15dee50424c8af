//! The web chat: a small page at `/` and a JSON API under `/webchat/api/`.
//!
//! A browser session is a random id in an HttpOnly, SameSite=Lax cookie. The person's platform
//! id is a hash of that session id, so the stored (encrypted) id is not itself a credential.
//! Replies wait in a bounded per-session outbox and are fetched by long-poll
//! (`GET /webchat/api/replies?after=N`).

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Extension, Json, Router,
    extract::{DefaultBodyLimit, Query, State, rejection::JsonRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine;
use chrono::Utc;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, watch};

use crate::{
    client::ClientAddr,
    format::{Style, render},
    model::{
        ChannelKind, Chat, Format, Inbound, InboundHandler, InboundKind, Outbound, PlatformId,
        Sender,
    },
    progress::{Progress, Stage},
    telegram::parse_command,
};

/// Longest message a person may type, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;
/// Largest request body accepted by the API, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
const COOKIE: &str = "cg_session";
const OUTBOX_CAP: usize = 100;
const MAX_WAIT_SECS: u64 = 30;

/// A session's user id: a digest of the session id, so that the id stored (encrypted) with the
/// person is not the cookie that authenticates them.
fn session_user_id(session: &str) -> String {
    let digest = digest_hex(&format!("consentgate-webchat-session:{session}"));
    format!("w{}", &digest[..32])
}

fn digest_hex(input: &str) -> String {
    Sha256::digest(input.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Signs the session ids this server issues, so that an id it never issued (invented, or fixed
/// in someone's browser by another) is never taken for a session. Its `Debug` prints nothing.
#[derive(Clone)]
pub struct SessionKey(pub Vec<u8>);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(<secret>)")
    }
}

/// Settings of the web chat.
#[derive(Clone, Debug)]
pub struct WebChatSettings {
    pub bot_name: String,
    /// Mark the cookie `Secure` (when served over HTTPS).
    pub secure_cookie: bool,
    /// How many sessions keep an outbox in memory; the least recently used is dropped beyond it.
    pub max_sessions: usize,
    pub session_key: SessionKey,
    /// New sessions per minute, all clients together: a person costs something to invent.
    pub sessions_per_minute: u32,
    /// Messages and button presses per minute handed to the pipeline, all sessions together.
    pub messages_per_minute: u32,
    /// New sessions per minute from one client address.
    pub sessions_per_address: u32,
    /// Messages per minute from one client address (button presses are not counted here:
    /// a choice, a withdrawal above all, is never held back for someone else's traffic).
    pub messages_per_address: u32,
}

struct Outbox {
    next_seq: u64,
    replies: VecDeque<(u64, Outbound)>,
    /// The answer being written, as safe HTML, and its version (rising with every update, across
    /// sessions, so a page never mistakes a new draft for one it has shown); gone when the
    /// answer arrives.
    draft: Option<(u64, String)>,
    notify: Arc<Notify>,
    last_used: Instant,
}

impl Outbox {
    fn new() -> Self {
        Outbox {
            next_seq: 1,
            replies: VecDeque::new(),
            draft: None,
            notify: Arc::new(Notify::new()),
            last_used: Instant::now(),
        }
    }
}

/// The shortest time between two updates of a growing answer.
const DRAFT_EVERY: Duration = Duration::from_millis(100);

type Limiter = governor::DefaultDirectRateLimiter;
type PerAddress = governor::DefaultKeyedRateLimiter<std::net::IpAddr>;

/// Client addresses remembered before the quiet ones are forgotten.
const ADDRESSES_REMEMBERED: usize = 10_000;

/// `per_minute` events, allowing a burst of a quarter of that.
fn quota(per_minute: u32) -> governor::Quota {
    let n = std::num::NonZeroU32::new(per_minute.max(1)).unwrap_or(std::num::NonZeroU32::MIN);
    let burst = std::num::NonZeroU32::new((per_minute / 4).max(1)).unwrap_or(n);
    governor::Quota::per_minute(n).allow_burst(burst)
}

fn per_minute(per_minute: u32) -> Limiter {
    governor::RateLimiter::direct(quota(per_minute))
}

/// Whether `client` (if known) is within its allowance on `limiter`.
fn address_allows(limiter: &PerAddress, client: Option<ClientAddr>) -> bool {
    let Some(ClientAddr(addr)) = client else {
        return true;
    };
    if limiter.len() > ADDRESSES_REMEMBERED {
        limiter.retain_recent();
    }
    limiter.check_key(&addr).is_ok()
}

/// The web chat adapter's state: settings, the pipeline, and the outboxes.
pub struct WebChat {
    settings: WebChatSettings,
    /// Changes with every start, so a page open across a restart knows reply numbers began anew.
    boot: String,
    handler: Arc<dyn InboundHandler>,
    outboxes: Mutex<HashMap<String, Outbox>>,
    /// Woken by every push, for long-polls of sessions that have no outbox yet.
    pushed: Arc<Notify>,
    /// Draft versions handed out.
    drafts: std::sync::atomic::AtomicU64,
    new_sessions: Limiter,
    messages: Limiter,
    sessions_by_address: PerAddress,
    messages_by_address: PerAddress,
}

#[derive(Deserialize)]
struct SendMessage {
    text: String,
    /// Optional idempotency key: a retried request with the same id is handled once.
    #[serde(default)]
    client_id: Option<String>,
}

#[derive(Deserialize)]
struct PressButton {
    data: String,
    #[serde(default)]
    client_id: Option<String>,
}

#[derive(Deserialize)]
struct RepliesQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    wait: Option<u64>,
    /// The version of the growing answer the page shows already.
    #[serde(default)]
    draft: u64,
}

#[derive(Serialize)]
struct Reply {
    seq: u64,
    #[serde(flatten)]
    message: Outbound,
    /// A Markdown answer as safe HTML: every text escaped, only the renderer's own tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    html: Option<String>,
}

/// The answer being written, as the page shows it.
#[derive(Serialize)]
struct Draft {
    version: u64,
    html: String,
}

fn web_html(markdown: &str) -> String {
    render(markdown, Style::WebHtml, usize::MAX)
        .into_iter()
        .map(|r| r.markup)
        .collect()
}

#[derive(Serialize)]
struct ApiError {
    error: String,
}

fn api_error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(ApiError { error: msg.into() })).into_response()
}

/// The session id of a cookie this server issued (`{id}.{tag}`, the tag an HMAC of the id);
/// `None` for anything else.
fn session_from(headers: &HeaderMap, key: &SessionKey) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(k, _)| *k == COOKIE)
        .find_map(|(_, v)| {
            let (id, tag) = v.split_once('.')?;
            (valid_session(id) && crate::constant_time_eq(tag.as_bytes(), sign(key, id).as_bytes()))
                .then(|| id.to_string())
        })
}

fn valid_session(v: &str) -> bool {
    v.len() == 43
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The tag that shows this server issued session `id`.
fn sign(key: &SessionKey, id: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&key.0).expect("HMAC-SHA256 takes keys of any size");
    mac.update(b"webchat-session\x00");
    mac.update(id.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn new_session() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl WebChat {
    pub fn new(settings: WebChatSettings, handler: Arc<dyn InboundHandler>) -> Arc<Self> {
        Arc::new(WebChat {
            new_sessions: per_minute(settings.sessions_per_minute),
            messages: per_minute(settings.messages_per_minute),
            sessions_by_address: governor::RateLimiter::keyed(quota(settings.sessions_per_address)),
            messages_by_address: governor::RateLimiter::keyed(quota(settings.messages_per_address)),
            settings,
            boot: new_session()[..12].to_string(),
            handler,
            outboxes: Mutex::new(HashMap::new()),
            pushed: Arc::new(Notify::new()),
            drafts: Default::default(),
        })
    }

    /// The page and the API, ready to merge into the gateway's router.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/", get(page))
            .route("/webchat", get(page))
            .route("/webchat/api/session", post(open_session))
            .route("/webchat/api/messages", post(send_message))
            .route("/webchat/api/buttons", post(press_button))
            .route("/webchat/api/replies", get(replies))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(self.clone())
    }

    /// The session of a request, if it carries one this server issued.
    fn session(&self, headers: &HeaderMap) -> Option<String> {
        session_from(headers, &self.settings.session_key)
    }

    fn cookie(&self, session: &str) -> HeaderValue {
        let secure = if self.settings.secure_cookie {
            "; Secure"
        } else {
            ""
        };
        let tag = sign(&self.settings.session_key, session);
        let value = format!(
            "{COOKIE}={session}.{tag}; Path=/; HttpOnly; SameSite=Lax; Max-Age=2592000{secure}"
        );
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// The session's outbox, created if need be; beyond `max_sessions` the least recently used
    /// one is dropped, so memory stays bounded whatever cookies clients invent.
    fn outbox<'m>(&self, boxes: &'m mut HashMap<String, Outbox>, session: &str) -> &'m mut Outbox {
        if !boxes.contains_key(session) && boxes.len() >= self.settings.max_sessions.max(1) {
            let oldest = boxes
                .iter()
                .min_by_key(|(_, b)| b.last_used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                boxes.remove(&oldest);
            }
        }
        boxes.entry(session.to_string()).or_insert_with(Outbox::new)
    }

    fn push(&self, session: &str, replies: Vec<Outbound>) {
        let mut boxes = self.outboxes.lock().unwrap_or_else(|e| e.into_inner());
        let outbox = self.outbox(&mut boxes, session);
        // The answer arrived: it replaces its draft in the same step.
        outbox.draft = None;
        for reply in replies {
            let seq = outbox.next_seq;
            outbox.next_seq += 1;
            outbox.replies.push_back((seq, reply));
            while outbox.replies.len() > OUTBOX_CAP {
                outbox.replies.pop_front();
            }
        }
        outbox.last_used = Instant::now();
        outbox.notify.notify_waiters();
        self.pushed.notify_waiters();
    }

    /// Before a choice is made (consent given, refused or changed) the person gets a new session
    /// id and the old one stops being theirs, so whoever else knew it (a cookie planted in their
    /// browser, say) learns nothing more. The pipeline moves the person to the new session's id,
    /// their record and consent with them; the replies waiting follow. `None` if that failed.
    async fn rotate(&self, old: &str) -> Option<String> {
        let new = new_session();
        let (from, to) = (session_user_id(old), session_user_id(&new));
        let inbound = Inbound {
            channel: ChannelKind::WebChat,
            bot: self.settings.bot_name.clone(),
            update_key: digest_hex(&format!("rotate:{to}")),
            chat: Chat {
                id: PlatformId::new(from.clone()),
                private: true,
            },
            sender: Sender {
                id: Some(PlatformId::new(from)),
                ..Default::default()
            },
            kind: InboundKind::IdentityChanged {
                to: PlatformId::new(to),
            },
            text: None,
            message_id: None,
            received_at: Utc::now(),
            addressed: true,
            bot_handle: None,
            media: None,
        };
        if let Err(err) = self.handler.handle(inbound).await {
            // The choice is still taken, under the session as it was.
            tracing::warn!(error = %err, "web chat session not renewed");
            return None;
        }
        {
            let mut boxes = self.outboxes.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(outbox) = boxes.remove(old) {
                // A long-poll still waiting with the old cookie returns at once, empty, and the
                // page asks again with the new one.
                outbox.notify.notify_waiters();
                let moved = Outbox {
                    notify: Arc::new(Notify::new()),
                    ..outbox
                };
                boxes.insert(new.clone(), moved);
            }
        }
        Some(new)
    }

    /// Replies after `after`, the growing answer if newer than version `draft`, and what to
    /// wait on for more. Reading creates nothing: a session gets an outbox when it has
    /// something in it, so reads cannot push others' replies out. `None` for the notifier when
    /// the session has no outbox.
    fn take_after(
        &self,
        session: &str,
        after: u64,
        draft: u64,
    ) -> (Vec<Reply>, Option<Draft>, Option<Arc<Notify>>) {
        let mut boxes = self.outboxes.lock().unwrap_or_else(|e| e.into_inner());
        let Some(outbox) = boxes.get_mut(session) else {
            return (Vec::new(), None, None);
        };
        outbox.last_used = Instant::now();
        let replies = outbox
            .replies
            .iter()
            .filter(|(seq, _)| *seq > after)
            .map(|(seq, m)| Reply {
                seq: *seq,
                html: (m.format == Format::Markdown).then(|| web_html(&m.text)),
                message: m.clone(),
            })
            .collect();
        let draft = outbox
            .draft
            .as_ref()
            .filter(|(version, _)| *version > draft)
            .map(|(version, html)| Draft {
                version: *version,
                html: html.clone(),
            });
        (replies, draft, Some(outbox.notify.clone()))
    }

    /// Shows the answer as it grows (at most every [`DRAFT_EVERY`]) until `stages` closes.
    async fn show_drafts(&self, session: &str, mut stages: watch::Receiver<Stage>) {
        let mut last: Option<Instant> = None;
        while stages.changed().await.is_ok() {
            if let Some(at) = last {
                let until = tokio::time::Instant::from_std(at + DRAFT_EVERY);
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => break,
                        r = stages.changed() => if r.is_err() { return },
                    }
                }
            }
            let html = match &*stages.borrow_and_update() {
                Stage::Text(text) => web_html(text),
                // Started again (the next provider): the last one's text goes.
                Stage::Writing => {
                    self.drop_draft(session);
                    continue;
                }
                Stage::Idle => continue,
            };
            let mut boxes = self.outboxes.lock().unwrap_or_else(|e| e.into_inner());
            let outbox = self.outbox(&mut boxes, session);
            let version = self
                .drafts
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            outbox.draft = Some((version, html));
            outbox.last_used = Instant::now();
            outbox.notify.notify_waiters();
            self.pushed.notify_waiters();
            last = Some(Instant::now());
        }
    }

    /// The growing answer is gone (no answer came).
    fn drop_draft(&self, session: &str) {
        let mut boxes = self.outboxes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(outbox) = boxes.get_mut(session)
            && outbox.draft.take().is_some()
        {
            outbox.notify.notify_waiters();
        }
    }

    async fn deliver(
        &self,
        session: &str,
        kind: InboundKind,
        text: Option<String>,
        client_id: Option<String>,
    ) -> Response {
        if self.messages.check().is_err() {
            return api_error(
                StatusCode::TOO_MANY_REQUESTS,
                "The chat is very busy just now. Please try again in a minute.",
            );
        }
        let user = session_user_id(session);
        // The dedupe key is stored in clear, so it is a digest that reveals neither the person's
        // id nor the session.
        let update_key = match client_id {
            Some(id) if !id.is_empty() && id.len() <= 64 => digest_hex(&format!("{user}:{id}")),
            Some(_) => {
                return api_error(StatusCode::BAD_REQUEST, "client_id must be 1-64 characters");
            }
            None => digest_hex(&new_session()),
        };
        let inbound = Inbound {
            channel: ChannelKind::WebChat,
            bot: self.settings.bot_name.clone(),
            update_key,
            chat: Chat {
                id: PlatformId::new(user.clone()),
                private: true,
            },
            sender: Sender {
                id: Some(PlatformId::new(user)),
                ..Default::default()
            },
            kind,
            text,
            message_id: None,
            received_at: Utc::now(),
            addressed: true,
            bot_handle: None,
            media: None,
        };
        // The answer grows in place while it is written.
        let (progress, stages) = Progress::channel();
        let handler = self.handler.clone();
        let handled = async move {
            let handled = handler.handle_watched(inbound, &progress).await;
            drop(progress);
            handled
        };
        // However this ends (even the request dropped), no draft is left behind.
        let _clear = ClearDraft(self, session);
        let (handled, ()) = tokio::join!(handled, self.show_drafts(session, stages));
        match handled {
            Ok(replies) if replies.is_empty() => (
                StatusCode::ACCEPTED,
                Json(serde_json::json!({"accepted": true, "replies": 0})),
            )
                .into_response(),
            Ok(replies) => {
                let count = replies.len();
                self.push(session, replies);
                (
                    StatusCode::ACCEPTED,
                    Json(serde_json::json!({"accepted": true, "replies": count})),
                )
                    .into_response()
            }
            Err(err) => {
                tracing::warn!(error = %err, "web chat message not handled");
                api_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The assistant could not take your message just now. Please try again in a moment.",
                )
            }
        }
    }
}

/// Clears a session's draft when dropped.
struct ClearDraft<'a>(&'a WebChat, &'a str);

impl Drop for ClearDraft<'_> {
    fn drop(&mut self) {
        self.0.drop_draft(self.1);
    }
}

const PAGE: &str = include_str!("webchat.html");

/// The text between the first `<{tag}>` and its closing tag in the page.
fn inline(tag: &str) -> &'static str {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    PAGE.split_once(open.as_str())
        .and_then(|(_, rest)| rest.split_once(close.as_str()))
        .map_or("", |(inner, _)| inner)
}

/// The page runs its own script and style, named by hash, and talks to this origin only.
static PAGE_POLICY: std::sync::LazyLock<HeaderValue> = std::sync::LazyLock::new(|| {
    let policy = format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        crate::csp_hash(inline("script")),
        crate::csp_hash(inline("style")),
    );
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
});

async fn page() -> Response {
    (
        [(header::CONTENT_SECURITY_POLICY, PAGE_POLICY.clone())],
        Html(PAGE),
    )
        .into_response()
}

/// Ensures the browser has a session cookie: one this server issued, else a new one (an id it
/// never issued is not adopted).
async fn open_session(
    State(chat): State<Arc<WebChat>>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
) -> Response {
    match chat.session(&headers) {
        Some(_) => Json(serde_json::json!({"session": "existing"})).into_response(),
        None => {
            if !address_allows(&chat.sessions_by_address, client.map(|c| c.0)) {
                return api_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many new chats from your address just now. Please try again in a minute.",
                );
            }
            if chat.new_sessions.check().is_err() {
                return api_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many new chats are starting just now. Please try again in a minute.",
                );
            }
            let session = new_session();
            let mut resp = Json(serde_json::json!({"session": "new"})).into_response();
            resp.headers_mut()
                .insert(header::SET_COOKIE, chat.cookie(&session));
            resp
        }
    }
}

fn no_session() -> Response {
    api_error(
        StatusCode::UNAUTHORIZED,
        "no chat session; POST /webchat/api/session first (it sets a cookie)",
    )
}

async fn send_message(
    State(chat): State<Arc<WebChat>>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    body: Result<Json<SendMessage>, JsonRejection>,
) -> Response {
    let Some(session) = chat.session(&headers) else {
        return no_session();
    };
    if !address_allows(&chat.messages_by_address, client.map(|c| c.0)) {
        return api_error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many messages from your address just now. Please wait a minute and send it again.",
        );
    }
    let Json(body) = match body {
        Ok(b) => b,
        Err(rej) => {
            return api_error(
                rej.status(),
                format!("expected JSON {{\"text\": \"...\"}}: {}", rej.body_text()),
            );
        }
    };
    let text = body.text.trim().to_string();
    if text.is_empty() {
        return api_error(StatusCode::BAD_REQUEST, "the message is empty");
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return api_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("messages are limited to {MAX_TEXT_CHARS} characters"),
        );
    }
    let kind = match parse_command(&text) {
        Some((name, args)) => InboundKind::Command { name, args },
        None => InboundKind::Text,
    };
    chat.deliver(&session, kind, Some(text), body.client_id)
        .await
}

async fn press_button(
    State(chat): State<Arc<WebChat>>,
    headers: HeaderMap,
    body: Result<Json<PressButton>, JsonRejection>,
) -> Response {
    let Some(session) = chat.session(&headers) else {
        return no_session();
    };
    let Json(body) = match body {
        Ok(b) => b,
        Err(rej) => {
            return api_error(
                rej.status(),
                format!("expected JSON {{\"data\": \"...\"}}: {}", rej.body_text()),
            );
        }
    };
    if body.data.is_empty() || body.data.len() > 64 {
        return api_error(StatusCode::BAD_REQUEST, "button data must be 1-64 bytes");
    }
    // A choice (consent given, refused or changed) is made under a new session id.
    let renewed = chat.rotate(&session).await;
    let mut resp = chat
        .deliver(
            renewed.as_deref().unwrap_or(&session),
            InboundKind::ButtonPress { data: body.data },
            None,
            body.client_id,
        )
        .await;
    if let Some(new) = renewed {
        resp.headers_mut()
            .insert(header::SET_COOKIE, chat.cookie(&new));
    }
    resp
}

/// Long-poll: returns replies with `seq > after` at once, or waits up to `wait` seconds for one.
async fn replies(
    State(chat): State<Arc<WebChat>>,
    headers: HeaderMap,
    Query(q): Query<RepliesQuery>,
) -> Response {
    let Some(session) = chat.session(&headers) else {
        return no_session();
    };
    let deadline = Duration::from_secs(q.wait.unwrap_or(25).min(MAX_WAIT_SECS));
    let started = Instant::now();
    let mut had_outbox = false;
    let answer = |found: Vec<Reply>, draft: Option<Draft>| {
        Json(serde_json::json!({"boot": chat.boot, "replies": found, "draft": draft}))
            .into_response()
    };
    loop {
        let (found, draft, notify) = chat.take_after(&session, q.after, q.draft);
        // The session was renewed while this waited: the page asks again with its new cookie.
        let renewed = had_outbox && notify.is_none();
        had_outbox |= notify.is_some();
        let notify = notify.unwrap_or_else(|| chat.pushed.clone());
        let notified = notify.notified();
        if !found.is_empty() || draft.is_some() || renewed || started.elapsed() >= deadline {
            return answer(found, draft);
        }
        // Re-check after registering interest, so a reply pushed in between is not missed.
        let (found, draft, _) = chat.take_after(&session, q.after, q.draft);
        if !found.is_empty() || draft.is_some() {
            return answer(found, draft);
        }
        let remaining = deadline.saturating_sub(started.elapsed());
        let _ = tokio::time::timeout(remaining, notified).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SessionKey {
        SessionKey(b"0123456789abcdef0123456789abcdef".to_vec())
    }

    fn settings(max_sessions: usize) -> WebChatSettings {
        WebChatSettings {
            bot_name: "w".into(),
            secure_cookie: false,
            max_sessions,
            session_key: key(),
            sessions_per_minute: 600,
            messages_per_minute: 600,
            sessions_per_address: 600,
            messages_per_address: 600,
        }
    }

    #[test]
    fn session_user_id_is_stable_and_not_the_session() {
        let s = new_session();
        assert!(valid_session(&s));
        assert_eq!(session_user_id(&s), session_user_id(&s));
        assert!(!session_user_id(&s).contains(&s));
    }

    struct Nobody;

    #[async_trait::async_trait]
    impl InboundHandler for Nobody {
        async fn handle(&self, _: Inbound) -> Result<Vec<Outbound>, crate::HandleError> {
            Ok(Vec::new())
        }
    }

    #[test]
    fn outboxes_stay_bounded_whatever_sessions_clients_invent() {
        let chat = WebChat::new(settings(3), Arc::new(Nobody));
        for _ in 0..50 {
            let _ = chat.take_after(&new_session(), 0, 0);
            chat.push(&new_session(), vec![Outbound::text("x")]);
        }
        assert_eq!(chat.outboxes.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn messages_are_limited_per_client_address() {
        use tower::ServiceExt;
        let mut s = settings(10);
        s.messages_per_address = 8; // a burst of 2
        let chat = WebChat::new(s, Arc::new(Nobody));
        let router = chat.router();
        let session = new_session();
        let cookie = format!("{COOKIE}={session}.{}", sign(&key(), &session));
        let say = |from: [u8; 4]| {
            let mut req = axum::http::Request::post("/webchat/api/messages")
                .header(header::COOKIE, &cookie)
                .header(header::CONTENT_TYPE, "application/json")
                .body(axum::body::Body::from(r#"{"text":"hi"}"#))
                .unwrap();
            req.extensions_mut()
                .insert(ClientAddr(std::net::IpAddr::from(from)));
            router.clone().oneshot(req)
        };
        let statuses = [
            say([203, 0, 113, 1]).await.unwrap().status(),
            say([203, 0, 113, 1]).await.unwrap().status(),
            say([203, 0, 113, 1]).await.unwrap().status(),
            // Another address is not held back by the first one's traffic.
            say([203, 0, 113, 2]).await.unwrap().status(),
        ];
        assert_eq!(
            statuses,
            [
                StatusCode::ACCEPTED,
                StatusCode::ACCEPTED,
                StatusCode::TOO_MANY_REQUESTS,
                StatusCode::ACCEPTED
            ]
        );
    }

    #[test]
    fn reading_replies_creates_no_outbox() {
        let chat = WebChat::new(settings(3), Arc::new(Nobody));
        for _ in 0..50 {
            let _ = chat.take_after(&new_session(), 0, 0);
        }
        assert_eq!(chat.outboxes.lock().unwrap().len(), 0);
    }

    #[test]
    fn only_sessions_this_server_issued_are_taken() {
        let s = new_session();
        let cookie = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::COOKIE,
                HeaderValue::from_str(&format!("a=b; {COOKIE}={value}; x=y")).unwrap(),
            );
            headers
        };
        assert_eq!(session_from(&cookie("short"), &key()), None);
        // A well-formed id the server never issued (no tag, a wrong tag, another key's tag).
        assert_eq!(session_from(&cookie(&s), &key()), None);
        assert_eq!(
            session_from(&cookie(&format!("{s}.{}", "A".repeat(43))), &key()),
            None
        );
        let other = SessionKey(b"another key of thirty-two bytes!".to_vec());
        assert_eq!(
            session_from(&cookie(&format!("{s}.{}", sign(&other, &s))), &key()),
            None
        );
        assert_eq!(
            session_from(&cookie(&format!("{s}.{}", sign(&key(), &s))), &key()),
            Some(s)
        );
    }
}
