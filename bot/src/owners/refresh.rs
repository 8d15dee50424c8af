//! Keeping links alive: access tokens that expire soon are refreshed; a refresh the provider
//! refuses marks the link `broken` and tells the owner.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, sea_query::Expr};

use consentgate_entity::{integrations, subjects};

use super::{
    integrations::*,
    oauth::{self},
    status::Status,
};
use crate::{audit::Action, config::OAuthProvider, privacy::pseudonym::Pseudonym};

/// What a refresh did.
enum Refresh {
    Refreshed,
    Broken,
    Not,
}

impl Integrations {
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
            // Under the link's lock, read again: a tool call may have refreshed it meanwhile.
            let lock = self.refreshing.of(row.id);
            let _held = lock.lock().await;
            let Some(row) = integrations::Entity::find_by_id(row.id)
                .filter(integrations::Column::Status.eq(Status::Active.as_str()))
                .filter(integrations::Column::RefreshTokenEnc.eq(row.refresh_token_enc.clone()))
                .filter(
                    integrations::Column::ExpiresAt
                        .lte(now + Duration::minutes(REFRESH_AHEAD_MINUTES)),
                )
                .one(&self.db)
                .await?
            else {
                continue;
            };
            match self.refresh_one(&row, now).await? {
                Refresh::Refreshed => refreshed += 1,
                Refresh::Broken => broken += 1,
                Refresh::Not => {}
            }
        }
        Ok((refreshed, broken))
    }

    /// Refreshes one link's tokens. A refresh token the provider refuses marks the link
    /// `broken` and tells the owner; network trouble leaves it for the next try.
    async fn refresh_one(
        &self,
        row: &integrations::Model,
        now: DateTime<Utc>,
    ) -> Result<Refresh, DbErr> {
        let Some(provider) = self.provider(&row.provider) else {
            return Ok(Refresh::Not);
        };
        let Some(refresh_token) = self.open(row.refresh_token_enc.as_deref()) else {
            return Ok(Refresh::Not);
        };
        match oauth::refresh(&self.http, provider, &refresh_token).await {
            Ok(tokens) => Ok(if self.store_refreshed(row, provider, tokens, now).await? {
                Refresh::Refreshed
            } else {
                Refresh::Not
            }),
            Err(err) if err.is_permanent() => {
                // Only a link still active breaks: one revoked meanwhile stays revoked.
                let marked = integrations::Entity::update_many()
                    .col_expr(
                        integrations::Column::Status,
                        Expr::value(Status::Broken.as_str()),
                    )
                    .filter(integrations::Column::Id.eq(row.id))
                    .filter(integrations::Column::Status.eq(Status::Active.as_str()))
                    // Refused because another refresh had already rotated it: not broken.
                    .filter(integrations::Column::RefreshTokenEnc.eq(row.refresh_token_enc.clone()))
                    .exec(&self.db)
                    .await?
                    .rows_affected;
                if marked != 1 {
                    return Ok(Refresh::Not);
                }
                let owner = self.owner_pseudonym(row.owner_subject_id).await?;
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
                Ok(Refresh::Broken)
            }
            Err(err) => {
                tracing::warn!(provider = %row.provider, error = %err, "token refresh failed; retried on the next sweep");
                Ok(Refresh::Not)
            }
        }
    }

    /// The access token of the bot's newest active link to `provider`, for a tool to use now,
    /// with the link's id: refreshed first when it expires within a minute, and the link's
    /// "last used" set. `None` when the bot has no working link to it.
    pub async fn access_token(
        &self,
        bot_id: i64,
        provider: &str,
    ) -> Result<Option<(i64, String)>, DbErr> {
        let newest = || {
            integrations::Entity::find()
                .filter(integrations::Column::BotId.eq(bot_id))
                .filter(integrations::Column::Provider.eq(provider))
                .filter(integrations::Column::Status.eq(Status::Active.as_str()))
                .order_by_desc(integrations::Column::Id)
                .one(&self.db)
        };
        let Some(mut row) = newest().await? else {
            return Ok(None);
        };
        let now = Utc::now();
        let due = |row: &integrations::Model| {
            row.refresh_token_enc.is_some()
                && row
                    .expires_at
                    .is_some_and(|at| at <= now + Duration::minutes(1))
        };
        if due(&row) {
            // One refresh of a link at a time in this process (the sweep takes the same lock);
            // the link is read again under it, so calls that waited behind a refresh use its
            // tokens instead of refreshing again.
            let lock = self.refreshing.of(row.id);
            let _one = lock.lock().await;
            let Some(fresh) = integrations::Entity::find_by_id(row.id)
                .filter(integrations::Column::Status.eq(Status::Active.as_str()))
                .one(&self.db)
                .await?
            else {
                // Revoked or replaced meanwhile: the next call reads the newest link.
                return Ok(None);
            };
            row = fresh;
            if due(&row) {
                self.refresh_one(&row, now).await?;
                match integrations::Entity::find_by_id(row.id)
                    .filter(integrations::Column::Status.eq(Status::Active.as_str()))
                    .one(&self.db)
                    .await?
                {
                    Some(fresh) => row = fresh,
                    None => return Ok(None),
                }
            }
        }
        let Some(token) = self.open(row.access_token_enc.as_deref()) else {
            return Ok(None);
        };
        integrations::Entity::update_many()
            .col_expr(integrations::Column::LastUsedAt, Expr::value(Some(now)))
            .filter(integrations::Column::Id.eq(row.id))
            .exec(&self.db)
            .await?;
        Ok(Some((row.id, token)))
    }

    /// The pseudonym of a link's owner, for its audit entries.
    async fn owner_pseudonym(&self, subject_id: i64) -> Result<Option<Pseudonym>, DbErr> {
        Ok(subjects::Entity::find_by_id(subject_id)
            .one(&self.db)
            .await?
            .map(|s| Pseudonym::from_stored(s.pseudonym)))
    }

    /// Writes refreshed tokens only over the row they were refreshed from: still active, with
    /// the same refresh token (its ciphertext is unique, so it serves as the row's version).
    /// A link revoked or deleted while the provider answered stays so, and the tokens just
    /// issued are cancelled at the provider; one refreshed by another replica meanwhile keeps
    /// that replica's tokens. Returns whether these tokens were stored.
    async fn store_refreshed(
        &self,
        row: &integrations::Model,
        provider: &OAuthProvider,
        tokens: oauth::Tokens,
        now: DateTime<Utc>,
    ) -> Result<bool, DbErr> {
        let refresh_enc = match &tokens.refresh_token {
            Some(new) => Some(self.keys.fernet.encrypt(new.as_bytes())),
            None => row.refresh_token_enc.clone(),
        };
        let owner = self.owner_pseudonym(row.owner_subject_id).await?;
        // The tokens and their audit entry are kept together or not at all.
        let txn = crate::audit::begin(&self.db).await?;
        let written = integrations::Entity::update_many()
            .col_expr(
                integrations::Column::AccessTokenEnc,
                Expr::value(Some(
                    self.keys.fernet.encrypt(tokens.access_token.as_bytes()),
                )),
            )
            .col_expr(
                integrations::Column::RefreshTokenEnc,
                Expr::value(refresh_enc),
            )
            .col_expr(
                integrations::Column::ExpiresAt,
                Expr::value(tokens.expires_in.map(|s| expiry(now, s))),
            )
            .col_expr(
                integrations::Column::LastRefreshedAt,
                Expr::value(Some(now)),
            )
            .filter(integrations::Column::Id.eq(row.id))
            .filter(integrations::Column::Status.eq(Status::Active.as_str()))
            .filter(integrations::Column::RefreshTokenEnc.eq(row.refresh_token_enc.clone()))
            .exec(&txn)
            .await?
            .rows_affected;
        if written == 1 {
            self.audit
                .append(
                    &txn,
                    Some(row.bot_id),
                    owner.as_ref(),
                    Action::IntegrationRefreshed,
                    serde_json::json!({"integration": row.id, "provider": row.provider}),
                )
                .await?;
            txn.commit().await?;
            return Ok(true);
        }
        txn.rollback().await?;
        let still_active = integrations::Entity::find_by_id(row.id)
            .one(&self.db)
            .await?
            .is_some_and(|r| r.status == Status::Active.as_str());
        if !still_active {
            tracing::info!(provider = %row.provider, integration = row.id, "link revoked during its refresh; the new tokens are cancelled");
            let (token, hint) = match &tokens.refresh_token {
                Some(t) => (t, "refresh_token"),
                None => (&tokens.access_token, "access_token"),
            };
            if let Err(err) = oauth::revoke(&self.http, provider, token, hint).await {
                tracing::warn!(provider = %row.provider, error = %err, "could not cancel the tokens of a refresh that lost to a revocation");
            }
        }
        Ok(false)
    }
}
