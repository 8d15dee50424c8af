//! `consentgate probe`: a container health check without curl.

use std::time::Duration;

use anyhow::Result;

/// Exits 0 when `url` answers 2xx within three seconds.
pub(super) async fn run(url: &str) -> Result<()> {
    let status = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()?
        .get(url)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{url}: {}", e.without_url()))?
        .status();
    anyhow::ensure!(status.is_success(), "{url} answered {status}");
    Ok(())
}
