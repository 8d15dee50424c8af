//! A fake OAuth 2.0 provider: `/authorize` redirects back with a code, `/token` exchanges codes
//! (checking the PKCE verifier against the S256 challenge) and refresh tokens, `/revoke`
//! (RFC 7009) records what it was asked to revoke, `/userinfo` names the account behind an access
//! token it issued.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Form, Json, Router,
    extract::{Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[derive(Default)]
struct Inner {
    /// code → (challenge, redirect_uri, client_id)
    codes: HashMap<String, (String, String, String)>,
    next: u64,
    /// Refresh tokens the provider still accepts.
    refresh_tokens: Vec<String>,
    /// Every /token request's form.
    token_requests: Vec<HashMap<String, String>>,
    /// Every /revoke request's form.
    revocations: Vec<HashMap<String, String>>,
    /// Answer /revoke with 503.
    revoke_fails: bool,
    /// Lifetime of issued access tokens, in seconds.
    expires_in: i64,
    /// How long a refresh answer is held back after the tokens are issued (a slow provider).
    refresh_delay: std::time::Duration,
    /// Access tokens issued, with the account each belongs to.
    accounts: HashMap<String, String>,
    /// The account the next authorization is for.
    account: String,
}

/// The fake provider; clones share state.
#[derive(Clone)]
pub struct FakeOAuth {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeOAuth {
    pub async fn start() -> FakeOAuth {
        let inner = Arc::new(Mutex::new(Inner {
            expires_in: 3600,
            account: "owner@example.com".into(),
            ..Default::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let fake = FakeOAuth { url, inner };
        let app = Router::new()
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/revoke", post(revoke))
            .route("/userinfo", get(userinfo))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    pub fn token_requests(&self) -> Vec<HashMap<String, String>> {
        self.lock().token_requests.clone()
    }

    pub fn revocations(&self) -> Vec<HashMap<String, String>> {
        self.lock().revocations.clone()
    }

    /// Whose account the next authorizations are for (someone who got hold of the link).
    pub fn set_account(&self, account: &str) {
        self.lock().account = account.to_string();
    }

    pub fn set_revoke_fails(&self, fails: bool) {
        self.lock().revoke_fails = fails;
    }

    pub fn set_expires_in(&self, secs: i64) {
        self.lock().expires_in = secs;
    }

    /// Refreshes are answered `delay` after their tokens are issued, as a slow provider would.
    pub fn set_refresh_delay(&self, delay: std::time::Duration) {
        self.lock().refresh_delay = delay;
    }

    /// The provider forgets every refresh token (as when the user revokes access there).
    pub fn forget_refresh_tokens(&self) {
        self.lock().refresh_tokens.clear();
    }
}

async fn authorize(
    State(fake): State<FakeOAuth>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("response_type") != "code" || get("code_challenge_method") != "S256" {
        return (
            StatusCode::BAD_REQUEST,
            "expected response_type=code and S256",
        )
            .into_response();
    }
    let code = {
        let mut inner = fake.lock();
        inner.next += 1;
        let code = format!("code-{}", inner.next);
        inner.codes.insert(
            code.clone(),
            (get("code_challenge"), get("redirect_uri"), get("client_id")),
        );
        code
    };
    let mut back = url::Url::parse(&get("redirect_uri")).unwrap();
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &get("state"));
    (StatusCode::FOUND, [(header::LOCATION, back.to_string())]).into_response()
}

fn refused(error: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": error, "error_description": "fake says no"})),
    )
        .into_response()
}

fn tokens(inner: &mut Inner, scope: Option<&str>) -> Value {
    inner.next += 1;
    let n = inner.next;
    let account = inner.account.clone();
    inner.accounts.insert(format!("at-secret-{n}"), account);
    let refresh = format!("rt-secret-{n}");
    inner.refresh_tokens.push(refresh.clone());
    let mut body = json!({
        "access_token": format!("at-secret-{n}"),
        "token_type": "Bearer",
        "expires_in": inner.expires_in,
        "refresh_token": refresh,
    });
    if let Some(scope) = scope {
        body["scope"] = json!(scope);
    }
    body
}

async fn token(
    State(fake): State<FakeOAuth>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (answer, delay) = issue(&fake, form);
    tokio::time::sleep(delay).await;
    answer
}

/// Answers a token request at once; the delay is for the caller to wait out.
fn issue(fake: &FakeOAuth, form: HashMap<String, String>) -> (Response, std::time::Duration) {
    let mut inner = fake.lock();
    let delay = if form.get("grant_type").map(String::as_str) == Some("refresh_token") {
        inner.refresh_delay
    } else {
        std::time::Duration::ZERO
    };
    (token_answer(&mut inner, form), delay)
}

fn token_answer(inner: &mut Inner, form: HashMap<String, String>) -> Response {
    inner.token_requests.push(form.clone());
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    if get("client_id") != "test-client" || get("client_secret") != "test-client-secret" {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    match get("grant_type").as_str() {
        "authorization_code" => {
            let Some((challenge, redirect, _)) = inner.codes.remove(&get("code")) else {
                return refused("invalid_grant");
            };
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(Sha256::digest(get("code_verifier").as_bytes()));
            if computed != challenge || redirect != get("redirect_uri") {
                return refused("invalid_grant");
            }
            Json(tokens(
                inner,
                Some("https://www.googleapis.com/auth/spreadsheets"),
            ))
            .into_response()
        }
        "refresh_token" => {
            let rt = get("refresh_token");
            if !inner.refresh_tokens.contains(&rt) {
                return refused("invalid_grant");
            }
            let mut body = tokens(inner, None);
            // Like Google: the refresh token stays the same.
            body.as_object_mut().unwrap().remove("refresh_token");
            Json(body).into_response()
        }
        _ => refused("unsupported_grant_type"),
    }
}

async fn revoke(
    State(fake): State<FakeOAuth>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut inner = fake.lock();
    inner.revocations.push(form.clone());
    if inner.revoke_fails {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let token = form.get("token").cloned().unwrap_or_default();
    inner.refresh_tokens.retain(|t| *t != token);
    StatusCode::OK.into_response()
}

/// `GET /userinfo` with `Authorization: Bearer <access token>`: the account's e-mail address.
async fn userinfo(State(fake): State<FakeOAuth>, headers: axum::http::HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    match fake.lock().accounts.get(token) {
        Some(email) => {
            Json(json!({"sub": "1", "email": email, "email_verified": true})).into_response()
        }
        None => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_token"})),
        )
            .into_response(),
    }
}
