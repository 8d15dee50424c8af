//! Voice notes: with the person's `voice` purpose, the audio is fetched from the platform,
//! recorded (audit entry and egress ledger row with its SHA-256, the person's consent read
//! again under their lock) and sent to the transcription service; the text then takes the
//! typed message's route (redaction, the provider). The audio is kept nowhere. Without the
//! purpose, or without a service, the person is told what to do instead.

use std::sync::atomic::Ordering;

use consentgate_adapters::{Media, MediaError, Outbound};
use sea_orm::{EntityTrait, Set};

use super::{Pipeline, PipelineError, Turn, dedupe, outbox, replies};
use crate::{
    audit::{Action, Pending},
    consent::{Choices, PURPOSE_VOICE},
    privacy::digest::sha256_hex,
};
use consentgate_entity::egress_ledger;

/// Set as the error of the transcription's record when the person may no longer be processed.
const NOT_NOW: &str = "consent changed before the transcription";

/// What became of the transcription's record.
enum Recorded {
    Yes,
    ConsentChanged,
    AllowanceUsed,
}

/// The text of a voice note, or what to tell the person instead.
pub(super) async fn transcript(
    p: &Pipeline,
    t: &Turn<'_>,
    choices: &Choices,
    media: &Media,
) -> Result<Result<String, Outbound>, PipelineError> {
    let say = |text: String| Ok(Err(Outbound::text(text)));
    let Some(transcriber) = &p.transcriber else {
        return say(replies::VOICE_OFF.to_string());
    };
    // Only the service the person's grant names: after the configuration names another one,
    // nothing goes until a policy version naming it is published and agreed to.
    let Some(purpose) = t.policy.purpose(PURPOSE_VOICE) else {
        return say(replies::VOICE_OFF.to_string());
    };
    if !purpose.text.contains(&transcriber.recipient) {
        tracing::warn!(
            "the voice purpose in effect does not name the configured transcription service; \
             publish a policy version naming it"
        );
        return say(replies::VOICE_OFF.to_string());
    }
    if !choices.allows(t.policy, PURPOSE_VOICE) {
        return say(replies::voice_needs_consent(&transcriber.recipient));
    }
    // Someone else's voice is not the sender's to agree to.
    if media.forwarded {
        return say(replies::VOICE_FORWARDED.to_string());
    }
    if media
        .duration_secs
        .is_some_and(|s| s > transcriber.max_seconds)
    {
        return say(replies::voice_too_long(transcriber.max_seconds));
    }
    let Some(channel) = p.integrations.notifier.channel(t.bot.id) else {
        return say(replies::VOICE_OFF.to_string());
    };
    // At most a few voice notes are held in memory at once.
    let _slot = transcriber.slot().await;
    let audio = match channel.fetch_media(media, transcriber.max_bytes()).await {
        Ok(audio) => audio,
        Err(MediaError::TooLarge(_)) => {
            return say(replies::voice_too_large(transcriber.max_seconds));
        }
        Err(err) => {
            tracing::warn!(channel = %t.inbound.channel, error = %err, "voice note not fetched");
            return say(replies::VOICE_FAILED.to_string());
        }
    };
    match record_transcription(p, t, transcriber, &audio).await? {
        Recorded::Yes => {}
        Recorded::ConsentChanged => {
            held(p, t, "consent_changed").await?;
            return say(replies::HELD_AFTER_CHANGE.to_string());
        }
        // The last request went to another message at the same moment.
        Recorded::AllowanceUsed => {
            return Ok(Err(super::assistant::out_of_requests(p, t)
                .await?
                .remove(0)));
        }
    }
    match transcriber.transcribe(audio, media.mime.as_deref()).await {
        Ok(text) if !text.is_empty() => Ok(Ok(text)),
        Ok(_) => say(replies::VOICE_EMPTY.to_string()),
        Err(err) => {
            tracing::warn!(error = %err, "voice note not transcribed");
            held(p, t, "transcription_failed").await?;
            say(replies::VOICE_FAILED.to_string())
        }
    }
}

/// A voice note not answered after it was recorded as sent: why, in the audit log.
async fn held(p: &Pipeline, t: &Turn<'_>, reason: &str) -> Result<(), PipelineError> {
    p.record(
        Some(t.bot.id),
        Some(&t.subject.pseudonym),
        Action::MessageHeld,
        serde_json::json!({"reason": reason}),
    )
    .await?;
    Ok(())
}

/// Records what is about to be sent (the audit entry and the egress ledger row, with the
/// audio's SHA-256) before it leaves, with the person's consent read again under their lock:
/// `false` when a withdrawal, refusal or erasure came first (nothing is then sent). In the same
/// commit the delivery is marked handled and an apology waits in the outbox, as for a forward:
/// a failure or a takeover after this point never sends the audio a second time, and the
/// person's next message need not wait for the transcription.
async fn record_transcription(
    p: &Pipeline,
    t: &Turn<'_>,
    transcriber: &crate::transcribe::Transcriber,
    audio: &[u8],
) -> Result<Recorded, PipelineError> {
    let allowance = p.allowance.clone();
    let sha = sha256_hex(audio);
    let (bot_id, subject_id) = (t.bot.id, t.subject.id);
    let (service, model) = (
        transcriber.name().to_string(),
        transcriber.model().to_string(),
    );
    let recipient = transcriber.recipient.clone();
    let entry = Pending {
        bot_id: Some(bot_id),
        subject: Some(t.subject.pseudonym.clone()),
        action: Action::VoiceTranscribed,
        detail: serde_json::json!({
            "service": service,
            "recipient": recipient,
            "model": model,
            "audio_sha256": sha,
            "bytes": audio.len(),
        }),
    };
    let policy = t.policy.clone();
    let key = t.delivery.to_string();
    let mut apology = Outbound::text(replies::ANSWER_LOST);
    apology.reply_to = t.inbound.message_id.clone();
    let apology = t
        .inbound
        .channel
        .acknowledges()
        .then(|| outbox::row(&p.keys, bot_id, &key, t.inbound, &[apology], p.lease));
    let written = p
        .committer
        .write_recorded(entry, move |txn| {
            let (policy, key, apology) = (policy.clone(), key.clone(), apology.clone());
            let allowance = allowance.clone();
            let ledger = egress_ledger::Entity::insert(egress_ledger::ActiveModel {
                subject_id: Set(subject_id),
                bot_id: Set(bot_id),
                provider: Set(service.clone()),
                model: Set(model.clone()),
                payload_sha256: Set(sha.clone()),
                created_at: Set(chrono::Utc::now()),
                ..Default::default()
            });
            Box::pin(async move {
                crate::consent::lock_person(txn, subject_id).await?;
                let allowed = crate::consent::may_process_now(txn, subject_id, bot_id, &policy)
                    .await?
                    && Choices::load(txn, subject_id, bot_id)
                        .await?
                        .allows(&policy, PURPOSE_VOICE);
                if !allowed {
                    return Err(sea_orm::DbErr::Custom(NOT_NOW.into()));
                }
                // The message's request is spent here, before the (costly) transcription.
                if crate::rights::allowance::spend(
                    txn,
                    &allowance,
                    subject_id,
                    bot_id,
                    chrono::Utc::now(),
                )
                .await?
                .is_some()
                {
                    return Err(sea_orm::DbErr::Custom(super::assistant::USED_UP.into()));
                }
                ledger.exec_without_returning(txn).await?;
                dedupe::complete(txn, bot_id, key).await?;
                match apology {
                    Some(row) => outbox::keep(txn, row).await,
                    None => Ok(()),
                }
            })
        })
        .await;
    match written {
        Ok(()) => {
            t.completed.store(true, Ordering::Relaxed);
            t.spent.store(true, Ordering::Relaxed);
            t.order.lock().unwrap_or_else(|e| e.into_inner()).take();
            Ok(Recorded::Yes)
        }
        Err(sea_orm::DbErr::Custom(why)) if why == NOT_NOW => Ok(Recorded::ConsentChanged),
        Err(sea_orm::DbErr::Custom(why)) if why == super::assistant::USED_UP => {
            Ok(Recorded::AllowanceUsed)
        }
        Err(err) => Err(err.into()),
    }
}
