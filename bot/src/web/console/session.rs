//! Console sessions, kept in the database (so every replica knows them and a restart signs no
//! one out): the cookie holds a random id, the table only its SHA-256. A session ends after
//! [`IDLE`] without use or [`ABSOLUTE`] after it began, at sign-out, or when its holder signs
//! out everywhere. Signing in (and each step of it) replaces the session id, so an id planted
//! before sign-in is worth nothing after it.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
    sea_query::Expr,
};

use consentgate_entity::console_sessions;

use crate::privacy::digest::{random_token, sha256_hex};

/// Who a session is for, and so what it may see and change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// An admin key: everything.
    Admin,
    /// An auditor key: reads everything, changes nothing.
    Auditor,
    /// A business owner (signed in from their chat): their own bots only.
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Auditor => "auditor",
            Role::Owner => "owner",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "auditor" => Some(Role::Auditor),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }
}

impl From<crate::web::admin::Role> for Role {
    fn from(role: crate::web::admin::Role) -> Role {
        match role {
            crate::web::admin::Role::Admin => Role::Admin,
            crate::web::admin::Role::Auditor => Role::Auditor,
        }
    }
}

/// A session unused this long ends.
pub const IDLE: Duration = Duration::minutes(30);
/// A session ends this long after sign-in, however active.
pub const ABSOLUTE: Duration = Duration::hours(12);
/// How long the steps of signing in may take.
pub const SIGNING_IN: Duration = Duration::minutes(10);

/// How far signing in has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The admin key was right; the second factor is next.
    Key,
    /// Signed in.
    Full,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Key => "key",
            Stage::Full => "full",
        }
    }
}

/// A live session.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: i64,
    /// `key:{id}`, or `owner:{pseudonym}`.
    pub principal: String,
    pub role: Role,
    pub stage: Stage,
    pub csrf: String,
    pub created_at: DateTime<Utc>,
}

impl Session {
    /// The admin key this session belongs to.
    pub fn key_id(&self) -> Option<i64> {
        self.principal.strip_prefix("key:")?.parse().ok()
    }

    /// The owner's pseudonym, for an owner's session.
    pub fn owner(&self) -> Option<&str> {
        self.principal.strip_prefix("owner:")
    }

    /// Who did it, for the audit log: the key's id or the owner's pseudonym.
    pub fn actor(&self) -> serde_json::Value {
        match (self.key_id(), self.owner()) {
            (Some(key), _) => serde_json::json!({"key": key, "role": self.role.as_str()}),
            (_, Some(owner)) => serde_json::json!({"owner": owner, "role": self.role.as_str()}),
            _ => serde_json::json!({"role": self.role.as_str()}),
        }
    }
}

/// Opens a session; returns the id for the cookie (shown nowhere else) and the session.
pub async fn open(
    db: &DatabaseConnection,
    principal: &str,
    role: Role,
    stage: Stage,
) -> Result<(String, Session), DbErr> {
    let token = random_token();
    let now = Utc::now();
    let lasts = match stage {
        Stage::Key => SIGNING_IN,
        Stage::Full => ABSOLUTE,
    };
    let row = console_sessions::ActiveModel {
        token_sha256: Set(sha256_hex(&token)),
        principal: Set(principal.to_string()),
        role: Set(role.as_str().to_string()),
        stage: Set(stage.as_str().to_string()),
        csrf: Set(random_token()),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(now + lasts),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((
        token,
        from_row(row).ok_or_else(|| DbErr::Custom("bad session row".into()))?,
    ))
}

fn from_row(row: console_sessions::Model) -> Option<Session> {
    Some(Session {
        id: row.id,
        principal: row.principal,
        role: Role::parse(&row.role)?,
        stage: match row.stage.as_str() {
            "key" => Stage::Key,
            "full" => Stage::Full,
            _ => return None,
        },
        csrf: row.csrf,
        created_at: row.created_at,
    })
}

/// The live session whose id is `token`, its use noted; `None` when there is none (unknown,
/// ended, idle too long or too old).
pub async fn find(db: &DatabaseConnection, token: &str) -> Result<Option<Session>, DbErr> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let Some(row) = console_sessions::Entity::find()
        .filter(console_sessions::Column::TokenSha256.eq(sha256_hex(token)))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let now = Utc::now();
    if row.revoked_at.is_some() || row.expires_at <= now || row.last_seen_at + IDLE <= now {
        return Ok(None);
    }
    console_sessions::Entity::update_many()
        .col_expr(console_sessions::Column::LastSeenAt, Expr::value(now))
        .filter(console_sessions::Column::Id.eq(row.id))
        .exec(db)
        .await?;
    Ok(from_row(row))
}

/// Ends one session; `false` when it had ended already.
pub async fn end(db: &DatabaseConnection, id: i64) -> Result<bool, DbErr> {
    Ok(console_sessions::Entity::update_many()
        .col_expr(
            console_sessions::Column::RevokedAt,
            Expr::value(Some(Utc::now())),
        )
        .filter(console_sessions::Column::Id.eq(id))
        .filter(console_sessions::Column::RevokedAt.is_null())
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// Ends every session of `principal`; how many were live.
pub async fn end_all(db: &DatabaseConnection, principal: &str) -> Result<u64, DbErr> {
    Ok(console_sessions::Entity::update_many()
        .col_expr(
            console_sessions::Column::RevokedAt,
            Expr::value(Some(Utc::now())),
        )
        .filter(console_sessions::Column::Principal.eq(principal))
        .filter(console_sessions::Column::RevokedAt.is_null())
        .exec(db)
        .await?
        .rows_affected)
}

/// Replaces `old` with a new session at `stage` (a new id, a new CSRF token).
pub async fn advance(
    db: &DatabaseConnection,
    old: &Session,
    stage: Stage,
) -> Result<(String, Session), DbErr> {
    // Only if it is still live: a key revoked or reset meanwhile ended it, and then signing in
    // goes no further.
    if !end(db, old.id).await? {
        return Err(DbErr::RecordNotUpdated);
    }
    open(db, &old.principal, old.role, stage).await
}

/// Forgets sessions that ended more than a day ago.
pub async fn prune(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let cutoff = Utc::now() - Duration::days(1);
    Ok(console_sessions::Entity::delete_many()
        .filter(console_sessions::Column::ExpiresAt.lt(cutoff))
        .exec(db)
        .await?
        .rows_affected)
}
