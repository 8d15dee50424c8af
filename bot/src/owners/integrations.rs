//! Business owners and the accounts they link: invites and `/claim`, the OAuth dance behind
//! `/link`, `/links`, `/unlink`, revocation (by the owner, an admin, or erasure), and keeping
//! links alive with refresh tokens. Tokens are stored only Fernet-encrypted and never appear in
//! a reply, a log line, an error or the admin API.

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;

use consentgate_entity::{integrations, subjects};

use super::status::{Remote, Status};
use crate::{
    audit::AuditLog, config::OAuthProvider, privacy::keys::Keys, rights::notify::Notifier,
};

/// How long an OAuth `state` (and so an approval in the browser) is valid.
pub const STATE_MINUTES: i64 = 10;
/// How long an owner invite code is valid.
pub const INVITE_DAYS: i64 = 7;
/// Access tokens expiring within this are refreshed by the sweep.
pub const REFRESH_AHEAD_MINUTES: i64 = 5;

/// Everything integrations need; shared by the pipeline, the HTTP callback, the admin API and
/// the CLI.
pub struct Integrations {
    pub db: DatabaseConnection,
    pub keys: Arc<Keys>,
    pub audit: AuditLog,
    pub providers: Vec<OAuthProvider>,
    /// `{public_url}`; callbacks go to `{base}/oauth/{provider}/callback`.
    pub public_base: String,
    pub notifier: Arc<Notifier>,
    /// Owners from the configuration: pseudonyms per bot id.
    pub configured_owners: HashMap<i64, Vec<String>>,
    pub http: reqwest::Client,
    /// One lock per link, held while its tokens are refreshed (by the sweep or for a tool), so
    /// this process never sends one refresh token twice.
    pub refreshing: RefreshLocks,
}

/// The per-link refresh locks.
#[derive(Default)]
pub struct RefreshLocks(std::sync::Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>);

impl RefreshLocks {
    /// The lock of link `id`.
    pub fn of(&self, id: i64) -> Arc<tokio::sync::Mutex<()>> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id)
            .or_default()
            .clone()
    }
}

/// A linked account as owners and admins see it: never a token.
#[derive(Clone, Debug, Serialize)]
pub struct Link {
    pub id: i64,
    pub bot: String,
    pub owner: String,
    pub provider: String,
    pub scopes: Vec<String>,
    pub status: Status,
    pub linked_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Filters for listing.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub bot_id: Option<i64>,
    pub provider: Option<String>,
    /// A pseudonym (or its first 8+ hex digits).
    pub owner: Option<String>,
    pub status: Option<Status>,
}

/// What revoking did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Revoked {
    pub id: i64,
    pub provider: String,
    pub remote: Remote,
}

/// Why a callback was refused. Each says what happened in words for the owner's browser.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("This link is not valid. Start again with /link in the chat.")]
    UnknownState,
    #[error("This link was already used. Start again with /link in the chat.")]
    Used,
    #[error(
        "This link has expired (links work for 10 minutes). Start again with /link in the chat."
    )]
    Expired,
    #[error("This link belongs to another provider. Start again with /link in the chat.")]
    Foreign,
    #[error("The approval was not given ({0}). Nothing was linked.")]
    Denied(String),
    #[error("The provider did not accept the approval ({0}). Nothing was linked.")]
    Exchange(String),
    #[error("Something went wrong on our side; nothing was linked. Please try again.")]
    Database(#[from] DbErr),
}

impl CallbackError {
    pub fn status(&self) -> u16 {
        match self {
            CallbackError::Database(_) => 503,
            CallbackError::Exchange(_) => 502,
            _ => 400,
        }
    }
}

impl Integrations {
    pub fn provider(&self, name: &str) -> Option<&OAuthProvider> {
        self.providers.iter().find(|p| p.name == name)
    }

    pub(super) fn redirect_uri(&self, provider: &str) -> String {
        format!(
            "{}/oauth/{provider}/callback",
            self.public_base.trim_end_matches('/')
        )
    }

    pub(super) fn open(&self, token: Option<&str>) -> Option<String> {
        let token = token?;
        let bytes = self.keys.fernet.decrypt(token).ok()?;
        String::from_utf8(bytes).ok()
    }

    pub async fn list(&self, filter: &Filter) -> Result<Vec<Link>, DbErr> {
        let mut q = integrations::Entity::find().order_by_asc(integrations::Column::Id);
        if let Some(bot) = filter.bot_id {
            q = q.filter(integrations::Column::BotId.eq(bot));
        }
        if let Some(p) = &filter.provider {
            q = q.filter(integrations::Column::Provider.eq(p.clone()));
        }
        if let Some(s) = &filter.status {
            q = q.filter(integrations::Column::Status.eq(s.as_str()));
        }
        if let Some(owner) = &filter.owner {
            // A pseudonym prefix of hex digits only: `%` or `_` would be LIKE wildcards.
            if owner.len() < 8 || !owner.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(Vec::new());
            }
            let ids: Vec<i64> = subjects::Entity::find()
                .filter(subjects::Column::Pseudonym.starts_with(owner.to_ascii_lowercase()))
                .all(&self.db)
                .await?
                .into_iter()
                .map(|s| s.id)
                .collect();
            q = q.filter(integrations::Column::OwnerSubjectId.is_in(ids));
        }
        let rows = q.all(&self.db).await?;
        let names = crate::rights::export::bot_names(&self.db).await?;
        let owners: HashMap<i64, String> = subjects::Entity::find()
            .filter(
                subjects::Column::Id
                    .is_in(rows.iter().map(|r| r.owner_subject_id).collect::<Vec<_>>()),
            )
            .all(&self.db)
            .await?
            .into_iter()
            .map(|s| (s.id, s.pseudonym))
            .collect();
        rows.into_iter()
            .map(|r| {
                let owner = owners.get(&r.owner_subject_id).cloned().unwrap_or_default();
                view(r, &names, &owner)
            })
            .collect()
    }
}

/// When a token given `expires_in` seconds now expires; a provider's absurd value cannot
/// overflow the clock (at most a year).
pub(super) fn expiry(now: DateTime<Utc>, expires_in: i64) -> DateTime<Utc> {
    now + Duration::seconds(expires_in.clamp(0, 366 * 24 * 3600))
}

/// A stored row as owners and admins see it; a status the gateway never writes is an error.
pub(super) fn view(
    r: integrations::Model,
    names: &HashMap<i64, String>,
    owner: &str,
) -> Result<Link, DbErr> {
    Ok(Link {
        id: r.id,
        bot: names
            .get(&r.bot_id)
            .cloned()
            .unwrap_or_else(|| r.bot_id.to_string()),
        owner: owner.to_string(),
        provider: r.provider,
        scopes: r.scopes.split_whitespace().map(str::to_string).collect(),
        status: Status::parse(&r.status).map_err(|e| DbErr::Type(e.to_string()))?,
        linked_at: r.linked_at,
        last_used_at: r.last_used_at,
        last_refreshed_at: r.last_refreshed_at,
        expires_at: r.expires_at,
        revoked_at: r.revoked_at,
    })
}
