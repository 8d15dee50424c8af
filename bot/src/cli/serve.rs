//! `consentgate serve`: run the gateway until SIGINT or SIGTERM, then stop gracefully.

use std::{path::Path, time::Duration};

use anyhow::Result;

use crate::{
    app::Gateway,
    config::{Mode, ProcessEnv},
    privacy::keys::{KeySource, Keys},
};

/// How long in-flight work and queued replies get after a stop signal.
const STOP_DEADLINE: Duration = Duration::from_secs(20);

pub(super) async fn run(file: Option<&Path>) -> Result<()> {
    let config = super::config(file)?;
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
    // PDFs are read by this binary in a child process of their own, with limits.
    match std::env::current_exe() {
        Ok(binary) => crate::knowledge::read_pdfs_with(binary),
        Err(err) => tracing::warn!(error = %err, "PDFs are read in this process"),
    }
    let gateway = Gateway::start(config, keys).await?;
    tracing::info!(addr = %gateway.addr, "ConsentGate is serving");
    stop_signal().await;
    tracing::info!("shutting down");
    gateway.stop(STOP_DEADLINE).await;
    Ok(())
}

/// SIGINT (Ctrl-C) or, on Unix, SIGTERM (what container runtimes and systemd send).
async fn stop_signal() {
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
