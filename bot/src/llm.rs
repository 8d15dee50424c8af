//! LLM providers. The only thing a provider ever learns about a person is their pseudonym (the
//! request's `user` field) and the text of the message they chose to send.
//!
//! Several providers may be configured ([`Providers`]); they are tried in order, each behind a
//! circuit breaker that honours `Retry-After`.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use serde::Deserialize;

use crate::{
    config::{LlmSettings, Secret},
    privacy::pseudonym::Pseudonym,
    redact::RedactedText,
};

/// What is sent to a provider: the person's pseudonym and their message with personal data
/// replaced by placeholders. There is no way to hand a provider unredacted text.
pub struct Prompt<'a> {
    pub user: &'a Pseudonym,
    pub text: &'a RedactedText,
    /// Earlier turns, oldest first, redacted like the message (only for people who chose the
    /// `history` purpose; empty otherwise).
    pub history: &'a [(Role, RedactedText)],
    /// The system prompt of the policy version in effect, replacing the configured one.
    pub system: Option<&'a str>,
    /// A picture sent with the message (to providers that accept pictures only).
    pub picture: Option<&'a Picture>,
    /// Passages of the business's knowledge base for this question, with their sources (and
    /// what the tools need), as a second system message.
    pub knowledge: Option<&'a str>,
    /// The tools the model may call for this person (none: no tools are offered).
    pub tools: &'a [ToolSpec],
    /// The tool calls made so far for this message, with their results (redacted).
    pub rounds: &'a [ToolRound],
    /// No more tool calls: the model must answer with what it has.
    pub tools_done: bool,
}

/// A tool offered to the model (OpenAI function calling).
#[derive(Clone, Debug)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: serde_json::Value,
}

/// A call the model asked for: the tool's name and its arguments as the model wrote them (a
/// JSON object, with placeholders where personal data was).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// One round of tool use: the calls the model asked for and what each gave back, in order
/// (redacted like messages).
#[derive(Clone, Debug)]
pub struct ToolRound {
    pub calls: Vec<ToolCall>,
    pub results: Vec<String>,
}

/// The most tool calls read from one answer; more are dropped.
const MOST_CALLS: usize = 8;

/// A picture a person sent, as it goes to a provider that accepts pictures.
pub struct Picture {
    /// e.g. `image/jpeg`.
    pub mime: String,
    pub bytes: Vec<u8>,
}

/// Who said an earlier message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// A provider's answer and how long it took.
pub struct Completion {
    pub text: String,
    pub latency: Duration,
    /// The provider stopped before the answer's natural end; `None` when it ended well.
    pub cut: Option<Cut>,
    /// Tools the model asked to call before it answers (then `text` may be empty).
    pub tool_calls: Vec<ToolCall>,
}

/// Why a provider stopped an answer early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// At its length limit (`finish_reason: length`), or at [`LONGEST_ANSWER`] here.
    Length,
    /// For another reason it gave (`content_filter`, …).
    Other,
}

impl Cut {
    /// What an OpenAI-compatible `finish_reason` says about the end of an answer.
    fn of(finish_reason: &str) -> Option<Cut> {
        match finish_reason {
            "stop" | "eos" | "end_turn" | "stop_sequence" | "tool_calls" | "function_call" => None,
            "length" | "max_tokens" => Some(Cut::Length),
            _ => Some(Cut::Other),
        }
    }
}

/// The longest answer read from a provider, in bytes; the rest is not waited for.
pub const LONGEST_ANSWER: usize = 256 * 1024;

/// The longest line of a stream: a provider that sends more without a line end is not
/// speaking server-sent events.
const LONGEST_LINE: usize = 64 * 1024;

/// A streamed answer may take this many times the provider's timeout in all.
const STREAM_TIMEOUTS: u32 = 10;

/// Where the text of a streamed answer goes as it arrives, piece by piece.
pub type OnText<'a> = &'a mut (dyn FnMut(&str) + Send);

/// Why a provider gave no answer. Never carries the prompt or the provider's response body, which
/// may echo the prompt.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("the provider did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the provider answered HTTP {0}")]
    Status(u16),
    /// 429 or 503, perhaps with how long to wait (`Retry-After`).
    #[error("the provider is busy (HTTP {status})")]
    Busy {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// Every configured provider is resting after failures or asked to wait.
    #[error("every provider is resting")]
    Resting,
    #[error("the provider could not be reached: {0}")]
    Network(String),
    #[error("the provider's answer could not be read")]
    Malformed,
    /// The stream stopped before the answer was complete (the connection dropped, the
    /// provider sent an error event, or it went quiet for longer than its timeout).
    #[error("the provider's stream broke off before the end")]
    Broken,
}

impl LlmError {
    /// A label for the audit log and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            LlmError::Timeout(_) => "timeout",
            LlmError::Status(_) => "status",
            LlmError::Busy { .. } => "busy",
            LlmError::Resting => "resting",
            LlmError::Network(_) => "network",
            LlmError::Malformed => "malformed",
            LlmError::Broken => "broken",
        }
    }

    /// Whether the next provider should be asked: the provider is busy or failing (429, 5xx,
    /// a timeout, no connection, an unreadable answer), not refusing this request (400, 401,
    /// 413 …, which would go the same way elsewhere or means this deployment's key is wrong).
    pub fn falls_over(&self) -> bool {
        match self {
            LlmError::Status(code) => *code >= 500 || *code == 408,
            _ => true,
        }
    }
}

/// The exact bytes about to be sent to a provider. Built before sending so that the audit log
/// can record their SHA-256 (the egress ledger) before anything leaves.
pub struct Payload {
    bytes: Vec<u8>,
}

impl Payload {
    /// SHA-256 of the exact bytes sent, hex.
    pub fn sha256(&self) -> String {
        crate::privacy::digest::sha256_hex(&self.bytes)
    }
}

/// Something that answers a message.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// Name for the audit log and the egress ledger, e.g. `openai-compatible` or `echo`.
    fn name(&self) -> &str;
    fn model(&self) -> &str;
    /// The request body for a prompt, exactly as it will be sent.
    fn payload(&self, prompt: Prompt<'_>) -> Payload;
    /// Whether its model accepts pictures.
    fn accepts_images(&self) -> bool {
        false
    }
    /// Sends a payload made by [`Provider::payload`]; the answer's text goes to `on_text` piece
    /// by piece as it arrives (all at once from a provider that does not stream), and the whole
    /// of it comes back in the [`Completion`].
    async fn send(&self, payload: Payload, on_text: OnText<'_>) -> Result<Completion, LlmError>;
}

/// Failures in a row after which a provider rests.
const TRIP_AFTER: u32 = 3;
/// How long a provider rests after [`TRIP_AFTER`] failures in a row (then it is tried again;
/// one more failure and it rests again).
const REST: Duration = Duration::from_secs(30);
/// The longest `Retry-After` honoured (a provider asking for more is tried again after this).
const LONGEST_WAIT: Duration = Duration::from_secs(600);

#[derive(Default)]
struct Breaker {
    failures: u32,
    resting_until: Option<Instant>,
}

/// The configured providers in order, each with its circuit breaker and, when there are
/// several, the words that name it in the `assistant` purpose.
pub struct Providers {
    members: Vec<(Box<dyn Provider>, Mutex<Breaker>)>,
    named: Vec<Option<String>>,
}

impl Providers {
    /// The providers the configuration asks for.
    pub fn from_settings(settings: &LlmSettings) -> Providers {
        match settings {
            LlmSettings::Echo => Providers::of(vec![Box::new(Echo)]),
            LlmSettings::OpenAi {
                providers,
                system_prompt,
            } => Providers::of(
                providers
                    .iter()
                    .map(|p| {
                        Box::new(
                            OpenAiCompatible::new(
                                p.name.clone(),
                                p.base_url.clone(),
                                p.model.clone(),
                                p.api_key.clone(),
                                p.timeout,
                                system_prompt.clone(),
                            )
                            .with_images(p.images),
                        ) as Box<dyn Provider>
                    })
                    .collect(),
            )
            .named(if providers.len() > 1 {
                providers.iter().map(|p| Some(p.named())).collect()
            } else {
                Vec::new()
            }),
        }
    }

    pub fn of(providers: Vec<Box<dyn Provider>>) -> Providers {
        Providers {
            members: providers
                .into_iter()
                .map(|p| (p, Mutex::new(Breaker::default())))
                .collect(),
            named: Vec::new(),
        }
    }

    /// The words naming each provider in the consent text: a provider is asked only while the
    /// `assistant` purpose in effect names it (one added to the configuration waits until the
    /// policy naming it is published and people agreed to it).
    pub fn named(mut self, named: Vec<Option<String>>) -> Providers {
        self.named = named;
        self
    }

    /// Every provider, resting or not, in order.
    pub fn all(&self) -> impl Iterator<Item = &dyn Provider> {
        self.members.iter().map(|(p, _)| p.as_ref())
    }

    fn breaker(&self, i: usize) -> std::sync::MutexGuard<'_, Breaker> {
        self.members[i].1.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The providers to ask now, in order: those named in `consent_text` (the `assistant`
    /// purpose people agreed to) and not resting. A text naming none of them (an operator's
    /// own wording) cannot tell, and leaves them all.
    pub fn ready(&self, consent_text: &str) -> Vec<(usize, &dyn Provider)> {
        let now = Instant::now();
        // Some(whether the text names it), None for a provider without words.
        let named = |i: usize| {
            self.named
                .get(i)
                .and_then(Option::as_deref)
                .map(|words| consent_text.contains(words))
        };
        let any_named = (0..self.members.len()).any(|i| named(i) == Some(true));
        (0..self.members.len())
            .filter(|&i| !any_named || named(i) != Some(false))
            .filter(|&i| {
                self.breaker(i)
                    .resting_until
                    .is_none_or(|until| until <= now)
            })
            .map(|i| (i, self.members[i].0.as_ref()))
            .collect()
    }

    /// Provider `i` answered: its failures are forgotten.
    pub fn answered(&self, i: usize) {
        *self.breaker(i) = Breaker::default();
    }

    /// Provider `i` failed: it rests for as long as it asked (`Retry-After`), or for [`REST`]
    /// after [`TRIP_AFTER`] failures in a row.
    pub fn failed(&self, i: usize, error: &LlmError) {
        let mut b = self.breaker(i);
        b.failures = b.failures.saturating_add(1);
        let rest = match error {
            LlmError::Busy {
                retry_after: Some(wait),
                ..
            } => Some((*wait).min(LONGEST_WAIT)),
            _ if b.failures >= TRIP_AFTER => Some(REST),
            _ => None,
        };
        if let Some(rest) = rest {
            b.resting_until = Some(Instant::now() + rest);
        }
    }
}

/// `Retry-After`: seconds, or an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    // A date already past: ask again at once.
    Some(
        (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// The offline provider: no AI, and it says so.
pub struct Echo;

#[async_trait]
impl Provider for Echo {
    fn name(&self) -> &str {
        "echo"
    }
    fn model(&self) -> &str {
        "none"
    }
    fn payload(&self, prompt: Prompt<'_>) -> Payload {
        Payload {
            bytes: prompt.text.as_str().as_bytes().to_vec(),
        }
    }

    async fn send(&self, payload: Payload, on_text: OnText<'_>) -> Result<Completion, LlmError> {
        let text = String::from_utf8_lossy(&payload.bytes);
        let text = format!(
            "No AI is configured for this assistant yet, so I can only repeat what you wrote: \
             \"{text}\"\n(The operator can connect one with LLM_BASE_URL and LLM_MODEL.)"
        );
        on_text(&text);
        Ok(Completion {
            text,
            latency: Duration::ZERO,
            cut: None,
            tool_calls: Vec::new(),
        })
    }
}

/// Any server speaking OpenAI's `POST {base}/chat/completions`.
pub struct OpenAiCompatible {
    name: String,
    http: reqwest::Client,
    endpoint: String,
    model: String,
    api_key: Option<Secret>,
    timeout: Duration,
    system_prompt: String,
    images: bool,
}

impl OpenAiCompatible {
    /// Says whether its model accepts pictures.
    pub fn with_images(mut self, images: bool) -> Self {
        self.images = images;
        self
    }

    pub fn new(
        name: String,
        base_url: url::Url,
        model: String,
        api_key: Option<Secret>,
        timeout: Duration,
        system_prompt: String,
    ) -> Self {
        let endpoint = format!(
            "{}/chat/completions",
            base_url.as_str().trim_end_matches('/')
        );
        OpenAiCompatible {
            name,
            // No timeout for the whole request: a streamed answer may take longer than
            // `timeout` in all. The wait for the answer to start and each wait between two
            // pieces of it are bounded by `timeout` instead.
            http: reqwest::Client::builder()
                .connect_timeout(timeout)
                .build()
                .unwrap_or_default(),
            endpoint,
            model,
            api_key,
            timeout,
            system_prompt,
            images: false,
        }
    }
}

#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

/// A tool call as it comes, whole or (streamed) in pieces keyed by `index`.
#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireFunction>,
}

#[derive(Deserialize)]
struct WireFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

/// Tool calls put together from their pieces.
#[derive(Default)]
struct Calls {
    calls: Vec<ToolCall>,
}

impl Calls {
    /// Adds pieces of calls; `Err` when their arguments grow past [`LONGEST_LINE`].
    fn add(&mut self, pieces: Vec<WireToolCall>) -> Result<(), LlmError> {
        for (n, piece) in pieces.into_iter().enumerate() {
            let i = piece.index.unwrap_or(n);
            if i >= MOST_CALLS {
                continue;
            }
            while self.calls.len() <= i {
                self.calls.push(ToolCall {
                    id: String::new(),
                    name: String::new(),
                    arguments: String::new(),
                });
            }
            let call = &mut self.calls[i];
            if let Some(id) = piece.id {
                call.id = id;
            }
            if let Some(f) = piece.function {
                if let Some(name) = f.name {
                    call.name.push_str(&name);
                }
                if let Some(arguments) = f.arguments {
                    call.arguments.push_str(&arguments);
                }
            }
            if call.arguments.len() + call.name.len() > LONGEST_LINE {
                return Err(LlmError::Malformed);
            }
        }
        Ok(())
    }

    /// The calls, each with an id (one the provider left out is made up) and a name.
    fn done(self) -> Vec<ToolCall> {
        self.calls
            .into_iter()
            .enumerate()
            .filter(|(_, c)| !c.name.is_empty())
            .map(|(i, mut c)| {
                if c.id.is_empty() {
                    c.id = format!("call_{i}");
                }
                c
            })
            .collect()
    }
}

/// One event of a streamed answer (`chat.completion.chunk`).
#[derive(Deserialize)]
struct StreamChunk {
    #[serde(default)]
    choices: Vec<StreamChoice>,
    /// Some providers report a failure inside the stream.
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct StreamChoice {
    #[serde(default)]
    delta: Option<ChoiceMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
}

/// Reads server-sent events from bytes as they arrive: complete `data:` payloads come out, a
/// partial line waits for the rest.
#[derive(Default)]
struct SseReader {
    buffer: Vec<u8>,
    /// How much of `buffer` is known to hold no line end.
    scanned: usize,
    data: String,
}

impl SseReader {
    /// The events completed by `bytes`; `Err` when a line or an event grows past
    /// [`LONGEST_LINE`] (or [`LONGEST_ANSWER`]).
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<String>, LlmError> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        loop {
            let Some(at) = self.buffer[self.scanned..].iter().position(|b| *b == b'\n') else {
                self.scanned = self.buffer.len();
                if self.buffer.len() > LONGEST_LINE || self.data.len() > LONGEST_ANSWER {
                    return Err(LlmError::Malformed);
                }
                return Ok(events);
            };
            let end = self.scanned + at;
            self.scanned = 0;
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() {
                    events.push(std::mem::take(&mut self.data));
                }
            } else if let Some(value) = line.strip_prefix("data:") {
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(value.strip_prefix(' ').unwrap_or(value));
            }
            // Comments (": keep-alive"), `event:`, `id:` and `retry:` lines are not needed.
        }
    }
}

#[async_trait]
impl Provider for OpenAiCompatible {
    fn name(&self) -> &str {
        &self.name
    }
    fn model(&self) -> &str {
        &self.model
    }

    fn accepts_images(&self) -> bool {
        self.images
    }

    fn payload(&self, prompt: Prompt<'_>) -> Payload {
        let mut messages = Vec::with_capacity(prompt.history.len() + 2);
        let system = prompt.system.unwrap_or(&self.system_prompt);
        messages.push(serde_json::json!({"role": "system", "content": system}));
        if let Some(knowledge) = prompt.knowledge {
            messages.push(serde_json::json!({"role": "system", "content": knowledge}));
        }
        for (role, text) in prompt.history {
            messages.push(serde_json::json!({"role": role.as_str(), "content": text.as_str()}));
        }
        // The message and the tool calls it led to come after it (below).
        let content = match prompt.picture.filter(|_| self.images) {
            // OpenAI's content parts: the (redacted) caption, then the picture as a data URL.
            Some(picture) => {
                let mut parts = Vec::new();
                if !prompt.text.as_str().trim().is_empty() {
                    parts.push(serde_json::json!({"type": "text", "text": prompt.text.as_str()}));
                }
                parts.push(
                    serde_json::json!({"type": "image_url", "image_url": {"url": format!(
                        "data:{};base64,{}",
                        picture.mime,
                        data_encoding::BASE64.encode(&picture.bytes)
                    )}}),
                );
                serde_json::Value::Array(parts)
            }
            None => serde_json::json!(prompt.text.as_str()),
        };
        messages.push(serde_json::json!({"role": "user", "content": content}));
        for round in prompt.rounds {
            let calls: Vec<serde_json::Value> = round
                .calls
                .iter()
                .map(|c| {
                    serde_json::json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}})
                })
                .collect();
            messages.push(
                serde_json::json!({"role": "assistant", "content": null, "tool_calls": calls}),
            );
            for (call, result) in round.calls.iter().zip(&round.results) {
                messages.push(
                    serde_json::json!({"role": "tool", "tool_call_id": call.id, "content": result}),
                );
            }
        }
        let mut body = serde_json::json!({
            "model": self.model,
            "messages": messages,
            "user": prompt.user.as_str(),
            "stream": true,
        });
        if !prompt.tools.is_empty() {
            let tools: Vec<serde_json::Value> = prompt
                .tools
                .iter()
                .map(|t| {
                    serde_json::json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}})
                })
                .collect();
            body["tools"] = serde_json::Value::Array(tools);
            body["tool_choice"] =
                serde_json::json!(if prompt.tools_done { "none" } else { "auto" });
        }
        Payload {
            bytes: serde_json::to_vec(&body).unwrap_or_default(),
        }
    }

    async fn send(&self, payload: Payload, on_text: OnText<'_>) -> Result<Completion, LlmError> {
        let started = Instant::now();
        let mut request = self
            .http
            .post(&self.endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                reqwest::header::ACCEPT,
                "text/event-stream, application/json",
            )
            .body(payload.bytes);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.expose());
        }
        let timed_out = LlmError::Timeout(self.timeout);
        let mut response = tokio::time::timeout(self.timeout, request.send())
            .await
            .map_err(|_| LlmError::Timeout(self.timeout))?
            .map_err(|e| {
                if e.is_timeout() {
                    LlmError::Timeout(self.timeout)
                } else {
                    LlmError::Network(e.without_url().to_string())
                }
            })?;
        let status = response.status();
        if matches!(status.as_u16(), 429 | 503) {
            return Err(LlmError::Busy {
                status: status.as_u16(),
                retry_after: retry_after(response.headers()),
            });
        }
        if !status.is_success() {
            return Err(LlmError::Status(status.as_u16()));
        }
        let streamed = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !streamed {
            // A server that does not stream answers with the whole completion.
            let body = tokio::time::timeout(self.timeout, response.bytes())
                .await
                .map_err(|_| LlmError::Timeout(self.timeout))?
                .map_err(|_| LlmError::Malformed)?;
            let parsed: ChatResponse =
                serde_json::from_slice(&body).map_err(|_| LlmError::Malformed)?;
            let choice = parsed
                .choices
                .into_iter()
                .next()
                .ok_or(LlmError::Malformed)?;
            let mut calls = Calls::default();
            calls.add(choice.message.tool_calls.unwrap_or_default())?;
            let tool_calls = calls.done();
            let text = choice.message.content.unwrap_or_default();
            if text.trim().is_empty() && tool_calls.is_empty() {
                return Err(LlmError::Malformed);
            }
            on_text(&text);
            return Ok(Completion {
                text,
                latency: started.elapsed(),
                cut: choice.finish_reason.as_deref().and_then(Cut::of),
                tool_calls,
            });
        }
        let mut reader = SseReader::default();
        let mut calls = Calls::default();
        let mut text = String::new();
        let mut finish: Option<String> = None;
        // However it trickles (keep-alive comments, a byte at a time), a stream ends in time.
        let deadline = tokio::time::Instant::now() + self.timeout * STREAM_TIMEOUTS;
        loop {
            let wait = self
                .timeout
                .min(deadline.saturating_duration_since(tokio::time::Instant::now()));
            let chunk = match tokio::time::timeout(wait, response.chunk()).await {
                Err(_) if text.is_empty() => return Err(timed_out),
                Err(_) => return Err(LlmError::Broken),
                Ok(Err(_)) => return Err(LlmError::Broken),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => chunk,
            };
            if text.len() > LONGEST_ANSWER {
                // Long enough: the rest is not read.
                finish = Some("length".into());
                break;
            }
            for event in reader.feed(&chunk)? {
                if event.trim() == "[DONE]" {
                    finish.get_or_insert_with(|| "stop".into());
                    continue;
                }
                let Ok(parsed) = serde_json::from_str::<StreamChunk>(&event) else {
                    return Err(LlmError::Malformed);
                };
                if parsed.error.is_some() {
                    return Err(LlmError::Broken);
                }
                for choice in parsed.choices.into_iter().take(1) {
                    let (piece, pieces) = choice
                        .delta
                        .map(|d| (d.content, d.tool_calls))
                        .unwrap_or_default();
                    calls.add(pieces.unwrap_or_default())?;
                    if let Some(piece) = piece
                        && !piece.is_empty()
                    {
                        text.push_str(&piece);
                        on_text(&piece);
                    }
                    if let Some(reason) = choice.finish_reason {
                        finish = Some(reason);
                    }
                }
            }
        }
        // The connection closed: an answer is complete only if the provider said it was done.
        if finish.is_none() {
            return Err(LlmError::Broken);
        }
        let tool_calls = calls.done();
        if text.trim().is_empty() && tool_calls.is_empty() {
            return Err(LlmError::Malformed);
        }
        Ok(Completion {
            text,
            latency: started.elapsed(),
            cut: finish.as_deref().and_then(Cut::of),
            tool_calls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two() -> Providers {
        Providers::of(vec![Box::new(Echo), Box::new(Echo)])
    }

    fn ready(p: &Providers) -> Vec<usize> {
        p.ready("").into_iter().map(|(i, _)| i).collect()
    }

    #[test]
    fn only_providers_the_consent_names_are_asked() {
        let p = two().named(vec![Some("Alpha AI".into()), Some("Beta AI".into())]);
        let asked =
            |text: &str| -> Vec<usize> { p.ready(text).into_iter().map(|(i, _)| i).collect() };
        assert_eq!(asked("Alpha AI, or when that one is busy, Beta AI"), [0, 1]);
        // Beta was added to the configuration but the policy in effect names only Alpha.
        assert_eq!(asked("Alpha AI"), [0]);
        // The operator's own wording names neither: both are asked.
        assert_eq!(asked("our AI partners"), [0, 1]);
    }

    #[test]
    fn a_provider_rests_after_three_failures_in_a_row_and_an_answer_clears_them() {
        let p = two();
        let timeout = LlmError::Timeout(Duration::from_secs(1));
        p.failed(0, &timeout);
        p.failed(0, &timeout);
        assert_eq!(ready(&p), [0, 1]);
        p.answered(0);
        p.failed(0, &timeout);
        p.failed(0, &timeout);
        assert_eq!(ready(&p), [0, 1], "an answer clears the count");
        p.failed(0, &timeout);
        assert_eq!(ready(&p), [1]);
        // Once the rest is over it is asked again, and one more failure rests it again.
        p.breaker(0).resting_until = Some(Instant::now());
        assert_eq!(ready(&p), [0, 1]);
        p.failed(0, &timeout);
        assert_eq!(ready(&p), [1]);
    }

    #[test]
    fn retry_after_is_honoured_up_to_ten_minutes() {
        let p = two();
        p.failed(
            1,
            &LlmError::Busy {
                status: 429,
                retry_after: Some(Duration::from_secs(86_400)),
            },
        );
        assert_eq!(ready(&p), [0]);
        let until = p.breaker(1).resting_until.unwrap();
        assert!(until <= Instant::now() + LONGEST_WAIT);
        // A 429 without Retry-After counts as one failure.
        p.failed(
            0,
            &LlmError::Busy {
                status: 429,
                retry_after: None,
            },
        );
        assert_eq!(ready(&p), [0]);
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "120".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(120)));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        h.insert(reqwest::header::RETRY_AFTER, later.parse().unwrap());
        let wait = retry_after(&h).unwrap();
        assert!(wait > Duration::from_secs(80) && wait <= Duration::from_secs(90));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn server_sent_events_come_out_whole_however_the_bytes_are_cut() {
        let stream =
            "data: {\"a\":1}\n\n: keep-alive\n\ndata: {\"b\":\r\ndata: 2}\r\n\r\ndata: [DONE]\n\n";
        for cut in 1..stream.len() {
            let mut reader = SseReader::default();
            let mut events = reader.feed(&stream.as_bytes()[..cut]).unwrap();
            events.extend(reader.feed(&stream.as_bytes()[cut..]).unwrap());
            assert_eq!(
                events,
                ["{\"a\":1}", "{\"b\":\n2}", "[DONE]"],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_stream_without_line_ends_is_refused_not_kept() {
        let mut reader = SseReader::default();
        let piece = vec![b'x'; 1024];
        let mut fed = 0;
        let refused = loop {
            match reader.feed(&piece) {
                Ok(events) => assert!(events.is_empty()),
                Err(err) => break err,
            }
            fed += piece.len();
            assert!(fed <= LONGEST_LINE + piece.len(), "kept growing");
        };
        assert!(matches!(refused, LlmError::Malformed));
    }

    #[test]
    fn streamed_tool_calls_are_put_together_from_their_pieces() {
        let pieces: Vec<Vec<WireToolCall>> = [
            r#"[{"index":0,"id":"call_a","type":"function","function":{"name":"book","arguments":""}}]"#,
            r#"[{"index":0,"function":{"arguments":"{\"phone\":"}}]"#,
            r#"[{"index":1,"function":{"name":"prices","arguments":"{}"}}]"#,
            r#"[{"index":0,"function":{"arguments":"\"[PHONE_1]\"}"}}]"#,
        ]
        .iter()
        .map(|j| serde_json::from_str(j).unwrap())
        .collect();
        let mut calls = Calls::default();
        for p in pieces {
            calls.add(p).unwrap();
        }
        let calls = calls.done();
        assert_eq!(calls.len(), 2);
        assert_eq!(
            (calls[0].id.as_str(), calls[0].name.as_str()),
            ("call_a", "book")
        );
        assert_eq!(calls[0].arguments, r#"{"phone":"[PHONE_1]"}"#);
        // An id the provider left out is made up.
        assert_eq!(calls[1].id, "call_1");
        assert_eq!(Cut::of("tool_calls"), None);
    }

    #[test]
    fn only_a_natural_end_is_complete() {
        assert_eq!(Cut::of("stop"), None);
        assert_eq!(Cut::of("length"), Some(Cut::Length));
        assert_eq!(Cut::of("content_filter"), Some(Cut::Other));
    }

    #[test]
    fn a_refused_request_does_not_fall_over() {
        assert!(!LlmError::Status(400).falls_over());
        assert!(!LlmError::Status(401).falls_over());
        assert!(LlmError::Status(502).falls_over());
        assert!(LlmError::Timeout(Duration::from_secs(1)).falls_over());
        assert!(LlmError::Network("refused".into()).falls_over());
    }
}
