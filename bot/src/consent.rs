//! Consent: the policy versions people agree to, and the append-only record of their decisions.
//!
//! A person may use the assistant only while their latest decision for the `assistant` purpose is
//! a grant of the *current* policy version. Every grant, refusal and withdrawal is a new row
//! pinned to the version and the SHA-256 of the exact text shown; rows are never changed.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, Set,
};
use sha2::{Digest, Sha256};

use consentgate_adapters::ChannelKind;
use consentgate_entity::{consent_events, policy_versions};

use crate::{audit::AuditLog, pseudonym::Pseudonym};

/// The purpose the assistant needs: messages are processed by the configured LLM provider.
pub const PURPOSE_ASSISTANT: &str = "assistant";

/// The policy shown when the configuration names no policy file.
pub const DEFAULT_POLICY: &str = "\
Before we chat: how your messages are handled

• This assistant answers with the help of an AI service. To do that, the text of each message you \
send is passed to that service together with a random-looking code instead of your name or \
account id.
• Your messages are not kept after the answer is sent.
• We keep a record of your choices here (agree, decline, withdraw) as proof, and an encrypted \
copy of your chat id so we can reply.
• You can change your mind at any time: /revoke withdraws your consent, /privacy shows this text \
and your current choice.

Do you agree to your messages being processed this way?";

/// A published version of a bot's policy.
#[derive(Clone, Debug)]
pub struct Policy {
    pub id: i64,
    pub version: i32,
    pub label: String,
    pub text: String,
    pub text_sha256: String,
    pub effective_at: DateTime<Utc>,
}

impl From<policy_versions::Model> for Policy {
    fn from(m: policy_versions::Model) -> Self {
        Policy {
            id: m.id,
            version: m.version,
            label: m.label,
            text: m.text,
            text_sha256: m.text_sha256,
            effective_at: m.effective_at,
        }
    }
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Makes `text` the bot's current policy: the latest version when the text is unchanged, else a
/// new version (earlier grants then no longer count, and people are asked again).
pub async fn ensure_policy(
    db: &DatabaseConnection,
    bot_id: i64,
    label: &str,
    text: &str,
) -> Result<Policy, DbErr> {
    let hash = sha256_hex(text);
    for _ in 0..3 {
        let latest = current_policy(db, bot_id).await?;
        if let Some(latest) = &latest
            && latest.text_sha256 == hash
        {
            return Ok(latest.clone());
        }
        let now = Utc::now();
        let inserted = policy_versions::ActiveModel {
            bot_id: Set(bot_id),
            version: Set(latest.map_or(1, |l| l.version + 1)),
            label: Set(label.to_string()),
            text: Set(text.to_string()),
            text_sha256: Set(hash.clone()),
            effective_at: Set(now),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await;
        match inserted {
            Ok(model) => return Ok(model.into()),
            // Another replica published at the same moment; read again.
            Err(_) => continue,
        }
    }
    current_policy(db, bot_id)
        .await?
        .ok_or_else(|| DbErr::Custom("could not publish the policy".into()))
}

/// The newest policy version of a bot.
pub async fn current_policy(
    db: &impl ConnectionTrait,
    bot_id: i64,
) -> Result<Option<Policy>, DbErr> {
    Ok(policy_versions::Entity::find()
        .filter(policy_versions::Column::BotId.eq(bot_id))
        .order_by_desc(policy_versions::Column::Version)
        .one(db)
        .await?
        .map(Policy::from))
}

/// A policy version by id.
pub async fn policy_by_id(db: &impl ConnectionTrait, id: i64) -> Result<Option<Policy>, DbErr> {
    Ok(policy_versions::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(Policy::from))
}

/// What a person decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Given,
    Refused,
    Withdrawn,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Given => "given",
            Action::Refused => "refused",
            Action::Withdrawn => "withdrawn",
        }
    }
}

/// How the decision was expressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Button,
    Command,
    Keyword,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Button => "button",
            Method::Command => "command",
            Method::Keyword => "keyword",
        }
    }
}

/// Where a person stands for one purpose, against the current policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    NotAsked,
    Given {
        at: DateTime<Utc>,
    },
    /// Granted for an earlier policy version: must be asked again.
    Outdated {
        at: DateTime<Utc>,
    },
    Refused {
        at: DateTime<Utc>,
    },
    Withdrawn {
        at: DateTime<Utc>,
    },
}

impl State {
    pub fn allows_processing(&self) -> bool {
        matches!(self, State::Given { .. })
    }
}

/// The latest decision of a subject for a purpose on a bot.
pub async fn latest(
    db: &impl ConnectionTrait,
    subject_id: i64,
    bot_id: i64,
    purpose: &str,
) -> Result<Option<consent_events::Model>, DbErr> {
    consent_events::Entity::find()
        .filter(consent_events::Column::SubjectId.eq(subject_id))
        .filter(consent_events::Column::BotId.eq(bot_id))
        .filter(consent_events::Column::Purpose.eq(purpose))
        .order_by_desc(consent_events::Column::Id)
        .one(db)
        .await
}

/// Reads the state for `purpose` against `policy`.
pub async fn state(
    db: &impl ConnectionTrait,
    subject_id: i64,
    bot_id: i64,
    purpose: &str,
    policy: &Policy,
) -> Result<State, DbErr> {
    let event = latest(db, subject_id, bot_id, purpose).await?;
    Ok(state_of(event.as_ref(), policy))
}

/// The state a latest decision gives against `policy`.
pub fn state_of(latest: Option<&consent_events::Model>, policy: &Policy) -> State {
    match latest {
        None => State::NotAsked,
        Some(e) => match e.action.as_str() {
            "given" if e.policy_version_id == policy.id => State::Given { at: e.created_at },
            "given" => State::Outdated { at: e.created_at },
            "refused" => State::Refused { at: e.created_at },
            _ => State::Withdrawn { at: e.created_at },
        },
    }
}

/// A decision about to be recorded.
pub struct Decision<'a> {
    pub subject_id: i64,
    pub pseudonym: &'a Pseudonym,
    pub bot_id: i64,
    pub purpose: &'a str,
    pub action: Action,
    pub policy: &'a Policy,
    pub channel: ChannelKind,
    pub method: Method,
    pub platform_message_id: Option<String>,
}

/// Appends the decision and its audit entry in one transaction: both are kept or neither.
pub async fn record(
    db: &DatabaseConnection,
    audit: &AuditLog,
    d: Decision<'_>,
) -> Result<(), DbErr> {
    let txn = crate::audit::begin(db).await?;
    consent_events::ActiveModel {
        subject_id: Set(d.subject_id),
        bot_id: Set(d.bot_id),
        purpose: Set(d.purpose.to_string()),
        action: Set(d.action.as_str().to_string()),
        policy_version_id: Set(d.policy.id),
        text_sha256: Set(d.policy.text_sha256.clone()),
        channel: Set(d.channel.as_str().to_string()),
        method: Set(d.method.as_str().to_string()),
        platform_message_id: Set(d.platform_message_id),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit
        .append(
            &txn,
            Some(d.bot_id),
            Some(d.pseudonym),
            &format!("consent.{}", d.action.as_str()),
            serde_json::json!({
                "purpose": d.purpose,
                "policy_version": d.policy.version,
                "method": d.method.as_str(),
                "channel": d.channel.as_str(),
            }),
        )
        .await?;
    txn.commit().await
}

/// A subject's whole consent record on a bot, oldest first.
pub async fn history(
    db: &DatabaseConnection,
    subject_id: i64,
    bot_id: i64,
) -> Result<Vec<consent_events::Model>, DbErr> {
    consent_events::Entity::find()
        .filter(consent_events::Column::SubjectId.eq(subject_id))
        .filter(consent_events::Column::BotId.eq(bot_id))
        .order_by_asc(consent_events::Column::Id)
        .all(db)
        .await
}
