//! Street addresses: a street word ("Street", "Pkwy", "rue", "Straße", "ул.", "Cad.",
//! "خیابان") with a house number near it, and what follows it (flat, postcode and city).
//!
//! "ул. Ленина, д. 5, кв. 12", "Hauptstraße 5, 10115 Berlin", "1600 Amphitheatre Pkwy",
//! "12 rue de la Paix", "خیابان ولیعصر، پلاک 12", "Atatürk Cad. No: 12". A street without a
//! number, a city or a country alone is not an address.

use std::sync::LazyLock;

use super::{
    Kind, Recognizer, Span, names,
    names::{is_arabic, is_letter},
};

/// Street words of many more languages, from Faker's address data (built by
/// `bot/data/names/build.py`): `a` after the street's name, `b` before it, `s` glued to it.
const MORE: &str = include_str!("../../data/streets.txt");

const BEFORE_BIT: u16 = 1;
const AFTER_BIT: u16 = 2;
const UNIT_BIT: u16 = 4;
const GLUED_BIT: u16 = 8;

/// Every street word and unit word, folded, with what it is: one hash lookup per word.
static WORDS: LazyLock<names::Map<u16>> = LazyLock::new(|| {
    let mut words = names::flag_map(&[
        (BEFORE, BEFORE_BIT),
        (AFTER, AFTER_BIT),
        (AFTER_OR_GLUED, AFTER_BIT | GLUED_BIT),
        (UNIT, UNIT_BIT),
        (WHOLE_SUFFIXES, GLUED_BIT),
    ]);
    for line in MORE.lines() {
        if let Some((word, kinds)) = line.split_once('\t') {
            let e = words.entry(word).or_default();
            for k in kinds.bytes() {
                *e |= match k {
                    b'a' => AFTER_BIT,
                    b'b' => BEFORE_BIT,
                    b's' => GLUED_BIT,
                    _ => 0,
                };
            }
        }
    }
    words
});

/// Whether a capitalised word ends in a glued street word: "Hauptstraße", "Brunnevägen".
fn glued(folded: &str) -> bool {
    // Tails of three to ten characters with at least three before them; each one lookup.
    let chars = folded.chars().count();
    if chars < 6 {
        return false;
    }
    let first = 3.max(chars.saturating_sub(10));
    folded
        .char_indices()
        .skip(first)
        .take(chars - 3 + 1 - first)
        .any(|(i, _)| WORDS.get(&folded[i..]).is_some_and(|b| b & GLUED_BIT != 0))
}

pub struct Address;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tok {
    /// A street word: the street's name comes after it ("ул.", "rue", "خیابان").
    StreetBefore,
    /// A street word: the street's name comes before it ("Street", "Cad.", "Straße").
    StreetAfter,
    /// A compound with its street word inside: "Hauptstraße", "Abendrotweg".
    StreetWhole,
    /// "д.", "No:", "пл.", "پلاک", "kv.", "Apt", "Suite", "Wohnung": a number follows.
    Unit,
    Number,
    Capital,
    Word,
}

struct T {
    start: usize,
    end: usize,
    tok: Tok,
    /// Separated from the previous token by a comma, a semicolon or a line break.
    comma_before: bool,
    /// Separated from the previous token by a sentence end.
    stop_before: bool,
    /// A number right after `+`, `(` or `-`: part of a phone number.
    behind_sign: bool,
    /// A number shaped 12345-67890 (an Iranian postcode).
    dashed: bool,
}

const BEFORE: &[&str] = &[
    "rue",
    "avenue",
    "boulevard",
    "bd",
    "bld",
    "allee",
    "place",
    "impasse",
    "chemin",
    "quai",
    "cours",
    "voie",
    "passage",
    "route",
    "square",
    "venelle",
    "улица",
    "ул",
    "проспект",
    "пр-т",
    "просп",
    "переулок",
    "пер",
    "шоссе",
    "бульвар",
    "б-р",
    "площадь",
    "набережная",
    "наб",
    "проезд",
    "тупик",
    "аллея",
    "микрорайон",
    "мкр",
    "خیابان",
    "کوچه",
    "بلوار",
    "میدان",
    "بزرگراه",
    "جاده",
    "کوی",
    "محله",
    "نبش",
    "via",
    "viale",
    "piazza",
    "corso",
    "calle",
    "avenida",
    "rua",
    "travessa",
    "largo",
    "ulica",
    "aleja",
    "box",
    "postfach",
];
const AFTER: &[&str] = &[
    "street",
    "st",
    "avenue",
    "ave",
    "road",
    "rd",
    "boulevard",
    "blvd",
    "lane",
    "ln",
    "drive",
    "dr",
    "court",
    "place",
    "pl",
    "square",
    "sq",
    "parkway",
    "pkwy",
    "way",
    "terrace",
    "highway",
    "hwy",
    "circle",
    "cir",
    "trail",
    "crescent",
    "close",
    "alley",
    "plaza",
    "loop",
    "landing",
    "walk",
    "point",
    "lodge",
    "motorway",
    "mews",
    "grove",
    "gardens",
    "heights",
    "ridge",
    "crossing",
    "path",
    "pike",
    "expressway",
    "freeway",
    "causeway",
    "brucke",
    "cadde",
    "cad",
    "cd",
    "sokak",
    "sok",
    "sk",
    "bulvar",
    "blv",
    "mahalle",
    "mah",
    "mh",
    "yolu",
    "meydani",
    "u",
];
/// Street words that stand after the name or are glued to it: "Hauptstraße", "Aachener Straße".
const AFTER_OR_GLUED: &[&str] = &[
    "strasse",
    "str",
    "weg",
    "platz",
    "allee",
    "gasse",
    "ring",
    "damm",
    "ufer",
    "chaussee",
    "caddesi",
    "sokagi",
    "bulvari",
    "mahallesi",
    "utca",
    "vej",
    "gade",
    "gata",
    "gatan",
    "vagen",
    "veien",
    "straat",
    "laan",
    "kuja",
    "katu",
];
/// Glued only: "Waldsteig".
const WHOLE_SUFFIXES: &[&str] = &["steig", "pfad"];
const UNIT: &[&str] = &[
    "no",
    "nr",
    "д",
    "дом",
    "корп",
    "корпус",
    "к",
    "стр",
    "строение",
    "кв",
    "квартира",
    "офис",
    "подъезд",
    "этаж",
    "پلاک",
    "واحد",
    "طبقه",
    "بلوک",
    "apt",
    "apartment",
    "suite",
    "ste",
    "unit",
    "flat",
    "floor",
    "fl",
    "wohnung",
    "etage",
    "einheit",
    "haus",
    "bureau",
    "porte",
    "batiment",
    "daire",
    "kat",
    "blok",
    "№",
];

/// The text's words and numbers. Only words near a number are looked up: an address needs one.
fn classify(text: &str) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(text.len() / 5);
    let mut prev_end = 0;
    let mut it = text.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        let numeric = c.is_ascii_digit();
        if !(numeric || is_letter(c) || c == '№') {
            continue;
        }
        let mut end = i + c.len_utf8();
        while let Some(&(j, d)) = it.peek() {
            let next = |at: usize| text[at..].chars().next();
            let keep = if numeric {
                // "221B", "12/3", "5а", "12-14"
                d.is_ascii_digit()
                    || (is_letter(d) && next(j + d.len_utf8()).is_none_or(|n| !is_letter(n)))
                    || (matches!(d, '/' | '-') && next(j + 1).is_some_and(|n| n.is_ascii_digit()))
            } else {
                is_letter(d) || d == '\u{200c}' || (d == '-' && next(j + 1).is_some_and(is_letter))
            };
            if !keep {
                break;
            }
            end = j + d.len_utf8();
            it.next();
        }
        let gap = &text[prev_end..i];
        let comma_before = gap.contains([',', ';', ':', '\n', '،', '؛']);
        // A full stop after a capitalised word ends a sentence; after an abbreviation ("Cad.",
        // "St.", "ул.") it does not.
        let stop_before = gap.contains(['!', '?', '؟'])
            || (gap.contains(". ")
                && out.last().is_some_and(|t| {
                    t.tok == Tok::Capital && text[t.start..t.end].chars().count() > 3
                }));
        let tok = if numeric {
            Tok::Number
        } else if c.is_uppercase() || is_arabic(c) {
            Tok::Capital
        } else {
            Tok::Word
        };
        let behind_sign = text[..i].ends_with(['+', '(', '-']);
        let dashed = numeric && end - i == 11 && text.as_bytes()[i + 5] == b'-';
        out.push(T {
            start: i,
            end,
            tok,
            comma_before,
            stop_before,
            behind_sign,
            dashed,
        });
        prev_end = end;
    }
    // Street and unit words, looked up only within reach of a number.
    let numbers: Vec<usize> = (0..out.len())
        .filter(|&k| out[k].tok == Tok::Number)
        .collect();
    let mut folded = String::new();
    let mut next_number = 0;
    for (k, t) in out.iter_mut().enumerate() {
        while next_number < numbers.len() && numbers[next_number] + 4 < k {
            next_number += 1;
        }
        let near = numbers.get(next_number).is_some_and(|&n| n <= k + 6);
        if !near || t.tok == Tok::Number {
            continue;
        }
        let word = &text[t.start..t.end];
        names::fold_into(word, &mut folded);
        let upper = t.tok == Tok::Capital && !is_arabic(word.chars().next().unwrap_or(' '));
        let bits = WORDS.get(folded.as_str()).copied().unwrap_or(0);
        let (before, after) = (bits & BEFORE_BIT != 0, bits & AFTER_BIT != 0);
        t.tok = if before && after {
            if upper {
                Tok::StreetAfter
            } else {
                Tok::StreetBefore
            }
        } else if before {
            Tok::StreetBefore
        } else if after {
            Tok::StreetAfter
        } else if bits & UNIT_BIT != 0 {
            Tok::Unit
        } else if upper && glued(&folded) {
            Tok::StreetWhole
        } else {
            t.tok
        };
    }
    out
}

/// The house number near the street word at `k`: its index.
fn number_near(t: &[T], k: usize) -> Option<usize> {
    // Before, across the street's capitalised name: "12 rue de la Paix" (number right before),
    // "1600 Amphitheatre Pkwy", "221B Baker Street".
    let mut j = k;
    while j > 0 && k - j <= 3 && !t[j].comma_before && !t[j].stop_before {
        j -= 1;
        match t[j].tok {
            Tok::Number => return Some(j),
            Tok::Capital if t[k].tok == Tok::StreetAfter => {}
            _ => break,
        }
    }
    // After. A street word before the name lets the name come first: "ул. Ленина, д. 5",
    // "خیابان ولیعصر، پلاک 12"; after the name (or glued to it) the number follows at once,
    // perhaps after a unit word: "Hauptstraße 5", "Atatürk Cad. No: 12".
    let before = t[k].tok == Tok::StreetBefore;
    let reach = if before { 5 } else { 2 };
    for (j, next) in t.iter().enumerate().skip(k + 1).take(reach) {
        if next.stop_before {
            break;
        }
        match next.tok {
            Tok::Number => return Some(j),
            Tok::StreetAfter | Tok::StreetBefore | Tok::StreetWhole => break,
            Tok::Unit => {}
            _ if !before => break,
            _ => {}
        }
    }
    None
}

/// Whether a street's capitalised name and a street word follow `at` ("4410 Baker St"): the
/// number before them is a house number, not a phone number or part of one.
pub(super) fn street_follows(text: &str, at: usize) -> bool {
    let rest = &text[at..];
    if !rest.starts_with(' ') {
        return false;
    }
    let mut folded = String::new();
    for (n, word) in rest.split(' ').skip(1).take(4).enumerate() {
        let word = word.trim_end_matches(['.', ',']);
        if !word.chars().next().is_some_and(char::is_uppercase) {
            return false;
        }
        names::fold_into(word, &mut folded);
        let bits = WORDS.get(folded.as_str()).copied().unwrap_or(0);
        if n > 0 && bits & AFTER_BIT != 0 {
            return true;
        }
    }
    false
}

/// A postcode or a house number: at most six characters ("10115", "221B"); a longer run is a
/// phone number or something else.
fn postcode_like(t: &T) -> bool {
    t.end - t.start <= 6
}

/// A postcode at `j`, as its last token: "10115", "75002", "12345-67890", "588 62".
fn postcode_at(t: &[T], j: usize) -> Option<usize> {
    let c = t.get(j)?;
    if c.tok != Tok::Number || c.behind_sign {
        return None;
    }
    let len = c.end - c.start;
    // Four to six digits, or the Iranian 12345-67890; a longer run is a phone number.
    if (4..=6).contains(&len) || c.dashed {
        return Some(j);
    }
    let next = t.get(j + 1)?;
    (len == 3 && next.tok == Tok::Number && next.end - next.start == 2 && !next.comma_before)
        .then_some(j + 1)
}

/// A house number followed by a postcode and a town: "Välja 82, 44019 Nugeri". The index of
/// the town.
fn postcode_after(t: &[T], num: usize) -> Option<usize> {
    if t[num].tok != Tok::Number || !postcode_like(&t[num]) || !t.get(num + 1)?.comma_before {
        return None;
    }
    let code = postcode_at(t, num + 1)?;
    let town = t.get(code + 1)?;
    (town.tok == Tok::Capital && !town.comma_before).then_some(code + 1)
}

/// Where an address whose street part ends at `last` ends: flats, then a postcode and a town
/// (or a town and a postcode), each after a comma or a unit word.
fn extend(t: &[T], mut last: usize) -> usize {
    let mut j = last + 1;
    while j < t.len() && !t[j].stop_before && j <= last + 4 {
        match t[j].tok {
            Tok::Unit
                if t.get(j + 1)
                    .is_some_and(|n| n.tok == Tok::Number && !n.behind_sign) =>
            {
                last = j + 1;
                j += 2;
            }
            Tok::Unit
                if t.get(j + 1)
                    .is_some_and(|n| n.tok == Tok::Capital && n.end - n.start == 1) =>
            {
                // "Haus B", "بلوک E"
                last = j + 1;
                j += 2;
            }
            Tok::Number => {
                // "10115 Berlin", "588 62 Urbanov": the town ends the address.
                let Some(code) = postcode_at(t, j) else { break };
                last = code;
                if t.get(code + 1)
                    .is_some_and(|n| n.tok == Tok::Capital && !n.comma_before)
                {
                    last = code + 1;
                }
                break;
            }
            Tok::Capital if t[j].comma_before => {
                // ", Berlin 10115", ", Springfield": the town, perhaps with its postcode.
                last = j;
                if t.get(j + 1).is_some_and(|n| !n.comma_before)
                    && let Some(code) = postcode_at(t, j + 1)
                {
                    last = code;
                }
                break;
            }
            _ => break,
        }
    }
    last
}

impl Recognizer for Address {
    fn find(&self, text: &str, _: &super::Hints, out: &mut Vec<Span>) -> Result<(), String> {
        // Every address has a number.
        if !text.bytes().any(|b| b.is_ascii_digit()) {
            return Ok(());
        }
        let t = classify(text);
        let mut k = 0;
        while k < t.len() {
            let street = match t[k].tok {
                Tok::StreetBefore | Tok::StreetWhole => true,
                // "Street", "Cad.": the street's name stands before it.
                Tok::StreetAfter => {
                    k > 0
                        && !t[k].comma_before
                        && !t[k].stop_before
                        && matches!(t[k - 1].tok, Tok::Capital | Tok::Number)
                }
                _ => false,
            };
            let anchor = if street {
                number_near(&t, k).map(|num| (k.min(num), k.max(num), k))
            } else if let Some(town) = postcode_after(&t, k) {
                // "Välja 82, 44019 Nugeri": a named street without a street word, then a postcode.
                let mut first = k;
                while first > 0
                    && k - first < 3
                    && !t[first].comma_before
                    && !t[first].stop_before
                    && t[first - 1].tok == Tok::Capital
                {
                    first -= 1;
                }
                (first < k).then_some((first, town, first))
            } else {
                None
            };
            let Some((mut first, last, keyword)) = anchor else {
                k += 1;
                continue;
            };
            // The street's name before its street word: "Amphitheatre Pkwy", "Atatürk Cad.".
            if t[keyword].tok == Tok::StreetAfter {
                let mut j = keyword;
                while j > 0
                    && j > keyword.saturating_sub(3)
                    && !t[j].comma_before
                    && !t[j].stop_before
                    && matches!(t[j - 1].tok, Tok::Capital | Tok::Number)
                {
                    j -= 1;
                    if t[j].tok == Tok::Number {
                        break;
                    }
                }
                first = first.min(j);
            }
            // "12 rue de la Paix": the street's name after its street word.
            let mut last = last;
            if t[keyword].tok == Tok::StreetBefore && last == keyword {
                while last + 1 < t.len()
                    && last < keyword + 4
                    && !t[last + 1].comma_before
                    && !t[last + 1].stop_before
                    && matches!(t[last + 1].tok, Tok::Capital | Tok::Word)
                {
                    last += 1;
                }
            }
            let last = extend(&t, last);
            out.push(Span::found(Kind::Address, t[first].start, t[last].end));
            k = last + 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        Address.find(text, &Default::default(), &mut out).unwrap();
        super::super::texts(text, &out)
    }

    #[test]
    fn addresses_in_six_languages() {
        assert_eq!(
            found("Адрес: ул. Ленина, д. 5, кв. 12"),
            ["ул. Ленина, д. 5, кв. 12"]
        );
        assert_eq!(
            found("Ich wohne Hauptstraße 5, 10115 Berlin."),
            ["Hauptstraße 5, 10115 Berlin"]
        );
        assert_eq!(
            found("We are at 1600 Amphitheatre Pkwy"),
            ["1600 Amphitheatre Pkwy"]
        );
        assert_eq!(
            found("Livrez au 12 rue de la Paix, 75002 Paris"),
            ["12 rue de la Paix, 75002 Paris"]
        );
        assert_eq!(found("خیابان ولیعصر، پلاک 12"), ["خیابان ولیعصر، پلاک 12"]);
        assert_eq!(
            found("Adresim: Atatürk Cad. No: 12 Kadıköy"),
            ["Atatürk Cad. No: 12"]
        );
        assert_eq!(
            found("sent to Välja 82, 44019 Nugeri"),
            ["Välja 82, 44019 Nugeri"]
        );
        assert_eq!(
            found("Mlýnská 1540, 588 62 Urbanov"),
            ["Mlýnská 1540, 588 62 Urbanov"]
        );
        assert_eq!(
            found("Ziegelgasse 19, 2392 GRUB\nMobile: (0767) 958188919"),
            ["Ziegelgasse 19, 2392 GRUB"]
        );
        assert_eq!(
            found("lives at 1850 Saskatchewan Dr, Quebec"),
            ["1850 Saskatchewan Dr, Quebec"]
        );
    }

    #[test]
    fn a_street_city_or_country_alone_is_not_an_address() {
        assert!(found("I live in Berlin, Germany").is_empty());
        assert!(found("The bus station is on Main Street").is_empty());
        assert!(found("Мы на улице Ленина").is_empty());
        assert!(found("Order 12 arrives Monday").is_empty());
        assert!(found("Dr. Weber is a 25 year old man").is_empty());
        assert!(found("Prof. Dr. Weber is a 25 year old man").is_empty());
        assert!(found("datant de 45 av. J.-C.").is_empty());
    }
}
