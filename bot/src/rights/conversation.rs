//! The stored conversation, kept only for people who chose the `history` purpose: each text
//! Fernet-encrypted, read back as context for the assistant, deleted when `history` is turned
//! off, by retention, and by erasure.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use consentgate_entity::conversation_messages::{self, Column, Entity};

use crate::{llm::Role, privacy::keys::Keys};

/// Stores one exchange — the person's message and the answer they were sent — only if, at this
/// moment, their latest `history` decision is a grant of `history_sha256` (the purpose's current
/// text) and no erasure is pending: a withdrawal or `/delete` handled while the answer was on its
/// way wins. Returns whether it was stored. `names` are the names the person is known by: those
/// the channel reports now and those kept with the context (the redactor's hints), stored with
/// both messages (an answer may hold an old name put back) so that they stay redacted in later
/// context even after the person renames themselves.
pub async fn store(
    db: &DatabaseConnection,
    keys: &Keys,
    (subject_id, bot_id): (i64, i64),
    chat: &ChatKey,
    history_sha256: &str,
    (question, answer): (&str, &str),
    names: &[String],
) -> Result<bool, DbErr> {
    let txn = crate::audit::begin(db).await?;
    // Write first (the stored rows), check after, inside one transaction: on SQLite that takes
    // the write lock up front; on PostgreSQL a concurrent withdrawal's `forget` runs after the
    // decision is committed, so it removes these rows if this commit wins the race.
    let now = Utc::now();
    let names_enc = (!names.is_empty()).then(|| {
        let json = serde_json::to_vec(names).unwrap_or_default();
        keys.fernet.encrypt(&json)
    });
    for (role, text) in [(Role::User, question), (Role::Assistant, answer)] {
        conversation_messages::ActiveModel {
            subject_id: Set(subject_id),
            bot_id: Set(bot_id),
            role: Set(role.as_str().to_string()),
            text_enc: Set(keys.fernet.encrypt(text.as_bytes())),
            created_at: Set(now),
            chat_key: Set(chat.0.clone()),
            names_enc: Set(names_enc.clone()),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    let latest = consentgate_entity::consent_events::Entity::find()
        .filter(consentgate_entity::consent_events::Column::SubjectId.eq(subject_id))
        .filter(consentgate_entity::consent_events::Column::BotId.eq(bot_id))
        .filter(
            consentgate_entity::consent_events::Column::Purpose.eq(crate::consent::PURPOSE_HISTORY),
        )
        .order_by_desc(consentgate_entity::consent_events::Column::Id)
        .one(&txn)
        .await?;
    let granted = latest.is_some_and(|e| e.action == "given" && e.text_sha256 == history_sha256);
    let erasing = consentgate_entity::subjects::Entity::find_by_id(subject_id)
        .one(&txn)
        .await?
        .is_none_or(|s| s.erasure_requested_at.is_some());
    if !granted || erasing {
        txn.rollback().await?;
        return Ok(false);
    }
    txn.commit().await?;
    Ok(true)
}

/// A stored message, decrypted.
pub struct Message {
    pub bot_id: i64,
    pub role: Role,
    pub text: String,
    pub at: chrono::DateTime<Utc>,
    /// The names the person was known by when the exchange was stored (empty for older rows).
    pub names: Vec<String>,
}

fn open(keys: &Keys, row: conversation_messages::Model) -> Option<Message> {
    let text = keys
        .fernet
        .decrypt(&row.text_enc)
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    let Some(text) = text else {
        tracing::warn!(
            row = row.id,
            "a stored message could not be decrypted; skipped"
        );
        return None;
    };
    // Names that cannot be read are dropped with a warning; the text is still redacted with the
    // current names and every other detector.
    let names = row
        .names_enc
        .as_deref()
        .and_then(|token| {
            let names = keys
                .fernet
                .decrypt(token)
                .ok()
                .and_then(|b| serde_json::from_slice::<Vec<String>>(&b).ok());
            if names.is_none() {
                tracing::warn!(row = row.id, "a stored message's names could not be read");
            }
            names
        })
        .unwrap_or_default();
    Some(Message {
        bot_id: row.bot_id,
        names,
        role: if row.role == "assistant" {
            Role::Assistant
        } else {
            Role::User
        },
        text,
        at: row.created_at,
    })
}

/// Which chat a stored exchange belongs to: `None` for the person's private chat, else a keyed
/// digest of the group's id (so the database never holds the id itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatKey(Option<String>);

impl ChatKey {
    pub fn of(keys: &Keys, chat: &consentgate_adapters::Chat) -> ChatKey {
        ChatKey((!chat.private).then(|| {
            crate::privacy::digest::keyed_hex(
                &keys.pseudonym,
                &[b"conversation-chat\x00", chat.id.expose().as_bytes()],
            )
        }))
    }
}

/// The last `limit` messages of a person on a bot in one chat, oldest first: their private
/// exchanges are never context in a group, nor one group's in another or in private.
pub async fn recent(
    db: &impl ConnectionTrait,
    keys: &Keys,
    (subject_id, bot_id): (i64, i64),
    chat: &ChatKey,
    limit: usize,
) -> Result<Vec<Message>, DbErr> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let in_chat = match &chat.0 {
        Some(key) => Column::ChatKey.eq(key.as_str()),
        None => Column::ChatKey.is_null(),
    };
    let mut rows = Entity::find()
        .filter(Column::SubjectId.eq(subject_id))
        .filter(Column::BotId.eq(bot_id))
        .filter(in_chat)
        .order_by_desc(Column::Id)
        .limit(limit as u64)
        .all(db)
        .await?;
    rows.reverse();
    Ok(rows.into_iter().filter_map(|r| open(keys, r)).collect())
}

/// Everything stored for a person, on every bot, oldest first.
pub async fn all(
    db: &impl ConnectionTrait,
    keys: &Keys,
    subject_id: i64,
) -> Result<Vec<Message>, DbErr> {
    let rows = Entity::find()
        .filter(Column::SubjectId.eq(subject_id))
        .order_by_asc(Column::Id)
        .all(db)
        .await?;
    Ok(rows.into_iter().filter_map(|r| open(keys, r)).collect())
}

/// Deletes a person's stored conversation on a bot; returns how many messages went.
pub async fn forget(db: &impl ConnectionTrait, subject_id: i64, bot_id: i64) -> Result<u64, DbErr> {
    Ok(Entity::delete_many()
        .filter(Column::SubjectId.eq(subject_id))
        .filter(Column::BotId.eq(bot_id))
        .exec(db)
        .await?
        .rows_affected)
}
