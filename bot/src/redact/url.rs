//! URLs that carry credentials or tokens (`https://user:pass@host`, `?token=…`). Other links are
//! left alone: they identify a page, not a person.

use std::sync::LazyLock;

use regex::Regex;

use super::{Hints, Kind, Recognizer, Span};

static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)(?-u:\b)[a-z][a-z0-9+.\-]{1,15}://[^\s<>"'`]+"#).expect("static regex")
});

/// Query or fragment parameters whose value is a secret.
const SECRET_PARAMS: [&str; 20] = [
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "api_key",
    "apikey",
    "key",
    "secret",
    "client_secret",
    "password",
    "passwd",
    "pwd",
    "sig",
    "signature",
    "auth",
    "session",
    "sessionid",
    "code",
    "x-amz-signature",
    "x-amz-credential",
];

pub struct SecretUrl;

impl SecretUrl {
    pub fn new() -> Self {
        SecretUrl
    }
}

fn carries_secret(url: &str) -> bool {
    let after_scheme = url.split_once("://").map_or("", |(_, rest)| rest);
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    if authority.contains('@') {
        return true;
    }
    let params = url.split_once(['?', '#']).map_or("", |(_, q)| q);
    params.split(['&', ';', '#', '?']).any(|pair| {
        let name = pair
            .split('=')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        pair.contains('=') && SECRET_PARAMS.contains(&name.as_str())
    })
}

impl Recognizer for SecretUrl {
    fn find(&self, text: &str, _: &Hints, out: &mut Vec<Span>) -> Result<(), String> {
        if !text.contains("://") {
            return Ok(());
        }
        for m in URL.find_iter(text) {
            // Sentence punctuation after a link is not part of it.
            let trimmed = m
                .as_str()
                .trim_end_matches(['.', ',', ';', ':', '!', '?', ')']);
            if carries_secret(trimmed) {
                out.push(Span {
                    start: m.start(),
                    end: m.start() + trimmed.len(),
                    kind: Kind::Url,
                    custom: None,
                });
            }
        }
        Ok(())
    }
}
