//! `consentgate admin keys …` and `consentgate admin integrations …`: the admin API's keys, and
//! every owner's linked accounts (never a token).

use anyhow::Result;
use clap::Subcommand;

use crate::audit::Action;
use crate::{app::App, owners::integrations::Integrations, web::admin};

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
    /// The console's second factor (TOTP) of admin keys.
    Totp {
        #[command(subcommand)]
        action: TotpAction,
    },
}

#[derive(Subcommand, Debug)]
pub enum TotpAction {
    /// Forget a key's authenticator (a lost device): its next console sign-in sets up a new
    /// one. Its console sessions end.
    Reset {
        #[arg(value_name = "KEY-ID")]
        id: i64,
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

pub(super) async fn run(app: &App, action: AdminAction) -> Result<()> {
    match action {
        AdminAction::Keys { action } => keys(app, action).await,
        AdminAction::Integrations { action } => {
            integrations(app, &app.offline_integrations(), action).await
        }
        AdminAction::Totp {
            action: TotpAction::Reset { id },
        } => {
            anyhow::ensure!(
                crate::web::console::reset_totp(&app.db, id).await?,
                "admin key {id} has no authenticator set up"
            );
            app.audit
                .record(
                    &app.db,
                    None,
                    None,
                    Action::ConsoleTotpReset,
                    serde_json::json!({"key": id}),
                )
                .await?;
            println!(
                "admin key {id}: authenticator forgotten; its next console sign-in sets up a new one"
            );
            Ok(())
        }
    }
}

async fn keys(app: &App, action: AdminKeysAction) -> Result<()> {
    match action {
        AdminKeysAction::Create { role, label } => {
            let role = admin::Role::parse(&role)
                .ok_or_else(|| anyhow::anyhow!("--role must be `admin` or `auditor`"))?;
            let key = admin::create_key(&app.db, role, &label).await?;
            println!("{key}");
            eprintln!(
                "Shown once; only its SHA-256 is stored. Send it as `Authorization: Bearer …`."
            );
        }
        AdminKeysAction::List => {
            for key in admin::list_keys(&app.db).await? {
                println!("{key}");
            }
        }
        AdminKeysAction::Revoke { id } => {
            anyhow::ensure!(
                admin::revoke_key(&app.db, id).await?,
                "no active admin key with id {id}"
            );
            app.audit
                .record(
                    &app.db,
                    None,
                    None,
                    Action::AdminKeyRevoked,
                    serde_json::json!({"key": id}),
                )
                .await?;
            println!("admin key {id} revoked");
        }
    }
    Ok(())
}

async fn integrations(app: &App, i: &Integrations, action: IntegrationsAction) -> Result<()> {
    match action {
        IntegrationsAction::List {
            bot,
            provider,
            owner,
            status,
        } => {
            let filter = admin::filter_for(&app.db, bot.as_deref(), provider, owner, status)
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
                    let filter = admin::filter_for(&app.db, bot.as_deref(), provider, owner, None)
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
    Ok(())
}
