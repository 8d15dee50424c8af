//! The assistant step: the message goes to the LLM provider under the person's pseudonym, and the
//! answer comes back. The message text is not stored.

use consentgate_adapters::Outbound;

use super::{Pipeline, PipelineError, Turn, replies};
use crate::{
    llm::Prompt,
    metrics::{ReasonLabel, TypeLabel},
    redact::{Hints, Placeholders},
};

pub(super) async fn answer(p: &Pipeline, t: &Turn<'_>) -> Result<Vec<Outbound>, PipelineError> {
    let Some(text) = t.inbound.text.as_deref() else {
        return Ok(vec![Outbound::text(replies::TEXT_ONLY)]);
    };
    // Personal data becomes placeholders; the mapping lives only in this function.
    let mut placeholders = Placeholders::new();
    let hints = Hints::from_sender(&t.inbound.sender);
    let redacted = match p.redactor.redact(text, &hints, &mut placeholders) {
        Ok(redacted) => redacted,
        Err(err) => {
            // Fail closed: nothing unredacted ever leaves.
            tracing::warn!(subject = t.subject.pseudonym.short(), error = %err, "redaction failed; message not forwarded");
            p.audit
                .record(
                    &p.db,
                    Some(t.bot.id),
                    Some(&t.subject.pseudonym),
                    "message.held",
                    serde_json::json!({"reason": "redaction_failed"}),
                )
                .await?;
            p.metrics
                .held
                .get_or_create(&ReasonLabel {
                    reason: "redaction_failed",
                })
                .inc();
            return Ok(vec![Outbound::text(replies::NOT_FORWARDED)]);
        }
    };
    let payload = p.provider.payload(Prompt {
        user: &t.subject.pseudonym,
        text: &redacted,
    });
    // Written before the call: if the audit log cannot be written, nothing is forwarded. The
    // SHA-256 of the exact bytes sent is the egress ledger's proof of what left.
    p.audit
        .record(
            &p.db,
            Some(t.bot.id),
            Some(&t.subject.pseudonym),
            "message.forwarded",
            serde_json::json!({
                "provider": p.provider.name(),
                "model": p.provider.model(),
                "redactions": redacted.counts(),
                "payload_sha256": payload.sha256(),
            }),
        )
        .await?;
    for (label, count) in redacted.counts() {
        p.metrics
            .redactions
            .get_or_create(&TypeLabel {
                r#type: label.clone(),
            })
            .inc_by(*count as u64);
    }
    match p.provider.send(payload).await {
        Ok(completion) => {
            p.metrics
                .llm_latency
                .observe(completion.latency.as_secs_f64());
            tracing::debug!(
                subject = t.subject.pseudonym.short(),
                latency_ms = completion.latency.as_millis() as u64,
                "assistant answered"
            );
            let mut reply = Outbound::text(placeholders.restore(&completion.text));
            reply.reply_to = t.inbound.message_id.clone();
            Ok(vec![reply])
        }
        Err(err) => {
            p.metrics
                .llm_errors
                .get_or_create(&ReasonLabel { reason: err.kind() })
                .inc();
            tracing::warn!(subject = t.subject.pseudonym.short(), error = %err, "LLM call failed");
            p.audit
                .record(
                    &p.db,
                    Some(t.bot.id),
                    Some(&t.subject.pseudonym),
                    "llm.failed",
                    serde_json::json!({"provider": p.provider.name(), "error": err.kind()}),
                )
                .await?;
            Ok(vec![Outbound::text(replies::ASSISTANT_UNAVAILABLE)])
        }
    }
}
