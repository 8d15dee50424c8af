//! Where configuration comes from besides the file, and the one list of every environment
//! variable the gateway reads: its name, what it means and its default. Code reads variables
//! only through the constants below; `docs/configuration.md` is checked against [`VARIABLES`]
//! by a test, so the two cannot drift.

use std::collections::HashMap;

/// One environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    /// The name, or a pattern with `<NAME>` for one variable per named thing.
    pub name: &'static str,
    pub meaning: &'static str,
    /// What applies when it is unset, as the documentation says it.
    pub default: &'static str,
}

macro_rules! variables {
    ($( $(#[$doc:meta])* $konst:ident = $name:literal, $meaning:literal, $default:literal; )+) => {
        $( $(#[$doc])* pub const $konst: &str = $name; )+
        /// Every variable, in the order the documentation lists them.
        pub const VARIABLES: &[Variable] = &[
            $( Variable { name: $name, meaning: $meaning, default: $default }, )+
        ];
    };
}

variables! {
    CONFIG = "CONSENTGATE_CONFIG", "the TOML configuration file; the same as `--config FILE`", "none";
    MODE = "CONSENTGATE_MODE", "`dev` or `production`; overrides `mode`", "`dev`";
    DATABASE_URL = "CONSENTGATE_DATABASE_URL", "`sqlite://…` or `postgres://…`; overrides `database_url`", "`sqlite://consentgate.db?mode=rwc`";
    HTTP_ADDR = "CONSENTGATE_HTTP_ADDR", "address of the one HTTP server; overrides `http_addr`", "`127.0.0.1:8080`";
    HTTP_MAX_CONNECTIONS = "CONSENTGATE_HTTP_MAX_CONNECTIONS", "open connections the HTTP server keeps at most (never more than the descriptor limit leaves room for); overrides `http.max_connections`", "`1024`";
    HTTP_HEADER_TIMEOUT_SECS = "CONSENTGATE_HTTP_HEADER_TIMEOUT_SECS", "seconds to receive a request's head; also closes idle connections; overrides `http.header_timeout_secs`", "`10`";
    HTTP_BODY_TIMEOUT_SECS = "CONSENTGATE_HTTP_BODY_TIMEOUT_SECS", "seconds to receive a request's body; overrides `http.body_timeout_secs`", "`30`";
    HTTP_TRUSTED_PROXIES = "CONSENTGATE_HTTP_TRUSTED_PROXIES", "comma-separated addresses of reverse proxies whose `X-Forwarded-For` names the client, for limits kept per client; overrides `http.trusted_proxies`", "none: every client is the connection's peer";
    PUBLIC_URL = "CONSENTGATE_PUBLIC_URL", "public base of the links the gateway sends and of OAuth redirect URIs; overrides `public_url`", "`http://{bound address}`";
    MESSAGES_PER_MINUTE = "CONSENTGATE_MESSAGES_PER_MINUTE", "messages one person may send per minute; overrides `messages_per_minute`", "`30`";
    TAKEOVER_SECS = "CONSENTGATE_TAKEOVER_SECS", "seconds a process's unfinished work (an update being handled, replies not yet sent) is left to it before another process, or this one after a restart, takes it over; overrides `takeover_secs`", "`60`";
    REQUESTS_PER_DAY = "CONSENTGATE_REQUESTS_PER_DAY", "requests for the assistant one person may make per bot and day (UTC); overrides `allowance.requests_per_day`", "none: no daily limit";
    REQUESTS_PER_MONTH = "CONSENTGATE_REQUESTS_PER_MONTH", "the same per calendar month (UTC); overrides `allowance.requests_per_month`", "none: no monthly limit";
    ERASURE_GRACE_DAYS = "CONSENTGATE_ERASURE_GRACE_DAYS", "days between a confirmed `/delete` and the purge; overrides `retention.erasure_grace_days`", "`30`";
    TELEGRAM_BOT_TOKEN = "TELEGRAM_BOT_TOKEN", "one Telegram bot, named `telegram`", "none";
    TELEGRAM_API_URL = "TELEGRAM_API_URL", "Bot API base for that bot", "`https://api.telegram.org`";
    TELEGRAM_WEBHOOK_URL = "TELEGRAM_WEBHOOK_URL", "public URL of its webhook: webhook mode instead of polling", "unset: polling";
    TELEGRAM_WEBHOOK_SECRET = "TELEGRAM_WEBHOOK_SECRET", "the webhook secret token", "derived from `PSEUDONYM_KEY` and the bot name";
    TELEGRAM_OWNER_IDS = "TELEGRAM_OWNER_IDS", "comma-separated Telegram user ids that own the `telegram` bot", "none";
    BALE_BOT_TOKEN = "BALE_BOT_TOKEN", "one Bale bot, named `bale`", "none";
    BALE_API_URL = "BALE_API_URL", "Bale's Bot API base", "`https://tapi.bale.ai`";
    BALE_WEBHOOK_URL = "BALE_WEBHOOK_URL", "public URL of its webhook: webhook mode", "unset: polling";
    BALE_WEBHOOK_SECRET = "BALE_WEBHOOK_SECRET", "the webhook's secret path segment", "derived from `PSEUDONYM_KEY` (43 characters)";
    WHATSAPP_ACCESS_TOKEN = "WHATSAPP_ACCESS_TOKEN", "WhatsApp Business Cloud API access token", "none";
    WHATSAPP_PHONE_NUMBER_ID = "WHATSAPP_PHONE_NUMBER_ID", "the numeric phone number id", "none";
    WHATSAPP_APP_SECRET = "WHATSAPP_APP_SECRET", "the app secret that signs webhook POSTs", "none";
    WHATSAPP_VERIFY_TOKEN = "WHATSAPP_VERIFY_TOKEN", "the verify token of the webhook handshake", "none";
    WHATSAPP_GRAPH_URL = "WHATSAPP_GRAPH_URL", "Graph API base", "`https://graph.facebook.com`";
    WHATSAPP_API_VERSION = "WHATSAPP_API_VERSION", "Graph API version", "`v21.0`";
    WHATSAPP_BOT_NAME = "WHATSAPP_BOT_NAME", "the bot name of the WhatsApp number", "`whatsapp`";
    WHATSAPP_MESSAGES_PER_SECOND = "WHATSAPP_MESSAGES_PER_SECOND", "the number's send limit", "`80`";
    WHATSAPP_TEMPLATE = "WHATSAPP_TEMPLATE", "the approved template for notices outside the 24-hour window", "none: such notices are not sent";
    WHATSAPP_TEMPLATE_LANGUAGE = "WHATSAPP_TEMPLATE_LANGUAGE", "the template's language code", "`en`";
    LLM_BASE_URL = "LLM_BASE_URL", "OpenAI-compatible API base including the version", "none: the offline `echo` provider";
    LLM_MODEL = "LLM_MODEL", "model name; required with `LLM_BASE_URL`", "none";
    LLM_API_KEY = "LLM_API_KEY", "bearer token for the provider", "none";
    LLM_TIMEOUT_SECS = "LLM_TIMEOUT_SECS", "seconds to wait for the provider", "`30`";
    LLM_IMAGES = "LLM_IMAGES", "`true` when the model accepts pictures (then the optional purpose `images` is offered); overrides `llm.images`", "`false`";
    LLM_RECIPIENT = "LLM_RECIPIENT", "who receives people's messages, named in the `assistant` purpose", "`the AI service at {host} (model {model})`";
    TRANSCRIBE_BASE_URL = "TRANSCRIBE_BASE_URL", "OpenAI-compatible `/audio/transcriptions` base including the version, for voice notes; overrides `transcription.base_url`", "none: voice notes are not transcribed";
    TRANSCRIBE_MODEL = "TRANSCRIBE_MODEL", "the transcription model; required with `TRANSCRIBE_BASE_URL`", "none";
    TRANSCRIBE_API_KEY = "TRANSCRIBE_API_KEY", "bearer token for the transcription service (or the variable `transcription.api_key_env` names)", "none";
    EMBEDDINGS_BASE_URL = "EMBEDDINGS_BASE_URL", "OpenAI-compatible `/embeddings` base including the version: knowledge-base passages are also found by meaning; overrides `embeddings.base_url`", "none: full-text search only";
    EMBEDDINGS_MODEL = "EMBEDDINGS_MODEL", "the embeddings model; required with `EMBEDDINGS_BASE_URL`", "none";
    EMBEDDINGS_API_KEY = "EMBEDDINGS_API_KEY", "bearer token for the embeddings service (or the variable `embeddings.api_key_env` names)", "none";
    TOOLS_SHEETS_URL = "TOOLS_SHEETS_URL", "where owners' Google Sheets tools call the Sheets API v4; overrides `tools.sheets_url`", "`https://sheets.googleapis.com`";
    TOOLS_HUBSPOT_URL = "TOOLS_HUBSPOT_URL", "where owners' HubSpot tools call HubSpot's API; overrides `tools.hubspot_url`", "`https://api.hubapi.com`";
    TOOLS_TIMEOUT_SECS = "TOOLS_TIMEOUT_SECS", "seconds one tool call may take (1-60) before the model is told it failed; overrides `tools.timeout_secs`", "`10`";
    OAUTH_CLIENT_ID = "OAUTH_<NAME>_CLIENT_ID", "enables OAuth provider `<NAME>`", "none";
    OAUTH_CLIENT_SECRET = "OAUTH_<NAME>_CLIENT_SECRET", "its client secret", "none";
    OAUTH_AUTHORIZE_URL = "OAUTH_<NAME>_AUTHORIZE_URL", "its authorization endpoint", "the predefined one, or `authorize_url`";
    OAUTH_TOKEN_URL = "OAUTH_<NAME>_TOKEN_URL", "its token endpoint", "the predefined one, or `token_url`";
    OAUTH_REVOCATION_URL = "OAUTH_<NAME>_REVOCATION_URL", "its RFC 7009 revocation endpoint", "the predefined one, or `revocation_url`";
    OAUTH_ACCOUNT_URL = "OAUTH_<NAME>_ACCOUNT_URL", "where the linked account's name is read with its new access token, to show the owner before they confirm", "the predefined one (Google), or `account_url`";
    FERNET_KEYS = "FERNET_KEYS", "comma-separated Fernet keys; the first encrypts, all decrypt", "generated in `dev`";
    PSEUDONYM_KEY = "PSEUDONYM_KEY", "HMAC key for pseudonyms, blind indexes and derived webhook secrets", "generated in `dev`";
    AUDIT_KEY = "AUDIT_KEY", "HMAC key for the audit chain", "generated in `dev`";
    RUST_LOG = "RUST_LOG", "log filter (`tracing` `EnvFilter` syntax)", "`info,sqlx=warn,sea_orm=warn,hyper=warn,reqwest=warn,tantivy=warn,lopdf=error,pdf_extract=off`";
}

/// The variable of a `<NAME>` pattern for one named thing, e.g. `OAUTH_GOOGLE_CLIENT_ID`.
pub fn named(pattern: &str, name: &str) -> String {
    pattern.replace("<NAME>", &name.to_ascii_uppercase())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The variables table of `docs/configuration.md`: (name, default) per row.
    fn documented() -> Vec<(String, String)> {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md");
        let text = std::fs::read_to_string(path).expect("docs/configuration.md");
        let table = text
            .split("| variable | meaning | default |")
            .nth(1)
            .expect("the variables table");
        table
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|row| {
                let cells: Vec<&str> = row.trim_matches('|').split(" | ").collect();
                let name = cells[0].trim().trim_matches('`').to_string();
                (name, cells.last().unwrap().trim().to_string())
            })
            .collect()
    }

    #[test]
    fn the_documented_variables_are_exactly_the_ones_read_with_the_same_defaults() {
        let documented = documented();
        let listed: Vec<(String, String)> = VARIABLES
            .iter()
            .map(|v| (v.name.to_string(), v.default.to_string()))
            .collect();
        for v in &listed {
            assert!(
                documented.contains(v),
                "{v:?} is read by the gateway but not documented so in docs/configuration.md"
            );
        }
        for d in &documented {
            assert!(
                listed.contains(d),
                "{d:?} is documented in docs/configuration.md but not in config/env.rs"
            );
        }
    }

    #[test]
    fn every_variable_the_example_file_names_is_listed_or_named_by_the_file() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy/consentgate.example.toml");
        let text = std::fs::read_to_string(path)
            .expect("the example configuration")
            .replace("<NAME>", "NAME");
        let names: Vec<&str> = VARIABLES.iter().map(|v| v.name).collect();
        // Every upper-case word that looks like a variable (FOO_BAR) in the file or its comments.
        let mentioned = text
            .split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .filter(|w| {
                w.len() > 3 && w.contains('_') && w.starts_with(|c: char| c.is_ascii_uppercase())
            });
        // The file may name variables of its own for `*_env` keys.
        let chosen: Vec<&str> = text
            .lines()
            .map(|l| l.trim_start_matches(['#', ' ']))
            .filter(|l| {
                l.split('=')
                    .next()
                    .is_some_and(|k| k.trim().ends_with("_env"))
            })
            .filter_map(|l| l.split('"').nth(1))
            .collect();
        for word in mentioned {
            let pattern_ok = names.iter().any(|n| {
                n.contains("<NAME>") && {
                    let (pre, post) = n.split_once("<NAME>").unwrap();
                    word.starts_with(pre) && word.ends_with(post)
                }
            });
            assert!(
                names.contains(&word) || chosen.contains(&word) || pattern_ok,
                "deploy/consentgate.example.toml mentions {word}, which the gateway does not read"
            );
        }
    }

    #[test]
    fn names_are_unique_and_patterns_expand() {
        let mut seen = std::collections::HashSet::new();
        for v in VARIABLES {
            assert!(seen.insert(v.name), "{} twice", v.name);
        }
        assert_eq!(named(OAUTH_CLIENT_ID, "google"), "OAUTH_GOOGLE_CLIENT_ID");
    }
}
