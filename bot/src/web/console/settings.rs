//! The settings page: each assistant's system prompt and purposes' texts as a draft
//! ([`super::assistant`]), and for admin keys the admin keys — each key's role, label, use and
//! whether it has a second factor — with creating one (shown once) and revoking one, each
//! audited with the admin's key.

use axum::{
    Form,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use maud::{Markup, html};
use sea_orm::EntityTrait;
use serde::Deserialize;
use serde_json::json;

use super::{Console, page, problem, session::Role, session::Session, unavailable};
use crate::audit::Action;
use crate::web::admin;

/// The assistants' settings a session may see, and for admin keys the keys.
pub(super) async fn page_(State(c): State<Console>, headers: HeaderMap) -> Response {
    let s = match c.signed_in(&headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let assistants = match super::assistant::section(&c, &s).await {
        Ok(markup) => markup,
        Err(r) => return r,
    };
    let keys = if s.role == Role::Admin {
        match keys_section(&c, &s).await {
            Ok(markup) => markup,
            Err(r) => return r,
        }
    } else {
        html! {}
    };
    page(
        StatusCode::OK,
        "Settings",
        Some(&s),
        html! { (assistants) (keys) },
    )
}

/// The admin keys, with making and revoking one.
async fn keys_section(c: &Console, s: &Session) -> Result<Markup, Response> {
    let (Ok(keys), Ok(totp)) = (
        admin::list_keys(&c.i.db).await,
        consentgate_entity::admin_totp::Entity::find()
            .all(&c.i.db)
            .await,
    ) else {
        return Err(unavailable());
    };
    let enrolled = |id: i64| {
        totp.iter()
            .any(|t| t.key_id == id && t.confirmed_at.is_some())
    };
    let when = |v: &serde_json::Value| {
        v.as_str()
            .map(|t| t.get(..16).unwrap_or(t).replace('T', " "))
            .unwrap_or_else(|| "never".into())
    };
    let body = html! {
        h2 { "Admin keys" }
        p class="note" { "Admin keys read and change; auditor keys only read. A key is shown once, when it is made; only its SHA-256 is kept." }
        div class="table" { table class="stack" {
            thead { tr { th { "id" } th { "role" } th { "label" } th { "second factor" } th { "created" } th { "last used" } th { "status" } th { span class="note" { "action" } } } }
            tbody { @for k in &keys {
                @let id = k["id"].as_i64().unwrap_or_default();
                @let revoked = !k["revoked_at"].is_null();
                tr {
                    td data-label="id" { (id) }
                    td data-label="role" { (k["role"].as_str().unwrap_or_default()) }
                    td data-label="label" { (k["label"].as_str().unwrap_or_default()) }
                    td data-label="second factor" { @if enrolled(id) { "set up" } @else { "not yet" } }
                    td data-label="created" { (when(&k["created_at"])) }
                    td data-label="last used" { (when(&k["last_used_at"])) }
                    td data-label="status" { @if revoked { "revoked" } @else { "active" } }
                    td data-label="" {
                        @if !revoked && Some(id) != s.key_id() {
                            form method="post" action="/console/settings/keys/revoke" class="inline" {
                                input type="hidden" name="csrf" value=(s.csrf);
                                input type="hidden" name="id" value=(id);
                                button type="submit" class="danger" aria-label=(format!("Revoke key {id}")) { "Revoke" }
                            }
                        }
                    }
                }
            } }
        } }
        h2 { "Make a key" }
        form method="post" action="/console/settings/keys" {
            input type="hidden" name="csrf" value=(s.csrf);
            label for="role" { "Role" }
            select id="role" name="role" { option value="auditor" { "auditor (reads only)" } option value="admin" { "admin" } }
            label for="label" { "Who or what it is for" }
            input type="text" id="label" name="label" maxlength="100";
            button type="submit" class="primary" { "Make the key" }
        }
    };
    Ok(body)
}

#[derive(Deserialize)]
pub(super) struct NewKey {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    label: String,
}

/// Makes a key and shows it, this once.
pub(super) async fn create(
    State(c): State<Console>,
    headers: HeaderMap,
    Form(form): Form<NewKey>,
) -> Response {
    let s = match c
        .changing_as(
            &headers,
            &form.csrf,
            &[Role::Admin],
            "Settings are for admin keys.",
        )
        .await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(role) = admin::Role::parse(&form.role) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "Not made",
            "Choose admin or auditor.",
            Some(&s),
        );
    };
    let label: String = form.label.trim().chars().take(100).collect();
    let Ok(key) = admin::create_key(&c.i.db, role, &label).await else {
        return unavailable();
    };
    let mut detail = s.actor();
    detail["made"] = json!({"role": role.as_str(), "label": label});
    if !c.audit(Action::AdminKeyCreated, detail).await {
        return unavailable();
    }
    page(
        StatusCode::OK,
        "Key made",
        Some(&s),
        html! {
            p { "The new " (role.as_str()) " key, shown only now. Give it to whom it is for; at their first console sign-in they set up their authenticator." }
            p { code class="mono" { (key) } }
            p { a href="/console/settings" { "Back to settings" } }
        },
    )
}

#[derive(Deserialize)]
pub(super) struct RevokeKey {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: i64,
}

/// Revokes a key (not one's own): it stops working, and its sessions end.
pub(super) async fn revoke(
    State(c): State<Console>,
    headers: HeaderMap,
    Form(form): Form<RevokeKey>,
) -> Response {
    let s = match c
        .changing_as(
            &headers,
            &form.csrf,
            &[Role::Admin],
            "Settings are for admin keys.",
        )
        .await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    if Some(form.id) == s.key_id() {
        return problem(
            StatusCode::BAD_REQUEST,
            "Not revoked",
            "A key cannot revoke itself here: use another admin key, or the command line.",
            Some(&s),
        );
    }
    match admin::revoke_key(&c.i.db, form.id).await {
        Ok(true) => {}
        Ok(false) => {
            return problem(
                StatusCode::NOT_FOUND,
                "Not found",
                "No active key has that id.",
                Some(&s),
            );
        }
        Err(_) => return unavailable(),
    }
    let mut detail = s.actor();
    detail["key_revoked"] = json!(form.id);
    c.audit(Action::AdminKeyRevoked, detail).await;
    page(
        StatusCode::OK,
        "Key revoked",
        Some(&s),
        html! {
            p class="ok" { "Key " (form.id) " no longer works; its console sessions ended." }
            p { a href="/console/settings" { "Back to settings" } }
        },
    )
}
