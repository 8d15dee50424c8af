//! sea-orm entities for ConsentGate, one file per table.
//!
//! This crate knows nothing of channels or consent rules: it only says what a row looks like.
//! Raw platform ids never appear in clear here: `channel_identities` holds them Fernet-encrypted
//! next to a keyed blind index, and every other table refers to people by `subject_id` or by
//! pseudonym.

pub mod admin_keys;
pub mod admin_totp;
pub mod audit_head;
pub mod audit_log;
pub mod bot_settings;
pub mod bot_tools;
pub mod bots;
pub mod channel_identities;
pub mod consent_events;
pub mod console_links;
pub mod console_sessions;
pub mod conversation_messages;
pub mod daily_counts;
pub mod egress_ledger;
pub mod export_links;
pub mod integrations;
pub mod kb_documents;
pub mod kb_passages;
pub mod oauth_states;
pub mod outbox;
pub mod owner_invites;
pub mod owners;
pub mod payments;
pub mod policy_versions;
pub mod processed_updates;
pub mod request_usage;
pub mod subjects;
