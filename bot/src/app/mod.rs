//! The running gateway, built once: [`App`] holds what every part works on (configuration, keys,
//! the migrated database, the registered bots, the audit log, the channels that can write first).
//! `serve` turns it into a [`Gateway`] (HTTP server, pollers, housekeeping); every CLI command
//! that touches data opens the same `App`. Tests use [`Gateway::start`] too, on 127.0.0.1:0 with
//! their own database.

pub mod bots;
mod housekeeping;
pub mod metrics;
mod resend;
mod serve;
pub mod telemetry;

use std::sync::Arc;

use anyhow::{Context, Result};
use sea_orm::DatabaseConnection;

pub use consentgate_adapters::shutdown::{Shutdown, ShutdownTrigger};
pub use serve::Gateway;

use crate::{
    audit::AuditLog,
    config::Config,
    owners::{integrations::Integrations, oauth},
    pipeline::BotContext,
    privacy::keys::Keys,
    rights::{notify::Notifier, retention::Sweeper},
    store,
};

/// Everything the gateway and its commands work on, built once from a configuration.
pub struct App {
    pub config: Config,
    pub keys: Arc<Keys>,
    pub db: DatabaseConnection,
    /// The configured bots (and the web chat), as registered in the database.
    pub bots: Vec<BotContext>,
    pub audit: AuditLog,
    /// The channels that can write to people first (notices outside replies).
    pub notifier: Arc<Notifier>,
}

impl App {
    /// Connects to the configured database, applies pending migrations and registers the bots.
    pub async fn open(config: Config, keys: Keys) -> Result<App> {
        let db = store::connect(&config.database_url).await.with_context(
            || "cannot open the database named by CONSENTGATE_DATABASE_URL / database_url",
        )?;
        store::migrate_up(&db)
            .await
            .context("applying database migrations failed")?;
        App::with_db(db, config, keys).await
    }

    /// The same on a database already connected and migrated.
    pub async fn with_db(db: DatabaseConnection, config: Config, keys: Keys) -> Result<App> {
        let bots = bots::configured_bots(&db, &config).await?;
        let notifier = Arc::new(bots::notifier_for(&config, &bots));
        Ok(App {
            audit: AuditLog::new(keys.audit.clone()),
            keys: Arc::new(keys),
            db,
            bots,
            notifier,
            config,
        })
    }

    /// The configured bot called `name`.
    pub fn bot(&self, name: &str) -> Result<&BotContext> {
        self.bots
            .iter()
            .find(|b| b.name == name)
            .with_context(|| format!("--bot {name}: no such bot in the configuration"))
    }

    /// Owners, invites and linked accounts, with OAuth callbacks under `public_base`.
    pub fn integrations(&self, public_base: String) -> Integrations {
        Integrations {
            db: self.db.clone(),
            keys: self.keys.clone(),
            audit: self.audit.clone(),
            providers: self.config.oauth.clone(),
            public_base,
            notifier: self.notifier.clone(),
            configured_owners: bots::configured_owners(&self.config, &self.bots, &self.keys),
            http: oauth::client(),
            refreshing: Default::default(),
        }
    }

    /// Integrations as a command (not the server) uses them: callbacks at the configured public
    /// URL, else at the configured address.
    pub fn offline_integrations(&self) -> Integrations {
        self.integrations(self.config.public_base(self.config.http_addr))
    }

    /// The retention sweep over this app's data.
    pub fn sweeper<'a>(&'a self, integrations: &'a Integrations) -> Sweeper<'a> {
        Sweeper {
            db: &self.db,
            keys: &self.keys,
            audit: &self.audit,
            settings: &self.config.retention,
            notifier: &self.notifier,
            integrations: Some(integrations),
        }
    }
}
