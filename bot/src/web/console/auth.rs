//! Signing in: the admin key, then the second factor. At the first sign-in the key gets its
//! TOTP secret (shown as an `otpauth://` URI and a QR code, Fernet-encrypted at rest), confirmed
//! by a first code, and ten one-time recovery codes (shown once, stored as digests). Each step
//! replaces the session id; a code is good once; failures are limited per client address and
//! per key, and audited.

use axum::{
    Form,
    extract::{Extension, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use maud::{Markup, html};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, Set, sea_query::Expr,
};
use serde::Deserialize;
use serde_json::json;

use consentgate_adapters::client::ClientAddr;
use consentgate_entity::admin_totp;

use super::{
    Console, LOGIN_COOKIE, cookie, page, problem, see_other,
    session::{self, Session, Stage},
    totp, unavailable,
};
use crate::audit::Action;
use crate::privacy::digest::{random_token, sha256_hex};
use crate::web::admin::find_key;

/// The issuer authenticator apps show.
const ISSUER: &str = "ConsentGate";
/// Recovery codes handed out at enrolment.
const RECOVERY_CODES: usize = 10;

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    login: String,
}

#[derive(Deserialize)]
pub(super) struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
pub(super) struct LogoutForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    everywhere: Option<String>,
}

fn login_form(token: &str, error: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error { p class="error" role="alert" { (e) } }
        form method="post" action="/console/login" {
            input type="hidden" name="login" value=(token);
            label for="key" { "Admin key" }
            input type="password" id="key" name="key" autocomplete="off" required autofocus;
            p class="note" { "A key made with " code { "consentgate admin keys create" } ". Your authenticator app's code is asked next." }
            button type="submit" class="primary" { "Continue" }
        }
    }
}

/// The sign-in page, with a fresh form token in a cookie and in the form.
pub(super) async fn login_page(State(c): State<Console>) -> Response {
    login_response(&c, StatusCode::OK, None)
}

fn login_response(c: &Console, status: StatusCode, error: Option<&str>) -> Response {
    let token = random_token();
    let mut response = page(status, "Sign in", None, login_form(&token, error));
    response.headers_mut().append(
        header::SET_COOKIE,
        c.set_cookie(LOGIN_COOKIE, Some(&token), "/console/login", "Strict"),
    );
    response
}

/// The admin key: right → the second factor; wrong → the form again, slower each time.
pub(super) async fn login(
    State(c): State<Console>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty()
        || !consentgate_adapters::constant_time_eq(form.login.as_bytes(), expected.as_bytes())
    {
        return login_response(
            &c,
            StatusCode::FORBIDDEN,
            Some("The form expired. Please enter your key again."),
        );
    }
    if !c.address_allows(&client) {
        return login_response(
            &c,
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many attempts from your address. Wait a minute and try again."),
        );
    }
    let (key, role) = match find_key(&c.i.db, &form.key).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            c.failed(&client, None);
            c.audit(Action::ConsoleSignInFailed, json!({"step": "key"}))
                .await;
            return login_response(&c, StatusCode::UNAUTHORIZED, Some("That key is not valid."));
        }
        Err(_) => return unavailable(),
    };
    let Ok((token, _)) =
        session::open(&c.i.db, &format!("key:{key}"), role.into(), Stage::Key).await
    else {
        return unavailable();
    };
    let mut response = see_other("/console/login/second");
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, c.session_cookie(Some(&token)));
    headers.append(
        header::SET_COOKIE,
        c.set_cookie(LOGIN_COOKIE, None, "/console/login", "Strict"),
    );
    response
}

/// The session half-way through signing in.
async fn half_way(c: &Console, headers: &HeaderMap) -> Result<(Session, i64), Response> {
    match c.session(headers).await? {
        Some(s) if s.stage == Stage::Key => match s.key_id() {
            Some(key) => Ok((s, key)),
            None => Err(see_other("/console/login")),
        },
        Some(s) if s.stage == Stage::Full => Err(see_other("/console/")),
        _ => Err(see_other("/console/login")),
    }
}

async fn totp_row(c: &Console, key: i64) -> Result<Option<admin_totp::Model>, DbErr> {
    admin_totp::Entity::find_by_id(key).one(&c.i.db).await
}

fn secret_of(c: &Console, row: &admin_totp::Model) -> Option<Vec<u8>> {
    c.i.keys.fernet.decrypt(&row.secret_enc).ok()
}

/// The second step: set up the authenticator (first sign-in) or enter its code.
pub(super) async fn second_page(State(c): State<Console>, headers: HeaderMap) -> Response {
    let (s, key) = match half_way(&c, &headers).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    match totp_row(&c, key).await {
        Ok(Some(row)) if row.confirmed_at.is_some() => code_page(&s, StatusCode::OK, None),
        // Each view makes a new secret: one someone else saw earlier is worth nothing.
        Ok(row) => enrol_page(&c, &s, key, row, StatusCode::OK, None, true).await,
        Err(_) => unavailable(),
    }
}

fn code_page(s: &Session, status: StatusCode, error: Option<&str>) -> Response {
    page(
        status,
        "Your code",
        None,
        html! {
            @if let Some(e) = error { p class="error" role="alert" { (e) } }
            form method="post" action="/console/login/code" {
                input type="hidden" name="csrf" value=(s.csrf);
                label for="code" { "The six-digit code from your authenticator app, or a recovery code" }
                input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus;
                button type="submit" class="primary" { "Sign in" }
            }
            p class="note" { "Lost your device? Use a recovery code, or ask an operator to run " code { "consentgate admin totp reset KEY-ID" } "." }
        },
    )
}

/// The enrolment page: a secret made now (or the one made at an earlier, unfinished attempt).
async fn enrol_page(
    c: &Console,
    s: &Session,
    key: i64,
    row: Option<admin_totp::Model>,
    status: StatusCode,
    error: Option<&str>,
    fresh: bool,
) -> Response {
    let stored = row
        .as_ref()
        .filter(|_| !fresh)
        .and_then(|r| secret_of(c, r));
    let secret = match stored {
        Some(secret) => secret,
        None => {
            let secret = totp::new_secret();
            let stored = admin_totp::ActiveModel {
                key_id: Set(key),
                secret_enc: Set(c.i.keys.fernet.encrypt(&secret)),
                confirmed_at: Set(None),
                last_step: Set(0),
                recovery_sha256: Set("[]".into()),
            };
            let saved = match row {
                Some(_) => stored.update(&c.i.db).await.map(|_| ()),
                None => stored.insert(&c.i.db).await.map(|_| ()),
            };
            if saved.is_err() {
                return unavailable();
            }
            secret
        }
    };
    let uri = totp::uri(&secret, ISSUER, &format!("key-{key}"));
    let qr = qr_data_uri(&uri);
    page(
        status,
        "Set up your authenticator",
        None,
        html! {
            @if let Some(e) = error { p class="error" role="alert" { (e) } }
            p { "This key signs in with a second factor. Scan the code with an authenticator app (or enter the secret by hand), then type the six-digit code it shows." }
            @if let Some(qr) = qr { img class="qr" src=(qr) alt="QR code of the authenticator secret"; }
            p { "Secret: " code class="mono" { (totp::base32(&secret)) } }
            details { summary { "The otpauth URI" } code class="mono" { (uri) } }
            form method="post" action="/console/login/enrol" {
                input type="hidden" name="csrf" value=(s.csrf);
                label for="code" { "Code from the app" }
                input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus;
                button type="submit" class="primary" { "Confirm" }
            }
        },
    )
}

/// The QR code of `text` as an SVG data URI.
fn qr_data_uri(text: &str) -> Option<String> {
    use base64::Engine;
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Some(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

/// The half-signed-in session of a code form, if the form is genuine and neither the key nor
/// the client has failed too often lately.
async fn attempt(
    c: &Console,
    client: &Option<Extension<ClientAddr>>,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<(Session, i64), Response> {
    let (s, key) = half_way(c, headers).await?;
    if !consentgate_adapters::constant_time_eq(csrf.as_bytes(), s.csrf.as_bytes()) {
        return Err(see_other("/console/login"));
    }
    if !c.address_allows(client) || !c.by_key.try_begin(key) {
        return Err(problem(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            "Too many wrong codes were tried. Wait five minutes and try again.",
            None,
        ));
    }
    Ok((s, key))
}

/// The first code confirms the authenticator: the key is enrolled and signed in, and gets its
/// recovery codes, shown this once.
pub(super) async fn enrol(
    State(c): State<Console>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let (s, key) = match attempt(&c, &client, &headers, &form.csrf).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let row = match totp_row(&c, key).await {
        Ok(Some(row)) if row.confirmed_at.is_none() => row,
        Ok(Some(_)) => return see_other("/console/login/second"),
        Ok(None) => return see_other("/console/login/second"),
        Err(_) => return unavailable(),
    };
    let Some(secret) = secret_of(&c, &row) else {
        return unavailable();
    };
    let Some(step) = totp::verify(&secret, &form.code, Utc::now().timestamp(), row.last_step)
    else {
        c.failed(&client, None);
        c.audit(
            Action::ConsoleSignInFailed,
            json!({"key": key, "step": "enrol"}),
        )
        .await;
        return enrol_refused(
            &c,
            &s,
            key,
            "That code is not right. Check the app's clock, and type the code it shows now.",
        )
        .await;
    };
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    let digests: Vec<String> = codes.iter().map(sha256_hex).collect();
    let confirmed = admin_totp::Entity::update_many()
        .col_expr(
            admin_totp::Column::ConfirmedAt,
            Expr::value(Some(Utc::now())),
        )
        .col_expr(admin_totp::Column::LastStep, Expr::value(step))
        .col_expr(
            admin_totp::Column::RecoverySha256,
            Expr::value(json!(digests).to_string()),
        )
        .filter(admin_totp::Column::KeyId.eq(key))
        .filter(admin_totp::Column::ConfirmedAt.is_null())
        .exec(&c.i.db)
        .await;
    match confirmed {
        Ok(r) if r.rows_affected == 1 => c.by_key.forgive(&key),
        Ok(_) => return see_other("/console/login/second"),
        Err(_) => return unavailable(),
    }
    if !c
        .audit(Action::ConsoleTotpEnrolled, json!({"key": key}))
        .await
    {
        return unavailable();
    }
    let (token, full) = match signed_in(&c, &s, key).await {
        Ok(done) => done,
        Err(r) => return r,
    };
    let mut response = page(
        StatusCode::OK,
        "Your recovery codes",
        Some(&full),
        html! {
            p class="ok" { "Your authenticator is set up and you are signed in." }
            p { "Keep these recovery codes somewhere safe. Each works once, instead of a code from the app, if you lose your device. They are shown only now." }
            ul class="codes" aria-label="Recovery codes" { @for code in &codes { li { (code) } } }
            p { a href="/console/" { "Continue to the console" } }
        },
    );
    response
        .headers_mut()
        .append(header::SET_COOKIE, c.session_cookie(Some(&token)));
    response
}

async fn enrol_refused(c: &Console, s: &Session, key: i64, why: &str) -> Response {
    match totp_row(c, key).await {
        Ok(row) => enrol_page(c, s, key, row, StatusCode::UNAUTHORIZED, Some(why), false).await,
        Err(_) => unavailable(),
    }
}

/// A recovery code: ten letters and digits in two groups, easy to read and type.
fn recovery_code() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    let mut code: String = (0..10)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    code.insert(5, '-');
    code
}

/// Ends the half-way session and opens the signed-in one (a new id), audited.
async fn signed_in(c: &Console, s: &Session, key: i64) -> Result<(String, Session), Response> {
    let Ok((token, full)) = session::advance(&c.i.db, s, Stage::Full).await else {
        return Err(unavailable());
    };
    if !c
        .audit(
            Action::ConsoleSignedIn,
            json!({"key": key, "role": s.role.as_str()}),
        )
        .await
    {
        let _ = session::end(&c.i.db, full.id).await;
        return Err(unavailable());
    }
    Ok((token, full))
}

/// A code from the app (for a step after the last one used), or an unused recovery code.
pub(super) async fn code(
    State(c): State<Console>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let (s, key) = match attempt(&c, &client, &headers, &form.csrf).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let row = match totp_row(&c, key).await {
        Ok(Some(row)) if row.confirmed_at.is_some() => row,
        Ok(_) => return see_other("/console/login/second"),
        Err(_) => return unavailable(),
    };
    let Some(secret) = secret_of(&c, &row) else {
        return unavailable();
    };
    let accepted = match totp::verify(&secret, &form.code, Utc::now().timestamp(), row.last_step) {
        // Only if no one used this step meanwhile (another tab, another replica).
        Some(step) => admin_totp::Entity::update_many()
            .col_expr(admin_totp::Column::LastStep, Expr::value(step))
            .filter(admin_totp::Column::KeyId.eq(key))
            .filter(admin_totp::Column::LastStep.lt(step))
            .exec(&c.i.db)
            .await
            .map(|r| r.rows_affected == 1),
        None => use_recovery_code(&c, &row, &form.code).await,
    };
    match accepted {
        Ok(true) => c.by_key.forgive(&key),
        Ok(false) => {
            c.failed(&client, None);
            c.audit(
                Action::ConsoleSignInFailed,
                json!({"key": key, "step": "code"}),
            )
            .await;
            return code_page(
                &s,
                StatusCode::UNAUTHORIZED,
                Some("That code is not right, or was used already. Wait for the next one."),
            );
        }
        Err(_) => return unavailable(),
    }
    let (token, _) = match signed_in(&c, &s, key).await {
        Ok(done) => done,
        Err(r) => return r,
    };
    let mut response = see_other("/console/");
    response
        .headers_mut()
        .append(header::SET_COOKIE, c.session_cookie(Some(&token)));
    response
}

/// Spends a recovery code: `true` if it was one of the key's unused codes.
async fn use_recovery_code(
    c: &Console,
    row: &admin_totp::Model,
    given: &str,
) -> Result<bool, DbErr> {
    let given = given.trim().to_ascii_lowercase();
    if given.len() != 11 {
        return Ok(false);
    }
    let digest = sha256_hex(&given);
    let mut left: Vec<String> = serde_json::from_str(&row.recovery_sha256).unwrap_or_default();
    let Some(at) = left.iter().position(|d| *d == digest) else {
        return Ok(false);
    };
    left.remove(at);
    // Only over the list read, so the same code cannot be spent twice at once.
    let spent = admin_totp::Entity::update_many()
        .col_expr(
            admin_totp::Column::RecoverySha256,
            Expr::value(json!(left).to_string()),
        )
        .filter(admin_totp::Column::KeyId.eq(row.key_id))
        .filter(admin_totp::Column::RecoverySha256.eq(row.recovery_sha256.clone()))
        .exec(&c.i.db)
        .await?;
    Ok(spent.rows_affected == 1)
}

/// Signs out this session, or every session of its key.
pub(super) async fn logout(
    State(c): State<Console>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    let s = match c.session(&headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return see_other("/console/login"),
        Err(r) => return r,
    };
    if !consentgate_adapters::constant_time_eq(form.csrf.as_bytes(), s.csrf.as_bytes()) {
        return problem(
            StatusCode::FORBIDDEN,
            "Refused",
            "This form is out of date. Reload the page and try again.",
            Some(&s),
        );
    }
    let everywhere = form.everywhere.is_some();
    let ended = if everywhere {
        session::end_all(&c.i.db, &s.principal).await
    } else {
        session::end(&c.i.db, s.id).await.map(u64::from)
    };
    if ended.is_err() {
        return unavailable();
    }
    let mut detail = s.actor();
    detail["everywhere"] = json!(everywhere);
    c.audit(Action::ConsoleSignedOut, detail).await;
    let mut response = see_other("/console/login");
    response
        .headers_mut()
        .append(header::SET_COOKIE, c.session_cookie(None));
    response.into_response()
}
