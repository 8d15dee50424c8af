//! The policy page: every published version of a bot's policy (SHA-256, summary, effective
//! date), a side-by-side diff of any two, and publishing a new version with the configured
//! purposes and the bot's saved settings — the same operation as `consentgate policy publish`,
//! audited with who did it.

use axum::{
    Form,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;

use super::{Console, page, problem, session::Role, unavailable};
use crate::consent::{self, Draft, Policy, policy::Publishing};

#[derive(Deserialize, Default)]
pub(super) struct PolicyQuery {
    #[serde(default)]
    bot: Option<String>,
    #[serde(default)]
    a: Option<i32>,
    #[serde(default)]
    b: Option<i32>,
}

#[derive(Deserialize)]
pub(super) struct PublishForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    bot: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    effective: String,
    #[serde(default)]
    notify: Option<String>,
}

/// A side-by-side diff of two texts, line by line.
fn diff(old: &Policy, new: &Policy) -> Markup {
    use similar::{ChangeTag, TextDiff};
    let d = TextDiff::from_lines(&old.text, &new.text);
    html! {
        div class="table" { table class="diff" {
            caption { "Version " (old.version) " → version " (new.version) }
            thead { tr { th { "version " (old.version) } th { "version " (new.version) } } }
            tbody {
                @for change in d.iter_all_changes() {
                    @let line = change.value().trim_end_matches('\n');
                    @match change.tag() {
                        ChangeTag::Equal => tr { td { (line) } td { (line) } },
                        ChangeTag::Delete => tr { td class="del" { del { (line) } } td {} },
                        ChangeTag::Insert => tr { td {} td class="ins" { ins { (line) } } },
                    }
                }
            }
        } }
    }
}

/// The bots this session may see, by name: (id, name), in name order.
async fn bots_for(
    c: &Console,
    s: &super::session::Session,
) -> Result<Vec<(i64, String)>, Response> {
    let visible = c.bots_of(s).await?;
    let mut bots: Vec<(i64, String)> = c
        .bots
        .iter()
        .filter(|b| visible.as_ref().is_none_or(|v| v.contains(&b.id)))
        .map(|b| (b.id, b.name.clone()))
        .collect();
    bots.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(bots)
}

pub(super) async fn page_(
    State(c): State<Console>,
    headers: HeaderMap,
    Query(q): Query<PolicyQuery>,
) -> Response {
    let s = match c.signed_in(&headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let bots = match bots_for(&c, &s).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some((bot_id, bot_name)) = bots
        .iter()
        .find(|(_, n)| q.bot.as_deref().is_none_or(|b| b == n))
        .cloned()
    else {
        return problem(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such assistant here.",
            Some(&s),
        );
    };
    let Ok(versions) = consent::versions(&c.i.db, bot_id).await else {
        return unavailable();
    };
    let pick = |v: Option<i32>| v.and_then(|v| versions.iter().find(|p| p.version == v));
    let latest = versions.last();
    let before = versions.len().checked_sub(2).and_then(|i| versions.get(i));
    let (a, b) = (pick(q.a).or(before), pick(q.b).or(latest));
    let may_publish = s.role != Role::Auditor;
    let Ok(settings_pending) = super::assistant::pending(&c, bot_id).await else {
        return unavailable();
    };
    let body = html! {
        @if bots.len() > 1 {
            form method="get" action="/console/policy" {
                label for="bot" { "Assistant" }
                select id="bot" name="bot" {
                    @for (_, n) in &bots { option value=(n) selected[*n == bot_name] { (n) } }
                }
                " " button type="submit" { "Show" }
            }
        }
        h2 { "Published versions of " (bot_name) }
        div class="table" { table class="stack" {
            thead { tr { th { "version" } th { "label" } th { "effective" } th { "SHA-256 of the text" } th { "what changed" } } }
            tbody { @for v in versions.iter().rev() { tr {
                td data-label="version" { (v.version) }
                td data-label="label" { (v.label) }
                td data-label="effective" { (v.effective_at.format("%Y-%m-%d %H:%M UTC").to_string()) }
                td data-label="SHA-256" { code { (v.text_sha256) } }
                td data-label="what changed" { (v.summary) }
            } } }
        } }
        @if versions.len() > 1 {
            h2 { "Compare" }
            form method="get" action="/console/policy" {
                input type="hidden" name="bot" value=(bot_name);
                label for="a" { "From version" }
                select id="a" name="a" { @for v in &versions { option value=(v.version) selected[a.is_some_and(|a| a.version == v.version)] { (v.version) " · " (v.label) } } }
                label for="b" { "To version" }
                select id="b" name="b" { @for v in &versions { option value=(v.version) selected[b.is_some_and(|b| b.version == v.version)] { (v.version) " · " (v.label) } } }
                " " button type="submit" { "Compare" }
            }
            @if let (Some(a), Some(b)) = (a, b) { (diff(a, b)) }
        }
        @if may_publish {
            h2 { "Publish a new version" }
            p class="note" { "People are asked again for each purpose whose text changes; with notify, everyone who had agreed is told now." }
            @if settings_pending {
                p class="error" role="status" { "The assistant's settings saved on the " a href="/console/settings" { "Settings" } " page (system prompt, purposes' texts) differ from the version in effect: this version puts them live." }
            }
            form method="post" action="/console/policy/publish" {
                input type="hidden" name="csrf" value=(s.csrf);
                input type="hidden" name="bot" value=(bot_name);
                label for="text" { "Policy text" }
                textarea id="text" name="text" rows="12" required { (latest.map(|v| v.text.as_str()).unwrap_or_default()) }
                label for="summary" { "What changed, in words people understand" }
                input type="text" id="summary" name="summary" required;
                label for="label" { "Label (default: the effective date)" }
                input type="text" id="label" name="label";
                label for="effective" { "Effective (YYYY-MM-DD; default: now)" }
                input type="text" id="effective" name="effective" inputmode="numeric";
                label { input type="checkbox" name="notify" value="1"; " Tell everyone who had agreed" }
                button type="submit" class="primary" { "Publish" }
            }
        }
    };
    page(StatusCode::OK, "Policy", Some(&s), body)
}

/// Publishes a version: admins for any bot, owners for their own.
pub(super) async fn publish(
    State(c): State<Console>,
    headers: HeaderMap,
    Form(form): Form<PublishForm>,
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
    let bots = match bots_for(&c, &s).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(bot) = bots
        .iter()
        .find(|(_, n)| *n == form.bot)
        .and_then(|(id, _)| c.bots.iter().find(|b| b.id == *id))
    else {
        return problem(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such assistant here.",
            Some(&s),
        );
    };
    let back = |why: &str| problem(StatusCode::BAD_REQUEST, "Not published", why, Some(&s));
    if form.text.trim().is_empty() || form.text.len() > 200_000 {
        return back("The policy text is empty or too long. Go back and write it.");
    }
    if form.summary.trim().is_empty() {
        return back("Say what changed, in words people understand. Go back and add a summary.");
    }
    let effective_at = if form.effective.trim().is_empty() {
        Utc::now()
    } else {
        match crate::cli::policy::parse_effective(form.effective.trim()) {
            Ok(at) => at,
            Err(_) => return back("The effective date must be YYYY-MM-DD."),
        }
    };
    let draft = Draft {
        label: Some(form.label.trim())
            .filter(|l| !l.is_empty())
            .map_or_else(
                || effective_at.format("%Y-%m-%d").to_string(),
                str::to_string,
            ),
        // Line ends as browsers send them (CRLF) become the text's own.
        text: form.text.replace("\r\n", "\n"),
        summary: form.summary.trim().to_string(),
        effective_at,
        purposes: c.purposes.to_vec(),
        system_prompt: None,
    };
    let mut by = s.actor();
    by["via"] = serde_json::json!("console");
    let done = Publishing {
        db: &c.i.db,
        audit: &c.i.audit,
        keys: &c.i.keys,
        notifier: &c.i.notifier,
        by: Some(by),
    }
    .publish(bot, &draft, form.notify.is_some())
    .await;
    match done {
        Ok(said) => page(
            StatusCode::OK,
            "Policy published",
            Some(&s),
            html! {
                @for line in said.lines() { p class="ok" { (line) } }
                p { a href=(format!("/console/policy?bot={}", bot.name)) { "Back to the policy" } }
            },
        ),
        Err(err) => {
            tracing::error!(error = %err, "console: policy not published");
            unavailable()
        }
    }
}
