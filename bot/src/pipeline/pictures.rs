//! Pictures: only where a configured model accepts them, and only for people who turned on the
//! optional purpose `images`, whose text says plainly that a picture cannot be redacted. The
//! picture is fetched from the platform and goes, with the redacted caption, in the forward
//! itself (its SHA-256 in the egress ledger covers it); it is stored nowhere. Otherwise the
//! person is told, politely, what to do instead.

use consentgate_adapters::{Media, MediaError, Outbound};

use super::{Pipeline, PipelineError, Turn, replies};
use crate::{
    consent::{Choices, PURPOSE_IMAGES},
    llm::Picture,
};

/// The largest picture taken (platforms send photos well under this).
const MAX_BYTES: u64 = 5 * 1024 * 1024;

/// The picture, ready to go, or what to tell the person instead.
pub(super) async fn picture(
    p: &Pipeline,
    t: &Turn<'_>,
    choices: &Choices,
    media: &Media,
) -> Result<Result<Picture, Outbound>, PipelineError> {
    let say = |text: String| Ok(Err(Outbound::text(text)));
    let offered = t.policy.purpose(PURPOSE_IMAGES).is_some()
        && p.providers.all().any(|provider| provider.accepts_images());
    if !offered {
        return say(replies::IMAGES_NOT_READ.to_string());
    }
    if !choices.allows(t.policy, PURPOSE_IMAGES) {
        return say(replies::IMAGES_NEED_CONSENT.to_string());
    }
    let Some(channel) = p.integrations.notifier.channel(t.bot.id) else {
        return say(replies::IMAGES_NOT_READ.to_string());
    };
    match channel.fetch_media(media, MAX_BYTES).await {
        Ok(bytes) => Ok(Ok(Picture {
            mime: media
                .mime
                .clone()
                .filter(|m| m.starts_with("image/"))
                .unwrap_or_else(|| "image/jpeg".into()),
            bytes,
        })),
        Err(MediaError::TooLarge(_)) => say(replies::PICTURE_TOO_LARGE.to_string()),
        Err(err) => {
            tracing::warn!(channel = %t.inbound.channel, error = %err, "picture not fetched");
            say(replies::PICTURE_FAILED.to_string())
        }
    }
}
