//! The one HTTP server: the web chat, and health probes.

use std::sync::Arc;

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use sea_orm::DatabaseConnection;

use consentgate_adapters::webchat::WebChat;

use crate::{metrics::Metrics, storage};

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
