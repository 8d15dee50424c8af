//! A fake OpenAI-compatible LLM server.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
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
    /// Streams exactly these pieces (when the request asks to stream; else answers them
    /// joined), `gap` apart.
    Pieces(Vec<String>, Duration),
    /// Streams these pieces, `gap` apart, then drops the connection without finishing.
    BreaksAfter(Vec<String>, Duration),
    /// Answers without streaming even when asked to (a server that cannot stream).
    Whole(String),
    /// Streams these pieces and ends with this `finish_reason` (`content_filter`, `length`).
    Stops(Vec<String>, String),
    /// Calls the tool named `tool`, when the request offers it, with `arguments` (a string
    /// `$LABEL` becomes the first placeholder `[LABEL_n]` of the person's message); once the
    /// request carries the tool's result, answers `Done. The tool said: <result>`. A request not
    /// offering the tool is answered `I cannot do that from here.`
    UsesTool { tool: String, arguments: Value },
    /// Calls the tool named here again and again while the request offers it and allows calls
    /// (`tool_choice` is not `none`); then answers `Stopped after N tool results`.
    KeepsCallingTool(String),
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
    /// Every `/embeddings` request's inputs.
    embeddings: Vec<Vec<String>>,
    /// When the first piece of each streamed answer left, keyed by the user's message.
    first_pieces: Vec<(String, Instant)>,
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
            embeddings: Vec::new(),
            first_pieces: Vec::new(),
        }));
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .route("/v1/embeddings", post(embed))
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

    /// The inputs of every `/embeddings` request, in order.
    pub fn embedding_inputs(&self) -> Vec<Vec<String>> {
        self.inner.lock().unwrap().embeddings.clone()
    }

    pub fn requests(&self) -> Vec<LlmRequest> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// When the first piece of the streamed answer to `user_text` left this server.
    pub fn first_piece_at(&self, user_text: &str) -> Option<Instant> {
        self.inner
            .lock()
            .unwrap()
            .first_pieces
            .iter()
            .find(|(text, _)| text == user_text)
            .map(|(_, at)| *at)
    }
}

/// A crude embedding that puts words sharing their first four letters close together
/// ("open", "opening"): 64 dimensions, one count per word stem.
pub fn embedding_of(text: &str) -> Vec<f32> {
    let mut v = vec![0.0f32; 64];
    for word in text
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| w.chars().count() >= 3)
    {
        let stem: String = word.to_lowercase().chars().take(4).collect();
        let slot = stem
            .bytes()
            .fold(7usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize))
            % 64;
        v[slot] += 1.0;
    }
    v
}

/// OpenAI's `POST /embeddings`: one vector per input, in order.
async fn embed(State(inner): State<Arc<Mutex<Inner>>>, Json(body): Json<Value>) -> Response {
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().unwrap_or_default().to_string())
            .collect(),
        _ => return StatusCode::BAD_REQUEST.into_response(),
    };
    inner.lock().unwrap().embeddings.push(inputs.clone());
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(
            |(i, text)| json!({"object": "embedding", "index": i, "embedding": embedding_of(text)}),
        )
        .collect();
    Json(json!({"object": "list", "data": data, "model": body["model"]})).into_response()
}

/// An answer cut into pieces of about `size` characters, as providers stream them.
fn pieces_of(answer: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = answer.chars().collect();
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// How a streamed answer ends.
enum End {
    Stop,
    Reason(String),
    /// The connection drops.
    Breaks,
}

/// A streamed answer: one `chat.completion.chunk` event per piece, `gap` apart, then the end
/// (unless `breaks`, when the connection drops instead).
fn stream(
    inner: Arc<Mutex<Inner>>,
    user_text: String,
    pieces: Vec<String>,
    gap: Duration,
    end: End,
) -> Response {
    let event = |delta: Value, finish: Value| {
        let chunk = json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        axum::body::Bytes::from(format!("data: {chunk}\n\n"))
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<axum::body::Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        let _ = tx
            .send(Ok(event(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
            )))
            .await;
        for (i, piece) in pieces.into_iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(gap).await;
            } else {
                inner
                    .lock()
                    .unwrap()
                    .first_pieces
                    .push((user_text.clone(), Instant::now()));
            }
            if tx
                .send(Ok(event(json!({"content": piece}), Value::Null)))
                .await
                .is_err()
            {
                return;
            }
        }
        let reason = match end {
            End::Breaks => {
                tokio::time::sleep(gap).await;
                let _ = tx
                    .send(Err(std::io::Error::other("the fake provider broke off")))
                    .await;
                return;
            }
            End::Stop => "stop".to_string(),
            End::Reason(reason) => reason,
        };
        let _ = tx.send(Ok(event(json!({}), json!(reason)))).await;
        let _ = tx
            .send(Ok(axum::body::Bytes::from("data: [DONE]\n\n")))
            .await;
    });
    let body = axum::body::Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(body)
        .unwrap()
}

/// `$LABEL` strings of a JSON template replaced by the first `[LABEL_n]` in `text`.
fn fill_placeholders(template: &Value, text: &str) -> Value {
    match template {
        Value::String(s) if s.starts_with('$') => {
            let open = format!("[{}_", &s[1..]);
            let found = text.find(&open).and_then(|at| {
                text[at..]
                    .find(']')
                    .map(|end| text[at..at + end + 1].to_string())
            });
            Value::String(found.unwrap_or_else(|| s.clone()))
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), fill_placeholders(v, text)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// An answer asking to call `tool`: streamed in pieces (the arguments cut in two) or whole.
fn tool_call(streaming: bool, tool: &str, arguments: &str) -> Response {
    if !streaming {
        return Json(json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_fake_1", "type": "function", "function": {"name": tool, "arguments": arguments}}
            ]}, "finish_reason": "tool_calls"}],
        }))
        .into_response();
    }
    let half = arguments
        .char_indices()
        .map(|(i, _)| i)
        .nth(arguments.chars().count() / 2)
        .unwrap_or(0);
    let deltas = [
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"index": 0, "id": "call_fake_1", "type": "function", "function": {"name": tool, "arguments": ""}}
        ]}),
        json!({"tool_calls": [{"index": 0, "function": {"arguments": &arguments[..half]}}]}),
        json!({"tool_calls": [{"index": 0, "function": {"arguments": &arguments[half..]}}]}),
    ];
    let mut body = String::new();
    for delta in deltas {
        let chunk = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": null}]});
        body.push_str(&format!("data: {chunk}\n\n"));
    }
    let end = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]});
    body.push_str(&format!("data: {end}\n\ndata: [DONE]\n\n"));
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(axum::body::Body::from(body))
        .unwrap()
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
        .map(|m| match &m["content"] {
            // Content parts (a picture with its caption): the text, and a note of each picture.
            Value::Array(parts) => parts
                .iter()
                .map(|p| match p["type"].as_str() {
                    Some("text") => p["text"].as_str().unwrap_or_default().to_string(),
                    _ => "[picture]".to_string(),
                })
                .collect::<Vec<_>>()
                .join(" "),
            other => other.as_str().unwrap_or_default().to_string(),
        })
        .unwrap_or_default();
    let streaming = parsed["stream"] == json!(true);
    let answer = match behaviour {
        LlmBehaviour::KeepsCallingTool(tool) => {
            let offered = parsed["tools"]
                .as_array()
                .is_some_and(|tools| tools.iter().any(|t| t["function"]["name"] == json!(tool)));
            if offered && parsed["tool_choice"] != json!("none") {
                return tool_call(streaming, &tool, "{}");
            }
            let results = parsed["messages"]
                .as_array()
                .map_or(0, |m| m.iter().filter(|m| m["role"] == "tool").count());
            format!("Stopped after {results} tool results")
        }
        LlmBehaviour::UsesTool { tool, arguments } => {
            let offered = parsed["tools"]
                .as_array()
                .is_some_and(|tools| tools.iter().any(|t| t["function"]["name"] == json!(tool)));
            let result = parsed["messages"]
                .as_array()
                .and_then(|m| m.iter().rev().find(|m| m["role"] == "tool"))
                .and_then(|m| m["content"].as_str().map(str::to_string));
            let text = match (offered, result) {
                (_, Some(result)) => format!("Done. The tool said: {result}"),
                (false, None) => "I cannot do that from here.".to_string(),
                (true, None) => {
                    let arguments = fill_placeholders(&arguments, &user_text).to_string();
                    return tool_call(streaming, &tool, &arguments);
                }
            };
            if streaming {
                return stream(
                    inner,
                    user_text,
                    pieces_of(&text, 6),
                    Duration::ZERO,
                    End::Stop,
                );
            }
            text
        }
        LlmBehaviour::Echo if streaming => {
            let answer = format!("LLM: {user_text}");
            let pieces = pieces_of(&answer, 6);
            return stream(inner, user_text, pieces, Duration::ZERO, End::Stop);
        }
        LlmBehaviour::Fixed(text) if streaming => {
            let pieces = pieces_of(&text, 6);
            return stream(inner, user_text, pieces, Duration::ZERO, End::Stop);
        }
        LlmBehaviour::Pieces(pieces, gap) if streaming => {
            return stream(inner, user_text, pieces, gap, End::Stop);
        }
        LlmBehaviour::BreaksAfter(pieces, gap) => {
            return stream(inner, user_text, pieces, gap, End::Breaks);
        }
        LlmBehaviour::Stops(pieces, reason) => {
            let end = End::Reason(reason);
            return stream(inner, user_text, pieces, Duration::ZERO, end);
        }
        LlmBehaviour::Pieces(pieces, _) => pieces.concat(),
        LlmBehaviour::Whole(text) => text,
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
