//! The name lexicon: first names, surnames and patronymics in Latin, Cyrillic and Arabic
//! scripts, built by `bot/data/names/build.py` from registry packages (sources and licences in
//! `bot/data/names/SOURCES.md`) and compiled into a hash map once, at first use.
//!
//! Words are looked up folded (lower case, Latin diacritics removed, `ё` as `е`, Arabic-script
//! letter variants unified) so "Zoë Müller" finds "zoe muller" and "Ёлкин" finds "елкин";
//! Russian case endings are taken off and the nominative tried, so "Ольге Смирновой" finds
//! "ольга" and "смирнова".

use std::{collections::HashMap, sync::LazyLock};

const DATA: &str = include_str!("../../data/names/names.txt");

/// What a word is in the lexicon.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Entry(u8);

impl Entry {
    const FIRST: u8 = 1;
    const LAST: u8 = 2;
    const PATRONYMIC: u8 = 4;
    /// Also an ordinary lower-case word: "will", "rose", "вера".
    const WORD: u8 = 8;
    /// Also a place: "Berlin", "Laura" (a town in Australia).
    const PLACE: u8 = 16;
    /// Also a month or weekday: "May", "June", "August".
    const CALENDAR: u8 = 32;

    pub fn is_name(self) -> bool {
        self.0 & (Self::FIRST | Self::LAST | Self::PATRONYMIC) != 0
    }
    pub fn is_first(self) -> bool {
        self.0 & Self::FIRST != 0
    }
    /// Also an ordinary word (a month or weekday name included).
    pub fn is_word(self) -> bool {
        self.0 & (Self::WORD | Self::CALENDAR) != 0
    }
    pub fn is_calendar(self) -> bool {
        self.0 & Self::CALENDAR != 0
    }
    pub fn is_place(self) -> bool {
        self.0 & Self::PLACE != 0
    }
    pub(super) fn surname() -> Self {
        Entry(Self::LAST)
    }
    /// A surname shape that is also an adjective's ("Московский"): needs a name beside it.
    pub(super) fn surname_or_word() -> Self {
        Entry(Self::LAST | Self::WORD)
    }
    pub(super) fn patronymic() -> Self {
        Entry(Self::PATRONYMIC)
    }
}

pub(super) type Map<V> = HashMap<&'static str, V, foldhash::fast::FixedState>;

/// Word lists merged into one map of flags: each word gets the bits of every list it is on.
pub(super) fn flag_map(lists: &[(&[&'static str], u16)]) -> Map<u16> {
    let mut map = Map::default();
    for (list, bit) in lists {
        for w in *list {
            *map.entry(*w).or_default() |= bit;
        }
    }
    map
}

static LEXICON: LazyLock<Map<Entry>> = LazyLock::new(|| {
    let mut map = Map::with_capacity_and_hasher(DATA.len() / 14, Default::default());
    for line in DATA.lines() {
        let Some((name, flags)) = line.split_once('\t') else {
            continue;
        };
        let mut e = 0u8;
        for f in flags.bytes() {
            e |= match f {
                b'f' => Entry::FIRST,
                b'l' => Entry::LAST,
                b'p' => Entry::PATRONYMIC,
                b'w' => Entry::WORD,
                b'c' => Entry::PLACE,
                b'm' => Entry::CALENDAR,
                _ => 0,
            };
        }
        map.insert(name, Entry(e));
    }
    map
});

/// Loads the lexicon now rather than on the first message (the gateway calls it at start-up).
pub fn warm() {
    LazyLock::force(&LEXICON);
}

/// Whether `c` is an Arabic-script character (Persian included), which has no capitals.
pub fn is_arabic(c: char) -> bool {
    matches!(c, '\u{0600}'..='\u{06ff}' | '\u{0750}'..='\u{077f}' | '\u{fb50}'..='\u{fdff}' | '\u{fe70}'..='\u{feff}')
}

/// Whether `c` is a letter, with the scripts the gateway reads answered without a table lookup.
#[inline]
pub fn is_letter(c: char) -> bool {
    match c {
        'a'..='z' | 'A'..='Z' => true,
        '\0'..='\u{7f}' => false,
        'À'..='Ö' | 'Ø'..='ö' | 'ø'..='ɏ' => true,
        '\u{400}'..='\u{481}' | '\u{48a}'..='\u{52f}' => true,
        '\u{621}'..='\u{63a}' | '\u{641}'..='\u{64a}' | '\u{671}'..='\u{6d3}' => true,
        _ => c.is_alphabetic(),
    }
}

/// Appends the folded form of `word` to `out` (cleared first).
pub fn fold_into(word: &str, out: &mut String) {
    out.clear();
    if word.is_ascii() {
        out.push_str(word);
        out.make_ascii_lowercase();
        return;
    }
    for c in word.chars() {
        // Cyrillic and Arabic script without the general case tables.
        match c {
            'А'..='Я' => {
                out.push(char::from_u32(c as u32 + 32).unwrap_or(c));
                continue;
            }
            'Ё' | 'ё' => {
                out.push('е');
                continue;
            }
            'а'..='я' => {
                out.push(c);
                continue;
            }
            '\u{621}'..='\u{628}'
            | '\u{62a}'..='\u{63a}'
            | '\u{641}'..='\u{642}'
            | '\u{644}'..='\u{648}'
            | '\u{64b}'..='\u{65f}' => {
                out.push(c);
                continue;
            }
            _ => {}
        }
        for l in c.to_lowercase() {
            match l {
                'ı' => out.push('i'),
                'ß' => out.push_str("ss"),
                'ø' => out.push('o'),
                'ł' => out.push('l'),
                'đ' => out.push('d'),
                'æ' => out.push_str("ae"),
                'œ' => out.push_str("oe"),
                'ё' => out.push('е'),
                'ي' | 'ى' => out.push('ی'),
                'ك' => out.push('ک'),
                'ة' => out.push('ه'),
                // ZWNJ, tatweel, and the dot "İ" leaves on its lower-case "i".
                '\u{200c}' | '\u{0640}' | '\u{307}' => {}
                '’' => out.push('\''),
                '\u{c0}'..='\u{24f}' => {
                    let mut base = None;
                    unicode_normalization::char::decompose_canonical(l, |d| {
                        base.get_or_insert(d);
                    });
                    out.push(base.unwrap_or(l));
                }
                other => out.push(other),
            }
        }
    }
}

/// The entry of an already folded word.
pub fn lookup(folded: &str) -> Option<Entry> {
    LEXICON.get(folded).copied()
}

/// Russian case endings, longest first, and the nominative endings tried in their place.
const ENDINGS: [&str; 24] = [
    "ами", "ями", "ого", "его", "ому", "ему", "ыми", "ими", "ой", "ей", "ою", "ею", "ом", "ем",
    "ым", "им", "ую", "а", "я", "у", "ю", "е", "ы", "и",
];
const NOMINATIVE: [&str; 7] = ["", "а", "я", "й", "ь", "ий", "ия"];

/// A declined Cyrillic name: "Ольге" → "ольга", "Петрову" → "петров", "Андреем" → "андрей".
pub fn lookup_declined(folded: &str, buf: &mut String) -> Option<Entry> {
    // The first name that is not also a word wins ("Кузнецовой": "кузнецова", not the plural
    // "кузнецов" of "кузнец"); else the first entry found.
    let mut fallback = None;
    for ending in ENDINGS {
        let Some(stem) = folded.strip_suffix(ending) else {
            continue;
        };
        if stem.chars().count() < 3 {
            continue;
        }
        for nom in NOMINATIVE {
            if nom == ending {
                continue;
            }
            buf.clear();
            buf.push_str(stem);
            buf.push_str(nom);
            match lookup(buf) {
                Some(e) if e.is_name() && !e.is_word() => return Some(e),
                Some(e) => {
                    fallback.get_or_insert(e);
                }
                None => {}
            }
        }
    }
    fallback
}

/// Surname shapes in Latin script: Turkish "-oğlu", Slavic "-ov", "-ova", "-ski", "-vić",
/// Georgian "-shvili", "-dze", Ukrainian "-enko", Armenian "-yan" (folded: "kasapoglu").
pub fn latin_shape(folded: &str) -> Option<Entry> {
    const SHAPES: [&str; 17] = [
        "oglu", "ov", "ova", "ev", "eva", "shvili", "svili", "dze", "enko", "vic", "vich", "ski",
        "ska", "sky", "skiy", "yan", "zade",
    ];
    (folded.len() >= 6 && SHAPES.iter().any(|s| folded.ends_with(s))).then(Entry::surname)
}

/// Russian and Ukrainian surname and patronymic shapes, in any case: "Кузнецовой",
/// "Достоевскому", "Шевченко", "Петровичем", "Сергеевна".
pub fn cyrillic_shape(folded: &str) -> Option<Entry> {
    const PATRONYMIC: [&str; 5] = ["ович", "евич", "овн", "евн", "ичн"];
    const SURNAME: [&str; 5] = ["ов", "ев", "ин", "ын", "чук"];
    const ADJECTIVE: [&str; 2] = ["ск", "цк"];
    const CASE: [&str; 17] = [
        "", "а", "у", "ым", "ой", "ою", "е", "ых", "ого", "ому", "ий", "ая", "ую", "ом", "ем",
        "ем", "о",
    ];
    let n = folded.chars().count();
    if n < 5 {
        return None;
    }
    for case in CASE {
        let Some(stem) = folded.strip_suffix(case) else {
            continue;
        };
        if PATRONYMIC.iter().any(|p| stem.ends_with(p)) {
            return Some(Entry::patronymic());
        }
        if stem.chars().count() < 4 {
            continue;
        }
        if SURNAME.iter().any(|s| stem.ends_with(s)) || stem.ends_with("енк") && case == "о" {
            return Some(Entry::surname());
        }
        if ADJECTIVE.iter().any(|s| stem.ends_with(s)) {
            return Some(Entry::surname_or_word());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(word: &str) -> Option<Entry> {
        let mut f = String::new();
        fold_into(word, &mut f);
        let mut buf = String::new();
        lookup(&f).or_else(|| lookup_declined(&f, &mut buf))
    }

    #[test]
    fn folds_diacritics_and_script_variants() {
        let mut f = String::new();
        fold_into("Zoë Müller", &mut f);
        assert_eq!(f, "zoe muller");
        fold_into("Ёлкин", &mut f);
        assert_eq!(f, "елкин");
        fold_into("علي", &mut f);
        assert_eq!(f, "علی");
        fold_into("كريمة", &mut f);
        assert_eq!(f, "کریمه");
        fold_into("Yıldız", &mut f);
        assert_eq!(f, "yildiz");
        fold_into("İsmim", &mut f);
        assert_eq!(f, "ismim");
    }

    #[test]
    fn finds_names_in_their_declined_forms() {
        for w in [
            "Ольге",
            "Смирновой",
            "Ивану",
            "Петрову",
            "Анны",
            "Андреем",
            "Марии",
        ] {
            assert!(find(w).is_some_and(Entry::is_name), "{w}");
        }
        assert!(find("Maartje").is_some_and(Entry::is_first));
        assert!(find("مریم").is_some_and(Entry::is_first));
        assert!(find("Will").is_some_and(Entry::is_word));
        assert!(find("Вера").is_some_and(Entry::is_word));
    }

    #[test]
    fn surname_and_patronymic_shapes() {
        assert_eq!(cyrillic_shape("кузнецовой"), Some(Entry::surname()));
        assert_eq!(
            cyrillic_shape("достоевскому"),
            Some(Entry::surname_or_word())
        );
        assert_eq!(cyrillic_shape("шевченко"), Some(Entry::surname()));
        assert_eq!(cyrillic_shape("петровичем"), Some(Entry::patronymic()));
        assert_eq!(cyrillic_shape("сергеевна"), Some(Entry::patronymic()));
        assert_eq!(cyrillic_shape("спасибо"), None);
    }
}
