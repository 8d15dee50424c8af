//! `consentgate audit verify|checkpoint`.

use anyhow::Result;
use clap::Subcommand;

use crate::{
    app::App,
    audit::verify::{self, Checkpoint, Report},
};

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

pub(super) async fn run(app: &App, action: AuditAction) -> Result<()> {
    match action {
        AuditAction::Checkpoint => {
            let report = verify::verify(&app.db, &app.keys.audit, None).await?;
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
        AuditAction::Verify { checkpoint } => {
            let report = verify::verify(&app.db, &app.keys.audit, checkpoint.as_ref()).await?;
            println!("{}", verified(report)?);
        }
    }
    Ok(())
}

/// The line `verify` prints for an intact chain; an error naming the first bad entry otherwise.
fn verified(report: Report) -> Result<String> {
    if let Some(broken) = report.broken {
        anyhow::bail!(
            "audit chain BROKEN at entry {}: {} ({} entries before it verified)",
            broken.seq,
            broken.reason,
            report.entries
        );
    }
    let head = report
        .head
        .map(|h| h.to_string())
        .unwrap_or_else(|| "empty".into());
    let older = if report.unchained > 0 {
        format!(" ({} older entries predate the chain)", report.unchained)
    } else {
        String::new()
    };
    Ok(format!(
        "audit chain OK: {} entries verified, head {head}{older}",
        report.entries
    ))
}
