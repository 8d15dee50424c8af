//! `[transcription]` and the `TRANSCRIBE_*` variables: an OpenAI-compatible
//! `/audio/transcriptions` endpoint (a local whisper server or a provider) that turns voice notes
//! into text. Off when no base URL is set.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::{ConfigError, Env, bad, env, parse_url, secret::Secret};

/// The transcription service.
#[derive(Clone, Debug)]
pub struct TranscriptionSettings {
    /// Includes the version, e.g. `http://127.0.0.1:8000/v1`.
    pub base_url: Url,
    pub model: String,
    pub api_key: Option<Secret>,
    pub timeout: Duration,
    /// Who it is, in words people understand (named in the `voice` purpose).
    pub recipient: String,
    /// Voice notes longer than this are not transcribed.
    pub max_seconds: u32,
    /// Nor larger ones.
    pub max_bytes: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileTranscription {
    base_url: Option<String>,
    model: Option<String>,
    /// Name of the environment variable holding the API key (default `TRANSCRIBE_API_KEY`).
    api_key_env: Option<String>,
    timeout_secs: Option<u64>,
    recipient: Option<String>,
    max_seconds: Option<u32>,
    max_megabytes: Option<u32>,
}

/// The service from `[transcription]` and the `TRANSCRIBE_*` variables; `None` when off.
pub(super) fn settings(
    file: Option<FileTranscription>,
    env: &dyn Env,
) -> Result<Option<TranscriptionSettings>, ConfigError> {
    let base = env
        .get(env::TRANSCRIBE_BASE_URL)
        .map(|v| (env::TRANSCRIBE_BASE_URL, v))
        .or_else(|| {
            file.as_ref()
                .and_then(|t| t.base_url.clone())
                .map(|v| ("transcription.base_url", v))
        });
    let Some((place, base)) = base else {
        return Ok(None);
    };
    let base_url = parse_url(place, &base)?;
    let model = env
        .get(env::TRANSCRIBE_MODEL)
        .or_else(|| file.as_ref().and_then(|t| t.model.clone()))
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| {
            bad(
                "transcription.model",
                format!(
                    "required with a transcription base URL (or {})",
                    env::TRANSCRIBE_MODEL
                ),
            )
        })?;
    let key_var = file
        .as_ref()
        .and_then(|t| t.api_key_env.clone())
        .unwrap_or_else(|| env::TRANSCRIBE_API_KEY.to_string());
    let api_key = env.get(&key_var).map(|k| Secret::new(k.trim()));
    let timeout = match file.as_ref().and_then(|t| t.timeout_secs) {
        Some(s) if !(1..=300).contains(&s) => {
            return Err(bad("transcription.timeout_secs", "must be 1 to 300"));
        }
        Some(s) => Duration::from_secs(s),
        None => Duration::from_secs(60),
    };
    let max_seconds = file.as_ref().and_then(|t| t.max_seconds).unwrap_or(300);
    if !(1..=3600).contains(&max_seconds) {
        return Err(bad("transcription.max_seconds", "must be 1 to 3600"));
    }
    let max_megabytes = file.as_ref().and_then(|t| t.max_megabytes).unwrap_or(20);
    if !(1..=100).contains(&max_megabytes) {
        return Err(bad("transcription.max_megabytes", "must be 1 to 100"));
    }
    let recipient = file
        .as_ref()
        .and_then(|t| t.recipient.clone())
        .unwrap_or_else(|| {
            format!(
                "the transcription service at {} (model {model})",
                base_url.host_str().unwrap_or("the configured address")
            )
        });
    Ok(Some(TranscriptionSettings {
        base_url,
        model,
        api_key,
        timeout,
        recipient,
        max_seconds,
        max_bytes: u64::from(max_megabytes) * 1024 * 1024,
    }))
}
