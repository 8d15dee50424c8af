//! `[oauth.NAME]` and the `OAUTH_<NAME>_*` variables: the OAuth 2.0 providers owners can link,
//! with ready definitions for Google, Yandex, HubSpot and Zoho.

use std::collections::HashMap;

use serde::Deserialize;
use url::Url;

use super::{ConfigError, Env, Secret, bad, env, parse_url, purposes::valid_purpose_name};

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
    /// Where the linked account's name (its e-mail address or login) is read with the new
    /// access token, so the owner can see which account was linked before confirming it.
    pub account_url: Option<Url>,
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
            (
                "https://www.googleapis.com/auth/userinfo.email",
                "see your account's email address, to show you which account was linked",
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

/// Where a built-in provider tells the account behind an access token.
fn builtin_account_url(name: &str) -> Option<&'static str> {
    match name {
        "google" => Some("https://www.googleapis.com/oauth2/v3/userinfo"),
        _ => None,
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileOAuth {
    pub(super) title: Option<String>,
    pub(super) authorize_url: Option<String>,
    pub(super) token_url: Option<String>,
    pub(super) revocation_url: Option<String>,
    pub(super) account_url: Option<String>,
    pub(super) client_id: Option<String>,
    /// Environment variable with the client secret (default `OAUTH_<NAME>_CLIENT_SECRET`).
    pub(super) client_secret_env: Option<String>,
    pub(super) scopes: Option<Vec<String>>,
    #[serde(default)]
    pub(super) scope_words: HashMap<String, String>,
    #[serde(default)]
    pub(super) extra_params: HashMap<String, String>,
}

/// The providers owners can link: the built-in ones given a client id, and any the file adds.
pub(super) fn providers(
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
        if let Some(provider) = provider(name, f, env)? {
            out.push(provider);
        }
    }
    Ok(out)
}

/// Provider `name`, when a client id enables it: the file's table over the built-in definition,
/// the `OAUTH_<NAME>_*` variables over both.
fn provider(
    name: String,
    f: FileOAuth,
    env: &dyn Env,
) -> Result<Option<OAuthProvider>, ConfigError> {
    let var = |pattern: &str| env::named(pattern, &name);
    let Some(client_id) = env.get(&var(env::OAUTH_CLIENT_ID)).or(f.client_id.clone()) else {
        return Ok(None);
    };
    let builtin = BUILTIN_PROVIDERS.iter().find(|b| b.0 == name);
    let url = |pattern: &str, field: &str, file: Option<String>, default: Option<&str>| {
        let place_env = var(pattern);
        match env.get(&place_env) {
            Some(v) => parse_url(&place_env, &v).map(Some),
            None => match file.or(default.map(str::to_string)) {
                Some(v) => parse_url(&format!("oauth.{name}.{field}"), &v).map(Some),
                None => Ok(None),
            },
        }
    };
    let authorize_url = url(
        env::OAUTH_AUTHORIZE_URL,
        "authorize_url",
        f.authorize_url,
        builtin.map(|b| b.2),
    )?
    .ok_or_else(|| bad(format!("oauth.{name}.authorize_url"), "required"))?;
    let token_url = url(
        env::OAUTH_TOKEN_URL,
        "token_url",
        f.token_url,
        builtin.map(|b| b.3),
    )?
    .ok_or_else(|| bad(format!("oauth.{name}.token_url"), "required"))?;
    let revocation_url = url(
        env::OAUTH_REVOCATION_URL,
        "revocation_url",
        f.revocation_url,
        builtin.and_then(|b| b.4),
    )?;
    let account_url = url(
        env::OAUTH_ACCOUNT_URL,
        "account_url",
        f.account_url,
        builtin_account_url(&name),
    )?;
    let secret_var = f
        .client_secret_env
        .clone()
        .unwrap_or_else(|| var(env::OAUTH_CLIENT_SECRET));
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
        ("account_url", account_url.as_ref()),
    ] {
        if let Some(url) = url {
            let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
            if url.scheme() != "https" && !loopback {
                return Err(bad(format!("oauth.{name}.{field}"), "must be https://"));
            }
        }
    }
    extra_params.sort();
    Ok(Some(OAuthProvider {
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
        account_url,
    }))
}
