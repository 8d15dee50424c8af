//! ConsentGate: a self-hosted chatbot gateway with consent built into the message path.
//!
//! People chat with a business's assistant on Telegram, Bale, WhatsApp or the web chat; every
//! message goes through one [`pipeline`] that checks [`consent`], speaks to the LLM provider
//! only under a [`pseudonym`](privacy::pseudonym) with personal data [`redact`]ed, and records
//! each decision in the [`audit`] log. Start with [`app::App`] (built once from the
//! [`config`]; `serve` and every [`cli`] command use it) and read `pipeline/mod.rs` top to
//! bottom.
//!
//! The rooms: [`app`] (the running gateway), [`cli`], [`config`], [`privacy`] (keys, digests,
//! pseudonyms, identity), [`consent`], [`rights`] (export, erasure, retention), [`owners`]
//! (linked accounts), [`audit`], [`pipeline`], [`redact`], [`llm`], [`store`] (database, group
//! commit) and [`web`] (the HTTP server).

pub mod app;
pub mod audit;
pub mod cli;
pub mod config;
pub mod consent;
pub mod embeddings;
pub mod knowledge;
pub mod llm;
pub mod owners;
pub mod pipeline;
pub mod privacy;
pub mod redact;
pub mod rights;
pub mod store;
pub mod tools;
pub mod transcribe;
pub mod web;
