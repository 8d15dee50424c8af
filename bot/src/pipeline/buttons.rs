//! Buttons bound to the person and chat they were shown to. A consent or erasure button carries a
//! short MAC (under a key derived from `PSEUDONYM_KEY`) over its data, the person's pseudonym and,
//! on Telegram and Bale (where a button can sit in a group), the chat. A press is taken only
//! from that person in that chat: someone else pressing it, a button copied to another chat, or
//! data typed by hand (`c:req:y:1`) is refused and changes nothing. The policy version is in the
//! data itself, so a button of an older version is recognised as such.
//!
//! On WhatsApp and the web chat every chat is the person's own and their id may change (a new
//! number, a renewed session): the binding there is the person alone.

use base64::Engine;
use consentgate_adapters::{ChannelKind, Inbound, Outbound, PlatformId};
use hmac::Mac;

use crate::privacy::{digest, keys::HmacKey, pseudonym::Pseudonym};

/// Separates the data from its tag; never part of data the gateway makes.
const SEPARATOR: char = '~';
/// Characters of the tag: 60 bits, in a callback data field of 64 bytes.
const TAG_CHARS: usize = 10;

/// Whether data of this kind must carry a tag: consent choices and erasure.
fn needs_tag(data: &str) -> bool {
    data.starts_with("c:") || data.starts_with("consent:") || data.starts_with("erase:")
}

/// The chat a button is bound to, where a button can be pressed by others.
fn bound_chat(channel: ChannelKind, chat: &PlatformId) -> &str {
    match channel {
        ChannelKind::Telegram | ChannelKind::Bale => chat.expose(),
        _ => "",
    }
}

fn tag(key: &HmacKey, pseudonym: &Pseudonym, chat: &str, data: &str) -> String {
    let mut mac = digest::keyed(key);
    for part in [
        b"button\x00".as_slice(),
        pseudonym.as_str().as_bytes(),
        b"\x00",
        chat.as_bytes(),
        b"\x00",
        data.as_bytes(),
    ] {
        mac.update(part);
    }
    let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    tag[..TAG_CHARS].to_string()
}

/// `data` with its tag, for the person `pseudonym` in `chat` on `channel`.
pub fn signed(
    key: &HmacKey,
    pseudonym: &Pseudonym,
    channel: ChannelKind,
    chat: &PlatformId,
    data: &str,
) -> String {
    if !needs_tag(data) {
        return data.to_string();
    }
    let tag = tag(key, pseudonym, bound_chat(channel, chat), data);
    format!("{data}{SEPARATOR}{tag}")
}

/// The data of a button as shown to `person` in their private chat with a bot of `business` on
/// `channel`, for a person known by the pseudonym of that id (the usual case): for pressing a
/// button without reading it from a sent message first (load tests, scripted checks).
pub fn for_person(
    key: &HmacKey,
    business: &str,
    channel: ChannelKind,
    person: &str,
    data: &str,
) -> String {
    let person = PlatformId::new(person);
    let pseudonym = Pseudonym::derive_in(key, business, channel, &person);
    signed(key, &pseudonym, channel, &person, data)
}

/// Tags every consent and erasure button in `replies` for the person they go to.
pub(super) fn sign_all(
    key: &HmacKey,
    pseudonym: &Pseudonym,
    inbound: &Inbound,
    mut replies: Vec<Outbound>,
) -> Vec<Outbound> {
    for button in replies
        .iter_mut()
        .flat_map(|r| r.buttons.iter_mut().flatten())
        .filter(|b| b.url.is_none())
    {
        button.data = signed(
            key,
            pseudonym,
            inbound.channel,
            &inbound.chat.id,
            &button.data,
        );
    }
    replies
}

/// The data of a pressed button, if this person may press it here: `None` for a consent or
/// erasure button without a valid tag for them and this chat.
pub(super) fn verified<'d>(
    key: &HmacKey,
    pseudonym: &Pseudonym,
    inbound: &Inbound,
    pressed: &'d str,
) -> Option<&'d str> {
    let (data, given) = match pressed.rsplit_once(SEPARATOR) {
        Some((data, given)) => (data, Some(given)),
        None => (pressed, None),
    };
    if !needs_tag(data) {
        return Some(data);
    }
    let expected = tag(
        key,
        pseudonym,
        bound_chat(inbound.channel, &inbound.chat.id),
        data,
    );
    given
        .filter(|g| consentgate_adapters::constant_time_eq(g.as_bytes(), expected.as_bytes()))
        .map(|_| data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbound(channel: ChannelKind, chat: &str) -> Inbound {
        Inbound {
            channel,
            bot: "b".into(),
            update_key: "1".into(),
            chat: consentgate_adapters::Chat {
                id: PlatformId::new(chat),
                private: true,
            },
            sender: Default::default(),
            kind: consentgate_adapters::InboundKind::Text,
            text: None,
            message_id: None,
            received_at: chrono::Utc::now(),
            addressed: true,
            bot_handle: None,
            media: None,
        }
    }

    #[test]
    fn a_tag_holds_for_its_person_and_chat_only() {
        let key = HmacKey::parse("K", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").unwrap();
        let ivan = Pseudonym::from_stored("ivan".into());
        let maryam = Pseudonym::from_stored("maryam".into());
        let here = inbound(ChannelKind::Telegram, "42");
        let data = signed(
            &key,
            &ivan,
            ChannelKind::Telegram,
            &here.chat.id,
            "c:req:y:1",
        );
        assert!(data.len() <= 64, "{data}");
        assert_eq!(verified(&key, &ivan, &here, &data), Some("c:req:y:1"));
        // Someone else, another chat, no tag, a tag for other data: refused.
        assert_eq!(verified(&key, &maryam, &here, &data), None);
        let group = inbound(ChannelKind::Telegram, "-100");
        assert_eq!(verified(&key, &ivan, &group, &data), None);
        assert_eq!(verified(&key, &ivan, &here, "c:req:y:1"), None);
        let tag = data.rsplit_once('~').unwrap().1;
        assert_eq!(
            verified(&key, &ivan, &here, &format!("erase:confirm~{tag}")),
            None
        );
        // Buttons of other kinds carry no tag and need none.
        assert_eq!(
            signed(
                &key,
                &ivan,
                ChannelKind::Telegram,
                &here.chat.id,
                "link:go:google"
            ),
            "link:go:google"
        );
        assert_eq!(
            verified(&key, &maryam, &here, "link:go:google"),
            Some("link:go:google")
        );
        // On the web chat the person alone is bound: their session id may change.
        let web = inbound(ChannelKind::WebChat, "wabc");
        let data = signed(&key, &ivan, ChannelKind::WebChat, &web.chat.id, "c:req:y:1");
        assert_eq!(
            verified(&key, &ivan, &inbound(ChannelKind::WebChat, "wdef"), &data),
            Some("c:req:y:1")
        );
    }
}
