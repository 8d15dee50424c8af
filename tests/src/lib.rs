//! Fake peers for end-to-end tests: real HTTP servers on 127.0.0.1:0 that record every request.
//!
//! - [`FakeTelegram`] speaks enough of the Bot API (getUpdates with offset semantics,
//!   sendMessage, answerCallbackQuery, deleteWebhook, getMe, getFile and file downloads) for a
//!   bot to run against it.
//! - [`FakeLlm`] is an OpenAI-compatible `/chat/completions` server that can answer, fail with a
//!   status, or stall.
//! - [`FakeGraph`] is the WhatsApp Cloud API's messages endpoint and media downloads.
//! - [`FakeOAuth`] is an OAuth 2.0 provider (authorize, token with PKCE, RFC 7009 revoke).
//! - [`FakeTranscriber`] is an OpenAI-compatible `/audio/transcriptions` server.
//! - [`FakeSheets`] and [`FakeHubSpot`] are the services behind owners' tools.
//!
//! Tests assert on what these servers received.

pub mod db;
pub mod llm;
pub mod oauth;
pub mod pdf;
pub mod services;
pub mod telegram;
pub mod transcribe;
pub mod updates;
pub mod whatsapp;

pub use db::TestDb;
pub use llm::{FakeLlm, LlmBehaviour};
pub use oauth::FakeOAuth;
pub use services::{FakeHubSpot, FakeSheets, ServiceRequest};
pub use telegram::{FakeTelegram, Recorded};
pub use transcribe::FakeTranscriber;
pub use whatsapp::FakeGraph;

use std::{future::Future, time::Duration};

/// Polls `check` every 20 ms until it returns `Some`, for at most `limit`.
pub async fn wait_for<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
