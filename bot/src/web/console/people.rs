//! The people page (admin keys only): a person looked up by pseudonym prefix, their consent
//! record as proof, and their export or erasure for a request that came by other means
//! (e-mail), audited with the admin's key. An erasure decided here is the chat's `/delete`:
//! processing stops at once, the person is told on every chat the gateway can write to, and
//! may undo it with `/restore` until the purge. The pseudonym travels in forms, never in a URL.

use axum::{
    Form,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

use super::{Console, page, problem, session::Role, unavailable};
use crate::audit::Action;

#[derive(Deserialize)]
pub(super) struct WhoForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    who: String,
    /// Set by the confirmation page's button.
    #[serde(default)]
    confirmed: Option<String>,
}

/// Why anyone but an admin key is refused here.
const NOT_YOURS: &str = "Looking people up is for admin keys.";

fn lookup_form(s: &super::session::Session, who: &str) -> Markup {
    html! {
        form method="post" action="/console/people" {
            input type="hidden" name="csrf" value=(s.csrf);
            label for="who" { "Pseudonym, or at least its first 8 hex digits" }
            input type="text" id="who" name="who" value=(who) autocomplete="off" required;
            " " button type="submit" class="primary" { "Look up" }
        }
    }
}

pub(super) async fn page_(State(c): State<Console>, headers: HeaderMap) -> Response {
    let s = match c.signed_in_as(&headers, &[Role::Admin], NOT_YOURS).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    page(
        StatusCode::OK,
        "People",
        Some(&s),
        html! {
            p { "For a request that reached you by other means (an e-mail, a letter): find the person by the pseudonym they quote from /privacy or /export, see their consent record, and export their data." }
            (lookup_form(&s, ""))
        },
    )
}

/// The consent record of the person looked up.
pub(super) async fn lookup(
    State(c): State<Console>,
    headers: HeaderMap,
    Form(form): Form<WhoForm>,
) -> Response {
    let s = match c
        .changing_as(&headers, &form.csrf, &[Role::Admin], NOT_YOURS)
        .await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    let record = crate::cli::consent::show(&c.i.db, &form.who, false).await;
    let mut detail = s.actor();
    detail["endpoint"] = json!("console.people");
    if !c.audit(Action::AdminRead, detail).await {
        return unavailable();
    }
    let body = match record {
        Ok(text) => html! {
            (lookup_form(&s, &form.who))
            h2 { "Consent record" }
            pre class="mono" { (text) }
            form method="post" action="/console/people/export" {
                input type="hidden" name="csrf" value=(s.csrf);
                input type="hidden" name="who" value=(form.who.trim());
                button type="submit" { "Export their data (JSON)" }
            }
            form method="post" action="/console/people/erase" {
                input type="hidden" name="csrf" value=(s.csrf);
                input type="hidden" name="who" value=(form.who.trim());
                button type="submit" class="danger" { "Erase their data…" }
            }
        },
        Err(err) => html! {
            (lookup_form(&s, &form.who))
            p class="error" role="alert" { (err.to_string()) }
        },
    };
    page(StatusCode::OK, "People", Some(&s), body)
}

/// The person a form names, or a page saying why not.
async fn subject_of(
    c: &Console,
    s: &super::session::Session,
    who: &str,
) -> Result<consentgate_entity::subjects::Model, Response> {
    crate::cli::consent::find_subject(&c.i.db, who)
        .await
        .map_err(|err| {
            problem(
                StatusCode::NOT_FOUND,
                "Not found",
                &err.to_string(),
                Some(s),
            )
        })
}

/// An admin key's change about the person a form names: the session and the person.
async fn changing_for(
    c: &Console,
    headers: &HeaderMap,
    form: &WhoForm,
) -> Result<(super::session::Session, consentgate_entity::subjects::Model), Response> {
    let s = c
        .changing_as(headers, &form.csrf, &[Role::Admin], NOT_YOURS)
        .await?;
    let subject = subject_of(c, &s, &form.who).await?;
    Ok((s, subject))
}

/// The person's export, as the chat's `/export` builds it, as a download; audited.
pub(super) async fn export(
    State(c): State<Console>,
    headers: HeaderMap,
    Form(form): Form<WhoForm>,
) -> Response {
    let (s, subject) = match changing_for(&c, &headers, &form).await {
        Ok(both) => both,
        Err(r) => return r,
    };
    let Ok(Some(data)) =
        crate::rights::export::build(&c.i.db, &c.i.keys, subject.id, Utc::now()).await
    else {
        return unavailable();
    };
    let mut detail = s.actor();
    detail["via"] = json!("console");
    let pseudonym = crate::privacy::pseudonym::Pseudonym::from_stored(subject.pseudonym.clone());
    if c.i
        .audit
        .record(
            &c.i.db,
            None,
            Some(&pseudonym),
            Action::RightsExport,
            detail,
        )
        .await
        .is_err()
    {
        return unavailable();
    }
    let mut response = (
        StatusCode::OK,
        serde_json::to_string_pretty(&data).unwrap_or_default(),
    )
        .into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"consentgate-export.json\""),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Erasure on a request that came by other means: asked once, then decided as `/delete` is.
pub(super) async fn erase(
    State(c): State<Console>,
    headers: HeaderMap,
    Form(form): Form<WhoForm>,
) -> Response {
    let (s, subject) = match changing_for(&c, &headers, &form).await {
        Ok(both) => both,
        Err(r) => return r,
    };
    let short = subject.pseudonym.get(..12).unwrap_or(&subject.pseudonym);
    if let Some(after) = subject.purge_after {
        return page(
            StatusCode::OK,
            "Erasure already decided",
            Some(&s),
            html! {
                p { "The data of " code { (short) } " is already due to be deleted on " (after.format("%Y-%m-%d %H:%M UTC")) "; nothing of theirs is processed until then." }
                p { a href="/console/people" { "Back to people" } }
            },
        );
    }
    let grace = c.erasure_grace_days;
    if form.confirmed.as_deref() != Some("yes") {
        return page(
            StatusCode::OK,
            "Erase this person's data?",
            Some(&s),
            html! {
                p { "Do this only for a request you have checked comes from the person " code { (short) } "." }
                ul {
                    li { "Nothing they write is processed any more, from now on." }
                    li { "Accounts they linked as a bot's owner are revoked, at the provider too." }
                    @if grace == 0 {
                        li { "Everything stored about them is deleted now; the audit log keeps its entries (pseudonyms and metadata only)." }
                    } @else {
                        li { "Everything stored about them is deleted after " (grace) " days; until then they can undo it from their chat with " code { "/restore" } "." }
                    }
                    li { "They are told on every chat the gateway can write to." }
                }
                form method="post" action="/console/people/erase" {
                    input type="hidden" name="csrf" value=(s.csrf);
                    // The whole pseudonym: the erasure lands on the person shown, whoever else
                    // comes to share the prefix meanwhile.
                    input type="hidden" name="who" value=(subject.pseudonym);
                    input type="hidden" name="confirmed" value="yes";
                    button type="submit" class="danger" autofocus { "Erase" }
                    " "
                    a href="/console/people" { "Cancel" }
                }
            },
        );
    }
    match erase_now(&c, &s, &subject, grace).await {
        Ok(None) => page(
            StatusCode::OK,
            "Erasure already decided",
            Some(&s),
            html! {
                p { "The data of " code { (short) } " was set to be deleted a moment ago by another request; nothing more was done." }
                p { a href="/console/people" { "Back to people" } }
            },
        ),
        Ok(Some(text)) => page(
            StatusCode::OK,
            "Erasure decided",
            Some(&s),
            html! {
                p class="ok" { (text) }
                p { a href="/console/people" { "Back to people" } }
            },
        ),
        Err(err) => {
            tracing::error!(error = %err, "console: erasure not decided");
            unavailable()
        }
    }
}

/// `/delete` for a person, decided by the session's admin key: what the page then says, or
/// `None` when another request decided it first.
async fn erase_now(
    c: &Console,
    s: &super::session::Session,
    subject: &consentgate_entity::subjects::Model,
    grace: u32,
) -> Result<Option<String>, sea_orm::DbErr> {
    use crate::rights::erasure;
    let pseudonym = crate::privacy::pseudonym::Pseudonym::from_stored(subject.pseudonym.clone());
    let revoked = c.i.revoke_owned_by(subject.id, "erasure").await?;
    let mut by = s.actor();
    by["via"] = json!("console");
    let purge_after = erasure::request(
        &c.i.db,
        &c.i.audit,
        erasure::Request {
            subject_id: subject.id,
            pseudonym: &pseudonym,
            bot_id: None,
            grace_days: grace,
            integrations_revoked: revoked,
            by: Some(by),
        },
        Utc::now(),
    )
    .await?;
    let Some(purge_after) = purge_after else {
        return Ok(None);
    };
    // An owner's console sessions end with their data.
    super::session::end_all(&c.i.db, &format!("owner:{}", subject.pseudonym)).await?;
    // Told before a purge deletes the ids it is sent to.
    let identities =
        crate::privacy::identity::identities_of(&c.i.db, &c.i.keys, subject.id).await?;
    let notice = if grace == 0 {
        ERASED_BY_REQUEST.to_string()
    } else {
        erasure_by_request(purge_after)
    };
    let told = c.i.notifier.tell(&identities, &notice).await;
    // The owners of the bots whose tools passed the person's data on are told where.
    crate::tools::erasure::tell_owners(&c.i, &pseudonym, None, crate::tools::erasure::Why::Asked)
        .await;
    if grace == 0 {
        erasure::purge(
            &c.i.db,
            &c.i.audit,
            subject.id,
            &pseudonym,
            erasure::Because::RequestNow,
        )
        .await?;
    }
    let when = if grace == 0 {
        "now".to_string()
    } else {
        format!("on {}", purge_after.format("%Y-%m-%d %H:%M UTC"))
    };
    Ok(Some(format!(
        "Nothing of theirs is processed any more; their data is deleted {when}. Linked accounts revoked: {revoked}. Told on {} chat(s); {} could not be reached.",
        told.sent,
        told.blocked + told.unreachable + told.failed
    )))
}

/// What a person is told when the operator erased their data at once.
const ERASED_BY_REQUEST: &str = "At a request that reached the operator of this assistant by other \
means (such as e-mail), everything stored about you here has been deleted. If you write again, you \
will be asked for consent again.";

/// What a person is told when the operator decided their erasure, with the date of the purge.
fn erasure_by_request(purge_after: chrono::DateTime<Utc>) -> String {
    format!(
        "At a request that reached the operator of this assistant by other means (such as \
         e-mail), nothing you write is processed any more, and everything stored about you will \
         be deleted on {} (UTC). If you did not ask for this, send /restore before then.",
        purge_after.format("%Y-%m-%d %H:%M")
    )
}
