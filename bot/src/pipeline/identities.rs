//! A person with more than one id on a bot. On WhatsApp, since April 2026, a business-scoped user
//! id (BSUID) comes with every message and the phone number only while it may be shown: the
//! person is known by whichever arrived first, and every other id that arrives beside a known one
//! is linked to the same subject (their consent record with it). When the platform announces a
//! new number or a new BSUID, the new id takes the old one's place. Each link and change is
//! audited (the channel only; never an id).

use consentgate_adapters::{Inbound, PlatformId};

use super::{BotContext, Pipeline, PipelineError};
use crate::{
    audit::Action,
    privacy::identity::{self, Subject},
};

/// Links the other id the person came with (`sender.also`), unless it is known already.
pub(super) async fn link_also(
    p: &Pipeline,
    bot: &BotContext,
    subject: &Subject,
    inbound: &Inbound,
) -> Result<(), PipelineError> {
    let Some(also) = &inbound.sender.also else {
        return Ok(());
    };
    if identity::find_by_platform_id(&p.db, &p.keys, bot.id, inbound.channel, also)
        .await?
        .is_some()
    {
        return Ok(());
    }
    if identity::link(
        &p.db,
        &p.keys,
        (bot.id, inbound.channel),
        subject.id,
        also,
        &inbound.chat.id,
    )
    .await?
    {
        linked(p, bot, subject, inbound).await?;
    }
    Ok(())
}

/// Audits that another id was linked to the person.
pub(super) async fn linked(
    p: &Pipeline,
    bot: &BotContext,
    subject: &Subject,
    inbound: &Inbound,
) -> Result<(), PipelineError> {
    p.record(
        Some(bot.id),
        Some(&subject.pseudonym),
        Action::IdentityLinked,
        serde_json::json!({"channel": inbound.channel.as_str()}),
    )
    .await?;
    Ok(())
}

/// The platform moved the person (the sender's id) to `to`. Nobody is created for it.
pub(super) async fn changed(
    p: &Pipeline,
    bot: &BotContext,
    inbound: &Inbound,
    to: &PlatformId,
) -> Result<(), PipelineError> {
    let Some(old) = &inbound.sender.id else {
        return Ok(());
    };
    let moved = identity::replace(
        &p.db,
        &p.keys,
        (bot.id, inbound.channel),
        (old, inbound.sender.also.as_ref()),
        to,
    )
    .await?;
    if let Some(subject) = moved {
        p.record(
            Some(bot.id),
            Some(&subject.pseudonym),
            Action::IdentityChanged,
            serde_json::json!({"channel": inbound.channel.as_str()}),
        )
        .await?;
    }
    Ok(())
}
