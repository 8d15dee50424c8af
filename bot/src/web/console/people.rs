//! The people page (admin keys only): a person looked up by pseudonym prefix, their consent
//! record as proof, and their export for a request that came by other means (e-mail), audited
//! with the admin's key. The pseudonym travels in forms, never in a URL.

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
        },
        Err(err) => html! {
            (lookup_form(&s, &form.who))
            p class="error" role="alert" { (err.to_string()) }
        },
    };
    page(StatusCode::OK, "People", Some(&s), body)
}

/// The person's export, as the chat's `/export` builds it, as a download; audited.
pub(super) async fn export(
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
    let subject = match crate::cli::consent::find_subject(&c.i.db, &form.who).await {
        Ok(subject) => subject,
        Err(err) => {
            return problem(
                StatusCode::NOT_FOUND,
                "Not found",
                &err.to_string(),
                Some(&s),
            );
        }
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
