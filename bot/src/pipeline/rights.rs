//! Commands and buttons that are answered with or without consent: reading the policy, giving,
//! refusing and withdrawing consent.

use consentgate_adapters::Outbound;

use super::{Pipeline, PipelineError, Turn, replies};
use crate::consent::{self, Action, Decision, Method, PURPOSE_ASSISTANT, State};

async fn current_state(p: &Pipeline, t: &Turn<'_>) -> Result<State, PipelineError> {
    Ok(consent::state(
        &p.db,
        t.subject.id,
        t.bot.id,
        PURPOSE_ASSISTANT,
        &t.bot.policy,
    )
    .await?)
}

async fn decide(
    p: &Pipeline,
    t: &Turn<'_>,
    action: Action,
    method: Method,
) -> Result<(), PipelineError> {
    decide_on(p, t, action, method, &t.bot.policy).await
}

/// Records a decision about a given policy version.
async fn decide_on(
    p: &Pipeline,
    t: &Turn<'_>,
    action: Action,
    method: Method,
    policy: &consent::Policy,
) -> Result<(), PipelineError> {
    p.metrics
        .consent_events
        .get_or_create(&crate::metrics::ConsentLabel {
            purpose: PURPOSE_ASSISTANT,
            action: action.as_str(),
        })
        .inc();
    consent::record(
        &p.db,
        &p.audit,
        Decision {
            subject_id: t.subject.id,
            pseudonym: &t.subject.pseudonym,
            bot_id: t.bot.id,
            purpose: PURPOSE_ASSISTANT,
            action,
            policy,
            channel: t.inbound.channel,
            method,
            platform_message_id: t.inbound.message_id.clone(),
        },
    )
    .await?;
    Ok(())
}

/// `/start`, `/privacy`, `/revoke`, `/help`, and a polite answer to anything else.
pub(super) async fn command(
    p: &Pipeline,
    t: &Turn<'_>,
    name: &str,
) -> Result<Vec<Outbound>, PipelineError> {
    let known = matches!(name, "start" | "privacy" | "revoke" | "help");
    p.audit
        .record(
            &p.db,
            Some(t.bot.id),
            Some(&t.subject.pseudonym),
            "command",
            serde_json::json!({"command": if known { name } else { "unknown" }}),
        )
        .await?;
    match name {
        "start" => {
            let state = current_state(p, t).await?;
            if state.allows_processing() {
                Ok(vec![Outbound::text(replies::WELCOME_BACK)])
            } else {
                p.count_prompt(t.inbound.channel);
                Ok(replies::consent_prompt(&t.bot.policy, &State::NotAsked))
            }
        }
        "privacy" => {
            let state = current_state(p, t).await?;
            Ok(vec![replies::privacy(&t.bot.policy, &state)])
        }
        "revoke" => {
            // One read gives both the state and the grant to withdraw.
            let latest = consent::latest(&p.db, t.subject.id, t.bot.id, PURPOSE_ASSISTANT).await?;
            let state = consent::state_of(latest.as_ref(), &t.bot.policy);
            if let (State::Given { .. } | State::Outdated { .. }, Some(grant)) = (&state, &latest) {
                // The withdrawal names the version that was granted, which may be older than
                // the current one.
                let policy = if grant.policy_version_id == t.bot.policy.id {
                    t.bot.policy.clone()
                } else {
                    consent::policy_by_id(&p.db, grant.policy_version_id)
                        .await?
                        .unwrap_or_else(|| t.bot.policy.clone())
                };
                decide_on(p, t, Action::Withdrawn, Method::Command, &policy).await?;
                Ok(vec![Outbound::text(replies::WITHDRAWN)])
            } else {
                Ok(vec![Outbound::text(replies::NOTHING_TO_WITHDRAW)])
            }
        }
        "help" => Ok(vec![Outbound::text(replies::HELP)]),
        other => Ok(vec![Outbound::text(replies::unknown_command(other))]),
    }
}

/// A pressed button: `consent:agree:<policy id>` or `consent:decline:<policy id>`.
pub(super) async fn button(
    p: &Pipeline,
    t: &Turn<'_>,
    data: &str,
) -> Result<Vec<Outbound>, PipelineError> {
    let mut parts = data.splitn(3, ':');
    let (Some("consent"), Some(choice), Some(policy_id)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Ok(vec![Outbound::text(replies::UNKNOWN_BUTTON)]);
    };
    let agree = match choice {
        "agree" => true,
        "decline" => false,
        _ => return Ok(vec![Outbound::text(replies::UNKNOWN_BUTTON)]),
    };
    if policy_id.parse::<i64>().ok() != Some(t.bot.policy.id) {
        // The prompt was for another version: the person must see what they agree to.
        let mut out = vec![Outbound::text(replies::STALE_BUTTON)];
        out.extend(replies::consent_prompt(&t.bot.policy, &State::NotAsked));
        return Ok(out);
    }
    let state = current_state(p, t).await?;
    if agree {
        if state.allows_processing() {
            return Ok(vec![Outbound::text(replies::ALREADY_AGREED)]);
        }
        decide(p, t, Action::Given, Method::Button).await?;
        Ok(vec![Outbound::text(replies::THANKS_FOR_CONSENT)])
    } else {
        match state {
            State::Given { .. } => decide(p, t, Action::Withdrawn, Method::Button).await?,
            State::Refused { .. } => {}
            _ => decide(p, t, Action::Refused, Method::Button).await?,
        }
        Ok(vec![Outbound::text(replies::DECLINED)])
    }
}
