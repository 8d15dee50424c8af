//! IPv6 addresses (IPv4 addresses are found among digit runs).

use std::{net::Ipv6Addr, sync::LazyLock};

use regex::Regex;

use super::{Hints, Kind, Recognizer, Span};

static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:[0-9a-f]{0,4}:){2,7}(?:[0-9a-f]{0,4}|[0-9]{1,3}(?:\.[0-9]{1,3}){3})")
        .expect("static regex")
});

pub struct Ipv6;

impl Ipv6 {
    pub fn new() -> Self {
        Ipv6
    }
}

impl Recognizer for Ipv6 {
    fn find(&self, text: &str, _: &Hints, out: &mut Vec<Span>) -> Result<(), String> {
        if text.bytes().filter(|b| *b == b':').count() < 2 {
            return Ok(());
        }
        for m in IPV6.find_iter(text) {
            let s = m.as_str();
            let b = text.as_bytes();
            let glued = (m.start() > 0 && b[m.start() - 1].is_ascii_alphanumeric())
                || (m.end() < b.len() && b[m.end()].is_ascii_alphanumeric());
            if !glued && s.len() >= 3 && s.parse::<Ipv6Addr>().is_ok() {
                out.push(Span {
                    start: m.start(),
                    end: m.end(),
                    kind: Kind::Ip,
                    custom: None,
                });
            }
        }
        Ok(())
    }
}
