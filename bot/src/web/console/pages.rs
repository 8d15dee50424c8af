//! The console's pages: the overview (per bot, never per person) and the audit log (chain
//! status and entries, metadata only).

use std::collections::BTreeMap;

use axum::{
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use maud::{Markup, html};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;

use consentgate_entity::{audit_log, consent_events};

use super::session::Role;
use super::{Console, page, unavailable};
use crate::audit::{Action, verify};
use crate::store::daily;

/// The last whole-chain check: when it ran and what it found.
pub(super) type LastCheck = (std::time::Instant, (DateTime<Utc>, verify::Report));

/// How often the console walks the whole audit chain at most.
const VERIFY_AT_MOST_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Days the overview's charts cover.
const DAYS: i64 = 30;

pub(super) fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A bar chart of counts per day, as SVG (no script).
fn chart(label: &str, days: &[(NaiveDate, u64)]) -> Markup {
    let max = days.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let (w, h, bar) = (days.len() as u32 * 12 + 20, 120u32, 10u32);
    html! {
        svg class="chart" viewBox=(format!("0 0 {w} {h}")) role="img" aria-label=(label) {
            title { (label) }
            @for (i, (day, n)) in days.iter().enumerate() {
                @let height = (*n as f64 / max as f64 * 90.0).round() as u32;
                rect x=(10 + i as u32 * 12) y=(100 - height) width=(bar) height=(height) {
                    title { (day) ": " (n) }
                }
            }
            text x="10" y="115" { (days.first().map(|d| d.0.to_string()).unwrap_or_default()) }
            text x=(w - 60) y="115" { (days.last().map(|d| d.0.to_string()).unwrap_or_default()) }
            text x="10" y="9" { "max " (max) }
        }
    }
}

/// A bot's count of one day, never below zero.
fn daily_count(
    counts: &std::collections::HashMap<(i64, NaiveDate, String), i64>,
    bot: i64,
    day: NaiveDate,
    name: &str,
) -> i64 {
    counts
        .get(&(bot, day, name.to_string()))
        .copied()
        .unwrap_or(0)
        .max(0)
}

/// How long the assistant took to answer: the average per day, and how many answers fell in
/// each range, from the daily counts.
fn answer_times(
    bot: i64,
    days: &[NaiveDate],
    counts: &std::collections::HashMap<(i64, NaiveDate, String), i64>,
) -> Markup {
    let count = |day: &NaiveDate, name: &str| daily_count(counts, bot, *day, name).unsigned_abs();
    let answers: u64 = days.iter().map(|d| count(d, daily::ANSWERS)).sum();
    if answers == 0 {
        return html! {};
    }
    let average: Vec<(NaiveDate, u64)> = days
        .iter()
        .map(|d| {
            let n = count(d, daily::ANSWERS);
            (*d, count(d, daily::ANSWER_MS).checked_div(n).unwrap_or(0))
        })
        .collect();
    let total_ms: u64 = days.iter().map(|d| count(d, daily::ANSWER_MS)).sum();
    html! {
        h2 { "Answer times" }
        p { (answers) " answers, " ((total_ms / answers)) " ms on average." }
        (chart("Average answer time per day, in milliseconds", &average))
        div class="table" { table {
            thead { tr { th { "answered in" } th { "answers" } } }
            tbody { @for (_, name, label) in daily::ANSWER_TIMES {
                tr { td { (label) } td { (days.iter().map(|d| count(d, name)).sum::<u64>()) } }
            } }
        } }
    }
}

/// Tool calls per day by kind, and how many failed, from the daily counts.
fn tool_calls(
    bot: i64,
    days: &[NaiveDate],
    counts: &std::collections::HashMap<(i64, NaiveDate, String), i64>,
) -> Markup {
    let count = |day: &NaiveDate, name: &str| daily_count(counts, bot, *day, name);
    let kinds = crate::tools::Kind::ALL;
    let per_day: Vec<(NaiveDate, Vec<i64>, i64)> = days
        .iter()
        .map(|d| {
            (
                *d,
                kinds
                    .iter()
                    .map(|k| count(d, k.daily_count()))
                    .collect::<Vec<_>>(),
                count(d, crate::tools::FAILED_COUNT),
            )
        })
        .filter(|(_, n, failed)| n.iter().sum::<i64>() + failed > 0)
        .collect();
    if per_day.is_empty() {
        return html! {};
    }
    html! {
        h2 { "Tool calls" }
        div class="table" { table {
            thead { tr {
                th { "day" }
                @for k in kinds { th { (k.as_str()) } }
                th { "failed" }
            } }
            tbody { @for (day, n, failed) in per_day.iter().rev() {
                tr {
                    td { (day) }
                    @for v in n { td { (v) } }
                    td { (failed) }
                }
            } }
        } }
    }
}

/// The overview: for each bot, the last 30 days from the audit log and the consent record.
pub(super) async fn overview(State(c): State<Console>, headers: HeaderMap) -> Response {
    let s = match c.signed_in(&headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let since = Utc::now() - Duration::days(DAYS);
    // Only the bots this session may see are read.
    let visible = match c.bots_of(&s).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut entries = audit_log::Entity::find()
        .select_only()
        .column(audit_log::Column::At)
        .column(audit_log::Column::BotId)
        .column(audit_log::Column::Action)
        .column(audit_log::Column::Detail)
        .filter(audit_log::Column::At.gte(since))
        .filter(audit_log::Column::Action.is_in([
            Action::MessageForwarded.as_str(),
            Action::MessageHeld.as_str(),
            Action::LlmFailed.as_str(),
        ]));
    let mut events = consent_events::Entity::find()
        .select_only()
        .column(consent_events::Column::BotId)
        .column(consent_events::Column::Purpose)
        .column(consent_events::Column::Action)
        .filter(consent_events::Column::CreatedAt.gte(since));
    if let Some(mine) = &visible {
        entries = entries.filter(audit_log::Column::BotId.is_in(mine.clone()));
        events = events.filter(consent_events::Column::BotId.is_in(mine.clone()));
    }
    let entries = entries
        .into_tuple::<(DateTime<Utc>, Option<i64>, String, String)>()
        .all(&c.i.db)
        .await;
    let events = events
        .into_tuple::<(i64, String, String)>()
        .all(&c.i.db)
        .await;
    let names = crate::rights::export::bot_names(&c.i.db).await;
    // This replica's counts of the last minute too.
    if let Err(err) = c.metrics.daily.flush(&c.i.db).await {
        tracing::warn!(error = %err, "console: daily counts not written");
    }
    let counts = daily::since(&c.i.db, visible.as_deref(), since.date_naive()).await;
    // Stars paid for plans: totals per bot, never who paid.
    let mut paid = consentgate_entity::payments::Entity::find()
        .select_only()
        .column(consentgate_entity::payments::Column::BotId)
        .column(consentgate_entity::payments::Column::Stars)
        .column(consentgate_entity::payments::Column::RefundedAt)
        .filter(consentgate_entity::payments::Column::PaidAt.gte(since));
    if let Some(mine) = &visible {
        paid = paid.filter(consentgate_entity::payments::Column::BotId.is_in(mine.clone()));
    }
    let paid = paid
        .into_tuple::<(i64, i32, Option<DateTime<Utc>>)>()
        .all(&c.i.db)
        .await;
    // People who have written to each bot (a count, never who).
    let mut people = consentgate_entity::channel_identities::Entity::find()
        .select_only()
        .column(consentgate_entity::channel_identities::Column::BotId)
        .column_as(
            sea_orm::sea_query::ExprTrait::count_distinct(sea_orm::sea_query::Expr::col(
                consentgate_entity::channel_identities::Column::SubjectId,
            )),
            "people",
        )
        .group_by(consentgate_entity::channel_identities::Column::BotId);
    if let Some(mine) = &visible {
        people = people
            .filter(consentgate_entity::channel_identities::Column::BotId.is_in(mine.clone()));
    }
    let people = people.into_tuple::<(i64, i64)>().all(&c.i.db).await;
    let (Ok(entries), Ok(events), Ok(names), Ok(counts), Ok(paid), Ok(people)) =
        (entries, events, names, counts, paid, people)
    else {
        return unavailable();
    };
    let today = Utc::now().date_naive();
    let days: Vec<NaiveDate> = (0..DAYS).rev().map(|d| today - Duration::days(d)).collect();
    #[derive(Default)]
    struct Bot {
        forwarded: BTreeMap<NaiveDate, u64>,
        held: BTreeMap<String, u64>,
        failed: BTreeMap<String, u64>,
        redactions: BTreeMap<String, u64>,
        consent: BTreeMap<(String, String), u64>,
    }
    let mut bots: BTreeMap<i64, Bot> = names
        .keys()
        .filter(|id| visible.as_ref().is_none_or(|v| v.contains(id)))
        .map(|id| (*id, Bot::default()))
        .collect();
    for (at, bot, action, detail) in entries {
        let Some(b) = bot.and_then(|id| bots.get_mut(&id)) else {
            continue;
        };
        let detail: serde_json::Value = serde_json::from_str(&detail).unwrap_or_default();
        let reason = |field: &str| detail[field].as_str().unwrap_or("other").to_string();
        match action.as_str() {
            "message.forwarded" if detail["attempt"].as_u64().unwrap_or(1) == 1 => {
                *b.forwarded.entry(at.date_naive()).or_default() += 1;
                if let Some(found) = detail["redactions"].as_object() {
                    for (kind, n) in found {
                        *b.redactions.entry(kind.clone()).or_default() += n.as_u64().unwrap_or(0);
                    }
                }
            }
            "message.held" => *b.held.entry(reason("reason")).or_default() += 1,
            "llm.failed" => *b.failed.entry(reason("error")).or_default() += 1,
            _ => {}
        }
    }
    let mut stars: BTreeMap<i64, (u64, u64, u64)> = BTreeMap::new();
    for (bot, amount, refunded) in paid {
        let e = stars.entry(bot).or_default();
        if refunded.is_some() {
            e.2 += 1;
        } else {
            e.0 += 1;
            e.1 += u64::try_from(amount).unwrap_or(0);
        }
    }
    for (bot, purpose, action) in events {
        if let Some(b) = bots.get_mut(&bot) {
            *b.consent.entry((purpose, action)).or_default() += 1;
        }
    }
    let body = html! {
        p class="note" { "The last " (DAYS) " days, counted from the audit log and the consent record: numbers only, never people." }
        @for (id, b) in &bots {
            @let per_day: Vec<(NaiveDate, u64)> = days.iter().map(|d| (*d, b.forwarded.get(d).copied().unwrap_or(0))).collect();
            section aria-labelledby=(format!("bot-{id}")) {
                h2 id=(format!("bot-{id}")) { (names.get(id).cloned().unwrap_or_default()) }
                div class="cards" {
                    div class="card" { b { (people.iter().find(|(b, _)| b == id).map_or(0, |(_, n)| *n)) } "people" }
                    div class="card" { b { (per_day.iter().map(|(_, n)| n).sum::<u64>()) } "messages answered" }
                    div class="card" { b { (b.held.values().sum::<u64>()) } "messages held" }
                    div class="card" { b { (b.failed.values().sum::<u64>()) } "provider failures" }
                    @if let Some((payments, total, refunds)) = stars.get(id) {
                        div class="card" { b { (total) " ⭐" } (payments) " plans bought, " (refunds) " refunded" }
                    }
                }
                (chart("Messages sent to the assistant per day", &per_day))
                (answer_times(*id, &days, &counts))
                (tool_calls(*id, &days, &counts))
                @if !b.redactions.is_empty() {
                    h2 { "Redacted before the assistant saw them" }
                    div class="table" { table {
                        thead { tr { th { "kind" } th { "count" } } }
                        tbody { @for (kind, n) in &b.redactions { tr { td { (kind) } td { (n) } } } }
                    } }
                }
                @if !b.consent.is_empty() {
                    h2 { "Consent decisions" }
                    div class="table" { table {
                        thead { tr { th { "purpose" } th { "decision" } th { "count" } } }
                        tbody { @for ((purpose, action), n) in &b.consent { tr { td { (purpose) } td { (action) } td { (n) } } } }
                    } }
                }
                @if !b.held.is_empty() || !b.failed.is_empty() {
                    h2 { "Held messages and provider failures" }
                    div class="table" { table {
                        thead { tr { th { "what" } th { "reason" } th { "count" } } }
                        tbody {
                            @for (reason, n) in &b.held { tr { td { "held" } td { (reason) } td { (n) } } }
                            @for (reason, n) in &b.failed { tr { td { "provider failure" } td { (reason) } td { (n) } } }
                        }
                    } }
                }
            }
        }
    };
    page(StatusCode::OK, "Overview", Some(&s), body)
}

#[derive(Deserialize, Default)]
pub(super) struct AuditQuery {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    bot: Option<String>,
}

/// Entries shown per page of the audit log.
const ENTRIES: u64 = 200;

/// The chain's status and its latest entries (metadata only), filterable.
pub(super) async fn audit(
    State(c): State<Console>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Response {
    let s = match c
        .signed_in_as(
            &headers,
            &[Role::Admin, Role::Auditor],
            "The audit log is for the operator's admins and auditors.",
        )
        .await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    let report = {
        let mut last = c.verified.lock().await;
        let fresh = last
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < VERIFY_AT_MOST_EVERY);
        if !fresh {
            match verify::verify(&c.i.db, &c.i.keys.audit, None).await {
                Ok(report) => *last = Some((std::time::Instant::now(), (Utc::now(), report))),
                Err(_) => return unavailable(),
            }
        }
        last.as_ref().map(|(_, r)| r.clone())
    };
    let Some((checked_at, report)) = report else {
        return unavailable();
    };
    let names = match crate::rights::export::bot_names(&c.i.db).await {
        Ok(n) => n,
        Err(_) => return unavailable(),
    };
    let bot_id = q.bot.as_deref().filter(|b| !b.is_empty()).and_then(|b| {
        names
            .iter()
            .find(|(_, n)| n.as_str() == b)
            .map(|(id, _)| *id)
    });
    let action = q
        .action
        .as_deref()
        .filter(|a| Action::ALL.iter().any(|x| x.as_str() == *a));
    let mut query = audit_log::Entity::find()
        .order_by_desc(audit_log::Column::Id)
        .limit(ENTRIES);
    if let Some(a) = action {
        query = query.filter(audit_log::Column::Action.eq(a));
    }
    if let Some(b) = bot_id {
        query = query.filter(audit_log::Column::BotId.eq(b));
    }
    let Ok(entries) = query.all(&c.i.db).await else {
        return unavailable();
    };
    let mut actions: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
    actions.sort_unstable();
    let body = html! {
        @match &report.broken {
            None => p class="ok" { "The chain is intact: " (report.entries) " entries checked " (when(&checked_at)) "." },
            Some(b) => p class="error" role="alert" { "The chain is broken at entry " (b.seq) ": " (b.reason) ". Checked " (when(&checked_at)) "." },
        }
        @if let Some(head) = &report.head { p class="note" { "Head: " code { (head.to_string()) } } }
        form method="get" action="/console/audit" {
            label for="action" { "Action" }
            select id="action" name="action" {
                option value="" { "any" }
                @for a in &actions { option value=(a) selected[action == Some(*a)] { (a) } }
            }
            label for="bot" { "Bot" }
            select id="bot" name="bot" {
                option value="" { "any" }
                @for n in names.values() { option value=(n) selected[q.bot.as_deref() == Some(n.as_str())] { (n) } }
            }
            " "
            button type="submit" { "Filter" }
        }
        div class="table" { table class="stack" {
            thead { tr { th { "#" } th { "time" } th { "bot" } th { "action" } th { "person (pseudonym)" } th { "detail" } } }
            tbody { @for e in &entries { tr {
                td data-label="#" { (e.seq.map(|s| s.to_string()).unwrap_or_default()) }
                td data-label="time" { (when(&e.at)) }
                td data-label="bot" { (e.bot_id.and_then(|b| names.get(&b).cloned()).unwrap_or_default()) }
                td data-label="action" { (e.action) }
                td data-label="person" { code { (e.subject.as_deref().and_then(|p| p.get(..12)).unwrap_or("")) } }
                td data-label="detail" { code { (e.detail) } }
            } } }
        } }
        p class="note" { "The latest " (ENTRIES) " entries that match. Entries hold metadata only: pseudonyms, never what people wrote." }
    };
    page(StatusCode::OK, "Audit log", Some(&s), body)
}
