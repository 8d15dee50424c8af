//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA1, six digits, a
//! 30-second step, as every authenticator app expects. A code is accepted for the current step
//! and one step either side (clock drift), and only for a step later than the last one used,
//! so a code seen over a shoulder cannot be used again.

use hmac::{Hmac, Mac};
use rand::RngCore;

/// Seconds per step.
pub const STEP: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;

/// A new random secret (160 bits, as RFC 4226 recommends).
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 20];
    rand::thread_rng().fill_bytes(&mut secret);
    secret
}

/// The secret as authenticator apps take it: base32 without padding.
pub fn base32(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

/// The enrolment URI (`otpauth://totp/…`) an authenticator app reads from the QR code.
pub fn uri(secret: &[u8], issuer: &str, account: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
        enc(issuer),
        enc(account),
        base32(secret),
        enc(issuer)
    )
}

/// The HOTP value for `counter` (RFC 4226 section 5.3).
fn hotp(secret: &[u8], counter: u64) -> u32 {
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(secret) else {
        return u32::MAX;
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let binary = (u32::from(digest[offset]) & 0x7f) << 24
        | u32::from(digest[offset + 1]) << 16
        | u32::from(digest[offset + 2]) << 8
        | u32::from(digest[offset + 3]);
    binary % 10u32.pow(DIGITS)
}

/// The step `unix_seconds` falls in.
pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP)
}

/// The code for a step, zero-padded.
pub fn code_at(secret: &[u8], step: i64) -> String {
    format!(
        "{:0width$}",
        hotp(secret, step.max(0) as u64),
        width = DIGITS as usize
    )
}

/// The step whose code `given` is, among `now`'s and its neighbours, if it is later than
/// `last_used`. Spaces in the code are ignored; the comparison takes the same time wherever the
/// codes differ.
pub fn verify(secret: &[u8], given: &str, now: i64, last_used: i64) -> Option<i64> {
    let given: String = given.chars().filter(|c| !c.is_whitespace()).collect();
    if given.len() != DIGITS as usize || !given.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    (current - 1..=current + 1)
        .filter(|step| *step > last_used)
        .find(|step| {
            consentgate_adapters::constant_time_eq(
                code_at(secret, *step).as_bytes(),
                given.as_bytes(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 (eight-digit values; six digits are their last six).
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_at(secret, step_at(time)), eight[2..], "at {time}");
        }
    }

    #[test]
    fn a_code_is_good_once_and_only_near_its_time() {
        let secret = new_secret();
        let now = 1_800_000_000;
        let code = code_at(&secret, step_at(now));
        let step = verify(&secret, &code, now, 0).expect("the current code");
        // Used: the same code again is refused.
        assert_eq!(verify(&secret, &code, now, step), None);
        // A neighbour's code passes (clock drift); two steps away does not.
        let next = code_at(&secret, step_at(now) + 1);
        assert!(verify(&secret, &next, now, 0).is_some());
        let far = code_at(&secret, step_at(now) + 2);
        assert_eq!(verify(&secret, &far, now, 0), None);
        assert_eq!(verify(&secret, "12345", now, 0), None);
        assert_eq!(verify(&secret, "abcdef", now, 0), None);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(verify(&secret, &spaced, now, 0).is_some());
    }

    #[test]
    fn the_uri_is_what_authenticator_apps_read() {
        let uri = uri(b"12345678901234567890", "ConsentGate", "key-7");
        assert_eq!(
            uri,
            "otpauth://totp/ConsentGate:key-7?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ConsentGate&algorithm=SHA1&digits=6&period=30"
        );
    }
}
