//! Pseudonyms and blind indexes: keyed HMAC-SHA256, so that a person's platform id cannot be
//! recovered or enumerated without `PSEUDONYM_KEY`, which lives outside the database.

use std::fmt;

use crate::privacy::digest::keyed_hex;
use crate::privacy::keys::HmacKey;
use consentgate_adapters::{ChannelKind, PlatformId};

/// What the LLM provider, logs and the audit log know a person by: hex HMAC-SHA256 under
/// `PSEUDONYM_KEY` of the business, the channel and the platform user id
/// ([`Pseudonym::derive_in`]). It can only be made from a raw id together with the key, and it
/// differs from one business to another, so two businesses on one gateway (and their providers)
/// can never link a person.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Pseudonym(String);

impl Pseudonym {
    /// The pseudonym of a person of `business` (a group of bots; by default each bot is its own).
    pub fn derive_in(
        key: &HmacKey,
        business: &str,
        channel: ChannelKind,
        user: &PlatformId,
    ) -> Self {
        Pseudonym(keyed_hex(
            key,
            &[
                b"business\x00",
                business.as_bytes(),
                b"\x00",
                channel.as_str().as_bytes(),
                b":",
                user.expose().as_bytes(),
            ],
        ))
    }

    /// The form before businesses: `"channel:platform_user_id"`, shared by every bot. People
    /// first seen before keep it; only configured owners are still matched against it.
    pub fn derive(key: &HmacKey, channel: ChannelKind, user: &PlatformId) -> Self {
        Pseudonym(keyed_hex(
            key,
            &[channel.as_str().as_bytes(), b":", user.expose().as_bytes()],
        ))
    }

    /// Rebuilds a pseudonym read back from storage (it was derived when stored).
    pub fn from_stored(value: String) -> Self {
        Pseudonym(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A short form for log lines.
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(12)]
    }
}

impl fmt::Display for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pseudonym({})", self.short())
    }
}

/// The look-up key of a channel identity on one bot. Domain-separated from pseudonyms so the two
/// can never be matched against each other.
pub fn blind_index(key: &HmacKey, bot_id: i64, channel: ChannelKind, user: &PlatformId) -> String {
    keyed_hex(
        key,
        &[
            b"blind-index\x00",
            bot_id.to_string().as_bytes(),
            b"\x00",
            channel.as_str().as_bytes(),
            b"\x00",
            user.expose().as_bytes(),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    fn key() -> HmacKey {
        HmacKey::parse(
            "PSEUDONYM_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        )
        .unwrap()
    }

    #[test]
    fn pseudonym_is_hmac_of_channel_and_user() {
        // Independent computation: HMAC-SHA256(key, "telegram:12345").
        let mut mac = Hmac::<Sha256>::new_from_slice(b"0123456789abcdef0123456789abcdef").unwrap();
        mac.update(b"telegram:12345");
        let expected = hex::encode(mac.finalize().into_bytes());
        let p = Pseudonym::derive(&key(), ChannelKind::Telegram, &PlatformId::new("12345"));
        assert_eq!(p.as_str(), expected);
    }

    #[test]
    fn channels_give_different_pseudonyms_and_blind_index_differs() {
        let id = PlatformId::new("12345");
        let t = Pseudonym::derive(&key(), ChannelKind::Telegram, &id);
        let b = Pseudonym::derive(&key(), ChannelKind::Bale, &id);
        assert_ne!(t, b);
        assert_ne!(
            blind_index(&key(), 1, ChannelKind::Telegram, &id),
            t.as_str()
        );
    }
}
