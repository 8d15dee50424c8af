//! Keeping links alive: access tokens that expire soon are refreshed; a refresh the provider
//! refuses marks the link `broken` and tells the owner.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, Set, sea_query::Expr,
};

use consentgate_entity::{integrations, subjects};

use super::{
    integrations::*,
    oauth::{self},
    status::Status,
};
use crate::{audit::Action, privacy::pseudonym::Pseudonym};

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
