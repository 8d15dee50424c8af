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
    /// OpenAI-compatible `/chat/completions` endpoints, tried in order: the next one answers
    /// when one is busy, failing or resting (see `llm::Providers`).
    OpenAi {
        providers: Vec<ProviderSettings>,
        system_prompt: String,
    },
}

/// One OpenAI-compatible endpoint.
#[derive(Clone, Debug)]
pub struct ProviderSettings {
    /// Its name in the audit log and the egress ledger (`openai-compatible` for the single
    /// `[llm]` endpoint).
    pub name: String,
    /// Includes the version, e.g. `https://api.openai.com/v1`.
    pub base_url: Url,
    pub model: String,
    pub api_key: Option<Secret>,
    pub timeout: Duration,
    /// Who it is, in words people understand (named in the `assistant` purpose).
    pub recipient: Option<String>,
    /// The model accepts pictures (OpenAI's `image_url` content parts).
    pub images: bool,
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
    /// `[[llm.providers]]`: several endpoints, tried in order.
    pub(super) providers: Option<Vec<FileProvider>>,
    /// The single endpoint's model accepts pictures.
    pub(super) images: Option<bool>,
}

/// One `[[llm.providers]]` entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileProvider {
    name: Option<String>,
    base_url: String,
    model: String,
    /// Name of the environment variable holding its API key (none if unset: a key is never
    /// sent to a provider it was not named for).
    api_key_env: Option<String>,
    timeout_secs: Option<u64>,
    recipient: Option<String>,
    /// Its model accepts pictures.
    images: Option<bool>,
}

impl ProviderSettings {
    /// Who it is in the consent text: its `recipient`, or its host and model.
    pub fn named(&self) -> String {
        self.recipient.clone().unwrap_or_else(|| {
            format!(
                "the AI service at {} (model {})",
                self.base_url.host_str().unwrap_or("the configured address"),
                self.model
            )
        })
    }
}

/// The default text naming who receives messages: every provider that may, in order.
pub(super) fn default_recipient(llm: &LlmSettings) -> String {
    match llm {
        LlmSettings::Echo => {
            "no outside service (this gateway's offline echo, which only repeats it)".to_string()
        }
        LlmSettings::OpenAi { providers, .. } => {
            let mut named = providers.iter().map(ProviderSettings::named);
            let mut text = named.next().unwrap_or_default();
            for next in named {
                text.push_str(", or when that one is busy, ");
                text.push_str(&next);
            }
            text
        }
    }
}

/// Who receives pictures, when any configured model accepts them: those providers, in order.
pub(super) fn image_recipients(llm: &LlmSettings) -> Option<String> {
    let LlmSettings::OpenAi { providers, .. } = llm else {
        return None;
    };
    let named: Vec<String> = providers
        .iter()
        .filter(|p| p.images)
        .map(ProviderSettings::named)
        .collect();
    (!named.is_empty()).then(|| named.join(", or when that one is busy, "))
}

fn timeout_secs(place: &str, value: Option<u64>) -> Result<Duration, ConfigError> {
    match value {
        Some(0) => Err(bad(place, "must be a whole number of seconds above 0")),
        Some(s) => Ok(Duration::from_secs(s)),
        None => Ok(Duration::from_secs(30)),
    }
}

/// `[[llm.providers]]`, validated with the place of each mistake.
fn provider_list(
    list: Vec<FileProvider>,
    env: &dyn Env,
) -> Result<Vec<ProviderSettings>, ConfigError> {
    if list.is_empty() {
        return Err(bad(
            "llm.providers",
            "is empty; list at least one provider or remove it",
        ));
    }
    let mut out: Vec<ProviderSettings> = Vec::with_capacity(list.len());
    for (i, p) in list.into_iter().enumerate() {
        let place = |field: &str| format!("llm.providers[{i}].{field}");
        let name = p.name.unwrap_or_else(|| format!("provider-{}", i + 1));
        if name.trim().is_empty() || out.iter().any(|o| o.name == name) {
            return Err(bad(
                place("name"),
                format!("`{name}` is empty or used twice; each provider needs its own name"),
            ));
        }
        if p.model.trim().is_empty() {
            return Err(bad(place("model"), "required"));
        }
        out.push(ProviderSettings {
            name,
            base_url: parse_url(&place("base_url"), &p.base_url)?,
            model: p.model,
            api_key: p
                .api_key_env
                .and_then(|var| env.get(&var))
                .map(|k| Secret::new(k.trim())),
            timeout: timeout_secs(&place("timeout_secs"), p.timeout_secs)?,
            recipient: p.recipient,
            images: p.images.unwrap_or(false),
        });
    }
    Ok(out)
}

/// The providers from `[llm]` (or `[[llm.providers]]`) and the `LLM_*` variables.
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
    let system_prompt = file
        .as_ref()
        .and_then(|l| l.system_prompt.clone())
        .unwrap_or_else(|| DEFAULT_SYSTEM_PROMPT.to_string());
    let mut file = file;
    if let Some(list) = file.as_mut().and_then(|l| l.providers.take()) {
        if let Some((place, _)) = base {
            return Err(bad(
                place,
                "set either [[llm.providers]] or one base URL (llm.base_url / LLM_BASE_URL), not both",
            ));
        }
        // The single endpoint's settings would be silently ignored: say so.
        let single = file.as_ref().is_some_and(|l| {
            l.model.is_some() || l.api_key_env.is_some() || l.timeout_secs.is_some()
        });
        for (set, place) in [
            (single, "llm.model / llm.api_key_env / llm.timeout_secs"),
            (env.get(env::LLM_MODEL).is_some(), env::LLM_MODEL),
            (
                env.get(env::LLM_TIMEOUT_SECS).is_some(),
                env::LLM_TIMEOUT_SECS,
            ),
        ] {
            if set {
                return Err(bad(
                    place,
                    "belongs to the single [llm] endpoint; with [[llm.providers]] set it per provider",
                ));
            }
        }
        if provider.as_deref().is_some_and(|p| p != "openai") {
            return Err(bad(
                "llm.provider",
                "[[llm.providers]] are OpenAI-compatible endpoints; remove `provider` or set `openai`",
            ));
        }
        return Ok(LlmSettings::OpenAi {
            providers: provider_list(list, env)?,
            system_prompt,
        });
    }
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
            let images = match env.get(env::LLM_IMAGES) {
                Some(v) => match v.trim() {
                    "true" | "1" | "yes" => true,
                    "false" | "0" | "no" => false,
                    other => {
                        return Err(bad(
                            env::LLM_IMAGES,
                            format!("`{other}` is not true or false"),
                        ));
                    }
                },
                None => file.as_ref().and_then(|l| l.images).unwrap_or(false),
            };
            Ok(LlmSettings::OpenAi {
                providers: vec![ProviderSettings {
                    name: "openai-compatible".to_string(),
                    base_url,
                    model,
                    api_key,
                    timeout: Duration::from_secs(timeout_secs),
                    recipient: None,
                    images,
                }],
                system_prompt,
            })
        }
    }
}
