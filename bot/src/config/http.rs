//! `[http]` and the `CONSENTGATE_HTTP_*` variables: the HTTP server's connection cap, its time
//! limits for reading a request's head and body, and the reverse proxies trusted to name the
//! client.

use std::{net::IpAddr, time::Duration};

use serde::Deserialize;

use super::{ConfigError, Env, bad, env};

/// The HTTP server's limits, before the descriptor limit is applied at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client (for limits per client).
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileHttp {
    pub(super) max_connections: Option<usize>,
    pub(super) header_timeout_secs: Option<u64>,
    pub(super) body_timeout_secs: Option<u64>,
    #[serde(default)]
    pub(super) trusted_proxies: Vec<String>,
}

/// A whole number above 0 from the variable `var`, else from the file's `key`, else `default`.
fn positive(
    env: &dyn Env,
    var: &str,
    key: &str,
    file: Option<u64>,
    default: u64,
) -> Result<u64, ConfigError> {
    let (place, value) = match env.get(var) {
        Some(v) => (
            var.to_string(),
            v.trim()
                .parse::<u64>()
                .map_err(|_| bad(var, format!("`{v}` is not a whole number")))?,
        ),
        None => (format!("http.{key}"), file.unwrap_or(default)),
    };
    if value == 0 {
        return Err(bad(place, "must be at least 1"));
    }
    Ok(value)
}

pub(super) fn settings(file: Option<FileHttp>, env: &dyn Env) -> Result<HttpSettings, ConfigError> {
    let f = file.unwrap_or_default();
    let d = HttpSettings::default();
    Ok(HttpSettings {
        max_connections: positive(
            env,
            env::HTTP_MAX_CONNECTIONS,
            "max_connections",
            f.max_connections.map(|n| n as u64),
            d.max_connections as u64,
        )? as usize,
        header_timeout: Duration::from_secs(positive(
            env,
            env::HTTP_HEADER_TIMEOUT_SECS,
            "header_timeout_secs",
            f.header_timeout_secs,
            d.header_timeout.as_secs(),
        )?),
        body_timeout: Duration::from_secs(positive(
            env,
            env::HTTP_BODY_TIMEOUT_SECS,
            "body_timeout_secs",
            f.body_timeout_secs,
            d.body_timeout.as_secs(),
        )?),
        trusted_proxies: trusted_proxies(env, f.trusted_proxies)?,
    })
}

/// Addresses (not ranges: a proxy is a known host) from the variable, comma-separated, else from
/// the file.
fn trusted_proxies(env: &dyn Env, file: Vec<String>) -> Result<Vec<IpAddr>, ConfigError> {
    let (place, listed) = match env.get(env::HTTP_TRUSTED_PROXIES) {
        Some(v) => (
            env::HTTP_TRUSTED_PROXIES.to_string(),
            v.split(',')
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect(),
        ),
        None => ("http.trusted_proxies".to_string(), file),
    };
    listed
        .iter()
        .map(|a| {
            a.parse::<IpAddr>().map_err(|_| {
                bad(
                    &place,
                    format!("`{a}` is not an IP address (list each proxy's address; ranges are not taken)"),
                )
            })
        })
        .collect()
}
