//! IBANs: country code, check digits, the country's length, and the mod-97 check.

use std::sync::LazyLock;

use regex::Regex;

use super::{Hints, Kind, Recognizer, Span, checks};

static IBAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[a-z]{2}\d{2}(?:[ ]?[a-z0-9]){11,32}\b").expect("static regex")
});

pub struct Iban;

impl Iban {
    pub fn new() -> Self {
        Iban
    }
}

impl Recognizer for Iban {
    fn find(&self, text: &str, _: &Hints, out: &mut Vec<Span>) -> Result<(), String> {
        for m in IBAN.find_iter(text) {
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
                    let next = s[i + 1..].chars().next();
                    if next.is_none() || next == Some(' ') {
                        end = Some(i + 1);
                    }
                    break;
                }
            }
            if let Some(end) = end
                && checks::iban_mod97(&compact)
            {
                out.push(Span {
                    start: m.start(),
                    end: m.start() + end,
                    kind: Kind::Iban,
                    custom: None,
                });
            }
        }
        Ok(())
    }
}
