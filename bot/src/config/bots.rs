//! The bots: Telegram and Bale bots from `[[bots]]` and the `TELEGRAM_*` / `BALE_*` variables,
//! their outbound limits and webhooks, and the web chat.

use std::{collections::HashMap, time::Duration};

use serde::Deserialize;
use url::Url;

use consentgate_adapters::{ChannelKind, outbound::Limits};

use super::{ConfigError, Env, Secret, bad, env, parse_url};

pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";
pub const DEFAULT_BALE_API_URL: &str = "https://tapi.bale.ai";

/// The variables that configure the one bot of a platform without a file.
struct BotVariables {
    channel: ChannelKind,
    token: &'static str,
    api_url: &'static str,
    default_api: &'static str,
    webhook_url: &'static str,
    webhook_secret: &'static str,
}

const FROM_ENV: [BotVariables; 2] = [
    BotVariables {
        channel: ChannelKind::Telegram,
        token: env::TELEGRAM_BOT_TOKEN,
        api_url: env::TELEGRAM_API_URL,
        default_api: DEFAULT_TELEGRAM_API_URL,
        webhook_url: env::TELEGRAM_WEBHOOK_URL,
        webhook_secret: env::TELEGRAM_WEBHOOK_SECRET,
    },
    BotVariables {
        channel: ChannelKind::Bale,
        token: env::BALE_BOT_TOKEN,
        api_url: env::BALE_API_URL,
        default_api: DEFAULT_BALE_API_URL,
        webhook_url: env::BALE_WEBHOOK_URL,
        webhook_secret: env::BALE_WEBHOOK_SECRET,
    },
];

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
    /// Mark the session cookie `Secure`; by default whenever the public URL is https.
    pub secure_cookie: bool,
    pub max_sessions: usize,
    /// New chat sessions per minute, all clients together.
    pub sessions_per_minute: u32,
    /// Messages and button presses per minute from the web chat, all sessions together.
    pub messages_per_minute: u32,
    /// New sessions per minute from one client address.
    pub sessions_per_address: u32,
    /// Messages per minute from one client address.
    pub messages_per_address: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileWebChat {
    pub(super) enabled: Option<bool>,
    pub(super) bot_name: Option<String>,
    pub(super) secure_cookie: Option<bool>,
    pub(super) max_sessions: Option<usize>,
    pub(super) sessions_per_minute: Option<u32>,
    pub(super) messages_per_minute: Option<u32>,
    pub(super) sessions_per_address: Option<u32>,
    pub(super) messages_per_address: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileBot {
    pub(super) name: String,
    pub(super) channel: String,
    /// Name of the environment variable holding the bot token. Tokens are not written in files.
    pub(super) token_env: String,
    pub(super) api_url: Option<String>,
    pub(super) poll_timeout_secs: Option<u32>,
    /// Public URL of this gateway's `/webhooks/telegram/{name}`: webhook mode instead of polling.
    pub(super) webhook_url: Option<String>,
    /// Name of the environment variable holding the webhook secret token (optional).
    pub(super) webhook_secret_env: Option<String>,
    /// Platform user ids that are owners of this bot without an invite.
    #[serde(default)]
    pub(super) owners: Vec<String>,
    /// Outbound limits (default: the platform's published ones).
    pub(super) limits: Option<FileLimits>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub(super) struct FileLimits {
    pub(super) per_bot_per_second: Option<u32>,
    pub(super) chat_period_ms: Option<u64>,
    pub(super) chat_burst: Option<u32>,
    pub(super) group_period_ms: Option<u64>,
    pub(super) max_attempts: Option<u32>,
    pub(super) max_backoff_secs: Option<u64>,
}

pub(super) fn limits(
    place: &str,
    base: Limits,
    f: Option<FileLimits>,
) -> Result<Limits, ConfigError> {
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

pub(super) fn valid_bot_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The bots of the file and the environment (a variable's bot replaces the file's bot of the
/// same name), and the owners the file names per bot.
#[allow(clippy::type_complexity)]
pub(super) fn configured(
    file: Vec<FileBot>,
    env: &dyn Env,
) -> Result<(Vec<BotSettings>, HashMap<String, Vec<String>>), ConfigError> {
    let mut bots = Vec::new();
    let mut owners: HashMap<String, Vec<String>> = HashMap::new();
    for (i, b) in file.into_iter().enumerate() {
        if !b.owners.is_empty() {
            owners.insert(b.name.clone(), b.owners.clone());
        }
        bots.push(file_bot(i, b, env)?);
    }
    for vars in &FROM_ENV {
        if let Some(bot) = env_bot(vars, env)? {
            bots.retain(|b| b.name != bot.name);
            bots.push(bot);
        }
    }
    check(&bots, env)?;
    Ok((bots, owners))
}

fn file_bot(i: usize, b: FileBot, env: &dyn Env) -> Result<BotSettings, ConfigError> {
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
    Ok(BotSettings {
        name: b.name,
        channel,
        token: Secret::new(token.trim()),
        token_var: b.token_env.clone(),
        api_url,
        poll_timeout_secs: b.poll_timeout_secs.unwrap_or(25),
        webhook_url,
        webhook_secret,
        limits,
    })
}

/// The platform's one bot from its variables, named after the platform.
fn env_bot(vars: &BotVariables, env: &dyn Env) -> Result<Option<BotSettings>, ConfigError> {
    let Some(token) = env.get(vars.token) else {
        return Ok(None);
    };
    let api_url = parse_url(
        vars.api_url,
        &env.get(vars.api_url)
            .unwrap_or_else(|| vars.default_api.to_string()),
    )?;
    let webhook_url = env
        .get(vars.webhook_url)
        .map(|u| parse_url(vars.webhook_url, &u))
        .transpose()?;
    Ok(Some(BotSettings {
        name: vars.channel.as_str().to_string(),
        channel: vars.channel,
        token: Secret::new(token.trim()),
        token_var: vars.token.to_string(),
        api_url,
        poll_timeout_secs: 25,
        webhook_url,
        webhook_secret: env.get(vars.webhook_secret).map(Secret::new),
        limits: Limits::BOT_API,
    }))
}

/// Tokens that look like tokens, and webhook URLs the platform will call and that give nothing
/// away.
fn check(bots: &[BotSettings], env: &dyn Env) -> Result<(), ConfigError> {
    for bot in bots {
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
    for vars in &FROM_ENV {
        if env.get(vars.webhook_url).is_some() && env.get(vars.token).is_none() {
            return Err(bad(
                vars.webhook_url,
                format!("set {} too: the webhook belongs to that bot", vars.token),
            ));
        }
    }
    for bot in bots {
        let Some(url) = &bot.webhook_url else {
            continue;
        };
        let place = match FROM_ENV.iter().find(|v| v.token == bot.token_var) {
            Some(vars) => vars.webhook_url.to_string(),
            None => format!("webhook_url of bot `{}`", bot.name),
        };
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if url.scheme() != "https" && !loopback {
            return Err(bad(place, "the platform only calls https:// webhook URLs"));
        }
        if url.as_str().contains(bot.token.expose()) {
            return Err(bad(place, "the webhook URL must not contain the bot token"));
        }
        if let Some(secret) = &bot.webhook_secret
            && !consentgate_adapters::telegram::webhook::valid_secret(secret.expose())
        {
            return Err(bad(
                "TELEGRAM_WEBHOOK_SECRET / webhook_secret_env",
                "use 32-256 characters of A-Z a-z 0-9 _ -",
            ));
        }
    }
    Ok(())
}

/// The web chat, whose name must not be a bot's; with it off, at least one bot is needed.
/// `https`: the gateway is reached over https (its public URL says so), so the session cookie is
/// `Secure` unless the file says otherwise.
pub(super) fn webchat(
    file: Option<FileWebChat>,
    bots: &[BotSettings],
    https: bool,
) -> Result<WebChatConfig, ConfigError> {
    let web = file;
    let webchat = WebChatConfig {
        enabled: web.as_ref().and_then(|w| w.enabled).unwrap_or(true),
        bot_name: web
            .as_ref()
            .and_then(|w| w.bot_name.clone())
            .unwrap_or_else(|| "webchat".to_string()),
        secure_cookie: web.as_ref().and_then(|w| w.secure_cookie).unwrap_or(https),
        max_sessions: web.as_ref().and_then(|w| w.max_sessions).unwrap_or(10_000),
        sessions_per_minute: web
            .as_ref()
            .and_then(|w| w.sessions_per_minute)
            .unwrap_or(120),
        messages_per_minute: web
            .as_ref()
            .and_then(|w| w.messages_per_minute)
            .unwrap_or(600),
        sessions_per_address: web
            .as_ref()
            .and_then(|w| w.sessions_per_address)
            .unwrap_or(20),
        messages_per_address: web
            .as_ref()
            .and_then(|w| w.messages_per_address)
            .unwrap_or(60),
    };
    if [
        webchat.sessions_per_minute,
        webchat.messages_per_minute,
        webchat.sessions_per_address,
        webchat.messages_per_address,
    ]
    .contains(&0)
    {
        return Err(bad(
            "webchat.sessions_per_minute / messages_per_minute / sessions_per_address / messages_per_address",
            "must be at least 1",
        ));
    }
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

    Ok(webchat)
}
