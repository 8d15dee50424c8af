//! Replies left unsent: at start and every few seconds while serving, each bot's outbox rows past
//! their lease (a crash left them, or a transient failure kept them) are claimed and sent again
//! through the bot's usual queues; rows older than [`outbox::KEPT_AT_MOST`] are dropped.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use consentgate_adapters::{Shutdown, delivery::Delivery};

use crate::pipeline::{Pipeline, outbox};

/// How often the outbox is looked at.
const EVERY: Duration = Duration::from_secs(5);

/// Runs until `shutdown` fires.
pub(super) async fn run(
    pipeline: Arc<Pipeline>,
    deliveries: Vec<Delivery>,
    mut shutdown: Shutdown,
) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => once(&pipeline, &deliveries).await,
            _ = shutdown.requested() => break,
        }
    }
}

async fn once(pipeline: &Pipeline, deliveries: &[Delivery]) {
    let now = Utc::now();
    match outbox::drop_stale(pipeline.db(), now - outbox::KEPT_AT_MOST).await {
        Ok(0) => {}
        Ok(dropped) => tracing::warn!(dropped, "replies unsent for a day were dropped"),
        Err(err) => tracing::warn!(error = %err, "could not read the outbox"),
    }
    for delivery in deliveries {
        match pipeline.unsent(delivery.bot(), now).await {
            Ok(unsent) => {
                let mut resent = 0;
                for u in unsent {
                    resent += usize::from(delivery.resend(u));
                }
                if resent > 0 {
                    tracing::info!(bot = delivery.bot(), resent, "unsent replies sent again");
                }
            }
            Err(err) => {
                tracing::warn!(bot = delivery.bot(), error = %err, "could not read the outbox")
            }
        }
    }
}
