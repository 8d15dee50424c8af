//! Reply delivery, the one layer every channel answers through (Telegram and Bale, by polling or
//! webhook, and WhatsApp): the pipeline handles a message, its replies queue behind the chat's
//! earlier ones (so a slow chat holds up no other and the next updates are not kept waiting), and
//! a reply that cannot reach the person is reported to the pipeline, which records it; the rest
//! of that turn's replies are then dropped.

use std::sync::Arc;

use crate::{
    model::{Channel, HandleError, Inbound, InboundHandler},
    outbound::ChatQueues,
};

/// One bot's way from an inbound message to its replies on the platform.
#[derive(Clone)]
pub struct Delivery {
    bot: String,
    channel: Arc<dyn Channel>,
    handler: Arc<dyn InboundHandler>,
    queues: Arc<ChatQueues>,
}

impl Delivery {
    pub fn new(bot: &str, channel: Arc<dyn Channel>, handler: Arc<dyn InboundHandler>) -> Self {
        Delivery {
            bot: bot.to_string(),
            channel,
            handler,
            queues: Arc::new(ChatQueues::default()),
        }
    }

    /// Sends replies through `queues` (shared across the gateway, so shutdown can drain them).
    pub fn with_queues(mut self, queues: Arc<ChatQueues>) -> Self {
        self.queues = queues;
        self
    }

    /// Hands `inbound` to the pipeline and queues whatever it answers. An error is the
    /// pipeline's: with `retry` set, the platform must deliver the message again.
    pub async fn handle(&self, inbound: Inbound) -> Result<(), HandleError> {
        let chat = inbound.chat.id.clone();
        let user = inbound.sender.id.clone();
        let replies = self.handler.handle(inbound).await?;
        if replies.is_empty() {
            return Ok(());
        }
        let this = self.clone();
        self.queues.push(chat.expose().to_string(), async move {
            let kind = this.channel.kind();
            for reply in &replies {
                let Err(err) = this.channel.send(&chat, reply).await else {
                    continue;
                };
                tracing::warn!(channel = %kind, bot = %this.bot, error = %err, "reply not delivered");
                if err.about_recipient()
                    && let Some(user) = &user
                {
                    this.handler.undeliverable(&this.bot, kind, user, &err).await;
                }
                break;
            }
        });
        Ok(())
    }
}
