//! Where tools passed a person's data, for their erasure: `/delete` names the services, and once
//! the erasure is decided (in the chat or the console) the bot's owners are told what was made
//! where, by the person's short code, so they can delete it there. Read from the audit log,
//! which outlives the erasure.

use std::collections::BTreeMap;

use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

use consentgate_entity::{audit_log, owners, subjects};

use super::Kind;
use crate::{audit::Action, owners::integrations::Integrations, privacy::pseudonym::Pseudonym};

/// Per bot, the services the person's data was sent to, each with what the calls made there
/// (a row's range, a contact's id) where the service said so.
pub type PassedOn = BTreeMap<i64, Vec<(&'static str, Vec<String>)>>;

/// Every call of a tool that sends the person's data counts, answered or not: a call that timed
/// out may have arrived all the same. `bot`: one bot's, or every bot's.
pub async fn passed_on(
    db: &impl sea_orm::ConnectionTrait,
    pseudonym: &Pseudonym,
    bot: Option<i64>,
) -> Result<PassedOn, DbErr> {
    let mut q = audit_log::Entity::find()
        .filter(audit_log::Column::Subject.eq(pseudonym.as_str()))
        .filter(
            audit_log::Column::Action
                .is_in([Action::ToolCalled.as_str(), Action::ToolCompleted.as_str()]),
        )
        .order_by_asc(audit_log::Column::Id);
    if let Some(bot) = bot {
        q = q.filter(audit_log::Column::BotId.eq(bot));
    }
    let mut out = PassedOn::new();
    for entry in q.all(db).await? {
        let (Some(bot), Ok(detail)) = (
            entry.bot_id,
            serde_json::from_str::<serde_json::Value>(&entry.detail),
        ) else {
            continue;
        };
        let Some(kind) = detail["kind"].as_str().and_then(Kind::parse) else {
            continue;
        };
        if kind.purpose().is_none() {
            continue;
        }
        let services = out.entry(bot).or_default();
        let at = match services.iter().position(|(s, _)| *s == kind.service()) {
            Some(at) => at,
            None => {
                services.push((kind.service(), Vec::new()));
                services.len() - 1
            }
        };
        if let Some(made) = detail["made"].as_str() {
            services[at].1.push(made.to_string());
        }
    }
    Ok(out)
}

/// The services the person's data went to on any bot, each once, with what was made there.
pub async fn services_of(
    db: &impl sea_orm::ConnectionTrait,
    pseudonym: &Pseudonym,
) -> Result<Vec<(&'static str, Vec<String>)>, DbErr> {
    let mut all: Vec<(&'static str, Vec<String>)> = Vec::new();
    for (_, passed) in passed_on(db, pseudonym, None).await? {
        for (service, made) in passed {
            match all.iter_mut().find(|(s, _)| *s == service) {
                Some((_, refs)) => refs.extend(made),
                None => all.push((service, made)),
            }
        }
    }
    Ok(all)
}

/// The services, in words, for the person: "Google Sheets and HubSpot".
pub fn services(passed: &[(&'static str, Vec<String>)]) -> String {
    passed
        .iter()
        .map(|(s, _)| *s)
        .collect::<Vec<_>>()
        .join(" and ")
}

/// The owners of a bot (by invite or by configuration) who are known here.
async fn owners_of(i: &Integrations, bot_id: i64) -> Result<Vec<i64>, DbErr> {
    let mut ids: Vec<i64> = owners::Entity::find()
        .filter(owners::Column::BotId.eq(bot_id))
        .all(&i.db)
        .await?
        .into_iter()
        .map(|o| o.subject_id)
        .collect();
    if let Some(configured) = i.configured_owners.get(&bot_id) {
        ids.extend(
            subjects::Entity::find()
                .filter(subjects::Column::Pseudonym.is_in(configured.clone()))
                .all(&i.db)
                .await?
                .into_iter()
                .map(|s| s.id),
        );
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Tells the owners of each bot whose tools passed the person's data on. Best effort: a failure
/// is logged, and never stands in the way of the erasure itself.
/// Why a person's data is being deleted, as owners are told.
#[derive(Clone, Copy, Debug)]
pub enum Why {
    /// They asked (`/delete`, or an admin on the console for them).
    Asked,
    /// The retention sweep: they had not been seen for the configured time.
    Inactive,
}

pub async fn tell_owners(i: &Integrations, pseudonym: &Pseudonym, bot: Option<i64>, why: Why) {
    let told = async {
        for (bot_id, passed) in passed_on(&i.db, pseudonym, bot).await? {
            let what = match why {
                Why::Asked => "asked for their data to be deleted",
                Why::Inactive => "has had their data deleted after a long time without contact",
            };
            let mut text = format!(
                "A person (code {}) {what}. The assistant's tools had passed their details to:",
                pseudonym.short()
            );
            for (service, made) in &passed {
                text.push_str(&format!("\n• {service}"));
                if !made.is_empty() {
                    text.push_str(&format!(": {}", made.join(", ")));
                }
            }
            text.push_str(
                "\nDeleting here does not delete them there: please delete them in your account \
                 unless you must keep them.",
            );
            for owner in owners_of(i, bot_id).await? {
                i.tell_owner(bot_id, owner, &text).await?;
            }
        }
        Ok::<(), DbErr>(())
    };
    if let Err(err) = told.await {
        tracing::warn!(error = %err, "owners not told where tools had passed an erased person's data");
    }
}
