//! Publishing policy versions: `consentgate policy publish FILE` (and the first version at
//! start-up). A version is the general text from a file plus the configured purposes; it takes
//! effect on its effective date. With `--notify`, everyone who had consented is told, paced by
//! each bot's outbound limit.

use chrono::Utc;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use consentgate_entity::{consent_events, subjects};

use crate::{
    config::Config,
    consent::{DEFAULT_POLICY, Draft, Policy, Purpose},
    privacy::identity,
    privacy::keys::Keys,
    rights::notify::{Notifier, Told},
};

/// The configured purposes, as a policy version stores them.
pub fn configured_purposes(config: &Config) -> Vec<Purpose> {
    config
        .purposes
        .iter()
        .map(|p| Purpose::new(&p.name, &p.title, &p.text, p.required))
        .collect()
}

/// The general text the configuration names (`policy.file`), or the built-in one.
pub fn configured_text(config: &Config) -> anyhow::Result<String> {
    let text = match &config.policy.file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("policy.file: cannot read {}: {e}", path.display()))?,
        None => DEFAULT_POLICY.to_string(),
    };
    anyhow::ensure!(!text.trim().is_empty(), "the policy text is empty");
    Ok(text)
}

/// The draft a configuration describes, effective now.
pub fn configured_draft(config: &Config) -> anyhow::Result<Draft> {
    Ok(Draft {
        label: config.policy.label.clone(),
        text: configured_text(config)?,
        summary: "First version.".to_string(),
        effective_at: Utc::now(),
        purposes: configured_purposes(config),
        system_prompt: None,
    })
}

/// A bot's settings from the console, if any were saved: applied to every version published
/// for it ([`Draft::for_bot`]).
pub async fn settings_of(
    db: &impl sea_orm::ConnectionTrait,
    bot_id: i64,
) -> Result<Option<consentgate_entity::bot_settings::Model>, DbErr> {
    consentgate_entity::bot_settings::Entity::find_by_id(bot_id)
        .one(db)
        .await
}

/// Purposes whose text differs between two versions (or that are new).
pub fn changed_purposes<'a>(old: &Policy, new: &'a Policy) -> Vec<&'a Purpose> {
    new.purposes
        .iter()
        .filter(|p| {
            old.purpose(&p.name)
                .is_none_or(|o| o.text_sha256 != p.text_sha256)
        })
        .collect()
}

/// The notice sent with `--notify`.
pub fn notice(new: &Policy, changed: &[&Purpose]) -> String {
    let mut text = format!(
        "Our privacy policy has changed: version {} ({}), in effect from {}.",
        new.version,
        new.label,
        new.effective_at.format("%Y-%m-%d")
    );
    if !new.summary.trim().is_empty() {
        text.push_str(&format!("\nWhat changed: {}", new.summary.trim()));
    }
    if !changed.is_empty() {
        let names: Vec<&str> = changed.iter().map(|p| p.title.as_str()).collect();
        text.push_str(&format!(
            "\nThe text of these choices changed; where you had agreed, we will ask you again: {}.",
            names.join(", ")
        ));
    }
    text.push_str("\n/privacy shows the new version and your choices.");
    text
}

/// Tells everyone whose latest decision on the bot is a grant.
pub async fn notify_consenting(
    db: &DatabaseConnection,
    keys: &Keys,
    notifier: &Notifier,
    bot_id: i64,
    text: &str,
) -> Result<Told, DbErr> {
    let events = consent_events::Entity::find()
        .filter(consent_events::Column::BotId.eq(bot_id))
        .all(db)
        .await?;
    // The latest event per (subject, purpose) decides; one notice per person.
    let mut latest: std::collections::HashMap<(i64, String), (i64, bool)> = Default::default();
    for e in events {
        let entry = latest
            .entry((e.subject_id, e.purpose.clone()))
            .or_insert((e.id, false));
        if e.id >= entry.0 {
            *entry = (e.id, e.action == "given");
        }
    }
    let mut people: Vec<i64> = latest
        .into_iter()
        .filter(|(_, (_, given))| *given)
        .map(|((subject, _), _)| subject)
        .collect();
    people.sort_unstable();
    people.dedup();
    let mut total = Told::default();
    for subject_id in people {
        let Some(subject) = subjects::Entity::find_by_id(subject_id).one(db).await? else {
            continue;
        };
        if !subject.reachable || subject.erasure_requested_at.is_some() {
            total.unreachable += 1;
            continue;
        }
        let identities: Vec<_> = identity::identities_of(db, keys, subject_id)
            .await?
            .into_iter()
            .filter(|i| i.bot_id == bot_id)
            .collect();
        let told = notifier.tell(&identities, text).await;
        if told.blocked > 0 {
            identity::set_reachable(db, subject_id, false).await?;
        }
        total.sent += told.sent;
        total.blocked += told.blocked;
        total.unreachable += told.unreachable;
        total.failed += told.failed;
    }
    Ok(total)
}

/// What publishing a policy version needs: the CLI and the console publish the same way.
pub struct Publishing<'a> {
    pub db: &'a DatabaseConnection,
    pub audit: &'a crate::audit::AuditLog,
    pub keys: &'a Keys,
    pub notifier: &'a Notifier,
    /// Who publishes, for the audit entry (the console's admin key or owner); `None` from the
    /// command line.
    pub by: Option<serde_json::Value>,
}

impl Publishing<'_> {
    /// Publishes `draft`, with the bot's settings from the console applied, as `bot`'s next
    /// version (unless it is the version in effect), audited, and with `notify` tells everyone
    /// who had consented. Returns what was done, in words.
    pub async fn publish(
        &self,
        bot: &crate::pipeline::BotContext,
        draft: &Draft,
        notify: bool,
    ) -> anyhow::Result<String> {
        let draft = &draft.for_bot(settings_of(self.db, bot.id).await?.as_ref());
        let previous = crate::consent::current_policy(self.db, bot.id, Utc::now()).await?;
        if let Some(prev) = &previous
            && draft.same_as(prev)
        {
            return Ok(format!(
                "{}: unchanged, version {} stays in effect\n",
                bot.name, prev.version
            ));
        }
        let published = crate::consent::publish(self.db, bot.id, draft).await?;
        let changed: Vec<&Purpose> = previous
            .as_ref()
            .map(|prev| changed_purposes(prev, &published))
            .unwrap_or_default();
        let changed_names: Vec<String> = changed.iter().map(|p| p.name.clone()).collect();
        self.audit
            .record(
                self.db,
                Some(bot.id),
                None,
                crate::audit::Action::PolicyPublished,
                serde_json::json!({
                    "version": published.version,
                    "text_sha256": published.text_sha256,
                    "effective_at": published.effective_at.to_rfc3339(),
                    "purposes_changed": changed_names,
                    "system_prompt_sha256": published.system_prompt.as_deref().map(crate::privacy::digest::sha256_hex),
                    "by": self.by,
                }),
            )
            .await?;
        let mut out = format!(
            "{}: published version {} ({}), effective {}, SHA-256 {}; purposes to renew: {}\n",
            bot.name,
            published.version,
            published.label,
            published.effective_at.to_rfc3339(),
            published.text_sha256,
            if changed_names.is_empty() {
                "none".to_string()
            } else {
                changed_names.join(", ")
            }
        );
        if published.system_prompt.is_some()
            && previous.as_ref().map(|p| &p.system_prompt) != Some(&published.system_prompt)
        {
            out.push_str(&format!(
                "{}: the system prompt saved in the console is live with this version\n",
                bot.name
            ));
        }
        if notify {
            let text = notice(&published, &changed);
            let told = notify_consenting(self.db, self.keys, self.notifier, bot.id, &text).await?;
            out.push_str(&format!(
                "{}: notified {}, blocked {}, not reachable from here {}, failed {}\n",
                bot.name, told.sent, told.blocked, told.unreachable, told.failed
            ));
        }
        Ok(out)
    }
}
