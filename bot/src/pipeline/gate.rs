//! The two gates before the assistant: the rate limit (a person sending faster than
//! `messages_per_minute` is asked to slow down, once a minute) and the consent gate (without a
//! grant of every required purpose for its current text, the message is neither stored nor
//! forwarded; the person gets the consent prompt instead, in private).

use consentgate_adapters::{ChannelKind, Outbound};

use super::{Pipeline, PipelineError, Turn, replies};
use crate::{
    app::metrics::{ChannelLabel, ReasonLabel},
    audit::Action,
    consent::{self, Choices},
};

/// `Some(reply)` when the person is over their rate limit: the message goes no further.
pub(super) async fn rate_limit(
    p: &Pipeline,
    t: &Turn<'_>,
) -> Result<Option<Vec<Outbound>>, PipelineError> {
    if p.limiter.check_key(&t.subject.id).is_ok() {
        return Ok(None);
    }
    p.record(
        Some(t.bot.id),
        Some(&t.subject.pseudonym),
        Action::MessageRateLimited,
        serde_json::json!({}),
    )
    .await?;
    p.metrics.rate_limited.inc();
    if p.notice_limiter.check_key(&t.subject.id).is_err() {
        // Told once already: answering every excess message would only add to it.
        return Ok(Some(Vec::new()));
    }
    Ok(Some(vec![Outbound::text(replies::SLOW_DOWN)]))
}

/// The message is held for want of consent: recorded, and the person asked.
pub(super) async fn hold(
    p: &Pipeline,
    t: &Turn<'_>,
    choices: &Choices,
) -> Result<Vec<Outbound>, PipelineError> {
    p.record(
        Some(t.bot.id),
        Some(&t.subject.pseudonym),
        Action::MessageHeld,
        serde_json::json!({"reason": "no_consent", "purpose": consent::PURPOSE_ASSISTANT}),
    )
    .await?;
    p.metrics
        .held
        .get_or_create(&ReasonLabel {
            reason: "no_consent",
        })
        .inc();
    if !t.inbound.chat.private {
        // Consent is per person, never per group: asked in private, not in front of everyone.
        return Ok(vec![replies::ask_in_private(t.inbound)]);
    }
    count_prompt(p, t.inbound.channel);
    Ok(replies::consent_prompt(t.policy, choices, true))
}

/// Counts a consent prompt shown, per channel.
pub(super) fn count_prompt(p: &Pipeline, channel: ChannelKind) {
    p.metrics
        .consent_prompts
        .get_or_create(&ChannelLabel {
            channel: channel.as_str(),
        })
        .inc();
}
