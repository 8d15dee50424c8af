//! Housekeeping while serving: every minute, rate-limit state of people who have gone quiet is
//! dropped and the day's counts are added to the database (the last ones at shutdown, by
//! `Gateway::stop`, once every answer is in); at the configured interval, integration tokens due are refreshed and the retention
//! sweep runs.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use consentgate_adapters::outbound::Pacer;

use super::{App, Shutdown};
use crate::{owners::integrations::Integrations, pipeline::Pipeline};

/// Runs until `shutdown` fires.
pub(super) async fn run(
    app: App,
    pipeline: Arc<Pipeline>,
    metrics: Arc<super::metrics::Metrics>,
    integrations: Arc<Integrations>,
    pacers: Vec<Arc<Pacer>>,
    mut shutdown: Shutdown,
) {
    let settings = &app.config.retention;
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    // The first sweep a minute after start, then at the configured interval.
    let first = tokio::time::Instant::now() + settings.sweep_interval.min(Duration::from_secs(60));
    let mut sweep = tokio::time::interval_at(first, settings.sweep_interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                pipeline.housekeeping();
                for pacer in &pacers {
                    pacer.housekeeping();
                }
                flush_counts(&app, &metrics).await;
            }
            _ = sweep.tick() => sweep_once(&app, &integrations).await,
            _ = shutdown.requested() => break,
        }
    }
}

/// Adds the day's counts to the database; kept for the next minute when it cannot.
async fn flush_counts(app: &App, metrics: &super::metrics::Metrics) {
    if let Err(err) = metrics.daily.flush(&app.db).await {
        tracing::warn!(error = %err, "daily counts not written; tried again in a minute");
    }
}

async fn sweep_once(app: &App, integrations: &Integrations) {
    match integrations.expire_pending(Utc::now()).await {
        Ok(0) => {}
        Ok(expired) => tracing::info!(expired, "linked accounts left unconfirmed were revoked"),
        Err(err) => tracing::warn!(error = %err, "could not expire unconfirmed links"),
    }
    match integrations.refresh_due(Utc::now()).await {
        Ok((0, 0)) => {}
        Ok((refreshed, broken)) => {
            tracing::info!(refreshed, broken, "integration tokens refreshed")
        }
        Err(err) => tracing::warn!(error = %err, "token refresh sweep failed"),
    }
    let pruned = match crate::web::console::session::prune(&app.db).await {
        Ok(sessions) => crate::web::console::links::prune(&app.db)
            .await
            .map(|links| sessions + links),
        Err(err) => Err(err),
    };
    match pruned {
        Ok(0) => {}
        Ok(pruned) => tracing::debug!(pruned, "ended console sessions and links forgotten"),
        Err(err) => tracing::warn!(error = %err, "could not forget ended console sessions"),
    }
    match app.sweeper(integrations).run(Utc::now(), false).await {
        Ok(report) => {
            for r in report.iter().filter(|r| r.count > 0) {
                tracing::info!(class = r.class, deleted = r.count, "retention sweep");
            }
        }
        Err(err) => tracing::warn!(error = %err, "retention sweep failed; it runs again later"),
    }
}
