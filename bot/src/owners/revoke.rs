//! Revoking links: at the provider (RFC 7009) where possible, and here in any case (tokens
//! deleted, status `revoked`), by the owner, an admin, an erasure or a new link; the owner is
//! told.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, sea_query::Expr};

use consentgate_entity::{integrations, oauth_states, subjects};

use super::{
    integrations::*,
    oauth::{self},
    status::{Remote, Status},
};
use crate::{audit::Action, privacy::pseudonym::Pseudonym};

impl Integrations {
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
    pub(super) async fn revoke_here(
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
        // The owner asked for it, or hears of it in the reply to their answer.
        if !["owner", "relink", "discarded"].contains(&by) {
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

    pub async fn tell_owner(&self, bot_id: i64, subject_id: i64, text: &str) -> Result<(), DbErr> {
        let identities =
            crate::privacy::identity::identities_of(&self.db, &self.keys, subject_id).await?;
        let mine: Vec<_> = identities
            .into_iter()
            .filter(|i| i.bot_id == bot_id)
            .collect();
        self.notifier.tell(&mine, text).await;
        Ok(())
    }
}
