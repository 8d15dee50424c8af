//! `consentgate policy publish FILE`: a new policy version for each bot, with a summary of what
//! changed, and (with `--notify`) a notice to everyone who had consented.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;

use crate::{
    app::App,
    consent::{Draft, policy},
    pipeline::BotContext,
};

#[derive(Subcommand, Debug)]
pub enum PolicyAction {
    /// Store FILE as the next version of the policy text, with the configured purposes. People
    /// whose purposes changed text are asked again on their next message.
    Publish {
        /// The general policy text.
        file: PathBuf,
        /// What changed, in words people understand (shown by /privacy).
        #[arg(long)]
        summary: String,
        /// A label for the version (default: the effective date).
        #[arg(long)]
        label: Option<String>,
        /// When it takes effect: YYYY-MM-DD or RFC 3339 (default: now).
        #[arg(long)]
        effective: Option<String>,
        /// Only this bot (repeatable; default: every configured bot).
        #[arg(long = "bot")]
        bots: Vec<String>,
        /// Tell everyone who had consented, paced by each bot's limit (Telegram and Bale).
        #[arg(long)]
        notify: bool,
    },
}

pub(super) async fn run(app: &App, action: PolicyAction) -> Result<()> {
    let PolicyAction::Publish {
        file,
        summary,
        label,
        effective,
        bots,
        notify,
    } = action;
    let out = publish(
        app,
        PublishRequest {
            file: &file,
            label,
            summary,
            effective,
            bots,
            notify,
        },
    )
    .await?;
    print!("{out}");
    Ok(())
}

/// What `policy publish` was asked to do.
pub struct PublishRequest<'a> {
    pub file: &'a Path,
    pub label: Option<String>,
    pub summary: String,
    /// RFC 3339 or YYYY-MM-DD; now when absent.
    pub effective: Option<String>,
    /// Bot names; every configured bot when empty.
    pub bots: Vec<String>,
    pub notify: bool,
}

/// When a version takes effect: RFC 3339, or a day (midnight UTC).
pub fn parse_effective(value: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .with_context(|| format!("--effective `{value}`: expected YYYY-MM-DD or RFC 3339"))?;
    Ok(day
        .and_hms_opt(0, 0, 0)
        .context("midnight exists")?
        .and_utc())
}

/// Publishes the draft for each chosen bot; returns what the command prints.
pub async fn publish(app: &App, req: PublishRequest<'_>) -> Result<String> {
    let text = std::fs::read_to_string(req.file)
        .with_context(|| format!("cannot read {}", req.file.display()))?;
    anyhow::ensure!(!text.trim().is_empty(), "{} is empty", req.file.display());
    anyhow::ensure!(
        !req.summary.trim().is_empty(),
        "--summary is required: say what changed, in words people understand"
    );
    let effective_at = match &req.effective {
        Some(v) => parse_effective(v)?,
        None => Utc::now(),
    };
    let chosen: Vec<&BotContext> = if req.bots.is_empty() {
        app.bots.iter().collect()
    } else {
        req.bots
            .iter()
            .map(|name| app.bot(name))
            .collect::<Result<_>>()?
    };
    let draft = Draft {
        label: req
            .label
            .clone()
            .unwrap_or_else(|| effective_at.format("%Y-%m-%d").to_string()),
        text,
        summary: req.summary.trim().to_string(),
        effective_at,
        purposes: policy::configured_purposes(&app.config),
        system_prompt: None,
    };
    let mut out = String::new();
    for bot in chosen {
        let done = policy::Publishing {
            db: &app.db,
            audit: &app.audit,
            keys: &app.keys,
            notifier: &app.notifier,
            by: None,
        }
        .publish(bot, &draft, req.notify)
        .await?;
        out.push_str(&done);
    }
    Ok(out)
}
