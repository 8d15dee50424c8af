//! `consentgate keys generate|rotate`.

use std::path::Path;

use anyhow::Result;
use clap::Subcommand;

use crate::privacy::{keys::GeneratedKeys, rotation};

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

pub(super) async fn run(file: Option<&Path>, action: KeysAction) -> Result<()> {
    match action {
        // Needs no configuration, keys or database: it makes the keys.
        KeysAction::Generate => {
            print!("{}", GeneratedKeys::new().env_lines());
            Ok(())
        }
        KeysAction::Rotate { dry_run } => {
            let app = super::open(file).await?;
            let report = rotation::rotate(&app.db, &app.keys, dry_run).await?;
            print!("{}", rotation::render(&report, dry_run));
            if report.iter().any(|r| r.unreadable > 0) {
                anyhow::bail!(
                    "some values no configured key opens; keep the old keys in FERNET_KEYS"
                );
            }
            Ok(())
        }
    }
}
