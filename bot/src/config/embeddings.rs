//! `[embeddings]` and the `EMBEDDINGS_*` variables: an OpenAI-compatible `/embeddings` endpoint
//! that, besides the full-text index, finds the knowledge-base passages close in meaning to a
//! question. Off unless a base URL is set. Its recipient is named in the `assistant` purpose,
//! since each (redacted) question goes to it.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::{ConfigError, Env, Secret, bad, env, parse_url};

#[derive(Clone, Debug)]
pub struct EmbeddingsSettings {
    /// Includes the version, e.g. `https://api.openai.com/v1`.
    pub base_url: Url,
    pub model: String,
    pub api_key: Option<Secret>,
    pub timeout: Duration,
    /// Who it is, in words people understand (named in the `assistant` purpose).
    pub recipient: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileEmbeddings {
    base_url: Option<String>,
    model: Option<String>,
    /// Name of the environment variable holding the API key (default `EMBEDDINGS_API_KEY`).
    api_key_env: Option<String>,
    timeout_secs: Option<u64>,
    recipient: Option<String>,
}

/// The service from `[embeddings]` and the `EMBEDDINGS_*` variables; `None` when off.
pub(super) fn settings(
    file: Option<FileEmbeddings>,
    env: &dyn Env,
) -> Result<Option<EmbeddingsSettings>, ConfigError> {
    let base = env
        .get(env::EMBEDDINGS_BASE_URL)
        .map(|v| (env::EMBEDDINGS_BASE_URL, v))
        .or_else(|| {
            file.as_ref()
                .and_then(|f| f.base_url.clone())
                .map(|v| ("embeddings.base_url", v))
        });
    let Some((place, base)) = base else {
        return Ok(None);
    };
    let base_url = parse_url(place, &base)?;
    let model = env
        .get(env::EMBEDDINGS_MODEL)
        .or_else(|| file.as_ref().and_then(|f| f.model.clone()))
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| {
            bad(
                "embeddings.model",
                format!(
                    "required with an embeddings base URL (or {})",
                    env::EMBEDDINGS_MODEL
                ),
            )
        })?;
    let key_var = file
        .as_ref()
        .and_then(|f| f.api_key_env.clone())
        .unwrap_or_else(|| env::EMBEDDINGS_API_KEY.to_string());
    let api_key = env.get(&key_var).map(|k| Secret::new(k.trim()));
    let timeout_secs = file.as_ref().and_then(|f| f.timeout_secs).unwrap_or(10);
    if !(1..=60).contains(&timeout_secs) {
        return Err(bad("embeddings.timeout_secs", "must be 1 to 60"));
    }
    let recipient = file
        .as_ref()
        .and_then(|f| f.recipient.clone())
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| {
            format!(
                "the embeddings service at {} (model {model})",
                base_url.host_str().unwrap_or("the configured address")
            )
        });
    Ok(Some(EmbeddingsSettings {
        base_url,
        model,
        api_key,
        timeout: Duration::from_secs(timeout_secs),
        recipient,
    }))
}
