//! The one HTTP server: the web chat, health probes, metrics and export downloads.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use chrono::Utc;
use sea_orm::DatabaseConnection;

use consentgate_adapters::webchat::WebChat;

use crate::{audit::AuditLog, export, keys::Keys, metrics::Metrics, pseudonym::Pseudonym, storage};

#[derive(Clone)]
struct Health {
    db: DatabaseConnection,
}

/// Every route of the gateway.
pub fn router(
    db: DatabaseConnection,
    metrics: Arc<Metrics>,
    webchat: Option<&Arc<WebChat>>,
) -> Router {
    let health = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(Health { db })
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

/// Ready when the database answers and every migration is applied.
async fn ready(State(h): State<Health>) -> impl IntoResponse {
    let database = h.db.ping().await.is_ok();
    let migrations = database && storage::migrations_applied(&h.db).await.unwrap_or(false);
    let status = if database && migrations {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(serde_json::json!({"database": database, "migrations": migrations})),
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
    let (subject_id, bot_id) = match export::redeem(&e.db, &token, now).await {
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
    let pseudonym = data["subject"]["pseudonym"]
        .as_str()
        .map(|s| Pseudonym::from_stored(s.to_string()));
    if let Err(err) = e
        .audit
        .record(
            &e.db,
            Some(bot_id),
            pseudonym.as_ref(),
            "rights.export_downloaded",
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
