//! Business owners and the accounts they link: invites and `/claim`, the OAuth dance behind
//! `/link`, `/links`, `/unlink`, revocation (by the owner, an admin, or erasure), and keeping
//! links alive with refresh tokens. Tokens are stored only Fernet-encrypted and never appear in
//! a reply, a log line, an error or the admin API.

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set, sea_query::Expr,
};
use serde::Serialize;

use consentgate_entity::{integrations, oauth_states, owner_invites, owners, subjects};

use super::status::{Remote, Status};
use crate::audit::Action;
use crate::privacy::digest::{self, sha256_hex};
use crate::{
    audit::AuditLog,
    config::OAuthProvider,
    owners::oauth::{self, OAuthError},
    privacy::keys::Keys,
    privacy::pseudonym::Pseudonym,
    rights::notify::Notifier,
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

fn secret_hash(value: &str) -> String {
    sha256_hex(value)
}

impl Integrations {
    pub fn provider(&self, name: &str) -> Option<&OAuthProvider> {
        self.providers.iter().find(|p| p.name == name)
    }

    fn redirect_uri(&self, provider: &str) -> String {
        format!(
            "{}/oauth/{provider}/callback",
            self.public_base.trim_end_matches('/')
        )
    }

    fn open(&self, token: Option<&str>) -> Option<String> {
        let token = token?;
        let bytes = self.keys.fernet.decrypt(token).ok()?;
        String::from_utf8(bytes).ok()
    }

    // ---- owners ----

    /// Whether the subject owns the bot, by invite or by configuration.
    pub async fn is_owner(
        &self,
        bot_id: i64,
        subject_id: i64,
        pseudonym: &Pseudonym,
    ) -> Result<bool, DbErr> {
        if self
            .configured_owners
            .get(&bot_id)
            .is_some_and(|list| list.iter().any(|p| p == pseudonym.as_str()))
        {
            return Ok(true);
        }
        Ok(owners::Entity::find()
            .filter(owners::Column::BotId.eq(bot_id))
            .filter(owners::Column::SubjectId.eq(subject_id))
            .one(&self.db)
            .await?
            .is_some())
    }

    /// A one-time invite code for a bot (`consentgate owners invite`). Only its hash is stored.
    pub async fn invite(&self, bot_id: i64, now: DateTime<Utc>) -> Result<String, DbErr> {
        let code = format!("cg-{}", digest::random_token());
        owner_invites::ActiveModel {
            bot_id: Set(bot_id),
            code_sha256: Set(secret_hash(&code)),
            created_at: Set(now),
            expires_at: Set(now + Duration::days(INVITE_DAYS)),
            used_at: Set(None),
            ..Default::default()
        }
        .insert(&self.db)
        .await?;
        self.audit
            .record(
                &self.db,
                Some(bot_id),
                None,
                Action::OwnerInvited,
                serde_json::json!({"expires_days": INVITE_DAYS}),
            )
            .await?;
        Ok(code)
    }

    /// `/claim CODE`: uses the code once and makes the sender an owner. `false` when the code
    /// is unknown, used, expired or for another bot.
    pub async fn claim(
        &self,
        bot_id: i64,
        subject_id: i64,
        pseudonym: &Pseudonym,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, DbErr> {
        let code = code.trim();
        if code.is_empty() || code.len() > 100 {
            return Ok(false);
        }
        let txn = crate::audit::begin(&self.db).await?;
        let taken = owner_invites::Entity::update_many()
            .col_expr(owner_invites::Column::UsedAt, Expr::value(Some(now)))
            .filter(owner_invites::Column::CodeSha256.eq(secret_hash(code)))
            .filter(owner_invites::Column::BotId.eq(bot_id))
            .filter(owner_invites::Column::UsedAt.is_null())
            .filter(owner_invites::Column::ExpiresAt.gt(now))
            .exec(&txn)
            .await?
            .rows_affected;
        if taken != 1 {
            return Ok(false);
        }
        let exists = owners::Entity::find()
            .filter(owners::Column::BotId.eq(bot_id))
            .filter(owners::Column::SubjectId.eq(subject_id))
            .one(&txn)
            .await?
            .is_some();
        if !exists {
            owners::ActiveModel {
                bot_id: Set(bot_id),
                subject_id: Set(subject_id),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
        }
        self.audit
            .append(
                &txn,
                Some(bot_id),
                Some(pseudonym),
                Action::OwnerClaimed,
                serde_json::json!({}),
            )
            .await?;
        txn.commit().await?;
        Ok(true)
    }

    // ---- linking ----

    /// Starts the OAuth dance: a single-use `state` bound to (bot, chat, person, provider), and
    /// the authorization URL with its PKCE challenge.
    pub async fn start(
        &self,
        provider: &OAuthProvider,
        bot_id: i64,
        subject_id: i64,
        pseudonym: &Pseudonym,
        chat_id: &str,
        now: DateTime<Utc>,
    ) -> Result<url::Url, DbErr> {
        let state = digest::random_token();
        let verifier = digest::random_token();
        let txn = crate::audit::begin(&self.db).await?;
        oauth_states::ActiveModel {
            state_sha256: Set(secret_hash(&state)),
            bot_id: Set(bot_id),
            subject_id: Set(subject_id),
            chat_id_enc: Set(self.keys.fernet.encrypt(chat_id.as_bytes())),
            provider: Set(provider.name.clone()),
            verifier_enc: Set(self.keys.fernet.encrypt(verifier.as_bytes())),
            created_at: Set(now),
            expires_at: Set(now + Duration::minutes(STATE_MINUTES)),
            used_at: Set(None),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        self.audit
            .append(
                &txn,
                Some(bot_id),
                Some(pseudonym),
                Action::IntegrationAuthorizeStarted,
                serde_json::json!({"provider": provider.name}),
            )
            .await?;
        txn.commit().await?;
        Ok(oauth::authorize_url(
            provider,
            &self.redirect_uri(&provider.name),
            &state,
            &verifier,
        ))
    }

    /// `GET /oauth/{provider}/callback`: checks the state (known, unused, unexpired, for this
    /// provider) and uses it up, exchanges the code, stores the tokens encrypted, and tells the
    /// owner in the chat. Nothing is stored when anything is wrong.
    pub async fn complete(
        &self,
        provider_name: &str,
        code: Option<&str>,
        state: Option<&str>,
        denied: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Link, CallbackError> {
        let state = state
            .filter(|s| s.len() == 43)
            .ok_or(CallbackError::UnknownState)?;
        let row = oauth_states::Entity::find()
            .filter(oauth_states::Column::StateSha256.eq(secret_hash(state)))
            .one(&self.db)
            .await?
            .ok_or(CallbackError::UnknownState)?;
        if row.provider != provider_name {
            return Err(CallbackError::Foreign);
        }
        if row.used_at.is_some() {
            return Err(CallbackError::Used);
        }
        if row.expires_at <= now {
            return Err(CallbackError::Expired);
        }
        // Used up before anything else: a replay racing this request finds it taken.
        let taken = oauth_states::Entity::update_many()
            .col_expr(oauth_states::Column::UsedAt, Expr::value(Some(now)))
            .filter(oauth_states::Column::Id.eq(row.id))
            .filter(oauth_states::Column::UsedAt.is_null())
            .exec(&self.db)
            .await?
            .rows_affected;
        if taken != 1 {
            return Err(CallbackError::Used);
        }
        let provider = self
            .provider(provider_name)
            .ok_or(CallbackError::UnknownState)?;
        let subject = subjects::Entity::find_by_id(row.subject_id)
            .one(&self.db)
            .await?
            .ok_or(CallbackError::UnknownState)?;
        if subject.erasure_requested_at.is_some() {
            return Err(CallbackError::UnknownState);
        }
        let pseudonym = Pseudonym::from_stored(subject.pseudonym.clone());
        if !self
            .is_owner(row.bot_id, row.subject_id, &pseudonym)
            .await?
        {
            return Err(CallbackError::UnknownState);
        }
        let chat = self.open(Some(&row.chat_id_enc));
        if let Some(reason) = denied {
            let reason: String = reason
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(64)
                .collect();
            self.audit
                .record(
                    &self.db,
                    Some(row.bot_id),
                    Some(&pseudonym),
                    Action::IntegrationDenied,
                    serde_json::json!({"provider": provider_name, "error": reason}),
                )
                .await?;
            return Err(CallbackError::Denied(reason));
        }
        let code = code
            .filter(|c| !c.is_empty() && c.len() <= 2048)
            .ok_or(CallbackError::UnknownState)?;
        let verifier = self
            .open(Some(&row.verifier_enc))
            .ok_or(CallbackError::UnknownState)?;
        let tokens = oauth::exchange(
            &self.http,
            provider,
            &self.redirect_uri(provider_name),
            code,
            &verifier,
        )
        .await
        .map_err(|e| {
            tracing::warn!(provider = provider_name, error = %e, "token exchange failed");
            CallbackError::Exchange(match e {
                OAuthError::Refused { error, .. } => error,
                OAuthError::Network(_) => "unreachable".into(),
                OAuthError::Malformed => "unreadable answer".into(),
            })
        })?;
        let scopes = tokens
            .scope
            .clone()
            .unwrap_or_else(|| provider.scopes.join(" "));
        // A new link replaces an earlier one of the same owner and provider on this bot.
        let earlier = integrations::Entity::find()
            .filter(integrations::Column::BotId.eq(row.bot_id))
            .filter(integrations::Column::OwnerSubjectId.eq(row.subject_id))
            .filter(integrations::Column::Provider.eq(provider_name))
            .filter(integrations::Column::Status.ne(Status::Revoked.as_str()))
            .all(&self.db)
            .await?;
        // Locally only: revoking the old token at the provider could end the whole grant,
        // and with it the tokens just issued.
        for old in earlier {
            self.revoke_here(old.id, "relink", Remote::Skipped).await?;
        }
        let txn = crate::audit::begin(&self.db).await?;
        let model = integrations::ActiveModel {
            bot_id: Set(row.bot_id),
            owner_subject_id: Set(row.subject_id),
            provider: Set(provider_name.to_string()),
            scopes: Set(scopes.clone()),
            access_token_enc: Set(Some(
                self.keys.fernet.encrypt(tokens.access_token.as_bytes()),
            )),
            refresh_token_enc: Set(tokens
                .refresh_token
                .as_deref()
                .map(|t| self.keys.fernet.encrypt(t.as_bytes()))),
            expires_at: Set(tokens.expires_in.map(|s| expiry(now, s))),
            status: Set(Status::Active.as_str().into()),
            linked_at: Set(now),
            last_used_at: Set(None),
            revoked_at: Set(None),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        self.audit
            .append(
                &txn,
                Some(row.bot_id),
                Some(&pseudonym),
                Action::IntegrationLinked,
                serde_json::json!({"provider": provider_name, "integration": model.id, "scopes": scopes}),
            )
            .await?;
        txn.commit().await?;
        if let Some(chat) = chat {
            self.notifier
                .tell_chat(
                    row.bot_id,
                    &chat,
                    &format!(
                        "{} is linked. /links lists your connections; /unlink {} cuts this one off.",
                        provider.title, provider.name
                    ),
                )
                .await;
        }
        let names = crate::rights::export::bot_names(&self.db).await?;
        Ok(view(model, &names, pseudonym.as_str())?)
    }

    // ---- listing and revoking ----

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

    /// Revokes one integration: at the provider (RFC 7009) where possible, and here in any case
    /// (tokens deleted, status `revoked`). The owner is told. `by`: `owner`, `admin`, `erasure`,
    /// `relink`, `cli`.
    pub async fn revoke(&self, id: i64, by: &str) -> Result<Option<Revoked>, DbErr> {
        let Some(row) = integrations::Entity::find_by_id(id).one(&self.db).await? else {
            return Ok(None);
        };
        if row.status == Status::Revoked.as_str() {
            return Ok(Some(Revoked {
                id,
                provider: row.provider,
                remote: Remote::AlreadyRevoked,
            }));
        }
        let remote = self.revoke_remote(&row).await;
        self.revoke_here(id, by, remote).await
    }

    /// Asks the provider to revoke the link's token (RFC 7009): `revoked`, `failed` or
    /// `not_supported`.
    async fn revoke_remote(&self, row: &integrations::Model) -> Remote {
        match self.provider(&row.provider) {
            None => Remote::NotSupported,
            Some(provider) => {
                let (token, hint) = match self.open(row.refresh_token_enc.as_deref()) {
                    Some(t) => (Some(t), "refresh_token"),
                    None => (self.open(row.access_token_enc.as_deref()), "access_token"),
                };
                match token {
                    None => Remote::NotSupported,
                    Some(token) => match oauth::revoke(&self.http, provider, &token, hint).await {
                        Ok(true) => Remote::Revoked,
                        Ok(false) => Remote::NotSupported,
                        Err(err) => {
                            tracing::warn!(provider = %row.provider, error = %err, "remote revocation failed; tokens are deleted here anyway");
                            Remote::Failed
                        }
                    },
                }
            }
        }
    }

    /// Deletes the tokens here and records it; `remote` says what the provider was told.
    async fn revoke_here(
        &self,
        id: i64,
        by: &str,
        remote: Remote,
    ) -> Result<Option<Revoked>, DbErr> {
        let Some(row) = integrations::Entity::find_by_id(id).one(&self.db).await? else {
            return Ok(None);
        };
        let owner = subjects::Entity::find_by_id(row.owner_subject_id)
            .one(&self.db)
            .await?
            .map(|s| Pseudonym::from_stored(s.pseudonym));
        let txn = crate::audit::begin(&self.db).await?;
        integrations::Entity::update_many()
            .col_expr(
                integrations::Column::Status,
                Expr::value(Status::Revoked.as_str()),
            )
            .col_expr(
                integrations::Column::AccessTokenEnc,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                integrations::Column::RefreshTokenEnc,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                integrations::Column::RevokedAt,
                Expr::value(Some(Utc::now())),
            )
            .filter(integrations::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        self.audit
            .append(
                &txn,
                Some(row.bot_id),
                owner.as_ref(),
                Action::IntegrationRevoked,
                serde_json::json!({"integration": id, "provider": row.provider, "by": by, "remote": remote}),
            )
            .await?;
        txn.commit().await?;
        if by != "owner" && by != "relink" {
            let title = self
                .provider(&row.provider)
                .map_or(row.provider.clone(), |p| p.title.clone());
            let note = if remote == Remote::Failed {
                " The provider could not be reached to cancel it there; the access was deleted here. You can also remove it in your account's security settings."
            } else {
                ""
            };
            self.tell_owner(
                row.bot_id,
                row.owner_subject_id,
                &format!("Your {title} link was revoked ({by}).{note}"),
            )
            .await?;
        }
        Ok(Some(Revoked {
            id,
            provider: row.provider,
            remote,
        }))
    }

    /// Revokes every non-revoked integration matching `filter`.
    pub async fn revoke_all(&self, filter: &Filter, by: &str) -> Result<Vec<Revoked>, DbErr> {
        let mut out = Vec::new();
        for link in self.list(filter).await? {
            if link.status != Status::Revoked
                && let Some(r) = self.revoke(link.id, by).await?
            {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Forgets OAuth states that can no longer be used (expired), and a person's pending ones
    /// (`/delete`). Returns how many went.
    pub async fn prune_states(
        &self,
        now: DateTime<Utc>,
        subject: Option<i64>,
    ) -> Result<u64, DbErr> {
        let mut q = oauth_states::Entity::delete_many();
        q = match subject {
            Some(id) => q.filter(oauth_states::Column::SubjectId.eq(id)),
            None => q.filter(oauth_states::Column::ExpiresAt.lt(now)),
        };
        Ok(q.exec(&self.db).await?.rows_affected)
    }

    /// Revokes everything a person linked as an owner (erasure).
    pub async fn revoke_owned_by(&self, subject_id: i64, by: &str) -> Result<u64, DbErr> {
        self.prune_states(Utc::now(), Some(subject_id)).await?;
        let ids: Vec<i64> = integrations::Entity::find()
            .filter(integrations::Column::OwnerSubjectId.eq(subject_id))
            .filter(integrations::Column::Status.ne(Status::Revoked.as_str()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        for id in &ids {
            self.revoke(*id, by).await?;
        }
        Ok(ids.len() as u64)
    }

    async fn tell_owner(&self, bot_id: i64, subject_id: i64, text: &str) -> Result<(), DbErr> {
        let identities =
            crate::privacy::identity::identities_of(&self.db, &self.keys, subject_id).await?;
        let mine: Vec<_> = identities
            .into_iter()
            .filter(|i| i.bot_id == bot_id)
            .collect();
        self.notifier.tell(&mine, text).await;
        Ok(())
    }

    // ---- keeping links alive ----

    /// Refreshes access tokens that expire soon. A refresh token the provider refuses marks the
    /// link `broken` and tells the owner; network trouble is retried on the next sweep.
    /// Returns (refreshed, broken).
    pub async fn refresh_due(&self, now: DateTime<Utc>) -> Result<(u64, u64), DbErr> {
        let due = integrations::Entity::find()
            .filter(integrations::Column::Status.eq(Status::Active.as_str()))
            .filter(integrations::Column::RefreshTokenEnc.is_not_null())
            .filter(
                integrations::Column::ExpiresAt.lte(now + Duration::minutes(REFRESH_AHEAD_MINUTES)),
            )
            .all(&self.db)
            .await?;
        let (mut refreshed, mut broken) = (0, 0);
        for row in due {
            let Some(provider) = self.provider(&row.provider) else {
                continue;
            };
            let Some(refresh_token) = self.open(row.refresh_token_enc.as_deref()) else {
                continue;
            };
            match oauth::refresh(&self.http, provider, &refresh_token).await {
                Ok(tokens) => {
                    let mut active: integrations::ActiveModel = row.into();
                    active.access_token_enc = Set(Some(
                        self.keys.fernet.encrypt(tokens.access_token.as_bytes()),
                    ));
                    if let Some(new_refresh) = tokens.refresh_token {
                        active.refresh_token_enc =
                            Set(Some(self.keys.fernet.encrypt(new_refresh.as_bytes())));
                    }
                    active.expires_at = Set(tokens.expires_in.map(|s| expiry(now, s)));
                    active.last_used_at = Set(Some(now));
                    active.update(&self.db).await?;
                    refreshed += 1;
                }
                Err(err) if err.is_permanent() => {
                    integrations::Entity::update_many()
                        .col_expr(
                            integrations::Column::Status,
                            Expr::value(Status::Broken.as_str()),
                        )
                        .filter(integrations::Column::Id.eq(row.id))
                        .exec(&self.db)
                        .await?;
                    let owner = subjects::Entity::find_by_id(row.owner_subject_id)
                        .one(&self.db)
                        .await?
                        .map(|s| Pseudonym::from_stored(s.pseudonym));
                    self.audit
                        .record(
                            &self.db,
                            Some(row.bot_id),
                            owner.as_ref(),
                            Action::IntegrationBroken,
                            serde_json::json!({"integration": row.id, "provider": row.provider, "error": err.to_string()}),
                        )
                        .await?;
                    self.tell_owner(
                        row.bot_id,
                        row.owner_subject_id,
                        &format!(
                            "Your {} link stopped working (the provider no longer accepts it). Send /link {} to connect it again.",
                            provider.title, provider.name
                        ),
                    )
                    .await?;
                    broken += 1;
                }
                Err(err) => {
                    tracing::warn!(provider = %row.provider, error = %err, "token refresh failed; retried on the next sweep");
                }
            }
        }
        Ok((refreshed, broken))
    }
}

/// When a token given `expires_in` seconds now expires; a provider's absurd value cannot
/// overflow the clock (at most a year).
fn expiry(now: DateTime<Utc>, expires_in: i64) -> DateTime<Utc> {
    now + Duration::seconds(expires_in.clamp(0, 366 * 24 * 3600))
}

/// A stored row as owners and admins see it; a status the gateway never writes is an error.
fn view(r: integrations::Model, names: &HashMap<i64, String>, owner: &str) -> Result<Link, DbErr> {
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
        expires_at: r.expires_at,
        revoked_at: r.revoked_at,
    })
}
