//! The connections page: every linked account a session may see, with one-click revocation
//! (remotely at the provider, as `/unlink` does) and each connection's history from the audit
//! log.

use axum::{
    Form,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use maud::html;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use serde_json::json;

use consentgate_entity::audit_log;

use super::pages::when;
use super::session::Role;
use super::{Console, page, problem, unavailable};
use crate::audit::Action;
use crate::owners::integrations::Filter;

/// Every linked integration, each with its history and revoke button.
pub(super) async fn page_(State(c): State<Console>, headers: HeaderMap) -> Response {
    let s = match c.signed_in(&headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let links = match visible_links(&c, &s).await {
        Ok(links) => links,
        Err(r) => return r,
    };
    let may_revoke = s.role != Role::Auditor;
    let body = html! {
        @if links.is_empty() {
            p { "No linked accounts yet. Owners link them from their chat with " code { "/link" } "." }
        } @else {
            div class="table" { table class="stack" {
                thead { tr {
                    th { "bot" } th { "provider" } th { "owner (pseudonym)" } th { "scopes" }
                    th { "status" } th { "linked" } th { "last used" } th { "last refreshed" } th { span class="note" { "actions" } }
                } }
                tbody { @for l in &links { tr {
                    td data-label="bot" { (l.bot) }
                    td data-label="provider" { (l.provider) }
                    td data-label="owner" { code { (l.owner.get(..12).unwrap_or(&l.owner)) } }
                    td data-label="scopes" { (l.scopes.join(", ")) }
                    td data-label="status" { (l.status.as_str()) }
                    td data-label="linked" { (when(&l.linked_at)) }
                    td data-label="last used" { (l.last_used_at.as_ref().map(when).unwrap_or_else(|| "never".into())) }
                    td data-label="last refreshed" { (l.last_refreshed_at.as_ref().map(when).unwrap_or_else(|| "never".into())) }
                    td data-label="" {
                        a href=(format!("/console/connections/{}", l.id)) aria-label=(format!("History of {} link {}", l.provider, l.id)) { "History" }
                        @if may_revoke && l.status.as_str() != "revoked" {
                            " "
                            a href=(format!("/console/connections/{}/revoke", l.id)) aria-label=(format!("Revoke {} link {}", l.provider, l.id)) { "Revoke" }
                        }
                    }
                } } }
            } }
        }
    };
    page(StatusCode::OK, "Connections", Some(&s), body)
}

/// The links a session may see: every one for keys, an owner's bots' for an owner.
async fn visible_links(
    c: &Console,
    s: &super::session::Session,
) -> Result<Vec<crate::owners::integrations::Link>, Response> {
    let visible = c.bots_of(s).await?;
    let links =
        c.i.list(&Filter::default())
            .await
            .map_err(|_| unavailable())?;
    let names = crate::rights::export::bot_names(&c.i.db)
        .await
        .map_err(|_| unavailable())?;
    Ok(links
        .into_iter()
        .filter(|l| match &visible {
            None => true,
            Some(mine) => names
                .iter()
                .any(|(id, name)| *name == l.bot && mine.contains(id)),
        })
        .collect())
}

/// The link a session asked for by id, if it may see it.
async fn visible_link(
    c: &Console,
    s: &super::session::Session,
    id: i64,
) -> Result<crate::owners::integrations::Link, Response> {
    visible_links(c, s)
        .await?
        .into_iter()
        .find(|l| l.id == id)
        .ok_or_else(|| {
            problem(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such connection.",
                Some(s),
            )
        })
}

/// What a connection's history is read from.
const HISTORY_ACTIONS: [Action; 7] = [
    Action::IntegrationLinked,
    Action::IntegrationConfirmed,
    Action::IntegrationDenied,
    Action::IntegrationRefreshed,
    Action::IntegrationBroken,
    Action::IntegrationRevoked,
    Action::AdminRevoke,
];

/// Entries of a connection's history shown, newest first.
const HISTORY: usize = 200;

/// A connection's history from the audit log: linked, confirmed, refreshed, broken, revoked
/// (and by whom), newest first.
pub(super) async fn history(
    State(c): State<Console>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let s = match c.signed_in(&headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let link = match visible_link(&c, &s, id).await {
        Ok(link) => link,
        Err(r) => return r,
    };
    let Ok(names) = crate::rights::export::bot_names(&c.i.db).await else {
        return unavailable();
    };
    let bot_id = names
        .iter()
        .find(|(_, n)| **n == link.bot)
        .map(|(id, _)| *id);
    // The link's bot's entries (and the console's own, which name no bot) that name this link
    // in their detail (compact JSON, keys in order: `"integration":ID` then `,` or `}`), newest
    // first; the JSON is read again below to be sure.
    let entries = audit_log::Entity::find()
        .filter(audit_log::Column::Action.is_in(HISTORY_ACTIONS.map(|a| a.as_str())))
        .filter(
            Condition::any()
                .add(audit_log::Column::BotId.eq(bot_id))
                .add(audit_log::Column::BotId.is_null()),
        )
        .filter(
            Condition::any()
                .add(audit_log::Column::Detail.like(format!("%\"integration\":{id},%")))
                .add(audit_log::Column::Detail.like(format!("%\"integration\":{id}}}%"))),
        )
        .order_by_desc(audit_log::Column::Id)
        .limit(HISTORY as u64)
        .all(&c.i.db)
        .await;
    let Ok(entries) = entries else {
        return unavailable();
    };
    let entries: Vec<(audit_log::Model, serde_json::Value)> = entries
        .into_iter()
        .filter_map(|e| {
            let detail: serde_json::Value = serde_json::from_str(&e.detail).ok()?;
            (detail["integration"].as_i64() == Some(id)).then_some((e, detail))
        })
        .collect();
    let who = |e: &audit_log::Model, d: &serde_json::Value| -> String {
        if let Some(key) = d["key"].as_i64() {
            return format!("admin key {key}");
        }
        if let Some(owner) = d["owner"].as_str() {
            return format!("owner {}", owner.get(..12).unwrap_or(owner));
        }
        match d["by"].as_str() {
            Some(by) => by.to_string(),
            None => e
                .subject
                .as_deref()
                .map(|p| format!("owner {}", p.get(..12).unwrap_or(p)))
                .unwrap_or_default(),
        }
    };
    let keys = s.role != Role::Owner;
    let body = html! {
        p { strong { (link.provider) } " for " strong { (link.bot) } ", owner " code { (link.owner.get(..12).unwrap_or(&link.owner)) } ": " (link.status.as_str()) ". Scopes: " (link.scopes.join(", ")) "." }
        @if entries.is_empty() {
            p { "Nothing recorded about this connection yet." }
        } @else {
            div class="table" { table class="stack" {
                thead { tr { th { "#" } th { "time" } th { "what" } th { "by" } @if keys { th { "detail" } } } }
                tbody { @for (e, d) in &entries { tr {
                    td data-label="#" { (e.seq.map(|s| s.to_string()).unwrap_or_default()) }
                    td data-label="time" { (when(&e.at)) }
                    td data-label="what" { (e.action) }
                    td data-label="by" { (who(e, d)) }
                    // The audit log's details are the operator's; an owner sees what and when.
                    @if keys { td data-label="detail" { code { (e.detail) } } }
                } } }
            } }
        }
        p { a href="/console/connections" { "Back to connections" } }
    };
    page(StatusCode::OK, "Connection history", Some(&s), body)
}

/// Asks once: revoke this link?
pub(super) async fn confirm_revoke(
    State(c): State<Console>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let s = match c
        .signed_in_as(&headers, &[Role::Admin, Role::Owner], super::AUDITORS_READ)
        .await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    let link = match visible_link(&c, &s, id).await {
        Ok(link) => link,
        Err(r) => return r,
    };
    page(
        StatusCode::OK,
        "Revoke this connection?",
        Some(&s),
        html! {
            p { "The " strong { (link.provider) } " account linked to " strong { (link.bot) } " (owner " code { (link.owner.get(..12).unwrap_or(&link.owner)) } ") stops working at once: its tokens are revoked at the provider and deleted here." }
            form method="post" action=(format!("/console/connections/{id}/revoke")) {
                input type="hidden" name="csrf" value=(s.csrf);
                button type="submit" class="danger" autofocus { "Revoke" }
                " "
                a href="/console/connections" { "Cancel" }
            }
        },
    )
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Revokes a link, remotely at the provider as `/unlink` does; audited with the admin's key.
pub(super) async fn revoke(
    State(c): State<Console>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let s = match c
        .changing_as(
            &headers,
            &form.csrf,
            &[Role::Admin, Role::Owner],
            super::AUDITORS_READ,
        )
        .await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    // An owner may revoke only what their own bots hold.
    if let Err(r) = visible_link(&c, &s, id).await {
        return r;
    }
    let mut detail = s.actor();
    detail["integration"] = json!(id);
    detail["via"] = json!("console");
    if !c.audit(Action::AdminRevoke, detail).await {
        return unavailable();
    }
    let by = if s.role == Role::Owner {
        "owner"
    } else {
        "admin"
    };
    match c.i.revoke(id, by).await {
        Ok(Some(r)) => page(
            StatusCode::OK,
            "Connection revoked",
            Some(&s),
            html! {
                p class="ok" { "The " (r.provider) " link is revoked here. At the provider: " (r.remote.as_str().replace('_', " ")) "." }
                p { a href="/console/connections" { "Back to connections" } }
            },
        ),
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such connection.",
            Some(&s),
        ),
        Err(_) => unavailable(),
    }
}
