//! IBANs: country code, check digits, the country's length, and the mod-97 check.

use std::sync::LazyLock;

use regex::Regex;

use super::{Hints, Kind, Recognizer, Span, checks};

/// Anchored: it is tried only where a byte scan found two letters and two digits starting a word.
static IBAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-zA-Z]{2}[0-9]{2}(?:[ ]?[a-zA-Z0-9]){11,32}(?-u:\b)").expect("static regex")
});

/// Offsets where an IBAN could start: two ASCII letters, two digits, not inside a word.
fn starts(text: &str) -> impl Iterator<Item = usize> + '_ {
    let b = text.as_bytes();
    (0..b.len().saturating_sub(3)).filter(move |&i| {
        b[i + 2].is_ascii_digit()
            && b[i + 3].is_ascii_digit()
            && b[i].is_ascii_alphabetic()
            && b[i + 1].is_ascii_alphabetic()
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
    })
}

pub struct Iban;

impl Iban {
    pub fn new() -> Self {
        Iban
    }
}

impl Recognizer for Iban {
    fn find(&self, text: &str, _: &Hints, out: &mut Vec<Span>) -> Result<(), String> {
        let mut covered = 0;
        for start in starts(text) {
            if start < covered {
                continue;
            }
            let Some(m) = IBAN.find(&text[start..]) else {
                continue;
            };
            let s = m.as_str();
            let country = s[..2].to_ascii_uppercase();
            let Some(expected) = checks::iban_length(&country) else {
                continue;
            };
            // The match may run on into the next word or group; cut it at the country's length.
            let mut compact = Vec::with_capacity(expected);
            let mut end = None;
            for (i, c) in s.char_indices() {
                if c == ' ' {
                    continue;
                }
                compact.push(c.to_ascii_uppercase() as u8);
                if compact.len() == expected {
                    let after = i + c.len_utf8();
                    let next = s[after..].chars().next();
                    if next.is_none() || next == Some(' ') {
                        end = Some(after);
                    }
                    break;
                }
            }
            if let Some(end) = end
                && checks::iban_mod97(&compact)
            {
                out.push(Span {
                    start,
                    end: start + end,
                    kind: Kind::Iban,
                    custom: None,
                });
                covered = start + end;
            }
        }
        Ok(())
    }
}
