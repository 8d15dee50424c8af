//! Who is writing: a channel user becomes a subject, known by pseudonym. Raw ids are stored only
//! Fernet-encrypted, found again through a keyed blind index.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    FromQueryResult, IdenStatic, Iterable, JoinType, QueryFilter, QueryOrder, QueryResult,
    QuerySelect, QueryTrait, RelationDef, SelectTwo, Set,
    sea_query::{Expr, ExprTrait, IntoCondition, SimpleExpr},
};

use consentgate_adapters::{ChannelKind, PlatformId};
use consentgate_entity::{channel_identities, consent_events, subjects};

use crate::{
    privacy::keys::Keys,
    privacy::pseudonym::{Pseudonym, blind_index},
};

/// A known person, as the pipeline works with them.
#[derive(Clone, Debug)]
pub struct Subject {
    pub id: i64,
    pub pseudonym: Pseudonym,
    pub reachable: bool,
    /// Set while an erasure is pending: nothing about the person is processed.
    pub purge_after: Option<DateTime<Utc>>,
}

impl From<subjects::Model> for Subject {
    fn from(m: subjects::Model) -> Self {
        Subject {
            id: m.id,
            pseudonym: Pseudonym::from_stored(m.pseudonym),
            reachable: m.reachable,
            purge_after: m.purge_after.filter(|_| m.erasure_requested_at.is_some()),
        }
    }
}

/// How [`identify`] found the person.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HowFound {
    /// By their id.
    Known,
    /// By the other id they came with; their id was linked to that person.
    Linked,
    /// Not at all: created.
    New,
}

/// Finds the subject behind `user` on a bot, creating it (and its encrypted identity) on first
/// contact. A person not known by `user` but by `also` (another id of theirs in the same update:
/// on WhatsApp the phone number beside a business-scoped id) is that person, and `user` is linked
/// to them. Safe under concurrency: a lost insert race falls back to reading the winner's row.
pub async fn identify(
    db: &DatabaseConnection,
    keys: &Keys,
    (bot_id, channel, business): (i64, ChannelKind, &str),
    ids: (&PlatformId, Option<&PlatformId>),
    chat: &PlatformId,
) -> Result<(Subject, HowFound), DbErr> {
    let (user, also) = ids;
    let index = blind_index(&keys.pseudonym, bot_id, channel, user);
    if let Some(subject) = find(db, &index).await? {
        return Ok((subject, HowFound::Known));
    }
    if let Some(also) = also
        && let Some(subject) = find_by_platform_id(db, keys, bot_id, channel, also).await?
    {
        link(db, keys, (bot_id, channel), subject.id, user, chat).await?;
        return Ok((subject, HowFound::Linked));
    }
    create(db, keys, (bot_id, channel, business), user, chat)
        .await
        .map(|s| (s, HowFound::New))
}

/// Adds `id` as another id of the subject on a bot (replies to it go to `chat`). False when the
/// id is known already, as this person's or, rarely, as someone else's (a phone number that came
/// alone before a business-scoped id did): two records are never merged silently.
pub async fn link(
    db: &DatabaseConnection,
    keys: &Keys,
    bot: (i64, ChannelKind),
    subject_id: i64,
    id: &PlatformId,
    chat: &PlatformId,
) -> Result<bool, DbErr> {
    let (bot_id, channel) = bot;
    let now = Utc::now();
    let inserted = channel_identities::Entity::insert(channel_identities::ActiveModel {
        subject_id: Set(subject_id),
        bot_id: Set(bot_id),
        channel: Set(channel.as_str().to_string()),
        blind_index: Set(blind_index(&keys.pseudonym, bot_id, channel, id)),
        user_id_enc: Set(keys.fernet.encrypt(id.expose().as_bytes())),
        chat_id_enc: Set(keys.fernet.encrypt(chat.expose().as_bytes())),
        created_at: Set(now),
        last_seen_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(channel_identities::Column::BlindIndex)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(inserted > 0)
}

/// The platform moved a person from `old` to `new` (a new phone number, a new business-scoped
/// id): `new` is linked to whoever `old` (or, failing that, `also`) belongs to, and `old` is
/// forgotten (a number given up may be someone else's next). Their record and consent stay.
/// `None` when neither id is known.
pub async fn replace(
    db: &DatabaseConnection,
    keys: &Keys,
    bot: (i64, ChannelKind),
    ids: (&PlatformId, Option<&PlatformId>),
    new: &PlatformId,
) -> Result<Option<Subject>, DbErr> {
    let ((bot_id, channel), (old, also)) = (bot, ids);
    let old_index = blind_index(&keys.pseudonym, bot_id, channel, old);
    let mut subject = find(db, &old_index).await?;
    if subject.is_none()
        && let Some(also) = also
    {
        subject = find_by_platform_id(db, keys, bot_id, channel, also).await?;
    }
    let Some(subject) = subject else {
        return Ok(None);
    };
    // Replies go where they went, unless that was the old id itself.
    let chat = channel_identities::Entity::find()
        .filter(channel_identities::Column::SubjectId.eq(subject.id))
        .filter(channel_identities::Column::BotId.eq(bot_id))
        .filter(channel_identities::Column::BlindIndex.ne(old_index.as_str()))
        .all(db)
        .await?
        .into_iter()
        .find_map(|r| keys.fernet.decrypt(&r.chat_id_enc).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|c| c != old.expose())
        .map_or_else(|| new.clone(), PlatformId::new);
    link(db, keys, (bot_id, channel), subject.id, new, &chat).await?;
    channel_identities::Entity::delete_many()
        .filter(channel_identities::Column::BlindIndex.eq(old_index))
        .filter(channel_identities::Column::SubjectId.eq(subject.id))
        .exec(db)
        .await?;
    // Rows that sent replies to the old id now send them to the new one.
    for row in channel_identities::Entity::find()
        .filter(channel_identities::Column::SubjectId.eq(subject.id))
        .filter(channel_identities::Column::BotId.eq(bot_id))
        .all(db)
        .await?
    {
        let goes_to_old = keys
            .fernet
            .decrypt(&row.chat_id_enc)
            .is_ok_and(|c| c == old.expose().as_bytes());
        if goes_to_old {
            channel_identities::ActiveModel {
                id: Set(row.id),
                chat_id_enc: Set(keys.fernet.encrypt(new.expose().as_bytes())),
                ..Default::default()
            }
            .update(db)
            .await?;
        }
    }
    Ok(Some(subject))
}

/// Whether the subject already has ids on the bot but not the one at `index`: then that id,
/// theirs once (they are found by its pseudonym), was given up. Someone first seen on another
/// bot has no ids here yet, and a first contact that a concurrent delivery is writing has this
/// very one.
async fn gave_up(
    db: &DatabaseConnection,
    subject_id: i64,
    bot_id: i64,
    index: &str,
) -> Result<bool, DbErr> {
    let rows = channel_identities::Entity::find()
        .filter(channel_identities::Column::SubjectId.eq(subject_id))
        .filter(channel_identities::Column::BotId.eq(bot_id))
        .all(db)
        .await?;
    Ok(!rows.is_empty() && rows.iter().all(|r| r.blind_index != index))
}

/// A new subject with its first identity.
async fn create(
    db: &DatabaseConnection,
    keys: &Keys,
    (bot_id, channel, business): (i64, ChannelKind, &str),
    user: &PlatformId,
    chat: &PlatformId,
) -> Result<Subject, DbErr> {
    let index = blind_index(&keys.pseudonym, bot_id, channel, user);
    // One person across the bots of one business, and a stranger to every other business.
    let mut pseudonym = Pseudonym::derive_in(&keys.pseudonym, business, channel, user);
    let now = Utc::now();
    let mut existing = by_pseudonym(db, &pseudonym).await?;
    if let Some(found) = &existing
        && gave_up(db, found.id, bot_id, &index).await?
    {
        // The id was this person's and they moved on (a new number, a renewed session): whoever
        // has it now is someone else, with a pseudonym of their own.
        let fresh = PlatformId::new(format!(
            "{}#{}",
            user.expose(),
            crate::privacy::digest::random_token()
        ));
        pseudonym = Pseudonym::derive_in(&keys.pseudonym, business, channel, &fresh);
        existing = None;
    }
    let subject = match existing {
        Some(existing) => existing,
        None => {
            let inserted = subjects::ActiveModel {
                pseudonym: Set(pseudonym.as_str().to_string()),
                reachable: Set(true),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(db)
            .await;
            match inserted {
                Ok(model) => model,
                Err(err) => by_pseudonym(db, &pseudonym).await?.ok_or(err)?,
            }
        }
    };
    let identity = channel_identities::ActiveModel {
        subject_id: Set(subject.id),
        bot_id: Set(bot_id),
        channel: Set(channel.as_str().to_string()),
        blind_index: Set(index.clone()),
        user_id_enc: Set(keys.fernet.encrypt(user.expose().as_bytes())),
        chat_id_enc: Set(keys.fernet.encrypt(chat.expose().as_bytes())),
        created_at: Set(now),
        last_seen_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await;
    if let Err(err) = identity {
        return find(db, &index).await?.ok_or(err);
    }
    Ok(subject.into())
}

/// The subject with this pseudonym. The pseudonym is unique, so there is no `LIMIT` (SQLite
/// compiles a statement with a bound `LIMIT ?` again on every run; this runs for every new
/// person).
async fn by_pseudonym(
    db: &DatabaseConnection,
    pseudonym: &Pseudonym,
) -> Result<Option<subjects::Model>, DbErr> {
    Ok(subjects::Entity::find()
        .filter(subjects::Column::Pseudonym.eq(pseudonym.as_str()))
        .all(db)
        .await?
        .pop())
}

/// The subject behind a platform user on a bot, if known (never creates one).
pub async fn find_by_platform_id(
    db: &DatabaseConnection,
    keys: &Keys,
    bot_id: i64,
    channel: ChannelKind,
    user: &PlatformId,
) -> Result<Option<Subject>, DbErr> {
    find(db, &blind_index(&keys.pseudonym, bot_id, channel, user)).await
}

/// What [`find_with`] reads about a known person in one statement.
pub struct Found {
    pub subject: Subject,
    /// The value of the `extra` expression asked for.
    pub extra: Option<i32>,
    /// Their consent events on the bot, oldest first.
    pub consent_events: Vec<consent_events::Model>,
}

/// Like [`find_by_platform_id`], and reads in the same statement the person's consent events on
/// the bot and `extra`: an integer-valued expression that does not depend on the person (the
/// pipeline asks for the number of the policy version in effect). `None` when the person is not
/// known.
pub async fn find_with(
    db: &DatabaseConnection,
    keys: &Keys,
    bot_id: i64,
    channel: ChannelKind,
    user: &PlatformId,
    extra: SimpleExpr,
) -> Result<Option<Found>, DbErr> {
    let index = blind_index(&keys.pseudonym, bot_id, channel, user);
    // One row per consent event (one row with none), each carrying the person and `extra`.
    let events: RelationDef = channel_identities::Entity::belongs_to(consent_events::Entity)
        .from(channel_identities::Column::SubjectId)
        .to(consent_events::Column::SubjectId)
        .on_condition(|identity, event| {
            Expr::col((identity, channel_identities::Column::BotId))
                .equals((event, consent_events::Column::BotId))
                .into_condition()
        })
        .into();
    let mut select = identity_and_subject(&index)
        .expr_as(extra, EXTRA)
        .join(JoinType::LeftJoin, events)
        .order_by_asc(consent_events::Column::Id);
    for column in consent_events::Column::iter() {
        select = select.expr_as(
            Expr::col((consent_events::Entity, column)),
            format!("{EVENT}{}", column.as_str()),
        );
    }
    let rows = db
        .query_all_raw(select.build(db.get_database_backend()))
        .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let Some(subject) = seen(db, first).await? else {
        return Ok(None);
    };
    let extra = first.try_get::<Option<i32>>("", EXTRA)?;
    let mut consent_events = Vec::with_capacity(rows.len());
    for row in &rows {
        consent_events.extend(joined::<consent_events::Model>(row, EVENT)?);
    }
    Ok(Some(Found {
        subject,
        extra,
        consent_events,
    }))
}

async fn find(db: &DatabaseConnection, index: &str) -> Result<Option<Subject>, DbErr> {
    match lookup(db, index).await? {
        Some(row) => seen(db, &row).await,
        None => Ok(None),
    }
}

const EXTRA: &str = "extra";
/// Prefix of a consent event's columns in [`find_with`] (after sea-orm's `A_` and `B_`).
const EVENT: &str = "C_";

/// The identity and its subject, in one row (sea-orm's `A_` and `B_` column prefixes).
fn identity_and_subject(index: &str) -> SelectTwo<channel_identities::Entity, subjects::Entity> {
    // The blind index is unique, so there is no `LIMIT` (SQLite compiles a statement with a
    // bound `LIMIT ?` again on every run).
    channel_identities::Entity::find()
        .filter(channel_identities::Column::BlindIndex.eq(index))
        .find_also_related(subjects::Entity)
}

async fn lookup(db: &DatabaseConnection, index: &str) -> Result<Option<QueryResult>, DbErr> {
    let select = identity_and_subject(index);
    Ok(db
        .query_all_raw(select.build(db.get_database_backend()))
        .await?
        .pop())
}

/// The model under `prefix` in a row of a left join: `None` when the join found no row (its `id`
/// is NULL). A row that is there but cannot be read is an error, never taken for a missing one
/// (a consent withdrawal dropped that way would let an earlier grant stand).
fn joined<M: FromQueryResult>(row: &QueryResult, prefix: &str) -> Result<Option<M>, DbErr> {
    match row.try_get::<Option<i64>>("", &format!("{prefix}id"))? {
        Some(_) => Ok(Some(M::from_query_result(row, prefix)?)),
        None => Ok(None),
    }
}

/// The subject of a row from [`lookup`] or [`find_with`], noting that the person was seen.
async fn seen(db: &DatabaseConnection, row: &QueryResult) -> Result<Option<Subject>, DbErr> {
    let identity = channel_identities::Model::from_query_result(row, "A_")?;
    let subject = joined::<subjects::Model>(row, "B_")?;
    // "Last seen" drives the retention of inactive people; once an hour is precise enough and
    // spares a write per message.
    let now = Utc::now();
    if identity.last_seen_at < now - Duration::hours(1) {
        channel_identities::ActiveModel {
            id: Set(identity.id),
            last_seen_at: Set(now),
            ..Default::default()
        }
        .update(db)
        .await?;
    }
    Ok(subject.map(Subject::from))
}

/// Records whether the bot can currently reach the person (false after they blocked it).
pub async fn set_reachable(
    db: &impl ConnectionTrait,
    subject_id: i64,
    reachable: bool,
) -> Result<(), DbErr> {
    subjects::ActiveModel {
        id: Set(subject_id),
        reachable: Set(reachable),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

/// A subject's identities, with the raw ids decrypted (for their own export, or to tell them
/// something). Rows that no configured key decrypts are returned without ids.
pub struct Identity {
    pub bot_id: i64,
    pub channel: String,
    pub user_id: Option<String>,
    pub chat_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

pub async fn identities_of(
    db: &impl sea_orm::ConnectionTrait,
    keys: &Keys,
    subject_id: i64,
) -> Result<Vec<Identity>, DbErr> {
    let rows = channel_identities::Entity::find()
        .filter(channel_identities::Column::SubjectId.eq(subject_id))
        .all(db)
        .await?;
    let open = |token: &str| {
        keys.fernet
            .decrypt(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
    };
    Ok(rows
        .into_iter()
        .map(|r| Identity {
            bot_id: r.bot_id,
            channel: r.channel.clone(),
            user_id: open(&r.user_id_enc),
            chat_id: open(&r.chat_id_enc),
            created_at: r.created_at,
            last_seen_at: r.last_seen_at,
        })
        .collect())
}
