//! Reading a webhook: the signature over the raw bytes first, then messages, statuses and
//! marketing preferences into the one shape the pipeline takes. Unknown parts are skipped.

use chrono::Utc;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::GraphError;
use crate::{
    model::{
        ChannelKind, Chat, DeliveryStatus, Inbound, InboundKind, Media, MediaKind, PlatformId,
        Sender,
    },
    telegram::parse_command,
};

/// The MAC of `X-Hub-Signature-256`, from a header of the right shape (`sha256=` and 64 hex
/// digits); `None` for anything else.
pub(super) fn signature_header(header: &str) -> Option<Vec<u8>> {
    let hex = header.strip_prefix("sha256=")?.trim();
    if hex.len() != 64 {
        return None;
    }
    hex::decode(hex).ok()
}

/// HMAC-SHA256 under the app secret, to feed the body to as it arrives.
pub(super) fn signer(app_secret: &str) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes keys of any size")
}

/// Checks `X-Hub-Signature-256: sha256=<hex>` against HMAC-SHA256(app secret, raw body), in
/// constant time.
pub fn signature_valid(app_secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(given) = header.and_then(signature_header) else {
        return false;
    };
    let mut mac = signer(app_secret);
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// One webhook body, read into what the pipeline takes. Unknown parts are skipped.
pub fn parse_webhook(bot_name: &str, body: &Value) -> Vec<Inbound> {
    let mut out = Vec::new();
    for change in body["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["changes"].as_array().into_iter().flatten())
    {
        let value = &change["value"];
        match change["field"].as_str() {
            Some("messages") => {
                messages(bot_name, value, &mut out);
                statuses(bot_name, value, &mut out);
            }
            Some("user_preferences") => preferences(bot_name, value, &mut out),
            _ => {}
        }
    }
    out
}

/// Who a webhook item is about. Since April 2026 Meta sends a business-scoped user id (BSUID,
/// `US.1349…`) with every message, and the phone number only while it may be shown: the BSUID is
/// the person's id here, the phone number when both arrive is linked to the same person, and
/// replies go to the phone number when known (as Meta recommends), else to the BSUID.
struct Person {
    id: String,
    phone: Option<String>,
}

impl Person {
    fn new(bsuid: Option<&str>, phone: Option<&str>) -> Option<Person> {
        let bsuid = bsuid.filter(|b| !b.is_empty());
        let phone = phone.filter(|p| !p.is_empty());
        let id = bsuid.or(phone)?.to_string();
        Some(Person {
            phone: phone.filter(|p| *p != id).map(str::to_string),
            id,
        })
    }
}

/// An inbound from one person: on WhatsApp every chat is a private one.
fn inbound(
    bot_name: &str,
    key: String,
    person: Person,
    name: Option<String>,
    kind: InboundKind,
) -> Inbound {
    let chat = person.phone.clone().unwrap_or_else(|| person.id.clone());
    Inbound {
        channel: ChannelKind::WhatsApp,
        bot: bot_name.to_string(),
        update_key: key,
        chat: Chat {
            id: PlatformId::new(chat),
            private: true,
        },
        sender: Sender {
            id: Some(PlatformId::new(person.id)),
            also: person.phone.map(PlatformId::new),
            first_name: name,
            last_name: None,
            username: None,
        },
        kind,
        text: None,
        message_id: None,
        received_at: Utc::now(),
        addressed: true,
        bot_handle: None,
        media: None,
    }
}

/// Messages people sent, with the profile names and BSUIDs the `contacts` give.
fn messages(bot_name: &str, value: &Value, out: &mut Vec<Inbound>) {
    let contacts: Vec<&Value> = value["contacts"].as_array().into_iter().flatten().collect();
    // The contact of a message: the one with its phone number or BSUID, or the only one.
    let contact_of = |phone: Option<&str>, bsuid: Option<&str>| {
        contacts
            .iter()
            .find(|c| {
                (phone.is_some() && c["wa_id"].as_str() == phone)
                    || (bsuid.is_some() && c["user_id"].as_str() == bsuid)
            })
            .or(if contacts.len() == 1 {
                contacts.first()
            } else {
                None
            })
            .copied()
    };
    for m in value["messages"].as_array().into_iter().flatten() {
        let Some(id) = m["id"].as_str() else {
            continue;
        };
        let phone = m["from"].as_str();
        let contact = contact_of(phone, m["from_user_id"].as_str());
        let bsuid = m["from_user_id"]
            .as_str()
            .or(contact.and_then(|c| c["user_id"].as_str()));
        if m["type"].as_str() == Some("system") {
            if let Some(change) = identity_change(bot_name, id, phone, bsuid, &m["system"]) {
                out.push(change);
            }
            continue;
        }
        // Business-scoped user ids may come without a phone number (wa_id).
        let Some(person) = Person::new(bsuid, phone) else {
            continue;
        };
        let name = contact.and_then(|c| c["profile"]["name"].as_str().map(str::to_string));
        let (kind, text) = message_kind(m);
        let mut i = inbound(bot_name, id.to_string(), person, name, kind);
        i.media = media_of(m);
        i.text = text;
        i.message_id = Some(id.to_string());
        out.push(i);
    }
}

/// A `system` message announcing a new number (`user_changed_number`, the new one in
/// `system.wa_id`) or a new BSUID (`user_changed_user_id`: `previous_user_id` → `user_id`). The
/// sender's id is the one replaced; `also` is another id of the person, to find them by.
fn identity_change(
    bot_name: &str,
    key: &str,
    phone: Option<&str>,
    bsuid: Option<&str>,
    system: &Value,
) -> Option<Inbound> {
    let (old, also, new) = match system["type"].as_str()? {
        "user_changed_number" => (phone?, bsuid, system["wa_id"].as_str()?),
        "user_changed_user_id" => (
            system["previous_user_id"].as_str()?,
            phone,
            system["user_id"].as_str()?,
        ),
        _ => return None,
    };
    if old.is_empty() || new.is_empty() || old == new {
        return None;
    }
    let mut i = inbound(
        bot_name,
        key.to_string(),
        Person {
            id: old.to_string(),
            phone: None,
        },
        None,
        InboundKind::IdentityChanged {
            to: PlatformId::new(new),
        },
    );
    i.sender.also = also.filter(|a| !a.is_empty()).map(PlatformId::new);
    Some(i)
}

/// What a message is, and its text when it has one.
fn message_kind(m: &Value) -> (InboundKind, Option<String>) {
    let button = |data: Option<&str>| match data {
        Some(data) => (
            InboundKind::ButtonPress {
                data: data.to_string(),
            },
            None,
        ),
        None => (InboundKind::Text, None),
    };
    match m["type"].as_str() {
        Some("text") => {
            let text = m["text"]["body"].as_str().unwrap_or_default().to_string();
            let kind = match parse_command(&text) {
                Some((name, args)) => InboundKind::Command { name, args },
                None => InboundKind::Text,
            };
            (kind, Some(text))
        }
        Some("interactive") => button(m["interactive"]["button_reply"]["id"].as_str()),
        // A quick-reply button of a template.
        Some("button") => button(m["button"]["payload"].as_str()),
        // A document's caption may be a command for it (`/kb add`), else it is its text.
        Some("document") => {
            let caption = m["document"]["caption"]
                .as_str()
                .filter(|c| !c.trim().is_empty())
                .map(str::to_string);
            match caption.as_deref().and_then(parse_command) {
                Some((name, args)) => (InboundKind::Command { name, args }, None),
                None => (InboundKind::Text, caption),
            }
        }
        // A picture's caption is its text; voice and the rest have none.
        Some("image") => (
            InboundKind::Text,
            m["image"]["caption"]
                .as_str()
                .filter(|c| !c.trim().is_empty())
                .map(str::to_string),
        ),
        _ => (InboundKind::Text, None),
    }
}

/// The voice note, audio or picture a message carries: its media id, to fetch from the Graph
/// API.
fn media_of(m: &Value) -> Option<Media> {
    let (kind, field) = match m["type"].as_str()? {
        "audio" => (MediaKind::Voice, "audio"),
        "image" => (MediaKind::Image, "image"),
        "document" => (MediaKind::Document, "document"),
        _ => return None,
    };
    let media = &m[field];
    Some(Media {
        kind,
        file: media["id"].as_str()?.to_string(),
        mime: media["mime_type"].as_str().map(str::to_string),
        size: None,
        duration_secs: None,
        forwarded: m["context"]["forwarded"].as_bool().unwrap_or(false)
            || m["context"]["frequently_forwarded"]
                .as_bool()
                .unwrap_or(false),
        name: media["filename"].as_str().map(str::to_string),
    })
}

/// What became of messages we sent; statuses the gateway does not act on are skipped.
fn statuses(bot_name: &str, value: &Value, out: &mut Vec<Inbound>) {
    for s in value["statuses"].as_array().into_iter().flatten() {
        let (Some(id), Some(status)) = (s["id"].as_str(), s["status"].as_str()) else {
            continue;
        };
        let Some(to) = Person::new(s["recipient_user_id"].as_str(), s["recipient_id"].as_str())
        else {
            continue;
        };
        let Some(status) = DeliveryStatus::parse(status) else {
            tracing::debug!(status, "a delivery status this gateway does not act on");
            continue;
        };
        let error_code = s["errors"][0]["code"].as_i64();
        out.push(inbound(
            bot_name,
            format!("status:{id}:{status}"),
            to,
            None,
            InboundKind::Status {
                status,
                error_code,
                failure: (status == DeliveryStatus::Failed)
                    .then(|| GraphError::failure(error_code)),
            },
        ));
    }
}

/// Marketing messages stopped or resumed in WhatsApp itself.
fn preferences(bot_name: &str, value: &Value, out: &mut Vec<Inbound>) {
    for p in value["user_preferences"].as_array().into_iter().flatten() {
        let Some(person) = Person::new(p["user_id"].as_str(), p["wa_id"].as_str()) else {
            continue;
        };
        if p["category"].as_str() != Some("marketing_messages") {
            continue;
        }
        let resume = match p["value"].as_str() {
            Some("stop") => false,
            Some("resume") => true,
            _ => continue,
        };
        let ts = p["timestamp"]
            .as_i64()
            .map(|t| t.to_string())
            .or_else(|| p["timestamp"].as_str().map(str::to_string))
            .unwrap_or_default();
        let key = format!("pref:{}:{ts}:{resume}", person.id);
        out.push(inbound(
            bot_name,
            key,
            person,
            None,
            InboundKind::MarketingPreference { resume },
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signature_matches_the_documented_vector_and_nothing_else() {
        // HMAC-SHA256(key="secret", msg="test")
        let header = "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914";
        assert!(signature_valid("secret", b"test", Some(header)));
        assert!(!signature_valid("secret", b"test ", Some(header)));
        assert!(!signature_valid("other", b"test", Some(header)));
        assert!(!signature_valid("secret", b"test", None));
        assert!(!signature_valid("secret", b"test", Some("0329a06b")));
    }

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn the_published_payloads_parse() {
        let text = parse_webhook("wa", &fixture("whatsapp_webhook_text_message.json"));
        assert_eq!(text.len(), 1);
        assert_eq!(text[0].kind, InboundKind::Text);
        assert!(text[0].text.is_some());
        assert!(text[0].update_key.starts_with("wamid."));
        let button = parse_webhook(
            "wa",
            &fixture("whatsapp_webhook_interactive_button_reply.json"),
        );
        assert!(matches!(button[0].kind, InboundKind::ButtonPress { .. }));
        let delivered = parse_webhook("wa", &fixture("whatsapp_webhook_status_delivered.json"));
        assert!(
            matches!(&delivered[0].kind, InboundKind::Status { status, .. } if status == "delivered")
        );
        let failed = parse_webhook("wa", &fixture("whatsapp_webhook_status_failed.json"));
        assert!(matches!(
            failed[0].kind,
            InboundKind::Status {
                error_code: Some(_),
                ..
            }
        ));
        let pref = parse_webhook(
            "wa",
            &fixture("whatsapp_webhook_user_preferences_marketing_resume.json"),
        );
        assert_eq!(
            pref[0].kind,
            InboundKind::MarketingPreference { resume: true }
        );
        // Since April 2026 the business-scoped id comes along: it is the person's id, the
        // phone number is linked to it and is where replies go.
        assert_eq!(
            text[0].sender.id.as_ref().unwrap().expose(),
            "US.13491208655302741918"
        );
        assert_eq!(
            text[0].sender.also.as_ref().unwrap().expose(),
            "972987654321"
        );
        assert_eq!(text[0].chat.id.expose(), "972987654321");
        // A username without a phone number: the BSUID only, and replies go to it.
        let bsuid = parse_webhook(
            "wa",
            &fixture("whatsapp_webhook_text_message_bsuid_only.json"),
        );
        assert_eq!(
            bsuid[0].sender.id.as_ref().unwrap().expose(),
            "US.13491208655302741918"
        );
        assert!(bsuid[0].sender.also.is_none());
        assert_eq!(bsuid[0].chat.id.expose(), "US.13491208655302741918");
        assert_eq!(bsuid[0].sender.first_name.as_deref(), Some("Test Name"));
        // Statuses: the BSUID when given, with the number.
        assert_eq!(
            failed[0].sender.id.as_ref().unwrap().expose(),
            "972987654321"
        );
        // A new number, a new BSUID: from the old id to the new one, nothing to answer.
        let number = parse_webhook(
            "wa",
            &fixture("whatsapp_webhook_system_user_changed_number.json"),
        );
        assert_eq!(
            number[0].sender.id.as_ref().unwrap().expose(),
            "972987654321"
        );
        assert!(
            matches!(&number[0].kind, InboundKind::IdentityChanged { to } if to.expose() == "972912345678")
        );
        let user_id = parse_webhook(
            "wa",
            &fixture("whatsapp_webhook_system_user_changed_user_id.json"),
        );
        assert_eq!(
            user_id[0].sender.id.as_ref().unwrap().expose(),
            "CO.1234567890"
        );
        assert!(
            matches!(&user_id[0].kind, InboundKind::IdentityChanged { to } if to.expose() == "MX.0987654321")
        );
        // Garbage is skipped, never a panic.
        assert!(parse_webhook("wa", &json!({"entry": [{"changes": [{"field": "messages", "value": {"messages": [{}]}}]}]})).is_empty());
        assert!(parse_webhook("wa", &json!([1, 2])).is_empty());
    }
}
