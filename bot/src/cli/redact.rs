//! `consentgate redact [eval FILE]`: the redactor on standard input, or scored on a labelled
//! file.

use std::{
    io::{BufRead, BufWriter, Write},
    path::Path,
    path::PathBuf,
};

use anyhow::{Context, Result};
use clap::Subcommand;

use crate::redact::{Hints, Placeholders, Redactor, eval};

#[derive(Subcommand, Debug)]
pub enum RedactAction {
    /// Score the redactor on labelled JSONL files: precision and recall per type, and the share
    /// of rows without personal data left unchanged, as JSON (one report per file).
    Eval {
        /// Lines of {"text": "...", "spans": [{"start": 0, "end": 12, "type": "PHONE"}]}.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// List every missed span and every extra detection with its line.
        #[arg(long)]
        misses: bool,
    },
}

/// Each line of `input` is one message, redacted on its own (placeholders count from 1 on every
/// line) and written as it is done, so a large file streams through in constant memory. A line
/// that cannot be redacted stops the run with its number: nothing unredacted is ever written.
fn lines(redactor: &Redactor, input: impl BufRead, output: impl Write) -> Result<()> {
    let mut out = BufWriter::with_capacity(1 << 16, output);
    let mut input = input;
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        if input
            .read_until(b'\n', &mut line)
            .context("cannot read standard input")?
            == 0
        {
            break;
        }
        number += 1;
        let (text, newline) = match line.strip_suffix(b"\n") {
            Some(rest) => (rest, true),
            None => (&line[..], false),
        };
        let text = std::str::from_utf8(text)
            .with_context(|| format!("line {number} of standard input is not UTF-8 text"))?;
        let redacted = redactor
            .redact(text, &Hints::default(), &mut Placeholders::new())
            .with_context(|| format!("line {number} could not be redacted"))?;
        out.write_all(redacted.as_str().as_bytes())?;
        if newline {
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Needs only the configuration's `[redact]` section: no keys, no database.
pub(super) async fn run(file: Option<&Path>, action: Option<RedactAction>) -> Result<()> {
    let redactor = Redactor::new(super::config(file)?.redact);
    match action {
        None => lines(&redactor, std::io::stdin().lock(), std::io::stdout().lock())?,
        Some(RedactAction::Eval { files, misses }) => {
            let mut reports = serde_json::Map::new();
            for file in files {
                let input = std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let report = eval::evaluate(&redactor, &input, misses)
                    .with_context(|| format!("{} is not a valid eval file", file.display()))?;
                reports.insert(file.display().to_string(), serde_json::to_value(report)?);
            }
            println!("{}", serde_json::to_string_pretty(&reports)?);
        }
    }
    Ok(())
}
