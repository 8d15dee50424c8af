//! The audit log: one entry per decision, metadata only. It holds pseudonyms, never message
//! text or raw ids. (The keyed hash chain over these entries is a later step.)

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, Set};
use serde_json::Value;

use consentgate_entity::audit_log;

use crate::pseudonym::Pseudonym;

/// Appends one entry. Callers treat a failure as "do not proceed" (fail closed).
pub async fn record(
    db: &impl ConnectionTrait,
    bot_id: Option<i64>,
    subject: Option<&Pseudonym>,
    action: &str,
    detail: Value,
) -> Result<(), DbErr> {
    audit_log::ActiveModel {
        at: Set(Utc::now()),
        bot_id: Set(bot_id),
        subject: Set(subject.map(|p| p.as_str().to_string())),
        action: Set(action.to_string()),
        detail: Set(detail.to_string()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}
