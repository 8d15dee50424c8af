//! Identity documents: US social security numbers by their shape, and passport and
//! driving-licence numbers after the word that names them, in the six languages.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::Regex;

use super::{Hints, Kind, Recognizer, Span};

/// Words that name an identity document; the number follows within a few words.
const CUES: &[&str] = &[
    "ssn",
    "social security",
    "passport",
    "driver's license",
    "drivers license",
    "driver license",
    "driving licence",
    "driving license",
    "driver's licence",
    "license number",
    "licence number",
    "dl#",
    "dl number",
    "паспорт",
    "загранпаспорт",
    "водительское удостоверение",
    "водительского удостоверения",
    "водительские права",
    "reisepass",
    "personalausweis",
    "führerschein",
    "fuhrerschein",
    "passeport",
    "permis de conduire",
    "pasaport",
    "ehliyet",
    "sürücü belgesi",
    "kimlik no",
    "پاسپورت",
    "گذرنامه",
    "گواهینامه",
];

static CUE_SET: LazyLock<AhoCorasick> = LazyLock::new(|| {
    // Latin in any case; Cyrillic as written, capitalised and in capitals ("Паспорт", "ПАСПОРТ").
    let cues: Vec<String> = CUES
        .iter()
        .flat_map(|c| super::numbers::case_variants(c))
        .collect();
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::LeftmostLongest)
        .build(&cues)
        .expect("static cues")
});

/// 123-45-6789, with the area, group and serial numbers the SSA never issues left out.
static SSN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u:\b)[0-9]{3}-[0-9]{2}-[0-9]{4}(?-u:\b)").expect("static regex")
});

pub struct Documents;

/// The document number within the first few words of `window`: the first word holding a digit,
/// with the digit-holding words right after it ("4510 123456"), at least five digits in all.
fn number_after(window: &str) -> Option<(usize, usize)> {
    let mut found: Option<(usize, usize)> = None;
    let mut words = 0;
    let mut pos = 0;
    for part in window.split_inclusive(char::is_whitespace) {
        let start = pos;
        pos += part.len();
        let word = part
            .trim_end()
            .trim_matches([',', '.', ';', ':', ')', '(', '"', '#']);
        if word.is_empty() {
            continue;
        }
        let offset = start + part.find(word).unwrap_or(0);
        let has_digit = word.bytes().any(|b| b.is_ascii_digit());
        let shaped = word
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '/');
        match found {
            None if has_digit && shaped => found = Some((offset, offset + word.len())),
            None => {
                words += 1;
                if words > 3 {
                    break;
                }
            }
            Some((s, _)) if has_digit && shaped && word.len() <= 12 => {
                found = Some((s, offset + word.len()))
            }
            Some(_) => break,
        }
        if found.is_some() && part.trim_end() != part.trim_end().trim_end_matches([',', ';']) {
            break;
        }
    }
    let (s, e) = found?;
    (window[s..e].bytes().filter(u8::is_ascii_digit).count() >= 5).then_some((s, e))
}

fn ssn_valid(area: &str, group: &str, serial: &str) -> bool {
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

impl Recognizer for Documents {
    fn find(&self, text: &str, _: &Hints, out: &mut Vec<Span>) -> Result<(), String> {
        let push =
            |out: &mut Vec<Span>, start, end| out.push(Span::found(Kind::NationalId, start, end));
        if text.contains('-') {
            let b = text.as_bytes();
            for m in SSN.find_iter(text) {
                let mut parts = m.as_str().split('-');
                let (Some(area), Some(group), Some(serial)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                // Not a part of a longer dash-separated run: "314-26-6295-9397".
                let longer = (m.start() >= 2
                    && b[m.start() - 1] == b'-'
                    && b[m.start() - 2].is_ascii_digit())
                    || (b.get(m.end()) == Some(&b'-')
                        && b.get(m.end() + 1).is_some_and(u8::is_ascii_digit));
                if !longer && ssn_valid(area, group, serial) {
                    push(out, m.start(), m.end());
                }
            }
        }
        // A document number has five digits or more: look for the word that names it only in
        // the few words before such a number.
        let b = text.as_bytes();
        let mut i = 0;
        let mut searched_to = 0;
        while i < b.len() {
            if !b[i].is_ascii_digit() {
                i += 1;
                continue;
            }
            // Digits with single letters or dashes between them: "C01X00T47", "S530-460-99".
            let start = i;
            let mut digits = 0;
            while i < b.len() {
                if b[i].is_ascii_digit() {
                    digits += 1;
                    i += 1;
                } else if i + 1 < b.len()
                    && b[i + 1].is_ascii_digit()
                    && (b[i].is_ascii_alphabetic() || b[i] == b'-' || b[i] == b' ')
                {
                    i += 1;
                } else {
                    break;
                }
            }
            if digits < 5 {
                continue;
            }
            let mut from = start.saturating_sub(64).max(searched_to);
            while !text.is_char_boundary(from) {
                from += 1;
            }
            searched_to = start;
            let Some(cue) = CUE_SET.find_iter(&text[from..start]).last() else {
                continue;
            };
            let cue_end = from + cue.end();
            let mut to = (cue_end + 48).min(text.len());
            while !text.is_char_boundary(to) {
                to -= 1;
            }
            if let Some((s, e)) = number_after(&text[cue_end..to]) {
                push(out, cue_end + s, cue_end + e);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        Documents.find(text, &Hints::default(), &mut out).unwrap();
        super::super::texts(text, &out)
    }

    #[test]
    fn social_security_passport_and_licence_numbers() {
        assert_eq!(
            found("my SSN is 078-05-1120"),
            ["078-05-1120", "078-05-1120"]
        );
        assert_eq!(found("Pasaport numaram U12345678."), ["U12345678"]);
        assert_eq!(found("Passport: C01X00T47, expires soon"), ["C01X00T47"]);
        assert_eq!(found("паспорт 4510 123456"), ["4510 123456"]);
        assert_eq!(found("Паспорт: 4510 123456"), ["4510 123456"]);
        assert_eq!(
            found("driver's license S530-460-99-424-0"),
            ["S530-460-99-424-0"]
        );
        assert_eq!(found("ehliyet no 34567812"), ["34567812"]);
    }

    #[test]
    fn not_without_a_cue_or_the_shape() {
        assert!(found("order 078-05 arrives").is_empty());
        assert!(found("call 314-26-6295-9397").is_empty());
        assert!(found("My passport expires in 2027").is_empty());
        assert!(found("SSN 000-12-3456").len() == 1);
    }
}
