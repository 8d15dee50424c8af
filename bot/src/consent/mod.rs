//! Consent: the policy versions people agree to, their purposes, and the append-only record of
//! every decision.
//!
//! A policy version holds the general text and the purposes, each with its own text, hash and
//! whether it is required. A grant counts while the text it was given for is still the text of
//! that purpose in the current version: when a purpose's text changes, the grant must be
//! renewed, and nothing else does. Every grant, refusal, withdrawal and expiry is a new row
//! pinned to the version and the SHA-256 of the purpose text; rows are never changed, and are
//! deleted only with the person.

pub mod policy;
mod record;

pub use record::{InEffect, Record};

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::{Expr, ExprTrait, Query, QueryStatementBuilder, SelectStatement, SimpleExpr},
};
use serde::{Deserialize, Serialize};

use consentgate_adapters::ChannelKind;
use consentgate_entity::{consent_events, policy_versions, subjects};

use crate::privacy::digest::sha256_hex;
use crate::{audit::AuditLog, privacy::pseudonym::Pseudonym};

/// Messages are processed by the configured LLM provider. Always required.
pub const PURPOSE_ASSISTANT: &str = "assistant";
/// The conversation is kept for context. Without it no message text is stored.
pub const PURPOSE_HISTORY: &str = "history";
/// Business-initiated messages. STOP withdraws it, START gives it.
pub const PURPOSE_MARKETING: &str = "marketing";
/// Voice notes sent to the transcription service (offered when one is configured).
pub const PURPOSE_VOICE: &str = "voice";
/// Pictures passed to a model that accepts them (offered when one does).
pub const PURPOSE_IMAGES: &str = "images";
/// Optional: tools may write the person's details to the business's Google Sheets.
pub const PURPOSE_SHEETS: &str = "sheets";
/// Optional: tools may save the person as a contact in the business's CRM.
pub const PURPOSE_CRM: &str = "crm";

/// The general policy text shown when the configuration names no policy file. The purposes
/// follow it, each with its own text.
pub const DEFAULT_POLICY: &str = "\
Before we chat: how your messages are handled

This assistant is run by the business you are writing to. You are known here by a random-looking \
code, not by your name or account id; your chat id is kept encrypted so that we can reply, and a \
record of your choices is kept as proof.

Your rights, at any time and without giving a reason:
/privacy — this summary and your current choices
/consent — change each choice
/revoke — withdraw everything at once
/export — a copy of everything stored about you
/delete — erase your data (you can /restore it for a while)
STOP — no marketing messages";

/// One purpose of a policy version, as shown to people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purpose {
    pub name: String,
    pub title: String,
    pub text: String,
    /// SHA-256 of `text`, hex: what a grant is pinned to.
    pub text_sha256: String,
    pub required: bool,
}

impl Purpose {
    pub fn new(name: &str, title: &str, text: &str, required: bool) -> Self {
        Purpose {
            name: name.to_string(),
            title: title.to_string(),
            text: text.to_string(),
            text_sha256: sha256_hex(text),
            required,
        }
    }
}

/// A published version of a bot's policy.
#[derive(Clone, Debug)]
pub struct Policy {
    pub id: i64,
    pub version: i32,
    pub label: String,
    pub text: String,
    pub text_sha256: String,
    pub summary: String,
    pub effective_at: DateTime<Utc>,
    pub purposes: Vec<Purpose>,
    /// Replaces the configured system prompt while this version is in effect.
    pub system_prompt: Option<String>,
}

impl Policy {
    pub fn purpose(&self, name: &str) -> Option<&Purpose> {
        self.purposes.iter().find(|p| p.name == name)
    }

    pub fn required(&self) -> impl Iterator<Item = &Purpose> {
        self.purposes.iter().filter(|p| p.required)
    }

    pub fn optional(&self) -> impl Iterator<Item = &Purpose> {
        self.purposes.iter().filter(|p| !p.required)
    }
}

impl From<policy_versions::Model> for Policy {
    fn from(m: policy_versions::Model) -> Self {
        let purposes = m
            .purposes
            .as_deref()
            .and_then(|json| serde_json::from_str::<Vec<Purpose>>(json).ok())
            // Versions from before purposes: the whole text was the assistant purpose.
            .unwrap_or_else(|| {
                vec![Purpose {
                    name: PURPOSE_ASSISTANT.into(),
                    title: "Answers from the assistant".into(),
                    text: m.text.clone(),
                    text_sha256: m.text_sha256.clone(),
                    required: true,
                }]
            });
        Policy {
            id: m.id,
            version: m.version,
            label: m.label,
            text: m.text,
            text_sha256: m.text_sha256,
            summary: m.summary,
            effective_at: m.effective_at,
            purposes,
            system_prompt: m.system_prompt,
        }
    }
}

/// A policy about to be published.
#[derive(Clone, Debug)]
pub struct Draft {
    pub label: String,
    pub text: String,
    pub summary: String,
    pub effective_at: DateTime<Utc>,
    pub purposes: Vec<Purpose>,
    /// See [`Policy::system_prompt`].
    pub system_prompt: Option<String>,
}

impl Draft {
    /// Whether `policy` already says exactly this (text, purposes and system prompt).
    pub fn same_as(&self, policy: &Policy) -> bool {
        policy.text_sha256 == sha256_hex(&self.text)
            && policy.purposes == self.purposes
            && policy.system_prompt == self.system_prompt
    }

    /// This draft with a bot's settings from the console applied: their purpose texts replace
    /// the configured ones, their system prompt the configured one.
    pub fn for_bot(&self, settings: Option<&consentgate_entity::bot_settings::Model>) -> Draft {
        let mut draft = self.clone();
        let Some(settings) = settings else {
            return draft;
        };
        let texts: std::collections::BTreeMap<String, String> = settings
            .purpose_texts
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default();
        for purpose in &mut draft.purposes {
            if let Some(text) = texts.get(&purpose.name) {
                *purpose = Purpose::new(&purpose.name, &purpose.title, text, purpose.required);
            }
        }
        draft.system_prompt = settings.system_prompt.clone();
        draft
    }
}

/// Stores `draft` as the bot's next version.
pub async fn publish(db: &DatabaseConnection, bot_id: i64, draft: &Draft) -> Result<Policy, DbErr> {
    let purposes = serde_json::to_string(&draft.purposes)
        .map_err(|e| DbErr::Custom(format!("purposes: {e}")))?;
    let mut last_err = None;
    for _ in 0..5 {
        let newest = policy_versions::Entity::find()
            .filter(policy_versions::Column::BotId.eq(bot_id))
            .order_by_desc(policy_versions::Column::Version)
            .one(db)
            .await?;
        let inserted = policy_versions::ActiveModel {
            bot_id: Set(bot_id),
            version: Set(newest.map_or(1, |l| l.version + 1)),
            label: Set(draft.label.clone()),
            text: Set(draft.text.clone()),
            text_sha256: Set(sha256_hex(&draft.text)),
            summary: Set(draft.summary.clone()),
            purposes: Set(Some(purposes.clone())),
            system_prompt: Set(draft.system_prompt.clone()),
            effective_at: Set(draft.effective_at),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(db)
        .await;
        match inserted {
            Ok(model) => return Ok(model.into()),
            // Another process took this version number at the same moment; number again.
            Err(err) => last_err = Some(err),
        }
    }
    Err(last_err.unwrap_or_else(|| DbErr::Custom("could not publish the policy".into())))
}

/// At start-up: publishes `draft` as version 1 when the bot has no policy yet; otherwise returns
/// the current version and whether the configuration now says something else (publishing a
/// change is a deliberate act: `consentgate policy publish`).
pub async fn ensure_initial(
    db: &DatabaseConnection,
    bot_id: i64,
    draft: &Draft,
) -> Result<(Policy, bool), DbErr> {
    if let Some(current) = current_policy(db, bot_id, Utc::now()).await? {
        let differs = !draft.same_as(&current);
        return Ok((current, differs));
    }
    let any = policy_versions::Entity::find()
        .filter(policy_versions::Column::BotId.eq(bot_id))
        .one(db)
        .await?;
    if any.is_some() {
        // Only versions effective in the future exist: nothing is in effect yet, so the first
        // one takes effect now.
        let mut now = draft.clone();
        now.effective_at = Utc::now();
        return Ok((publish(db, bot_id, &now).await?, false));
    }
    match publish(db, bot_id, draft).await {
        Ok(policy) => Ok((policy, false)),
        Err(err) => match current_policy(db, bot_id, Utc::now()).await? {
            // Another replica published it first.
            Some(policy) => Ok((policy, false)),
            None => Err(err),
        },
    }
}

/// The version in effect at `now`: the newest whose effective date has come.
pub async fn current_policy(
    db: &impl ConnectionTrait,
    bot_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<Policy>, DbErr> {
    // The newest version by a subquery rather than `ORDER BY … LIMIT ?`: SQLite compiles a
    // statement with a bound `LIMIT` again on every run.
    policy_version(db, bot_id, version_in_effect(bot_id, now)).await
}

/// The number of the version in effect at `now`, as an expression to read along with another
/// statement (NULL while none is).
pub fn version_in_effect(bot_id: i64, now: DateTime<Utc>) -> SimpleExpr {
    SimpleExpr::SubQuery(
        None,
        Box::new(newest_in_effect(bot_id, now).into_sub_query_statement()),
    )
}

fn newest_in_effect(bot_id: i64, now: DateTime<Utc>) -> SelectStatement {
    Query::select()
        .expr(Expr::col(policy_versions::Column::Version).max())
        .from(policy_versions::Entity)
        .and_where(policy_versions::Column::BotId.eq(bot_id))
        .and_where(policy_versions::Column::EffectiveAt.lte(now))
        .to_owned()
}

/// A version by its number. Versions are never changed once published, so whoever read one
/// may keep it.
pub async fn policy_version(
    db: &impl ConnectionTrait,
    bot_id: i64,
    version: impl Into<SimpleExpr>,
) -> Result<Option<Policy>, DbErr> {
    Ok(policy_versions::Entity::find()
        .filter(policy_versions::Column::BotId.eq(bot_id))
        .filter(Expr::col(policy_versions::Column::Version).eq(version.into()))
        .all(db)
        .await?
        .pop()
        .map(Policy::from))
}

/// Every version of a bot's policy, oldest first.
pub async fn versions(db: &impl ConnectionTrait, bot_id: i64) -> Result<Vec<Policy>, DbErr> {
    Ok(policy_versions::Entity::find()
        .filter(policy_versions::Column::BotId.eq(bot_id))
        .order_by_asc(policy_versions::Column::Version)
        .all(db)
        .await?
        .into_iter()
        .map(Policy::from)
        .collect())
}

/// A policy version by id.
pub async fn policy_by_id(db: &impl ConnectionTrait, id: i64) -> Result<Option<Policy>, DbErr> {
    Ok(policy_versions::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(Policy::from))
}

/// What a person decided, or what happened to their decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Given,
    Refused,
    Withdrawn,
    /// The purpose's text changed after the grant; the grant no longer counts.
    Expired,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Given => "given",
            Action::Refused => "refused",
            Action::Withdrawn => "withdrawn",
            Action::Expired => "expired",
        }
    }

    /// The audit entry that records the decision.
    pub fn audit(self) -> crate::audit::Action {
        match self {
            Action::Given => crate::audit::Action::ConsentGiven,
            Action::Refused => crate::audit::Action::ConsentRefused,
            Action::Withdrawn => crate::audit::Action::ConsentWithdrawn,
            Action::Expired => crate::audit::Action::ConsentExpired,
        }
    }
}

/// How the decision was expressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Button,
    Command,
    Keyword,
    /// Not the person's act: a new policy version changed the purpose's text.
    PolicyChange,
    /// A setting in the platform's own interface (WhatsApp's marketing stop/resume).
    PlatformSetting,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Button => "button",
            Method::Command => "command",
            Method::Keyword => "keyword",
            Method::PolicyChange => "policy_change",
            Method::PlatformSetting => "platform_setting",
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
    /// Granted for a text the purpose no longer has: must be asked again.
    Outdated {
        at: DateTime<Utc>,
    },
    Refused {
        at: DateTime<Utc>,
    },
    Withdrawn {
        at: DateTime<Utc>,
    },
    /// An earlier grant lapsed when the text changed; the person has not decided again.
    Expired {
        at: DateTime<Utc>,
    },
}

impl State {
    pub fn allows_processing(&self) -> bool {
        matches!(self, State::Given { .. })
    }

    /// A short name for replies and exports.
    pub fn name(&self) -> &'static str {
        match self {
            State::NotAsked => "not_asked",
            State::Given { .. } => "given",
            State::Outdated { .. } => "outdated",
            State::Refused { .. } => "refused",
            State::Withdrawn { .. } => "withdrawn",
            State::Expired { .. } => "expired",
        }
    }
}

/// The state a latest decision gives against the current text of its purpose.
pub fn state_of(latest: Option<&consent_events::Model>, purpose: &Purpose) -> State {
    match latest {
        None => State::NotAsked,
        Some(e) => match e.action.as_str() {
            "given" if e.text_sha256 == purpose.text_sha256 => State::Given { at: e.created_at },
            "given" => State::Outdated { at: e.created_at },
            "refused" => State::Refused { at: e.created_at },
            "expired" => State::Expired { at: e.created_at },
            _ => State::Withdrawn { at: e.created_at },
        },
    }
}

/// A person's latest decision per purpose on one bot.
#[derive(Clone, Debug, Default)]
pub struct Choices {
    latest: HashMap<String, consent_events::Model>,
}

impl Choices {
    /// Reads the record of a subject on a bot.
    pub async fn load(
        db: &impl ConnectionTrait,
        subject_id: i64,
        bot_id: i64,
    ) -> Result<Choices, DbErr> {
        let events = consent_events::Entity::find()
            .filter(consent_events::Column::SubjectId.eq(subject_id))
            .filter(consent_events::Column::BotId.eq(bot_id))
            .order_by_asc(consent_events::Column::Id)
            .all(db)
            .await?;
        Ok(Choices::from_events(events))
    }

    /// The record made of a subject's events on one bot, oldest first.
    pub fn from_events(events: impl IntoIterator<Item = consent_events::Model>) -> Choices {
        let mut latest = HashMap::new();
        for e in events {
            latest.insert(e.purpose.clone(), e);
        }
        Choices { latest }
    }

    pub fn latest(&self, purpose: &str) -> Option<&consent_events::Model> {
        self.latest.get(purpose)
    }

    pub fn state(&self, purpose: &Purpose) -> State {
        state_of(self.latest(&purpose.name), purpose)
    }

    /// Whether every required purpose of `policy` is granted for its current text.
    pub fn may_process(&self, policy: &Policy) -> bool {
        policy.required().all(|p| self.state(p).allows_processing())
    }

    pub fn allows(&self, policy: &Policy, purpose: &str) -> bool {
        policy
            .purpose(purpose)
            .is_some_and(|p| self.state(p).allows_processing())
    }

    /// The latest decisions that are grants (current or outdated), of any purpose.
    pub fn granted(&self) -> impl Iterator<Item = &consent_events::Model> {
        self.latest.values().filter(|e| e.action == "given")
    }

    /// Remembers a decision just recorded, so later checks in the same turn see it.
    pub fn note(&mut self, event: consent_events::Model) {
        self.latest.insert(event.purpose.clone(), event);
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
    /// SHA-256 of the purpose text the decision is about.
    pub text_sha256: &'a str,
    pub channel: ChannelKind,
    pub method: Method,
    pub platform_message_id: Option<String>,
}

/// Appends the decision and its audit entry in one transaction: both are kept or neither.
/// Takes the person's row lock for the rest of the transaction: a consent decision and a forward
/// of the same person are thereby decided one after the other, each seeing the other if it came
/// first. PostgreSQL: `SELECT … FOR UPDATE`. SQLite has one writer at a time, and a transaction
/// that reads before it writes fails when another wrote meanwhile: there, a write that changes
/// nothing takes the file's write lock first, before anything is read. Call it first.
pub async fn lock_person(txn: &impl ConnectionTrait, subject_id: i64) -> Result<bool, DbErr> {
    match txn.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => Ok(subjects::Entity::find_by_id(subject_id)
            .lock_exclusive()
            .one(txn)
            .await?
            .is_some()),
        _ => Ok(subjects::Entity::update_many()
            .col_expr(
                subjects::Column::Reachable,
                Expr::col(subjects::Column::Reachable),
            )
            .filter(subjects::Column::Id.eq(subject_id))
            .exec(txn)
            .await?
            .rows_affected
            > 0),
    }
}

/// Whether the person may be processed at this moment, read in `txn` after [`lock_person`]:
/// every required purpose granted for its current text, and no erasure pending.
pub async fn may_process_now(
    txn: &impl ConnectionTrait,
    subject_id: i64,
    bot_id: i64,
    policy: &Policy,
) -> Result<bool, DbErr> {
    let erasing = subjects::Entity::find_by_id(subject_id)
        .one(txn)
        .await?
        .is_none_or(|s| s.erasure_requested_at.is_some());
    if erasing {
        return Ok(false);
    }
    Ok(Choices::load(txn, subject_id, bot_id)
        .await?
        .may_process(policy))
}

pub async fn record(
    db: &DatabaseConnection,
    audit: &AuditLog,
    d: Decision<'_>,
) -> Result<consent_events::Model, DbErr> {
    let txn = crate::audit::begin(db).await?;
    lock_person(&txn, d.subject_id).await?;
    let event = consent_events::ActiveModel {
        subject_id: Set(d.subject_id),
        bot_id: Set(d.bot_id),
        purpose: Set(d.purpose.to_string()),
        action: Set(d.action.as_str().to_string()),
        policy_version_id: Set(d.policy.id),
        text_sha256: Set(d.text_sha256.to_string()),
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
            d.action.audit(),
            serde_json::json!({
                "purpose": d.purpose,
                "policy_version": d.policy.version,
                "text_sha256": d.text_sha256,
                "method": d.method.as_str(),
                "channel": d.channel.as_str(),
            }),
        )
        .await?;
    txn.commit().await?;
    Ok(event)
}

/// A subject's whole consent record, oldest first: on one bot, or on all with `None`.
pub async fn history(
    db: &impl ConnectionTrait,
    subject_id: i64,
    bot_id: Option<i64>,
) -> Result<Vec<consent_events::Model>, DbErr> {
    let mut query =
        consent_events::Entity::find().filter(consent_events::Column::SubjectId.eq(subject_id));
    if let Some(bot) = bot_id {
        query = query.filter(consent_events::Column::BotId.eq(bot));
    }
    query.order_by_asc(consent_events::Column::Id).all(db).await
}
