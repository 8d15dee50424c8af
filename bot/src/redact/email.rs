//! E-mail addresses.

use std::sync::LazyLock;

use regex::Regex;

use super::{Hints, Kind, Recognizer, Span};

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[\p{L}\p{N}._%+\-]{1,64}@(?:[\p{L}\p{N}](?:[\p{L}\p{N}\-]{0,61}[\p{L}\p{N}])?\.)+\p{L}{2,24}")
        .expect("static regex")
});

pub struct Email;

impl Email {
    pub fn new() -> Self {
        Email
    }
}

impl Recognizer for Email {
    fn find(&self, text: &str, _: &Hints, out: &mut Vec<Span>) -> Result<(), String> {
        if !text.contains('@') {
            return Ok(());
        }
        for m in EMAIL.find_iter(text) {
            let s = m.as_str();
            let mut start = m.start();
            // A local part does not start or end with a dot, nor hold two in a row.
            let local_len = s.find('@').unwrap_or(0);
            let local = &s[..local_len];
            let trimmed = local.trim_start_matches('.');
            start += local.len() - trimmed.len();
            if trimmed.is_empty() || trimmed.ends_with('.') || trimmed.contains("..") {
                continue;
            }
            out.push(Span {
                start,
                end: m.end(),
                kind: Kind::Email,
                custom: None,
            });
        }
        Ok(())
    }
}
