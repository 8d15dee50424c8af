//! `consentgate migrate up|down|status`.

use std::path::Path;

use anyhow::{Context, Result};
use clap::Subcommand;
use consentgate_migration::{Migrator, MigratorTrait};

use crate::store;

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

/// Works on the database without applying anything first (unlike the other commands).
pub(super) async fn run(file: Option<&Path>, action: MigrateAction) -> Result<()> {
    let config = super::config(file)?;
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
