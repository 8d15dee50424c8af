//! `consentgate owners invite --bot NAME`: a one-time code that makes whoever sends
//! `/claim CODE` to the bot one of its owners.

use anyhow::{Context, Result};
use clap::Subcommand;

use crate::{app::App, rights};

#[derive(Subcommand, Debug)]
pub enum OwnersAction {
    /// Print a one-time invite code (valid 7 days); whoever sends `/claim CODE` to the bot
    /// becomes an owner.
    Invite {
        #[arg(long)]
        bot: String,
    },
}

pub(super) async fn run(app: &App, action: OwnersAction) -> Result<()> {
    let OwnersAction::Invite { bot } = action;
    // Any bot registered in the database, as this command has always looked them up.
    let (id, _) = rights::export::bot_names(&app.db)
        .await?
        .into_iter()
        .find(|(_, n)| *n == bot)
        .with_context(|| format!("--bot {bot}: no such bot in the configuration"))?;
    let code = app
        .offline_integrations()
        .invite(id, chrono::Utc::now())
        .await?;
    println!("{code}");
    eprintln!("Send `/claim {code}` to bot `{bot}` within 7 days. The code works once.");
    Ok(())
}
