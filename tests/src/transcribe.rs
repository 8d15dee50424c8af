//! A fake OpenAI-compatible transcription server: `POST /v1/audio/transcriptions` (multipart
//! `file` and `model`) records what it received, byte for byte, and answers `{"text": …}` with
//! the text set for it.

use std::sync::{Arc, Mutex};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::json;

/// One transcription request.
#[derive(Clone, Debug)]
pub struct Transcription {
    pub model: String,
    pub file_name: String,
    pub content_type: Option<String>,
    pub audio: Vec<u8>,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Transcription>,
    text: String,
    fail_with: Option<u16>,
}

/// The fake; clones share state.
#[derive(Clone)]
pub struct FakeTranscriber {
    /// The base to configure, including `/v1`.
    pub base_url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeTranscriber {
    pub async fn start() -> FakeTranscriber {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeTranscriber {
            base_url: format!("http://{}/v1", listener.local_addr().unwrap()),
            inner: Arc::default(),
        };
        let app = Router::new()
            .route("/v1/audio/transcriptions", post(transcribe))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the next transcriptions say.
    pub fn answer(&self, text: &str) {
        self.lock().text = text.to_string();
    }

    /// Every transcription answers this status until `None`.
    pub fn fail_with(&self, status: Option<u16>) {
        self.lock().fail_with = status;
    }

    pub fn requests(&self) -> Vec<Transcription> {
        self.lock().requests.clone()
    }
}

/// The parts of a multipart body: (name, file name, content type, bytes).
type Part = (String, Option<String>, Option<String>, Vec<u8>);

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Reads a `multipart/form-data` body byte for byte.
fn parts(content_type: &str, body: &[u8]) -> Vec<Part> {
    let Some(boundary) = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
    else {
        return Vec::new();
    };
    let delimiter = format!("--{}", boundary.trim_matches('"')).into_bytes();
    let mut out = Vec::new();
    let mut at = match find(body, &delimiter, 0) {
        Some(i) => i + delimiter.len(),
        None => return out,
    };
    while let Some(next) = find(body, &delimiter, at) {
        let part = &body[at..next];
        at = next + delimiter.len();
        let Some(split) = find(part, b"\r\n\r\n", 0) else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..split]).to_string();
        let content = &part[split + 4..];
        let content = content.strip_suffix(b"\r\n").unwrap_or(content);
        let attr = |name: &str| {
            head.split(';')
                .find_map(|p| p.trim().strip_prefix(&format!("{name}=\"")))
                .and_then(|v| v.split('"').next())
                .map(str::to_string)
        };
        let kind = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("Content-Type: ")
                    .or(l.strip_prefix("content-type: "))
            })
            .map(|v| v.trim().to_string());
        if let Some(name) = attr("name") {
            out.push((name, attr("filename"), kind, content.to_vec()));
        }
    }
    out
}

async fn transcribe(
    State(fake): State<FakeTranscriber>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let parts = parts(content_type, &body);
    let field = |name: &str| parts.iter().find(|p| p.0 == name);
    let (Some(model), Some(file)) = (field("model"), field("file")) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"message": "file and model are required"}})),
        )
            .into_response();
    };
    let mut inner = fake.lock();
    inner.requests.push(Transcription {
        model: String::from_utf8_lossy(&model.3).to_string(),
        file_name: file.1.clone().unwrap_or_default(),
        content_type: file.2.clone(),
        audio: file.3.clone(),
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    });
    if let Some(status) = inner.fail_with {
        return (
            StatusCode::from_u16(status).unwrap(),
            Json(json!({"error": {"message": "failing as told"}})),
        )
            .into_response();
    }
    Json(json!({"text": inner.text})).into_response()
}
