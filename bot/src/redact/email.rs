//! E-mail addresses. Found by scanning out from each `@` rather than with a regex: the local
//! part and domain may hold letters of any script, and a Unicode regex for that is slow on long
//! texts, while this scan is linear.

use super::{Hints, Kind, Recognizer, Span};

pub struct Email;

impl Email {
    pub fn new() -> Self {
        Email
    }
}

/// Characters of a local part (RFC 5322 `atext` and dots).
fn local_char(c: char) -> bool {
    c.is_alphanumeric()
        || matches!(
            c,
            '.' | '_'
                | '%'
                | '+'
                | '-'
                | '!'
                | '#'
                | '$'
                | '&'
                | '\''
                | '*'
                | '/'
                | '='
                | '?'
                | '^'
                | '`'
                | '{'
                | '|'
                | '}'
                | '~'
        )
}

fn domain_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '-')
}

/// The end of a valid domain starting at the beginning of `s`, if any.
fn domain_end(s: &str) -> Option<usize> {
    let mut end = s
        .char_indices()
        .take_while(|(_, c)| domain_char(*c))
        .map(|(i, c)| i + c.len_utf8())
        .last()?;
    // Sentence punctuation after an address is not part of it.
    while s[..end].ends_with(['.', '-']) {
        end -= 1;
    }
    let domain = &s[..end];
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || domain.len() > 253 {
        return None;
    }
    let labels_ok = labels.iter().all(|l| {
        !l.is_empty() && l.chars().count() <= 63 && !l.starts_with('-') && !l.ends_with('-')
    });
    let tld = labels.last()?;
    // Letters of any script, or an IDN top-level domain in punycode (xn--p1ai).
    let tld_ok = (2..=24).contains(&tld.chars().count()) && tld.chars().all(char::is_alphabetic)
        || tld.starts_with("xn--")
            && tld.len() <= 63
            && tld[4..].chars().all(|c| c.is_ascii_alphanumeric());
    (labels_ok && tld_ok).then_some(end)
}

impl Recognizer for Email {
    fn find(&self, text: &str, _: &Hints, out: &mut Vec<Span>) -> Result<(), String> {
        let mut last_end = 0;
        for (at, _) in text.match_indices('@') {
            if at < last_end {
                continue;
            }
            // Walk left over the local part (at most 64 characters).
            let mut start = at;
            for (i, c) in text[last_end..at].char_indices().rev().take(64) {
                if !local_char(c) {
                    break;
                }
                start = last_end + i;
            }
            while text[start..at].starts_with('.') {
                start += 1;
            }
            // Sentence punctuation before an address is not part of it.
            while text[start..at].starts_with([
                '\'', '`', '{', '|', '}', '~', '!', '?', '=', '/', '*', '&', '#', '$', '^',
            ]) {
                start += 1;
            }
            let local = &text[start..at];
            // A malformed local part (two dots, a trailing dot) is still someone's address.
            if local.is_empty() {
                continue;
            }
            let Some(len) = domain_end(&text[at + 1..]) else {
                continue;
            };
            let end = at + 1 + len;
            out.push(Span {
                start,
                end,
                kind: Kind::Email,
                custom: None,
            });
            last_end = end;
        }
        Ok(())
    }
}
