//! Digit runs: phone numbers, payment cards, national ids and IPv4 addresses.
//!
//! One pass finds runs of digits with the separators people type (spaces, dashes, dots,
//! parentheses, a leading plus). Each run is then classified by validation: an IPv4 address by
//! its octets, a card by issuer range and Luhn, a national id by its check digits (with a keyword
//! nearby, or in its own distinctive format), a phone number by libphonenumber metadata. Dates,
//! amounts and order numbers fail these checks or are excluded by their context.

use std::sync::Arc;

use phonenumber::country::Id;

mod plan;
mod words;

pub(super) use words::case_variants;

use super::{Hints, Kind, Recognizer, Span, checks};
use plan::{Plan, plan, valid_international};
pub use words::DEFAULT_PHONE_REGIONS;
use words::*;

pub struct Numbers {
    regions: Vec<Arc<Plan>>,
}

impl Numbers {
    pub fn new(regions: Vec<Id>) -> Self {
        Numbers {
            regions: regions.iter().filter_map(|id| plan(id.as_ref())).collect(),
        }
    }
}

/// A run of digits and separators, in byte offsets.
struct Run<'a> {
    text: &'a str,
    start: usize,
    end: usize,
    digits: Vec<u8>,
}

impl Run<'_> {
    fn as_str(&self) -> &str {
        &self.text[self.start..self.end]
    }
    /// The digits as ASCII text.
    fn digit_string(&self) -> String {
        self.digits.iter().map(|d| char::from(b'0' + d)).collect()
    }

    fn has(&self, c: u8) -> bool {
        self.as_str().bytes().any(|b| b == c)
    }
}

fn is_sep(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.' | b'(' | b')' | b'/')
}

/// The up-to-`n`-byte window before `at`, on a char boundary.
fn window(text: &str, at: usize, n: usize) -> &str {
    let mut from = at.saturating_sub(n);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    &text[from..at]
}

/// The words just before `at` in the same clause: the window stops at the previous number or
/// list separator, so a keyword belongs to the number right after it only.
fn clause_before(text: &str, at: usize, n: usize) -> &str {
    let w = window(text, at, n);
    let cut = w
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_ascii_digit() || matches!(c, ',' | ';' | '\n' | '|' | '،' | '؛'))
        .map(|(i, c)| i + c.len_utf8())
        .unwrap_or(0);
    &w[cut..]
}

/// The start of an IBAN (country, check digits, maybe a bank code) right before a digit run.
static IBAN_HEAD: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"(?i)(?-u:\b)[a-z]{2}[0-9]{2}(?: ?[a-z0-9]{4})* ?$").expect("static regex")
});

/// An extension right after a phone number: "x317", " ext. 45", " доб. 12", " dahili 3".
static EXTENSION: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(
        r"(?i)^(?:\s*(?:x|ext\.?|extension|доб\.?|добавочный|dahili|poste|durchwahl|داخلی)\s*:?\s*)[0-9]{1,6}(?-u:\b)",
    )
    .expect("static regex")
});

/// The end of the extension that follows `at`, if one does.
fn extension_end(text: &str, at: usize) -> Option<usize> {
    EXTENSION.find(&text[at..]).map(|m| at + m.end())
}

/// Whether a time ("14:22", "14:22:05") starts right at `at`: the digits before it are its hour.
fn time_follows(b: &[u8], at: usize) -> bool {
    at + 2 < b.len() && b[at] == b':' && b[at + 1].is_ascii_digit() && b[at + 2].is_ascii_digit()
}

/// Whether a word that says "phone" stands in the clause before a number ("Phone: 471 2209",
/// "call me on 9318 4402") nearer to it than any word that says order or invoice: then a number
/// shorter than the national formats, or one they do not allocate, is still the person's phone.
fn phone_cue(context: &str) -> bool {
    let last = |set: &aho_corasick::AhoCorasick| {
        set.find_overlapping_iter(context)
            .filter(|m| starts_word(context, m.start()))
            .map(|m| m.start())
            .max()
    };
    match (last(&PHONE_WORD_SET), last(&NOT_PERSONAL_WORDS)) {
        (Some(cue), Some(other)) => cue > other,
        (cue, _) => cue.is_some(),
    }
}

fn after(text: &str, at: usize, n: usize) -> String {
    let mut to = (at + n).min(text.len());
    while !text.is_char_boundary(to) {
        to -= 1;
    }
    text[at..to].to_lowercase()
}

/// "3530 1113 3330 0000", "3782-822463-10005": groups of three to six digits, the first of four.
fn card_grouped(run: &str) -> bool {
    let groups: Vec<&str> = run.split([' ', '-']).filter(|g| !g.is_empty()).collect();
    groups.len() >= 3 && groups[0].len() == 4 && groups.iter().all(|g| (3..=6).contains(&g.len()))
}

fn card_cue(context: &str) -> bool {
    let lower = context.to_lowercase();
    [
        "card", "карт", "kart", "carte", "karte", "کارت", "visa", "master", "amex", "jcb",
    ]
    .iter()
    .any(|c| lower.contains(c))
}

fn looks_like_date(run: &str) -> bool {
    let groups: Vec<&str> = run
        .split(['.', '-', ' ', '/'])
        .filter(|g| !g.is_empty())
        .collect();
    if groups.len() != 3
        || groups
            .iter()
            .any(|g| !g.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    let n: Vec<u32> = groups.iter().map(|g| g.parse().unwrap_or(0)).collect();
    let (y, m, d) = match (groups[0].len(), groups[2].len()) {
        (4, 1..=2) => (n[0], n[1], n[2]),
        (1..=2, 4) => (n[2], n[1], n[0]),
        (1..=2, 2) => (2000 + n[2], n[1], n[0]),
        _ => return false,
    };
    (1900..=2100).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d)
        || (1900..=2100).contains(&y) && (1..=12).contains(&d) && (1..=31).contains(&m)
}

/// Written the way only phone numbers are, valid or not: a `+` and a country calling code with
/// a national number of six digits or more ("+1-858-147-4525"), or a trunk prefix in brackets
/// ("(06496) 8321474").
fn typed_like_phone(run: &str, digits: usize) -> bool {
    if let Some(rest) = run.strip_prefix('+') {
        let d: String = rest
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(char::from)
            .collect();
        return (8..=15).contains(&digits)
            && (1..=3).any(|n| {
                d[..n]
                    .parse::<u16>()
                    .is_ok_and(|code| phonenumber::metadata::DATABASE.by_code(&code).is_some())
                    && d.len() - n >= 6
            });
    }
    run.starts_with("(0") && (8..=13).contains(&digits)
}

fn ipv4(run: &str) -> bool {
    let parts: Vec<&str> = run.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok_and(|v| v <= 255)
                && !(p.len() > 1 && p.starts_with('0'))
        })
}

impl Numbers {
    fn valid_phone(&self, run: &Run<'_>) -> bool {
        let s = run.as_str();
        let n = run.digits.len();
        if !(7..=15).contains(&n) {
            return false;
        }
        let digits = run.digit_string();
        if s.starts_with('+') {
            return valid_international(&digits);
        }
        if let Some(rest) = digits.strip_prefix("00")
            && n >= 10
        {
            return valid_international(rest);
        }
        // Without a country code, short runs are too often something else.
        if n < 9 {
            return false;
        }
        self.regions.iter().any(|plan| plan.valid_national(&digits))
    }

    fn classify(&self, run: &Run<'_>) -> Option<Kind> {
        let s = run.as_str();
        let n = run.digits.len();
        let dots = run.has(b'.');
        if dots && ipv4(s) {
            return Some(Kind::Ip);
        }
        if looks_like_date(s) {
            return None;
        }
        let plain = !run.has(b'(') && !run.has(b')') && !run.has(b'+') && !run.has(b'/') && !dots;
        if plain && checks::card_issuer(&run.digits).is_some() && checks::luhn(&run.digits) {
            return Some(Kind::Card);
        }
        let context = clause_before(run.text, run.start, 48);
        // Issuers the table lacks: 13 to 19 Luhn-valid digits grouped the way cards are printed,
        // or after a word that says card.
        if plain
            && (13..=19).contains(&n)
            && checks::luhn(&run.digits)
            && (card_grouped(s) || card_cue(context))
        {
            return Some(Kind::Card);
        }
        // The keyword nearest the number names it; keywords count as whole words only ("inn" is
        // not in "dinner").
        // Only ids of 10 to 12 digits exist, so other lengths skip the search.
        let keyword = if matches!(n, 10..=12) {
            ID_WORDS
                .0
                .find_overlapping_iter(context)
                .filter(|m| whole_word(context, m.start(), m.end()))
                .max_by_key(|m| m.end())
                .map(|m| ID_WORDS.1[m.pattern().as_usize()])
        } else {
            None
        };
        let id_context = keyword.is_some();
        let iran = || n == 10 && checks::iran_national_code(&run.digits);
        let inn = || matches!(n, 10 | 12) && checks::russian_inn(&run.digits);
        let snils = || n == 11 && checks::russian_snils(&run.digits);
        // With a keyword, only the id it names counts; without one, any of them.
        let national = match keyword {
            Some(IdKeyword::Inn) => inn(),
            Some(IdKeyword::Snils) => snils(),
            Some(IdKeyword::IranCode) => iran(),
            Some(IdKeyword::Any) | None => iran() || inn() || snils(),
        };
        if id_context && !national && !s.starts_with('+') && matches!(n, 10..=12) {
            // Called an id, but its check digits are wrong: a typo or an example, not a phone.
            return None;
        }
        if national && !s.starts_with('+') {
            // SNILS has its own shape (123-456-789 01); a 12-digit INN is rarely anything else.
            let snils_shape =
                n == 11 && s.len() == 14 && s.as_bytes()[3] == b'-' && s.as_bytes()[11] == b' ';
            if id_context || snils_shape || n == 12 {
                return Some(Kind::NationalId);
            }
        }
        if !s.starts_with('+') && not_personal(context) {
            return None;
        }
        // The digits of an IBAN-shaped string (that failed its own check) are not a phone.
        if IBAN_HEAD.is_match(window(run.text, run.start, 40)) {
            return None;
        }
        // An amount ("1000000 tl") is not a phone, unless it is written the way phone numbers
        // are (a leading +, a trunk 0, or 8 and eleven digits): then redacting a price by mistake
        // is the safer error. The currency must be a whole word ("tlf" is not "tl").
        let next = after(run.text, run.end, 10);
        let next = next.trim_start();
        let is_amount = CURRENCY.iter().any(|c| {
            next.starts_with(c)
                && !next[c.len()..]
                    .chars()
                    .next()
                    .is_some_and(char::is_alphanumeric)
        });
        let phone_shaped = s.starts_with('+')
            || s.starts_with('0')
            || (s.starts_with('8') && run.digits.len() == 11);
        if is_amount && !phone_shaped {
            return None;
        }
        // An Iranian postcode (12345-67890) is not a phone without a word that says phone.
        let postcode = s.len() == 11
            && s.as_bytes()[5] == b'-'
            && s.bytes().filter(u8::is_ascii_digit).count() == 10;
        if postcode && !phone_cue(context) {
            return None;
        }
        // "18230 4410 Baker St": a house number before its street is no phone. Only a run of
        // two groups at most whose last is house-number sized: "07700 900 123 Baker Street"
        // still holds a phone.
        let groups = s.split([' ', '-']).filter(|g| !g.is_empty()).count();
        let last_group = s.rsplit([' ', '-']).next().map_or(0, str::len);
        if !s.starts_with('+')
            && groups <= 2
            && last_group <= 6
            && super::address::street_follows(run.text, run.end)
        {
            return None;
        }
        if self.valid_phone(run) || typed_like_phone(s, run.digits.len()) {
            return Some(Kind::Phone);
        }
        // After a phone cue, six digits or more are a phone as people type them, valid or not.
        if (6..=15).contains(&n) && phone_cue(context) {
            return Some(Kind::Phone);
        }
        // A bare national id without a keyword, when it is not a phone number either.
        if national && !s.starts_with('+') && run.digits.len() == 10 && !run.has(b' ') {
            return Some(Kind::NationalId);
        }
        None
    }
}

impl<'a> Run<'a> {
    fn new(text: &'a str, start: usize, end: usize) -> Self {
        let digits = text.as_bytes()[start..end]
            .iter()
            .filter(|b| b.is_ascii_digit())
            .map(|b| b - b'0')
            .collect();
        Run {
            text,
            start,
            end,
            digits,
        }
    }

    /// The (start, end) of each group of the run, split at spaces and slashes.
    fn groups(&self) -> Vec<(usize, usize)> {
        let b = self.text.as_bytes();
        let mut groups = Vec::new();
        let mut group_start = None;
        for (i, byte) in b.iter().enumerate().take(self.end).skip(self.start) {
            let boundary = matches!(byte, b' ' | b'/');
            match (group_start, boundary) {
                (None, false) => group_start = Some(i),
                (Some(s), true) => {
                    groups.push((s, i));
                    group_start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = group_start {
            groups.push((s, self.end));
        }
        // Trailing separators inside a group ("(912)-") are not part of it.
        groups
            .into_iter()
            .map(|(s, mut e)| {
                while e > s && !b[e - 1].is_ascii_digit() && b[e - 1] != b')' {
                    e -= 1;
                }
                (s, e)
            })
            .filter(|(s, e)| s < e)
            .collect()
    }
}

impl Numbers {
    /// Classifies the groups as one number; failing that, finds the numbers written one after
    /// another in them ("4111 1111 1111 1111 12/25", "12.05.1990 89123456789",
    /// "8 912 345 67 89 8 913 …"): from each group, the longest stretch of groups that is one.
    fn find_in_groups(&self, text: &str, groups: &[(usize, usize)], out: &mut Vec<Span>) {
        let whole = Run::new(text, groups[0].0, groups[groups.len() - 1].1);
        if let Some(kind) = self.classify(&whole) {
            out.push(Span {
                start: whole.start,
                end: whole.end,
                kind,
                custom: None,
            });
            return;
        }
        if groups.len() < 2 || groups.len() > 12 {
            return;
        }
        // The digits of an IBAN-shaped string that failed its own check are not split up either.
        if IBAN_HEAD.is_match(window(text, whole.start, 40)) {
            return;
        }
        // A block shaped like a card (4-digit groups) that failed the card check is one
        // reference number, not several phone numbers or ids.
        let card_shaped = (12..=19).contains(&whole.digits.len())
            && groups[..groups.len() - 1].iter().all(|(s, e)| {
                text.as_bytes()[*s..*e]
                    .iter()
                    .filter(|b| b.is_ascii_digit())
                    .count()
                    == 4
            });
        // Every stretch of groups that is a number on its own (strong evidence only)...
        let g = groups.len();
        let mut found: Vec<Vec<Option<(Run<'_>, Kind)>>> = (0..g).map(|_| Vec::new()).collect();
        for (i, slot) in found.iter_mut().enumerate() {
            for j in i + 1..=g {
                if i == 0 && j == g {
                    slot.push(None);
                    continue;
                }
                let sub = Run::new(text, groups[i].0, groups[j - 1].1);
                // Phones start the way phones are written (+, 00, a trunk 0 or 8, "("), national
                // ones run to 12 digits; a card followed by its expiry or code starts the run.
                let phone_like = matches!(sub.as_str().as_bytes()[0], b'+' | b'0' | b'8' | b'(');
                let kind = if sub.digits.len() < 4 {
                    None
                } else {
                    self.classify(&sub).filter(|kind| match kind {
                        Kind::Phone => {
                            phone_like
                                && !card_shaped
                                && (sub.digits.len() <= 12 || sub.as_str().starts_with('+'))
                        }
                        Kind::Card => i == 0,
                        Kind::NationalId => !card_shaped,
                        _ => true,
                    })
                };
                slot.push(kind.map(|k| (sub, k)));
            }
        }
        // ... then the choice of stretches that covers the most digits.
        let mut best = vec![(0usize, None::<usize>); g + 1];
        for i in (0..g).rev() {
            best[i] = (best[i + 1].0, None);
            for j in i + 1..=g {
                if let Some((sub, _)) = &found[i][j - i - 1] {
                    let covered = sub.digits.len() + best[j].0;
                    if covered > best[i].0 {
                        best[i] = (covered, Some(j));
                    }
                }
            }
        }
        let mut i = 0;
        while i < g {
            match best[i].1 {
                Some(j) => {
                    if let Some((sub, kind)) = &found[i][j - i - 1] {
                        out.push(Span {
                            start: sub.start,
                            end: sub.end,
                            kind: *kind,
                            custom: None,
                        });
                    }
                    i = j;
                }
                None => i += 1,
            }
        }
    }
}

impl Recognizer for Numbers {
    fn find(&self, text: &str, _: &Hints, out: &mut Vec<Span>) -> Result<(), String> {
        let b = text.as_bytes();
        let len = b.len();
        let mut i = 0;
        while i < len {
            let c = b[i];
            let starts = c.is_ascii_digit()
                || ((c == b'+' || c == b'(') && i + 1 < len && b[i + 1].is_ascii_digit());
            if !starts {
                i += 1;
                continue;
            }
            let start = i;
            let mut j = i;
            if c == b'+' {
                j += 1;
            }
            let mut digits = Vec::new();
            let mut last_digit_end = j;
            let mut seps = 0;
            while j < len {
                let d = b[j];
                if d.is_ascii_digit() {
                    digits.push(d - b'0');
                    seps = 0;
                    j += 1;
                    last_digit_end = j;
                } else if is_sep(d) && seps < 2 {
                    seps += 1;
                    j += 1;
                } else {
                    break;
                }
                if digits.len() > 40 {
                    break;
                }
            }
            let mut end = last_digit_end;
            // Keep a closing parenthesis that belongs to the number: "(912)".
            if end < len && b[end] == b')' && text[start..end].contains('(') {
                end += 1;
            }
            i = j.max(start + 1);
            let has_dot = text[start..end].contains('.');
            // Four digits can already be an IPv4 address (8.8.8.8); otherwise five or more.
            if digits.len() < if has_dot { 4 } else { 5 } || digits.len() > 40 {
                continue;
            }
            let url_path =
                start > 1 && b[start - 1] == b'/' && b[start - 2].is_ascii_alphanumeric();
            let glued_before = start > 0
                && (b[start - 1].is_ascii_alphanumeric()
                    || b[start - 1] == b'_'
                    || (b[start - 1] == b'-' && start > 1 && b[start - 2].is_ascii_alphabetic()));
            // An extension ("0142x317") is not glue, and a time after a date ("2003-07-19 14:22")
            // makes the last group an hour, not part of a number.
            let extension = extension_end(text, end);
            let glued_after = (end < len
                && (b[end].is_ascii_alphabetic() || b[end] == b'_')
                && extension.is_none())
                || time_follows(b, end);
            let mut run = Run::new(text, start, end);
            // A leading '(' that is not closed is not part of the number.
            if b[start] == b'(' && !run.as_str().contains(')') {
                run = Run::new(text, start + 1, end);
            }
            // A number in a link path (wa.me/79123456789) counts when it is a full
            // international number.
            if url_path && !glued_after {
                let digits = run.digit_string();
                if run.digits.len() >= 10 && valid_international(&digits) {
                    out.push(Span {
                        start: run.start,
                        end: run.end,
                        kind: Kind::Phone,
                        custom: None,
                    });
                }
                continue;
            }
            // A group glued to letters belongs to a word or code (ORD123456, INV-2023, 9am);
            // only that group is set aside, not the numbers next to it.
            let groups = run.groups();
            let (first, last) = (
                usize::from(glued_before),
                groups.len() - usize::from(glued_after),
            );
            if first >= last {
                continue;
            }
            let found = out.len();
            self.find_in_groups(text, &groups[first..last], out);
            // The extension goes with the phone number it follows.
            if let Some(ext_end) = extension {
                for span in &mut out[found..] {
                    if span.kind == Kind::Phone && span.end == end {
                        span.end = ext_end;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Numbers checked against libphonenumber's rules (the national number must match a
    /// pattern in full). The `phonenumber` crate's own `is_valid` only matches patterns at the
    /// start, so it accepts e.g. 07911 123456 in GB, which the metadata does not allocate.
    #[test]
    fn validity_follows_the_metadata() {
        let valid = [
            ("RU", "89123456789"),
            ("RU", "9123456789"),
            ("RU", "4951234567"),
            ("IR", "09123456789"),
            ("IR", "02188881234"),
            ("US", "2127365000"),
            ("DE", "03012345678"),
            ("DE", "015123456789"),
            ("FR", "0612345678"),
            ("GB", "07400123456"),
            ("TR", "05321234567"),
            ("UA", "0501234567"),
            ("KZ", "87012345678"),
        ];
        let invalid = [
            ("RU", "1234567890"),
            ("US", "1234567890"),
            ("IR", "09691000000"),
            ("GB", "07911123456"),
            ("RU", "20240115"),
        ];
        for (region, number) in valid {
            assert!(
                plan(region).unwrap().valid_national(number),
                "{region} {number}"
            );
        }
        for (region, number) in invalid {
            assert!(
                !plan(region).unwrap().valid_national(number),
                "{region} {number}"
            );
        }
        for number in [
            "79123456789",
            "989123456789",
            "12127365000",
            "4915123456789",
            "380501234567",
            "77012345678",
        ] {
            assert!(valid_international(number), "+{number}");
        }
        for number in ["999999999999", "70000000000", "1234"] {
            assert!(!valid_international(number), "+{number}");
        }
    }
}
