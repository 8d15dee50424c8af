//! Logging. Human-readable by default, JSON on request. Log lines name people only by pseudonym.

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt};

use crate::config::env;

/// What is logged when `RUST_LOG` is unset: the gateway at `info`, chatty libraries only when
/// something is wrong.
const DEFAULT_FILTER: &str =
    "info,sqlx=warn,sea_orm=warn,hyper=warn,reqwest=warn,tantivy=warn,lopdf=error,pdf_extract=off";

/// The log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber. `RUST_LOG` overrides the default level (`info`).
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_env(env::RUST_LOG).unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
