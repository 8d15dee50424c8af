//! ConsentGate: a self-hosted chatbot gateway with consent built into the message path.
//!
//! People chat with a business's assistant on Telegram or the web chat; every message goes
//! through one [`pipeline`] that checks consent, speaks to the LLM provider only under a
//! [`pseudonym`], and records each decision in the [`audit`] log. Start with
//! [`startup::Gateway::start`] and read `pipeline/mod.rs` top to bottom.

pub mod admin;
pub mod audit;
pub mod cli;
pub mod commit;
pub mod config;
pub mod consent;
pub mod conversation;
pub mod erasure;
pub mod export;
pub mod http;
pub mod identity;
pub mod integrations;
pub mod keys;
pub mod llm;
pub mod metrics;
pub mod notify;
pub mod oauth;
pub mod ops;
pub mod pipeline;
pub mod policy;
pub mod pseudonym;
pub mod redact;
pub mod retention;
pub mod rotation;
pub mod startup;
pub mod storage;
pub mod telemetry;
