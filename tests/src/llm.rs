//! A fake OpenAI-compatible LLM server.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};

/// How the fake answers.
#[derive(Clone, Debug)]
pub enum LlmBehaviour {
    /// Answers `"LLM: " + the user's message`.
    Echo,
    /// Answers this text.
    Fixed(String),
    /// Fails with this HTTP status and a body that echoes the prompt (as real providers'
    /// error bodies sometimes do).
    Status(u16),
    /// Waits this long before answering.
    Stall(Duration),
    /// Answers 429 Too Many Requests with `Retry-After: <seconds>`.
    Busy(u64),
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct LlmRequest {
    pub raw: String,
    pub body: Value,
    pub authorization: Option<String>,
}

struct Inner {
    behaviour: LlmBehaviour,
    requests: Vec<LlmRequest>,
}

/// The fake server; clones share state.
#[derive(Clone)]
pub struct FakeLlm {
    /// Base URL including the version, as `LLM_BASE_URL` takes it.
    pub base_url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeLlm {
    pub async fn start() -> FakeLlm {
        let inner = Arc::new(Mutex::new(Inner {
            behaviour: LlmBehaviour::Echo,
            requests: Vec::new(),
        }));
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeLlm { base_url, inner }
    }

    pub fn set(&self, behaviour: LlmBehaviour) {
        self.inner.lock().unwrap().behaviour = behaviour;
    }

    pub fn requests(&self) -> Vec<LlmRequest> {
        self.inner.lock().unwrap().requests.clone()
    }
}

async fn complete(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw = String::from_utf8_lossy(&body).to_string();
    let parsed: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    let behaviour = {
        let mut inner = inner.lock().unwrap();
        inner.requests.push(LlmRequest {
            raw: raw.clone(),
            body: parsed.clone(),
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        });
        inner.behaviour.clone()
    };
    let user_text = parsed["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string();
    let answer = match behaviour {
        LlmBehaviour::Echo => format!("LLM: {user_text}"),
        LlmBehaviour::Fixed(text) => text,
        LlmBehaviour::Status(code) => {
            return (
                StatusCode::from_u16(code).unwrap(),
                Json(json!({"error": {"message": format!("failed on: {user_text}")}})),
            )
                .into_response();
        }
        LlmBehaviour::Busy(seconds) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", seconds.to_string())],
                Json(json!({"error": {"message": "rate limited"}})),
            )
                .into_response();
        }
        LlmBehaviour::Stall(d) => {
            tokio::time::sleep(d).await;
            "too late".to_string()
        }
    };
    Json(json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": parsed["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
    }))
    .into_response()
}
