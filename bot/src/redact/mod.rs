//! PII redaction before every LLM call.
//!
//! [`Redactor::redact`] replaces each piece of personal data in a message with a placeholder
//! such as `[PHONE_1]` and returns a [`RedactedText`], the only text type the LLM client accepts.
//! The [`Placeholders`] it fills stay in memory for the request; [`Placeholders::restore`] puts the
//! originals back into the model's answer. Detection is validated, not a bare regex: phone numbers
//! by libphonenumber metadata, cards by issuer range and Luhn, IBANs by length and mod 97,
//! national ids by their check digits.
//!
//! Redaction fails closed: any error (or a bug that panics inside a recognizer) is returned as a
//! [`RedactError`], and the pipeline then forwards nothing.

mod address;
mod checks;
mod documents;
mod email;
pub mod eval;
mod iban;
mod ip;
mod mentioned;
pub mod names;
mod normalize;
mod numbers;
mod person;
mod placeholders;
mod url;

use std::{
    collections::{BTreeMap, HashMap},
    panic::AssertUnwindSafe,
};

use serde::{Deserialize, Serialize};

pub use normalize::Normalized;
pub use numbers::DEFAULT_PHONE_REGIONS;
pub use placeholders::Placeholders;

/// What a detected span is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Kind {
    Email,
    Phone,
    Card,
    Iban,
    Ip,
    NationalId,
    Url,
    Person,
    Address,
    /// A deployment-specific pattern from the configuration.
    Custom,
}

impl Kind {
    pub const BUILT_IN: [Kind; 9] = [
        Kind::Email,
        Kind::Phone,
        Kind::Card,
        Kind::Iban,
        Kind::Ip,
        Kind::NationalId,
        Kind::Url,
        Kind::Person,
        Kind::Address,
    ];

    /// The type name used in placeholders (by default) and in the eval format.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Email => "EMAIL",
            Kind::Phone => "PHONE",
            Kind::Card => "CARD",
            Kind::Iban => "IBAN",
            Kind::Ip => "IP",
            Kind::NationalId => "NATIONAL_ID",
            Kind::Url => "URL",
            Kind::Person => "PERSON",
            Kind::Address => "ADDRESS",
            Kind::Custom => "CUSTOM",
        }
    }

    /// The configuration key of a detector: `email`, `phone`, … `national_id`.
    pub fn config_key(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Card => "card",
            Kind::Iban => "iban",
            Kind::Ip => "ip",
            Kind::NationalId => "national_id",
            Kind::Url => "url",
            Kind::Person => "person",
            Kind::Address => "address",
            Kind::Custom => "custom",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::BUILT_IN
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name) || k.config_key() == name)
    }

    /// When two detections overlap, the higher priority wins (a URL holding an e-mail address is
    /// one URL; an e-mail address holding a user name is one e-mail address).
    fn priority(self) -> u8 {
        match self {
            Kind::Url => 9,
            Kind::Email => 8,
            Kind::Iban => 7,
            Kind::Card => 6,
            Kind::NationalId => 6,
            Kind::Phone => 5,
            Kind::Ip => 4,
            Kind::Address => 3,
            Kind::Custom => 3,
            Kind::Person => 2,
        }
    }
}

/// A detection, in byte offsets of the normalised text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
    /// For `Kind::Custom`, which configured pattern found it.
    pub custom: Option<usize>,
}

impl Span {
    /// A built-in detector's span.
    pub(crate) fn found(kind: Kind, start: usize, end: usize) -> Span {
        Span {
            start,
            end,
            kind,
            custom: None,
        }
    }
}

/// What the channel told us about the sender: their own names, username and phone number are
/// redacted wherever they appear in their text.
#[derive(Clone, Debug, Default)]
pub struct Hints {
    pub terms: Vec<String>,
}

impl Hints {
    /// The sender's names in every form they write them: the whole name and each part of it
    /// ("Anna-Maria Kowalska-Nowak", "Al Rashid"), without emoji or symbols, and with diacritics
    /// folded as well ("Zoë Müller" also as "Zoe Muller"); the username without its `@`.
    pub fn from_sender(sender: &consentgate_adapters::Sender) -> Self {
        let mut terms: Vec<String> = Vec::new();
        let mut add = |term: &str| {
            let term = term.trim();
            if term.chars().filter(|c| c.is_alphabetic()).count() >= 2
                && !terms.iter().any(|t| t == term)
            {
                terms.push(term.to_string());
            }
        };
        let mut folded = String::new();
        for name in [sender.first_name.as_deref(), sender.last_name.as_deref()]
            .into_iter()
            .flatten()
        {
            let letters: String = name
                .chars()
                .map(|c| {
                    if c.is_alphabetic() || matches!(c, '-' | '\'' | '’') {
                        c
                    } else {
                        ' '
                    }
                })
                .collect();
            let whole = letters.split_whitespace().collect::<Vec<_>>().join(" ");
            for form in [whole.as_str()].into_iter().chain(whole.split([' ', '-'])) {
                add(form);
                names::fold_into(form, &mut folded);
                if !form.to_lowercase().eq(&folded) {
                    add(&folded);
                }
            }
        }
        if let Some(username) = sender.username.as_deref() {
            let username = username.trim().trim_start_matches('@');
            if username.chars().count() >= 3 {
                add(username);
            }
        }
        Hints { terms }
    }
}

/// A finder of one or more kinds of personal data. Implement it to add a recognizer.
pub trait Recognizer: Send + Sync {
    /// Appends what it finds in `text` (already digit-normalised) to `out`. An error means the
    /// text cannot be redacted reliably, and nothing is forwarded.
    fn find(&self, text: &str, hints: &Hints, out: &mut Vec<Span>) -> Result<(), String>;
}

/// How a configured pattern's matches are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Validator {
    Luhn,
    Mod97,
}

/// A deployment-specific pattern.
#[derive(Clone, Debug)]
pub struct CustomPattern {
    pub label: String,
    pub regex: regex::Regex,
    pub validator: Option<Validator>,
}

/// Redaction settings, validated from the configuration.
#[derive(Clone, Debug)]
pub struct RedactSettings {
    /// Regions tried, in order, for phone numbers written without a country code.
    pub phone_regions: Vec<phonenumber::country::Id>,
    /// Detectors switched off.
    pub disabled: Vec<Kind>,
    /// Placeholder labels other than the default type names.
    pub labels: HashMap<Kind, String>,
    pub custom: Vec<CustomPattern>,
    /// Longer texts are refused (nothing is forwarded).
    pub max_chars: usize,
}

impl Default for RedactSettings {
    fn default() -> Self {
        RedactSettings {
            phone_regions: DEFAULT_PHONE_REGIONS.to_vec(),
            disabled: Vec::new(),
            labels: HashMap::new(),
            custom: Vec::new(),
            max_chars: 64 * 1024,
        }
    }
}

/// Why a text was not redacted. The text is then not forwarded.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    #[error("the text is {chars} characters long; at most {max} are redacted and forwarded")]
    TooLong { chars: usize, max: usize },
    #[error("a recognizer failed: {0}")]
    Recognizer(String),
}

/// Text with personal data replaced by placeholders: the only text an LLM provider receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedactedText {
    text: String,
    counts: BTreeMap<String, usize>,
}

impl RedactedText {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// How many items of each label were replaced (for the audit log and metrics).
    pub fn counts(&self) -> &BTreeMap<String, usize> {
        &self.counts
    }
}

/// A detection in Unicode-character offsets of the original text (the eval format).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Detection {
    pub start: usize,
    pub end: usize,
    #[serde(rename = "type")]
    pub kind: Kind,
}

/// The configured set of recognizers.
pub struct Redactor {
    recognizers: Vec<Box<dyn Recognizer>>,
    settings: RedactSettings,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("recognizers", &self.recognizers.len())
            .finish_non_exhaustive()
    }
}

struct CustomRecognizer {
    patterns: Vec<CustomPattern>,
}

impl Recognizer for CustomRecognizer {
    fn find(&self, text: &str, _: &Hints, out: &mut Vec<Span>) -> Result<(), String> {
        for (i, p) in self.patterns.iter().enumerate() {
            for m in p.regex.find_iter(text) {
                let ok = match p.validator {
                    None => true,
                    Some(Validator::Luhn) => {
                        let d: Vec<u8> = m
                            .as_str()
                            .bytes()
                            .filter(u8::is_ascii_digit)
                            .map(|b| b - b'0')
                            .collect();
                        checks::luhn(&d)
                    }
                    Some(Validator::Mod97) => {
                        let c: Vec<u8> = m
                            .as_str()
                            .bytes()
                            .filter(u8::is_ascii_alphanumeric)
                            .map(|b| b.to_ascii_uppercase())
                            .collect();
                        checks::iban_mod97(&c)
                    }
                };
                if ok && !m.is_empty() {
                    out.push(Span {
                        start: m.start(),
                        end: m.end(),
                        kind: Kind::Custom,
                        custom: Some(i),
                    });
                }
            }
        }
        Ok(())
    }
}

impl Redactor {
    pub fn new(settings: RedactSettings) -> Self {
        let mut recognizers: Vec<Box<dyn Recognizer>> = vec![
            Box::new(numbers::Numbers::new(settings.phone_regions.clone())),
            Box::new(email::Email::new()),
            Box::new(url::SecretUrl::new()),
            Box::new(iban::Iban::new()),
            Box::new(ip::Ipv6::new()),
            Box::new(person::Person::new()),
            Box::new(address::Address),
            Box::new(documents::Documents),
        ];
        if !settings.custom.is_empty() {
            recognizers.push(Box::new(CustomRecognizer {
                patterns: settings.custom.clone(),
            }));
        }
        Redactor {
            recognizers,
            settings,
        }
    }

    /// Adds a recognizer of the deployment's own.
    pub fn with_recognizer(mut self, recognizer: Box<dyn Recognizer>) -> Self {
        self.recognizers.push(recognizer);
        self
    }

    fn label(&self, span: &Span) -> String {
        if let Some(i) = span.custom {
            return self.settings.custom[i].label.clone();
        }
        self.settings
            .labels
            .get(&span.kind)
            .cloned()
            .unwrap_or_else(|| span.kind.name().to_string())
    }

    /// Finds every span to replace, overlaps resolved, in order of position.
    fn spans(&self, normalized: &Normalized<'_>, hints: &Hints) -> Result<Vec<Span>, RedactError> {
        let chars = normalized.original.chars().count();
        if chars > self.settings.max_chars {
            return Err(RedactError::TooLong {
                chars,
                max: self.settings.max_chars,
            });
        }
        let text: &str = &normalized.text;
        let found = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut all = Vec::new();
            for r in &self.recognizers {
                r.find(text, hints, &mut all)?;
            }
            Ok::<_, String>(all)
        }))
        .map_err(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            RedactError::Recognizer(what)
        })?
        .map_err(RedactError::Recognizer)?;
        // A span that does not fit the text is a recognizer bug: fail closed rather than skip it.
        if let Some(bad) = found.iter().find(|s| {
            s.start >= s.end
                || s.end > text.len()
                || !text.is_char_boundary(s.start)
                || !text.is_char_boundary(s.end)
        }) {
            return Err(RedactError::Recognizer(format!(
                "a {} span does not fit the text",
                bad.kind.name()
            )));
        }
        let mut candidates: Vec<Span> = found
            .into_iter()
            .filter(|s| !self.settings.disabled.contains(&s.kind))
            .collect();
        // Overlapping detections are merged into one span covering all of them, named after the
        // highest-priority one: nothing found by any recognizer is left partly in the clear.
        candidates.sort_by_key(|s| s.start);
        let mut kept: Vec<Span> = Vec::with_capacity(candidates.len());
        for c in candidates {
            match kept.last_mut() {
                Some(last) if c.start < last.end => {
                    let better = c.kind.priority() > last.kind.priority()
                        || (c.kind.priority() == last.kind.priority()
                            && c.end - c.start > last.end - last.start);
                    if better {
                        last.kind = c.kind;
                        last.custom = c.custom;
                    }
                    last.end = last.end.max(c.end);
                }
                _ => kept.push(c),
            }
        }
        Ok(kept)
    }

    /// Replaces personal data with placeholders recorded in `placeholders`.
    pub fn redact(
        &self,
        text: &str,
        hints: &Hints,
        placeholders: &mut Placeholders,
    ) -> Result<RedactedText, RedactError> {
        let normalized = Normalized::new(text);
        let spans = self.spans(&normalized, hints)?;
        placeholders.reserve_existing(text);
        let mut out = String::with_capacity(text.len());
        let mut counts = BTreeMap::new();
        let mut last = 0;
        for span in &spans {
            let start = normalized.original_offset(span.start);
            let end = normalized.original_offset(span.end);
            if start < last || end > text.len() || start >= end {
                return Err(RedactError::Recognizer("spans out of order".into()));
            }
            out.push_str(&text[last..start]);
            let label = self.label(span);
            let placeholder = placeholders.placeholder(&label, &text[start..end]);
            out.push_str(&placeholder);
            *counts.entry(label).or_insert(0) += 1;
            last = end;
        }
        out.push_str(&text[last..]);
        Ok(RedactedText { text: out, counts })
    }

    /// What would be redacted, in character offsets of `text` (for `consentgate redact eval`).
    pub fn detect(&self, text: &str, hints: &Hints) -> Result<Vec<Detection>, RedactError> {
        let normalized = Normalized::new(text);
        let spans = self.spans(&normalized, hints)?;
        Ok(spans
            .into_iter()
            .map(|s| {
                let start = normalized.original_offset(s.start);
                let end = normalized.original_offset(s.end);
                Detection {
                    start: text[..start].chars().count(),
                    end: text[..end].chars().count(),
                    kind: s.kind,
                }
            })
            .collect())
    }
}

/// The texts of `spans` in `text`, for the detectors' tests.
#[cfg(test)]
fn texts<'a>(text: &'a str, spans: &[Span]) -> Vec<&'a str> {
    spans.iter().map(|s| &text[s.start..s.end]).collect()
}

#[cfg(test)]
mod tests;
