//! `[redact]`: how personal data is found and replaced before every LLM call.

use std::collections::HashMap;

use serde::Deserialize;

use super::{ConfigError, bad};
use crate::redact::{CustomPattern, Kind, RedactSettings, Validator};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRedact {
    /// Regions tried, in order, for phone numbers without a country code (ISO 3166 codes).
    pub(super) phone_regions: Option<Vec<String>>,
    pub(super) max_chars: Option<usize>,
    /// Per detector (`email`, `phone`, `card`, `iban`, `ip`, `national_id`, `url`, `person`,
    /// `address`).
    #[serde(default)]
    pub(super) detectors: HashMap<String, FileDetector>,
    #[serde(default)]
    pub(super) patterns: Vec<FilePattern>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileDetector {
    pub(super) enabled: Option<bool>,
    pub(super) label: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FilePattern {
    pub(super) label: String,
    pub(super) pattern: String,
    pub(super) validator: Option<Validator>,
}

/// A placeholder label: upper-case words joined by single underscores (TEL, NATIONAL_ID), so a
/// placeholder the model re-spaces still names it.
pub(super) fn valid_label(label: &str) -> bool {
    label.len() <= 32
        && label.split('_').all(|word| {
            let mut chars = word.chars();
            chars.next().is_some_and(|c| c.is_ascii_uppercase())
                && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
}

/// Redaction as configured: regions for local phone numbers, detectors turned off or
/// relabelled, and the business's own patterns.
pub(super) fn settings(file: Option<FileRedact>) -> Result<RedactSettings, ConfigError> {
    let mut settings = RedactSettings::default();
    let Some(file) = file else {
        return Ok(settings);
    };
    if let Some(regions) = file.phone_regions {
        settings.phone_regions = regions
            .iter()
            .map(|r| {
                r.trim()
                    .to_ascii_uppercase()
                    .parse::<phonenumber::country::Id>()
                    .map_err(|_| {
                        bad(
                            "redact.phone_regions",
                            format!("`{r}` is not a two-letter region code such as RU or IR"),
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
    }
    if let Some(max) = file.max_chars {
        if max == 0 {
            return Err(bad("redact.max_chars", "must be at least 1"));
        }
        settings.max_chars = max;
    }
    for (key, detector) in file.detectors {
        let place = format!("redact.detectors.{key}");
        let kind = Kind::BUILT_IN
            .into_iter()
            .find(|k| k.config_key() == key)
            .ok_or_else(|| {
                bad(&place, "unknown detector; expected one of email, phone, card, iban, ip, national_id, url, person, address")
            })?;
        if detector.enabled == Some(false) {
            settings.disabled.push(kind);
        }
        if let Some(label) = detector.label {
            if !valid_label(&label) {
                return Err(bad(
                    format!("{place}.label"),
                    "use A-Z, 0-9 and _, starting with a letter (e.g. TEL)",
                ));
            }
            settings.labels.insert(kind, label);
        }
    }
    for (i, p) in file.patterns.into_iter().enumerate() {
        let place = format!("redact.patterns[{i}]");
        if !valid_label(&p.label) {
            return Err(bad(
                format!("{place}.label"),
                "use A-Z, 0-9 and _, starting with a letter",
            ));
        }
        let regex = regex::RegexBuilder::new(&p.pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| bad(format!("{place}.pattern"), e.to_string()))?;
        settings.custom.push(CustomPattern {
            label: p.label,
            regex,
            validator: p.validator,
        });
    }
    Ok(settings)
}
