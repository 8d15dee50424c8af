//! Sending: replies, documents and button keyboards through teloxide's typed requests, paced per
//! bot and chat, with the platform's errors mapped to what the sender can act on.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use serde::Deserialize;
use teloxide::{
    ApiError, RequestError,
    prelude::*,
    types::{
        CallbackQueryId, ChatAction, ChatId, InlineKeyboardButton, InlineKeyboardMarkup, InputFile,
        LabeledPrice, MessageId, ParseMode, PreCheckoutQueryId, ReplyParameters,
        TelegramTransactionId, UserId, WebAppInfo,
    },
};
use tokio::{sync::watch, time::Instant};

use super::{MAX_CAPTION_CHARS, MAX_MESSAGE_CHARS, TelegramSettings, method_url, parse::Me};
use crate::{
    format::{Style, render},
    model::{Channel, ChannelKind, Format, Media, MediaError, Outbound, PlatformId, SendError},
    outbound::Pacer,
    progress::{Stage, Writing},
    text::split_message,
};

/// Whether this bot's Bot API server has `sendMessageDraft`: not known until tried once.
const DRAFTS_UNKNOWN: u8 = 0;
const DRAFTS_YES: u8 = 1;
const DRAFTS_NO: u8 = 2;

/// The `typing` action shows for about 5 s; it is sent again this often while an answer is
/// written.
const TYPING_EVERY: Duration = Duration::from_secs(4);

/// A draft shows for about 30 s; one whose text has not changed is sent again this often.
const DRAFT_AGAIN: Duration = Duration::from_secs(20);

/// Whether a 400 to a draft was about this draft's text (then drafts still work here).
fn about_the_text(description: &str) -> bool {
    let d = description.to_ascii_lowercase();
    [
        "parse entities",
        "too long",
        "is empty",
        "text must be",
        "message_too_long",
    ]
    .iter()
    .any(|w| d.contains(w))
}

/// Sends replies through teloxide's `Bot`.
#[derive(Clone)]
pub struct TelegramChannel {
    kind: ChannelKind,
    bot: Bot,
    pacer: Arc<Pacer>,
    /// For methods teloxide does not have yet (`sendMessageDraft`).
    http: reqwest::Client,
    drafts: Arc<AtomicU8>,
}

impl TelegramChannel {
    pub fn new(settings: &TelegramSettings) -> Self {
        let bot = Bot::new(settings.token.clone()).set_api_url(settings.api_url.clone());
        TelegramChannel {
            kind: settings.channel,
            bot,
            pacer: Arc::new(Pacer::new(settings.limits)),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap_or_default(),
            // Bale has no drafts: it is not asked.
            drafts: Arc::new(AtomicU8::new(match settings.channel {
                ChannelKind::Bale => DRAFTS_NO,
                _ => DRAFTS_UNKNOWN,
            })),
        }
    }

    /// Whether drafts are known to work here (`Some(true)`), known not to (`Some(false)`), or
    /// not tried yet.
    pub fn drafts_supported(&self) -> Option<bool> {
        match self.drafts.load(Ordering::Relaxed) {
            DRAFTS_YES => Some(true),
            DRAFTS_NO => Some(false),
            _ => None,
        }
    }

    /// How this bot shows formatted text: Telegram's HTML; Bale, plain text.
    fn style(&self) -> Style {
        match self.kind {
            ChannelKind::Bale => Style::Plain,
            _ => Style::TelegramHtml,
        }
    }

    /// Sends one draft (`sendMessageDraft`, a raw request: teloxide does not have it yet).
    /// `Err((status, description))` when refused (status 0: not reached).
    async fn send_draft(
        &self,
        chat_id: i64,
        draft_id: i64,
        html: &str,
    ) -> Result<(), (u16, String)> {
        #[derive(Deserialize)]
        struct Answer {
            ok: bool,
            #[serde(default)]
            error_code: Option<u16>,
            #[serde(default)]
            description: Option<String>,
        }
        let unreached = |_| (0u16, String::new());
        let url = method_url(&self.bot.api_url(), self.bot.token(), "sendMessageDraft")
            .map_err(unreached)?;
        let response = self
            .http
            .post(url)
            .json(&serde_json::json!({
                "chat_id": chat_id,
                "draft_id": draft_id,
                "text": html,
                "parse_mode": "HTML",
            }))
            .send()
            .await
            .map_err(|e| (0u16, e.without_url().to_string()))?;
        let status = response.status().as_u16();
        match response.json::<Answer>().await {
            Ok(Answer { ok: true, .. }) => Ok(()),
            Ok(Answer {
                error_code,
                description,
                ..
            }) => Err((
                error_code.unwrap_or(status),
                description.unwrap_or_default(),
            )),
            Err(_) => Err((status, String::new())),
        }
    }

    /// The `typing` action. It takes a token from the bot's bucket only: shown at most every
    /// [`TYPING_EVERY`] per chat, it must not slow the chat's replies.
    async fn typing(&self, chat_id: i64) {
        self.pacer.take_bot_token().await;
        if let Err(err) = self
            .bot
            .send_chat_action(ChatId(chat_id), ChatAction::Typing)
            .await
        {
            tracing::debug!(channel = %self.kind, error = %describe(&err), "typing action not shown");
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
                    Some(url) if b.web_app => {
                        InlineKeyboardButton::web_app(b.label.clone(), WebAppInfo { url })
                    }
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

    async fn show_progress(&self, to: &Writing, stages: watch::Receiver<Stage>) {
        self.show(to, stages).await
    }

    async fn answer_pre_checkout(
        &self,
        query_id: &str,
        error: Option<&str>,
    ) -> Result<(), SendError> {
        let mut req = self
            .bot
            .answer_pre_checkout_query(PreCheckoutQueryId(query_id.to_string()), error.is_none());
        if let Some(error) = error {
            req = req.error_message(error);
        }
        req.await.map(|_| ()).map_err(map_send_error)
    }

    async fn refund_stars(&self, user: &PlatformId, charge_id: &str) -> Result<(), SendError> {
        let user: u64 = user
            .expose()
            .parse()
            .map_err(|_| SendError::Other("user id is not numeric".into()))?;
        self.bot
            .refund_star_payment(UserId(user), TelegramTransactionId(charge_id.to_string()))
            .await
            .map(|_| ())
            .map_err(map_send_error)
    }

    /// `getFile`, then the file itself, at most `max_bytes` of it.
    async fn fetch_media(&self, media: &Media, max_bytes: u64) -> Result<Vec<u8>, MediaError> {
        #[derive(Deserialize)]
        struct Answer {
            ok: bool,
            result: Option<FileFields>,
            #[serde(default)]
            description: Option<String>,
        }
        #[derive(Deserialize)]
        struct FileFields {
            file_path: Option<String>,
            file_size: Option<u64>,
        }
        if media.size.is_some_and(|n| n > max_bytes) {
            return Err(MediaError::TooLarge(max_bytes));
        }
        let failed = |why: String| MediaError::Failed(why);
        let url = method_url(&self.bot.api_url(), self.bot.token(), "getFile").map_err(failed)?;
        let answer: Answer = crate::media::lookup(
            self.http
                .post(url)
                .json(&serde_json::json!({"file_id": media.file})),
        )
        .await?;
        let file = match answer {
            Answer {
                ok: true,
                result: Some(file),
                ..
            } => file,
            Answer { description, .. } => {
                return Err(failed(
                    description.unwrap_or_else(|| "getFile refused".into()),
                ));
            }
        };
        if file.file_size.is_some_and(|n| n > max_bytes) {
            return Err(MediaError::TooLarge(max_bytes));
        }
        let path = file
            .file_path
            .ok_or_else(|| failed("getFile gave no file_path".into()))?;
        let url = super::file_url(&self.bot.api_url(), self.bot.token(), &path).map_err(failed)?;
        crate::media::download(self.http.get(url), max_bytes).await
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
        if let Some(invoice) = &out.invoice {
            // Stars only: currency XTR, one price, no provider token.
            return self
                .pacer
                .send(&key, group, || {
                    let req = self.bot.send_invoice(
                        ChatId(chat_id),
                        invoice.title.clone(),
                        invoice.description.clone(),
                        invoice.payload.clone(),
                        "XTR",
                        vec![LabeledPrice::new(invoice.title.clone(), invoice.stars)],
                    );
                    async move { req.await.map(|_| ()).map_err(map_send_error) }
                })
                .await;
        }
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
        // (markup, plain text, parse mode): the assistant's Markdown as Telegram HTML, falling
        // back to its plain text if the platform cannot parse it; the gateway's own text as is.
        let parts: Vec<(String, String, Option<ParseMode>)> = match (out.format, self.style()) {
            (Format::Markdown, Style::TelegramHtml) => {
                render(text, Style::TelegramHtml, MAX_MESSAGE_CHARS)
                    .into_iter()
                    .map(|r| (r.markup, r.plain, Some(ParseMode::Html)))
                    .collect()
            }
            (Format::Markdown, style) => render(text, style, MAX_MESSAGE_CHARS)
                .into_iter()
                .map(|r| (r.markup, r.plain, None))
                .collect(),
            (Format::Plain, _) => split_message(text, MAX_MESSAGE_CHARS)
                .into_iter()
                .map(|p| (p.clone(), p, None))
                .collect(),
        };
        let last = parts.len().saturating_sub(1);
        for (i, (markup, plain, mode)) in parts.into_iter().enumerate() {
            self.pacer
                .send(&key, group, || {
                    let request = |text: &str, mode: Option<ParseMode>| {
                        let mut req = self.bot.send_message(ChatId(chat_id), text.to_string());
                        if let Some(mode) = mode {
                            req = req.parse_mode(mode);
                        }
                        if i == last && !out.buttons.is_empty() {
                            req = req.reply_markup(keyboard(&out.buttons));
                        }
                        if i == 0
                            && let Some(reply_to) =
                                out.reply_to.as_deref().and_then(|r| r.parse().ok())
                        {
                            req = req.reply_parameters(
                                ReplyParameters::new(MessageId(reply_to))
                                    .allow_sending_without_reply(),
                            );
                        }
                        req
                    };
                    let formatted = request(&markup, mode);
                    let fallback = request(&plain, None);
                    async move {
                        match formatted.await {
                            Ok(_) => Ok(()),
                            Err(RequestError::Api(ApiError::CantParseEntities(_))) => {
                                tracing::warn!("the platform could not parse a formatted reply; sent as plain text");
                                fallback.await.map(|_| ()).map_err(map_send_error)
                            }
                            Err(err) => Err(map_send_error(err)),
                        }
                    }
                })
                .await?;
        }
        Ok(())
    }
}

impl TelegramChannel {
    /// Drafts of the text so far in private chats where the server has them; elsewhere the
    /// `typing` action, repeated until the answer is ready. Drafts share the chat's rate limit
    /// with messages and go at most once per the chat's period, so the burst is left for the
    /// reply itself.
    async fn show(&self, to: &Writing, mut stages: watch::Receiver<Stage>) {
        let Ok(chat_id) = to.chat.expose().parse::<i64>() else {
            while stages.changed().await.is_ok() {}
            return;
        };
        let group = chat_id < 0;
        let key = chat_id.to_string();
        let period = self.pacer.limits().chat_period;
        let draft_id: i64 = rand::Rng::gen_range(&mut rand::thread_rng(), 1..i64::from(i32::MAX));
        let mut last_typing: Option<Instant> = None;
        let mut last_draft: Option<Instant> = None;
        // Drafts fell through for this reply (or are not to be used here).
        let mut typing_only = !to.private;
        let mut drafted = String::new();
        loop {
            let stage = stages.borrow_and_update().clone();
            let wants_draft = matches!(stage, Stage::Text(_))
                && !typing_only
                && self.drafts.load(Ordering::Relaxed) != DRAFTS_NO;
            if wants_draft {
                if let Some(at) = last_draft
                    && !wait_open(&mut stages, at + period).await
                {
                    return;
                }
                // The latest text, after the wait.
                let text = match &*stages.borrow_and_update() {
                    Stage::Text(t) => t.clone(),
                    _ => String::new(),
                };
                let html = render(&text, Style::TelegramHtml, MAX_MESSAGE_CHARS)
                    .pop()
                    .map(|r| r.markup)
                    .unwrap_or_default();
                let stale = last_draft.is_some_and(|at| at.elapsed() >= DRAFT_AGAIN);
                if !html.is_empty() && (html != drafted || stale) {
                    self.pacer.take_tokens(&key, group).await;
                    match self.send_draft(chat_id, draft_id, &html).await {
                        Ok(()) => {
                            self.drafts.store(DRAFTS_YES, Ordering::Relaxed);
                            drafted = html;
                        }
                        Err((status, description)) => {
                            // A server without the method (404, or a 400 not about the text)
                            // has no drafts: remembered for the bot, if they never worked
                            // here. Anything else (a 429, this text, the network) ends drafts
                            // for this answer only. Either way it goes on with `typing`.
                            let unsupported =
                                status == 404 || (status == 400 && !about_the_text(&description));
                            if unsupported {
                                let _ = self.drafts.compare_exchange(
                                    DRAFTS_UNKNOWN,
                                    DRAFTS_NO,
                                    Ordering::Relaxed,
                                    Ordering::Relaxed,
                                );
                            }
                            tracing::info!(channel = %self.kind, status, unsupported, "draft refused; showing typing instead");
                            typing_only = true;
                        }
                    }
                    last_draft = Some(Instant::now());
                }
            }
            let typing = match stage {
                Stage::Idle => false,
                _ => !wants_draft || typing_only,
            };
            if typing && last_typing.is_none_or(|at| at.elapsed() >= TYPING_EVERY) {
                self.typing(chat_id).await;
                last_typing = Some(Instant::now());
            }
            // The next change, or the time to show it again (typing, or a draft kept alive).
            let renew = if typing {
                last_typing.map(|at| at + TYPING_EVERY)
            } else if wants_draft {
                last_draft.map(|at| at + DRAFT_AGAIN)
            } else {
                None
            };
            let changed = match renew {
                Some(at) => tokio::select! {
                    r = stages.changed() => r.is_ok(),
                    _ = tokio::time::sleep_until(at) => true,
                },
                None => stages.changed().await.is_ok(),
            };
            if !changed {
                return;
            }
        }
    }
}

/// Waits until `until`; false if `stages` closed first (the answer is ready: no more drafts).
async fn wait_open(stages: &mut watch::Receiver<Stage>, until: Instant) -> bool {
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(until) => return true,
            r = stages.changed() => if r.is_err() { return false },
        }
    }
}
