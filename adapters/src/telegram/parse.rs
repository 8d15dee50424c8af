//! Reading updates: each on its own, so one malformed update cannot stall the ones after it, into
//! the one message shape the pipeline takes. Parsing is kept apart from I/O.

use chrono::Utc;
use serde::Deserialize;
use teloxide::types::{Update, UpdateKind, User};

use super::ALLOWED_UPDATES;
use crate::model::{ChannelKind, Chat, Inbound, InboundKind, Media, MediaKind, PlatformId, Sender};

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
        also: None,
        first_name: Some(user.first_name.clone()),
        last_name: user.last_name.clone(),
        username: user.username.clone(),
    }
}

/// A payment made or refunded, as a message says it.
fn payment_of(msg: &teloxide::types::Message) -> Option<InboundKind> {
    if let Some(paid) = msg.successful_payment() {
        return Some(InboundKind::Paid {
            payload: paid.invoice_payload.clone(),
            currency: paid.currency.clone(),
            total: paid.total_amount,
            charge_id: paid.telegram_payment_charge_id.0.clone(),
        });
    }
    match &msg.kind {
        teloxide::types::MessageKind::RefundedPayment(r) => Some(InboundKind::Refunded {
            charge_id: r.refunded_payment.telegram_payment_charge_id.0.clone(),
        }),
        _ => None,
    }
}

/// The voice note, audio or picture a message carries (the largest size of a picture).
fn media_of(msg: &teloxide::types::Message) -> Option<Media> {
    let forwarded = msg.forward_origin().is_some();
    if let Some(v) = msg.voice() {
        return Some(Media {
            kind: MediaKind::Voice,
            file: v.file.id.0.clone(),
            mime: v.mime_type.as_ref().map(ToString::to_string),
            size: Some(v.file.size.into()),
            duration_secs: Some(v.duration.seconds()),
            forwarded,
            name: None,
        });
    }
    if let Some(a) = msg.audio() {
        return Some(Media {
            kind: MediaKind::Voice,
            file: a.file.id.0.clone(),
            mime: a.mime_type.as_ref().map(ToString::to_string),
            size: Some(a.file.size.into()),
            duration_secs: Some(a.duration.seconds()),
            forwarded,
            name: None,
        });
    }
    if let Some(d) = msg.document() {
        return Some(Media {
            kind: MediaKind::Document,
            file: d.file.id.0.clone(),
            mime: d.mime_type.as_ref().map(ToString::to_string),
            size: Some(d.file.size.into()),
            duration_secs: None,
            forwarded,
            name: d.file_name.clone(),
        });
    }
    let largest = msg
        .photo()?
        .iter()
        .max_by_key(|p| u64::from(p.width) * u64::from(p.height))?;
    Some(Media {
        kind: MediaKind::Image,
        file: largest.file.id.0.clone(),
        mime: Some("image/jpeg".into()),
        size: Some(largest.file.size.into()),
        duration_secs: None,
        forwarded,
        name: None,
    })
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

/// Whether a group message is meant for the bot: a command (Telegram marks it with a
/// `bot_command` entity at the very start; text that merely begins with `/`, such as a path, is
/// not one) for it or for no bot in particular, a mention of exactly its username (not of
/// another bot whose name begins the same), or a reply to one of its messages. Returns the text
/// with the mention taken out.
fn addressing(msg: &teloxide::types::Message, me: Option<&Me>, text: &str) -> (bool, String) {
    if msg.chat.is_private() {
        return (true, text.to_string());
    }
    if is_command(msg, text) {
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
    match mention_of(text, &me.username) {
        Some((start, end)) => {
            let cleaned = format!("{}{}", &text[..start], &text[end..]);
            // "@bot, prices?" asks "prices?".
            let cleaned = cleaned.trim().trim_start_matches([',', ':']).trim();
            (true, cleaned.to_string())
        }
        None => (replied_to_us, text.to_string()),
    }
}

/// Whether the message starts with a bot command as Telegram marks it: a `bot_command` entity
/// covering the whole first word (Telegram marks `/path` in `/path/to/file`, which is no command).
fn is_command(msg: &teloxide::types::Message, text: &str) -> bool {
    // Entity offsets and lengths count UTF-16 code units.
    let head = text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .encode_utf16()
        .count();
    msg.entities().is_some_and(|entities| {
        entities.iter().any(|e| {
            e.offset == 0
                && e.length == head
                && e.kind == teloxide::types::MessageEntityKind::BotCommand
        })
    })
}

/// The byte range of the first `@username` in `text` that names exactly this bot (any case):
/// the character after it cannot continue a username.
fn mention_of(text: &str, username: &str) -> Option<(usize, usize)> {
    let handle = format!("@{username}");
    let mut from = 0;
    while let Some(pos) = text[from..]
        .char_indices()
        .find(|(i, _)| {
            text[from + i..]
                .get(..handle.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(&handle))
        })
        .map(|(i, _)| from + i)
    {
        let end = pos + handle.len();
        let continues = text[end..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if !continues {
            return Some((pos, end));
        }
        from = end;
    }
    None
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
        media: None,
    };
    let mut callback_id = None;
    let inbound = match &update.kind {
        UpdateKind::Message(msg) => {
            let chat = Chat {
                id: PlatformId::new(msg.chat.id.0.to_string()),
                private: msg.chat.is_private(),
            };
            let sender = msg.from.as_ref().map(sender_of).unwrap_or_default();
            if let Some(kind) = payment_of(msg) {
                let mut inbound = base(chat, sender, kind);
                inbound.message_id = Some(msg.id.0.to_string());
                return Ok(ParsedUpdate {
                    update_id,
                    inbound: Some(inbound),
                    callback_id: None,
                });
            }
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
                // Voice notes, audio and pictures are handed on with their caption; stickers and
                // the rest come without text, and the pipeline says what it understands (in a
                // group only when it replies to the bot).
                None => {
                    let caption = msg.caption().unwrap_or_default();
                    let (addressed, caption) = addressing(msg, me, caption);
                    let mut inbound = base(chat, sender, InboundKind::Text);
                    inbound.message_id = Some(msg.id.0.to_string());
                    inbound.addressed = addressed;
                    inbound.media = media_of(msg);
                    if inbound.media.is_some() && !caption.trim().is_empty() {
                        // A document's caption may be a command for it (`/kb add`).
                        let document = inbound
                            .media
                            .as_ref()
                            .is_some_and(|m| m.kind == MediaKind::Document);
                        if let Some((name, args)) = parse_command(&caption).filter(|_| document) {
                            inbound.kind = InboundKind::Command { name, args };
                        }
                        inbound.text = Some(caption);
                    }
                    Some(inbound)
                }
            }
        }
        UpdateKind::PreCheckoutQuery(query) => {
            // Asked in the buyer's private chat with the bot, whose id is theirs.
            let chat = Chat {
                id: PlatformId::new(query.from.id.0.to_string()),
                private: true,
            };
            Some(base(
                chat,
                sender_of(&query.from),
                InboundKind::PreCheckout {
                    query_id: query.id.0.clone(),
                    payload: query.invoice_payload.clone(),
                    currency: query.currency.clone(),
                    total: query.total_amount,
                },
            ))
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn voice_audio_and_pictures_carry_their_media_and_a_pictures_caption_is_its_text() {
        let message = |media: &str| {
            format!(
                r#"{{"update_id":9,"message":{{"message_id":3,"date":1700000000,"chat":{{"id":42,"type":"private","first_name":"A"}},"from":{{"id":42,"is_bot":false,"first_name":"A"}},{media}}}}}"#
            )
        };
        let voice = message(
            r#""voice":{"file_id":"AwAC","file_unique_id":"u1","duration":7,"mime_type":"audio/ogg","file_size":5120}"#,
        );
        let inbound = parse_update(ChannelKind::Telegram, "t", &voice)
            .unwrap()
            .inbound
            .unwrap();
        let media = inbound.media.unwrap();
        assert_eq!(media.kind, MediaKind::Voice);
        assert_eq!(media.file, "AwAC");
        assert_eq!((media.duration_secs, media.size), (Some(7), Some(5120)));
        assert_eq!(media.mime.as_deref(), Some("audio/ogg"));
        assert!(inbound.text.is_none());
        let photo = message(
            r#""caption":"what is this?","photo":[{"file_id":"small","file_unique_id":"s","width":90,"height":90,"file_size":900},{"file_id":"big","file_unique_id":"b","width":800,"height":600,"file_size":60000}]"#,
        );
        let inbound = parse_update(ChannelKind::Telegram, "t", &photo)
            .unwrap()
            .inbound
            .unwrap();
        let media = inbound.media.unwrap();
        assert_eq!((media.kind, media.file.as_str()), (MediaKind::Image, "big"));
        assert_eq!(inbound.text.as_deref(), Some("what is this?"));
        let sticker = message(
            r#""sticker":{"file_id":"st","file_unique_id":"st","type":"regular","width":512,"height":512,"is_animated":false,"is_video":false}"#,
        );
        let inbound = parse_update(ChannelKind::Telegram, "t", &sticker)
            .unwrap()
            .inbound
            .unwrap();
        assert!(inbound.media.is_none() && inbound.text.is_none());
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
