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
        let b = text.as_bytes();
        let colons: Vec<usize> = memchr::memchr_iter(b':', b).collect();
        let mut covered = 0;
        // An address has two colons within five bytes; the regex runs only on the short stretch
        // around such a pair (an address is at most 45 characters), so the cost stays linear.
        for pair in colons.windows(2) {
            let (first, second) = (pair[0], pair[1]);
            if second - first > 5 || first < covered {
                continue;
            }
            let mut from = first.saturating_sub(4).max(covered);
            while !text.is_char_boundary(from) {
                from += 1;
            }
            let mut to = (second + 46).min(b.len());
            while !text.is_char_boundary(to) {
                to -= 1;
            }
            let Some(m) = IPV6.find(&text[from..to]) else {
                continue;
            };
            let (start, end) = (from + m.start(), from + m.end());
            let glued = (start > 0 && b[start - 1].is_ascii_alphanumeric())
                || (end < b.len() && b[end].is_ascii_alphanumeric());
            if !glued && m.as_str().len() >= 3 && m.as_str().parse::<Ipv6Addr>().is_ok() {
                out.push(Span {
                    start,
                    end,
                    kind: Kind::Ip,
                    custom: None,
                });
                covered = end;
            }
        }
        Ok(())
    }
}
