//! `consentgate owners invite --bot NAME`: a one-time code that makes whoever sends
//! `/claim CODE` to the bot one of its owners.

use anyhow::Result;
use clap::Subcommand;

use crate::app::App;

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
    let id = app.bot(&bot)?.id;
    let code = app
        .offline_integrations()
        .invite(id, chrono::Utc::now())
        .await?;
    println!("{code}");
    eprintln!("Send `/claim {code}` to bot `{bot}` within 7 days. The code works once.");
    Ok(())
}
