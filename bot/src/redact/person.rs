//! The sender's own names and username (as the channel told us), and @usernames.

use std::sync::LazyLock;

use regex::Regex;

use super::{Hints, Kind, Recognizer, Span};

static MENTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"@[A-Za-z][A-Za-z0-9_]{3,31}\b").expect("static regex"));

pub struct Person;

impl Person {
    pub fn new() -> Self {
        Person
    }
}

impl Recognizer for Person {
    fn find(&self, text: &str, hints: &Hints, out: &mut Vec<Span>) -> Result<(), String> {
        if text.contains('@') {
            let b = text.as_bytes();
            for m in MENTION.find_iter(text) {
                // Not the domain part of an e-mail address.
                let prev = m.start().checked_sub(1).map(|i| b[i]);
                if prev.is_some_and(|p| p.is_ascii_alphanumeric() || p == b'.' || p == b'_') {
                    continue;
                }
                out.push(Span {
                    start: m.start(),
                    end: m.end(),
                    kind: Kind::Person,
                    custom: None,
                });
            }
        }
        if hints.terms.is_empty() {
            return Ok(());
        }
        let alternatives: Vec<String> = hints.terms.iter().map(|t| regex::escape(t)).collect();
        // Fails closed: if the names cannot be searched for, nothing is forwarded.
        let names = Regex::new(&format!(r"(?i)\b(?:{})\b", alternatives.join("|")))
            // The error would quote the pattern, which holds the names: say only what failed.
            .map_err(|_| "the sender's names could not be searched for".to_string())?;
        for m in names.find_iter(text) {
            out.push(Span {
                start: m.start(),
                end: m.end(),
                kind: Kind::Person,
                custom: None,
            });
        }
        Ok(())
    }
}
