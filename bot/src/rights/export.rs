//! `/export`: everything stored about a person, as machine-readable JSON — identity rows
//! (decrypted: it is their own data), the consent record, stored conversation, linked
//! integrations, audit entries about them and the egress ledger. Never a token or a key.
//!
//! Channels that carry files get it as a document; the others get a one-time link that expires.
//! Only the SHA-256 of a link's token is stored.

use std::collections::HashMap;

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set, sea_query::Expr,
};
use serde_json::{Value, json};

use consentgate_entity::{audit_log, bots, egress_ledger, export_links, subjects};

use crate::privacy::digest::sha256_hex;
use crate::{
    consent::{self},
    privacy::identity,
    privacy::keys::Keys,
    rights::conversation,
};

/// How long a download link works.
pub const LINK_MINUTES: i64 = 15;

/// The export's format name; bumped when its shape changes.
pub const FORMAT: &str = "consentgate-export-v1";

/// Bot names by id.
pub async fn bot_names(db: &impl ConnectionTrait) -> Result<HashMap<i64, String>, DbErr> {
    Ok(bots::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|b| (b.id, b.name))
        .collect())
}

/// Builds the export of a subject; `None` when no such subject exists (any more).
pub async fn build(
    db: &impl ConnectionTrait,
    keys: &Keys,
    subject_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<Value>, DbErr> {
    let Some(subject) = subjects::Entity::find_by_id(subject_id).one(db).await? else {
        return Ok(None);
    };
    let bot_names = bot_names(db).await?;
    let bot = |id: i64| {
        bot_names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    };

    let identities: Vec<Value> = identity::identities_of(db, keys, subject_id)
        .await?
        .into_iter()
        .map(|i| {
            json!({
                "bot": bot(i.bot_id),
                "channel": i.channel,
                "user_id": i.user_id,
                "chat_id": i.chat_id,
                "first_seen": i.created_at.to_rfc3339(),
                "last_seen": i.last_seen_at.to_rfc3339(),
            })
        })
        .collect();

    let (history, current) = consent_record(db, subject_id, now, &bot).await?;

    let messages: Vec<Value> = conversation::all(db, keys, subject_id)
        .await?
        .into_iter()
        .map(|m| {
            json!({"bot": bot(m.bot_id), "role": m.role.as_str(), "text": m.text, "at": m.at.to_rfc3339(), "names": m.names})
        })
        .collect();

    let (audit, egress) = trail(db, &subject.pseudonym, subject_id, &bot).await?;
    let payments: Vec<Value> = consentgate_entity::payments::Entity::find()
        .filter(consentgate_entity::payments::Column::SubjectId.eq(subject_id))
        .order_by_asc(consentgate_entity::payments::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|p| {
            let charge = keys
                .fernet
                .decrypt(&p.charge_id_enc)
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            let left = if p.refunded_at.is_some() || p.expires_at <= now {
                0
            } else {
                (p.requests - p.used).max(0)
            };
            json!({
                "bot": bot(p.bot_id), "plan": p.plan, "stars": p.stars,
                "requests": p.requests, "used": p.used, "remaining_requests": left,
                "telegram_payment_charge_id": charge,
                "paid_at": p.paid_at.to_rfc3339(), "expires_at": p.expires_at.to_rfc3339(),
                "refunded_at": p.refunded_at.map(|t| t.to_rfc3339()),
            })
        })
        .collect();

    let requests_used: Vec<Value> = consentgate_entity::request_usage::Entity::find()
        .filter(consentgate_entity::request_usage::Column::SubjectId.eq(subject_id))
        .all(db)
        .await?
        .into_iter()
        .map(|u| json!({"bot": bot(u.bot_id), "day": u.day.to_string(), "free_requests": u.count}))
        .collect();

    Ok(Some(json!({
        "format": FORMAT,
        "generated_at": now.to_rfc3339(),
        "subject": {
            "pseudonym": subject.pseudonym,
            "first_seen": subject.created_at.to_rfc3339(),
            "reachable": subject.reachable,
            "erasure_scheduled_for": subject.purge_after.filter(|_| subject.erasure_requested_at.is_some()).map(|t| t.to_rfc3339()),
        },
        "identities": identities,
        "consent": {"current": current, "history": history},
        "conversation": messages,
        // Integrations are linked by business owners; people chatting with a bot have none.
        "integrations": [],
        "audit": audit,
        "egress": egress,
        "payments": payments,
        "requests_used": requests_used,
    })))
}

/// The person's consent record: every decision, and what is in effect now per bot.
async fn consent_record(
    db: &impl ConnectionTrait,
    subject_id: i64,
    now: DateTime<Utc>,
    bot: &impl Fn(i64) -> String,
) -> Result<(Vec<Value>, serde_json::Map<String, Value>), DbErr> {
    let record = consent::Record::load(db, subject_id, now).await?;
    let (events, versions) = (&record.events, &record.versions);
    let history: Vec<Value> = events
        .iter()
        .map(|e| {
            let v = versions.get(&e.policy_version_id);
            json!({
                "bot": bot(e.bot_id),
                "purpose": e.purpose,
                "action": e.action,
                "policy_version": v.map(|v| v.version),
                "policy_label": v.map(|v| v.label.clone()),
                "text_sha256": e.text_sha256,
                "channel": e.channel,
                "method": e.method,
                "platform_message_id": e.platform_message_id,
                "at": e.created_at.to_rfc3339(),
            })
        })
        .collect();
    let current = record
        .current
        .iter()
        .map(|c| {
            let states: serde_json::Map<String, Value> = c
                .states
                .iter()
                .map(|(purpose, state)| (purpose.clone(), json!(state.name())))
                .collect();
            (bot(c.bot_id), Value::Object(states))
        })
        .collect();
    Ok((history, current))
}

/// The audit entries about the person and the egress ledger of what was sent about them.
async fn trail(
    db: &impl ConnectionTrait,
    pseudonym: &str,
    subject_id: i64,
    bot: &impl Fn(i64) -> String,
) -> Result<(Vec<Value>, Vec<Value>), DbErr> {
    let audit: Vec<Value> = audit_log::Entity::find()
        .filter(audit_log::Column::Subject.eq(pseudonym))
        .order_by_asc(audit_log::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|a| {
            json!({
                "seq": a.seq,
                "at": a.at.to_rfc3339(),
                "bot": a.bot_id.map(bot),
                "action": a.action,
                "detail": serde_json::from_str::<Value>(&a.detail).unwrap_or(Value::String(a.detail)),
            })
        })
        .collect();

    let egress: Vec<Value> = egress_ledger::Entity::find()
        .filter(egress_ledger::Column::SubjectId.eq(subject_id))
        .order_by_asc(egress_ledger::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|e| {
            json!({
                "bot": bot(e.bot_id),
                "provider": e.provider,
                "model": e.model,
                "at": e.created_at.to_rfc3339(),
                "payload_sha256": e.payload_sha256,
            })
        })
        .collect();

    Ok((audit, egress))
}

fn token_hash(token: &str) -> String {
    sha256_hex(token)
}

/// Creates a one-time download link's token for a subject.
pub async fn create_link(
    db: &impl ConnectionTrait,
    subject_id: i64,
    bot_id: i64,
    now: DateTime<Utc>,
) -> Result<String, DbErr> {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    export_links::ActiveModel {
        token_sha256: Set(token_hash(&token)),
        subject_id: Set(subject_id),
        bot_id: Set(bot_id),
        created_at: Set(now),
        expires_at: Set(now + Duration::minutes(LINK_MINUTES)),
        used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(token)
}

/// A link that still works: (link id, subject, bot). Nothing is changed yet.
pub async fn find_link(
    db: &impl ConnectionTrait,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<(i64, i64, i64)>, DbErr> {
    if token.len() != 43 {
        return Ok(None);
    }
    Ok(export_links::Entity::find()
        .filter(export_links::Column::TokenSha256.eq(token_hash(token)))
        .filter(export_links::Column::UsedAt.is_null())
        .filter(export_links::Column::ExpiresAt.gt(now))
        .one(db)
        .await?
        .map(|l| (l.id, l.subject_id, l.bot_id)))
}

/// Uses a link up, once the export is ready to send. `false` when another request used it
/// first: the conditional update is atomic, so two racing downloads get one file.
pub async fn use_link(
    db: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    Ok(export_links::Entity::update_many()
        .col_expr(export_links::Column::UsedAt, Expr::value(Some(now)))
        .filter(export_links::Column::Id.eq(id))
        .filter(export_links::Column::UsedAt.is_null())
        .filter(export_links::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}
