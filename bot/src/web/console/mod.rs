//! The console under `/console/`: server-rendered pages (maud), no script, one stylesheet
//! embedded in the binary. Admins and auditors sign in with their admin key and a second
//! factor (TOTP, set up at the first sign-in, with one-time recovery codes); every page needs a
//! signed-in session, every change its session's CSRF token, and everything the console changes
//! is an audit entry naming the key.
//!
//! Sessions live in the database ([`session`]); the cookie is HttpOnly, SameSite=Lax, limited to
//! `/console`, and Secure whenever the public URL is https. Pages carry a Content-Security-Policy
//! that allows no script at all.

mod assistant;
mod auth;
mod connections;
mod knowledge;
pub mod links;
pub mod miniapp;
mod pages;
mod people;
mod policy;
pub mod session;
mod settings;
pub mod totp;

use std::{collections::HashMap, net::IpAddr, sync::Arc};

use axum::{
    Router,
    extract::Extension,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use maud::{DOCTYPE, Markup, html};

use consentgate_adapters::client::ClientAddr;

use crate::owners::integrations::Integrations;
use session::{Session, Stage};

/// The session cookie.
const COOKIE: &str = "cg_console";
/// The sign-in form's own token (double-submitted: cookie and form field).
const LOGIN_COOKIE: &str = "cg_login";

/// No script, no frames, forms only to this origin, the stylesheet from this origin and the
/// enrolment QR code as a data URI.
const POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const STYLE: &str = include_str!("console.css");

/// The console's state.
#[derive(Clone)]
pub struct Console {
    i: Arc<Integrations>,
    /// Cookies carry `Secure` (the public URL is https).
    secure: bool,
    /// Failed sign-ins per client address, and per admin key.
    by_address: Arc<Failures<IpAddr>>,
    by_key: Arc<Failures<i64>>,
    verified: Arc<tokio::sync::Mutex<Option<pages::LastCheck>>>,
    /// Telegram bots by name: (bot id here, token), to check Mini App `initData`.
    miniapp_bots: Arc<HashMap<String, (i64, String)>>,
    /// Every bot, and the purposes a new policy version is published with.
    bots: Arc<Vec<crate::pipeline::BotContext>>,
    purposes: Arc<Vec<crate::consent::Purpose>>,
    erasure_grace_days: u32,
    metrics: Arc<crate::app::metrics::Metrics>,
    system_prompt: Arc<Option<String>>,
    /// Finds personal data in documents added here.
    redactor: Arc<crate::redact::Redactor>,
    /// Embeds documents added here, where a service is configured.
    embedder: Option<Arc<crate::embeddings::Embedder>>,
}

/// Failed attempts counted per key (a client address, an admin key) over a window: past
/// `max`, no more attempts until the window has passed. Successes cost nothing.
pub(crate) struct Failures<K> {
    max: u32,
    window: std::time::Duration,
    seen: std::sync::Mutex<HashMap<K, (u32, std::time::Instant)>>,
}

/// Keys remembered before the quiet ones are forgotten.
const FAILURES_REMEMBERED: usize = 10_000;

impl<K: std::hash::Hash + Eq + Clone> Failures<K> {
    fn new(max: u32, window: std::time::Duration) -> Self {
        Failures {
            max,
            window,
            seen: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<K, (u32, std::time::Instant)>> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `key` has failed too often lately.
    fn blocked(&self, key: &K) -> bool {
        self.seen()
            .get(key)
            .is_some_and(|(n, since)| *n >= self.max && since.elapsed() < self.window)
    }

    /// An attempt by `key`, counted as a failure before it is checked (so attempts sent all at
    /// once cannot outrun the count); `false`, and not counted, when `key` is blocked already.
    /// A success is [`Failures::forgive`]n.
    fn try_begin(&self, key: K) -> bool {
        let mut seen = self.seen();
        if seen
            .get(&key)
            .is_some_and(|(n, since)| *n >= self.max && since.elapsed() < self.window)
        {
            return false;
        }
        self.count(&mut seen, key);
        true
    }

    /// The attempt `key` began succeeded: it does not count.
    fn forgive(&self, key: &K) {
        if let Some(entry) = self.seen().get_mut(key) {
            entry.0 = entry.0.saturating_sub(1);
        }
    }

    /// One more failure of `key`.
    fn failed(&self, key: K) {
        let mut seen = self.seen();
        self.count(&mut seen, key);
    }

    fn count(&self, seen: &mut HashMap<K, (u32, std::time::Instant)>, key: K) {
        if seen.len() >= FAILURES_REMEMBERED && !seen.contains_key(&key) {
            let window = self.window;
            seen.retain(|_, (_, since)| since.elapsed() < window);
            if seen.len() >= FAILURES_REMEMBERED {
                // Memory stays bounded: a new key is not followed until room is made.
                return;
            }
        }
        let entry = seen.entry(key).or_insert((0, std::time::Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, std::time::Instant::now());
        }
        entry.0 += 1;
    }
}

/// What the console serves besides the integrations.
pub struct Setup {
    /// name → (bot id, token) of each Telegram bot, whose owners may sign in from its Mini App.
    pub telegram_bots: HashMap<String, (i64, String)>,
    pub bots: Vec<crate::pipeline::BotContext>,
    /// The configured purposes, published with each new policy version.
    pub purposes: Vec<crate::consent::Purpose>,
    /// Days between an erasure decided in the console and the purge, as for `/delete`.
    pub erasure_grace_days: u32,
    /// Counts not yet in the database are added before the overview reads them.
    pub metrics: Arc<crate::app::metrics::Metrics>,
    /// The configured system prompt (none with the offline echo), shown until a bot has its own.
    pub system_prompt: Option<String>,
    /// The configured redactor, for documents added to a knowledge base here.
    pub redactor: crate::redact::Redactor,
    pub embedder: Option<Arc<crate::embeddings::Embedder>>,
}

/// The console's routes.
pub fn router(integrations: Arc<Integrations>, setup: Setup) -> Router {
    let secure = integrations.public_base.starts_with("https://");
    let console = Console {
        i: integrations,
        secure,
        by_address: Arc::new(Failures::new(20, std::time::Duration::from_secs(600))),
        by_key: Arc::new(Failures::new(5, std::time::Duration::from_secs(300))),
        verified: Arc::new(tokio::sync::Mutex::new(None)),
        miniapp_bots: Arc::new(setup.telegram_bots),
        bots: Arc::new(setup.bots),
        purposes: Arc::new(setup.purposes),
        erasure_grace_days: setup.erasure_grace_days,
        metrics: setup.metrics,
        system_prompt: Arc::new(setup.system_prompt),
        redactor: Arc::new(setup.redactor),
        embedder: setup.embedder,
    };
    let router = Router::new()
        .route("/console", get(|| async { see_other("/console/") }))
        .route("/console/", get(pages::overview))
        .route("/console/connections", get(connections::page_))
        .route(
            "/console/connections/{id}/revoke",
            get(connections::confirm_revoke).post(connections::revoke),
        )
        .route("/console/connections/{id}", get(connections::history))
        .route("/console/audit", get(pages::audit))
        .route("/console/people", get(people::page_).post(people::lookup))
        .route("/console/people/export", post(people::export))
        .route("/console/people/erase", post(people::erase))
        .route("/console/knowledge", get(knowledge::page_))
        .route(
            "/console/knowledge/add",
            // A file of up to 2 MB, and the form around it.
            post(knowledge::add).layer(axum::extract::DefaultBodyLimit::max(
                crate::pipeline::knowledge::MAX_BYTES as usize + 64 * 1024,
            )),
        )
        .route("/console/knowledge/remove", post(knowledge::remove))
        .route("/console/knowledge/redact", post(knowledge::redact))
        .route("/console/tools/remove", post(knowledge::remove_tool))
        .route("/console/settings", get(settings::page_))
        .route("/console/settings/assistant", post(assistant::save))
        .route("/console/settings/keys", post(settings::create))
        .route("/console/settings/keys/revoke", post(settings::revoke))
        .route("/console/policy", get(policy::page_))
        .route("/console/policy/publish", post(policy::publish))
        .route("/console/login", get(auth::login_page).post(auth::login))
        .route("/console/login/second", get(auth::second_page))
        .route("/console/login/enrol", post(auth::enrol))
        .route("/console/login/code", post(auth::code))
        .route(
            "/console/login/link/{token}",
            get(links::open).post(links::use_link),
        )
        .route("/console/logout", post(auth::logout))
        .route("/console/app/{bot}", get(miniapp::app_page))
        .route("/console/app/{bot}/session", post(miniapp::app_session))
        .route("/console/assets/console.css", get(stylesheet))
        .with_state(console);
    // Limited per client address before anything is looked up or audited.
    super::limits::per_client(router, 20, 60)
}

/// A browser's cross-site POST (another site's form or script): refused for sign-ins that have
/// no form token of their own, so no one can sign someone else's browser in to their console.
fn cross_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site")
}

/// Forgets an admin key's authenticator and recovery codes and ends its console sessions;
/// `false` when it had none.
pub async fn reset_totp(
    db: &sea_orm::DatabaseConnection,
    key: i64,
) -> Result<bool, sea_orm::DbErr> {
    use sea_orm::EntityTrait;
    let removed = consentgate_entity::admin_totp::Entity::delete_by_id(key)
        .exec(db)
        .await?
        .rows_affected
        == 1;
    session::end_all(db, &format!("key:{key}")).await?;
    Ok(removed)
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

/// A 303 to `to`.
fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// A page: the console's layout around `body`, with the console's security headers.
fn page(status: StatusCode, title: &str, session: Option<&Session>, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · ConsentGate console" }
                link rel="stylesheet" href="/console/assets/console.css";
            }
            body {
                @if let Some(s) = session.filter(|s| s.stage == Stage::Full) {
                    header {
                        nav aria-label="Console" {
                            a href="/console/" { "Overview" }
                            a href="/console/connections" { "Connections" }
                            a href="/console/policy" { "Policy" }
                            @if s.role == session::Role::Admin {
                                a href="/console/people" { "People" }
                            }
                            a href="/console/knowledge" { "Knowledge" }
                            a href="/console/settings" { "Settings" }
                            @if s.role != session::Role::Owner { a href="/console/audit" { "Audit" } }
                        }
                        form method="post" action="/console/logout" class="signout" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            span class="who" {
                                @match s.owner() {
                                    Some(p) => { "owner " (p.get(..12).unwrap_or(p)) }
                                    None => { (s.principal) " · " (s.role.as_str()) }
                                }
                            }
                            button type="submit" { "Sign out" }
                            button type="submit" name="everywhere" value="1" { "Sign out everywhere" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    let mut response = (status, markup.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A refusal (403, saying `why`) unless the session's role is one of `allowed`.
fn unless_role(s: &Session, allowed: &[session::Role], why: &str) -> Option<Response> {
    (!allowed.contains(&s.role)).then(|| problem(StatusCode::FORBIDDEN, "Refused", why, Some(s)))
}

/// Auditors look and change nothing.
const AUDITORS_READ: &str = "Auditors may look, not change.";

/// A short page saying something went wrong, in words.
fn problem(status: StatusCode, title: &str, text: &str, session: Option<&Session>) -> Response {
    page(status, title, session, html! { p { (text) } })
}

fn unavailable() -> Response {
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "Unavailable",
        "The database did not answer. Please try again in a moment.",
        None,
    )
}

/// The value of cookie `name`.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl Console {
    /// A `Set-Cookie` for `name` = `value` on `path`; `None` for the value clears it.
    fn set_cookie(
        &self,
        name: &str,
        value: Option<&str>,
        path: &str,
        same_site: &str,
    ) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let value = match value {
            Some(v) => format!("{name}={v}; Path={path}; HttpOnly; SameSite={same_site}{secure}"),
            None => {
                format!("{name}=; Path={path}; HttpOnly; SameSite={same_site}{secure}; Max-Age=0")
            }
        };
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    fn session_cookie(&self, token: Option<&str>) -> HeaderValue {
        self.set_cookie(COOKIE, token, "/console", "Lax")
    }

    /// The session the request carries, at any stage.
    async fn session(&self, headers: &HeaderMap) -> Result<Option<Session>, Response> {
        let Some(token) = cookie(headers, COOKIE) else {
            return Ok(None);
        };
        session::find(&self.i.db, token)
            .await
            .map_err(|_| unavailable())
    }

    /// The signed-in session, or a redirect to the sign-in page.
    async fn signed_in(&self, headers: &HeaderMap) -> Result<Session, Response> {
        match self.session(headers).await? {
            Some(s) if s.stage == Stage::Full => Ok(s),
            _ => Err(see_other("/console/login")),
        }
    }

    /// The signed-in session, if the form carries its CSRF token; else a refusal.
    async fn changing(&self, headers: &HeaderMap, csrf: &str) -> Result<Session, Response> {
        let s = self.signed_in(headers).await?;
        if !consentgate_adapters::constant_time_eq(csrf.as_bytes(), s.csrf.as_bytes()) {
            return Err(problem(
                StatusCode::FORBIDDEN,
                "Refused",
                "This form is out of date or did not come from the console. Go back, reload the page and try again.",
                Some(&s),
            ));
        }
        Ok(s)
    }

    /// The bots a session may see: every one (`None`) for admin and auditor keys; for an
    /// owner, the bots they own (checked on every request, so a removed owner sees nothing).
    async fn bots_of(&self, s: &Session) -> Result<Option<Vec<i64>>, Response> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let Some(pseudonym) = s.owner() else {
            return Ok(None);
        };
        let db = &self.i.db;
        let subject = consentgate_entity::subjects::Entity::find()
            .filter(consentgate_entity::subjects::Column::Pseudonym.eq(pseudonym))
            .one(db)
            .await
            .map_err(|_| unavailable())?;
        // Someone whose erasure was decided owns nothing here any more.
        let Some(subject) = subject.filter(|s| s.erasure_requested_at.is_none()) else {
            return Ok(Some(Vec::new()));
        };
        let names = crate::rights::export::bot_names(db)
            .await
            .map_err(|_| unavailable())?;
        let pseudonym = crate::privacy::pseudonym::Pseudonym::from_stored(pseudonym.to_string());
        let mut mine = Vec::new();
        for id in names.keys() {
            if self
                .i
                .is_owner(*id, subject.id, &pseudonym)
                .await
                .map_err(|_| unavailable())?
            {
                mine.push(*id);
            }
        }
        mine.sort_unstable();
        Ok(Some(mine))
    }

    /// Signs an owner in (`owner:{pseudonym}`, vouched for by a link or by Telegram), audited
    /// with how (`via`), and sends them to the overview.
    async fn sign_in_owner(&self, principal: &str, via: &str) -> Response {
        let Ok((token, s)) =
            session::open(&self.i.db, principal, session::Role::Owner, Stage::Full).await
        else {
            return unavailable();
        };
        let mut detail = s.actor();
        detail["via"] = serde_json::json!(via);
        if !self
            .audit(crate::audit::Action::ConsoleSignedIn, detail)
            .await
        {
            let _ = session::end(&self.i.db, s.id).await;
            return unavailable();
        }
        let mut response = see_other("/console/");
        response
            .headers_mut()
            .append(header::SET_COOKIE, self.session_cookie(Some(&token)));
        response
    }

    /// The signed-in session, if its role is one of `allowed`; else the refusal saying `why`.
    async fn signed_in_as(
        &self,
        headers: &HeaderMap,
        allowed: &[session::Role],
        why: &str,
    ) -> Result<Session, Response> {
        let s = self.signed_in(headers).await?;
        match unless_role(&s, allowed, why) {
            Some(refused) => Err(refused),
            None => Ok(s),
        }
    }

    /// [`Console::changing`], for the roles `allowed` only.
    async fn changing_as(
        &self,
        headers: &HeaderMap,
        csrf: &str,
        allowed: &[session::Role],
        why: &str,
    ) -> Result<Session, Response> {
        let s = self.changing(headers, csrf).await?;
        match unless_role(&s, allowed, why) {
            Some(refused) => Err(refused),
            None => Ok(s),
        }
    }

    /// Whether this client may try to sign in again now.
    fn address_allows(&self, client: &Option<Extension<ClientAddr>>) -> bool {
        match client {
            Some(Extension(ClientAddr(addr))) => !self.by_address.blocked(addr),
            None => true,
        }
    }

    /// A failed sign-in step from `client` (and for `key`, once known).
    fn failed(&self, client: &Option<Extension<ClientAddr>>, key: Option<i64>) {
        if let Some(Extension(ClientAddr(addr))) = client {
            self.by_address.failed(*addr);
        }
        if let Some(key) = key {
            self.by_key.failed(key);
        }
    }

    /// Records an audit entry; `false` (and a log line) when it could not be written.
    async fn audit(&self, action: crate::audit::Action, detail: serde_json::Value) -> bool {
        match self
            .i
            .audit
            .record(&self.i.db, None, None, action, detail)
            .await
        {
            Ok(()) => true,
            Err(err) => {
                tracing::error!(error = %err, "console: audit entry not written");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_count_before_they_are_checked_and_successes_are_forgiven() {
        let f: Failures<i64> = Failures::new(5, std::time::Duration::from_secs(300));
        // Five attempts in flight at once: the sixth is refused before any is decided.
        for _ in 0..5 {
            assert!(f.try_begin(7));
        }
        assert!(!f.try_begin(7));
        assert!(f.blocked(&7));
        // One of them succeeded: it does not count.
        f.forgive(&7);
        assert!(f.try_begin(7));
        assert!(!f.try_begin(7));
        // Another key is not held up.
        assert!(f.try_begin(8));
    }
}
