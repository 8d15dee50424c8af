//! Telegram (and, at another base URL, Bale) over the Bot API, using teloxide's typed requests.
//!
//! Updates are fetched with our own `getUpdates` loop rather than teloxide's polling listener,
//! because that listener advances the offset when updates are *received*: an update would be lost
//! if the process died before handling it. Here the offset moves past an update only once the
//! pipeline has handled it; duplicates after a crash are caught by the pipeline's dedupe.
//! Each update is parsed on its own, so one malformed update cannot stall the ones after it.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use async_trait::async_trait;
use chrono::Utc;
use serde::Deserialize;
use serde_json::value::RawValue;
use teloxide::{
    ApiError, RequestError,
    prelude::*,
    types::{
        CallbackQueryId, ChatId, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, MessageId,
        ReplyParameters, Update, UpdateKind, User,
    },
};
use url::Url;

use crate::{
    model::{
        Channel, ChannelKind, Chat, Inbound, InboundHandler, InboundKind, Outbound, PlatformId,
        SendError, Sender,
    },
    outbound::{ChatQueues, Limits, Pacer},
    text::split_message,
};

/// Telegram's cap on `sendMessage.text`, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// Telegram's cap on a document's caption, in characters.
pub const MAX_CAPTION_CHARS: usize = 1024;

/// Consecutive failed attempts at one update before it is given up (logged as an error), so one
/// update that always fails cannot hold back a bot's queue for good.
pub const MAX_ATTEMPTS: u32 = 10;

/// The updates we ask for; everything else is not ours to handle.
pub const ALLOWED_UPDATES: [&str; 3] = ["message", "callback_query", "my_chat_member"];

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

/// One update, read off the wire.
#[derive(Debug)]
pub struct ParsedUpdate {
    pub update_id: i64,
    /// `None` for update kinds the gateway does not act on.
    pub inbound: Option<Inbound>,
    /// Set for button presses: the query to answer.
    pub callback_id: Option<String>,
}

/// Why an update could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("update has no numeric update_id")]
    NoUpdateId,
    #[error("update {update_id} is malformed: {reason}")]
    Malformed { update_id: i64, reason: String },
}

fn sender_of(user: &User) -> Sender {
    Sender {
        id: Some(PlatformId::new(user.id.0.to_string())),
        first_name: Some(user.first_name.clone()),
        last_name: user.last_name.clone(),
        username: user.username.clone(),
    }
}

/// Splits `/cmd@bot args` into (`cmd`, `args`); `None` when the text is not a command.
pub fn parse_command(text: &str) -> Option<(String, String)> {
    let rest = text.strip_prefix('/')?;
    let (head, args) = match rest.find(char::is_whitespace) {
        Some(pos) => (&rest[..pos], rest[pos..].trim()),
        None => (rest, ""),
    };
    let name = head.split('@').next().unwrap_or_default();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some((name.to_ascii_lowercase(), args.to_string()))
}

#[derive(Deserialize)]
struct UpdateId {
    update_id: i64,
}

/// Who the bot is on the platform (from getMe), to tell when a group message is meant for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Me {
    pub id: i64,
    pub username: String,
}

/// Turns one raw update (its JSON text) into an `Inbound`, without knowing the bot's own
/// identity (in groups then only commands count as addressed).
pub fn parse_update(
    channel: ChannelKind,
    bot_name: &str,
    raw: &str,
) -> Result<ParsedUpdate, ParseError> {
    parse_update_as(channel, bot_name, None, raw)
}

/// Whether a group message is meant for the bot: a command (for it, or for no bot in
/// particular), a mention of its username, or a reply to one of its messages. Returns the text
/// with the mention taken out.
fn addressing(msg: &teloxide::types::Message, me: Option<&Me>, text: &str) -> (bool, String) {
    if msg.chat.is_private() {
        return (true, text.to_string());
    }
    if text.starts_with('/') {
        let head = text.split_whitespace().next().unwrap_or_default();
        let for_us = match (head.split_once('@'), me) {
            (Some((_, target)), Some(me)) => target.eq_ignore_ascii_case(&me.username),
            _ => true,
        };
        return (for_us, text.to_string());
    }
    let Some(me) = me else {
        return (false, text.to_string());
    };
    let replied_to_us = msg
        .reply_to_message()
        .and_then(|r| r.from.as_ref())
        .is_some_and(|u| u.id.0 as i64 == me.id);
    let handle = format!("@{}", me.username);
    let lower = text.to_lowercase();
    match lower.find(&handle.to_lowercase()) {
        Some(pos) if lower.len() == text.len() => {
            let cleaned = format!("{}{}", &text[..pos], &text[pos + handle.len()..]);
            (true, cleaned.trim().to_string())
        }
        Some(_) => (true, text.replace(&handle, "").trim().to_string()),
        None => (replied_to_us, text.to_string()),
    }
}

/// [`parse_update`], knowing who the bot is.
pub fn parse_update_as(
    channel: ChannelKind,
    bot_name: &str,
    me: Option<&Me>,
    raw: &str,
) -> Result<ParsedUpdate, ParseError> {
    let update_id = serde_json::from_str::<UpdateId>(raw)
        .map_err(|_| ParseError::NoUpdateId)?
        .update_id;
    // Parsed from text, not from a `serde_json::Value`: teloxide's update-kind deserializer
    // expects borrowed keys.
    let update: Update = serde_json::from_str(raw).map_err(|e| ParseError::Malformed {
        update_id,
        reason: e.to_string(),
    })?;
    let base = |chat: Chat, sender: Sender, kind: InboundKind| Inbound {
        channel,
        bot: bot_name.to_string(),
        update_key: update_id.to_string(),
        chat,
        sender,
        kind,
        text: None,
        message_id: None,
        received_at: Utc::now(),
        addressed: true,
        bot_handle: me.map(|m| m.username.clone()),
    };
    let mut callback_id = None;
    let inbound = match &update.kind {
        UpdateKind::Message(msg) => {
            let chat = Chat {
                id: PlatformId::new(msg.chat.id.0.to_string()),
                private: msg.chat.is_private(),
            };
            let sender = msg.from.as_ref().map(sender_of).unwrap_or_default();
            match msg.text() {
                Some(text) => {
                    let (addressed, text) = addressing(msg, me, text);
                    let kind = match parse_command(&text) {
                        Some((name, args)) => InboundKind::Command { name, args },
                        None => InboundKind::Text,
                    };
                    let mut inbound = base(chat, sender, kind);
                    inbound.text = Some(text);
                    inbound.message_id = Some(msg.id.0.to_string());
                    inbound.addressed = addressed;
                    Some(inbound)
                }
                // Stickers, photos, voice …: the pipeline answers that only text is understood
                // (in a group only when it replies to the bot).
                None => {
                    let mut inbound = base(chat, sender, InboundKind::Text);
                    inbound.message_id = Some(msg.id.0.to_string());
                    inbound.addressed = addressing(msg, me, "").0;
                    Some(inbound)
                }
            }
        }
        UpdateKind::CallbackQuery(query) => {
            callback_id = Some(query.id.0.clone());
            match (&query.message, &query.data) {
                (Some(message), Some(data)) => {
                    let chat = Chat {
                        id: PlatformId::new(message.chat().id.0.to_string()),
                        private: message.chat().is_private(),
                    };
                    let mut inbound = base(
                        chat,
                        sender_of(&query.from),
                        InboundKind::ButtonPress { data: data.clone() },
                    );
                    inbound.message_id = Some(message.id().0.to_string());
                    Some(inbound)
                }
                // Inline-mode buttons or games: nothing of ours.
                _ => None,
            }
        }
        UpdateKind::MyChatMember(change) if change.new_chat_member.is_banned() => {
            let chat = Chat {
                id: PlatformId::new(change.chat.id.0.to_string()),
                private: change.chat.is_private(),
            };
            Some(base(chat, sender_of(&change.from), InboundKind::Blocked))
        }
        UpdateKind::Error(_) => {
            // teloxide turns both unknown kinds and malformed known ones into `Error`; a kind we
            // asked for that did not parse is malformed, and is reported as such.
            let raw_kind = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(raw)
                .ok()
                .and_then(|m| m.keys().find(|k| *k != "update_id").cloned());
            return match raw_kind {
                Some(kind) if ALLOWED_UPDATES.contains(&kind.as_str()) => {
                    Err(ParseError::Malformed {
                        update_id,
                        reason: format!("its {kind} could not be read"),
                    })
                }
                _ => Ok(ParsedUpdate {
                    update_id,
                    inbound: None,
                    callback_id: None,
                }),
            };
        }
        _ => None,
    };
    Ok(ParsedUpdate {
        update_id,
        inbound,
        callback_id,
    })
}

#[derive(Deserialize)]
struct ApiResponse {
    ok: bool,
    #[serde(default)]
    result: Option<Vec<Box<RawValue>>>,
    #[serde(default)]
    error_code: Option<u16>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<ResponseParameters>,
}

#[derive(Deserialize)]
struct ResponseParameters {
    #[serde(default)]
    retry_after: Option<u64>,
}

/// Handles one update and sends its replies; a pressed button is always answered. `Err` means
/// "deliver this update again". Shared by polling and webhooks.
/// Handles one update and queues its replies on the chat's outbound queue. `Err(())`: handling
/// failed and the update must be delivered again. Replies are sent after the pipeline recorded
/// its decisions, in order per chat, without holding up other chats or the next updates.
pub(crate) async fn deliver(
    settings: &TelegramSettings,
    channel: &Arc<TelegramChannel>,
    handler: &Arc<dyn InboundHandler>,
    queues: &Arc<ChatQueues>,
    parsed: ParsedUpdate,
) -> Result<(), ()> {
    let ParsedUpdate {
        update_id,
        inbound,
        callback_id,
    } = parsed;
    let result = match inbound {
        Some(inbound) => {
            let chat = inbound.chat.id.clone();
            let user = inbound.sender.id.clone();
            match handler.handle(inbound).await {
                Ok(replies) if replies.is_empty() => Ok(()),
                Ok(replies) => {
                    let (channel, handler) = (channel.clone(), handler.clone());
                    let (kind, bot) = (settings.channel, settings.bot_name.clone());
                    queues.push(chat.expose().to_string(), async move {
                        for reply in &replies {
                            if let Err(err) = channel.send(&chat, reply).await {
                                tracing::warn!(channel = %kind, bot = %bot, update_id, error = %err, "reply not delivered");
                                if err.about_recipient()
                                    && let Some(user) = &user
                                {
                                    handler.undeliverable(&bot, kind, user, &err).await;
                                }
                                break;
                            }
                        }
                    });
                    Ok(())
                }
                Err(err) if err.retry => {
                    tracing::error!(bot = %settings.bot_name, update_id, error = %err, "update will be retried");
                    Err(())
                }
                Err(err) => {
                    tracing::warn!(bot = %settings.bot_name, update_id, error = %err, "update dropped");
                    Ok(())
                }
            }
        }
        None => Ok(()),
    };
    if let Some(id) = callback_id {
        channel.answer_callback(&id).await;
    }
    result
}

/// What went wrong fetching updates, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(
        "Telegram answered 409 Conflict ({0}). Another process is polling with this token, or a \
         webhook is set. Stop the other instance, or remove the webhook (deleteWebhook) if this \
         bot should poll; the gateway never deletes a webhook on its own."
    )]
    Conflict(String),
    #[error("the bot token was rejected (401 Unauthorized); check the token")]
    Unauthorized,
    #[error("rate limited; retrying after {0} s")]
    RetryAfter(u64),
    #[error("getUpdates failed: {0}")]
    Other(String),
}

/// The long-polling loop of one bot.
pub struct Poller {
    settings: Arc<TelegramSettings>,
    http: reqwest::Client,
    channel: Arc<TelegramChannel>,
    handler: Arc<dyn InboundHandler>,
    queues: Arc<ChatQueues>,
    me: std::sync::OnceLock<Me>,
    /// Whether the last getUpdates succeeded (for readiness).
    connected: Arc<std::sync::atomic::AtomicBool>,
}

impl Poller {
    pub fn new(settings: TelegramSettings, handler: Arc<dyn InboundHandler>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(u64::from(settings.poll_timeout) + 15))
            .build()
            .unwrap_or_default();
        let channel = Arc::new(TelegramChannel::new(&settings));
        Poller {
            settings: Arc::new(settings),
            http,
            channel,
            handler,
            queues: Arc::new(ChatQueues::default()),
            me: std::sync::OnceLock::new(),
            connected: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }

    /// True while the last getUpdates succeeded: the bot is connected.
    pub fn connected(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.connected.clone()
    }

    /// Sends replies through `queues` (shared across the gateway, so shutdown can drain them).
    pub fn with_queues(mut self, queues: Arc<ChatQueues>) -> Self {
        self.queues = queues;
        self
    }

    /// The pacer of this bot's sends.
    pub fn pacer(&self) -> Arc<Pacer> {
        self.channel.pacer().clone()
    }

    async fn get_updates(&self, offset: Option<i64>) -> Result<Vec<Box<RawValue>>, PollError> {
        let url = method_url(&self.settings.api_url, &self.settings.token, "getUpdates")
            .map_err(PollError::Other)?;
        let mut body = serde_json::json!({
            "timeout": self.settings.poll_timeout,
            "allowed_updates": ALLOWED_UPDATES,
        });
        // Bale rejects offset=0, so the first call sends no offset at all.
        if let Some(offset) = offset {
            body["offset"] = offset.into();
        }
        let resp = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| PollError::Other(e.without_url().to_string()))?;
        let status = resp.status();
        let parsed: ApiResponse = resp
            .json()
            .await
            .map_err(|e| PollError::Other(format!("HTTP {status}: {}", e.without_url())))?;
        if parsed.ok {
            return Ok(parsed.result.unwrap_or_default());
        }
        let description = parsed.description.unwrap_or_default();
        match parsed.error_code.unwrap_or(status.as_u16()) {
            409 => Err(PollError::Conflict(description)),
            401 | 404 => Err(PollError::Unauthorized),
            429 => Err(PollError::RetryAfter(
                parsed.parameters.and_then(|p| p.retry_after).unwrap_or(5),
            )),
            code => Err(PollError::Other(format!("{code} {description}"))),
        }
    }

    /// Handles a batch: updates of one chat in order, different chats concurrently. Returns the
    /// next offset (past everything handled, or at the first update that must be retried) and
    /// whether something must be retried.
    async fn handle_batch(
        &self,
        raw: Vec<Box<RawValue>>,
        offset: Option<i64>,
    ) -> (Option<i64>, bool) {
        let mut by_chat: BTreeMap<String, Vec<ParsedUpdate>> = BTreeMap::new();
        let mut max_seen = offset.map(|o| o - 1);
        for value in raw {
            match parse_update_as(
                self.settings.channel,
                &self.settings.bot_name,
                self.me.get(),
                value.get(),
            ) {
                Ok(parsed) => {
                    max_seen = max_seen.max(Some(parsed.update_id));
                    let key = parsed
                        .inbound
                        .as_ref()
                        .map(|i| i.chat.id.expose().to_string())
                        .unwrap_or_default();
                    by_chat.entry(key).or_default().push(parsed);
                }
                Err(err) => {
                    // Skipped, never retried: it would fail the same way again.
                    if let ParseError::Malformed { update_id, .. } = &err {
                        max_seen = max_seen.max(Some(*update_id));
                    }
                    tracing::warn!(bot = %self.settings.bot_name, error = %err, "skipping unreadable update");
                }
            }
        }
        // Each chat on a task of its own, so the batch's work spreads over every core.
        let mut groups = tokio::task::JoinSet::new();
        let mut firsts = HashMap::new();
        for updates in by_chat.into_values() {
            let first = updates.first().map(|u| u.update_id);
            let (settings, channel, handler, queues) = (
                self.settings.clone(),
                self.channel.clone(),
                self.handler.clone(),
                self.queues.clone(),
            );
            let task = groups.spawn(async move {
                for parsed in updates {
                    let id = parsed.update_id;
                    if deliver(&settings, &channel, &handler, &queues, parsed)
                        .await
                        .is_err()
                    {
                        return Some(id);
                    }
                }
                None
            });
            firsts.insert(task.id(), first);
        }
        let mut failed: Option<i64> = None;
        while let Some(joined) = groups.join_next_with_id().await {
            // A chat whose task panicked is retried from its first update.
            let first = match joined {
                Ok((_, first)) => first,
                Err(err) => firsts.get(&err.id()).copied().flatten(),
            };
            failed = match (failed, first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        match failed {
            Some(id) => (Some(id), true),
            None => (max_seen.map(|m| m + 1), false),
        }
    }

    /// Polls until `shutdown` fires; the batch in hand is finished first.
    pub async fn run(self, mut shutdown: crate::shutdown::Shutdown) {
        let mut offset: Option<i64> = None;
        let mut backoff = Duration::from_millis(500);
        // The update that failed last time, and how many times in a row.
        let mut stuck: Option<(i64, u32)> = None;
        if let Some(me) = self.channel.me().await {
            let _ = self.me.set(me);
            // The platform answered: ready now, not only after the first long poll returns.
            self.connected
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        tracing::info!(channel = %self.settings.channel, bot = %self.settings.bot_name, "polling for updates");
        while !shutdown.is_requested() {
            let fetched = tokio::select! {
                r = self.get_updates(offset) => r,
                _ = shutdown.requested() => break,
            };
            self.connected
                .store(fetched.is_ok(), std::sync::atomic::Ordering::Relaxed);
            let wait = match fetched {
                Ok(updates) if updates.is_empty() => None,
                Ok(updates) => {
                    let (next, retry) = self.handle_batch(updates, offset).await;
                    match (retry, next) {
                        (true, Some(id)) => {
                            let attempts = match stuck {
                                Some((same, n)) if same == id => n + 1,
                                _ => 1,
                            };
                            if attempts >= MAX_ATTEMPTS {
                                tracing::error!(
                                    bot = %self.settings.bot_name,
                                    update_id = id,
                                    attempts,
                                    "giving up on an update that keeps failing"
                                );
                                stuck = None;
                                offset = Some(id + 1);
                                None
                            } else {
                                stuck = Some((id, attempts));
                                offset = Some(id);
                                Some(backoff)
                            }
                        }
                        _ => {
                            stuck = None;
                            offset = next.or(offset);
                            None
                        }
                    }
                }
                Err(err) => {
                    tracing::error!(channel = %self.settings.channel, bot = %self.settings.bot_name, error = %err, "polling error");
                    Some(match err {
                        PollError::RetryAfter(secs) => Duration::from_secs(secs.min(300)),
                        PollError::Conflict(_) | PollError::Unauthorized => Duration::from_secs(30),
                        PollError::Other(_) => backoff,
                    })
                }
            };
            match wait {
                Some(delay) => {
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.requested() => break,
                    }
                }
                None => backoff = Duration::from_millis(500),
            }
        }
        tracing::info!(bot = %self.settings.bot_name, "poller stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_url_handles_paths_and_trailing_slashes() {
        for base in ["https://tapi.bale.ai", "https://tapi.bale.ai/"] {
            let url = method_url(&Url::parse(base).unwrap(), "T", "getMe").unwrap();
            assert_eq!(url.as_str(), "https://tapi.bale.ai/botT/getMe");
        }
        let url = method_url(&Url::parse("http://h/tg/").unwrap(), "T", "getMe").unwrap();
        assert_eq!(url.as_str(), "http://h/tg/botT/getMe");
    }

    #[test]
    fn commands_lose_the_bot_suffix_and_keep_arguments() {
        assert_eq!(
            parse_command("/Start@MyBot ref_1"),
            Some(("start".into(), "ref_1".into()))
        );
        assert_eq!(
            parse_command("/privacy"),
            Some(("privacy".into(), "".into()))
        );
        assert_eq!(parse_command("hello /start"), None);
        assert_eq!(parse_command("/ "), None);
        assert_eq!(parse_command("/день"), None);
    }

    fn fixture(name: &str) -> String {
        let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn private_text_becomes_text_inbound() {
        let raw = fixture("telegram_update_private_text.json");
        let parsed = parse_update(ChannelKind::Telegram, "t", &raw).unwrap();
        let inbound = parsed.inbound.unwrap();
        assert_eq!(inbound.kind, InboundKind::Text);
        assert!(inbound.text.is_some());
        assert!(inbound.chat.private);
    }

    #[test]
    fn kicked_member_update_means_blocked() {
        let raw = fixture("telegram_update_my_chat_member_kicked.json");
        let parsed = parse_update(ChannelKind::Telegram, "t", &raw).unwrap();
        assert_eq!(parsed.inbound.unwrap().kind, InboundKind::Blocked);
    }

    #[test]
    fn callback_query_becomes_button_press_with_answer_id() {
        // The captured fixture is the update's body without its id.
        let raw = fixture("telegram_update_callback_query_complete.json").replacen(
            '{',
            r#"{"update_id": 7,"#,
            1,
        );
        let parsed = parse_update(ChannelKind::Telegram, "t", &raw).unwrap();
        assert!(parsed.callback_id.is_some());
        assert!(matches!(
            parsed.inbound.unwrap().kind,
            InboundKind::ButtonPress { .. }
        ));
    }

    #[test]
    fn stale_official_example_is_reported_as_malformed_not_panicked_on() {
        // Lacks fields the current API requires (is_bot, chat_instance).
        let raw = fixture("telegram_update_callback_query_official_legacy.json");
        let result = parse_update(ChannelKind::Telegram, "t", &raw);
        assert!(matches!(
            result,
            Err(ParseError::Malformed {
                update_id: 10000,
                ..
            })
        ));
    }

    #[test]
    fn unknown_update_kind_is_ignored() {
        let raw = r#"{"update_id": 5, "managed_bot": {"x": 1}}"#.to_string();
        let parsed = parse_update(ChannelKind::Telegram, "t", &raw).unwrap();
        assert!(parsed.inbound.is_none());
    }

    #[test]
    fn update_without_id_is_an_error() {
        let raw = r#"{"message": {}}"#.to_string();
        assert!(matches!(
            parse_update(ChannelKind::Telegram, "t", &raw),
            Err(ParseError::NoUpdateId)
        ));
    }
}
