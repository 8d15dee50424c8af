//! Typed configuration, loaded once at start-up and validated there.
//!
//! A TOML file (`--config FILE` or `CONSENTGATE_CONFIG`) can describe many bots; the environment
//! variables of the configuration contract are enough on their own for one bot and override the
//! file. With neither, the gateway runs its embedded default: SQLite in the working directory,
//! the web chat on 127.0.0.1:8080 and the offline echo provider. Every error names the key or
//! variable at fault and says what is expected.
//!
//! [`env`] lists every environment variable; each section of the file has its own module with
//! its settings, its part of the file format and its checks.

mod allowance;
mod bots;
mod embeddings;
pub mod env;
mod error;
mod http;
mod llm;
mod oauth;
mod purposes;
mod redact;
mod retention;
mod secret;
#[cfg(test)]
mod tests;
pub mod tools;
mod transcription;
mod whatsapp;

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::Deserialize;
use url::Url;

use crate::redact::RedactSettings;

pub use allowance::{AllowanceSettings, PlanSettings};
pub use bots::{BotSettings, DEFAULT_BALE_API_URL, DEFAULT_TELEGRAM_API_URL, WebChatConfig};
pub use embeddings::EmbeddingsSettings;
pub use env::{Env, ProcessEnv};
pub use error::ConfigError;
use error::bad;
pub use http::HttpSettings;
pub use llm::{DEFAULT_SYSTEM_PROMPT, LlmSettings, ProviderSettings};
pub use oauth::{BUILTIN_PROVIDERS, OAuthProvider};
pub use purposes::{DEFAULT_PURPOSES, PolicySettings, PurposeSettings};
pub use retention::{MAX_DAYS, RetentionSettings};
pub use secret::Secret;
pub use tools::ToolSettings;
pub use transcription::TranscriptionSettings;
pub use whatsapp::{DEFAULT_GRAPH_URL, DEFAULT_GRAPH_VERSION, WhatsAppConfig};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://consentgate.db?mode=rwc";
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";

/// `dev` may generate missing secrets; `production` refuses to start without them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Dev,
    Production,
}

impl Mode {
    fn parse(place: &str, value: &str) -> Result<Self, ConfigError> {
        match value.trim() {
            "dev" => Ok(Mode::Dev),
            "production" => Ok(Mode::Production),
            other => Err(bad(
                place,
                format!("expected `dev` or `production`, got `{other}`"),
            )),
        }
    }
}

/// The whole configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub mode: Mode,
    pub database_url: String,
    pub http_addr: SocketAddr,
    /// The HTTP server's connection cap and time limits.
    pub http: HttpSettings,
    pub llm: LlmSettings,
    /// Voice notes into text; off when `None`.
    pub transcription: Option<TranscriptionSettings>,
    /// Knowledge-base passages found by meaning too; off when `None`.
    pub embeddings: Option<EmbeddingsSettings>,
    /// Requests per person and bot, and the plans that add more.
    pub allowance: AllowanceSettings,
    pub bots: Vec<BotSettings>,
    pub webchat: WebChatConfig,
    pub policy: PolicySettings,
    /// Messages a person may send per minute before being asked to slow down.
    pub messages_per_minute: u32,
    /// How long a process's unfinished work (an update being handled, replies not yet sent) is
    /// left to it before another process, or this one after a restart, takes it over.
    pub takeover: std::time::Duration,
    /// Where `dev` mode keeps generated secrets.
    pub secrets_file: PathBuf,
    /// PII redaction before LLM calls.
    pub redact: RedactSettings,
    /// The purposes people are asked about, in the order shown.
    pub purposes: Vec<PurposeSettings>,
    pub retention: RetentionSettings,
    /// Earlier messages sent with a new one as context, for people who chose `history`.
    pub history_messages: usize,
    /// The gateway's public address, for links it sends (export downloads). Default: the
    /// address it listens on.
    pub public_url: Option<Url>,
    /// OAuth providers owners can link.
    pub oauth: Vec<OAuthProvider>,
    /// Where owners' tools call their services, and the limits on tool calls.
    pub tools: ToolSettings,
    /// Platform user ids made owners by the configuration, per bot name.
    pub owners: HashMap<String, Vec<String>>,
    /// The business of each bot that shares one with others (`[businesses]`), by bot name; a
    /// bot not named is a business of its own.
    pub businesses: HashMap<String, String>,
    /// The WhatsApp Business number, when configured.
    pub whatsapp: Option<WhatsAppConfig>,
}

impl Config {
    /// The base of links the gateway sends: `public_url`, or the address it listens on.
    pub fn public_base(&self, listening: SocketAddr) -> String {
        self.public_url
            .as_ref()
            .map(|u| u.as_str().trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("http://{listening}"))
    }
}

impl Config {
    /// Loads the file (if any) and applies the environment on top, validating everything.
    pub fn load(file: Option<&Path>, env: &dyn Env) -> Result<Config, ConfigError> {
        let file_path = file
            .map(Path::to_path_buf)
            .or_else(|| env.get(env::CONFIG).map(PathBuf::from));
        let parsed: FileConfig = match &file_path {
            Some(path) => {
                let place = path.display().to_string();
                let text = std::fs::read_to_string(path)
                    .map_err(|e| bad(&place, format!("cannot read the file: {e}")))?;
                toml::from_str(&text).map_err(|e| bad(&place, e.to_string()))?
            }
            None => FileConfig::default(),
        };
        let base_dir = file_path
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Self::build(parsed, &base_dir, env)
    }

    fn build(file: FileConfig, base_dir: &Path, env: &dyn Env) -> Result<Config, ConfigError> {
        let mode = match env.get(env::MODE) {
            Some(v) => Mode::parse(env::MODE, &v)?,
            None => match &file.mode {
                Some(v) => Mode::parse("mode", v)?,
                None => Mode::Dev,
            },
        };
        let database_url = database_url(env, file.database_url)?;
        let http_addr = http_addr(env, file.http_addr)?;
        let http = http::settings(file.http, env)?;

        let llm_recipient = file.llm.as_ref().and_then(|l| l.recipient.clone());
        let history_messages = file
            .llm
            .as_ref()
            .and_then(|l| l.history_messages)
            .unwrap_or(10);
        if history_messages > 100 {
            return Err(bad("llm.history_messages", "at most 100"));
        }
        let llm = llm::settings(file.llm, env)?;
        let transcription = transcription::settings(file.transcription, env)?;
        let allowance = allowance::settings(file.allowance, file.plans, env)?;

        let (bots, mut owners) = bots::configured(file.bots, env)?;
        let whatsapp = whatsapp::settings(env)?;
        if let Some(w) = &whatsapp
            && bots.iter().any(|b| b.name == w.name)
        {
            return Err(bad(
                env::WHATSAPP_BOT_NAME,
                format!("`{}` is also the name of a bot", w.name),
            ));
        }
        let public_url = env
            .get(env::PUBLIC_URL)
            .map(|v| (env::PUBLIC_URL, v))
            .or(file.public_url.map(|v| ("public_url", v)))
            .map(|(place, v)| parse_url(place, &v))
            .transpose()?;
        let https = public_url.as_ref().is_some_and(|u| u.scheme() == "https");
        let webchat = bots::webchat(file.webchat, &bots, https)?;
        let policy = purposes::policy(file.policy, base_dir)?;
        let messages_per_minute = messages_per_minute(env, file.messages_per_minute)?;
        let takeover = takeover(env, file.takeover_secs)?;
        let secrets_file = file
            .secrets_file
            .unwrap_or_else(|| default_secrets_file(&database_url));
        let redact = redact::settings(file.redact)?;
        let mut retention = retention::settings(file.retention)?;
        if let Some(v) = env.get(env::ERASURE_GRACE_DAYS) {
            retention.erasure_grace_days = v
                .trim()
                .parse()
                .ok()
                .filter(|d| *d <= MAX_DAYS)
                .ok_or_else(|| {
                    bad(
                        env::ERASURE_GRACE_DAYS,
                        format!("`{v}` is not a whole number of days up to {MAX_DAYS}"),
                    )
                })?;
        }
        let overridden = env
            .get(env::LLM_RECIPIENT)
            .map(|r| (env::LLM_RECIPIENT, r))
            .or(llm_recipient.map(|r| ("llm.recipient", r)));
        if let (Some((place, _)), LlmSettings::OpenAi { providers, .. }) = (&overridden, &llm)
            && providers.len() > 1
        {
            // One phrase for several recipients would hide who may receive messages.
            return Err(bad(
                *place,
                "with several [[llm.providers]], name each one with its own `recipient` instead",
            ));
        }
        let recipients = overridden
            .map(|(_, r)| r)
            .unwrap_or_else(|| llm::default_recipient(&llm));
        let embeddings = embeddings::settings(file.embeddings, env)?;
        // Each (redacted) question also goes to the embeddings service: named with the rest.
        let recipients = match &embeddings {
            Some(e) => format!(
                "{recipients} (and, to find the business's documents that answer it, to {})",
                e.recipient
            ),
            None => recipients,
        };
        let oauth = oauth::providers(file.oauth, env)?;
        let tools = tools::settings(file.tools, env)?;
        let linkable = |name: &str| oauth.iter().any(|p| p.name == name);
        let services: Vec<(&str, &str, &str)> = [
            (linkable("google"), tools::SHEETS_PURPOSE),
            (linkable("hubspot"), tools::CRM_PURPOSE),
        ]
        .into_iter()
        .filter_map(|(on, purpose)| on.then_some(purpose))
        .collect();
        let purposes = purposes::settings(
            file.purposes,
            &recipients,
            transcription.as_ref().map(|t| t.recipient.as_str()),
            llm::image_recipients(&llm).as_deref(),
            &services,
            &retention,
        )?;
        if let Some(ids) = env.get(env::TELEGRAM_OWNER_IDS) {
            owners.insert(
                "telegram".to_string(),
                ids.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
            );
        }
        let mut known: Vec<&str> = bots.iter().map(|b| b.name.as_str()).collect();
        if webchat.enabled {
            known.push(&webchat.bot_name);
        }
        if let Some(w) = &whatsapp {
            known.push(&w.name);
        }
        let businesses = businesses(file.businesses, &known)?;

        Ok(Config {
            mode,
            database_url,
            http_addr,
            http,
            llm,
            transcription,
            embeddings,
            allowance,
            bots,
            webchat,
            policy,
            messages_per_minute,
            takeover,
            secrets_file,
            redact,
            purposes,
            retention,
            history_messages,
            public_url,
            oauth,
            tools,
            owners,
            businesses,
            whatsapp,
        })
    }
}

fn database_url(env: &dyn Env, file: Option<String>) -> Result<String, ConfigError> {
    let place = "CONSENTGATE_DATABASE_URL / database_url";
    let database_url = env
        .get(env::DATABASE_URL)
        .or(file)
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
    if !(database_url.starts_with("sqlite:")
        || database_url.starts_with("postgres://")
        || database_url.starts_with("postgresql://"))
    {
        return Err(bad(
            place,
            "expected sqlite://PATH?mode=rwc or postgres://USER@HOST/DB",
        ));
    }
    crate::store::split_url(&database_url).map_err(|problem| bad(place, problem))?;
    Ok(database_url)
}

fn http_addr(env: &dyn Env, file: Option<String>) -> Result<SocketAddr, ConfigError> {
    let (place, addr) = match env.get(env::HTTP_ADDR) {
        Some(v) => (env::HTTP_ADDR, v),
        None => (
            "http_addr",
            file.unwrap_or_else(|| DEFAULT_HTTP_ADDR.to_string()),
        ),
    };
    addr.trim().parse().map_err(|_| {
        bad(
            place,
            format!("`{addr}` is not an address like 127.0.0.1:8080"),
        )
    })
}

fn messages_per_minute(env: &dyn Env, file: Option<u32>) -> Result<u32, ConfigError> {
    let n = match env.get(env::MESSAGES_PER_MINUTE) {
        Some(v) => v.trim().parse().map_err(|_| {
            bad(
                env::MESSAGES_PER_MINUTE,
                format!("`{v}` is not a whole number"),
            )
        })?,
        None => file.unwrap_or(30),
    };
    if n == 0 {
        return Err(bad("messages_per_minute", "must be at least 1"));
    }
    Ok(n)
}

/// Seconds, 1 to an hour: long enough for a turn to be handled and its replies sent under load,
/// short enough that a restart answers what a crash left soon.
fn takeover(env: &dyn Env, file: Option<u64>) -> Result<std::time::Duration, ConfigError> {
    let (place, secs) = match env.get(env::TAKEOVER_SECS) {
        Some(v) => (
            env::TAKEOVER_SECS,
            v.trim()
                .parse()
                .map_err(|_| bad(env::TAKEOVER_SECS, format!("`{v}` is not a whole number")))?,
        ),
        None => ("takeover_secs", file.unwrap_or(60)),
    };
    if !(1..=3600).contains(&secs) {
        return Err(bad(place, "must be 1 to 3600 seconds"));
    }
    Ok(std::time::Duration::from_secs(secs))
}

// ---- the file format: each section's table is in its own module ----

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    mode: Option<String>,
    database_url: Option<String>,
    http_addr: Option<String>,
    #[serde(default)]
    http: Option<http::FileHttp>,
    messages_per_minute: Option<u32>,
    takeover_secs: Option<u64>,
    secrets_file: Option<PathBuf>,
    #[serde(default)]
    llm: Option<llm::FileLlm>,
    #[serde(default)]
    transcription: Option<transcription::FileTranscription>,
    #[serde(default)]
    embeddings: Option<embeddings::FileEmbeddings>,
    #[serde(default)]
    allowance: Option<allowance::FileAllowance>,
    #[serde(default)]
    plans: Vec<allowance::FilePlan>,
    #[serde(default)]
    policy: Option<purposes::FilePolicy>,
    #[serde(default)]
    webchat: Option<bots::FileWebChat>,
    #[serde(default)]
    bots: Vec<bots::FileBot>,
    #[serde(default)]
    redact: Option<redact::FileRedact>,
    #[serde(default)]
    purposes: Option<Vec<purposes::FilePurpose>>,
    #[serde(default)]
    retention: Option<retention::FileRetention>,
    public_url: Option<String>,
    #[serde(default)]
    oauth: HashMap<String, oauth::FileOAuth>,
    #[serde(default)]
    tools: Option<tools::FileTools>,
    /// Business name → the bots that serve it.
    #[serde(default)]
    businesses: HashMap<String, Vec<String>>,
}

/// `[businesses]`: which bots share people. Every name must be a configured bot, in one business
/// at most.
fn businesses(
    file: HashMap<String, Vec<String>>,
    known: &[&str],
) -> Result<HashMap<String, String>, ConfigError> {
    let mut out = HashMap::new();
    let mut names: Vec<_> = file.into_iter().collect();
    names.sort();
    for (business, bots) in names {
        if !bots::valid_bot_name(&business) {
            return Err(bad(
                format!("businesses.{business}"),
                "use a-z, 0-9, _ and - in business names",
            ));
        }
        for bot in bots {
            if !known.contains(&bot.as_str()) {
                return Err(bad(
                    format!("businesses.{business}"),
                    format!("`{bot}` is not a configured bot (nor the web chat or WhatsApp)"),
                ));
            }
            if let Some(other) = out.insert(bot.clone(), business.clone()) {
                return Err(bad(
                    format!("businesses.{business}"),
                    format!("`{bot}` is also in business `{other}`; a bot serves one business"),
                ));
            }
        }
    }
    Ok(out)
}

fn parse_url(place: &str, value: &str) -> Result<Url, ConfigError> {
    let trimmed = value.trim().trim_end_matches('/');
    let url =
        Url::parse(trimmed).map_err(|e| bad(place, format!("`{trimmed}` is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(place, "expected an http:// or https:// URL"));
    }
    Ok(url)
}

/// The secrets file sits beside a SQLite database file, else in the working directory.
fn default_secrets_file(database_url: &str) -> PathBuf {
    let name = "consentgate.secrets";
    if let Some(rest) = database_url.strip_prefix("sqlite://") {
        let path = rest.split('?').next().unwrap_or_default();
        if !path.is_empty()
            && path != ":memory:"
            && let Some(dir) = Path::new(path).parent()
        {
            return dir.join(name);
        }
    }
    PathBuf::from(name)
}
