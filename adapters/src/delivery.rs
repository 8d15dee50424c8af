//! Reply delivery, the one layer every channel answers through (Telegram and Bale, by polling or
//! webhook, and WhatsApp): the pipeline handles a message, its replies queue behind the chat's
//! earlier ones (so a slow chat holds up no other and the next updates are not kept waiting), and
//! a reply that cannot reach the person is reported to the pipeline, which records it; the rest
//! of that turn's replies are then dropped.
//!
//! The pipeline keeps each turn's replies in its outbox until they are sent, so an update can be
//! acknowledged as soon as it is handled: once the replies are out (or refused for good) the
//! pipeline is told ([`InboundHandler::sent`]); after a transient failure they stay, and replies
//! left by a crash come back through [`Delivery::resend`].

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use crate::{
    model::{Channel, HandleError, Inbound, InboundHandler, Outbound, PlatformId, SendError},
    outbound::ChatQueues,
    progress::{Progress, Writing},
};

/// Replies the pipeline kept for an update whose sending did not finish.
#[derive(Debug)]
pub struct Unsent {
    pub update_key: String,
    pub chat: PlatformId,
    pub user: Option<PlatformId>,
    pub replies: Vec<Outbound>,
}

/// One bot's way from an inbound message to its replies on the platform.
#[derive(Clone)]
pub struct Delivery {
    bot: String,
    channel: Arc<dyn Channel>,
    handler: Arc<dyn InboundHandler>,
    queues: Arc<ChatQueues>,
    /// Updates whose replies are queued or being sent here, so a resend leaves them alone.
    in_hand: Arc<Mutex<HashSet<String>>>,
}

impl Delivery {
    pub fn new(bot: &str, channel: Arc<dyn Channel>, handler: Arc<dyn InboundHandler>) -> Self {
        Delivery {
            bot: bot.to_string(),
            channel,
            handler,
            queues: Arc::new(ChatQueues::default()),
            in_hand: Default::default(),
        }
    }

    /// Sends replies through `queues` (shared across the gateway, so shutdown can drain them).
    pub fn with_queues(mut self, queues: Arc<ChatQueues>) -> Self {
        self.queues = queues;
        self
    }

    /// The bot this delivers for.
    pub fn bot(&self) -> &str {
        &self.bot
    }

    /// Hands `inbound` to the pipeline and queues whatever it answers. An error is the
    /// pipeline's: with `retry` set, the platform must deliver the message again.
    pub async fn handle(&self, inbound: Inbound) -> Result<(), HandleError> {
        let chat = inbound.chat.id.clone();
        let user = inbound.sender.id.clone();
        let update_key = inbound.update_key.clone();
        // While the answer is written, the channel shows it growing (or that it is being
        // written); the replies go only after the last draft.
        let writing = Writing {
            chat: chat.clone(),
            private: inbound.chat.private,
            message_id: inbound.message_id.clone(),
        };
        let (progress, stages) = Progress::channel();
        let channel = self.channel.clone();
        let shown = tokio::spawn(async move { channel.show_progress(&writing, stages).await });
        let handled = self.handler.handle_watched(inbound, &progress).await;
        drop(progress);
        let replies = match handled {
            Ok(replies) => replies,
            Err(err) => {
                shown.abort();
                return Err(err);
            }
        };
        if replies.is_empty() {
            shown.abort();
        } else {
            self.queue(
                Unsent {
                    update_key,
                    chat,
                    user,
                    replies,
                },
                Some(shown),
            );
        }
        Ok(())
    }

    /// Sends replies a crash (or a transient failure) left unsent, unless they are queued here
    /// already. Returns whether they were queued.
    pub fn resend(&self, unsent: Unsent) -> bool {
        if self.in_hand().contains(&unsent.update_key) {
            return false;
        }
        self.queue(unsent, None);
        true
    }

    fn in_hand(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.in_hand.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues the replies behind the chat's earlier ones, after `shown` (the drafts of this
    /// reply) is done.
    fn queue(&self, unsent: Unsent, shown: Option<tokio::task::JoinHandle<()>>) {
        self.in_hand().insert(unsent.update_key.clone());
        let this = self.clone();
        let chat = unsent.chat.expose().to_string();
        self.queues.push(chat, async move {
            if let Some(shown) = shown {
                let _ = shown.await;
            }
            let done = this.send_all(&unsent).await;
            this.in_hand().remove(&unsent.update_key);
            if done {
                this.handler.sent(&this.bot, &unsent.update_key).await;
            }
        });
    }

    /// Sends the replies in order. False when they should be tried again later (a transient
    /// failure); true when they went out or were refused for good.
    async fn send_all(&self, unsent: &Unsent) -> bool {
        let kind = self.channel.kind();
        for reply in &unsent.replies {
            let Err(err) = self.channel.send(&unsent.chat, reply).await else {
                continue;
            };
            tracing::warn!(channel = %kind, bot = %self.bot, error = %err, "reply not delivered");
            if err.about_recipient()
                && let Some(user) = &unsent.user
            {
                self.handler
                    .undeliverable(&self.bot, kind, user, &err)
                    .await;
            }
            return !matches!(err, SendError::Transient(_) | SendError::RateLimited(_));
        }
        true
    }
}
