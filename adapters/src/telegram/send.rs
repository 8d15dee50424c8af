//! Sending: replies, documents and button keyboards through teloxide's typed requests, paced per
//! bot and chat, with the platform's errors mapped to what the sender can act on.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use serde::Deserialize;
use teloxide::{
    ApiError, RequestError,
    prelude::*,
    types::{
        CallbackQueryId, ChatId, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, MessageId,
        ReplyParameters,
    },
};

use super::{MAX_CAPTION_CHARS, MAX_MESSAGE_CHARS, TelegramSettings, method_url, parse::Me};
use crate::{
    model::{Channel, ChannelKind, Outbound, PlatformId, SendError},
    outbound::Pacer,
    text::split_message,
};

/// Sends replies through teloxide's `Bot`.
#[derive(Clone)]
pub struct TelegramChannel {
    kind: ChannelKind,
    bot: Bot,
    pacer: Arc<Pacer>,
}

impl TelegramChannel {
    pub fn new(settings: &TelegramSettings) -> Self {
        let bot = Bot::new(settings.token.clone()).set_api_url(settings.api_url.clone());
        TelegramChannel {
            kind: settings.channel,
            bot,
            pacer: Arc::new(Pacer::new(settings.limits)),
        }
    }

    /// The pacer of this bot's sends (for its queue depth and waits).
    pub fn pacer(&self) -> &Arc<Pacer> {
        &self.pacer
    }

    /// Who the bot is (getMe); `None` when the platform did not say. Read leniently (only `id`
    /// and `username`): Bale's answer lacks fields teloxide requires.
    pub async fn me(&self) -> Option<Me> {
        #[derive(Deserialize)]
        struct Answer {
            result: Option<MeFields>,
        }
        #[derive(Deserialize)]
        struct MeFields {
            id: i64,
            username: Option<String>,
        }
        let url = method_url(&self.bot.api_url(), self.bot.token(), "getMe").ok()?;
        let answer = reqwest::Client::new()
            .post(url)
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .ok()?
            .json::<Answer>()
            .await;
        match answer {
            Ok(Answer {
                result:
                    Some(MeFields {
                        id,
                        username: Some(username),
                    }),
            }) if !username.is_empty() => Some(Me { id, username }),
            _ => {
                tracing::warn!(channel = %self.kind, "getMe gave no username; in groups only commands will be answered");
                None
            }
        }
    }

    /// Stops the client spinner on a pressed button. Called for every callback query, whether or
    /// not handling it succeeded.
    pub async fn answer_callback(&self, id: &str) {
        if let Err(err) = self
            .bot
            .answer_callback_query(CallbackQueryId(id.to_string()))
            .await
        {
            tracing::warn!(channel = %self.kind, error = %describe(&err), "answerCallbackQuery failed");
        }
    }
}

fn describe(err: &RequestError) -> String {
    match err {
        // Its text quotes the whole response, which would put names, ids and reply text in logs.
        RequestError::InvalidJson { .. } => {
            "the Bot API answered with a body that is not the expected JSON".to_string()
        }
        // teloxide strips the URL (and so the token) from network errors; API errors carry only
        // the platform's description.
        other => other.to_string(),
    }
}

fn keyboard(rows: &[Vec<crate::model::Button>]) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(rows.iter().map(|row| {
        row.iter()
            .map(
                |b| match b.url.as_deref().and_then(|u| url::Url::parse(u).ok()) {
                    Some(url) => InlineKeyboardButton::url(b.label.clone(), url),
                    None => InlineKeyboardButton::callback(b.label.clone(), b.data.clone()),
                },
            )
            .collect::<Vec<_>>()
    }))
}

fn map_send_error(err: RequestError) -> SendError {
    match err {
        RequestError::Api(ApiError::BotBlocked)
        | RequestError::Api(ApiError::UserDeactivated)
        | RequestError::Api(ApiError::BotKicked)
        | RequestError::Api(ApiError::BotKickedFromSupergroup) => SendError::Blocked,
        RequestError::Api(ApiError::ChatNotFound) => {
            SendError::Unreachable("chat not found".into())
        }
        RequestError::RetryAfter(secs) => SendError::RateLimited(secs.seconds().into()),
        RequestError::Network(_) | RequestError::Io(_) => SendError::Transient(describe(&err)),
        // Bale (and future Telegram wording) describe errors differently; teloxide then knows
        // only the text. Every 403 starts with "Forbidden".
        RequestError::Api(ApiError::Unknown(ref d)) if d.starts_with("Forbidden") => {
            SendError::Blocked
        }
        RequestError::Api(ApiError::Unknown(ref d))
            if d.contains("Internal Server Error")
                || d.contains("Bad Gateway")
                || d.contains("Service Unavailable")
                || d.contains("Gateway Timeout") =>
        {
            SendError::Transient(describe(&err))
        }
        RequestError::Api(ApiError::Unknown(ref d))
            if d.contains("Too Many Requests")
                || d.contains("bot limit exceed")
                || d.contains("local_rate_limited") =>
        {
            // A 429 without retry_after (Bale): a short wait.
            SendError::RateLimited(1)
        }
        other => SendError::Other(describe(&other)),
    }
}

#[async_trait]
impl Channel for TelegramChannel {
    fn kind(&self) -> ChannelKind {
        self.kind
    }

    async fn send(&self, chat: &PlatformId, out: &Outbound) -> Result<(), SendError> {
        let chat_id: i64 = chat
            .expose()
            .parse()
            .map_err(|_| SendError::Other("chat id is not numeric".into()))?;
        // Group and supergroup ids are negative; they have their own, slower bucket.
        let group = chat_id < 0;
        let key = chat_id.to_string();
        let text = out.text.as_str();
        if let Some(doc) = &out.document {
            // The text rides along as the caption when it fits.
            let caption = (text.chars().count() <= MAX_CAPTION_CHARS).then_some(text);
            self.pacer
                .send(&key, group, || {
                    let file =
                        InputFile::memory(doc.bytes.clone()).file_name(doc.file_name.clone());
                    let mut req = self.bot.send_document(ChatId(chat_id), file);
                    if let Some(caption) = caption {
                        req = req.caption(caption);
                    }
                    async move { req.await.map(|_| ()).map_err(map_send_error) }
                })
                .await?;
            if caption.is_some() {
                return Ok(());
            }
        }
        if text.trim().is_empty() {
            // The platform refuses empty messages.
            return match out.document {
                Some(_) => Ok(()),
                None => Err(SendError::Other("the reply is empty".into())),
            };
        }
        let parts = split_message(text, MAX_MESSAGE_CHARS);
        let last = parts.len() - 1;
        for (i, part) in parts.into_iter().enumerate() {
            self.pacer
                .send(&key, group, || {
                    let mut req = self.bot.send_message(ChatId(chat_id), part.clone());
                    if i == last && !out.buttons.is_empty() {
                        req = req.reply_markup(keyboard(&out.buttons));
                    }
                    if i == 0
                        && let Some(reply_to) = out.reply_to.as_deref().and_then(|r| r.parse().ok())
                    {
                        req = req.reply_parameters(
                            ReplyParameters::new(MessageId(reply_to)).allow_sending_without_reply(),
                        );
                    }
                    async move { req.await.map(|_| ()).map_err(map_send_error) }
                })
                .await?;
        }
        Ok(())
    }
}
