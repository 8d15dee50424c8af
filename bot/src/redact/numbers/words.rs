//! The words that tell a digit run's meaning, in the languages the redactor reads: keywords that
//! name a national id, words that say a number is not about a person (order, invoice …), words
//! that announce a phone number, currencies; the default regions for local phone numbers.

use std::sync::LazyLock;

use phonenumber::country::Id;

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

/// Which id a keyword just before a number names.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum IdKeyword {
    /// ИНН: Russian taxpayer number.
    Inn,
    /// СНИЛС: Russian pension insurance number.
    Snils,
    /// کد ملی: Iranian national code.
    IranCode,
    /// "national id", "tax id": any of them.
    Any,
}

pub(super) const ID_CONTEXT: [(&str, IdKeyword); 16] = [
    ("инн", IdKeyword::Inn),
    ("inn", IdKeyword::Inn),
    ("инн/кпп", IdKeyword::Inn),
    ("снилс", IdKeyword::Snils),
    ("snils", IdKeyword::Snils),
    ("کد ملی", IdKeyword::IranCode),
    ("کدملی", IdKeyword::IranCode),
    ("کد ملي", IdKeyword::IranCode),
    ("شماره ملی", IdKeyword::IranCode),
    ("melli", IdKeyword::IranCode),
    ("код мелли", IdKeyword::IranCode),
    ("national code", IdKeyword::IranCode),
    ("ملی", IdKeyword::IranCode),
    ("national id", IdKeyword::Any),
    ("tax id", IdKeyword::Any),
    ("taxpayer", IdKeyword::Any),
];

/// Words that, just before a number, say it is not a person's number: order, invoice and
/// tracking numbers, and company registration codes.
pub(super) const NOT_PERSONAL: [&str; 34] = [
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
    "отслеж",
    "відстеж",
    "кпп",
    "бик",
    "огрн",
    "окпо",
    "سفارش",
    "فاکتور",
    "پیگیری",
    "مرسوله",
    "bestell",
    "sendung",
    "rechnung",
    "commande",
    "suivi",
    "facture",
    "colis",
    "sipariş",
    "takip",
    "kargo",
    "fatura",
    "замовлення",
    "посилк",
];

/// Case variants of each keyword (lower, UPPER, Capitalised), so the automaton can search the
/// text as written instead of lower-casing a window around every number.
pub(in crate::redact) fn case_variants(word: &str) -> Vec<String> {
    let mut capitalised = String::new();
    let mut chars = word.chars();
    if let Some(first) = chars.next() {
        capitalised.extend(first.to_uppercase());
        capitalised.push_str(chars.as_str());
    }
    let mut v = vec![word.to_string(), word.to_uppercase(), capitalised];
    v.sort();
    v.dedup();
    v
}

/// The id keywords, with the id each names (by pattern index).
pub(super) static ID_WORDS: LazyLock<(aho_corasick::AhoCorasick, Vec<IdKeyword>)> =
    LazyLock::new(|| {
        let mut words = Vec::new();
        let mut kinds = Vec::new();
        for (word, kind) in ID_CONTEXT {
            for v in case_variants(word) {
                words.push(v);
                kinds.push(kind);
            }
        }
        let automaton = aho_corasick::AhoCorasick::new(&words).expect("static keywords");
        (automaton, kinds)
    });

pub(super) static NOT_PERSONAL_WORDS: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
    let words: Vec<String> = NOT_PERSONAL.iter().flat_map(|w| case_variants(w)).collect();
    aho_corasick::AhoCorasick::new(&words).expect("static keywords")
});

/// Words that say a number is someone's phone; they outweigh an order keyword nearby.
pub(super) const PHONE_WORDS: [&str; 22] = [
    "phone",
    "tel",
    "call",
    "mobile",
    "cell",
    "whatsapp",
    "телефон",
    "тел",
    "звон",
    "моб",
    "позвон",
    "تلفن",
    "تماس",
    "موبایل",
    "شماره من",
    "handy",
    "telefon",
    "téléphone",
    "portable",
    "numaram",
    "ara",
    "anruf",
];

pub(super) static PHONE_WORD_SET: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
    let words: Vec<String> = PHONE_WORDS.iter().flat_map(|w| case_variants(w)).collect();
    aho_corasick::AhoCorasick::new(&words).expect("static keywords")
});

/// Whether `text[start..end]` begins a word (keyword stems such as "sendung" or "накладн" may
/// run on: "Sendungsnummer", "накладной"). Symbols (#, №) need no boundary.
pub(super) fn starts_word(text: &str, start: usize) -> bool {
    let symbol = text[start..]
        .chars()
        .next()
        .is_some_and(|c| !c.is_alphanumeric());
    symbol
        || !text[..start]
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric)
}

/// Whether `text[start..end]` stands as a word of its own ("inn" is not in "dinner" nor in
/// "innovation").
pub(super) fn whole_word(text: &str, start: usize, end: usize) -> bool {
    starts_word(text, start)
        && !text[end..]
            .chars()
            .next()
            .is_some_and(char::is_alphanumeric)
}

/// Whether the words right before a number say it is an order, invoice or tracking number (and
/// nothing says it is a phone).
pub(super) fn not_personal(context: &str) -> bool {
    let near_from = context.len().saturating_sub(24);
    let says_not_personal = NOT_PERSONAL_WORDS.find_overlapping_iter(context).any(|m| {
        m.end() >= near_from && starts_word(context, m.start()) && {
            // A symbol keyword (#, №) must be right before the number.
            let word = &context[m.start()..m.end()];
            word.chars().any(char::is_alphanumeric) || context[m.end()..].trim().is_empty()
        }
    });
    says_not_personal
        && !PHONE_WORD_SET
            .find_overlapping_iter(context)
            .any(|m| starts_word(context, m.start()))
}

/// Words or symbols that, just after a number, make it an amount.
pub(super) const CURRENCY: [&str; 20] = [
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
