//! `consentgate redact [eval FILE]`: the redactor on standard input, or scored on a labelled
//! file.

use std::{io::Read, path::Path, path::PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;

use crate::redact::{Hints, Placeholders, Redactor, eval};

#[derive(Subcommand, Debug)]
pub enum RedactAction {
    /// Score the redactor on a labelled JSONL file: precision and recall per type, as JSON.
    Eval {
        /// Lines of {"text": "...", "spans": [{"start": 0, "end": 12, "type": "PHONE"}]}.
        file: PathBuf,
    },
}

/// Needs only the configuration's `[redact]` section: no keys, no database.
pub(super) async fn run(file: Option<&Path>, action: Option<RedactAction>) -> Result<()> {
    let redactor = Redactor::new(super::config(file)?.redact);
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
