//! Names of people mentioned in a message, whoever they are.
//!
//! The text is cut into words; runs of adjacent capitalised words (every word, in Arabic
//! script, which has no capitals) are weighed together:
//! - a run holding a lexicon name that is not also an ordinary word ("Maartje", "Ольге",
//!   "مریم"), or a Russian surname or patronymic shape ("Кузнецовой", "Петровичем"), is a name;
//! - a name that is also an ordinary word ("Rose", "Will", "Вера") counts only beside another
//!   name or an initial ("Will Smith", "Вера Павловна", "R. Rose"), or after a title or a cue;
//! - after a title ("Dr.", "Frau", "господин", "Sayın", "آقای") or a cue ("my name is",
//!   "меня зовут", "ich heiße", "je m'appelle", "benim adım", "اسم من", "Name:") the next words
//!   are a name whatever the lexicon says;
//! - a capitalised word the lexicon does not know joins a name it stands next to
//!   ("Maartje Visser"), except at the start of a sentence.
//!
//! What is traded: a lone capitalised word that is both a name and an ordinary word stays in the
//! clear without context, and a name written all in lower case is caught only after a cue.

use std::sync::LazyLock;

use super::{
    Kind, Span,
    names::{self, Entry, is_arabic, is_letter},
};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    /// Not part of a name.
    Other,
    /// A lexicon name that is not an ordinary word, or a surname shape.
    Strong,
    /// A lexicon name that is also an ordinary word.
    Weak,
    /// "K." in "K. Weber".
    Initial,
    /// Capitalised, not in the lexicon.
    Unknown,
    /// "Dr.", "Frau", "آقای": what follows is a name; not itself redacted.
    Title,
    /// "van", "de", "ibn": joins two parts of one name.
    Particle,
    /// A name that is also a place ("Laura", "Jackson"): a place after "in", "from", "в" …,
    /// else a name. Only while classifying.
    Place,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cue {
    None,
    /// "Hi", "Dear", "سلام": a capitalised word after it is a name.
    Greeting,
    /// "my name is", "меня зовут", "اسم من", "Name:": whatever follows is a name.
    Name,
}

#[derive(Debug)]
struct Word {
    start: usize,
    end: usize,
    role: Role,
    /// Only spaces (or an initial's or title's dot) separate it from the word before.
    joined: bool,
    /// First word of a sentence.
    sentence_start: bool,
    /// What follows it is a name (the last word of a cue).
    cue: Cue,
    /// The lexicon knows it as a first name.
    first_name: bool,
    /// In Arabic script (Persian).
    arabic: bool,
    /// The lexicon knows it as a month or weekday ("May", "August").
    calendar: bool,
    /// The lexicon knows it as a place ("Berlin").
    place: bool,
    /// A lower-case word (not an article or a preposition of place) stands right before it:
    /// "told Will", "у нас Вера".
    after_lower: bool,
    /// That word is not "to" or a conjunction either: "says Torres" (a surname that is also a
    /// town), but "fly to London and Rome".
    after_lower_not_to: bool,
    /// A first name followed by a colon: the speaker of a line of dialogue ("Peter: hi").
    speaker: bool,
    /// Starts a line and is followed by a colon and a quote ("Natsuhiko: \"Who are you?\""):
    /// a speaker if the lexicon knows it, or if another line has the same shape (a dialogue,
    /// not one label such as `Error: "…"`).
    speaker_shape: bool,
    /// A pronoun written with a capital wherever it stands ("I", "Sie", "Вы"): no sign of title
    /// case.
    capital_pronoun: bool,
    /// "Bey", "Hanım", "Efendi": the capitalised word before it is a name.
    post_title: bool,
    /// A lower-case abbreviation after a title: "med." in "Dr. med. Geisler".
    degree: bool,
    /// "E-Mail", "Anna-Maria".
    hyphenated: bool,
}

fn is_cyrillic(c: char) -> bool {
    matches!(c, '\u{0400}'..='\u{04ff}')
}

fn in_word(c: char) -> bool {
    is_letter(c) || c == '\u{200c}' || matches!(c, '\u{064b}'..='\u{065f}')
}

/// Words and the gaps between them, as byte ranges.
fn words(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(text.len() / 6);
    let mut it = text.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if !is_letter(c) {
            continue;
        }
        let mut end = i + c.len_utf8();
        while let Some(&(j, d)) = it.peek() {
            if in_word(d) {
                end = j + d.len_utf8();
                it.next();
            } else if matches!(d, '-' | '\'' | '’') {
                // A hyphen inside a word ("Anna-Maria"); an apostrophe inside a name ("O'Brien",
                // "d'Artagnan") or after a short elided word ("m'appelle", "I'm"), but not the
                // one before a suffix: "Natsuhiko's", Turkish "Ayşe'nin".
                let next = text[j + d.len_utf8()..].chars().next();
                let before = &text[i..j];
                let joins = d == '-'
                    || next.is_some_and(char::is_uppercase)
                    || before.chars().count() <= 2
                        && (before == "I" || !before.chars().any(char::is_uppercase));
                if joins && next.is_some_and(is_letter) {
                    it.next();
                } else {
                    break;
                }
            } else {
                break;
            }
        }
        out.push((i, end));
    }
    out
}

const TITLES: &[&str] = &[
    "mr",
    "mrs",
    "ms",
    "miss",
    "mx",
    "dr",
    "prof",
    "sir",
    "dame",
    "herr",
    "frau",
    "hr",
    "mme",
    "mlle",
    "monsieur",
    "madame",
    "mademoiselle",
    "sayin",
    "bay",
    "bayan",
    "doktor",
    "господин",
    "госпожа",
    "г-н",
    "г-жа",
    "гражданин",
    "гражданка",
    "доктор",
    "профессор",
    "آقای",
    "خانم",
    "جناب",
    "سرکار",
    "دکتر",
    "مهندس",
    "استاد",
    "beyefendi",
    "hanimefendi",
];

/// Turkish forms of address written after the name: "Ahmet Bey", "Balcı Hanım".
const POST_TITLES: &[&str] = &["bey", "hanim", "efendi"];

/// Academic degrees written between a title and the name: "Dr. med. Geisler", "Dr. rer. nat.".
const DEGREES: &[&str] = &[
    "med", "rer", "nat", "phil", "jur", "dent", "vet", "habil", "pol", "oec", "ing", "dipl",
];

const PARTICLES: &[&str] = &[
    "van", "von", "der", "den", "de", "del", "della", "di", "da", "du", "le", "la", "ibn", "bin",
    "bint", "al", "el", "ben", "ter", "ten", "zu", "dos", "das",
];

/// Arabic-script words that never start or continue a name.
const ARABIC_STOP: &[&str] = &[
    "است",
    "هست",
    "هستم",
    "هستند",
    "و",
    "از",
    "به",
    "با",
    "را",
    "که",
    "در",
    "این",
    "آن",
    "من",
    "تو",
    "او",
    "ما",
    "شما",
    "برای",
    "تا",
    "یا",
    "هم",
    "بود",
    "شد",
    "می",
    "نه",
    "بله",
];

/// Articles and possessives: a capitalised word after them is a thing ("ein Buch", "the
/// Hilton", "mon Ami"), unless it is a first name ("the Fred Meyer Orchestra" is still
/// redacted, to be safe; so is "the Princess Royal", "Princess" being a first name too).
const DETERMINERS: &[&str] = &[
    "the", "an", "my", "your", "his", "her", "its", "our", "their", "der", "die", "das", "den",
    "dem", "des", "ein", "eine", "einen", "einem", "einer", "eines", "im", "am", "zum", "zur",
    "vom", "beim", "ins", "mein", "meine", "meinen", "meinem", "dein", "deine", "sein", "seine",
    "ihr", "ihre", "unser", "unsere", "kein", "keine", "le", "la", "les", "un", "une", "du", "au",
    "aux", "mon", "ma", "mes", "ton", "ta", "son", "sa", "ses", "notre", "votre", "leur", "ce",
    "cette", "bu", "şu", "bir",
];

/// Prepositions of place: a word that is both a name and a place is a place after them.
const PLACE_BEFORE: &[&str] = &[
    "in", "from", "at", "near", "nach", "aus", "bei", "im", "en", "dans", "près", "в", "во", "из",
    "под", "под", "در", "از",
];

/// Capitalised pronouns and determiners of polite address: never names.
const PRONOUNS: &[&str] = &[
    "i", "sie", "ihnen", "ihr", "ihre", "ihrem", "ihren", "ihrer", "ihres", "du", "dich", "dir",
    "euch", "вы", "вам", "вас", "ваш", "ваша", "ваше", "ваши", "вами", "мой", "моя", "мое", "мои",
    "ты", "тебе", "тебя", "он", "она", "они", "я", "you", "we", "he", "she", "they", "me", "ich",
    "wir", "je", "moi", "nous", "ben", "sen", "biz",
];

const TITLE: u16 = 1;
const PARTICLE: u16 = 2;
const DETERMINER: u16 = 4;
const PRONOUN: u16 = 8;
const ARABIC_STOP_BIT: u16 = 16;
const PLACE_PREPOSITION: u16 = 32;
const GREETING: u16 = 64;
const CUE_END: u16 = 128;
const CUE_START: u16 = 256;
const FIELD: u16 = 512;
const POST_TITLE: u16 = 1024;
const DEGREE: u16 = 2048;

const GREETINGS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "dear",
    "hallo",
    "liebe",
    "lieber",
    "bonjour",
    "salut",
    "cher",
    "chere",
    "merhaba",
    "selam",
    "привет",
    "здравствуйте",
    "уважаемый",
    "уважаемая",
    "дорогой",
    "дорогая",
    "سلام",
    "درود",
];
/// The last word of a cue (some only after a word of `CUE_STARTS`: "name is", "call me").
const CUE_ENDS: &[&str] = &[
    "is",
    "was",
    "am",
    "i'm",
    "me",
    "ist",
    "est",
    "зовут",
    "звать",
    "heisse",
    "heiße",
    "adim",
    "ismim",
    "اسمم",
    "نامم",
    "من",
];
const CUE_STARTS: &[&str] = &["name", "nom", "i", "call", "calls", "called", "اسم", "نام"];
/// Field names that make "Name: …" a cue.
const FIELDS: &[&str] = &[
    "name",
    "fullname",
    "имя",
    "фио",
    "фамилия",
    "nom",
    "prenom",
    "vorname",
    "nachname",
    "isim",
    "ad",
    "soyad",
    "adi",
    "نام",
    "اسم",
];

/// The function-word lists above in one map: one lookup per word.
static FUNCTION_WORDS: LazyLock<names::Map<u16>> = LazyLock::new(|| {
    names::flag_map(&[
        (TITLES, TITLE),
        (PARTICLES, PARTICLE),
        (DETERMINERS, DETERMINER),
        (PRONOUNS, PRONOUN),
        (ARABIC_STOP, ARABIC_STOP_BIT),
        (PLACE_BEFORE, PLACE_PREPOSITION),
        (GREETINGS, GREETING),
        (CUE_ENDS, CUE_END),
        (CUE_STARTS, CUE_START),
        (FIELDS, FIELD),
        (POST_TITLES, POST_TITLE),
        (DEGREES, DEGREE),
    ])
});

fn function_bits(folded: &str) -> u16 {
    FUNCTION_WORDS.get(folded).copied().unwrap_or(0)
}

/// Words that end a cue when they follow `prev`.
fn ends_cue(prev: &str, word: &str) -> bool {
    match word {
        "is" | "was" => prev == "name",
        "am" => prev == "i",
        "i'm" => true,
        "me" => matches!(prev, "call" | "calls" | "called"),
        "ist" => prev == "name",
        "est" => prev == "nom",
        "зовут" | "звать" | "heisse" | "heiße" | "adim" | "ismim" | "اسمم" | "نامم" => {
            true
        }
        "من" => matches!(prev, "اسم" | "نام"),
        _ => false,
    }
}

fn classify(text: &str) -> Vec<Word> {
    let spans = words(text);
    let mut out: Vec<Word> = Vec::with_capacity(spans.len());
    let mut buffer = String::new();
    // The previous word, kept only when it can start a cue ("name", "call", "اسم").
    let mut prev_folded = String::new();
    let mut buf = String::new();
    let mut prev_end = 0;
    let mut prev_bits = 0u16;
    let mut prev_lower = false;
    let mut prev_to = false;
    for (n, &(start, end)) in spans.iter().enumerate() {
        let word = &text[start..end];
        let gap = &text[prev_end..start];
        let first = word.chars().next().unwrap_or(' ');
        let arabic = is_arabic(first);
        let after_dot = out
            .last()
            .is_some_and(|w| matches!(w.role, Role::Initial | Role::Title));
        let gap_trimmed = if after_dot {
            gap.strip_prefix('.').unwrap_or(gap)
        } else {
            gap
        };
        // "А.С. Пушкин": an initial's dot may be all that separates it from the next word.
        let joined = n > 0
            && (after_dot && gap_trimmed.is_empty()
                || !gap_trimmed.is_empty()
                    && gap_trimmed
                        .chars()
                        .all(|c| c == ' ' || c == '\u{a0}' || c == '\t'));
        let sentence_start = n == 0
            || (!after_dot
                && gap
                    .chars()
                    .any(|c| matches!(c, '.' | '!' | '?' | '\n' | '…' | '؟' | '¿' | '¡')));
        // Lower-case ASCII words are their own folded form.
        let folded: &str = if word
            .bytes()
            .all(|b| !b.is_ascii_uppercase() && b.is_ascii())
        {
            word
        } else {
            names::fold_into(word, &mut buffer);
            &buffer
        };
        let bits = function_bits(folded);
        let capital = arabic || first.is_uppercase();
        let mut entry = Entry::default();
        let dot_after = text[end..].starts_with('.');
        let role = if capital
            && dot_after
            && word.chars().count() == 1
            && !arabic
            && bits & PRONOUN == 0
        {
            Role::Initial
        } else if bits & TITLE != 0
            && (capital
                || arabic
                || is_cyrillic(first)
                || (dot_after && matches!(folded, "dr" | "mr" | "mrs" | "prof")))
        {
            Role::Title
        } else if !capital {
            if bits & PARTICLE != 0 {
                Role::Particle
            } else {
                Role::Other
            }
        } else if (arabic && bits & ARABIC_STOP_BIT != 0) || bits & (PRONOUN | DETERMINER) != 0 {
            Role::Other
        } else if !arabic && word.chars().count() >= 2 && !word.chars().any(char::is_lowercase) {
            // ALL CAPS: an acronym ("CEO", "IBAN") unless beside another name ("IVAN PETROV").
            match entry_role(folded, first, &mut buf).0 {
                Role::Strong | Role::Weak if word.chars().count() > 3 => Role::Weak,
                _ => Role::Other,
            }
        } else {
            let after_determiner = joined && prev_bits & DETERMINER != 0;
            let (role, found) = entry_role(folded, first, &mut buf);
            entry = found;
            let is_first = found.is_first();
            match role {
                // A place that is also a first name ("Laura") is a name unless "in", "from",
                // "в" … stands before it; one that is only a surname ("Berlin", "Пушкин") needs
                // another name or an initial beside it.
                Role::Place if prev_bits & PLACE_PREPOSITION != 0 => Role::Other,
                Role::Place if !is_first => Role::Weak,
                Role::Place => Role::Strong,
                _ if after_determiner && !is_first => Role::Other,
                role => role,
            }
        };
        let cue = if bits & FIELD != 0 && text[end..].trim_start_matches(' ').starts_with(':') {
            Cue::Name
        } else if bits & GREETING != 0 {
            Cue::Greeting
        } else if (bits & CUE_END != 0 && ends_cue(&prev_folded, folded))
            || (folded.contains('\'') && folded.ends_with("'appelle"))
        {
            Cue::Name
        } else {
            Cue::None
        };
        let line_start = n == 0 || gap.contains(['\n', '>']);
        let colon = matches!(role, Role::Strong | Role::Weak | Role::Unknown)
            && bits & FIELD == 0
            && text[end..].starts_with(':');
        let speaker = colon && role == Role::Strong && entry.is_first();
        let speaker_shape = colon
            && line_start
            && word.chars().count() > 1
            && text[end + 1..]
                .trim_start_matches(' ')
                .starts_with(['"', '«', '“', '„']);
        out.push(Word {
            start,
            end,
            role,
            joined,
            sentence_start,
            cue,
            first_name: entry.is_first(),
            arabic,
            calendar: entry.is_calendar(),
            place: entry.is_place(),
            after_lower: joined && prev_lower && prev_bits & PLACE_PREPOSITION == 0,
            after_lower_not_to: joined
                && prev_lower
                && prev_bits & PLACE_PREPOSITION == 0
                && !prev_to,
            speaker,
            speaker_shape,
            capital_pronoun: bits & PRONOUN != 0
                && (is_cyrillic(first)
                    || matches!(
                        folded,
                        "i" | "sie"
                            | "ihnen"
                            | "ihr"
                            | "ihre"
                            | "ihrem"
                            | "ihren"
                            | "ihrer"
                            | "ihres"
                    )),
            post_title: capital && bits & POST_TITLE != 0,
            degree: !capital && bits & DEGREE != 0 && dot_after,
            hyphenated: word.contains('-'),
        });
        prev_lower = !capital && !arabic && bits & DETERMINER == 0;
        prev_to = matches!(folded, "to" | "into" | "towards") || is_conjunction(folded);
        prev_folded.clear();
        if bits & CUE_START != 0 {
            prev_folded.push_str(folded);
        }
        prev_bits = bits;
        prev_end = end;
    }
    out
}

/// The role of a capitalised word (or any Arabic-script word) from the lexicon, and its entry.
fn entry_role(folded: &str, first: char, buf: &mut String) -> (Role, Entry) {
    let mut entry = names::lookup(folded);
    if entry.is_none() && folded.contains(['-', '\'']) {
        // "Anna-Maria", "Kowalska-Nowak": a name if any part is one.
        let mut best: Option<Entry> = None;
        for part in folded.split(['-', '\'']).filter(|p| p.chars().count() >= 3) {
            if let Some(e) = names::lookup(part).filter(|e| e.is_name())
                && best.is_none_or(|b| b.is_word())
            {
                best = Some(e);
            }
        }
        entry = best;
    }
    if entry.is_none() && is_cyrillic(first) {
        entry = names::lookup_declined(folded, buf).or_else(|| names::cyrillic_shape(folded));
    } else if entry.is_none() && first.is_ascii_alphabetic() {
        entry = names::latin_shape(folded);
    }
    let role = match entry {
        Some(e) if e.is_name() && !e.is_word() && e.is_place() => Role::Place,
        Some(e) if e.is_name() && !e.is_word() => Role::Strong,
        Some(e) if e.is_name() => Role::Weak,
        // An ordinary word the lexicon knows (a city, a month): not a name on its own.
        Some(_) => Role::Other,
        None => Role::Unknown,
    };
    (role, entry.unwrap_or_default())
}

/// Appends a span for every name mentioned in `text`.
pub(super) fn mentioned(text: &str, out: &mut Vec<Span>) {
    let words = classify(text);
    // Two lines or more shaped `Word: "…"` make a dialogue: their first words are speakers.
    let dialogue = words.iter().filter(|w| w.speaker_shape).count() >= 2;
    // Names found, as inclusive ranges of word indices, in order.
    let mut found: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let anchored = w.cue != Cue::None || w.role == Role::Title;
        if anchored {
            // Degrees between a title and the name: "Dr. med. Geisler", "Dr. rer. nat. Ranheim".
            let mut first = i + 1;
            if w.role == Role::Title {
                while first < words.len() && first <= i + 3 && words[first].degree {
                    first += 1;
                }
            }
            // The next words (up to three, adjacent to each other) are a name.
            let mut j = first;
            let mut last = None;
            while j < words.len() && j <= first + 2 {
                let n = &words[j];
                let linked = j == first || n.joined;
                let fits = match n.role {
                    Role::Other => j == i + 1 && w.cue == Cue::Name && names_lowercase_ok(text, n),
                    Role::Title | Role::Particle => false,
                    // "Sayın Ahmet Bey": the form of address stays outside.
                    _ if n.post_title => false,
                    // Arabic script has no capitals: after a greeting only a known name counts.
                    Role::Unknown => !(n.arabic && w.cue == Cue::Greeting),
                    _ => true,
                };
                // Without capitals, one unknown word after the cue is the name; more would
                // take the verb ("آقای رضایی تماس گرفت").
                let more_unknown = n.arabic && j > first && n.role == Role::Unknown;
                // A sentence end after a greeting ends it: "Hello! Thanks for the help." (The
                // degree's dot before a name is no sentence end.)
                let ends = n.sentence_start && !(j == first && first > i + 1);
                if !linked || !fits || more_unknown || ends {
                    break;
                }
                last = Some(j);
                j += 1;
            }
            if let Some(last) = last {
                found.push((first, last));
                i = last + 1;
                continue;
            }
            i += 1;
            continue;
        }
        if !matches!(
            w.role,
            Role::Strong | Role::Weak | Role::Initial | Role::Unknown
        ) || w.post_title
        {
            i += 1;
            continue;
        }
        // A run of adjacent name-like words (particles allowed between two of them).
        let mut j = i + 1;
        while j < words.len() {
            let n = &words[j];
            if !n.joined || n.sentence_start {
                break;
            }
            match n.role {
                Role::Strong | Role::Weak | Role::Initial | Role::Unknown if !n.post_title => {
                    j += 1
                }
                Role::Particle
                    if words.get(j + 1).is_some_and(|m| {
                        m.joined && matches!(m.role, Role::Strong | Role::Weak | Role::Unknown)
                    }) =>
                {
                    j += 1
                }
                _ => break,
            }
        }
        let run = &words[i..j];
        let next = words.get(j).filter(|n| n.joined && !n.sentence_start);
        let last = &run[run.len() - 1];
        let speaker = last.speaker
            || last.speaker_shape && (dialogue || matches!(last.role, Role::Strong | Role::Weak));
        let range = if next.is_some_and(|n| n.post_title) || speaker {
            // "Balcı Bey", "Natsuhiko: \"…\"": the whole run, but for an unknown word that
            // starts the sentence ("Yarın Ahmet Bey gelecek").
            let from =
                usize::from(run.len() > 1 && run[0].sentence_start && run[0].role == Role::Unknown);
            Some((from, run.len() - 1))
        } else {
            // A capitalised word after this one: title case ("Supposed To Hate"), not a name.
            // (A pronoun or article does not count: "I told Will I would come".)
            let title_case = next.is_some_and(|n| {
                n.role != Role::Other || is_capitalised(text, n) && !n.capital_pronoun
            });
            accepted(run, title_case)
        };
        if let Some((from, to)) = range
            && !is_place(&text[run[from].start..run[to].end])
        {
            found.push((i + from, i + to));
        }
        i = j;
    }
    extend_lists(text, &words, &mut found);
    out.extend(
        found
            .into_iter()
            .map(|(a, b)| Span::found(Kind::Person, words[a].start, words[b].end)),
    );
}

fn is_capitalised(text: &str, w: &Word) -> bool {
    text[w.start..]
        .chars()
        .next()
        .is_some_and(char::is_uppercase)
}

/// Conjunctions that join the items of a list.
fn is_conjunction(word: &str) -> bool {
    matches!(
        word,
        "and"
            | "or"
            | "und"
            | "oder"
            | "et"
            | "ou"
            | "и"
            | "или"
            | "ve"
            | "veya"
            | "ile"
            | "و"
            | "یا"
    )
}

/// A list of names takes its other capitalised items with it: "Rania, Luka, Abdoulaye, Hiba
/// and Safa", "یزدگرد، آیین‌گشسب و ماهزاد". An item joins only inside a list (a comma or a
/// conjunction on both sides, or a conjunction before it), never a place, month or pronoun.
fn extend_lists(text: &str, words: &[Word], found: &mut Vec<(usize, usize)>) {
    if found.is_empty() {
        return;
    }
    // Only a name that stands on its own seeds a list: one with a name that is not also a
    // word, or of several words ("Ruby, Scheme and Tcl" is no list of names).
    let mut named = vec![false; words.len()];
    let mut taken = vec![false; words.len()];
    for &(a, b) in found.iter() {
        taken[a..=b].iter_mut().for_each(|n| *n = true);
        if a < b || words[a].role == Role::Strong || a > 0 && words[a - 1].cue != Cue::None {
            named[a..=b].iter_mut().for_each(|n| *n = true);
        }
    }
    // Without capitals, only a word the lexicon knows as a name can be an item in Arabic
    // script ("با مریم و برادرش": "her brother" is no name).
    let candidate = |k: usize, taken: &[bool]| {
        let w = &words[k];
        let known = matches!(w.role, Role::Strong | Role::Weak);
        !taken[k]
            && (known || w.role == Role::Unknown && !w.arabic)
            && !w.calendar
            && !w.place
            && !w.post_title
    };
    let item = |k: usize, taken: &[bool]| taken[k] || candidate(k, taken);
    // The item after word `k` across a separator: (its index, whether a conjunction joined it).
    let after = |k: usize| -> Option<(usize, bool)> {
        let next = words.get(k + 1)?;
        let gap = text[words[k].end..next.start].trim();
        if matches!(gap, "," | "،" | ";" | "؛") {
            return Some((k + 1, false));
        }
        if gap.is_empty() && is_conjunction(&text[next.start..next.end]) {
            let item = words.get(k + 2)?;
            return text[next.end..item.start]
                .trim()
                .is_empty()
                .then_some((k + 2, true));
        }
        None
    };
    let mut added = Vec::new();
    for forward in [true, false] {
        let order: Box<dyn Iterator<Item = usize>> = if forward {
            Box::new(0..words.len())
        } else {
            Box::new((0..words.len()).rev())
        };
        for k in order {
            if !named[k] {
                continue;
            }
            // Forward: a named item, then the candidate after it; backward: the candidate
            // before it.
            let pair = if forward {
                after(k)
            } else {
                (k.saturating_sub(2)..k)
                    .rev()
                    .find_map(|m| after(m).filter(|&(to, _)| to == k).map(|(_, c)| (m, c)))
            };
            let Some((m, conj)) = pair else { continue };
            if !candidate(m, &taken) {
                continue;
            }
            // Inside a list: joined by a conjunction, or with another item beyond it ("Hello,
            // Anna, how are you?" is no list).
            let inside = conj
                || if forward {
                    after(m).is_some_and(|(x, _)| item(x, &taken))
                } else {
                    // Or the first item of a list that goes on after the name: "Fanny, Elio,
                    // Diane".
                    (m.saturating_sub(2)..m)
                        .any(|p| after(p).is_some_and(|(to, _)| to == m) && item(p, &taken))
                        || after(k).is_some_and(|(x, _)| item(x, &taken))
                };
            if inside {
                named[m] = true;
                taken[m] = true;
                added.push((m, m));
            }
        }
    }
    if !added.is_empty() {
        found.extend(added);
        found.sort_unstable();
    }
}

/// A place of several words ("Sierra Leone", "San Juan", "Saint-Leu").
fn is_place(span: &str) -> bool {
    let mut folded = String::new();
    names::fold_into(span, &mut folded);
    let first = folded.split([' ', '-']).next().unwrap_or("");
    if matches!(
        first,
        "saint" | "sainte" | "san" | "santa" | "santo" | "sao" | "st" | "sankt" | "санкт" | "сан"
    ) {
        return true;
    }
    folded.contains(' ') && names::lookup(&folded).is_some_and(Entry::is_place)
}

/// Lower-case words after a cue count only if the lexicon knows them as names.
fn names_lowercase_ok(text: &str, w: &Word) -> bool {
    let mut f = String::new();
    names::fold_into(&text[w.start..w.end], &mut f);
    let mut buf = String::new();
    names::lookup(&f)
        .or_else(|| names::lookup_declined(&f, &mut buf))
        .is_some_and(|e| e.is_name() && !e.is_word())
}

/// Which part of a run of name-like words is a name, if any. `title_case`: a capitalised word
/// follows the run.
fn accepted(run: &[Word], title_case: bool) -> Option<(usize, usize)> {
    let strong = run.iter().filter(|w| w.role == Role::Strong).count();
    let weak = run.iter().filter(|w| w.role == Role::Weak).count();
    let initials = run.iter().filter(|w| w.role == Role::Initial).count();
    let unknown = run.iter().filter(|w| w.role == Role::Unknown).count();
    // A lone capitalised surname at the start of a sentence is as often an ordinary word
    // ("Dienst ist Dienst", "Язык включает"): only a first name counts there.
    if run.len() == 1 && run[0].sentence_start && run[0].role == Role::Strong && !run[0].first_name
    {
        return None;
    }
    // Names that are also ordinary words make a name only with each other and nothing else:
    // "Will Smith", but not "You're Supposed To Hate".
    // A first name that is also a word, capitalised after a lower-case word and not in title
    // case, is a name: "I told Will", "ask Peter", "у нас Вера" (but not "in May").
    let lone_first = run.len() == 1
        && run[0].role == Role::Weak
        && (run[0].first_name && !run[0].calendar && run[0].after_lower
            || run[0].place && run[0].after_lower_not_to)
        && !title_case
        && !run[0].hyphenated;
    let named = strong > 0
        || lone_first
        || (unknown == 0 && (weak >= 2 && !title_case || (weak == 1 && initials > 0)));
    if !named {
        return None;
    }
    // Unknown words join only next to a name, never as the first word of a sentence, and at
    // most one on each side.
    let is_name = |w: &Word| matches!(w.role, Role::Strong | Role::Weak | Role::Initial);
    let first_name = run.iter().position(is_name)?;
    let last_name = run.iter().rposition(is_name)?;
    let mut from = first_name;
    if from > 0
        && run[from - 1].role == Role::Unknown
        && !run[from - 1].sentence_start
        && !run[from - 1].arabic
    {
        from -= 1;
    }
    let mut to = last_name;
    // In Arabic script (no capitals), only a surname after a first name: "مریم احمدی".
    if to + 1 < run.len()
        && run[to + 1].role == Role::Unknown
        && (!run[to + 1].arabic || run[to].first_name)
    {
        to += 1;
    }
    Some((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        mentioned(text, &mut out);
        super::super::texts(text, &out)
    }

    #[test]
    fn third_party_names_in_six_languages() {
        assert_eq!(found("передайте Ольге Смирновой"), ["Ольге Смирновой"]);
        assert_eq!(found("please tell Maartje Visser"), ["Maartje Visser"]);
        assert_eq!(found("با مریم احمدی صحبت کردم"), ["مریم احمدی"]);
        assert_eq!(
            found("Ich habe mit Jürgen Schneider gesprochen"),
            ["Jürgen Schneider"]
        );
        assert_eq!(
            found("J'ai parlé à Camille Dubois hier"),
            ["Camille Dubois"]
        );
        // "Dün" (yesterday) is also a surname and goes with the name: more redacted, not less.
        assert_eq!(found("Dün Ayşe Yılmaz ile konuştum"), ["Dün Ayşe Yılmaz"]);
    }

    #[test]
    fn declined_russian_names() {
        assert_eq!(found("Я звонил Ивану Петрову"), ["Ивану Петрову"]);
        assert_eq!(found("это у Анны"), ["Анны"]);
        assert_eq!(found("спросите у Кузнецовой"), ["Кузнецовой"]);
    }

    #[test]
    fn titles_initials_and_cues() {
        assert_eq!(found("Ask Dr. K. Weber about it"), ["K. Weber"]);
        assert_eq!(found("стихи А.С. Пушкина"), ["А.С. Пушкина"]);
        assert_eq!(found("меня зовут олег"), ["олег"]);
        assert_eq!(found("My name is Xochitl Quispe."), ["Xochitl Quispe"]);
        assert_eq!(found("اسم من نگار است"), ["نگار"]);
        assert_eq!(found("Name: Tiwa Okafor"), ["Tiwa Okafor"]);
    }

    #[test]
    fn names_that_are_ordinary_words_need_context() {
        assert!(found("Will you help me? I will come in May.").is_empty());
        assert!(found("Вера в лучшее помогает").is_empty());
        assert_eq!(found("I spoke to Will Smith"), ["Will Smith"]);
        assert_eq!(found("Call Mrs. Rose tomorrow"), ["Rose"]);
    }

    #[test]
    fn lists_of_names_take_their_other_items() {
        assert_eq!(
            found("They had 6: Rania, Luka, Abdoulaye, Hiba and Safa."),
            ["Rania", "Luka", "Abdoulaye", "Hiba", "Safa"]
        );
        assert_eq!(found("Dear Anna, Thank you for the call"), ["Anna"]);
        assert_eq!(found("Hello, Anna, how are you?"), ["Anna"]);
        assert_eq!(found("Thanks, Anna, that helps"), ["Anna"]);
        assert_eq!(found("Hi Anna, Sorry, I missed it"), ["Anna"]);
        assert_eq!(found("با مریم و برادرش رفتیم"), ["مریم"]);
        assert_eq!(found("We moved to Rome, Anna and I"), ["Anna"]);
        // "Ruby" after a verb reads as a name (a trade), but a name that is also a word seeds
        // no list.
        assert_eq!(found("It runs Ruby, Scheme and Tcl"), ["Ruby"]);
    }

    #[test]
    fn speakers_degrees_forms_of_address_and_suffixes() {
        assert_eq!(
            found("Natsuhiko: \"Who are you?\"\nOtohiko: \"Me.\""),
            ["Natsuhiko", "Otohiko"]
        );
        assert!(found("Subject: refund for order 12").is_empty());
        // One label shaped like a line of dialogue is not a speaker.
        assert!(found("Error: \"file not found\"").is_empty());
        assert!(found("Translate: \"Guten Morgen\"").is_empty());
        assert_eq!(found("Sayın Ahmet Bey"), ["Ahmet"]);
        assert_eq!(found("Please ask Ed's brother"), ["Ed"]);
        assert_eq!(found("Dr. med. Geisler flew to Wetter"), ["Geisler"]);
        assert_eq!(found("Yarın Ahmet Bey gelecek"), ["Ahmet"]);
        assert_eq!(found("Zorlutuna Bey geldi"), ["Zorlutuna"]);
        assert_eq!(found("It was Maartje's idea"), ["Maartje"]);
        assert_eq!(found("Bu Ayşe'nin kitabı"), ["Ayşe"]);
        assert_eq!(found("Je m'appelle Camille"), ["Camille"]);
    }

    #[test]
    fn a_name_that_is_a_word_after_a_lower_case_word() {
        assert_eq!(found("I told Will about it"), ["Will"]);
        assert_eq!(found("I told Will I would come"), ["Will"]);
        assert_eq!(found("у нас Вера работает"), ["Вера"]);
        assert!(found("We Will Rock You").is_empty());
        assert!(found("See you in May, or in June").is_empty());
        assert!(found("My friend lives in Van").is_empty());
        // A surname that is also a town: a name after a verb, a place after "to" or "in".
        assert_eq!(found("\"Fine,\" says Torres."), ["Torres"]);
        assert!(found("We flew to London, then to Rome.").is_empty());
        assert!(found("We flew to London and Rome").is_empty());
    }

    #[test]
    fn places_months_and_weekdays_are_not_names() {
        assert!(found("We open on Monday in January in Berlin").is_empty());
        assert!(found("Доставка в Москву в понедельник").is_empty());
    }
}
