//! Voice notes: with the person's `voice` purpose, the audio is fetched from the platform,
//! recorded (audit entry and egress ledger row with its SHA-256, the person's consent read
//! again under their lock) and sent to the transcription service; the text then takes the
//! typed message's route (redaction, the provider). The audio is kept nowhere. Without the
//! purpose, or without a service, the person is told what to do instead.

use consentgate_adapters::{Media, MediaError, Outbound};
use sea_orm::{EntityTrait, Set};

use super::{Pipeline, PipelineError, Turn, replies};
use crate::{
    audit::{Action, Pending},
    consent::{Choices, PURPOSE_VOICE},
    privacy::digest::sha256_hex,
};
use consentgate_entity::egress_ledger;

/// Set as the error of the transcription's record when the person may no longer be processed.
const NOT_NOW: &str = "consent changed before the transcription";

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
    if t.policy.purpose(PURPOSE_VOICE).is_none() {
        return say(replies::VOICE_OFF.to_string());
    }
    if !choices.allows(t.policy, PURPOSE_VOICE) {
        return say(replies::voice_needs_consent(&transcriber.recipient));
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
    let audio = match channel.fetch_media(media, transcriber.max_bytes).await {
        Ok(audio) => audio,
        Err(MediaError::TooLarge(_)) => {
            return say(replies::voice_too_long(transcriber.max_seconds));
        }
        Err(err) => {
            tracing::warn!(channel = %t.inbound.channel, error = %err, "voice note not fetched");
            return say(replies::VOICE_FAILED.to_string());
        }
    };
    if !record_transcription(p, t, transcriber, &audio).await? {
        return say(replies::HELD_AFTER_CHANGE.to_string());
    }
    match transcriber.transcribe(audio, media.mime.as_deref()).await {
        Ok(text) if !text.is_empty() => Ok(Ok(text)),
        Ok(_) => say(replies::VOICE_EMPTY.to_string()),
        Err(err) => {
            tracing::warn!(error = %err, "voice note not transcribed");
            say(replies::VOICE_FAILED.to_string())
        }
    }
}

/// Records what is about to be sent (the audit entry and the egress ledger row, with the
/// audio's SHA-256) before it leaves, with the person's consent read again under their lock:
/// `false` when a withdrawal, refusal or erasure came first (nothing is then sent).
async fn record_transcription(
    p: &Pipeline,
    t: &Turn<'_>,
    transcriber: &crate::transcribe::Transcriber,
    audio: &[u8],
) -> Result<bool, PipelineError> {
    let sha = sha256_hex(audio);
    let (bot_id, subject_id) = (t.bot.id, t.subject.id);
    let (service, model) = (
        transcriber.name().to_string(),
        transcriber.model().to_string(),
    );
    let entry = Pending {
        bot_id: Some(bot_id),
        subject: Some(t.subject.pseudonym.clone()),
        action: Action::VoiceTranscribed,
        detail: serde_json::json!({
            "service": service,
            "model": model,
            "audio_sha256": sha,
            "bytes": audio.len(),
        }),
    };
    let policy = t.policy.clone();
    let written = p
        .committer
        .write_recorded(entry, move |txn| {
            let policy = policy.clone();
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
                ledger.exec_without_returning(txn).await?;
                Ok(())
            })
        })
        .await;
    match written {
        Ok(()) => Ok(true),
        Err(sea_orm::DbErr::Custom(why)) if why == NOT_NOW => Ok(false),
        Err(err) => Err(err.into()),
    }
}
