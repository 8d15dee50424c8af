//! The command line: `serve`, `migrate`, `keys`, `audit`, `policy`, `consent`, `retention`,
//! `redact`.

pub mod ops;

use std::{path::PathBuf, time::Duration};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use consentgate_migration::{Migrator, MigratorTrait};

use std::io::Read;

use crate::{
    app::Gateway,
    app::telemetry::{self, LogFormat},
    audit::verify::{self, Checkpoint},
    config::{Config, Mode, ProcessEnv},
    privacy::keys::{GeneratedKeys, KeySource, Keys},
    redact::{Hints, Placeholders, Redactor, eval},
    store,
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
  consentgate redact eval tests/data/pii_eval.jsonl
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
    #[arg(long, global = true, env = "CONSENTGATE_CONFIG")]
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
        action: MigrateAction,
    },
    /// Key material.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Check or checkpoint the tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Publish privacy policy versions.
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// A person's consent record.
    Consent {
        #[command(subcommand)]
        action: ConsentAction,
    },
    /// Business owners of a bot.
    Owners {
        #[command(subcommand)]
        action: OwnersAction,
    },
    /// Admin API keys and integrations.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Delete what has been kept longer than its class allows.
    Retention {
        #[command(subcommand)]
        action: RetentionAction,
    },
    /// Exit 0 when URL answers 2xx (for container health checks, which have no curl).
    Probe {
        #[arg(long, default_value = "http://127.0.0.1:8080/readyz")]
        url: String,
    },
    /// Redact personal data from text on standard input, as it would be before an LLM call.
    Redact {
        #[command(subcommand)]
        action: Option<RedactAction>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditAction {
    /// Check every link of the chain; exits non-zero naming the first bad entry.
    Verify {
        /// A checkpoint printed earlier by `audit checkpoint` (SEQ:HASH), kept outside the
        /// database: catches a cut or rewritten tail.
        #[arg(long)]
        checkpoint: Option<Checkpoint>,
    },
    /// Print the chain's head as SEQ:HASH, to keep outside the database.
    Checkpoint,
}

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

#[derive(Subcommand, Debug)]
pub enum OwnersAction {
    /// Print a one-time invite code (valid 7 days); whoever sends `/claim CODE` to the bot
    /// becomes an owner.
    Invite {
        #[arg(long)]
        bot: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminAction {
    /// Admin API keys.
    Keys {
        #[command(subcommand)]
        action: AdminKeysAction,
    },
    /// Linked accounts of every owner.
    Integrations {
        #[command(subcommand)]
        action: IntegrationsAction,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminKeysAction {
    /// Create a key and print it once (only its SHA-256 is stored).
    Create {
        /// `admin` (read and revoke) or `auditor` (read only).
        #[arg(long)]
        role: String,
        /// Who or what the key is for.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List keys (never the keys themselves), as JSON lines.
    List,
    /// Revoke a key by id: it stops working at once.
    Revoke { id: i64 },
}

#[derive(Subcommand, Debug)]
pub enum IntegrationsAction {
    /// List integrations (never tokens), as JSON lines.
    List {
        #[arg(long)]
        bot: Option<String>,
        #[arg(long)]
        provider: Option<String>,
        /// Owner pseudonym (or its first 8+ hex digits).
        #[arg(long)]
        owner: Option<String>,
        /// active, broken or revoked.
        #[arg(long)]
        status: Option<String>,
    },
    /// Revoke one integration by id, or all of a provider or an owner: at the provider
    /// (RFC 7009) where possible, and here in any case. The owner is told.
    Revoke {
        id: Option<i64>,
        #[arg(long)]
        provider: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        bot: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConsentAction {
    /// Print a person's whole consent record as proof.
    Show {
        /// The pseudonym (64 hex digits) or its first 8 or more.
        subject: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum RetentionAction {
    /// Run the retention sweep now and print, per class, what was deleted.
    Run {
        /// Only count what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum RedactAction {
    /// Score the redactor on a labelled JSONL file: precision and recall per type, as JSON.
    Eval {
        /// Lines of {"text": "...", "spans": [{"start": 0, "end": 12, "type": "PHONE"}]}.
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Roll back the last migration(s).
    Down {
        /// How many to roll back.
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
}

#[derive(Subcommand, Debug)]
pub enum KeysAction {
    /// Print fresh FERNET_KEYS, PSEUDONYM_KEY and AUDIT_KEY values, as NAME=value lines.
    Generate,
    /// Re-encrypt every stored secret with the first key of FERNET_KEYS (batched, resumable).
    Rotate {
        /// Only count.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> Result<()> {
    telemetry::init(cli.log_format);
    match cli.command {
        Command::Keys {
            action: KeysAction::Generate,
        } => {
            print!("{}", GeneratedKeys::new().env_lines());
            Ok(())
        }
        Command::Migrate { action } => {
            let config = Config::load(cli.config.as_deref(), &ProcessEnv)?;
            let db = store::connect(&config.database_url)
                .await
                .context("cannot open the database")?;
            match action {
                MigrateAction::Up => {
                    store::migrate_up(&db).await?;
                    println!("all migrations applied");
                }
                MigrateAction::Down { steps } => {
                    Migrator::down(&db, Some(steps)).await?;
                    println!("rolled back {steps} migration(s)");
                }
                MigrateAction::Status => {
                    for m in Migrator::get_migration_with_status(&db).await? {
                        println!("{:<8} {}", m.status(), m.name());
                    }
                }
            }
            Ok(())
        }
        Command::Serve => serve(cli.config).await,
        Command::Probe { url } => {
            let status = reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()?
                .get(&url)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("{url}: {}", e.without_url()))?
                .status();
            anyhow::ensure!(status.is_success(), "{url} answered {status}");
            Ok(())
        }
        Command::Audit { action } => {
            let (_, keys, db) = open(cli.config.as_deref()).await?;
            let checkpoint = match &action {
                AuditAction::Verify { checkpoint } => checkpoint.clone(),
                AuditAction::Checkpoint => None,
            };
            let report = verify::verify(&db, &keys.audit, checkpoint.as_ref()).await?;
            match action {
                AuditAction::Checkpoint => {
                    if let Some(broken) = &report.broken {
                        anyhow::bail!(
                            "the chain is broken at entry {}: {}; no checkpoint printed",
                            broken.seq,
                            broken.reason
                        );
                    }
                    match report.head {
                        Some(head) => println!("{head}"),
                        None => println!("0:{}", "0".repeat(64)),
                    }
                }
                AuditAction::Verify { .. } => match report.broken {
                    Some(broken) => anyhow::bail!(
                        "audit chain BROKEN at entry {}: {} ({} entries before it verified)",
                        broken.seq,
                        broken.reason,
                        report.entries
                    ),
                    None => {
                        let head = report
                            .head
                            .map(|h| h.to_string())
                            .unwrap_or_else(|| "empty".into());
                        println!(
                            "audit chain OK: {} entries verified, head {head}{}",
                            report.entries,
                            if report.unchained > 0 {
                                format!(" ({} older entries predate the chain)", report.unchained)
                            } else {
                                String::new()
                            }
                        );
                    }
                },
            }
            Ok(())
        }
        Command::Policy { action } => {
            let (config, keys, db) = open(cli.config.as_deref()).await?;
            match action {
                PolicyAction::Publish {
                    file,
                    summary,
                    label,
                    effective,
                    bots,
                    notify,
                } => {
                    let out = ops::publish(
                        &db,
                        &config,
                        &keys,
                        ops::PublishRequest {
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
                }
            }
            Ok(())
        }
        Command::Consent {
            action: ConsentAction::Show { subject, json },
        } => {
            let (_, _, db) = open(cli.config.as_deref()).await?;
            print!("{}", ops::consent_show(&db, &subject, json).await?);
            Ok(())
        }
        Command::Keys {
            action: KeysAction::Rotate { dry_run },
        } => {
            let (_, keys, db) = open(cli.config.as_deref()).await?;
            let report = crate::privacy::rotation::rotate(&db, &keys, dry_run).await?;
            print!("{}", crate::privacy::rotation::render(&report, dry_run));
            if report.iter().any(|r| r.unreadable > 0) {
                anyhow::bail!(
                    "some values no configured key opens; keep the old keys in FERNET_KEYS"
                );
            }
            Ok(())
        }
        Command::Owners {
            action: OwnersAction::Invite { bot },
        } => {
            let (config, keys, db) = open(cli.config.as_deref()).await?;
            let i = ops::integrations_for(&db, &config, std::sync::Arc::new(keys)).await?;
            let names = crate::rights::export::bot_names(&db).await?;
            let (id, _) = names
                .into_iter()
                .find(|(_, n)| *n == bot)
                .with_context(|| format!("--bot {bot}: no such bot in the configuration"))?;
            let code = i.invite(id, chrono::Utc::now()).await?;
            println!("{code}");
            eprintln!("Send `/claim {code}` to bot `{bot}` within 7 days. The code works once.");
            Ok(())
        }
        Command::Admin { action } => {
            let (config, keys, db) = open(cli.config.as_deref()).await?;
            match action {
                AdminAction::Keys {
                    action: AdminKeysAction::Create { role, label },
                } => {
                    let role = crate::web::admin::Role::parse(&role)
                        .context("--role must be `admin` or `auditor`")?;
                    let key = crate::web::admin::create_key(&db, role, &label).await?;
                    println!("{key}");
                    eprintln!(
                        "Shown once; only its SHA-256 is stored. Send it as `Authorization: Bearer …`."
                    );
                }
                AdminAction::Keys {
                    action: AdminKeysAction::List,
                } => {
                    for key in crate::web::admin::list_keys(&db).await? {
                        println!("{key}");
                    }
                }
                AdminAction::Keys {
                    action: AdminKeysAction::Revoke { id },
                } => {
                    anyhow::ensure!(
                        crate::web::admin::revoke_key(&db, id).await?,
                        "no active admin key with id {id}"
                    );
                    crate::audit::AuditLog::new(keys.audit.clone())
                        .record(
                            &db,
                            None,
                            None,
                            "admin.key_revoked",
                            serde_json::json!({"key": id}),
                        )
                        .await?;
                    println!("admin key {id} revoked");
                }
                AdminAction::Integrations { action } => {
                    let i = ops::integrations_for(&db, &config, std::sync::Arc::new(keys)).await?;
                    match action {
                        IntegrationsAction::List {
                            bot,
                            provider,
                            owner,
                            status,
                        } => {
                            let filter = crate::web::admin::filter_for(
                                &db,
                                bot.as_deref(),
                                provider,
                                owner,
                                status,
                            )
                            .await?
                            .map_err(anyhow::Error::msg)?;
                            for link in i.list(&filter).await? {
                                println!("{}", serde_json::to_string(&link)?);
                            }
                        }
                        IntegrationsAction::Revoke {
                            id,
                            provider,
                            owner,
                            bot,
                        } => {
                            let revoked = match id {
                                Some(id) => i.revoke(id, "cli").await?.into_iter().collect(),
                                None => {
                                    anyhow::ensure!(
                                        provider.is_some() || owner.is_some(),
                                        "give an integration id, --provider or --owner"
                                    );
                                    let filter = crate::web::admin::filter_for(
                                        &db,
                                        bot.as_deref(),
                                        provider,
                                        owner,
                                        None,
                                    )
                                    .await?
                                    .map_err(anyhow::Error::msg)?;
                                    i.revoke_all(&filter, "cli").await?
                                }
                            };
                            for r in &revoked {
                                println!("{}", serde_json::to_string(r)?);
                            }
                            eprintln!("{} revoked", revoked.len());
                        }
                    }
                }
            }
            Ok(())
        }
        Command::Retention {
            action: RetentionAction::Run { dry_run },
        } => {
            let (config, keys, db) = open(cli.config.as_deref()).await?;
            print!(
                "{}",
                ops::retention_run(&db, &config, &keys, chrono::Utc::now(), dry_run).await?
            );
            Ok(())
        }
        Command::Redact { action } => {
            let config = Config::load(cli.config.as_deref(), &ProcessEnv)?;
            let redactor = Redactor::new(config.redact);
            match action {
                None => {
                    let mut text = String::new();
                    std::io::stdin()
                        .read_to_string(&mut text)
                        .context("standard input is not UTF-8 text")?;
                    let redacted = redactor
                        .redact(&text, &Hints::default(), &mut Placeholders::new())
                        .context("the text could not be redacted")?;
                    print!("{}", redacted.as_str());
                }
                Some(RedactAction::Eval { file }) => {
                    let input = std::fs::read_to_string(&file)
                        .with_context(|| format!("cannot read {}", file.display()))?;
                    let report = eval::evaluate(&redactor, &input)
                        .with_context(|| format!("{} is not a valid eval file", file.display()))?;
                    println!("{}", serde_json::to_string_pretty(&report)?);
                }
            }
            Ok(())
        }
    }
}

/// The configuration, existing keys and a migrated database, for commands that work on data.
async fn open(
    config_file: Option<&std::path::Path>,
) -> Result<(Config, Keys, sea_orm::DatabaseConnection)> {
    let config = Config::load(config_file, &ProcessEnv)?;
    let keys = Keys::load_existing(config.mode, &config.secrets_file, &ProcessEnv)?;
    let db = store::connect(&config.database_url)
        .await
        .context("cannot open the database")?;
    store::migrate_up(&db).await?;
    Ok((config, keys, db))
}

async fn serve(config_file: Option<PathBuf>) -> Result<()> {
    let config = Config::load(config_file.as_deref(), &ProcessEnv)?;
    let (keys, source) = Keys::load(config.mode, &config.secrets_file, &ProcessEnv)?;
    if let KeySource::Generated(names) = &source {
        tracing::warn!(
            file = %config.secrets_file.display(),
            generated = names.join(","),
            "dev mode: generated missing secrets into this file (mode 0600). Back it up: without it, stored data cannot be read. Production mode never does this."
        );
    }
    if config.mode == Mode::Dev {
        tracing::info!("running in dev mode");
    }
    let gateway = Gateway::start(config, keys).await?;
    tracing::info!(addr = %gateway.addr, "ConsentGate is serving");
    shutdown_signal().await;
    tracing::info!("shutting down");
    gateway.stop(Duration::from_secs(20)).await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
