//! The command line. One file per command group, each with its arguments and what it does;
//! this file only parses and routes, as mini-redis's `cmd/`. Commands that work on data open the
//! same [`App`] as `serve`.

mod admin;
mod audit;
pub mod consent;
mod keys;
mod migrate;
mod owners;
pub mod payments;
pub mod policy;
mod probe;
mod read_pdf;
mod redact;
pub mod retention;
mod serve;

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::{
    app::{
        App,
        telemetry::{self, LogFormat},
    },
    config::{Config, ProcessEnv, env},
    privacy::keys::Keys,
};

const EXAMPLES: &str = "\
Examples:
  consentgate serve
      Web chat on http://127.0.0.1:8080 with SQLite and the offline echo provider.
  TELEGRAM_BOT_TOKEN=123456:ABC… consentgate serve
      The same, plus a Telegram bot (long polling).
  LLM_BASE_URL=https://api.openai.com/v1 LLM_MODEL=gpt-4o-mini LLM_API_KEY=sk-… consentgate serve
      Answer with an OpenAI-compatible provider.
  consentgate --config deploy/consentgate.example.toml serve
      Many bots from a file.
  consentgate migrate status
  consentgate keys generate >> .env
  echo 'call me on +7 912 345-67-89' | consentgate redact
  consentgate redact eval --misses tests/data/pii_public_tune.jsonl
  consentgate audit checkpoint > head.txt; consentgate audit verify --checkpoint $(cat head.txt)
  consentgate policy publish policy-v2.txt --summary 'We now keep conversations for 60 days' --notify
  consentgate consent show 3f2a91c0
  consentgate retention run --dry-run
  consentgate owners invite --bot shop
  consentgate admin keys create --role auditor --label 'DPO laptop'
  FERNET_KEYS=NEW,OLD consentgate keys rotate";

/// ConsentGate: a chatbot gateway with consent, pseudonyms and an audit log in the message path.
#[derive(Parser, Debug)]
#[command(name = "consentgate", version, about, after_help = EXAMPLES)]
pub struct Cli {
    /// TOML configuration file (environment variables override it).
    #[arg(long, global = true, env = env::CONFIG)]
    pub config: Option<PathBuf>,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the gateway: HTTP server (web chat, health) and the configured bots.
    Serve,
    /// Apply, roll back or list database migrations.
    Migrate {
        #[command(subcommand)]
        action: migrate::MigrateAction,
    },
    /// Key material.
    Keys {
        #[command(subcommand)]
        action: keys::KeysAction,
    },
    /// Check or checkpoint the tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        action: audit::AuditAction,
    },
    /// Publish privacy policy versions.
    Policy {
        #[command(subcommand)]
        action: policy::PolicyAction,
    },
    /// A person's consent record.
    Consent {
        #[command(subcommand)]
        action: consent::ConsentAction,
    },
    /// Business owners of a bot.
    Owners {
        #[command(subcommand)]
        action: owners::OwnersAction,
    },
    /// Admin API keys and integrations.
    Admin {
        #[command(subcommand)]
        action: admin::AdminAction,
    },
    /// Telegram Stars payments for plans.
    Payments {
        #[command(subcommand)]
        action: payments::PaymentsAction,
    },
    /// Delete what has been kept longer than its class allows.
    Retention {
        #[command(subcommand)]
        action: retention::RetentionAction,
    },
    /// Exit 0 when URL answers 2xx (for container health checks, which have no curl).
    Probe {
        #[arg(long, default_value = "http://127.0.0.1:8080/readyz")]
        url: String,
    },
    /// Redact personal data from text on standard input, as it would be before an LLM call.
    Redact {
        #[command(subcommand)]
        action: Option<redact::RedactAction>,
    },
    /// Internal: the text of a PDF on standard input, for `serve` (which runs it as a child
    /// process with limits, so a hostile file cannot take the gateway down).
    #[command(hide = true)]
    ReadPdf,
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> Result<()> {
    telemetry::init(cli.log_format);
    let file = cli.config.as_deref();
    match cli.command {
        Command::Serve => serve::run(file).await,
        Command::Migrate { action } => migrate::run(file, action).await,
        Command::Keys { action } => keys::run(file, action).await,
        Command::Audit { action } => audit::run(&open(file).await?, action).await,
        Command::Policy { action } => policy::run(&open(file).await?, action).await,
        Command::Consent { action } => consent::run(&open(file).await?, action).await,
        Command::Owners { action } => owners::run(&open(file).await?, action).await,
        Command::Admin { action } => admin::run(&open(file).await?, action).await,
        Command::Payments { action } => payments::run(&open(file).await?, action).await,
        Command::Retention { action } => retention::run(&open(file).await?, action).await,
        Command::Probe { url } => probe::run(&url).await,
        Command::Redact { action } => redact::run(file, action).await,
        Command::ReadPdf => read_pdf::run(),
    }
}

/// The configuration.
fn config(file: Option<&Path>) -> Result<Config> {
    Ok(Config::load(file, &ProcessEnv)?)
}

/// The app as commands that work on data need it: existing keys (never generated here) and a
/// migrated database.
async fn open(file: Option<&Path>) -> Result<App> {
    let config = config(file)?;
    let keys = Keys::load_existing(config.mode, &config.secrets_file, &ProcessEnv)?;
    App::open(config, keys).await
}
