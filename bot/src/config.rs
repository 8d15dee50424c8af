//! Typed configuration, loaded once at start-up and validated there.
//!
//! A TOML file (`--config FILE` or `CONSENTGATE_CONFIG`) can describe many bots; the environment
//! variables of the configuration contract are enough on their own for one bot and override the
//! file. With neither, the gateway runs its embedded default: SQLite in the working directory,
//! the web chat on 127.0.0.1:8080 and the offline echo provider. Every error names the key or
//! variable at fault and says what is expected.

use std::{
    collections::HashMap,
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;
use url::Url;

use consentgate_adapters::{ChannelKind, outbound::Limits};

use crate::redact::{CustomPattern, Kind, RedactSettings, Validator};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://consentgate.db?mode=rwc";
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";
pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";
pub const DEFAULT_BALE_API_URL: &str = "https://tapi.bale.ai";

/// A configuration problem, naming where it is.
#[derive(Debug, thiserror::Error)]
#[error("configuration error in {place}: {problem}")]
pub struct ConfigError {
    pub place: String,
    pub problem: String,
}

fn bad(place: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        place: place.into(),
        problem: problem.into(),
    }
}

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

/// A secret string (token, API key). Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

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

/// One chat bot on a Bot-API platform.
#[derive(Clone, Debug)]
pub struct BotSettings {
    pub name: String,
    pub channel: ChannelKind,
    pub token: Secret,
    /// Where the token came from, for error messages.
    pub token_var: String,
    pub api_url: Url,
    pub poll_timeout_secs: u32,
    /// Set: webhook mode at this public URL; unset: long polling.
    pub webhook_url: Option<Url>,
    /// The webhook secret token; derived from `PSEUDONYM_KEY` when not configured, so every
    /// replica agrees on it.
    pub webhook_secret: Option<Secret>,
    /// Outbound limits.
    pub limits: Limits,
}

/// The web chat.
#[derive(Clone, Debug)]
pub struct WebChatConfig {
    pub enabled: bool,
    pub bot_name: String,
    pub secure_cookie: bool,
    pub max_sessions: usize,
}

/// Where the privacy policy text comes from.
#[derive(Clone, Debug)]
pub struct PolicySettings {
    /// A file with the text; the built-in default when absent.
    pub file: Option<PathBuf>,
    /// A human label for the version, e.g. a date.
    pub label: String,
}

/// One purpose people are asked about, as configured (its text already filled in).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurposeSettings {
    pub name: String,
    pub title: String,
    pub text: String,
    pub required: bool,
}

/// An OAuth 2.0 provider owners can link (authorization code with PKCE S256).
#[derive(Clone, Debug)]
pub struct OAuthProvider {
    /// Used in `/link NAME` and the callback path.
    pub name: String,
    /// Shown to people, e.g. "Google".
    pub title: String,
    pub authorize_url: Url,
    pub token_url: Url,
    /// RFC 7009 token revocation, where the provider has it.
    pub revocation_url: Option<Url>,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub scopes: Vec<String>,
    /// What each scope allows, in words owners understand.
    pub scope_words: Vec<(String, String)>,
    pub extra_params: Vec<(String, String)>,
}

impl OAuthProvider {
    /// The scopes in words: the description where one is known, else the scope itself.
    pub fn describe_scopes(&self) -> Vec<String> {
        self.scopes
            .iter()
            .map(|s| {
                self.scope_words
                    .iter()
                    .find(|(scope, _)| scope == s)
                    .map_or_else(|| s.clone(), |(_, words)| words.clone())
            })
            .collect()
    }
}

/// Ready definitions, enabled by giving a client id (`[oauth.NAME] client_id` or
/// `OAUTH_NAME_CLIENT_ID`); every field can be overridden.
/// (name, title, authorize, token, revocation, scopes with words, extra parameters)
#[allow(clippy::type_complexity)]
pub const BUILTIN_PROVIDERS: [(
    &str,
    &str,
    &str,
    &str,
    Option<&str>,
    &[(&str, &str)],
    &[(&str, &str)],
); 4] = [
    (
        "google",
        "Google",
        "https://accounts.google.com/o/oauth2/v2/auth",
        "https://oauth2.googleapis.com/token",
        Some("https://oauth2.googleapis.com/revoke"),
        &[
            (
                "https://www.googleapis.com/auth/spreadsheets",
                "see, edit, create and delete your Google Sheets spreadsheets",
            ),
            (
                "https://www.googleapis.com/auth/gmail.send",
                "send email on your behalf from your Gmail account",
            ),
        ],
        &[("access_type", "offline"), ("prompt", "consent")],
    ),
    (
        "yandex",
        "Yandex",
        "https://oauth.yandex.ru/authorize",
        "https://oauth.yandex.ru/token",
        None,
        &[("direct:api", "manage your Yandex Direct ad campaigns")],
        &[],
    ),
    (
        "hubspot",
        "HubSpot",
        "https://app.hubspot.com/oauth/authorize",
        "https://api.hubapi.com/oauth/v1/token",
        None,
        &[
            ("crm.objects.contacts.read", "read your HubSpot contacts"),
            (
                "crm.objects.contacts.write",
                "create and update your HubSpot contacts",
            ),
        ],
        &[],
    ),
    (
        "zoho",
        "Zoho",
        "https://accounts.zoho.com/oauth/v2/auth",
        "https://accounts.zoho.com/oauth/v2/token",
        Some("https://accounts.zoho.com/oauth/v2/token/revoke"),
        &[(
            "ZohoCRM.modules.ALL",
            "read and change all records in your Zoho CRM",
        )],
        &[("access_type", "offline"), ("prompt", "consent")],
    ),
];

/// How long each class of data is kept, in days, and how erasure works.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Stored conversation (only kept with the `history` purpose).
    pub conversation_days: u32,
    /// The egress ledger: which LLM calls were made about a person.
    pub egress_days: u32,
    /// Temporary records: delivery ids kept to drop platform redeliveries, export links.
    pub temporary_days: u32,
    /// Audit log entries; pruning leaves an anchor entry.
    pub audit_days: u32,
    /// People who have not written for this long are erased.
    pub inactive_subject_days: u32,
    /// Time between `/delete` and the purge, during which `/restore` undoes it; 0 purges at once.
    pub erasure_grace_days: u32,
    /// How often the background sweeper runs.
    pub sweep_interval: Duration,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            conversation_days: 30,
            egress_days: 365,
            temporary_days: 90,
            audit_days: 365,
            inactive_subject_days: 5 * 365,
            erasure_grace_days: 30,
            sweep_interval: Duration::from_secs(3600),
        }
    }
}

/// The whole configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub mode: Mode,
    pub database_url: String,
    pub http_addr: SocketAddr,
    pub llm: LlmSettings,
    pub bots: Vec<BotSettings>,
    pub webchat: WebChatConfig,
    pub policy: PolicySettings,
    /// Messages a person may send per minute before being asked to slow down.
    pub messages_per_minute: u32,
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
    /// Platform user ids made owners by the configuration, per bot name.
    pub owners: HashMap<String, Vec<String>>,
    /// The WhatsApp Business number, when configured.
    pub whatsapp: Option<WhatsAppConfig>,
}

/// One WhatsApp Business Cloud API number, from the `WHATSAPP_*` variables.
#[derive(Clone, Debug)]
pub struct WhatsAppConfig {
    pub name: String,
    pub access_token: Secret,
    pub phone_number_id: String,
    pub app_secret: Secret,
    pub verify_token: Secret,
    pub graph_url: Url,
    pub api_version: String,
    /// The approved template for messages outside the 24-hour window: (name, language).
    pub template: Option<(String, String)>,
    /// Messages per second for the number (Meta's default 80; upgraded numbers 1,000).
    pub per_second: u32,
}

pub const DEFAULT_GRAPH_URL: &str = "https://graph.facebook.com";
pub const DEFAULT_GRAPH_VERSION: &str = "v21.0";

fn whatsapp_settings(env: &dyn Env) -> Result<Option<WhatsAppConfig>, ConfigError> {
    const REQUIRED: [&str; 4] = [
        "WHATSAPP_ACCESS_TOKEN",
        "WHATSAPP_PHONE_NUMBER_ID",
        "WHATSAPP_APP_SECRET",
        "WHATSAPP_VERIFY_TOKEN",
    ];
    let values: Vec<Option<String>> = REQUIRED.iter().map(|v| env.get(v)).collect();
    let any = values.iter().any(Option::is_some)
        || env.get("WHATSAPP_GRAPH_URL").is_some()
        || env.get("WHATSAPP_TEMPLATE").is_some();
    if !any {
        return Ok(None);
    }
    if let Some(missing) = REQUIRED.iter().zip(&values).find(|(_, v)| v.is_none()) {
        return Err(bad(
            *missing.0,
            "not set; the WhatsApp channel needs WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID, WHATSAPP_APP_SECRET and WHATSAPP_VERIFY_TOKEN",
        ));
    }
    let get = |i: usize| values[i].clone().unwrap_or_default().trim().to_string();
    let phone_number_id = get(1);
    if !phone_number_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            "WHATSAPP_PHONE_NUMBER_ID",
            "expected the numeric id Meta shows",
        ));
    }
    let graph_url = parse_url(
        "WHATSAPP_GRAPH_URL",
        &env.get("WHATSAPP_GRAPH_URL")
            .unwrap_or_else(|| DEFAULT_GRAPH_URL.to_string()),
    )?;
    let api_version = env
        .get("WHATSAPP_API_VERSION")
        .unwrap_or_else(|| DEFAULT_GRAPH_VERSION.to_string());
    if !api_version.starts_with('v') {
        return Err(bad(
            "WHATSAPP_API_VERSION",
            "expected a version such as v21.0",
        ));
    }
    let name = env
        .get("WHATSAPP_BOT_NAME")
        .unwrap_or_else(|| "whatsapp".to_string());
    if !valid_bot_name(&name) {
        return Err(bad(
            "WHATSAPP_BOT_NAME",
            "use 1-64 characters of A-Z a-z 0-9 - _",
        ));
    }
    Ok(Some(WhatsAppConfig {
        name,
        access_token: Secret::new(get(0)),
        phone_number_id,
        app_secret: Secret::new(get(2)),
        verify_token: Secret::new(get(3)),
        graph_url,
        api_version,
        per_second: match env.get("WHATSAPP_MESSAGES_PER_SECOND") {
            Some(v) => v.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                bad(
                    "WHATSAPP_MESSAGES_PER_SECOND",
                    format!("`{v}` is not a whole number above 0"),
                )
            })?,
            None => 80,
        },
        template: env.get("WHATSAPP_TEMPLATE").map(|t| {
            (
                t.trim().to_string(),
                env.get("WHATSAPP_TEMPLATE_LANGUAGE")
                    .unwrap_or_else(|| "en".to_string()),
            )
        }),
    }))
}

/// The built-in purposes; `{recipients}` and `{history_days}` are filled in from the
/// configuration.
pub const DEFAULT_PURPOSES: [(&str, &str, &str, bool); 3] = [
    (
        "assistant",
        "Answers from the AI assistant",
        "To answer you, the text of each message you send is passed to {recipients}, with names, \
phone numbers, card numbers and other personal details replaced by placeholders, together with a \
random-looking code instead of your account id. Required to use the assistant.",
        true,
    ),
    (
        "history",
        "Keeping our conversation",
        "Your messages and the answers are stored encrypted for up to {history_days} days, so the \
assistant can remember what you said earlier. Without this, no message text is stored at all. \
Off unless you turn it on.",
        false,
    ),
    (
        "marketing",
        "News and offers",
        "The business may write to you first with news and offers. Off unless you turn it on; \
send STOP at any time to end them.",
        false,
    ),
];

impl Config {
    /// The base of links the gateway sends: `public_url`, or the address it listens on.
    pub fn public_base(&self, listening: SocketAddr) -> String {
        self.public_url
            .as_ref()
            .map(|u| u.as_str().trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("http://{listening}"))
    }
}

// ---- the file format ----

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    mode: Option<String>,
    database_url: Option<String>,
    http_addr: Option<String>,
    messages_per_minute: Option<u32>,
    secrets_file: Option<PathBuf>,
    #[serde(default)]
    llm: Option<FileLlm>,
    #[serde(default)]
    policy: Option<FilePolicy>,
    #[serde(default)]
    webchat: Option<FileWebChat>,
    #[serde(default)]
    bots: Vec<FileBot>,
    #[serde(default)]
    redact: Option<FileRedact>,
    #[serde(default)]
    purposes: Option<Vec<FilePurpose>>,
    #[serde(default)]
    retention: Option<FileRetention>,
    public_url: Option<String>,
    #[serde(default)]
    oauth: HashMap<String, FileOAuth>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileOAuth {
    title: Option<String>,
    authorize_url: Option<String>,
    token_url: Option<String>,
    revocation_url: Option<String>,
    client_id: Option<String>,
    /// Environment variable with the client secret (default `OAUTH_<NAME>_CLIENT_SECRET`).
    client_secret_env: Option<String>,
    scopes: Option<Vec<String>>,
    #[serde(default)]
    scope_words: HashMap<String, String>,
    #[serde(default)]
    extra_params: HashMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePurpose {
    name: String,
    title: Option<String>,
    text: Option<String>,
    required: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRetention {
    conversation_days: Option<u32>,
    egress_days: Option<u32>,
    temporary_days: Option<u32>,
    audit_days: Option<u32>,
    inactive_subject_days: Option<u32>,
    erasure_grace_days: Option<u32>,
    sweep_interval_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRedact {
    /// Regions tried, in order, for phone numbers without a country code (ISO 3166 codes).
    phone_regions: Option<Vec<String>>,
    max_chars: Option<usize>,
    /// Per detector (`email`, `phone`, `card`, `iban`, `ip`, `national_id`, `url`, `person`).
    #[serde(default)]
    detectors: HashMap<String, FileDetector>,
    #[serde(default)]
    patterns: Vec<FilePattern>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDetector {
    enabled: Option<bool>,
    label: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePattern {
    label: String,
    pattern: String,
    validator: Option<Validator>,
}

/// A placeholder label: upper-case words joined by single underscores (TEL, NATIONAL_ID), so a
/// placeholder the model re-spaces still names it.
fn valid_label(label: &str) -> bool {
    label.len() <= 32
        && label.split('_').all(|word| {
            let mut chars = word.chars();
            chars.next().is_some_and(|c| c.is_ascii_uppercase())
                && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
}

fn redact_settings(file: Option<FileRedact>) -> Result<RedactSettings, ConfigError> {
    let mut settings = RedactSettings::default();
    let Some(file) = file else {
        return Ok(settings);
    };
    if let Some(regions) = file.phone_regions {
        settings.phone_regions = regions
            .iter()
            .map(|r| {
                r.trim()
                    .to_ascii_uppercase()
                    .parse::<phonenumber::country::Id>()
                    .map_err(|_| {
                        bad(
                            "redact.phone_regions",
                            format!("`{r}` is not a two-letter region code such as RU or IR"),
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
    }
    if let Some(max) = file.max_chars {
        if max == 0 {
            return Err(bad("redact.max_chars", "must be at least 1"));
        }
        settings.max_chars = max;
    }
    for (key, detector) in file.detectors {
        let place = format!("redact.detectors.{key}");
        let kind = Kind::BUILT_IN
            .into_iter()
            .find(|k| k.config_key() == key)
            .ok_or_else(|| {
                bad(&place, "unknown detector; expected one of email, phone, card, iban, ip, national_id, url, person")
            })?;
        if detector.enabled == Some(false) {
            settings.disabled.push(kind);
        }
        if let Some(label) = detector.label {
            if !valid_label(&label) {
                return Err(bad(
                    format!("{place}.label"),
                    "use A-Z, 0-9 and _, starting with a letter (e.g. TEL)",
                ));
            }
            settings.labels.insert(kind, label);
        }
    }
    for (i, p) in file.patterns.into_iter().enumerate() {
        let place = format!("redact.patterns[{i}]");
        if !valid_label(&p.label) {
            return Err(bad(
                format!("{place}.label"),
                "use A-Z, 0-9 and _, starting with a letter",
            ));
        }
        let regex = regex::RegexBuilder::new(&p.pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| bad(format!("{place}.pattern"), e.to_string()))?;
        settings.custom.push(CustomPattern {
            label: p.label,
            regex,
            validator: p.validator,
        });
    }
    Ok(settings)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLlm {
    /// `echo` or `openai` (any OpenAI-compatible server).
    provider: Option<String>,
    base_url: Option<String>,
    model: Option<String>,
    /// Name of the environment variable holding the API key (default `LLM_API_KEY`).
    api_key_env: Option<String>,
    timeout_secs: Option<u64>,
    system_prompt: Option<String>,
    /// Who receives the messages, in words people understand (named in the `assistant`
    /// purpose), e.g. "OpenAI, L.L.C. (USA)". Default: the provider's host name.
    recipient: Option<String>,
    /// Earlier messages sent as context for people who chose `history` (default 10).
    history_messages: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePolicy {
    file: Option<PathBuf>,
    label: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWebChat {
    enabled: Option<bool>,
    bot_name: Option<String>,
    secure_cookie: Option<bool>,
    max_sessions: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBot {
    name: String,
    channel: String,
    /// Name of the environment variable holding the bot token. Tokens are not written in files.
    token_env: String,
    api_url: Option<String>,
    poll_timeout_secs: Option<u32>,
    /// Public URL of this gateway's `/webhooks/telegram/{name}`: webhook mode instead of polling.
    webhook_url: Option<String>,
    /// Name of the environment variable holding the webhook secret token (optional).
    webhook_secret_env: Option<String>,
    /// Platform user ids that are owners of this bot without an invite.
    #[serde(default)]
    owners: Vec<String>,
    /// Outbound limits (default: the platform's published ones).
    limits: Option<FileLimits>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    per_bot_per_second: Option<u32>,
    chat_period_ms: Option<u64>,
    chat_burst: Option<u32>,
    group_period_ms: Option<u64>,
    max_attempts: Option<u32>,
    max_backoff_secs: Option<u64>,
}

fn limits(place: &str, base: Limits, f: Option<FileLimits>) -> Result<Limits, ConfigError> {
    let Some(f) = f else {
        return Ok(base);
    };
    let positive = |name: &str, v: Option<u64>, default: u64| match v {
        Some(0) => Err(bad(format!("{place}.limits.{name}"), "must be above 0")),
        Some(v) => Ok(v),
        None => Ok(default),
    };
    Ok(Limits {
        per_bot_per_second: positive(
            "per_bot_per_second",
            f.per_bot_per_second.map(u64::from),
            base.per_bot_per_second.into(),
        )? as u32,
        chat_period: Duration::from_millis(positive(
            "chat_period_ms",
            f.chat_period_ms,
            base.chat_period.as_millis() as u64,
        )?),
        chat_burst: positive(
            "chat_burst",
            f.chat_burst.map(u64::from),
            base.chat_burst.into(),
        )? as u32,
        group_period: Duration::from_millis(positive(
            "group_period_ms",
            f.group_period_ms,
            base.group_period.as_millis() as u64,
        )?),
        max_attempts: positive(
            "max_attempts",
            f.max_attempts.map(u64::from),
            base.max_attempts.into(),
        )? as u32,
        max_backoff: Duration::from_secs(positive(
            "max_backoff_secs",
            f.max_backoff_secs,
            base.max_backoff.as_secs(),
        )?),
    })
}

fn default_recipient(llm: &LlmSettings) -> String {
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

fn oauth_providers(
    mut file: HashMap<String, FileOAuth>,
    env: &dyn Env,
) -> Result<Vec<OAuthProvider>, ConfigError> {
    let mut names: Vec<String> = BUILTIN_PROVIDERS.iter().map(|b| b.0.to_string()).collect();
    let mut custom: Vec<String> = file
        .keys()
        .filter(|k| !names.contains(k))
        .cloned()
        .collect();
    custom.sort();
    names.extend(custom);
    let mut out = Vec::new();
    for name in names {
        if !valid_purpose_name(&name) {
            return Err(bad(
                format!("oauth.{name}"),
                "use a-z and _ in provider names",
            ));
        }
        let f = file.remove(&name).unwrap_or_default();
        let var = |field: &str| format!("OAUTH_{}_{field}", name.to_ascii_uppercase());
        let Some(client_id) = env.get(&var("CLIENT_ID")).or(f.client_id.clone()) else {
            continue;
        };
        let builtin = BUILTIN_PROVIDERS.iter().find(|b| b.0 == name);
        let url = |field: &str, file: Option<String>, default: Option<&str>| {
            let place_env = var(field);
            match env.get(&place_env) {
                Some(v) => parse_url(&place_env, &v).map(Some),
                None => match file.or(default.map(str::to_string)) {
                    Some(v) => {
                        parse_url(&format!("oauth.{name}.{}", field.to_ascii_lowercase()), &v)
                            .map(Some)
                    }
                    None => Ok(None),
                },
            }
        };
        let authorize_url = url("AUTHORIZE_URL", f.authorize_url, builtin.map(|b| b.2))?
            .ok_or_else(|| bad(format!("oauth.{name}.authorize_url"), "required"))?;
        let token_url = url("TOKEN_URL", f.token_url, builtin.map(|b| b.3))?
            .ok_or_else(|| bad(format!("oauth.{name}.token_url"), "required"))?;
        let revocation_url = url(
            "REVOCATION_URL",
            f.revocation_url,
            builtin.and_then(|b| b.4),
        )?;
        let secret_var = f
            .client_secret_env
            .clone()
            .unwrap_or_else(|| var("CLIENT_SECRET"));
        let client_secret = env.get(&secret_var).map(|v| Secret::new(v.trim()));
        let scopes = f
            .scopes
            .or_else(|| builtin.map(|b| b.5.iter().map(|(s, _)| s.to_string()).collect()))
            .unwrap_or_default();
        if scopes.is_empty() {
            return Err(bad(
                format!("oauth.{name}.scopes"),
                "name at least one scope",
            ));
        }
        let mut scope_words: Vec<(String, String)> = builtin
            .map(|b| {
                b.5.iter()
                    .map(|(s, w)| (s.to_string(), w.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        for (scope, words) in f.scope_words {
            scope_words.retain(|(s, _)| *s != scope);
            scope_words.push((scope, words));
        }
        let mut extra_params: Vec<(String, String)> = builtin
            .map(|b| {
                b.6.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        for (k, v) in f.extra_params {
            const RESERVED: [&str; 7] = [
                "response_type",
                "client_id",
                "redirect_uri",
                "scope",
                "state",
                "code_challenge",
                "code_challenge_method",
            ];
            if RESERVED.contains(&k.as_str()) {
                return Err(bad(
                    format!("oauth.{name}.extra_params.{k}"),
                    "set by the gateway itself; it cannot be overridden",
                ));
            }
            extra_params.retain(|(key, _)| *key != k);
            extra_params.push((k, v));
        }
        // The client secret and tokens travel to these: never in clear beyond this machine.
        for (field, url) in [
            ("token_url", Some(&token_url)),
            ("revocation_url", revocation_url.as_ref()),
        ] {
            if let Some(url) = url {
                let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
                if url.scheme() != "https" && !loopback {
                    return Err(bad(format!("oauth.{name}.{field}"), "must be https://"));
                }
            }
        }
        extra_params.sort();
        out.push(OAuthProvider {
            title: f
                .title
                .or(builtin.map(|b| b.1.to_string()))
                .unwrap_or_else(|| name.clone()),
            name,
            authorize_url,
            token_url,
            revocation_url,
            client_id: client_id.trim().to_string(),
            client_secret,
            scopes,
            scope_words,
            extra_params,
        });
    }
    Ok(out)
}

fn valid_purpose_name(name: &str) -> bool {
    (1..=24).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        && name != "req"
}

fn purpose_settings(
    file: Option<Vec<FilePurpose>>,
    recipients: &str,
    retention: &RetentionSettings,
) -> Result<Vec<PurposeSettings>, ConfigError> {
    let fill = |text: &str| {
        text.replace("{recipients}", recipients)
            .replace("{history_days}", &retention.conversation_days.to_string())
    };
    let defaults = |name: &str| DEFAULT_PURPOSES.iter().find(|d| d.0 == name);
    let purposes: Vec<PurposeSettings> = match file {
        None => DEFAULT_PURPOSES
            .iter()
            .map(|(name, title, text, required)| PurposeSettings {
                name: name.to_string(),
                title: title.to_string(),
                text: fill(text),
                required: *required,
            })
            .collect(),
        Some(list) => {
            let mut out = Vec::new();
            for (i, p) in list.into_iter().enumerate() {
                let place = format!("purposes[{i}]");
                if !valid_purpose_name(&p.name) {
                    return Err(bad(
                        format!("{place}.name"),
                        "use 1-24 characters of a-z and _ (and not `req`)",
                    ));
                }
                let builtin = defaults(&p.name);
                let title = p
                    .title
                    .or(builtin.map(|d| d.1.to_string()))
                    .ok_or_else(|| bad(format!("{place}.title"), "required for a new purpose"))?;
                let text = p
                    .text
                    .or(builtin.map(|d| d.2.to_string()))
                    .ok_or_else(|| bad(format!("{place}.text"), "required for a new purpose"))?;
                if text.trim().is_empty() || title.trim().is_empty() {
                    return Err(bad(&place, "title and text must not be empty"));
                }
                if out.iter().any(|o: &PurposeSettings| o.name == p.name) {
                    return Err(bad(&place, format!("`{}` is declared twice", p.name)));
                }
                let required = p.required.unwrap_or(builtin.is_some_and(|d| d.3));
                out.push(PurposeSettings {
                    name: p.name,
                    title,
                    text: fill(&text),
                    required,
                });
            }
            out
        }
    };
    match purposes.iter().find(|p| p.name == "assistant") {
        Some(p) if p.required => {}
        Some(_) => {
            return Err(bad(
                "purposes",
                "`assistant` must be required: without it no message can be answered",
            ));
        }
        None => {
            return Err(bad(
                "purposes",
                "declare the `assistant` purpose: it is what people agree to",
            ));
        }
    }
    for p in &purposes {
        if matches!(p.name.as_str(), "history" | "marketing") && p.required {
            return Err(bad(
                "purposes",
                format!(
                    "`{}` must be optional: it cannot be a condition of service",
                    p.name
                ),
            ));
        }
    }
    Ok(purposes)
}

/// The longest retention anything may have: a hundred years.
pub const MAX_DAYS: u32 = 36_500;

fn retention_settings(file: Option<FileRetention>) -> Result<RetentionSettings, ConfigError> {
    let mut r = RetentionSettings::default();
    let Some(f) = file else {
        return Ok(r);
    };
    let at_least = |place: &str, v: Option<u32>, min: u32, default: u32| match v {
        Some(v) if v < min => Err(bad(
            format!("retention.{place}"),
            format!("must be at least {min}"),
        )),
        Some(v) if v > MAX_DAYS => Err(bad(
            format!("retention.{place}"),
            format!("at most {MAX_DAYS} days"),
        )),
        Some(v) => Ok(v),
        None => Ok(default),
    };
    r.conversation_days = at_least(
        "conversation_days",
        f.conversation_days,
        1,
        r.conversation_days,
    )?;
    r.egress_days = at_least("egress_days", f.egress_days, 1, r.egress_days)?;
    // Platforms redeliver for up to 7 days (WhatsApp); delivery ids must outlive that.
    r.temporary_days = at_least("temporary_days", f.temporary_days, 8, r.temporary_days)?;
    r.audit_days = at_least("audit_days", f.audit_days, 1, r.audit_days)?;
    r.inactive_subject_days = at_least(
        "inactive_subject_days",
        f.inactive_subject_days,
        1,
        r.inactive_subject_days,
    )?;
    r.erasure_grace_days = at_least(
        "erasure_grace_days",
        f.erasure_grace_days,
        0,
        r.erasure_grace_days,
    )?;
    if let Some(secs) = f.sweep_interval_secs {
        if secs < 10 {
            return Err(bad("retention.sweep_interval_secs", "must be at least 10"));
        }
        r.sweep_interval = Duration::from_secs(secs);
    }
    Ok(r)
}

/// Where configuration values come from besides the file: the process environment, or a map in
/// tests.
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

impl Env for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name)
            .cloned()
            .filter(|v| !v.trim().is_empty())
    }
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

fn valid_bot_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
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

impl Config {
    /// Loads the file (if any) and applies the environment on top, validating everything.
    pub fn load(file: Option<&Path>, env: &dyn Env) -> Result<Config, ConfigError> {
        let file_path = file
            .map(Path::to_path_buf)
            .or_else(|| env.get("CONSENTGATE_CONFIG").map(PathBuf::from));
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
        let mode = match env.get("CONSENTGATE_MODE") {
            Some(v) => Mode::parse("CONSENTGATE_MODE", &v)?,
            None => match &file.mode {
                Some(v) => Mode::parse("mode", v)?,
                None => Mode::Dev,
            },
        };
        let database_url = env
            .get("CONSENTGATE_DATABASE_URL")
            .or(file.database_url)
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(bad(
                "CONSENTGATE_DATABASE_URL / database_url",
                "expected sqlite://PATH?mode=rwc or postgres://USER@HOST/DB",
            ));
        }
        crate::store::split_url(&database_url)
            .map_err(|problem| bad("CONSENTGATE_DATABASE_URL / database_url", problem))?;
        let (addr_place, addr) = match env.get("CONSENTGATE_HTTP_ADDR") {
            Some(v) => ("CONSENTGATE_HTTP_ADDR", v),
            None => (
                "http_addr",
                file.http_addr
                    .unwrap_or_else(|| DEFAULT_HTTP_ADDR.to_string()),
            ),
        };
        let http_addr: SocketAddr = addr.trim().parse().map_err(|_| {
            bad(
                addr_place,
                format!("`{addr}` is not an address like 127.0.0.1:8080"),
            )
        })?;

        let llm_recipient = file.llm.as_ref().and_then(|l| l.recipient.clone());
        let history_messages = file
            .llm
            .as_ref()
            .and_then(|l| l.history_messages)
            .unwrap_or(10);
        if history_messages > 100 {
            return Err(bad("llm.history_messages", "at most 100"));
        }
        let llm = Self::llm(file.llm, env)?;

        let mut bots = Vec::new();
        let mut owners: HashMap<String, Vec<String>> = HashMap::new();
        for (i, b) in file.bots.into_iter().enumerate() {
            if !b.owners.is_empty() {
                owners.insert(b.name.clone(), b.owners.clone());
            }
            let place = format!("bots[{i}]");
            if !valid_bot_name(&b.name) {
                return Err(bad(
                    format!("{place}.name"),
                    "use 1-64 characters of A-Z a-z 0-9 - _",
                ));
            }
            let (channel, default_api) = match b.channel.as_str() {
                "telegram" => (ChannelKind::Telegram, DEFAULT_TELEGRAM_API_URL),
                "bale" => (ChannelKind::Bale, DEFAULT_BALE_API_URL),
                other => {
                    return Err(bad(
                        format!("{place}.channel"),
                        format!("`{other}` is not supported; expected `telegram` or `bale`"),
                    ));
                }
            };
            let token = env.get(&b.token_env).ok_or_else(|| {
                bad(
                    format!("{place}.token_env"),
                    format!("environment variable {} is not set", b.token_env),
                )
            })?;
            let api_url = parse_url(
                &format!("{place}.api_url"),
                b.api_url.as_deref().unwrap_or(default_api),
            )?;
            let webhook_url = b
                .webhook_url
                .as_deref()
                .map(|u| parse_url(&format!("{place}.webhook_url"), u))
                .transpose()?;
            let webhook_secret = match &b.webhook_secret_env {
                Some(var) => Some(Secret::new(env.get(var).ok_or_else(|| {
                    bad(
                        format!("{place}.webhook_secret_env"),
                        format!("environment variable {var} is not set"),
                    )
                })?)),
                None => None,
            };
            let limits = limits(&place, Limits::BOT_API, b.limits)?;
            bots.push(BotSettings {
                name: b.name,
                channel,
                token: Secret::new(token.trim()),
                token_var: b.token_env.clone(),
                api_url,
                poll_timeout_secs: b.poll_timeout_secs.unwrap_or(25),
                webhook_url,
                webhook_secret,
                limits,
            });
        }
        for (channel, token_var, url_var, default_api) in [
            (
                ChannelKind::Telegram,
                "TELEGRAM_BOT_TOKEN",
                "TELEGRAM_API_URL",
                DEFAULT_TELEGRAM_API_URL,
            ),
            (
                ChannelKind::Bale,
                "BALE_BOT_TOKEN",
                "BALE_API_URL",
                DEFAULT_BALE_API_URL,
            ),
        ] {
            if let Some(token) = env.get(token_var) {
                let api_url = parse_url(
                    url_var,
                    &env.get(url_var).unwrap_or_else(|| default_api.to_string()),
                )?;
                let name = channel.as_str().to_string();
                bots.retain(|b| b.name != name);
                let prefix = if channel == ChannelKind::Telegram {
                    "TELEGRAM"
                } else {
                    "BALE"
                };
                let url_var = format!("{prefix}_WEBHOOK_URL");
                let (webhook_url, webhook_secret) = (
                    env.get(&url_var)
                        .map(|u| parse_url(&url_var, &u))
                        .transpose()?,
                    env.get(&format!("{prefix}_WEBHOOK_SECRET"))
                        .map(Secret::new),
                );
                bots.push(BotSettings {
                    name,
                    channel,
                    token: Secret::new(token.trim()),
                    token_var: token_var.to_string(),
                    api_url,
                    poll_timeout_secs: 25,
                    webhook_url,
                    webhook_secret,
                    limits: Limits::BOT_API,
                });
            }
        }
        for bot in &bots {
            if !bot.token.expose().contains(':') {
                return Err(bad(
                    &bot.token_var,
                    format!(
                        "the token of bot `{}` should look like 123456:ABC-DEF…; check the value",
                        bot.name
                    ),
                ));
            }
        }
        for (url_var, token_var) in [
            ("TELEGRAM_WEBHOOK_URL", "TELEGRAM_BOT_TOKEN"),
            ("BALE_WEBHOOK_URL", "BALE_BOT_TOKEN"),
        ] {
            if env.get(url_var).is_some() && env.get(token_var).is_none() {
                return Err(bad(
                    url_var,
                    format!("set {token_var} too: the webhook belongs to that bot"),
                ));
            }
        }
        for bot in &bots {
            let Some(url) = &bot.webhook_url else {
                continue;
            };
            let place = match bot.token_var.as_str() {
                "TELEGRAM_BOT_TOKEN" => "TELEGRAM_WEBHOOK_URL".to_string(),
                "BALE_BOT_TOKEN" => "BALE_WEBHOOK_URL".to_string(),
                _ => format!("webhook_url of bot `{}`", bot.name),
            };
            let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
            if url.scheme() != "https" && !loopback {
                return Err(bad(place, "the platform only calls https:// webhook URLs"));
            }
            if url.as_str().contains(bot.token.expose()) {
                return Err(bad(place, "the webhook URL must not contain the bot token"));
            }
            if let Some(secret) = &bot.webhook_secret
                && !consentgate_adapters::telegram_webhook::valid_secret(secret.expose())
            {
                return Err(bad(
                    "TELEGRAM_WEBHOOK_SECRET / webhook_secret_env",
                    "use 32-256 characters of A-Z a-z 0-9 _ -",
                ));
            }
        }
        let whatsapp = whatsapp_settings(env)?;
        if let Some(w) = &whatsapp
            && bots.iter().any(|b| b.name == w.name)
        {
            return Err(bad(
                "WHATSAPP_BOT_NAME",
                format!("`{}` is also the name of a bot", w.name),
            ));
        }

        let web = file.webchat;
        let webchat = WebChatConfig {
            enabled: web.as_ref().and_then(|w| w.enabled).unwrap_or(true),
            bot_name: web
                .as_ref()
                .and_then(|w| w.bot_name.clone())
                .unwrap_or_else(|| "webchat".to_string()),
            secure_cookie: web.as_ref().and_then(|w| w.secure_cookie).unwrap_or(false),
            max_sessions: web.as_ref().and_then(|w| w.max_sessions).unwrap_or(10_000),
        };
        if !valid_bot_name(&webchat.bot_name) {
            return Err(bad(
                "webchat.bot_name",
                "use 1-64 characters of A-Z a-z 0-9 - _",
            ));
        }
        if webchat.enabled && bots.iter().any(|b| b.name == webchat.bot_name) {
            return Err(bad(
                "webchat.bot_name",
                format!(
                    "`{}` is also the name of a bot; names must be unique",
                    webchat.bot_name
                ),
            ));
        }
        let mut names: Vec<&str> = bots.iter().map(|b| b.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(bad("bots", format!("two bots are named `{}`", w[0])));
        }
        if !webchat.enabled && bots.is_empty() {
            return Err(bad(
                "webchat.enabled",
                "with the web chat off, at least one bot is needed (set TELEGRAM_BOT_TOKEN or add [[bots]])",
            ));
        }

        let policy = match file.policy {
            Some(p) => PolicySettings {
                file: p
                    .file
                    .map(|f| if f.is_relative() { base_dir.join(f) } else { f }),
                label: p.label.unwrap_or_else(|| "default".to_string()),
            },
            None => PolicySettings {
                file: None,
                label: "built-in".to_string(),
            },
        };
        if let Some(path) = &policy.file
            && !path.is_file()
        {
            return Err(bad(
                "policy.file",
                format!("{} is not a readable file", path.display()),
            ));
        }

        let messages_per_minute = match env.get("CONSENTGATE_MESSAGES_PER_MINUTE") {
            Some(v) => v.trim().parse().map_err(|_| {
                bad(
                    "CONSENTGATE_MESSAGES_PER_MINUTE",
                    format!("`{v}` is not a whole number"),
                )
            })?,
            None => file.messages_per_minute.unwrap_or(30),
        };
        if messages_per_minute == 0 {
            return Err(bad("messages_per_minute", "must be at least 1"));
        }
        let secrets_file = file
            .secrets_file
            .unwrap_or_else(|| default_secrets_file(&database_url));
        let redact = redact_settings(file.redact)?;
        let mut retention = retention_settings(file.retention)?;
        if let Some(v) = env.get("CONSENTGATE_ERASURE_GRACE_DAYS") {
            retention.erasure_grace_days = v
                .trim()
                .parse()
                .ok()
                .filter(|d| *d <= MAX_DAYS)
                .ok_or_else(|| {
                    bad(
                        "CONSENTGATE_ERASURE_GRACE_DAYS",
                        format!("`{v}` is not a whole number of days up to {MAX_DAYS}"),
                    )
                })?;
        }
        let recipients = env
            .get("LLM_RECIPIENT")
            .or(llm_recipient)
            .unwrap_or_else(|| default_recipient(&llm));
        let purposes = purpose_settings(file.purposes, &recipients, &retention)?;
        if let Some(ids) = env.get("TELEGRAM_OWNER_IDS") {
            owners.insert(
                "telegram".to_string(),
                ids.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
            );
        }
        let oauth = oauth_providers(file.oauth, env)?;
        let public_url = env
            .get("CONSENTGATE_PUBLIC_URL")
            .map(|v| ("CONSENTGATE_PUBLIC_URL", v))
            .or(file.public_url.map(|v| ("public_url", v)))
            .map(|(place, v)| parse_url(place, &v))
            .transpose()?;

        Ok(Config {
            mode,
            database_url,
            http_addr,
            llm,
            bots,
            webchat,
            policy,
            messages_per_minute,
            secrets_file,
            redact,
            purposes,
            retention,
            history_messages,
            public_url,
            oauth,
            owners,
            whatsapp,
        })
    }

    fn llm(file: Option<FileLlm>, env: &dyn Env) -> Result<LlmSettings, ConfigError> {
        let provider = file.as_ref().and_then(|l| l.provider.clone());
        let base = env
            .get("LLM_BASE_URL")
            .map(|v| ("LLM_BASE_URL", v))
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
                    .get("LLM_MODEL")
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
                    .unwrap_or_else(|| "LLM_API_KEY".to_string());
                let api_key = env.get(&key_var).map(|k| Secret::new(k.trim()));
                let timeout_secs = match env.get("LLM_TIMEOUT_SECS") {
                    Some(v) => {
                        v.trim()
                            .parse::<u64>()
                            .ok()
                            .filter(|s| *s > 0)
                            .ok_or_else(|| {
                                bad(
                                    "LLM_TIMEOUT_SECS",
                                    format!("`{v}` is not a whole number of seconds above 0"),
                                )
                            })?
                    }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn nothing_set_gives_the_embedded_default() {
        let c = Config::load(None, &env(&[])).unwrap();
        assert_eq!(c.mode, Mode::Dev);
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.http_addr.to_string(), DEFAULT_HTTP_ADDR);
        assert!(matches!(c.llm, LlmSettings::Echo));
        assert!(c.webchat.enabled && c.bots.is_empty());
        assert_eq!(c.secrets_file, PathBuf::from("consentgate.secrets"));
    }

    #[test]
    fn two_variables_give_a_telegram_bot() {
        let c = Config::load(
            None,
            &env(&[
                ("TELEGRAM_BOT_TOKEN", "123:abc"),
                ("TELEGRAM_API_URL", "http://127.0.0.1:9/"),
            ]),
        )
        .unwrap();
        assert_eq!(c.bots.len(), 1);
        assert_eq!(c.bots[0].name, "telegram");
        assert_eq!(c.bots[0].api_url.as_str(), "http://127.0.0.1:9/");
        assert!(c.bots[0].webhook_url.is_none());
    }

    #[test]
    fn a_webhook_url_switches_the_bot_to_webhook_mode_and_is_checked() {
        let c = Config::load(
            None,
            &env(&[
                ("TELEGRAM_BOT_TOKEN", "123:abc"),
                (
                    "TELEGRAM_WEBHOOK_URL",
                    "https://bot.example.com/webhooks/telegram/telegram",
                ),
            ]),
        )
        .unwrap();
        assert!(c.bots[0].webhook_url.is_some());
        for (url, needle) in [
            ("http://bot.example.com/hook", "https"),
            ("https://bot.example.com/123:abc/hook", "token"),
        ] {
            let err = Config::load(
                None,
                &env(&[
                    ("TELEGRAM_BOT_TOKEN", "123:abc"),
                    ("TELEGRAM_WEBHOOK_URL", url),
                ]),
            )
            .unwrap_err();
            assert!(
                err.to_string().contains("TELEGRAM_WEBHOOK_URL")
                    && err.to_string().contains(needle),
                "{err}"
            );
        }
        let err = Config::load(
            None,
            &env(&[
                ("TELEGRAM_BOT_TOKEN", "123:abc"),
                ("TELEGRAM_WEBHOOK_URL", "https://bot.example.com/hook"),
                ("TELEGRAM_WEBHOOK_SECRET", "short"),
            ]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("TELEGRAM_WEBHOOK_SECRET"), "{err}");
    }

    #[test]
    fn errors_name_the_variable() {
        let err = Config::load(None, &env(&[("CONSENTGATE_MODE", "prod")])).unwrap_err();
        assert!(err.to_string().contains("CONSENTGATE_MODE"), "{err}");
        let err = Config::load(None, &env(&[("CONSENTGATE_HTTP_ADDR", "localhost")])).unwrap_err();
        assert!(err.to_string().contains("CONSENTGATE_HTTP_ADDR"), "{err}");
        let err = Config::load(None, &env(&[("LLM_BASE_URL", "http://x/v1")])).unwrap_err();
        assert!(err.to_string().contains("LLM_MODEL"), "{err}");
        let err = Config::load(None, &env(&[("TELEGRAM_BOT_TOKEN", "nocolon")])).unwrap_err();
        assert!(err.to_string().contains("TELEGRAM_BOT_TOKEN"), "{err}");
        let err = Config::load(None, &env(&[("WHATSAPP_APP_SECRET", "x")])).unwrap_err();
        assert!(err.to_string().contains("WHATSAPP_APP_SECRET"), "{err}");
        let err = Config::load(
            None,
            &env(&[("CONSENTGATE_DATABASE_URL", "sqlite://x.db?synchronous=off")]),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("CONSENTGATE_DATABASE_URL")
                && err.to_string().contains("full or normal"),
            "{err}"
        );
    }

    #[test]
    fn file_with_unknown_key_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "mode = \"dev\"\ndatabse_url = \"x\"\n").unwrap();
        let err = Config::load(Some(&path), &env(&[])).unwrap_err();
        assert!(err.to_string().contains("databse_url"), "{err}");
    }

    #[test]
    fn file_describes_many_bots_and_env_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            r#"
database_url = "sqlite://data/x.db?mode=rwc"
[llm]
provider = "openai"
base_url = "http://127.0.0.1:1/v1"
model = "m"
[[bots]]
name = "shop"
channel = "telegram"
token_env = "SHOP_TOKEN"
[[bots]]
name = "shop-bale"
channel = "bale"
token_env = "SHOP_BALE_TOKEN"
"#,
        )
        .unwrap();
        let c = Config::load(
            Some(&path),
            &env(&[
                ("SHOP_TOKEN", "1:a"),
                ("SHOP_BALE_TOKEN", "2:b"),
                ("CONSENTGATE_DATABASE_URL", "sqlite://other.db?mode=rwc"),
            ]),
        )
        .unwrap();
        assert_eq!(c.bots.len(), 2);
        assert_eq!(c.bots[1].api_url.as_str(), "https://tapi.bale.ai/");
        assert_eq!(c.database_url, "sqlite://other.db?mode=rwc");
        assert!(matches!(c.llm, LlmSettings::OpenAi { .. }));
        let err = Config::load(Some(&path), &env(&[("SHOP_TOKEN", "1:a")])).unwrap_err();
        assert!(err.to_string().contains("SHOP_BALE_TOKEN"), "{err}");
    }

    #[test]
    fn the_shipped_example_configuration_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/consentgate.example.toml");
        let c = Config::load(Some(&path), &env(&[("SHOP_TELEGRAM_TOKEN", "1:x")])).unwrap();
        assert_eq!(c.bots[0].name, "shop");
        assert!(c.policy.file.unwrap().ends_with("policy.example.txt"));
        assert!(matches!(c.llm, LlmSettings::OpenAi { .. }));
    }

    #[test]
    fn purposes_and_retention_are_validated_with_their_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let load = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Config::load(Some(&path), &env(&[]))
        };
        let c = load("").unwrap();
        let names: Vec<&str> = c.purposes.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["assistant", "history", "marketing"]);
        assert!(
            c.purposes[0].text.contains("offline echo"),
            "{:?}",
            c.purposes[0]
        );
        assert!(c.purposes[1].text.contains("30 days"));
        let c = load("[llm]\nrecipient = \"Acme AI\"\n[retention]\nconversation_days = 7\n[[purposes]]\nname = \"assistant\"\n[[purposes]]\nname = \"history\"\n").unwrap();
        assert!(c.purposes[0].text.contains("Acme AI"));
        assert!(c.purposes[1].text.contains("7 days"));
        assert_eq!(c.purposes.len(), 2);
        for (text, place) in [
            ("[[purposes]]\nname = \"history\"\n", "purposes"),
            (
                "[[purposes]]\nname = \"assistant\"\nrequired = false\n",
                "purposes",
            ),
            (
                "[[purposes]]\nname = \"assistant\"\n[[purposes]]\nname = \"marketing\"\nrequired = true\n",
                "purposes",
            ),
            (
                "[[purposes]]\nname = \"assistant\"\n[[purposes]]\nname = \"Survey\"\n",
                "purposes[1].name",
            ),
            (
                "[[purposes]]\nname = \"assistant\"\n[[purposes]]\nname = \"survey\"\n",
                "purposes[1].title",
            ),
            (
                "[retention]\ntemporary_days = 3\n",
                "retention.temporary_days",
            ),
            (
                "[retention]\nsweep_interval_secs = 1\n",
                "retention.sweep_interval_secs",
            ),
        ] {
            let err = load(text).unwrap_err();
            assert!(err.place.starts_with(place), "{text}: {err}");
        }
        let c = Config::load(None, &env(&[("CONSENTGATE_ERASURE_GRACE_DAYS", "0")])).unwrap();
        assert_eq!(c.retention.erasure_grace_days, 0);
        let err =
            Config::load(None, &env(&[("CONSENTGATE_ERASURE_GRACE_DAYS", "soon")])).unwrap_err();
        assert_eq!(err.place, "CONSENTGATE_ERASURE_GRACE_DAYS");
    }

    #[test]
    fn oauth_providers_come_from_definitions_the_file_and_the_environment() {
        let c = Config::load(None, &env(&[])).unwrap();
        assert!(c.oauth.is_empty(), "no client id, no provider");
        let c = Config::load(
            None,
            &env(&[
                ("OAUTH_GOOGLE_CLIENT_ID", "cid"),
                ("OAUTH_GOOGLE_CLIENT_SECRET", "shh"),
                ("OAUTH_GOOGLE_TOKEN_URL", "http://127.0.0.1:9/token"),
                ("TELEGRAM_BOT_TOKEN", "1:x"),
                ("TELEGRAM_OWNER_IDS", "42, 43"),
            ]),
        )
        .unwrap();
        let google = &c.oauth[0];
        assert_eq!(google.title, "Google");
        assert_eq!(google.token_url.as_str(), "http://127.0.0.1:9/token");
        assert!(
            google
                .authorize_url
                .as_str()
                .starts_with("https://accounts.google.com/")
        );
        assert!(google.describe_scopes()[0].contains("Google Sheets"));
        assert_eq!(
            format!("{:?}", google.client_secret),
            "Some(Secret(<redacted>))"
        );
        assert_eq!(c.owners["telegram"], ["42", "43"]);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let load = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Config::load(Some(&path), &env(&[("CRM_SECRET", "s")]))
        };
        let c = load("[oauth.crm]\nclient_id = \"gw\"\nclient_secret_env = \"CRM_SECRET\"\nauthorize_url = \"https://crm.example/a\"\ntoken_url = \"https://crm.example/t\"\nscopes = [\"contacts.read\"]\nscope_words = { \"contacts.read\" = \"read your contacts\" }\n").unwrap();
        assert_eq!(c.oauth[0].name, "crm");
        assert_eq!(c.oauth[0].describe_scopes(), ["read your contacts"]);
        assert!(c.oauth[0].client_secret.is_some());
        let err = load("[oauth.crm]\nclient_id = \"gw\"\nauthorize_url = \"https://crm.example/a\"\ntoken_url = \"https://crm.example/t\"\n").unwrap_err();
        assert_eq!(err.place, "oauth.crm.scopes");
        let err = load("[oauth.crm]\nclient_id = \"gw\"\nscopes = [\"x\"]\n").unwrap_err();
        assert_eq!(err.place, "oauth.crm.authorize_url");
    }

    #[test]
    fn redaction_settings_are_validated_with_their_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let load = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Config::load(Some(&path), &env(&[]))
        };
        let c = load("[redact]\nphone_regions = [\"ir\", \"RU\"]\n[redact.detectors.phone]\nlabel = \"TEL\"\n[redact.detectors.email]\nenabled = false\n[[redact.patterns]]\nlabel = \"CONTRACT\"\npattern = \"CT-\\\\d{6}\"\n").unwrap();
        assert_eq!(c.redact.phone_regions.len(), 2);
        assert_eq!(c.redact.labels[&Kind::Phone], "TEL");
        assert_eq!(c.redact.disabled, vec![Kind::Email]);
        assert_eq!(c.redact.custom[0].label, "CONTRACT");
        let err = load("[redact]\nphone_regions = [\"Russia\"]\n").unwrap_err();
        assert!(err.to_string().contains("redact.phone_regions"), "{err}");
        let err = load("[[redact.patterns]]\nlabel = \"X\"\npattern = \"(\"\n").unwrap_err();
        assert!(
            err.to_string().contains("redact.patterns[0].pattern"),
            "{err}"
        );
        let err = load("[redact.detectors.phon]\nenabled = false\n").unwrap_err();
        assert!(err.to_string().contains("redact.detectors.phon"), "{err}");
    }

    #[test]
    fn secrets_file_sits_beside_the_sqlite_file() {
        assert_eq!(
            default_secrets_file("sqlite:///var/lib/cg/db.sqlite?mode=rwc"),
            PathBuf::from("/var/lib/cg/consentgate.secrets")
        );
    }
}
