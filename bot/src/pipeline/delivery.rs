//! What became of the replies we sent: a platform's report that one failed, and a send that
//! failed for a reason about the person. Blocked or unreachable people are marked so (nothing is
//! sent to them until they write again); every such report is audited.

use consentgate_adapters::{
    ChannelKind, DeliveryStatus, FailureReason, Inbound, InboundKind, PlatformId, SendError,
};
use sea_orm::DbErr;

use super::{BotContext, Pipeline, PipelineError};
use crate::{audit::Action, privacy::identity};

/// A platform's delivery status: a failure is recorded about the person; the rest only pass
/// dedupe.
pub(super) async fn status(
    p: &Pipeline,
    bot: &BotContext,
    inbound: &Inbound,
) -> Result<(), PipelineError> {
    let InboundKind::Status {
        status: DeliveryStatus::Failed,
        error_code,
        failure,
    } = &inbound.kind
    else {
        return Ok(());
    };
    let failure = failure.unwrap_or(FailureReason::Other);
    let Some(user) = &inbound.sender.id else {
        return Ok(());
    };
    let mut subject =
        identity::find_by_platform_id(&p.db, &p.keys, bot.id, inbound.channel, user).await?;
    if subject.is_none()
        && let Some(also) = &inbound.sender.also
    {
        subject =
            identity::find_by_platform_id(&p.db, &p.keys, bot.id, inbound.channel, also).await?;
    }
    let Some(subject) = subject else {
        return Ok(());
    };
    let detail = serde_json::json!({"reason": failure.as_str(), "code": error_code, "channel": inbound.channel.as_str()});
    p.record_about(
        bot.id,
        &subject,
        failure == FailureReason::Unreachable,
        Action::DeliveryFailed,
        detail,
    )
    .await?;
    Ok(())
}

/// A reply to `user` could not be sent for a reason about them.
pub(super) async fn undeliverable(
    p: &Pipeline,
    bot: &str,
    channel: ChannelKind,
    user: &PlatformId,
    error: &SendError,
) {
    let Some(bot) = p.bots.get(bot) else {
        return;
    };
    let result = async {
        let Some(subject) =
            identity::find_by_platform_id(&p.db, &p.keys, bot.id, channel, user).await?
        else {
            return Ok::<(), DbErr>(());
        };
        let reason = match error {
            SendError::Blocked => "blocked",
            SendError::WindowClosed => "window_closed",
            _ => "unreachable",
        };
        let detail = serde_json::json!({"reason": reason, "channel": channel.as_str()});
        let unreachable = reason != "window_closed";
        p.record_about(
            bot.id,
            &subject,
            unreachable,
            Action::SubjectUndeliverable,
            detail,
        )
        .await
    }
    .await;
    if let Err(err) = result {
        tracing::warn!(error = %err, "could not record an undeliverable reply");
    }
}
