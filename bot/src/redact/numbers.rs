//! Digit runs: phone numbers, payment cards, national ids and IPv4 addresses.
//!
//! One pass finds runs of digits with the separators people type (spaces, dashes, dots,
//! parentheses, a leading plus). Each run is then classified by validation: an IPv4 address by
//! its octets, a card by issuer range and Luhn, a national id by its check digits (with a keyword
//! nearby, or in its own distinctive format), a phone number by libphonenumber metadata. Dates,
//! amounts and order numbers fail these checks or are excluded by their context.

use phonenumber::country::Id;

use super::{Hints, Kind, Recognizer, Span, checks};

/// Regions tried for numbers written without a country code: RU/KZ, IR, EU, US/CA, TR, UA.
pub const DEFAULT_PHONE_REGIONS: [Id; 20] = [
    Id::RU,
    Id::IR,
    Id::US,
    Id::DE,
    Id::FR,
    Id::GB,
    Id::IT,
    Id::ES,
    Id::NL,
    Id::PL,
    Id::TR,
    Id::UA,
    Id::KZ,
    Id::AT,
    Id::BE,
    Id::SE,
    Id::CZ,
    Id::PT,
    Id::GR,
    Id::CA,
];

/// Words that, just before a number, say it is a national or tax id.
const ID_CONTEXT: [&str; 16] = [
    "инн",
    "inn",
    "снилс",
    "snils",
    "کد ملی",
    "کدملی",
    "کد ملي",
    "شماره ملی",
    "melli",
    "national code",
    "national id",
    "tax id",
    "taxpayer",
    "налогоплательщик",
    "код мелли",
    "ملی",
];

/// Words that, just before a number, say it is not a person's number.
const NOT_PERSONAL: [&str; 18] = [
    "#",
    "№",
    "order",
    "invoice",
    "ticket",
    "tracking",
    "заказ",
    "счет",
    "счёт",
    "накладн",
    "трек",
    "سفارش",
    "فاکتور",
    "پیگیری",
    "bestell",
    "commande",
    "sipariş",
    "замовлення",
];

/// Words or symbols that, just after a number, make it an amount.
const CURRENCY: [&str; 20] = [
    "$",
    "€",
    "£",
    "₽",
    "руб",
    "rub",
    "usd",
    "eur",
    "dollar",
    "euro",
    "тенге",
    "₸",
    "грн",
    "₴",
    "تومان",
    "ریال",
    "rial",
    "toman",
    "lira",
    "tl",
];

pub struct Numbers {
    regions: Vec<Id>,
}

impl Numbers {
    pub fn new(regions: Vec<Id>) -> Self {
        Numbers { regions }
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
    fn has(&self, c: u8) -> bool {
        self.as_str().bytes().any(|b| b == c)
    }
}

fn is_sep(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.' | b'(' | b')')
}

/// The up-to-`n`-byte window before `at`, lower-cased, on a char boundary.
fn before(text: &str, at: usize, n: usize) -> String {
    let mut from = at.saturating_sub(n);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    text[from..at].to_lowercase()
}

fn after(text: &str, at: usize, n: usize) -> String {
    let mut to = (at + n).min(text.len());
    while !text.is_char_boundary(to) {
        to -= 1;
    }
    text[at..to].to_lowercase()
}

fn looks_like_date(run: &str) -> bool {
    let groups: Vec<&str> = run
        .split(['.', '-', ' '])
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
        let valid = |region: Option<Id>, s: &str| {
            phonenumber::parse(region, s).is_ok_and(|p| phonenumber::is_valid(&p))
        };
        if s.starts_with('+') {
            return valid(None, s);
        }
        if let Some(rest) = s.strip_prefix("00")
            && n >= 10
        {
            return valid(None, &format!("+{rest}"));
        }
        // Without a country code, short runs are too often something else.
        if n < 9 {
            return false;
        }
        self.regions.iter().any(|r| valid(Some(*r), s))
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
        let plain = !run.has(b'(') && !run.has(b')') && !run.has(b'+') && !dots;
        if plain && checks::card_issuer(&run.digits).is_some() && checks::luhn(&run.digits) {
            return Some(Kind::Card);
        }
        let context = before(run.text, run.start, 48);
        let id_context = ID_CONTEXT.iter().any(|w| context.contains(w));
        let national = match n {
            10 => checks::iran_national_code(&run.digits) || checks::russian_inn(&run.digits),
            12 => checks::russian_inn(&run.digits),
            11 => checks::russian_snils(&run.digits),
            _ => false,
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
        let near = before(run.text, run.start, 24);
        if NOT_PERSONAL.iter().any(|w| near.contains(w)) {
            return None;
        }
        let next = after(run.text, run.end, 10);
        if CURRENCY.iter().any(|c| next.trim_start().starts_with(c)) {
            return None;
        }
        if self.valid_phone(run) {
            return Some(Kind::Phone);
        }
        // A bare national id without a keyword, when it is not a phone number either.
        if national && !s.starts_with('+') && run.digits.len() == 10 && !run.has(b' ') {
            return Some(Kind::NationalId);
        }
        None
    }
}

impl Numbers {
    fn leading_part(&self, run: &Run<'_>) -> Option<usize> {
        let s = run.as_str();
        // Only runs that start the way phone numbers do: a country code or a trunk prefix.
        if !(s.starts_with('+') || s.starts_with('8') || s.starts_with('0')) {
            return None;
        }
        let cuts: Vec<usize> = s.match_indices(' ').map(|(i, _)| i).collect();
        if cuts.is_empty() || cuts.len() > 8 || run.digits.len() > 30 {
            return None;
        }
        cuts.into_iter().rev().find_map(|cut| {
            let part = s[..cut].trim_end_matches(|c: char| c != ')' && !c.is_ascii_digit());
            let digits: Vec<u8> = part
                .bytes()
                .filter(u8::is_ascii_digit)
                .map(|b| b - b'0')
                .collect();
            let sub = Run {
                text: run.text,
                start: run.start,
                end: run.start + part.len(),
                digits,
            };
            (sub.digits.len() >= 7 && self.valid_phone(&sub)).then_some(sub.end)
        })
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
            if digits.len() < 5 || digits.len() > 40 {
                continue;
            }
            // A run glued to letters is part of a word or code (ORD123456, v1.2.3.4).
            let glued_before =
                start > 0 && (b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_');
            let glued_after = end < len && (b[end].is_ascii_alphabetic() || b[end] == b'_');
            if glued_before || glued_after {
                continue;
            }
            let mut run = Run {
                text,
                start,
                end,
                digits,
            };
            // A leading '(' that is not closed is not part of the number.
            if b[start] == b'(' && !run.as_str().contains(')') {
                run.start += 1;
            }
            if let Some(kind) = self.classify(&run) {
                out.push(Span {
                    start: run.start,
                    end: run.end,
                    kind,
                    custom: None,
                });
                continue;
            }
            // Two numbers written one after the other ("8 912 345 67 89 8 913 …"): try the
            // longest leading part that ends at a space.
            if let Some(end) = self.leading_part(&run) {
                out.push(Span {
                    start: run.start,
                    end,
                    kind: Kind::Phone,
                    custom: None,
                });
                i = end;
            }
        }
        Ok(())
    }
}
