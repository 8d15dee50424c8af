//! The one HTTP server: the web chat, health probes, metrics and export downloads.

pub mod admin;
pub mod console;
pub mod headers;
pub mod limits;
pub mod server;

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use chrono::Utc;
use sea_orm::DatabaseConnection;

use consentgate_adapters::webchat::WebChat;

use crate::audit::Action;
use crate::{
    app::metrics::Metrics, audit::AuditLog, owners::integrations::Integrations,
    privacy::keys::Keys, privacy::pseudonym::Pseudonym, rights::export, store,
};

/// Whether each channel is connected, by bot name (pollers: their last getUpdates succeeded;
/// webhook bots: registered).
pub type ChannelStates = Vec<(String, Arc<std::sync::atomic::AtomicBool>)>;

#[derive(Clone)]
struct Health {
    db: DatabaseConnection,
    channels: Arc<ChannelStates>,
}

/// Every route of the gateway.
pub fn router(
    db: DatabaseConnection,
    metrics: Arc<Metrics>,
    webchat: Option<&Arc<WebChat>>,
    channels: ChannelStates,
) -> Router {
    let health = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(Health {
            db,
            channels: Arc::new(channels),
        })
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics.render(),
                    )
                }
            }),
        );
    match webchat {
        Some(chat) => health.merge(chat.router()),
        None => health,
    }
}

/// Ready when the database answers, every migration is applied and every channel is
/// connected.
async fn ready(State(h): State<Health>) -> impl IntoResponse {
    let database = h.db.ping().await.is_ok();
    let migrations = database && store::migrations_applied(&h.db).await.unwrap_or(false);
    let channels: serde_json::Map<String, serde_json::Value> = h
        .channels
        .iter()
        .map(|(name, up)| {
            (
                name.clone(),
                serde_json::Value::Bool(up.load(std::sync::atomic::Ordering::Relaxed)),
            )
        })
        .collect();
    let connected = channels.values().all(|v| v.as_bool() == Some(true));
    let status = if database && migrations && connected {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(
            serde_json::json!({"database": database, "migrations": migrations, "channels": channels}),
        ),
    )
}

#[derive(Clone)]
struct Exports {
    db: DatabaseConnection,
    keys: Arc<Keys>,
    audit: AuditLog,
}

/// `GET /export/{token}`: the one-time download behind an `/export` link.
pub fn export_router(db: DatabaseConnection, keys: Arc<Keys>, audit: AuditLog) -> Router {
    Router::new()
        .route("/export/{token}", get(download))
        .with_state(Exports { db, keys, audit })
}

async fn download(State(e): State<Exports>, Path(token): Path<String>) -> Response {
    let gone = || {
        (
            StatusCode::GONE,
            [(header::CACHE_CONTROL, "no-store")],
            Html(
                "<!doctype html><meta charset=utf-8><title>Link expired</title>\
                 <p>This download link has expired or was already used. Send /export in the \
                 chat for a new one.</p>",
            ),
        )
            .into_response()
    };
    let failed = || {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CACHE_CONTROL, "no-store")],
            "The export could not be prepared; please try again shortly.",
        )
            .into_response()
    };
    let now = Utc::now();
    let (link, subject_id, bot_id) = match export::find_link(&e.db, &token, now).await {
        Ok(Some(found)) => found,
        Ok(None) => return gone(),
        Err(err) => {
            tracing::error!(error = %err, "export link lookup failed");
            return failed();
        }
    };
    let data = match export::build(&e.db, &e.keys, subject_id, now).await {
        Ok(Some(data)) => data,
        Ok(None) => return gone(),
        Err(err) => {
            tracing::error!(error = %err, "export failed");
            return failed();
        }
    };
    // Used up only now that the file is ready: a failure above leaves the link working.
    match export::use_link(&e.db, link, now).await {
        Ok(true) => {}
        Ok(false) => return gone(),
        Err(err) => {
            tracing::error!(error = %err, "export link update failed");
            return failed();
        }
    }
    let pseudonym = data["subject"]["pseudonym"]
        .as_str()
        .map(|s| Pseudonym::from_stored(s.to_string()));
    if let Err(err) = e
        .audit
        .record(
            &e.db,
            Some(bot_id),
            pseudonym.as_ref(),
            Action::RightsExportDownloaded,
            serde_json::json!({}),
        )
        .await
    {
        tracing::error!(error = %err, "could not audit the export download");
        return failed();
    }
    let body = serde_json::to_vec_pretty(&data).unwrap_or_default();
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"consentgate-export.json\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

#[derive(Clone)]
struct OAuthState {
    integrations: Arc<Integrations>,
}

#[derive(serde::Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /oauth/{provider}/callback`: where a provider sends the owner's browser back.
/// Limited per client address: a flood from one address cannot turn others' callbacks away.
pub fn oauth_router(integrations: Arc<Integrations>) -> Router {
    let router = Router::new()
        .route("/oauth/{provider}/callback", get(oauth_callback))
        .with_state(OAuthState { integrations });
    limits::per_client(router, 10, 20)
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        Html(format!(
            "<!doctype html><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
             <title>{t}</title><style>{style}</style><body><h1>{t}</h1><p>{b}</p></body>",
            t = escape(title),
            b = escape(body),
            style = headers::PAGE_STYLE
        )),
    )
        .into_response()
}

async fn oauth_callback(
    State(s): State<OAuthState>,
    Path(provider): Path<String>,
    Query(q): Query<CallbackQuery>,
) -> Response {
    match s
        .integrations
        .complete(
            &provider,
            q.code.as_deref(),
            q.state.as_deref(),
            q.error.as_deref(),
            Utc::now(),
        )
        .await
    {
        Ok(link) => {
            let title = s
                .integrations
                .provider(&link.provider)
                .map_or(link.provider.clone(), |p| p.title.clone());
            page(
                StatusCode::OK,
                &format!("Almost done: confirm {title} in the chat"),
                "Go back to the chat and confirm there that the account named is yours. It is not used until you do.",
            )
        }
        Err(err) => page(
            StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_REQUEST),
            "Nothing was linked",
            &err.to_string(),
        ),
    }
}
