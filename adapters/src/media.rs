//! Fetching media a person sent: read with a cap, so a file larger than allowed is refused
//! while it arrives, not after it filled memory.

use serde::de::DeserializeOwned;

use crate::MediaError;

/// Reads `response`'s body, refusing it past `max_bytes` (by its declared length when it has
/// one, and by what arrived otherwise).
async fn read_capped(
    mut response: reqwest::Response,
    max_bytes: u64,
) -> Result<Vec<u8>, MediaError> {
    if !response.status().is_success() {
        return Err(MediaError::Failed(format!(
            "status {}",
            response.status().as_u16()
        )));
    }
    if response.content_length().is_some_and(|n| n > max_bytes) {
        return Err(MediaError::TooLarge(max_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| MediaError::Failed(e.without_url().to_string()))?
    {
        if body.len() as u64 + chunk.len() as u64 > max_bytes {
            return Err(MediaError::TooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Sends a lookup request (where the file is) and reads its JSON answer.
pub(crate) async fn lookup<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
) -> Result<T, MediaError> {
    let failed = |e: reqwest::Error| MediaError::Failed(e.without_url().to_string());
    request
        .send()
        .await
        .map_err(failed)?
        .json()
        .await
        .map_err(failed)
}

/// Sends a download request and reads the file, at most `max_bytes` of it.
pub(crate) async fn download(
    request: reqwest::RequestBuilder,
    max_bytes: u64,
) -> Result<Vec<u8>, MediaError> {
    let response = request
        .timeout(std::time::Duration::from_secs(60))
        .send()
        .await
        .map_err(|e| MediaError::Failed(e.without_url().to_string()))?;
    read_capped(response, max_bytes).await
}
