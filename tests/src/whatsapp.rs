//! A fake WhatsApp Cloud API (Graph) server: `POST /{version}/{phone_number_id}/messages`
//! records every message and answers like Meta, or with a queued error.

use std::sync::{Arc, Mutex};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};

/// One message the fake received.
#[derive(Clone, Debug)]
pub struct GraphRequest {
    pub version: String,
    pub phone_number_id: String,
    pub authorization: Option<String>,
    pub body: Value,
    pub at: std::time::Instant,
}

#[derive(Default)]
struct Inner {
    requests: Vec<GraphRequest>,
    failures: Vec<(u16, Value)>,
    next: u64,
    /// Media people sent, by media id: (mime type, bytes).
    media: std::collections::HashMap<String, (String, Vec<u8>)>,
    /// Media requests (lookups and downloads) with their authorization header.
    media_requests: Vec<(String, Option<String>)>,
}

/// The fake; clones share state.
#[derive(Clone)]
pub struct FakeGraph {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeGraph {
    pub async fn start() -> FakeGraph {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeGraph {
            url: format!("http://{}", listener.local_addr().unwrap()),
            inner: Arc::default(),
        };
        let app = Router::new()
            .route("/{version}/{phone}/messages", post(messages))
            .route("/{version}/{media}", axum::routing::get(media_url))
            .route(
                "/media-download/{media}",
                axum::routing::get(media_download),
            )
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    /// How many requests arrived so far (cheap: nothing is copied).
    pub fn count(&self) -> usize {
        self.inner.lock().unwrap().requests.len()
    }

    pub fn requests(&self) -> Vec<GraphRequest> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// Messages sent to one recipient.
    pub fn sent_to(&self, to: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r.body["to"] == to)
            .map(|r| r.body)
            .collect()
    }

    /// The typing indicators shown (each marks a message read): the message ids.
    pub fn typing_for(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.body["status"] == "read" && r.body["typing_indicator"]["type"] == "text")
            .filter_map(|r| r.body["message_id"].as_str().map(str::to_string))
            .collect()
    }

    /// Media someone sent, handed out under `id` (lookup, then download).
    pub fn put_media(&self, id: &str, mime: &str, bytes: Vec<u8>) {
        self.inner
            .lock()
            .unwrap()
            .media
            .insert(id.to_string(), (mime.to_string(), bytes));
    }

    /// Media lookups and downloads so far: (path, authorization header).
    pub fn media_requests(&self) -> Vec<(String, Option<String>)> {
        self.inner.lock().unwrap().media_requests.clone()
    }

    /// The next `n` sends fail with this status and error body.
    pub fn fail(&self, n: usize, status: u16, body: Value) {
        let mut inner = self.inner.lock().unwrap();
        for _ in 0..n {
            inner.failures.push((status, body.clone()));
        }
    }
}

async fn messages(
    State(fake): State<FakeGraph>,
    Path((version, phone)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut inner = fake.inner.lock().unwrap();
    inner.requests.push(GraphRequest {
        version,
        phone_number_id: phone,
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: parsed.clone(),
        at: std::time::Instant::now(),
    });
    // Marking read (with the typing indicator) is not a message: planned failures are for
    // messages.
    if parsed["status"] == "read" {
        return Json(json!({"success": true})).into_response();
    }
    if !inner.failures.is_empty() {
        let (status, body) = inner.failures.remove(0);
        return (StatusCode::from_u16(status).unwrap(), Json(body)).into_response();
    }
    inner.next += 1;
    Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": parsed["to"], "wa_id": parsed["to"]}],
        "messages": [{"id": format!("wamid.out-{}", inner.next)}],
    }))
    .into_response()
}

fn authorization(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `GET /{version}/{media-id}`: where the media is, as Meta answers it.
async fn media_url(
    State(fake): State<FakeGraph>,
    Path((version, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut inner = fake.inner.lock().unwrap();
    inner
        .media_requests
        .push((format!("/{version}/{id}"), authorization(&headers)));
    match inner.media.get(&id) {
        Some((mime, bytes)) => Json(json!({
            "messaging_product": "whatsapp",
            "url": format!("{}/media-download/{id}", fake.url),
            "mime_type": mime,
            "file_size": bytes.len(),
            "id": id,
        }))
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"message": "Unsupported get request", "code": 100}})),
        )
            .into_response(),
    }
}

/// The media's bytes, for the number's token only.
async fn media_download(
    State(fake): State<FakeGraph>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut inner = fake.inner.lock().unwrap();
    let auth = authorization(&headers);
    inner
        .media_requests
        .push((format!("/media-download/{id}"), auth.clone()));
    if auth.is_none() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match inner.media.get(&id) {
        Some((_, bytes)) => bytes.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
