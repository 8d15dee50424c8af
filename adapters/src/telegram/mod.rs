//! Telegram (and, at another base URL, Bale) over the Bot API, using teloxide's typed requests.
//!
//! Updates are fetched with our own `getUpdates` loop rather than teloxide's polling listener,
//! because that listener advances the offset when updates are *received*: an update would be lost
//! if the process died before handling it. Here the offset moves past an update only once the
//! pipeline has handled it; duplicates after a crash are caught by the pipeline's dedupe.
//! Each update is parsed on its own, so one malformed update cannot stall the ones after it.

mod parse;
mod poll;
mod send;
pub mod webhook;

use url::Url;

pub use parse::{Me, ParseError, ParsedUpdate, parse_command, parse_update, parse_update_as};
pub use poll::{PollError, Poller};
pub use send::TelegramChannel;

use crate::{delivery::Delivery, model::ChannelKind, outbound::Limits};

/// Telegram's cap on `sendMessage.text`, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// Telegram's cap on a document's caption, in characters.
pub const MAX_CAPTION_CHARS: usize = 1024;

/// Consecutive failed attempts at one update before it is given up (logged as an error), so one
/// update that always fails cannot hold back a bot's queue for good.
pub const MAX_ATTEMPTS: u32 = 10;

/// The updates we ask for; everything else is not ours to handle.
pub const ALLOWED_UPDATES: [&str; 4] = [
    "message",
    "callback_query",
    "my_chat_member",
    "pre_checkout_query",
];

/// Builds `{base}/bot{token}/{method}` the way teloxide does, tolerating a trailing slash.
pub fn method_url(base: &Url, token: &str, method: &str) -> Result<Url, String> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|_| "the API URL cannot be a base URL".to_string())?
        .pop_if_empty()
        .push(&format!("bot{token}"))
        .push(method);
    Ok(url)
}

/// Where a file `getFile` named is downloaded: `{base}/file/bot{token}/{file_path}`. It
/// carries the token: never log it.
pub fn file_url(base: &Url, token: &str, file_path: &str) -> Result<Url, String> {
    let mut url = base.clone();
    let mut segments = url
        .path_segments_mut()
        .map_err(|_| "the API URL cannot be a base URL".to_string())?;
    segments
        .pop_if_empty()
        .push("file")
        .push(&format!("bot{token}"));
    for part in file_path.split('/').filter(|p| !p.is_empty() && *p != "..") {
        segments.push(part);
    }
    drop(segments);
    Ok(url)
}

/// A bot's connection settings.

#[derive(Clone)]
pub struct TelegramSettings {
    pub channel: ChannelKind,
    pub bot_name: String,
    pub token: String,
    pub api_url: Url,
    /// Long-poll timeout in seconds (0 = short polling, for tests).
    pub poll_timeout: u32,
    /// Outbound limits of this bot.
    pub limits: Limits,
}

impl std::fmt::Debug for TelegramSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramSettings")
            .field("channel", &self.channel)
            .field("bot_name", &self.bot_name)
            .field("token", &"<secret>")
            .field("api_url", &self.api_url.as_str())
            .finish()
    }
}

/// Handles one update and queues its replies; a pressed button is always answered. `Err(())`:
/// handling failed and the update must be delivered again. Shared by polling and webhooks.
pub(crate) async fn deliver(
    settings: &TelegramSettings,
    channel: &TelegramChannel,
    delivery: &Delivery,
    parsed: ParsedUpdate,
) -> Result<(), ()> {
    let ParsedUpdate {
        update_id,
        inbound,
        callback_id,
    } = parsed;
    let result = match inbound {
        Some(inbound) => match delivery.handle(inbound).await {
            Ok(()) => Ok(()),
            Err(err) if err.retry => {
                tracing::error!(bot = %settings.bot_name, update_id, error = %err, "update will be retried");
                Err(())
            }
            Err(err) => {
                tracing::warn!(bot = %settings.bot_name, update_id, error = %err, "update dropped");
                Ok(())
            }
        },
        None => Ok(()),
    };
    if let Some(id) = callback_id {
        channel.answer_callback(&id).await;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_url_is_under_the_files_path_and_cannot_climb_out() {
        let base = Url::parse("https://api.telegram.org/").unwrap();
        let url = file_url(&base, "T", "voice/file_7.oga").unwrap();
        assert_eq!(
            url.as_str(),
            "https://api.telegram.org/file/botT/voice/file_7.oga"
        );
        let url = file_url(&base, "T", "../../x").unwrap();
        assert_eq!(url.as_str(), "https://api.telegram.org/file/botT/x");
    }

    #[test]
    fn method_url_handles_paths_and_trailing_slashes() {
        for base in ["https://tapi.bale.ai", "https://tapi.bale.ai/"] {
            let url = method_url(&Url::parse(base).unwrap(), "T", "getMe").unwrap();
            assert_eq!(url.as_str(), "https://tapi.bale.ai/botT/getMe");
        }
        let url = method_url(&Url::parse("http://h/tg/").unwrap(), "T", "getMe").unwrap();
        assert_eq!(url.as_str(), "http://h/tg/botT/getMe");
    }
}
