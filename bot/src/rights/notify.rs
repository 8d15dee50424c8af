//! Telling people something outside a reply: that their data was purged, that the policy
//! changed. Only channels that can write first are used (Telegram, Bale, WhatsApp); each
//! channel paces its own sends (`consentgate_adapters::outbound::Pacer`), so a long list never
//! trips the platform's limits.

use std::{collections::HashMap, sync::Arc};

use consentgate_adapters::{Channel, Outbound, PlatformId, SendError};

use crate::privacy::identity::Identity;

/// The channels that can reach people first, by bot id.
#[derive(Default)]
pub struct Notifier {
    routes: HashMap<i64, Arc<dyn Channel>>,
}

/// What became of a notice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Told {
    pub sent: u64,
    /// The person blocked the bot.
    pub blocked: u64,
    /// No channel of theirs can write first (web chat), or their ids are unreadable.
    pub unreachable: u64,
    pub failed: u64,
}

impl Notifier {
    pub fn add(&mut self, bot_id: i64, channel: Arc<dyn Channel>) {
        self.routes.insert(bot_id, channel);
    }

    /// A bot's channel, where it can write first (for fetching media people sent it).
    pub fn channel(&self, bot_id: i64) -> Option<&Arc<dyn Channel>> {
        self.routes.get(&bot_id)
    }

    /// Sends `text` to one chat of a bot; `false` when that bot cannot write first or the send
    /// failed.
    pub async fn tell_chat(&self, bot_id: i64, chat: &str, text: &str) -> bool {
        self.tell_chat_with(bot_id, chat, &Outbound::text(text))
            .await
    }

    /// Sends `out` (with its buttons) to a chat of a bot; false if it did not go.
    pub async fn tell_chat_with(&self, bot_id: i64, chat: &str, out: &Outbound) -> bool {
        let Some(route) = self.routes.get(&bot_id) else {
            return false;
        };
        match route.send(&PlatformId::new(chat), out).await {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(channel = %route.kind(), error = %err, "notice not delivered");
                false
            }
        }
    }

    /// Sends `text` on each identity a configured bot can reach.
    pub async fn tell(&self, identities: &[Identity], text: &str) -> Told {
        let mut told = Told::default();
        // One person may have several ids on a bot (on WhatsApp a business-scoped id and the
        // phone number, both answered in one chat): one notice per chat.
        let mut chats = std::collections::HashSet::new();
        let reachable: Vec<_> = identities
            .iter()
            .filter_map(|i| {
                // On Telegram and Bale the private chat with a person has their user id, so a
                // notice never lands in a group they wrote from.
                let chat = match i.channel.as_str() {
                    "telegram" | "bale" => i.user_id.as_deref()?,
                    _ => i.chat_id.as_deref()?,
                };
                chats.insert((i.bot_id, chat)).then_some(())?;
                Some((self.routes.get(&i.bot_id)?, chat, i.last_seen_at))
            })
            .collect();
        if reachable.is_empty() {
            told.unreachable += 1;
            return told;
        }
        for (route, chat, last_seen) in reachable {
            // WhatsApp: free-form only within 24 hours of the person's last message ("last seen"
            // is kept to the hour, so 23 to be sure); otherwise the template, or nothing.
            let outside_window =
                route.has_window() && last_seen < chrono::Utc::now() - chrono::Duration::hours(23);
            let chat = PlatformId::new(chat);
            let out = Outbound::text(text);
            let sent = if outside_window {
                route.send_outside_window(&chat, &out).await
            } else {
                route.send(&chat, &out).await
            };
            match sent {
                Ok(()) => told.sent += 1,
                Err(SendError::Blocked) => told.blocked += 1,
                Err(SendError::WindowClosed) => told.unreachable += 1,
                Err(err) => {
                    tracing::warn!(channel = %route.kind(), error = %err, "notice not delivered");
                    told.failed += 1;
                }
            }
        }
        told
    }
}
