//! The message model: `Inbound`, `Outbound`, and the traits that connect adapters to the pipeline.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which platform a message came from. Telegram and Bale share an implementation but stay
/// separate channels, because their limits and pseudonym domains differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Telegram,
    Bale,
    WhatsApp,
    WebChat,
}

impl ChannelKind {
    /// The stable name used in pseudonyms, the database and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Telegram => "telegram",
            ChannelKind::Bale => "bale",
            ChannelKind::WhatsApp => "whatsapp",
            ChannelKind::WebChat => "webchat",
        }
    }
}

impl ChannelKind {
    /// Whether [`Outbound::document`] can be delivered on this channel; elsewhere a file is
    /// offered as a link in the text.
    pub fn carries_documents(self) -> bool {
        matches!(self, ChannelKind::Telegram | ChannelKind::Bale)
    }

    /// Whether the platform is told an update was received (a higher `getUpdates` offset, an
    /// HTTP 200 to its webhook) and then never delivers it again, so replies must be durable
    /// first. The web chat answers within the request that brought the message.
    pub fn acknowledges(self) -> bool {
        !matches!(self, ChannelKind::WebChat)
    }

    /// Whether people can pay here in Telegram Stars (Telegram itself; Bale has no Stars).
    pub fn has_stars(self) -> bool {
        matches!(self, ChannelKind::Telegram)
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A raw platform identifier (chat id, user id, phone number). It is personal data, so its
/// `Debug` never prints the value; code that needs it calls [`PlatformId::expose`] on purpose.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PlatformId(String);

impl PlatformId {
    pub fn new(raw: impl Into<String>) -> Self {
        PlatformId(raw.into())
    }

    /// The raw value, for encrypting it or for addressing a reply. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PlatformId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlatformId(<redacted>)")
    }
}

/// The conversation a message belongs to; replies go back here.
#[derive(Clone, Debug)]
pub struct Chat {
    pub id: PlatformId,
    /// A one-to-one chat with the bot (as opposed to a group).
    pub private: bool,
}

/// Who sent the message, as the platform told us. Names are personal data too.
#[derive(Clone, Default)]
pub struct Sender {
    pub id: Option<PlatformId>,
    /// Another id the platform gave for the same person in the same update: on WhatsApp the
    /// phone number beside a business-scoped user id (`id`). Linked to the same subject.
    pub also: Option<PlatformId>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sender(<redacted>)")
    }
}

/// What a person did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InboundKind {
    /// Free text for the assistant.
    Text,
    /// `/name args`; `name` is lower-case without the slash or a `@botname` suffix.
    Command { name: String, args: String },
    /// An inline button was pressed; `data` is what our button carried.
    ButtonPress { data: String },
    /// The person blocked the bot; nothing can be sent to them.
    Blocked,
    /// The platform reports what became of a message we sent (WhatsApp statuses).
    Status {
        status: DeliveryStatus,
        /// The platform's error code for a failure (e.g. 131026, 131047), for the audit log.
        error_code: Option<i64>,
        /// What a failure means for the person, read from the code by the adapter.
        failure: Option<FailureReason>,
    },
    /// The person changed a setting on the platform itself: marketing messages stopped (false)
    /// or resumed (true) (WhatsApp `user_preferences`).
    MarketingPreference { resume: bool },
    /// The platform moved the person to a new id (WhatsApp `user_changed_number`,
    /// `user_changed_user_id`); the sender's id is the old one. Nothing is answered.
    IdentityChanged { to: PlatformId },
    /// Telegram asks whether a Stars payment may go ahead (`pre_checkout_query`); it must be
    /// answered within ten seconds.
    PreCheckout {
        query_id: String,
        payload: String,
        currency: String,
        total: u32,
    },
    /// A payment went through (`successful_payment`).
    Paid {
        payload: String,
        currency: String,
        total: u32,
        charge_id: String,
    },
    /// A payment was refunded (`refunded_payment`).
    Refunded { charge_id: String },
}

/// What became of a message we sent, as the platform reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    Read,
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 4] = [
        DeliveryStatus::Sent,
        DeliveryStatus::Delivered,
        DeliveryStatus::Read,
        DeliveryStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Read => "read",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// `None` for a status this gateway does not act on.
    pub fn parse(name: &str) -> Option<DeliveryStatus> {
        DeliveryStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for DeliveryStatus {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// Why a message could not be delivered, in terms of what it means for the person.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureReason {
    /// The person cannot be reached on this channel at all.
    Unreachable,
    /// The channel's window for free-form replies has closed.
    WindowClosed,
    /// The person stopped marketing messages on the platform.
    MarketingStopped,
    /// Anything else.
    Other,
}

impl FailureReason {
    /// The name recorded in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Unreachable => "unreachable",
            FailureReason::WindowClosed => "window_closed",
            FailureReason::MarketingStopped => "marketing_stopped",
            FailureReason::Other => "failed",
        }
    }
}

impl InboundKind {
    /// The kind without what the person typed, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            InboundKind::Text => "text",
            InboundKind::Command { .. } => "command",
            InboundKind::ButtonPress { .. } => "button",
            InboundKind::Blocked => "blocked",
            InboundKind::Status { .. } => "status",
            InboundKind::MarketingPreference { .. } => "preference",
            InboundKind::IdentityChanged { .. } => "identity_changed",
            InboundKind::PreCheckout { .. } => "pre_checkout",
            InboundKind::Paid { .. } => "paid",
            InboundKind::Refunded { .. } => "refunded",
        }
    }
}

/// One message from any channel, in the only shape the pipeline sees.
#[derive(Clone)]
pub struct Inbound {
    pub channel: ChannelKind,
    /// The configured bot name this message arrived at.
    pub bot: String,
    /// The platform's id for this delivery (update id, message id); duplicates share it.
    pub update_key: String,
    pub chat: Chat,
    pub sender: Sender,
    pub kind: InboundKind,
    /// The message text, for `Text` (and the raw text of a command).
    pub text: Option<String>,
    /// The platform message id, kept as proof of which message carried a consent decision.
    pub message_id: Option<String>,
    pub received_at: DateTime<Utc>,
    /// Meant for the bot: always in a private chat; in a group only a command, a mention of the
    /// bot or a reply to it. Groups' other chatter is ignored (and not stored).
    pub addressed: bool,
    /// The bot's public handle (Telegram username), for links to a private chat with it.
    pub bot_handle: Option<String>,
    /// A voice note, audio or picture the message carried (its caption, if any, is `text`).
    pub media: Option<Media>,
}

/// What kind of media a message carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaKind {
    /// A voice note or an audio file.
    Voice,
    /// A picture.
    Image,
    /// A file (an owner's document for the knowledge base).
    Document,
}

/// Media a message carried, as the platform names it: the bytes stay at the platform until
/// [`Channel::fetch_media`] asks for them.
#[derive(Clone, PartialEq, Eq)]
pub struct Media {
    pub kind: MediaKind,
    /// The platform's handle for the file: Telegram's `file_id`, WhatsApp's media id.
    pub file: String,
    pub mime: Option<String>,
    /// Bytes, when the platform said.
    pub size: Option<u64>,
    /// Seconds of audio, when the platform said.
    pub duration_secs: Option<u32>,
    /// Forwarded from someone else (their voice, not the sender's).
    pub forwarded: bool,
    /// The file's name, when the platform gave one (documents).
    pub name: Option<String>,
}

impl fmt::Debug for Media {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Media")
            .field("kind", &self.kind)
            .field("mime", &self.mime)
            .field("size", &self.size)
            .field("duration_secs", &self.duration_secs)
            .field("forwarded", &self.forwarded)
            .finish_non_exhaustive()
    }
}

/// Why media could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("this channel does not hand out media")]
    Unsupported,
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    #[error("the platform did not hand out the file: {0}")]
    Failed(String),
}

impl fmt::Debug for Inbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Text and ids are personal data: only the shape is printed.
        f.debug_struct("Inbound")
            .field("channel", &self.channel)
            .field("bot", &self.bot)
            .field("kind", &self.kind.name())
            .field("has_text", &self.text.is_some())
            .field("media", &self.media.as_ref().map(|m| m.kind))
            .finish_non_exhaustive()
    }
}

/// An inline button: a label to show and the data that comes back when pressed, or (with `url`)
/// a link that opens in the browser and sends nothing back, or (with `web_app` too) a page
/// Telegram opens inside the chat as a Mini App.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub label: String,
    pub data: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub web_app: bool,
}

impl Button {
    pub fn callback(label: impl Into<String>, data: impl Into<String>) -> Self {
        Button {
            label: label.into(),
            data: data.into(),
            url: None,
            web_app: false,
        }
    }

    pub fn link(label: impl Into<String>, url: impl Into<String>) -> Self {
        Button {
            label: label.into(),
            data: String::new(),
            url: Some(url.into()),
            web_app: false,
        }
    }

    /// A Mini App: Telegram opens `url` inside the chat (and hands it the signed `initData`).
    /// Other channels show it as a link.
    pub fn web_app(label: impl Into<String>, url: impl Into<String>) -> Self {
        Button {
            web_app: true,
            ..Button::link(label, url)
        }
    }
}

/// A file sent with a reply (an `/export`), where the channel can carry files. Its contents are
/// personal data: `Debug` shows only the name and size.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Document {
    pub file_name: String,
    pub mime_type: String,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Document({}, {} bytes)",
            self.file_name,
            self.bytes.len()
        )
    }
}

/// A reply to send on the chat the message came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outbound {
    pub text: String,
    /// Rows of buttons; empty for none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Vec<Button>>,
    /// Platform id of the message this answers, when the channel can quote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// A file to send, with `text` as its caption. Only channels that carry files get one.
    #[serde(skip)]
    pub document: Option<Document>,
    /// How `text` is written: the assistant's answers are Markdown, rendered for each channel;
    /// the gateway's own replies are plain text, shown as written.
    #[serde(default, skip_serializing_if = "Format::is_plain")]
    pub format: Format,
    /// An invoice in Telegram Stars instead of a message (channels with Stars only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice: Option<Invoice>,
}

/// An invoice for a plan, priced in Telegram Stars.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    pub title: String,
    pub description: String,
    /// Comes back in the pre-checkout query and the payment (1–128 bytes, not shown).
    pub payload: String,
    pub stars: u32,
}

/// How an [`Outbound`]'s text is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Shown exactly as written.
    #[default]
    Plain,
    /// Markdown, rendered with the channel's own formatting ([`crate::format`]).
    Markdown,
}

impl Format {
    pub fn is_plain(&self) -> bool {
        *self == Format::Plain
    }
}

impl Outbound {
    pub fn text(text: impl Into<String>) -> Self {
        Outbound {
            text: text.into(),
            ..Default::default()
        }
    }

    /// A Markdown answer, rendered for each channel.
    pub fn markdown(text: impl Into<String>) -> Self {
        Outbound {
            text: text.into(),
            format: Format::Markdown,
            ..Default::default()
        }
    }

    pub fn with_buttons(mut self, rows: Vec<Vec<Button>>) -> Self {
        self.buttons = rows;
        self
    }

    pub fn with_document(mut self, document: Document) -> Self {
        self.document = Some(document);
        self
    }
}

/// Why the pipeline could not handle a message. `retry` tells the adapter whether the same
/// delivery should be tried again (the offset is then not advanced).
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct HandleError {
    pub retry: bool,
    pub reason: String,
}

/// The pipeline, as adapters see it.
#[async_trait]
pub trait InboundHandler: Send + Sync + 'static {
    async fn handle(&self, inbound: Inbound) -> Result<Vec<Outbound>, HandleError>;

    /// Handles `inbound`, reporting on `progress` how far its answer has got (for channels that
    /// show a reply as it is written). By default the progress is not reported.
    async fn handle_watched(
        &self,
        inbound: Inbound,
        progress: &crate::progress::Progress,
    ) -> Result<Vec<Outbound>, HandleError> {
        let _ = progress;
        self.handle(inbound).await
    }

    /// The replies to the update `update_key` of `bot` are done with: the platform took them, or
    /// refused them for good. (A reply kept for later after a transient failure is not.)
    async fn sent(&self, _bot: &str, _update_key: &str) {}

    /// A reply to `user` on `bot` could not be delivered for a reason about the person
    /// (blocked, unreachable, window closed): record it.
    async fn undeliverable(
        &self,
        _bot: &str,
        _channel: ChannelKind,
        _user: &PlatformId,
        _error: &SendError,
    ) {
    }
}

/// Why a send failed, in terms the sender can act on. Never carries a token or a raw id.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Permanent: the person blocked the bot.
    #[error("the person blocked the bot")]
    Blocked,
    /// Permanent: the chat or number cannot be reached (chat not found, WhatsApp 131026).
    #[error("the recipient cannot be reached: {0}")]
    Unreachable(String),
    /// Permanent for now: outside WhatsApp's 24-hour window, only templates may be sent.
    #[error("outside the 24-hour customer-service window")]
    WindowClosed,
    /// Retry after this many seconds (the platform said so, or its back-off rule).
    #[error("rate limited by the platform; retry after {0} s")]
    RateLimited(u64),
    /// Worth retrying: network trouble, a server error.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Permanent: a bad request and the like.
    #[error("{0}")]
    Other(String),
}

impl SendError {
    /// Whether this says something about the person (to be recorded), not about this message.
    pub fn about_recipient(&self) -> bool {
        matches!(
            self,
            SendError::Blocked | SendError::Unreachable(_) | SendError::WindowClosed
        )
    }
}

/// A way to deliver replies on one bot of one platform.
#[async_trait]
pub trait Channel: Send + Sync + 'static {
    fn kind(&self) -> ChannelKind;

    /// Sends outside the platform's customer-service window (WhatsApp's 24 hours): only an
    /// approved template may go, so without one nothing is sent.
    async fn send_outside_window(
        &self,
        _chat: &PlatformId,
        _out: &Outbound,
    ) -> Result<(), SendError> {
        Err(SendError::WindowClosed)
    }

    /// Whether free-form messages need the person to have written recently.
    fn has_window(&self) -> bool {
        false
    }
    async fn send(&self, chat: &PlatformId, out: &Outbound) -> Result<(), SendError>;

    /// Answers a payment's pre-checkout query: go ahead, or not with `error` shown to the
    /// person. Channels without payments refuse.
    async fn answer_pre_checkout(
        &self,
        _query_id: &str,
        _error: Option<&str>,
    ) -> Result<(), SendError> {
        Err(SendError::Other("this channel takes no payments".into()))
    }

    /// Refunds a Stars payment of `user`.
    async fn refund_stars(&self, _user: &PlatformId, _charge_id: &str) -> Result<(), SendError> {
        Err(SendError::Other("this channel takes no payments".into()))
    }

    /// The bytes of media a message carried, at most `max_bytes` of them (more is
    /// [`MediaError::TooLarge`]). Channels without media refuse.
    async fn fetch_media(&self, _media: &Media, _max_bytes: u64) -> Result<Vec<u8>, MediaError> {
        Err(MediaError::Unsupported)
    }

    /// Shows a reply being written until `stages` closes: a draft of the text so far where the
    /// platform has drafts, its typing indicator otherwise. Returns once `stages` closes (and
    /// any update in flight is done), so the reply itself goes after the last draft. By default
    /// nothing is shown.
    async fn show_progress(
        &self,
        _to: &crate::progress::Writing,
        mut stages: tokio::sync::watch::Receiver<crate::progress::Stage>,
    ) {
        while stages.changed().await.is_ok() {}
    }
}

#[cfg(test)]
mod delivery_status_tests {
    use super::*;

    #[test]
    fn every_status_survives_the_round_trip_and_others_are_not_ours() {
        for s in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(&s.to_string()), Some(s));
            assert!(s == *s.as_str());
        }
        for other in ["", "Delivered", "deleted", "warning", "failed ", "\u{0}"] {
            assert_eq!(DeliveryStatus::parse(other), None, "{other:?}");
        }
    }
}
