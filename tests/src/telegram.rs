//! A fake Telegram Bot API server.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// The path segment carrying the token, e.g. `bot123:abc`.
    pub token_segment: String,
    /// The raw body, exactly as sent.
    pub raw: String,
    pub body: Value,
    /// When the fake received it (the fake's clock).
    pub at: std::time::Instant,
}

#[derive(Default)]
struct Inner {
    /// Pending updates as raw JSON text, with their ids (None for updates without one).
    queue: Vec<(Option<i64>, String)>,
    /// Updates to hand out once more whatever the offset, as a platform does when it retries.
    redeliveries: Vec<String>,
    requests: Vec<Recorded>,
    next_message_id: i64,
    /// Sends to fail with this (status, body) before succeeding again.
    send_failures: Vec<(u16, Value)>,
    /// Answer the next getUpdates with a body that is not JSON.
    garble_next_get_updates: bool,
    /// `sendMessageDraft` answers with this status (a server without drafts), or succeeds.
    drafts_refused: Option<u16>,
    /// Files `getFile` knows, by file id: their bytes.
    files: std::collections::HashMap<String, Vec<u8>>,
    /// File downloads served: the file paths.
    downloads: Vec<String>,
}

/// The fake server. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct FakeTelegram {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    arrived: Arc<Notify>,
}

impl FakeTelegram {
    /// Starts the server on 127.0.0.1 with a random port.
    pub async fn start() -> FakeTelegram {
        let fake = FakeTelegram {
            url: String::new(),
            inner: Arc::new(Mutex::new(Inner {
                next_message_id: 1000,
                ..Default::default()
            })),
            arrived: Arc::new(Notify::new()),
        };
        let app = Router::new()
            .route("/{token}/{method}", post(handle))
            .route("/file/{token}/{*path}", axum::routing::get(file))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeTelegram { url, ..fake }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A file `getFile` hands out under `file_id` (a voice note someone sent); an id starting
    /// with `nosize-` is handed out without its size.
    pub fn put_file(&self, file_id: &str, bytes: Vec<u8>) {
        self.lock().files.insert(file_id.to_string(), bytes);
    }

    /// The file paths downloaded so far.
    pub fn downloads(&self) -> Vec<String> {
        self.lock().downloads.clone()
    }

    /// Queues an update for getUpdates.
    pub fn push_update(&self, update: Value) {
        let id = update.get("update_id").and_then(Value::as_i64);
        self.push_raw(id, update.to_string());
    }

    /// Queues updates together, so that one getUpdates hands them out in one batch.
    pub fn push_batch(&self, updates: &[Value]) {
        let mut inner = self.lock();
        for update in updates {
            let id = update.get("update_id").and_then(Value::as_i64);
            inner.queue.push((id, update.to_string()));
        }
        drop(inner);
        self.arrived.notify_waiters();
    }

    /// Queues raw update text (which may be malformed) with the id getUpdates should sort it by.
    pub fn push_raw(&self, id: Option<i64>, raw: String) {
        self.lock().queue.push((id, raw));
        self.arrived.notify_waiters();
    }

    /// Delivers an update again even though its id is below the confirmed offset, the way a
    /// platform redelivers after a timeout or a restart.
    pub fn redeliver(&self, update: Value) {
        self.lock().redeliveries.push(update.to_string());
        self.arrived.notify_waiters();
    }

    /// Makes the next `n` send calls fail with this status and body.
    pub fn fail_sends(&self, n: usize, status: u16, body: Value) {
        let mut inner = self.lock();
        for _ in 0..n {
            inner.send_failures.push((status, body.clone()));
        }
    }

    /// Makes the next getUpdates answer garbage.
    pub fn garble_next_get_updates(&self) {
        self.lock().garble_next_get_updates = true;
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// How many requests of one method arrived so far (cheap: nothing is copied, so polling it
    /// does not slow the fake down).
    pub fn count(&self, method: &str) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.method == method)
            .count()
    }

    /// Makes `sendMessageDraft` answer `status` (404: an older or local Bot API server; 400).
    pub fn refuse_drafts(&self, status: u16) {
        self.lock().drafts_refused = Some(status);
    }

    /// The drafts shown in a chat, in order: (draft id, text, when).
    pub fn drafts_to(&self, chat_id: i64) -> Vec<(i64, String, std::time::Instant)> {
        self.calls("sendMessageDraft")
            .into_iter()
            .filter(|r| r.body["chat_id"].as_i64() == Some(chat_id))
            .filter_map(|r| {
                Some((
                    r.body["draft_id"].as_i64()?,
                    r.body["text"].as_str()?.to_string(),
                    r.at,
                ))
            })
            .collect()
    }

    /// Requests of one method.
    pub fn calls(&self, method: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method)
            .collect()
    }

    /// sendMessage requests to a chat, in order.
    pub fn sends_to(&self, chat_id: i64) -> Vec<Recorded> {
        self.calls("sendMessage")
            .into_iter()
            .filter(|r| r.body["chat_id"].as_i64() == Some(chat_id))
            .collect()
    }

    /// The inline buttons sent to a chat, oldest first, as (label, callback data).
    pub fn buttons_sent_to(&self, chat_id: i64) -> Vec<(String, String)> {
        self.sends_to(chat_id)
            .iter()
            .flat_map(|r| {
                r.body["reply_markup"]["inline_keyboard"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .flat_map(|row| row.as_array().cloned().unwrap_or_default())
            .filter_map(|b| {
                Some((
                    b["text"].as_str()?.to_string(),
                    b["callback_data"].as_str()?.to_string(),
                ))
            })
            .collect()
    }

    /// Texts sent to a chat with sendMessage, in order, as the person reads them (the visible
    /// text of a message sent as HTML).
    pub fn sent_texts(&self, chat_id: i64) -> Vec<String> {
        self.sends_to(chat_id)
            .into_iter()
            .filter_map(|r| {
                let text = r.body["text"].as_str()?;
                Some(if r.body["parse_mode"] == "HTML" {
                    parse_html(text).unwrap_or_else(|_| text.to_string())
                } else {
                    text.to_string()
                })
            })
            .collect()
    }

    /// Waits up to `limit` until `chat_id` has received at least `n` messages; their texts.
    pub async fn wait_sent(&self, chat_id: i64, n: usize, limit: Duration) -> Option<Vec<String>> {
        crate::wait_for(limit, || {
            let texts = self.sent_texts(chat_id);
            async move { (texts.len() >= n).then_some(texts) }
        })
        .await
    }

    /// The callback data of the latest button labelled `label` on a message to `chat_id` whose
    /// text contains `text` ("" for any).
    pub fn button_data(&self, chat_id: i64, label: &str, text: &str) -> Option<String> {
        self.sends_to(chat_id)
            .iter()
            .rev()
            .filter(|r| r.body["text"].as_str().unwrap_or_default().contains(text))
            .filter_map(|r| r.body.get("reply_markup"))
            .flat_map(|m| {
                m["inline_keyboard"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .flat_map(|row| row.as_array().cloned().unwrap_or_default())
            })
            .find(|b| b["text"] == label)
            .and_then(|b| b["callback_data"].as_str().map(str::to_string))
    }

    /// Documents sent to a chat with sendDocument: (file name, content, caption).
    pub fn documents_to(&self, chat_id: i64) -> Vec<(String, String, Option<String>)> {
        self.calls("sendDocument")
            .into_iter()
            .filter(|r| r.body["chat_id"].as_str() == Some(chat_id.to_string().as_str()))
            .map(|r| {
                (
                    r.body["document"]["filename"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    r.body["document"]["content"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    r.body["caption"].as_str().map(str::to_string),
                )
            })
            .collect()
    }

    /// Updates not yet confirmed by an offset.
    pub fn pending(&self) -> usize {
        self.lock().queue.len()
    }
}

fn ok(result: Value) -> Response {
    Json(json!({"ok": true, "result": result})).into_response()
}

/// Reads a `multipart/form-data` body (teloxide sends files this way) into a JSON object: text
/// fields as strings, files as `{"filename", "content"}`.
fn multipart(content_type: &str, body: &[u8]) -> Value {
    let Some(boundary) = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
    else {
        return Value::Null;
    };
    let boundary = boundary.trim_matches('"');
    let text = String::from_utf8_lossy(body);
    let mut out = serde_json::Map::new();
    for part in text.split(&format!("--{boundary}")) {
        let Some((head, content)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let content = content.strip_suffix("\r\n").unwrap_or(content);
        let attr = |name: &str| {
            head.split(';')
                .find_map(|p| p.trim().strip_prefix(&format!("{name}=\"")))
                .and_then(|v| v.split('"').next())
                .map(str::to_string)
        };
        let Some(field) = attr("name") else {
            continue;
        };
        let value = match attr("filename") {
            Some(filename) => json!({"filename": filename, "content": content}),
            None => Value::String(content.to_string()),
        };
        out.insert(field, value);
    }
    // teloxide names a file `attach://ID` and sends it in the part called ID.
    let attached: Vec<(String, String)> = out
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.clone(),
                v.as_str()?.strip_prefix("attach://")?.to_string(),
            ))
        })
        .collect();
    for (field, part) in attached {
        if let Some(file) = out.remove(&part) {
            out.insert(field, file);
        }
    }
    Value::Object(out)
}

async fn handle(
    State(fake): State<FakeTelegram>,
    Path((token, method)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Bot API method names are case-insensitive (teloxide sends `SendMessage`); record them in
    // the documented lowerCamel form.
    let mut chars = method.chars();
    let method: String = chars
        .next()
        .map(|c| c.to_ascii_lowercase())
        .into_iter()
        .chain(chars)
        .collect();
    let raw = String::from_utf8_lossy(&body).to_string();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let parsed: Value = if content_type.starts_with("multipart/form-data") {
        multipart(content_type, &body)
    } else {
        serde_json::from_str(&raw).unwrap_or(Value::Null)
    };
    fake.lock().requests.push(Recorded {
        method: method.clone(),
        token_segment: token,
        raw,
        body: parsed.clone(),
        at: std::time::Instant::now(),
    });
    match method.as_str() {
        "getUpdates" => get_updates(&fake, &parsed).await,
        "sendMessage" => {
            let failure = {
                let mut inner = fake.lock();
                if inner.send_failures.is_empty() {
                    None
                } else {
                    Some(inner.send_failures.remove(0))
                }
            };
            if let Some((status, body)) = failure {
                return (StatusCode::from_u16(status).unwrap(), Json(body)).into_response();
            }
            if parsed["parse_mode"] == "HTML"
                && let Err(why) = parse_html(parsed["text"].as_str().unwrap_or_default())
            {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"ok": false, "error_code": 400, "description": format!("Bad Request: can't parse entities: {why}")})),
                )
                    .into_response();
            }
            let id = {
                let mut inner = fake.lock();
                inner.next_message_id += 1;
                inner.next_message_id
            };
            ok(json!({
                "message_id": id,
                "date": 1_700_000_000,
                "chat": {"id": parsed["chat_id"], "type": "private", "first_name": "Chat"},
                "from": {"id": 1, "is_bot": true, "first_name": "Fake", "username": "fake_bot"},
                "text": parsed["text"],
            }))
        }
        "sendDocument" => {
            let id = {
                let mut inner = fake.lock();
                inner.next_message_id += 1;
                inner.next_message_id
            };
            let chat_id: i64 = parsed["chat_id"]
                .as_str()
                .and_then(|c| c.parse().ok())
                .unwrap_or_default();
            ok(json!({
                "message_id": id,
                "date": 1_700_000_000,
                "chat": {"id": chat_id, "type": "private", "first_name": "Chat"},
                "document": {"file_id": "doc-1", "file_unique_id": "doc-u-1", "file_name": parsed["document"]["filename"]},
                "caption": parsed["caption"],
            }))
        }
        "answerCallbackQuery" | "deleteWebhook" | "setWebhook" | "sendChatAction"
        | "answerPreCheckoutQuery" | "refundStarPayment" => ok(json!(true)),
        "sendInvoice" => {
            let id = {
                let mut inner = fake.lock();
                inner.next_message_id += 1;
                inner.next_message_id
            };
            ok(json!({
                "message_id": id,
                "date": 1_700_000_000,
                "chat": {"id": parsed["chat_id"], "type": "private", "first_name": "Chat"},
                "invoice": {"title": parsed["title"], "description": parsed["description"],
                            "start_parameter": "", "currency": parsed["currency"],
                            "total_amount": parsed["prices"][0]["amount"]},
            }))
        }
        "sendMessageDraft" => match fake.lock().drafts_refused {
            Some(status) => (
                StatusCode::from_u16(status).unwrap(),
                Json(json!({"ok": false, "error_code": status, "description": if status == 404 { "Not Found: method not found" } else { "Bad Request: method is not available" }})),
            )
                .into_response(),
            None => ok(json!(true)),
        },
        "getFile" => {
            let id = parsed["file_id"].as_str().unwrap_or_default().to_string();
            let size = fake.lock().files.get(&id).map(Vec::len);
            match size {
                // A file whose size the fake keeps to itself: only its download tells.
                Some(_) if id.starts_with("nosize-") => ok(json!({
                    "file_id": id, "file_unique_id": format!("u-{id}"),
                    "file_path": format!("voice/{id}.oga"),
                })),
                Some(size) => ok(json!({
                    "file_id": id, "file_unique_id": format!("u-{id}"), "file_size": size,
                    "file_path": format!("voice/{id}.oga"),
                })),
                None => (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"ok": false, "error_code": 400, "description": "Bad Request: invalid file_id"})),
                )
                    .into_response(),
            }
        }
        "getMe" => ok(json!({
            "id": 1, "is_bot": true, "first_name": "Fake", "username": "fake_bot",
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false,
            "has_main_web_app": false
        })),
        _ => (
            StatusCode::NOT_FOUND,
            Json(json!({"ok": false, "error_code": 404, "description": "Not Found: method not found"})),
        )
            .into_response(),
    }
}

/// A file download: `/file/bot{token}/voice/{file_id}.oga`.
async fn file(
    State(fake): State<FakeTelegram>,
    Path((_token, path)): Path<(String, String)>,
) -> Response {
    let id = path
        .strip_prefix("voice/")
        .and_then(|p| p.strip_suffix(".oga"))
        .unwrap_or_default()
        .to_string();
    let mut inner = fake.lock();
    inner.downloads.push(path);
    match inner.files.get(&id) {
        Some(bytes) => bytes.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Checks text for `parse_mode = HTML` as the Bot API does: only its tags, every tag closed in
/// order, every `<` and `&` part of a tag or an entity. The visible text, or why not.
pub fn parse_html(text: &str) -> Result<String, String> {
    const TAGS: [&str; 15] = [
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-spoiler",
        "span",
    ];
    let mut open: Vec<String> = Vec::new();
    let mut visible = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let end = rest
                    .find('>')
                    .ok_or_else(|| "unclosed start tag".to_string())?;
                let inner = &rest[1..end];
                let (closing, inner) = match inner.strip_prefix('/') {
                    Some(name) => (true, name),
                    None => (false, inner),
                };
                let name = inner.split_whitespace().next().unwrap_or_default();
                if !TAGS.contains(&name) {
                    return Err(format!("unsupported start tag \"{name}\""));
                }
                if closing {
                    if open.pop().as_deref() != Some(name) {
                        return Err(format!("unmatched end tag \"{name}\""));
                    }
                } else {
                    // Telegram nests neither quotes nor anything inside code.
                    if name == "blockquote" && open.iter().any(|t| t == "blockquote") {
                        return Err("blockquote entities can't be nested".into());
                    }
                    if open.iter().any(|t| t == "code")
                        || (open.last().is_some_and(|t| t == "pre") && name != "code")
                    {
                        return Err(format!("can't nest \"{name}\" in code"));
                    }
                    open.push(name.to_string());
                }
                rest = &rest[end + 1..];
            }
            '&' => {
                let end = rest
                    .find(';')
                    .filter(|e| *e <= 10)
                    .ok_or_else(|| "unsupported entity".to_string())?;
                visible.push(match &rest[..=end] {
                    "&lt;" => '<',
                    "&gt;" => '>',
                    "&amp;" => '&',
                    "&quot;" => '"',
                    other => return Err(format!("unsupported entity {other}")),
                });
                rest = &rest[end + 1..];
            }
            _ => {
                visible.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    match open.pop() {
        Some(tag) => Err(format!(
            "can't find end tag corresponding to start tag \"{tag}\""
        )),
        None => Ok(visible),
    }
}

async fn get_updates(fake: &FakeTelegram, body: &Value) -> Response {
    let offset = body.get("offset").and_then(Value::as_i64);
    let timeout = body
        .get("timeout")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        .min(1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    loop {
        let notified = fake.arrived.notified();
        {
            let mut inner = fake.lock();
            if std::mem::take(&mut inner.garble_next_get_updates) {
                return (StatusCode::OK, "{\"ok\": true, \"result\": [").into_response();
            }
            if let Some(offset) = offset {
                // An offset confirms every update below it.
                inner
                    .queue
                    .retain(|(id, _)| id.is_none_or(|id| id >= offset));
            }
            if !inner.queue.is_empty() {
                inner.queue.sort_by_key(|(id, _)| id.unwrap_or(i64::MAX));
                let items: Vec<&str> = inner
                    .queue
                    .iter()
                    .take(100)
                    .map(|(_, r)| r.as_str())
                    .collect();
                let body = format!("{{\"ok\":true,\"result\":[{}]}}", items.join(","));
                // Updates without an id can never be confirmed; hand them out once.
                inner.queue.retain(|(id, _)| id.is_some());
                return (StatusCode::OK, [("content-type", "application/json")], body)
                    .into_response();
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return ok(json!([]));
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}
