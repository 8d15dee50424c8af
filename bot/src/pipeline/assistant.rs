//! The assistant step: the message goes to the LLM provider under the person's pseudonym, and the
//! answer comes back. The exchange is stored (encrypted) only for people who chose `history`,
//! and then the last messages go along as context, redacted like the message itself.

use std::sync::atomic::Ordering;

use chrono::Utc;
use sea_orm::{EntityTrait, Set};

use consentgate_adapters::{MediaKind, Outbound};
use consentgate_entity::egress_ledger;

use super::{Pipeline, PipelineError, Turn, dedupe, outbox, replies};
use crate::audit::Action;
use crate::rights::allowance;
use crate::{
    app::metrics::{ReasonLabel, TypeLabel},
    audit::Pending,
    consent::{Choices, PURPOSE_HISTORY},
    llm::{Cut, LlmError, Payload, Prompt, Provider, Role, ToolRound},
    redact::{Hints, Placeholders, RedactedText},
    rights::conversation,
};

pub(super) async fn answer(
    p: &Pipeline,
    t: &Turn<'_>,
    choices: &Choices,
) -> Result<Vec<Outbound>, PipelineError> {
    // Nothing is fetched, transcribed or sent for someone with no request left.
    if let Some(reply) = allowance_reply(p, t).await? {
        return Ok(vec![reply]);
    }
    let transcript;
    let mut picture = None;
    let text = match (&t.inbound.media, t.inbound.text.as_deref()) {
        (Some(media), _) if media.kind == MediaKind::Voice => {
            match super::voice::transcript(p, t, choices, media).await? {
                Ok(text) => {
                    transcript = text;
                    transcript.as_str()
                }
                Err(reply) => return Ok(vec![reply]),
            }
        }
        // A picture goes with its caption (redacted like any text), or with none.
        (Some(media), caption) if media.kind == MediaKind::Image => {
            match super::pictures::picture(p, t, choices, media).await? {
                Ok(found) => {
                    picture = Some(found);
                    caption.unwrap_or("")
                }
                Err(reply) => return Ok(vec![reply]),
            }
        }
        (Some(_), _) => return Ok(vec![Outbound::text(replies::FILES_NOT_READ)]),
        (None, Some(text)) => text,
        (None, None) => return Ok(vec![Outbound::text(replies::TEXT_ONLY)]),
    };

    let keep_history = choices.allows(t.policy, PURPOSE_HISTORY);
    let earlier = if keep_history {
        conversation::recent(
            &p.db,
            &p.keys,
            (t.subject.id, t.bot.id),
            &conversation::ChatKey::of(&p.keys, &t.inbound.chat),
            p.history_messages,
        )
        .await?
    } else {
        Vec::new()
    };
    // Personal data becomes placeholders; the mapping lives only in this function. One mapping
    // covers the context too, so a value repeated there gets the same placeholder.
    let mut placeholders = Placeholders::new();
    // The sender's names now, and the names they had when they wrote the earlier messages: a
    // rename leaves no old name in clear in the context.
    let mut hints = Hints::from_sender(&t.inbound.sender);
    for name in earlier.iter().flat_map(|m| &m.names) {
        if !hints.terms.contains(name) {
            hints.terms.push(name.clone());
        }
    }
    let redacted = earlier
        .iter()
        .map(|m| {
            p.redactor
                .redact(&m.text, &hints, &mut placeholders)
                .map(|r| (m.role, r))
        })
        .collect::<Result<Vec<(Role, RedactedText)>, _>>()
        .and_then(|history| {
            p.redactor
                .redact(text, &hints, &mut placeholders)
                .map(|r| (history, r))
        });
    let (history, redacted) = match redacted {
        Ok(both) => both,
        Err(err) => {
            // Fail closed: nothing unredacted ever leaves.
            tracing::warn!(subject = t.subject.pseudonym.short(), error = %err, "redaction failed; message not forwarded");
            return held_unredacted(p, t).await;
        }
    };
    // The providers in order, the next asked when one fails; each forward is recorded (with
    // the person's consent read again) before its bytes leave.
    let consented = t
        .policy
        .purpose(crate::consent::PURPOSE_ASSISTANT)
        .map_or("", |purpose| purpose.text.as_str());
    // A picture goes only to providers that accept pictures, named in the `images` purpose.
    let ready = match &picture {
        None => p.providers.ready(consented),
        Some(_) => {
            let images = t
                .policy
                .purpose(crate::consent::PURPOSE_IMAGES)
                .map_or("", |purpose| purpose.text.as_str());
            p.providers
                .ready(images)
                .into_iter()
                .filter(|(_, provider)| provider.accepts_images())
                .collect()
        }
    };
    if ready.is_empty() {
        return llm_failed(p, t, "none", &LlmError::Resting).await;
    }
    // The business's own documents that may answer it, searched here with the redacted text (a
    // name or number of the person's never picks the passage that holds it). A search that
    // fails leaves the answer without them.
    let passages = super::knowledge::search(p, t, redacted.as_str()).await?;
    // The tools the model may call for this person, and a word on those held back until they
    // agree to what they pass on.
    let offer = super::tools::offer(p, t, choices).await?;
    let context = match (crate::knowledge::as_context(&passages), &offer.note) {
        (Some(k), Some(note)) => Some(format!("{k}\n\n{note}")),
        (k, note) => k.or(note.clone()),
    };
    // The text of a stream that broke off midway, in case no provider can finish the answer.
    let mut broken_off: Option<String> = None;
    // The tool calls made for this message and what they gave: a provider asked after another
    // failed carries on from them, so nothing is done twice.
    let mut rounds: Vec<ToolRound> = Vec::new();
    let mut calls_made = 0;
    let most_calls = p.tools.calls_per_answer();
    'providers: for (attempt, &(i, provider)) in ready.iter().enumerate() {
        let completion = loop {
            let payload = provider.payload(Prompt {
                user: &t.subject.pseudonym,
                text: &redacted,
                history: &history,
                system: t.policy.system_prompt.as_deref(),
                picture: picture.as_ref(),
                knowledge: context.as_deref(),
                tools: &offer.specs,
                rounds: &rounds,
                tools_done: calls_made >= most_calls,
            });
            let forward = Forward {
                provider,
                attempt: attempt + 1,
                round: rounds.len(),
                context_messages: history.len(),
            };
            match record_forward(p, t, &payload, &redacted, forward).await? {
                Ok(()) => {}
                Err(Held::ConsentChanged) => {
                    // A withdrawal, a refusal or a deletion was decided first: nothing goes out.
                    p.record(
                        Some(t.bot.id),
                        Some(&t.subject.pseudonym),
                        Action::MessageHeld,
                        serde_json::json!({"reason": "consent_changed"}),
                    )
                    .await?;
                    return Ok(vec![Outbound::text(replies::HELD_AFTER_CHANGE)]);
                }
                // The last request went to a message sent at the same moment.
                Err(Held::AllowanceUsed) => return out_of_requests(p, t).await,
            }
            // The answer shows as it grows, restored: a placeholder is shown only once it is
            // complete, and then as the value it stands for.
            t.progress.writing();
            let mut so_far = String::new();
            // Restoring goes over the whole text so far: at most every SHOW_EVERY (what shows
            // next is the latest text anyway).
            let mut shown_at: Option<std::time::Instant> = None;
            let mut on_text = |piece: &str| {
                so_far.push_str(piece);
                if t.progress.watched() && shown_at.is_none_or(|at| at.elapsed() >= SHOW_EVERY) {
                    t.progress.text(&placeholders.restore_settled(&so_far));
                    shown_at = Some(std::time::Instant::now());
                }
            };
            let completion = match provider.send(payload, &mut on_text).await {
                Ok(completion) => completion,
                Err(err) => {
                    record_llm_error(p, t, provider.name(), &err).await?;
                    if !err.falls_over() {
                        // Refused for this request (400, 401, 413 …): no other provider is sent
                        // it, and the provider is not put to rest for everyone.
                        return Ok(vec![unavailable(&rounds)]);
                    }
                    p.providers.failed(i, &err);
                    // The next provider answers from the start.
                    if !so_far.trim().is_empty() {
                        broken_off = Some(so_far);
                    }
                    continue 'providers;
                }
            };
            if completion.tool_calls.is_empty() || calls_made >= most_calls {
                break completion;
            }
            // The calls the model asked for, each recorded before it leaves; those past the
            // limit are answered with an error without being made. An id used in an earlier
            // round (made up for a provider that sent none) is made unique.
            let mut calls = completion.tool_calls;
            for call in &mut calls {
                if rounds
                    .iter()
                    .flat_map(|r| &r.calls)
                    .any(|c| c.id == call.id)
                {
                    call.id = format!("{}_{}", call.id, rounds.len());
                }
            }
            let mut results = Vec::with_capacity(calls.len());
            for call in &calls {
                if calls_made >= most_calls {
                    results.push("error: no more tool calls for this message".to_string());
                    continue;
                }
                calls_made += 1;
                let answered = super::tools::call(
                    p,
                    t,
                    &offer,
                    call,
                    (&mut placeholders, &hints),
                    rounds.len(),
                )
                .await?;
                if answered.stop {
                    return Ok(vec![Outbound::text(replies::HELD_AFTER_CHANGE)]);
                }
                results.push(answered.result);
            }
            rounds.push(ToolRound { calls, results });
        };
        if completion.text.trim().is_empty() {
            // Still asking for tools after the last one allowed: no answer to show.
            return Ok(vec![unavailable(&rounds)]);
        }
        p.providers.answered(i);
        p.metrics
            .llm_latency
            .observe(completion.latency.as_secs_f64());
        p.metrics.daily.answered(t.bot.id, completion.latency);
        tracing::debug!(
            subject = t.subject.pseudonym.short(),
            provider = provider.name(),
            latency_ms = completion.latency.as_millis() as u64,
            tool_calls = calls_made,
            "assistant answered"
        );
        let answer = placeholders.restore(&completion.text);
        if keep_history && let Some(purpose) = t.policy.purpose(PURPOSE_HISTORY) {
            conversation::store(
                &p.db,
                &p.keys,
                (t.subject.id, t.bot.id),
                &conversation::ChatKey::of(&p.keys, &t.inbound.chat),
                &purpose.text_sha256,
                (
                    if picture.is_some() && text.is_empty() {
                        "(a picture)"
                    } else {
                        text
                    },
                    &answer,
                ),
                &hints.terms,
            )
            .await?;
        }
        // An answer stopped early says so.
        let shown = match completion.cut {
            None => answer,
            Some(Cut::Length) => format!("{answer}\n\n{}", replies::ANSWER_AT_LENGTH_LIMIT),
            Some(Cut::Other) => format!("{answer}\n\n{}", replies::ANSWER_STOPPED),
        };
        let mut reply = Outbound::markdown(shown);
        reply.reply_to = t.inbound.message_id.clone();
        return Ok(vec![reply]);
    }
    tracing::warn!(
        subject = t.subject.pseudonym.short(),
        providers = ready.len(),
        "every LLM provider failed"
    );
    if let Some(partial) = broken_off {
        // What arrived is shown, and said to be incomplete: never silently cut.
        let mut reply = Outbound::markdown(format!(
            "{}\n\n{}",
            placeholders.restore_settled(&partial).trim_end(),
            replies::ANSWER_CUT_OFF
        ));
        reply.reply_to = t.inbound.message_id.clone();
        return Ok(vec![reply]);
    }
    Ok(vec![unavailable(&rounds)])
}

/// No answer: said so, and when tools were already called for the message, that what they did
/// stands (a booking is not to be asked for twice).
fn unavailable(rounds: &[ToolRound]) -> Outbound {
    Outbound::text(if rounds.is_empty() {
        replies::ASSISTANT_UNAVAILABLE
    } else {
        replies::UNFINISHED_AFTER_TOOLS
    })
}

/// The shortest time between two updates of an answer being written.
const SHOW_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// A provider's failure: counted, logged (without the text) and audited.
async fn record_llm_error(
    p: &Pipeline,
    t: &Turn<'_>,
    provider: &str,
    err: &LlmError,
) -> Result<(), PipelineError> {
    p.metrics
        .llm_errors
        .get_or_create(&ReasonLabel { reason: err.kind() })
        .inc();
    tracing::warn!(subject = t.subject.pseudonym.short(), provider, error = %err, "LLM call failed");
    p.record(
        Some(t.bot.id),
        Some(&t.subject.pseudonym),
        Action::LlmFailed,
        serde_json::json!({"provider": provider, "error": err.kind()}),
    )
    .await?;
    Ok(())
}

/// No provider could be asked: recorded, and the person told.
async fn llm_failed(
    p: &Pipeline,
    t: &Turn<'_>,
    provider: &str,
    err: &LlmError,
) -> Result<Vec<Outbound>, PipelineError> {
    record_llm_error(p, t, provider, err).await?;
    Ok(vec![Outbound::text(replies::ASSISTANT_UNAVAILABLE)])
}

/// Redaction failed: the message is held, recorded, and the person told.
async fn held_unredacted(p: &Pipeline, t: &Turn<'_>) -> Result<Vec<Outbound>, PipelineError> {
    p.record(
        Some(t.bot.id),
        Some(&t.subject.pseudonym),
        Action::MessageHeld,
        serde_json::json!({"reason": "redaction_failed"}),
    )
    .await?;
    p.metrics
        .held
        .get_or_create(&ReasonLabel {
            reason: "redaction_failed",
        })
        .inc();
    Ok(vec![Outbound::text(replies::NOT_FORWARDED)])
}

/// Set as the error of a forward's write when the person may no longer be processed.
const NOT_NOW: &str = "consent changed before the forward";
/// Set as the error of a forward's write when the person has no request left.
pub(super) const USED_UP: &str = "no request left";

/// Why a forward was not recorded (and nothing was sent).
enum Held {
    ConsentChanged,
    AllowanceUsed,
}

/// Where the person has no request left: the reply saying which allowance ran out, when it
/// renews, and where plans can be bought; `None` while they have one.
pub(super) async fn allowance_reply(
    p: &Pipeline,
    t: &Turn<'_>,
) -> Result<Option<Outbound>, PipelineError> {
    let standing =
        allowance::standing(&p.db, &p.allowance, t.subject.id, t.bot.id, Utc::now()).await?;
    let allowance::Standing::Out(out) = standing else {
        return Ok(None);
    };
    p.record(
        Some(t.bot.id),
        Some(&t.subject.pseudonym),
        Action::MessageHeld,
        serde_json::json!({"reason": "allowance_used"}),
    )
    .await?;
    let plans = !p.allowance.plans.is_empty() && t.inbound.channel.has_stars();
    Ok(Some(Outbound::text(replies::allowance_used(&out, plans))))
}

pub(super) async fn out_of_requests(
    p: &Pipeline,
    t: &Turn<'_>,
) -> Result<Vec<Outbound>, PipelineError> {
    Ok(vec![allowance_reply(p, t).await?.unwrap_or_else(|| {
        Outbound::text(replies::ASSISTANT_UNAVAILABLE)
    })])
}

/// Which provider a forward goes to.
struct Forward<'a> {
    provider: &'a dyn Provider,
    /// 1 for the first provider asked; more when earlier ones failed. Only the first forward
    /// completes the delivery; each one renews the apology's lease in the outbox.
    attempt: usize,
    /// 0 for the message; 1 and up for the requests after each round of tool calls.
    round: usize,
    context_messages: usize,
}

/// The forward is recorded (audit entry, egress ledger row, the delivery's completion and the
/// apology in the outbox, its lease renewed on every attempt, in one commit) before the provider is asked. In the same transaction,
/// holding the person's row lock, their consent is read again: a withdrawal, refusal or erasure
/// decided meanwhile (on another chat, connection or replica) comes first, and then nothing is
/// recorded or sent (`false`); one decided later is recorded after the forward.
async fn record_forward(
    p: &Pipeline,
    t: &Turn<'_>,
    payload: &Payload,
    redacted: &RedactedText,
    forward: Forward<'_>,
) -> Result<Result<(), Held>, PipelineError> {
    // Only the first request for the message spends, completes the delivery and counts the
    // redactions; the others (another provider, a round after tool calls) are recorded alike.
    let first = forward.attempt == 1 && forward.round == 0;
    let context_messages = forward.context_messages;
    let allowance = p.allowance.clone();
    // One request per message: not again for each provider tried, nor after its voice note.
    let spend = first && !t.spent.load(Ordering::Relaxed);
    // Written before the call: if the audit log cannot be written, nothing is forwarded. The
    // SHA-256 of the exact bytes sent is the egress ledger's proof of what left; the ledger row
    // and the audit entry are kept together or not at all.
    let sha = payload.sha256();
    let (bot_id, subject_id) = (t.bot.id, t.subject.id);
    let (provider, model) = (
        forward.provider.name().to_string(),
        forward.provider.model().to_string(),
    );
    let key = t.delivery.to_string();
    // Until the answer replaces it, the outbox holds an apology: a kill while the provider works
    // leaves the person that, not silence.
    let mut apology = Outbound::text(replies::ANSWER_LOST);
    apology.reply_to = t.inbound.message_id.clone();
    let apology = t
        .inbound
        .channel
        .acknowledges()
        .then(|| outbox::row(&p.keys, bot_id, &key, t.inbound, &[apology], p.lease));
    let entry = Pending {
        bot_id: Some(bot_id),
        subject: Some(t.subject.pseudonym.clone()),
        action: Action::MessageForwarded,
        detail: serde_json::json!({
            "provider": provider,
            "model": model,
            "redactions": redacted.counts(),
            "context_messages": context_messages,
            "payload_sha256": sha,
            "attempt": forward.attempt,
            "round": forward.round,
        }),
    };
    let policy = t.policy.clone();
    let written = p
        .committer
        .write_recorded(entry, move |txn| {
            let (key, apology, policy) = (key.clone(), apology.clone(), policy.clone());
            let ledger = egress_ledger::Entity::insert(egress_ledger::ActiveModel {
                subject_id: Set(subject_id),
                bot_id: Set(bot_id),
                provider: Set(provider.clone()),
                model: Set(model.clone()),
                payload_sha256: Set(sha.clone()),
                created_at: Set(Utc::now()),
                ..Default::default()
            });
            let allowance = allowance.clone();
            Box::pin(async move {
                crate::consent::lock_person(txn, subject_id).await?;
                if !crate::consent::may_process_now(txn, subject_id, bot_id, &policy).await? {
                    return Err(sea_orm::DbErr::Custom(NOT_NOW.into()));
                }
                // One request of the allowance, for the message (not for each provider tried).
                if spend
                    && allowance::spend(txn, &allowance, subject_id, bot_id, Utc::now())
                        .await?
                        .is_some()
                {
                    return Err(sea_orm::DbErr::Custom(USED_UP.into()));
                }
                ledger.exec_without_returning(txn).await?;
                // The delivery is handled from here on: a redelivery is not forwarded again, even
                // if something after the provider call fails.
                if first {
                    dedupe::complete(txn, bot_id, key).await?;
                }
                match apology {
                    Some(row) => outbox::keep(txn, row).await,
                    None => Ok(()),
                }
            })
        })
        .await;
    match written {
        Ok(()) => {}
        Err(sea_orm::DbErr::Custom(why)) if why == NOT_NOW => {
            return Ok(Err(Held::ConsentChanged));
        }
        Err(sea_orm::DbErr::Custom(why)) if why == USED_UP => {
            return Ok(Err(Held::AllowanceUsed));
        }
        Err(err) => return Err(err.into()),
    }
    t.completed.store(true, Ordering::Relaxed);
    // Decided: the person's next message need not wait for the provider's answer.
    t.order.lock().unwrap_or_else(|e| e.into_inner()).take();
    if !first {
        return Ok(Ok(()));
    }
    for (label, count) in redacted.counts() {
        p.metrics
            .redactions
            .get_or_create(&TypeLabel {
                r#type: label.clone(),
            })
            .inc_by(*count as u64);
    }
    Ok(Ok(()))
}
