//! Digests and tokens, one helper each: SHA-256 as hex (stored hashes of tokens, keys and
//! policy texts), random URL-safe tokens (invites, OAuth state and PKCE verifiers, admin keys,
//! export links), and keyed HMAC-SHA256 derivations under one of the gateway's keys
//! (pseudonyms, blind indexes, webhook secrets, the audit chain).

use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::keys::HmacKey;

/// SHA-256 of `bytes`, as 64 lower-case hex digits.
pub fn sha256_hex(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(Sha256::digest(bytes.as_ref()))
}

/// 32 random bytes as URL-safe base64 without padding: 43 characters, unguessable, and valid
/// wherever a URL or an RFC 7636 verifier (43-128 characters) takes it.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A MAC under `key`, for derivations that feed it more than one part.
pub fn keyed(key: &HmacKey) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key.bytes()).expect("HMAC-SHA256 takes keys of any size")
}

/// HMAC-SHA256 under `key` of `parts` in order, as hex.
pub fn keyed_hex(key: &HmacKey, parts: &[&[u8]]) -> String {
    let mut mac = keyed(key);
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// The webhook secret token of a bot, derived from `PSEUDONYM_KEY` so that every replica
/// registers and checks the same one without another secret to distribute: 43 characters of
/// URL-safe base64.
pub fn webhook_secret(key: &HmacKey, bot_name: &str) -> String {
    let mut mac = keyed(key);
    mac.update(b"telegram-webhook-secret\x00");
    mac.update(bot_name.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The key the web chat signs the session ids it issues with, derived from `PSEUDONYM_KEY` so
/// every replica accepts the sessions the others issued.
pub fn webchat_session_key(key: &HmacKey) -> Vec<u8> {
    let mut mac = keyed(key);
    mac.update(b"webchat-session-key\x00");
    mac.finalize().into_bytes().to_vec()
}

/// What the database keeps of a platform's delivery id, for dedupe. Keyed, because some ids
/// carry the person's number (a WhatsApp message id holds it in base64; a preference event
/// names it): the stored key matches a redelivery and tells nothing without `PSEUDONYM_KEY`.
pub fn delivery_key(key: &HmacKey, update_key: &str) -> String {
    keyed_hex(key, &[b"delivery\x00", update_key.as_bytes()])
}

/// What the consent record keeps of the platform message that carried a decision: keyed for the
/// same reason; whoever holds the key and the platform's message id can show that it matches.
pub fn message_ref(key: &HmacKey, channel: &str, message_id: &str) -> String {
    keyed_hex(
        key,
        &[
            b"message\x00",
            channel.as_bytes(),
            b":",
            message_id.as_bytes(),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> HmacKey {
        HmacKey::parse(
            "PSEUDONYM_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        )
        .unwrap()
    }

    #[test]
    fn sha256_hex_matches_the_standard_vector() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn random_tokens_are_43_url_safe_characters_and_differ() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a, b);
    }

    #[test]
    fn keyed_derivations_depend_on_every_part_and_the_key() {
        let other = HmacKey::parse(
            "PSEUDONYM_KEY",
            &crate::privacy::keys::GeneratedKeys::new().pseudonym,
        )
        .unwrap();
        assert_eq!(
            keyed_hex(&key(), &[b"a", b"b"]),
            keyed_hex(&key(), &[b"ab"])
        );
        assert_ne!(keyed_hex(&key(), &[b"a"]), keyed_hex(&key(), &[b"b"]));
        assert_ne!(keyed_hex(&key(), &[b"a"]), keyed_hex(&other, &[b"a"]));
        assert_eq!(webhook_secret(&key(), "shop").len(), 43);
        assert_ne!(
            webhook_secret(&key(), "shop"),
            webhook_secret(&key(), "shop2")
        );
    }
}
