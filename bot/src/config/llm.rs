//! `[llm]` and the `LLM_*` variables: which provider answers, and who it is in words people
//! understand (named in the `assistant` purpose).

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::{ConfigError, Env, Secret, bad, env, parse_url};

/// Which LLM answers.
#[derive(Clone, Debug)]
pub enum LlmSettings {
    /// Offline: repeats the message and says plainly that no AI is configured.
    Echo,
    /// Any OpenAI-compatible `/chat/completions` endpoint.
    OpenAi {
        /// Includes the version, e.g. `https://api.openai.com/v1`.
        base_url: Url,
        model: String,
        api_key: Option<Secret>,
        timeout: Duration,
        system_prompt: String,
    },
}

pub const DEFAULT_SYSTEM_PROMPT: &str = "You are a helpful assistant for a business, answering its \
customers in a chat. Be concise and friendly. Users are identified only by an opaque pseudonym.";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileLlm {
    /// `echo` or `openai` (any OpenAI-compatible server).
    pub(super) provider: Option<String>,
    pub(super) base_url: Option<String>,
    pub(super) model: Option<String>,
    /// Name of the environment variable holding the API key (default `LLM_API_KEY`).
    pub(super) api_key_env: Option<String>,
    pub(super) timeout_secs: Option<u64>,
    pub(super) system_prompt: Option<String>,
    /// Who receives the messages, in words people understand (named in the `assistant`
    /// purpose), e.g. "OpenAI, L.L.C. (USA)". Default: the provider's host name.
    pub(super) recipient: Option<String>,
    /// Earlier messages sent as context for people who chose `history` (default 10).
    pub(super) history_messages: Option<usize>,
}

pub(super) fn default_recipient(llm: &LlmSettings) -> String {
    match llm {
        LlmSettings::Echo => {
            "no outside service (this gateway's offline echo, which only repeats it)".to_string()
        }
        LlmSettings::OpenAi {
            base_url, model, ..
        } => format!(
            "the AI service at {} (model {model})",
            base_url.host_str().unwrap_or("the configured address")
        ),
    }
}

/// The provider from `[llm]` and the `LLM_*` variables.
pub(super) fn settings(file: Option<FileLlm>, env: &dyn Env) -> Result<LlmSettings, ConfigError> {
    let provider = file.as_ref().and_then(|l| l.provider.clone());
    let base = env
        .get(env::LLM_BASE_URL)
        .map(|v| (env::LLM_BASE_URL, v))
        .or_else(|| {
            file.as_ref()
                .and_then(|l| l.base_url.clone())
                .map(|v| ("llm.base_url", v))
        });
    match (provider.as_deref(), base) {
        (Some("echo"), None) | (None, None) => Ok(LlmSettings::Echo),
        (Some("echo"), Some(_)) => Err(bad(
            "llm.provider",
            "`echo` takes no base_url; remove LLM_BASE_URL / llm.base_url or choose `openai`",
        )),
        (Some(other), _) if other != "openai" => Err(bad(
            "llm.provider",
            format!("`{other}` is not known; expected `openai` or `echo`"),
        )),
        (Some(_), None) => Err(bad(
            "LLM_BASE_URL / llm.base_url",
            "required for the `openai` provider, e.g. https://api.openai.com/v1",
        )),
        (_, Some((place, base))) => {
            let base_url = parse_url(place, &base)?;
            let model = env
                .get(env::LLM_MODEL)
                .or_else(|| file.as_ref().and_then(|l| l.model.clone()))
                .ok_or_else(|| {
                    bad(
                        "LLM_MODEL / llm.model",
                        "required when an LLM base URL is set",
                    )
                })?;
            let key_var = file
                .as_ref()
                .and_then(|l| l.api_key_env.clone())
                .unwrap_or_else(|| env::LLM_API_KEY.to_string());
            let api_key = env.get(&key_var).map(|k| Secret::new(k.trim()));
            let timeout_secs = match env.get(env::LLM_TIMEOUT_SECS) {
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| {
                        bad(
                            env::LLM_TIMEOUT_SECS,
                            format!("`{v}` is not a whole number of seconds above 0"),
                        )
                    })?,
                None => file
                    .as_ref()
                    .and_then(|l| l.timeout_secs)
                    .unwrap_or(30)
                    .max(1),
            };
            let timeout = Duration::from_secs(timeout_secs);
            let system_prompt = file
                .and_then(|l| l.system_prompt)
                .unwrap_or_else(|| DEFAULT_SYSTEM_PROMPT.to_string());
            Ok(LlmSettings::OpenAi {
                base_url,
                model,
                api_key,
                timeout,
                system_prompt,
            })
        }
    }
}
