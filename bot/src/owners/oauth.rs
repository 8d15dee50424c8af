//! The OAuth 2.0 client side: authorization code with PKCE (S256), token exchange and refresh
//! (RFC 6749), and token revocation (RFC 7009). Errors never carry a token or a response body;
//! at most the provider's `error` code.

use std::{fmt, time::Duration};

use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use crate::config::OAuthProvider;

/// The S256 code challenge of a verifier.
pub fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Where the owner's browser goes to approve.
pub fn authorize_url(p: &OAuthProvider, redirect_uri: &str, state: &str, verifier: &str) -> Url {
    let mut url = p.authorize_url.clone();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &p.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &p.scopes.join(" "))
            .append_pair("state", state)
            .append_pair("code_challenge", &challenge(verifier))
            .append_pair("code_challenge_method", "S256");
        for (k, v) in &p.extra_params {
            q.append_pair(k, v);
        }
    }
    url
}

/// Tokens from the provider. `Debug` shows none of them.
#[derive(Deserialize)]
pub struct Tokens {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub scope: Option<String>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tokens(<secret>)")
    }
}

/// Why a call to the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The provider said no (e.g. `invalid_grant`: the code or refresh token is bad or revoked).
    #[error("the provider refused: {error} (HTTP {status})")]
    Refused { status: u16, error: String },
    #[error("the provider could not be reached: {0}")]
    Network(String),
    #[error("the provider's answer could not be read")]
    Malformed,
}

impl OAuthError {
    /// The refresh token (or code) will never work again. Only `invalid_grant` says so: a 429,
    /// or our own `invalid_client` misconfiguration, must not mark every link broken.
    pub fn is_permanent(&self) -> bool {
        matches!(self, OAuthError::Refused { error, .. } if error == "invalid_grant")
    }
}

/// An HTTP client for providers: short timeouts, no redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<String>,
}

/// Only a short code of safe characters from an error body is kept.
fn error_code(body: &str) -> String {
    serde_json::from_str::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.error)
        .filter(|e| {
            e.len() <= 64
                && e.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
        })
        .unwrap_or_else(|| "unknown_error".to_string())
}

async fn post_form(
    http: &reqwest::Client,
    url: &Url,
    form: &[(&str, &str)],
) -> Result<String, OAuthError> {
    let response = http
        .post(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .form(form)
        .send()
        .await
        .map_err(|e| OAuthError::Network(e.without_url().to_string()))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| OAuthError::Network(e.without_url().to_string()))?;
    if !status.is_success() {
        return Err(OAuthError::Refused {
            status: status.as_u16(),
            error: error_code(&body),
        });
    }
    Ok(body)
}

fn with_client<'a>(p: &'a OAuthProvider, form: &mut Vec<(&'a str, &'a str)>) {
    form.push(("client_id", &p.client_id));
    if let Some(secret) = &p.client_secret {
        form.push(("client_secret", secret.expose()));
    }
}

/// Exchanges an authorization code (with its PKCE verifier) for tokens.
pub async fn exchange(
    http: &reqwest::Client,
    p: &OAuthProvider,
    redirect_uri: &str,
    code: &str,
    verifier: &str,
) -> Result<Tokens, OAuthError> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ];
    with_client(p, &mut form);
    let body = post_form(http, &p.token_url, &form).await?;
    serde_json::from_str(&body).map_err(|_| OAuthError::Malformed)
}

/// The name of the account an access token belongs to (its e-mail address or login), read at the
/// provider's `account_url`; `None` when it has none or it does not say. Shown to the owner, so
/// it is cut to 100 characters of printable text.
pub async fn account_name(
    http: &reqwest::Client,
    p: &OAuthProvider,
    access_token: &str,
) -> Option<String> {
    let url = p.account_url.as_ref()?;
    let resp = http
        .get(url.clone())
        .bearer_auth(access_token)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let body: serde_json::Value = resp.json().await.ok()?;
    [
        "email",
        "default_email",
        "login",
        "preferred_username",
        "name",
    ]
    .iter()
    .find_map(|field| body[field].as_str())
    .map(|name| {
        name.chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect::<String>()
    })
    .filter(|name| !name.trim().is_empty())
}

/// Gets a new access token with a refresh token.
pub async fn refresh(
    http: &reqwest::Client,
    p: &OAuthProvider,
    refresh_token: &str,
) -> Result<Tokens, OAuthError> {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    with_client(p, &mut form);
    let body = post_form(http, &p.token_url, &form).await?;
    serde_json::from_str(&body).map_err(|_| OAuthError::Malformed)
}

/// Revokes a token at the provider (RFC 7009). `Ok(false)` when the provider has no revocation
/// endpoint.
pub async fn revoke(
    http: &reqwest::Client,
    p: &OAuthProvider,
    token: &str,
    hint: &str,
) -> Result<bool, OAuthError> {
    let Some(url) = &p.revocation_url else {
        return Ok(false);
    };
    let mut form = vec![("token", token), ("token_type_hint", hint)];
    with_client(p, &mut form);
    post_form(http, url, &form).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::digest::random_token;

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let v = random_token();
        assert_eq!(v.len(), 43);
        assert_ne!(v, random_token());
    }

    #[test]
    fn only_a_safe_error_code_is_kept() {
        assert_eq!(
            error_code(r#"{"error":"invalid_grant","error_description":"token abc"}"#),
            "invalid_grant"
        );
        assert_eq!(error_code(r#"{"error":"<script>"}"#), "unknown_error");
        assert_eq!(error_code("not json with a token"), "unknown_error");
    }
}
