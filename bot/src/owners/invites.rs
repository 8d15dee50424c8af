//! Owners of a bot: named in the configuration, or made by a one-time invite code that
//! `consentgate owners invite` prints and `/claim CODE` redeems.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, Set, sea_query::Expr,
};

use consentgate_entity::{owner_invites, owners};

use super::integrations::*;
use crate::{
    audit::Action,
    privacy::{
        digest::{self, sha256_hex},
        pseudonym::Pseudonym,
    },
};

impl Integrations {
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
            code_sha256: Set(sha256_hex(&code)),
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
            .filter(owner_invites::Column::CodeSha256.eq(sha256_hex(code)))
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
}
