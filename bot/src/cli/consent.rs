//! `consentgate consent show SUBJECT`: a person's whole consent record, as proof — every event
//! with the policy version and the SHA-256 of the text shown, and what is in effect now.

use std::collections::HashMap;

use anyhow::{Context, Result};
use chrono::Utc;
use clap::Subcommand;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use consentgate_entity::subjects;

use crate::{
    app::App,
    consent::{self},
    rights::export,
};

#[derive(Subcommand, Debug)]
pub enum ConsentAction {
    /// Print a person's whole consent record as proof.
    Show {
        /// The pseudonym (64 hex digits) or its first 8 or more.
        subject: String,
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(app: &App, action: ConsentAction) -> Result<()> {
    let ConsentAction::Show { subject, json } = action;
    print!("{}", show(&app.db, &subject, json).await?);
    Ok(())
}

/// Finds a subject by full pseudonym or a unique prefix of at least 8 hex digits.
pub(crate) async fn find_subject(db: &DatabaseConnection, who: &str) -> Result<subjects::Model> {
    let who = who.trim().to_ascii_lowercase();
    anyhow::ensure!(
        who.len() >= 8 && who.bytes().all(|b| b.is_ascii_hexdigit()),
        "SUBJECT is a pseudonym (64 hex digits) or at least its first 8"
    );
    let found = subjects::Entity::find()
        .filter(subjects::Column::Pseudonym.starts_with(&who))
        .all(db)
        .await?;
    match found.len() {
        0 => anyhow::bail!("no subject with pseudonym {who}…"),
        1 => Ok(found.into_iter().next().context("one subject")?),
        n => anyhow::bail!("{n} subjects start with {who}; give more digits"),
    }
}

/// What the record is printed from.
struct Printed {
    subject: subjects::Model,
    record: consent::Record,
    bot_names: HashMap<i64, String>,
}

impl Printed {
    async fn load(db: &DatabaseConnection, who: &str) -> Result<Printed> {
        let subject = find_subject(db, who).await?;
        Ok(Printed {
            record: consent::Record::load(db, subject.id, Utc::now()).await?,
            bot_names: export::bot_names(db).await?,
            subject,
        })
    }

    /// (bot, policy version, purpose, state) for each purpose in effect now.
    fn current(&self) -> Vec<(String, i32, &str, &'static str)> {
        self.record
            .current
            .iter()
            .flat_map(|c| {
                c.states.iter().map(|(purpose, state)| {
                    (
                        self.bot(c.bot_id),
                        c.policy.version,
                        purpose.as_str(),
                        state.name(),
                    )
                })
            })
            .collect()
    }

    fn bot(&self, id: i64) -> String {
        self.bot_names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    fn erasure_scheduled_for(&self) -> Option<chrono::DateTime<Utc>> {
        self.subject
            .purge_after
            .filter(|_| self.subject.erasure_requested_at.is_some())
    }

    fn json(&self) -> Result<String> {
        let value = serde_json::json!({
            "subject": self.subject.pseudonym,
            "first_seen": self.subject.created_at.to_rfc3339(),
            "erasure_scheduled_for": self.erasure_scheduled_for().map(|t| t.to_rfc3339()),
            "events": self.record.events.iter().map(|e| serde_json::json!({
                "id": e.id,
                "at": e.created_at.to_rfc3339(),
                "bot": self.bot(e.bot_id),
                "purpose": e.purpose,
                "action": e.action,
                "policy_version": self.record.versions.get(&e.policy_version_id).map(|v| v.version),
                "text_sha256": e.text_sha256,
                "channel": e.channel,
                "method": e.method,
                "platform_message_id": e.platform_message_id,
            })).collect::<Vec<_>>(),
            "current": self.current().iter().map(|(b, v, p, s)| serde_json::json!({
                "bot": b, "policy_version": v, "purpose": p, "state": s
            })).collect::<Vec<_>>(),
        });
        Ok(serde_json::to_string_pretty(&value)? + "\n")
    }

    fn text(&self) -> String {
        let mut out = format!(
            "Subject {}\nfirst seen {}{}\n\nConsent record ({} events, oldest first):\n",
            self.subject.pseudonym,
            self.subject.created_at.to_rfc3339(),
            match self.erasure_scheduled_for() {
                Some(t) => format!("; erasure scheduled for {}", t.to_rfc3339()),
                None => String::new(),
            },
            self.record.events.len()
        );
        for e in &self.record.events {
            out.push_str(&format!(
                "  #{:<6} {}  {:<10} {:<12} {:<10} v{:<3} text {}  via {} {}{}\n",
                e.id,
                e.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                self.bot(e.bot_id),
                e.purpose,
                e.action,
                self.record
                    .versions
                    .get(&e.policy_version_id)
                    .map_or("?".to_string(), |v| v.version.to_string()),
                &e.text_sha256[..e.text_sha256.len().min(16)],
                e.channel,
                e.method,
                e.platform_message_id
                    .as_deref()
                    .map(|m| format!(" (message {m})"))
                    .unwrap_or_default()
            ));
        }
        out.push_str("\nIn effect now:\n");
        for (b, v, p, s) in &self.current() {
            out.push_str(&format!("  {b:<10} policy v{v:<3} {p:<12} {s}\n"));
        }
        out
    }
}

/// The record of the subject `who` (a pseudonym or its first 8+ hex digits), as text or JSON.
pub async fn show(db: &DatabaseConnection, who: &str, json: bool) -> Result<String> {
    let record = Printed::load(db, who).await?;
    if json {
        record.json()
    } else {
        Ok(record.text())
    }
}
