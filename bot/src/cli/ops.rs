//! Operator commands that work on the database directly: publishing a policy version, printing a
//! person's consent record as proof, and running retention. The CLI prints what these return;
//! tests call them the same way.

use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use consentgate_entity::{policy_versions, subjects};

use crate::{
    app::{configured_bots, notifier_for},
    audit::AuditLog,
    config::Config,
    consent::policy,
    consent::{self, Choices, Draft},
    pipeline::BotContext,
    privacy::keys::Keys,
    rights::export,
    rights::retention::{self, Sweeper},
};

/// What `policy publish` was asked to do.
pub struct PublishRequest<'a> {
    pub file: &'a Path,
    pub label: Option<String>,
    pub summary: String,
    /// RFC 3339 or YYYY-MM-DD; now when absent.
    pub effective: Option<String>,
    /// Bot names; every configured bot when empty.
    pub bots: Vec<String>,
    pub notify: bool,
}

fn parse_effective(value: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .with_context(|| format!("--effective `{value}`: expected YYYY-MM-DD or RFC 3339"))?;
    Ok(day
        .and_hms_opt(0, 0, 0)
        .context("midnight exists")?
        .and_utc())
}

/// `consentgate policy publish FILE`: a new version for each bot, with a summary of changes.
pub async fn publish(
    db: &DatabaseConnection,
    config: &Config,
    keys: &Keys,
    req: PublishRequest<'_>,
) -> Result<String> {
    let text = std::fs::read_to_string(req.file)
        .with_context(|| format!("cannot read {}", req.file.display()))?;
    anyhow::ensure!(!text.trim().is_empty(), "{} is empty", req.file.display());
    anyhow::ensure!(
        !req.summary.trim().is_empty(),
        "--summary is required: say what changed, in words people understand"
    );
    let effective_at = match &req.effective {
        Some(v) => parse_effective(v)?,
        None => Utc::now(),
    };
    let all = configured_bots(db, config).await?;
    let chosen: Vec<&BotContext> = if req.bots.is_empty() {
        all.iter().collect()
    } else {
        req.bots
            .iter()
            .map(|name| {
                all.iter()
                    .find(|b| &b.name == name)
                    .with_context(|| format!("--bot {name}: no such bot in the configuration"))
            })
            .collect::<Result<_>>()?
    };
    let draft = Draft {
        label: req
            .label
            .clone()
            .unwrap_or_else(|| effective_at.format("%Y-%m-%d").to_string()),
        text,
        summary: req.summary.trim().to_string(),
        effective_at,
        purposes: policy::configured_purposes(config),
    };
    let notifier = notifier_for(config, &all);
    let audit = AuditLog::new(keys.audit.clone());
    let mut out = String::new();
    for bot in chosen {
        let previous = consent::current_policy(db, bot.id, Utc::now()).await?;
        if let Some(prev) = &previous
            && draft.same_as(prev)
        {
            out.push_str(&format!(
                "{}: unchanged, version {} stays in effect\n",
                bot.name, prev.version
            ));
            continue;
        }
        let published = consent::publish(db, bot.id, &draft).await?;
        let changed: Vec<String> = previous
            .as_ref()
            .map(|prev| {
                policy::changed_purposes(prev, &published)
                    .into_iter()
                    .map(|p| p.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        audit
            .record(
                db,
                Some(bot.id),
                None,
                "policy.published",
                serde_json::json!({
                    "version": published.version,
                    "text_sha256": published.text_sha256,
                    "effective_at": published.effective_at.to_rfc3339(),
                    "purposes_changed": changed,
                }),
            )
            .await?;
        out.push_str(&format!(
            "{}: published version {} ({}), effective {}, SHA-256 {}; purposes to renew: {}\n",
            bot.name,
            published.version,
            published.label,
            published.effective_at.to_rfc3339(),
            published.text_sha256,
            if changed.is_empty() {
                "none".to_string()
            } else {
                changed.join(", ")
            }
        ));
        if req.notify {
            let changed_refs: Vec<_> = previous
                .as_ref()
                .map(|prev| policy::changed_purposes(prev, &published))
                .unwrap_or_default();
            let text = policy::notice(&published, &changed_refs);
            let told = policy::notify_consenting(db, keys, &notifier, bot.id, &text).await?;
            out.push_str(&format!(
                "{}: notified {}, blocked {}, not reachable from here {}, failed {}\n",
                bot.name, told.sent, told.blocked, told.unreachable, told.failed
            ));
        }
    }
    Ok(out)
}

/// Finds a subject by full pseudonym or a unique prefix of at least 8 hex digits.
async fn find_subject(db: &DatabaseConnection, who: &str) -> Result<subjects::Model> {
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

/// `consentgate consent show SUBJECT`: the person's whole consent record, as proof.
pub async fn consent_show(db: &DatabaseConnection, who: &str, json: bool) -> Result<String> {
    let subject = find_subject(db, who).await?;
    let events = consent::history(db, subject.id, None).await?;
    let bot_names = export::bot_names(db).await?;
    let versions: std::collections::HashMap<i64, policy_versions::Model> =
        policy_versions::Entity::find()
            .filter(
                policy_versions::Column::Id.is_in(
                    events
                        .iter()
                        .map(|e| e.policy_version_id)
                        .collect::<Vec<_>>(),
                ),
            )
            .all(db)
            .await?
            .into_iter()
            .map(|v| (v.id, v))
            .collect();
    let bot = |id: i64| {
        bot_names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    };
    let mut bots_seen: Vec<i64> = events.iter().map(|e| e.bot_id).collect();
    bots_seen.sort_unstable();
    bots_seen.dedup();
    let mut current = Vec::new();
    for bot_id in &bots_seen {
        if let Some(policy) = consent::current_policy(db, *bot_id, Utc::now()).await? {
            let choices = Choices::load(db, subject.id, *bot_id).await?;
            for p in &policy.purposes {
                current.push((
                    bot(*bot_id),
                    policy.version,
                    p.name.clone(),
                    choices.state(p),
                ));
            }
        }
    }
    if json {
        let value = serde_json::json!({
            "subject": subject.pseudonym,
            "first_seen": subject.created_at.to_rfc3339(),
            "erasure_scheduled_for": subject.purge_after.filter(|_| subject.erasure_requested_at.is_some()).map(|t| t.to_rfc3339()),
            "events": events.iter().map(|e| serde_json::json!({
                "id": e.id,
                "at": e.created_at.to_rfc3339(),
                "bot": bot(e.bot_id),
                "purpose": e.purpose,
                "action": e.action,
                "policy_version": versions.get(&e.policy_version_id).map(|v| v.version),
                "text_sha256": e.text_sha256,
                "channel": e.channel,
                "method": e.method,
                "platform_message_id": e.platform_message_id,
            })).collect::<Vec<_>>(),
            "current": current.iter().map(|(b, v, p, s)| serde_json::json!({
                "bot": b, "policy_version": v, "purpose": p, "state": s.name()
            })).collect::<Vec<_>>(),
        });
        return Ok(serde_json::to_string_pretty(&value)? + "\n");
    }
    let mut out = format!(
        "Subject {}\nfirst seen {}{}\n\nConsent record ({} events, oldest first):\n",
        subject.pseudonym,
        subject.created_at.to_rfc3339(),
        match subject
            .purge_after
            .filter(|_| subject.erasure_requested_at.is_some())
        {
            Some(t) => format!("; erasure scheduled for {}", t.to_rfc3339()),
            None => String::new(),
        },
        events.len()
    );
    for e in &events {
        out.push_str(&format!(
            "  #{:<6} {}  {:<10} {:<12} {:<10} v{:<3} text {}  via {} {}{}\n",
            e.id,
            e.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
            bot(e.bot_id),
            e.purpose,
            e.action,
            versions
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
    for (b, v, p, s) in &current {
        out.push_str(&format!("  {b:<10} policy v{v:<3} {p:<12} {}\n", s.name()));
    }
    Ok(out)
}

/// `consentgate retention run [--dry-run]`.
pub async fn retention_run(
    db: &DatabaseConnection,
    config: &Config,
    keys: &Keys,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<String> {
    let bots = configured_bots(db, config).await?;
    let notifier = notifier_for(config, &bots);
    let audit = AuditLog::new(keys.audit.clone());
    let integrations = integrations_for(db, config, std::sync::Arc::new(keys.clone())).await?;
    let report = Sweeper {
        db,
        keys,
        audit: &audit,
        settings: &config.retention,
        notifier: &notifier,
        integrations: Some(&integrations),
    }
    .run(now, dry_run)
    .await?;
    Ok(retention::render(&report, dry_run))
}

/// The integrations service as the CLI uses it: the same providers, owners and notices as the
/// gateway.
pub async fn integrations_for(
    db: &DatabaseConnection,
    config: &Config,
    keys: std::sync::Arc<Keys>,
) -> Result<crate::owners::integrations::Integrations> {
    let bots = configured_bots(db, config).await?;
    Ok(crate::owners::integrations::Integrations {
        db: db.clone(),
        keys: keys.clone(),
        audit: AuditLog::new(keys.audit.clone()),
        providers: config.oauth.clone(),
        public_base: config.public_base(config.http_addr),
        notifier: std::sync::Arc::new(notifier_for(config, &bots)),
        configured_owners: crate::app::configured_owners(config, &bots, &keys),
        http: crate::owners::oauth::client(),
    })
}
