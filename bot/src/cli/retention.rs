//! `consentgate retention run [--dry-run]`: the retention sweep now, class by class.

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::Subcommand;

use crate::{app::App, rights::retention};

#[derive(Subcommand, Debug)]
pub enum RetentionAction {
    /// Run the retention sweep now and print, per class, what was deleted.
    Run {
        /// Only count what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
}

pub(super) async fn run(app: &App, action: RetentionAction) -> Result<()> {
    let RetentionAction::Run { dry_run } = action;
    print!("{}", sweep(app, Utc::now(), dry_run).await?);
    Ok(())
}

/// Runs (or, with `dry_run`, counts) the sweep as of `now`; returns what the command prints.
pub async fn sweep(app: &App, now: DateTime<Utc>, dry_run: bool) -> Result<String> {
    let integrations = app.offline_integrations();
    let report = app.sweeper(&integrations).run(now, dry_run).await?;
    Ok(retention::render(&report, dry_run))
}
