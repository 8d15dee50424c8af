//! The outbox: a turn's replies, Fernet-encrypted with the chat they go to, written in the
//! transaction that marks the update handled, so an update is acknowledged to its platform only
//! once its answer is durable. The row goes once the platform took the replies. A row whose
//! `send_after` has passed was left by a crash (or a transient failure): [`Pipeline::unsent`]
//! claims it (one process at a time) and hands it back for sending.
//!
//! Before the provider is asked, the row holds an apology ([`replies::ANSWER_LOST`]); the answer
//! replaces it. A kill while the provider works thus yields the apology after the restart,
//! never silence and never a second forward. Export files are not kept: a lost one becomes
//! [`replies::EXPORT_INTERRUPTED`].

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::{Expr, OnConflict},
};
use serde::{Deserialize, Serialize};

use consentgate_adapters::{Inbound, Outbound, PlatformId, delivery::Unsent};
use consentgate_entity::outbox::{self, Column};

use super::{Pipeline, replies};
use crate::privacy::keys::Keys;

/// How many rows one call of [`Pipeline::unsent`] takes.
const BATCH: u64 = 100;

/// Rows older than this are dropped unsent by the retention sweep: a reply days late would
/// answer a conversation long over.
pub const KEPT_AT_MOST: Duration = Duration::days(1);

#[derive(Serialize, Deserialize)]
struct Sealed {
    /// The update's key as the platform gave it (the row's key is its digest).
    update: String,
    chat: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    replies: Vec<Outbound>,
}

/// The row for `replies` to `inbound`.
pub(super) fn row(
    keys: &Keys,
    bot_id: i64,
    key: &str,
    inbound: &Inbound,
    replies: &[Outbound],
    lease: Duration,
) -> outbox::ActiveModel {
    let sealed = Sealed {
        update: inbound.update_key.clone(),
        chat: inbound.chat.id.expose().to_string(),
        user: inbound.sender.id.as_ref().map(|u| u.expose().to_string()),
        replies: replies
            .iter()
            .map(|r| match r.document {
                Some(_) => Outbound::text(replies::EXPORT_INTERRUPTED),
                None => r.clone(),
            })
            .collect(),
    };
    let json = serde_json::to_vec(&sealed).unwrap_or_default();
    let now = Utc::now();
    outbox::ActiveModel {
        bot_id: Set(bot_id),
        update_key: Set(key.to_string()),
        sealed: Set(keys.fernet.encrypt(&json)),
        created_at: Set(now),
        send_after: Set(now + lease),
    }
}

/// Writes (or replaces) the row of an update.
pub(super) async fn keep(db: &impl ConnectionTrait, row: outbox::ActiveModel) -> Result<(), DbErr> {
    outbox::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([Column::BotId, Column::UpdateKey])
                .update_columns([Column::Sealed, Column::SendAfter])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The replies to an update are done with.
pub(super) async fn forget(db: &impl ConnectionTrait, bot_id: i64, key: &str) -> Result<(), DbErr> {
    outbox::Entity::delete_many()
        .filter(Column::BotId.eq(bot_id))
        .filter(Column::UpdateKey.eq(key))
        .exec(db)
        .await?;
    Ok(())
}

/// Drops rows older than `cutoff`; returns how many.
pub async fn drop_stale(db: &impl ConnectionTrait, cutoff: DateTime<Utc>) -> Result<u64, DbErr> {
    Ok(outbox::Entity::delete_many()
        .filter(Column::CreatedAt.lt(cutoff))
        .exec(db)
        .await?
        .rows_affected)
}

impl Pipeline {
    /// Replies of `bot` left unsent past their lease: each is claimed for this process for
    /// another lease (a conditional write, so two processes never both take one) and returned.
    pub async fn unsent(&self, bot: &str, now: DateTime<Utc>) -> Result<Vec<Unsent>, DbErr> {
        let Some(bot_id) = self.bots.get(bot).map(|b| b.id) else {
            return Ok(Vec::new());
        };
        let due = outbox::Entity::find()
            .filter(Column::BotId.eq(bot_id))
            .filter(Column::SendAfter.lte(now))
            .order_by_asc(Column::CreatedAt)
            .limit(BATCH)
            .all(&self.db)
            .await?;
        let mut out = Vec::new();
        for row in due {
            let claimed = outbox::Entity::update_many()
                .col_expr(Column::SendAfter, Expr::value(now + self.lease))
                .filter(Column::BotId.eq(bot_id))
                .filter(Column::UpdateKey.eq(row.update_key.as_str()))
                .filter(Column::SendAfter.eq(row.send_after))
                .exec(&self.db)
                .await?;
            if claimed.rows_affected == 0 {
                continue;
            }
            let sealed = self
                .keys
                .fernet
                .decrypt(&row.sealed)
                .ok()
                .and_then(|json| serde_json::from_slice::<Sealed>(&json).ok());
            let Some(sealed) = sealed else {
                tracing::warn!(bot, "an unsent reply could not be decrypted; dropped");
                forget(&self.db, bot_id, &row.update_key).await?;
                continue;
            };
            out.push(Unsent {
                update_key: sealed.update,
                chat: PlatformId::new(sealed.chat),
                user: sealed.user.map(PlatformId::new),
                replies: sealed.replies,
            });
        }
        Ok(out)
    }
}
