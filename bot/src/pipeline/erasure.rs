//! `/delete` and `/restore` in the route: the confirmed erasure blocks all processing at once
//! and schedules the purge (or purges now, with no grace period); until the purge only undoing
//! it, exporting first, reading the policy and help are answered.

use chrono::{DateTime, Utc};
use consentgate_adapters::Outbound;

use super::{Pipeline, PipelineError, Turn, input::Command, replies, rights::export};
use crate::{audit, consent::Choices, rights::erasure};

/// While an erasure is pending nothing is processed: only undoing it, exporting first, reading
/// the policy and help.
pub(super) async fn while_erasing(
    p: &Pipeline,
    t: &Turn<'_>,
    purge_after: DateTime<Utc>,
) -> Result<Vec<Outbound>, PipelineError> {
    let private = t.inbound.chat.private;
    if private && let consentgate_adapters::InboundKind::Command { name, .. } = &t.inbound.kind {
        match Command::parse(name) {
            Ok(Command::Restore) => {
                let restored = erasure::restore(
                    &p.db,
                    &p.audit,
                    t.subject.id,
                    &t.subject.pseudonym,
                    t.bot.id,
                    Utc::now(),
                )
                .await?;
                let reply = if restored {
                    replies::RESTORED
                } else {
                    replies::NOTHING_TO_RESTORE
                };
                return Ok(vec![Outbound::text(reply)]);
            }
            Ok(Command::Export) => return export(p, t).await,
            Ok(Command::Privacy) => {
                let choices = Choices::load(&p.db, t.subject.id, t.bot.id).await?;
                let mut out = replies::privacy(t.policy, &choices);
                out.text
                    .push_str(&format!("\n\n{}", replies::erasure_pending(purge_after)));
                return Ok(vec![out]);
            }
            Ok(Command::Help) => return Ok(vec![Outbound::text(replies::HELP)]),
            _ => {}
        }
    }
    p.record(
        Some(t.bot.id),
        Some(&t.subject.pseudonym),
        audit::Action::MessageHeld,
        serde_json::json!({"reason": "erasure_pending"}),
    )
    .await?;
    // A pending deletion is nobody else's business: a group is told only where to look.
    Ok(vec![if private {
        Outbound::text(replies::erasure_pending(purge_after))
    } else {
        replies::only_in_private(t.inbound)
    }])
}

/// The confirmed `/delete`: blocked at once, purged after the grace period (or now, with 0).
pub(super) async fn erase(p: &Pipeline, t: &Turn<'_>) -> Result<Vec<Outbound>, PipelineError> {
    let grace = p.retention.erasure_grace_days;
    // Accounts the person linked as an owner are cut off at once, at the provider too.
    let revoked = p
        .integrations
        .revoke_owned_by(t.subject.id, "erasure")
        .await?;
    let purge_after = erasure::request(
        &p.db,
        &p.audit,
        erasure::Request {
            subject_id: t.subject.id,
            pseudonym: &t.subject.pseudonym,
            bot_id: Some(t.bot.id),
            grace_days: grace,
            integrations_revoked: revoked,
            by: None,
        },
        Utc::now(),
    )
    .await?;
    let Some(purge_after) = purge_after else {
        // Decided a moment ago by another request (another chat, or the console).
        return Ok(vec![Outbound::text(replies::ERASURE_ALREADY_DECIDED)]);
    };
    // Where the tools passed the person's data, the owners are told, so they can delete it
    // there (from the audit log, which the purge keeps).
    let tell = crate::tools::erasure::tell_owners(
        &p.integrations,
        &t.subject.pseudonym,
        None,
        crate::tools::erasure::Why::Asked,
    );
    if grace == 0 {
        erasure::purge(
            &p.db,
            &p.audit,
            t.subject.id,
            &t.subject.pseudonym,
            erasure::Because::RequestNow,
        )
        .await?;
        tell.await;
        return Ok(vec![Outbound::text(replies::ERASED_NOW)]);
    }
    tell.await;
    Ok(vec![Outbound::text(replies::erasure_scheduled(
        purge_after,
    ))])
}
