//! Linking an account: `/link` starts an OAuth 2.0 authorization with PKCE, the provider's
//! callback completes it, and the tokens are stored Fernet-encrypted, as `pending`. The owner is
//! then asked in their chat, naming the account, whether it is theirs: the link is used only once
//! they confirm there. Whoever else gets hold of the approval link (it travels through a browser)
//! can attach an account of theirs, but it stays pending until the owner discards it (it is
//! revoked at the provider) or it expires unconfirmed after [`PENDING_MINUTES`].

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, Set, sea_query::Expr,
};

use consentgate_adapters::{Button, Outbound};
use consentgate_entity::{integrations, oauth_states, subjects};

use super::{
    integrations::*,
    oauth::{self, OAuthError},
    status::{Remote, Status},
};
use crate::{
    audit::Action,
    config::OAuthProvider,
    privacy::{
        digest::{self, sha256_hex},
        pseudonym::Pseudonym,
    },
};

impl Integrations {
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
            state_sha256: Set(sha256_hex(&state)),
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
        let row = self.take_state(provider_name, state, now).await?;
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
        let account = oauth::account_name(&self.http, provider, &tokens.access_token).await;
        let model = self
            .store_link(&row, &pseudonym, provider, &tokens, now)
            .await?;
        if let Some(chat) = chat {
            self.notifier
                .tell_chat_with(
                    row.bot_id,
                    &chat,
                    &confirmation(provider, account.as_deref(), model.id),
                )
                .await;
        }
        let names = crate::rights::export::bot_names(&self.db).await?;
        Ok(view(model, &names, pseudonym.as_str())?)
    }

    /// The callback's `state`, checked (this provider's, unused, unexpired) and used up before
    /// anything else, so a replay racing this request finds it taken.
    async fn take_state(
        &self,
        provider_name: &str,
        state: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<oauth_states::Model, CallbackError> {
        let state = state
            .filter(|s| s.len() == 43)
            .ok_or(CallbackError::UnknownState)?;
        let row = oauth_states::Entity::find()
            .filter(oauth_states::Column::StateSha256.eq(sha256_hex(state)))
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
        Ok(row)
    }

    /// Stores the new link (tokens encrypted) in place of an earlier one of the same owner and
    /// provider on this bot, with its audit entry.
    async fn store_link(
        &self,
        row: &oauth_states::Model,
        pseudonym: &Pseudonym,
        provider: &OAuthProvider,
        tokens: &oauth::Tokens,
        now: DateTime<Utc>,
    ) -> Result<integrations::Model, DbErr> {
        let provider_name = provider.name.as_str();
        let scopes = tokens
            .scope
            .clone()
            .unwrap_or_else(|| provider.scopes.join(" "));
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
            status: Set(Status::Pending.as_str().into()),
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
                Some(pseudonym),
                Action::IntegrationLinked,
                serde_json::json!({"provider": provider_name, "integration": model.id, "scopes": scopes, "status": "pending"}),
            )
            .await?;
        txn.commit().await?;
        Ok(model)
    }
}

/// How long a link waits for the owner's confirmation before it is revoked.
pub const PENDING_MINUTES: i64 = 60;

/// What the owner may answer about a pending link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Confirm,
    Discard,
}

/// The question put to the owner in their chat once the provider sent the account back.
fn confirmation(provider: &OAuthProvider, account: Option<&str>, id: i64) -> Outbound {
    let which = match account {
        Some(name) => format!("The {} account {name}", provider.title),
        None => format!(
            "A {} account ({} does not say which)",
            provider.title, provider.title
        ),
    };
    Outbound::text(format!(
        "{which} was just connected to this assistant from a browser. Is it yours, and did you \
         connect it? It is not used until you confirm. If it was not you, discard it: the access \
         is cancelled at {}.",
        provider.title
    ))
    .with_buttons(vec![vec![
        Button::callback("Yes, use it", format!("link:ok:{id}")),
        Button::callback("No, discard it", format!("link:no:{id}")),
    ]])
}

impl Integrations {
    /// The owner's answer about a pending link, pressed in the chat of `bot` by `subject`: only
    /// the owner who started it, on that bot, while it is pending. On confirmation it becomes
    /// active and replaces an earlier link of the same owner and provider. Returns the reply.
    pub async fn answer(
        &self,
        bot_id: i64,
        subject_id: i64,
        id: i64,
        answer: Answer,
    ) -> Result<String, DbErr> {
        let row = integrations::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .filter(|r| r.bot_id == bot_id && r.owner_subject_id == subject_id);
        let Some(row) = row.filter(|r| r.status == Status::Pending.as_str()) else {
            return Ok("That question is no longer open: /links shows what is linked.".into());
        };
        let title = self
            .provider(&row.provider)
            .map_or(row.provider.clone(), |p| p.title.clone());
        if answer == Answer::Discard {
            self.revoke(id, "discarded").await?;
            return Ok(format!(
                "Discarded: that {title} account is not linked, and its access was cancelled."
            ));
        }
        // Pending to active, only if still pending (an expiry or a discard may have come first).
        let owner = subjects::Entity::find_by_id(subject_id)
            .one(&self.db)
            .await?
            .map(|s| Pseudonym::from_stored(s.pseudonym));
        let txn = crate::audit::begin(&self.db).await?;
        let done = integrations::Entity::update_many()
            .col_expr(
                integrations::Column::Status,
                Expr::value(Status::Active.as_str()),
            )
            .filter(integrations::Column::Id.eq(id))
            .filter(integrations::Column::Status.eq(Status::Pending.as_str()))
            .exec(&txn)
            .await?
            .rows_affected;
        if done == 0 {
            return Ok("That question is no longer open: /links shows what is linked.".into());
        }
        self.audit
            .append(
                &txn,
                Some(bot_id),
                owner.as_ref(),
                Action::IntegrationConfirmed,
                serde_json::json!({"integration": id, "provider": row.provider}),
            )
            .await?;
        txn.commit().await?;
        // It replaces an earlier link of the same owner and provider on this bot, locally only:
        // revoking the old token at the provider could end the whole grant, and with it the
        // tokens just issued.
        let earlier = integrations::Entity::find()
            .filter(integrations::Column::BotId.eq(bot_id))
            .filter(integrations::Column::OwnerSubjectId.eq(subject_id))
            .filter(integrations::Column::Provider.eq(row.provider.as_str()))
            .filter(integrations::Column::Id.ne(id))
            .filter(integrations::Column::Status.ne(Status::Revoked.as_str()))
            .all(&self.db)
            .await?;
        for old in earlier {
            self.revoke_here(old.id, "relink", Remote::Skipped).await?;
        }
        Ok(format!(
            "{title} is linked. /links lists your connections; /unlink {} cuts this one off.",
            row.provider
        ))
    }

    /// Revokes links left unconfirmed for [`PENDING_MINUTES`]; returns how many.
    pub async fn expire_pending(&self, now: DateTime<Utc>) -> Result<u64, DbErr> {
        let stale = integrations::Entity::find()
            .filter(integrations::Column::Status.eq(Status::Pending.as_str()))
            .filter(integrations::Column::LinkedAt.lt(now - Duration::minutes(PENDING_MINUTES)))
            .all(&self.db)
            .await?;
        for row in &stale {
            self.revoke(row.id, "unconfirmed").await?;
        }
        Ok(stale.len() as u64)
    }
}
