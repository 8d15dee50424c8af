//! The assistant's settings per bot, on the settings page: the system prompt and the purposes'
//! texts, saved as a draft that goes live only with the next policy version (published on the
//! policy page or with `consentgate policy publish`). A purpose's text is what people agree to,
//! so a changed one is asked for again; the system prompt is part of the version, so what the
//! assistant was told is on record for every answer. Admins edit every bot's, owners their
//! bots', auditors read.

use std::collections::BTreeMap;

use axum::{
    Form,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use chrono::Utc;
use maud::{Markup, html};
use sea_orm::{EntityTrait, Set, sea_query::OnConflict};
use serde_json::json;

use consentgate_entity::bot_settings;

use super::{Console, page, problem, session::Role, session::Session, unavailable};
use crate::audit::Action;
use crate::consent::{self, Draft, Policy, policy::settings_of};
use crate::pipeline::BotContext;
use crate::privacy::digest::sha256_hex;

/// The longest system prompt taken, in characters.
const PROMPT_AT_MOST: usize = 20_000;
/// The longest purpose text taken, in characters.
const PURPOSE_AT_MOST: usize = 10_000;

/// What a bot's next policy version would put live, and what is live now.
struct BotDraft {
    draft: Draft,
    live: Option<Policy>,
}

impl BotDraft {
    /// The draft's system prompt, or the configured one.
    fn prompt<'a>(&'a self, configured: &'a Option<String>) -> &'a str {
        self.draft
            .system_prompt
            .as_deref()
            .or(configured.as_deref())
            .unwrap_or("")
    }

    /// Whether the draft says what the version in effect says.
    fn is_live(&self) -> bool {
        self.live.as_ref().is_some_and(|live| {
            live.purposes == self.draft.purposes && live.system_prompt == self.draft.system_prompt
        })
    }
}

async fn bot_draft(c: &Console, bot: &BotContext) -> Result<BotDraft, sea_orm::DbErr> {
    let configured = Draft {
        label: String::new(),
        text: String::new(),
        summary: String::new(),
        effective_at: Utc::now(),
        purposes: c.purposes.to_vec(),
        system_prompt: None,
    };
    let settings = settings_of(&c.i.db, bot.id).await?;
    Ok(BotDraft {
        draft: configured.for_bot(settings.as_ref()),
        live: consent::current_policy(&c.i.db, bot.id, Utc::now()).await?,
    })
}

/// Whether a bot's saved settings differ from the version in effect (publishing puts them
/// live).
pub(super) async fn pending(c: &Console, bot_id: i64) -> Result<bool, sea_orm::DbErr> {
    match c.bots.iter().find(|b| b.id == bot_id) {
        Some(bot) => Ok(!bot_draft(c, bot).await?.is_live()),
        None => Ok(false),
    }
}

/// The bots a session may see, in the configured order.
pub(super) async fn visible_bots(c: &Console, s: &Session) -> Result<Vec<BotContext>, Response> {
    let mine = c.bots_of(s).await?;
    Ok(c.bots
        .iter()
        .filter(|b| mine.as_ref().is_none_or(|m| m.contains(&b.id)))
        .cloned()
        .collect())
}

/// The settings page's part for the assistants a session may see.
pub(super) async fn section(c: &Console, s: &Session) -> Result<Markup, Response> {
    let may_change = s.role != Role::Auditor;
    let mut drafts = Vec::new();
    for bot in visible_bots(c, s).await? {
        let d = bot_draft(c, &bot).await.map_err(|_| unavailable())?;
        drafts.push((bot, d));
    }
    Ok(html! {
        h2 { "Assistants" }
        p class="note" { "What each assistant is told before every conversation, and the text people agree to for each purpose. Saved here as a draft: it goes live only with the next policy version, published on the " a href="/console/policy" { "Policy" } " page; people are asked again for each purpose whose text changed." }
        @for (bot, d) in &drafts {
            section aria-labelledby=(format!("assistant-{}", bot.id)) {
                h2 id=(format!("assistant-{}", bot.id)) { (bot.name) }
                @if d.is_live() {
                    p class="ok" { "Live: the policy version in effect says this." }
                } @else {
                    p class="error" role="status" { "Saved, not live yet: publish a policy version to put it live." }
                }
                form method="post" action="/console/settings/assistant" {
                    input type="hidden" name="csrf" value=(s.csrf);
                    input type="hidden" name="bot" value=(bot.name);
                    @let prompt_id = format!("prompt-{}", bot.id);
                    label for=(prompt_id) { "System prompt" }
                    textarea id=(prompt_id) name="system_prompt" rows="6" maxlength=(PROMPT_AT_MOST) readonly[!may_change] { (d.prompt(&c.system_prompt)) }
                    @for p in &d.draft.purposes {
                        @let id = format!("purpose-{}-{}", bot.id, p.name);
                        label for=(id) { "Purpose “" (p.title) "” (" code { (p.name) } ", " (if p.required { "required" } else { "optional" }) ")" }
                        textarea id=(id) name=(format!("purpose.{}", p.name)) rows="4" maxlength=(PURPOSE_AT_MOST) required readonly[!may_change] { (p.text) }
                    }
                    @if may_change {
                        button type="submit" class="primary" { "Save the draft" }
                    }
                }
            }
        }
    })
}

/// Saves a bot's draft; audited with who saved it. Nothing changes for anyone until a policy
/// version is published.
pub(super) async fn save(
    State(c): State<Console>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let s = match c
        .changing_as(
            &headers,
            field("csrf"),
            &[Role::Admin, Role::Owner],
            super::AUDITORS_READ,
        )
        .await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    let bots = match visible_bots(&c, &s).await {
        Ok(bots) => bots,
        Err(r) => return r,
    };
    let Some(bot) = bots.iter().find(|b| b.name == field("bot")) else {
        return problem(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such assistant here.",
            Some(&s),
        );
    };
    let back = |why: &str| problem(StatusCode::BAD_REQUEST, "Not saved", why, Some(&s));
    // Line ends as browsers send them (CRLF) become the text's own.
    let prompt = field("system_prompt")
        .replace("\r\n", "\n")
        .trim()
        .to_string();
    if prompt.chars().count() > PROMPT_AT_MOST {
        return back("The system prompt is too long. Go back and shorten it.");
    }
    // Kept only where it differs from the configuration: a later change of the configured
    // default then reaches this bot too.
    let prompt = Some(prompt)
        .filter(|p| !p.is_empty() && Some(p.as_str()) != c.system_prompt.as_deref().map(str::trim));
    let mut texts = BTreeMap::new();
    for purpose in c.purposes.iter() {
        let text = field(&format!("purpose.{}", purpose.name))
            .replace("\r\n", "\n")
            .trim()
            .to_string();
        if text.is_empty() || text.chars().count() > PURPOSE_AT_MOST {
            return back(&format!(
                "The text of the purpose “{}” is empty or too long. Go back and write it.",
                purpose.title
            ));
        }
        if text != purpose.text.trim() {
            texts.insert(purpose.name.clone(), text);
        }
    }
    let row = bot_settings::ActiveModel {
        bot_id: Set(bot.id),
        system_prompt: Set(prompt.clone()),
        purpose_texts: Set(Some(json!(texts).to_string())),
        updated_at: Set(Utc::now()),
        // An owner is named in the audit entry only, which erasure leaves pseudonymous.
        updated_by: Set(match s.key_id() {
            Some(key) => format!("key:{key}"),
            None => "owner".to_string(),
        }),
    };
    let saved = bot_settings::Entity::insert(row)
        .on_conflict(
            OnConflict::column(bot_settings::Column::BotId)
                .update_columns([
                    bot_settings::Column::SystemPrompt,
                    bot_settings::Column::PurposeTexts,
                    bot_settings::Column::UpdatedAt,
                    bot_settings::Column::UpdatedBy,
                ])
                .to_owned(),
        )
        .exec_without_returning(&c.i.db)
        .await;
    if saved.is_err() {
        return unavailable();
    }
    let mut detail = s.actor();
    detail["bot"] = json!(bot.name);
    detail["system_prompt_sha256"] = json!(prompt.as_deref().map(sha256_hex));
    detail["purposes_rewritten"] = json!(texts.keys().collect::<Vec<_>>());
    if !c.audit(Action::ConsoleSettingsSaved, detail).await {
        return unavailable();
    }
    page(
        StatusCode::OK,
        "Draft saved",
        Some(&s),
        html! {
            p class="ok" { "Saved for " strong { (bot.name) } ". It is not live yet: it goes live with the next policy version." }
            p { a href=(format!("/console/policy?bot={}", bot.name)) { "Publish a policy version" } " · " a href="/console/settings" { "Back to settings" } }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::Purpose;

    fn draft(prompt: Option<&str>, text: &str) -> Draft {
        Draft {
            label: String::new(),
            text: String::new(),
            summary: String::new(),
            effective_at: Utc::now(),
            purposes: vec![Purpose::new("assistant", "Answers", text, true)],
            system_prompt: prompt.map(str::to_string),
        }
    }

    #[test]
    fn a_draft_is_live_only_when_the_version_in_effect_says_the_same() {
        let live = |d: &Draft| Policy {
            id: 1,
            version: 1,
            label: String::new(),
            text: String::new(),
            text_sha256: String::new(),
            summary: String::new(),
            effective_at: Utc::now(),
            purposes: d.purposes.clone(),
            system_prompt: d.system_prompt.clone(),
        };
        let published = draft(Some("Be brief."), "We answer.");
        for (draft, is_live) in [
            (draft(Some("Be brief."), "We answer."), true),
            (draft(Some("Be long."), "We answer."), false),
            (draft(Some("Be brief."), "We answer you."), false),
            (draft(None, "We answer."), false),
        ] {
            let d = BotDraft {
                draft,
                live: Some(live(&published)),
            };
            assert_eq!(d.is_live(), is_live);
        }
        let never = BotDraft {
            draft: published,
            live: None,
        };
        assert!(!never.is_live());
    }
}
