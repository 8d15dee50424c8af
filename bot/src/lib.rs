//! ConsentGate: a self-hosted chatbot gateway with consent built into the message path.
//!
//! People chat with a business's assistant on Telegram or the web chat; every message goes
//! through one [`pipeline`] that checks consent, speaks to the LLM provider only under a
//! [`pseudonym`], and records each decision in the [`audit`] log. Start with
//! [`startup::Gateway::start`] and read `pipeline/mod.rs` top to bottom.

pub mod app;
pub mod audit;
pub mod cli;
pub mod config;
pub mod consent;
pub mod llm;
pub mod owners;
pub mod pipeline;
pub mod privacy;
pub mod redact;
pub mod rights;
pub mod store;
pub mod web;
