//! The admin API (JSON under `/admin/api/`) and the admin keys that open it.
//!
//! Keys are made by `consentgate admin keys create --role admin|auditor`, printed once and
//! stored only as SHA-256; a request sends one as a bearer token. `admin` may read and revoke,
//! `auditor` may only read. Every request is audited (the key's id, never the key), and the API
//! is rate limited. No response ever holds a token.

use std::{collections::HashMap, num::NonZeroU32, sync::Arc};

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::Utc;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set, sea_query::Expr,
};
use serde::Deserialize;
use serde_json::{Value, json};

use consentgate_entity::{admin_keys, consent_events};

use crate::audit::Action;
use crate::owners::status::Status;
use crate::privacy::digest::{self, sha256_hex};
use crate::{
    audit::verify,
    owners::integrations::{Filter, Integrations},
};

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Admin,
    Auditor,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "auditor" => Some(Role::Auditor),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }
}

/// Creates a key; returns it (the only time it is ever shown).
pub async fn create_key(db: &DatabaseConnection, role: Role, label: &str) -> Result<String, DbErr> {
    let key = format!("cgk_{}", digest::random_token());
    admin_keys::ActiveModel {
        key_sha256: Set(sha256_hex(&key)),
        role: Set(role.as_str().to_string()),
        label: Set(label.to_string()),
        created_at: Set(Utc::now()),
        last_used_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(key)
}

/// Revokes a key: it stops working at once, and its console sessions end. `false` when there
/// is no such key.
pub async fn revoke_key(db: &DatabaseConnection, id: i64) -> Result<bool, DbErr> {
    let revoked = admin_keys::Entity::update_many()
        .col_expr(admin_keys::Column::RevokedAt, Expr::value(Some(Utc::now())))
        .filter(admin_keys::Column::Id.eq(id))
        .filter(admin_keys::Column::RevokedAt.is_null())
        .exec(db)
        .await?
        .rows_affected
        == 1;
    super::console::session::end_all(db, &format!("key:{id}")).await?;
    Ok(revoked)
}

/// Every key: id, role, label, created, last used, revoked. Never the key.
pub async fn list_keys(db: &DatabaseConnection) -> Result<Vec<Value>, DbErr> {
    Ok(admin_keys::Entity::find()
        .order_by_asc(admin_keys::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|k| {
            json!({"id": k.id, "role": k.role, "label": k.label, "created_at": k.created_at,
                   "last_used_at": k.last_used_at, "revoked_at": k.revoked_at})
        })
        .collect())
}

/// The key a request presents, if it is valid: (key id, role).
async fn authenticate(
    db: &DatabaseConnection,
    headers: &HeaderMap,
) -> Result<Option<(i64, Role)>, DbErr> {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return Ok(None);
    };
    find_key(db, token).await
}

/// The live key `token` is, noting its use: (key id, role).
pub async fn find_key(db: &DatabaseConnection, token: &str) -> Result<Option<(i64, Role)>, DbErr> {
    let token = token.trim();
    if token.is_empty() || token.len() >= 200 {
        return Ok(None);
    }
    // Looked up by hash, so the key itself is never compared byte by byte with anything stored.
    let hash = sha256_hex(token);
    let Some(row) = admin_keys::Entity::find()
        .filter(admin_keys::Column::KeySha256.eq(hash.clone()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if row.revoked_at.is_some()
        || !consentgate_adapters::constant_time_eq(row.key_sha256.as_bytes(), hash.as_bytes())
    {
        return Ok(None);
    }
    admin_keys::Entity::update_many()
        .col_expr(
            admin_keys::Column::LastUsedAt,
            Expr::value(Some(Utc::now())),
        )
        .filter(admin_keys::Column::Id.eq(row.id))
        .exec(db)
        .await?;
    Ok(Role::parse(&row.role).map(|r| (row.id, r)))
}

#[derive(Clone)]
struct Admin {
    i: Arc<Integrations>,
    per_key: Arc<DefaultKeyedRateLimiter<i64>>,
    /// The last whole-chain check: when it ran and what it found.
    verified: Arc<tokio::sync::Mutex<Option<LastCheck>>>,
}

type LastCheck = (std::time::Instant, (chrono::DateTime<Utc>, verify::Report));

fn error(status: StatusCode, msg: &str) -> Response {
    (status, Json(json!({"error": msg}))).into_response()
}

impl Admin {
    /// Rate limit, authenticate, check the role, audit. Returns the key id or a response.
    async fn gate(
        &self,
        headers: &HeaderMap,
        need: Role,
        action: Action,
        detail: Value,
    ) -> Result<i64, Response> {
        let db = &self.i.db;
        let (key, role) = match authenticate(db, headers).await {
            Ok(Some(found)) => found,
            Ok(None) => {
                return Err(error(
                    StatusCode::UNAUTHORIZED,
                    "a valid admin key is needed as `Authorization: Bearer …`",
                ));
            }
            Err(err) => {
                tracing::error!(error = %err, "admin key lookup failed");
                return Err(error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database unavailable",
                ));
            }
        };
        // Kept per key, after authentication: no one else's requests use up an admin's.
        if self.per_key.check_key(&key).is_err() {
            return Err(error(
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests; slow down",
            ));
        }
        if need == Role::Admin && role != Role::Admin {
            return Err(error(
                StatusCode::FORBIDDEN,
                "this key may only read (auditor)",
            ));
        }
        let mut detail = detail;
        detail["key"] = json!(key);
        detail["role"] = json!(role.as_str());
        if let Err(err) = self.i.audit.record(db, None, None, action, detail).await {
            tracing::error!(error = %err, "could not audit an admin request; refused");
            return Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "database unavailable",
            ));
        }
        Ok(key)
    }
}

/// The admin API's routes: limited per client address before a key is looked up, and per key
/// after.
pub fn router(integrations: Arc<Integrations>) -> Router {
    let quota = Quota::per_second(NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(40).unwrap_or(NonZeroU32::MIN));
    let router = Router::new()
        .route("/admin/api/integrations", get(list))
        .route("/admin/api/integrations/revoke", post(revoke_many))
        .route("/admin/api/integrations/{id}/revoke", post(revoke_one))
        .route("/admin/api/consent/stats", get(consent_stats))
        .route("/admin/api/audit/status", get(audit_status))
        .with_state(Admin {
            i: integrations,
            per_key: Arc::new(RateLimiter::keyed(quota)),
            verified: Arc::new(tokio::sync::Mutex::new(None)),
        });
    super::limits::per_client(router, 20, 40)
}

#[derive(Deserialize, Default)]
struct ListQuery {
    bot: Option<String>,
    provider: Option<String>,
    owner: Option<String>,
    status: Option<String>,
}

/// Turns the query (bot by name) into a filter; `Err` names an unknown bot.
pub async fn filter_for(
    db: &DatabaseConnection,
    bot: Option<&str>,
    provider: Option<String>,
    owner: Option<String>,
    status: Option<String>,
) -> Result<Result<Filter, String>, DbErr> {
    let valid_owner =
        |o: &str| (8..=64).contains(&o.len()) && o.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(owner) = &owner
        && !valid_owner(owner)
    {
        return Ok(Err(
            "owner must be a pseudonym: 8 to 64 hex digits".to_string()
        ));
    }
    let owner = owner.map(|o| o.to_ascii_lowercase());
    let status = match status.as_deref().map(Status::parse).transpose() {
        Ok(status) => status,
        Err(unknown) => return Ok(Err(unknown.to_string())),
    };
    let bot_id = match bot {
        None => None,
        Some(name) => {
            let names = crate::rights::export::bot_names(db).await?;
            match names.into_iter().find(|(_, n)| n == name) {
                Some((id, _)) => Some(id),
                None => return Ok(Err(format!("no bot named `{name}`"))),
            }
        }
    };
    Ok(Ok(Filter {
        bot_id,
        provider,
        owner,
        status,
    }))
}

async fn list(State(a): State<Admin>, headers: HeaderMap, Query(q): Query<ListQuery>) -> Response {
    if let Err(r) = a
        .gate(
            &headers,
            Role::Auditor,
            Action::AdminRead,
            json!({"endpoint": "integrations"}),
        )
        .await
    {
        return r;
    }
    let filter = match filter_for(&a.i.db, q.bot.as_deref(), q.provider, q.owner, q.status).await {
        Ok(Ok(f)) => f,
        Ok(Err(msg)) => return error(StatusCode::BAD_REQUEST, &msg),
        Err(_) => return error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    };
    match a.i.list(&filter).await {
        Ok(links) => Json(json!({"integrations": links})).into_response(),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

async fn revoke_one(State(a): State<Admin>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    if let Err(r) = a
        .gate(
            &headers,
            Role::Admin,
            Action::AdminRevoke,
            json!({"integration": id}),
        )
        .await
    {
        return r;
    }
    match a.i.revoke(id, "admin").await {
        Ok(Some(r)) => Json(json!({"revoked": [r]})).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "no such integration"),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

#[derive(Deserialize)]
struct RevokeMany {
    provider: Option<String>,
    owner: Option<String>,
    bot: Option<String>,
}

async fn revoke_many(
    State(a): State<Admin>,
    headers: HeaderMap,
    body: Option<Json<RevokeMany>>,
) -> Response {
    let Some(Json(body)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "send JSON: {\"provider\": …} or {\"owner\": …}",
        );
    };
    if body.provider.is_none() && body.owner.is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "name a provider or an owner: revoking everything at once is not offered",
        );
    }
    if let Err(r) = a
        .gate(
            &headers,
            Role::Admin,
            Action::AdminRevoke,
            json!({"provider": body.provider, "owner": body.owner, "bot": body.bot}),
        )
        .await
    {
        return r;
    }
    let filter = match filter_for(
        &a.i.db,
        body.bot.as_deref(),
        body.provider,
        body.owner,
        None,
    )
    .await
    {
        Ok(Ok(f)) => f,
        Ok(Err(msg)) => return error(StatusCode::BAD_REQUEST, &msg),
        Err(_) => return error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    };
    match a.i.revoke_all(&filter, "admin").await {
        Ok(revoked) => Json(json!({"revoked": revoked})).into_response(),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

/// Counts of each person's latest decision, per bot and purpose.
pub async fn consent_counts(db: &DatabaseConnection) -> Result<Value, DbErr> {
    let events = consent_events::Entity::find()
        .order_by_asc(consent_events::Column::Id)
        .all(db)
        .await?;
    let mut latest: HashMap<(i64, i64, String), String> = HashMap::new();
    for e in events {
        latest.insert((e.bot_id, e.subject_id, e.purpose), e.action);
    }
    let names = crate::rights::export::bot_names(db).await?;
    let mut counts: HashMap<String, HashMap<String, HashMap<String, u64>>> = HashMap::new();
    for ((bot, _, purpose), action) in latest {
        let bot = names.get(&bot).cloned().unwrap_or_else(|| bot.to_string());
        *counts
            .entry(bot)
            .or_default()
            .entry(purpose)
            .or_default()
            .entry(action)
            .or_default() += 1;
    }
    Ok(json!(counts))
}

async fn consent_stats(State(a): State<Admin>, headers: HeaderMap) -> Response {
    if let Err(r) = a
        .gate(
            &headers,
            Role::Auditor,
            Action::AdminRead,
            json!({"endpoint": "consent_stats"}),
        )
        .await
    {
        return r;
    }
    match consent_counts(&a.i.db).await {
        Ok(counts) => Json(json!({"latest_decisions": counts})).into_response(),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

async fn audit_status(State(a): State<Admin>, headers: HeaderMap) -> Response {
    if let Err(r) = a
        .gate(
            &headers,
            Role::Auditor,
            Action::AdminRead,
            json!({"endpoint": "audit_status"}),
        )
        .await
    {
        return r;
    }
    // One whole-chain check at a time, and at most one a minute: every request reads the same
    // answer until then, so no key can make the gateway walk the chain on every call. (Each
    // request adds its own entry, so the head itself cannot be the cache's key.)
    let mut last = a.verified.lock().await;
    let fresh = last
        .as_ref()
        .is_some_and(|(at, _)| at.elapsed() < VERIFY_AT_MOST_EVERY);
    if !fresh {
        match verify::verify(&a.i.db, &a.i.keys.audit, None).await {
            Ok(report) => *last = Some((std::time::Instant::now(), (Utc::now(), report))),
            Err(_) => return error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
        }
    }
    let Some((_, (checked_at, report))) = last.as_ref() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable");
    };
    Json(json!({
        "ok": report.broken.is_none(),
        "entries": report.entries,
        "head": report.head.as_ref().map(|h| h.to_string()),
        "broken": report.broken.as_ref().map(|b| json!({"seq": b.seq, "reason": b.reason})),
        "checked_at": checked_at.to_rfc3339(),
    }))
    .into_response()
}

/// How often the admin API walks the whole audit chain at most; `consentgate audit verify`
/// always does.
const VERIFY_AT_MOST_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
