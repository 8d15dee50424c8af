//! Phone numbering plans from libphonenumber's metadata, compiled once per region.

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex},
};

/// A region's numbering plan, compiled once from libphonenumber's metadata (the `phonenumber`
/// crate's database): the national prefix, and for the general description and each number
/// type (mobile, fixed line, toll free …) the possible lengths and the national-number pattern.
/// A number is valid when it fits the general description and at least one type, as
/// libphonenumber's `isValidNumber` decides; checking it here avoids the crate's full parser and
/// its global regex cache, which dominated redaction time.
pub(super) struct Plan {
    national_prefix: Option<String>,
    general: Pattern,
    types: Vec<Pattern>,
}

pub(super) struct Pattern {
    lengths: Vec<usize>,
    regex: regex::Regex,
}

impl Pattern {
    fn from(desc: &phonenumber::metadata::Descriptor) -> Option<Pattern> {
        // The metadata keeps the XML's layout whitespace inside patterns.
        let pattern: String = desc
            .national_number()
            .as_str()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        Some(Pattern {
            lengths: desc
                .possible_length()
                .iter()
                .map(|l| usize::from(*l))
                .collect(),
            regex: regex::Regex::new(&format!("^(?:{pattern})$")).ok()?,
        })
    }

    pub(super) fn matches(&self, nsn: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&nsn.len())) && self.regex.is_match(nsn)
    }
}

impl Plan {
    pub(super) fn compile(meta: &phonenumber::Metadata) -> Option<Plan> {
        let d = meta.descriptors();
        let types = [
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
            d.fixed_line(),
            d.mobile(),
        ]
        .into_iter()
        .flatten()
        .filter_map(Pattern::from)
        .collect();
        Some(Plan {
            national_prefix: meta.national_prefix().map(str::to_string),
            general: Pattern::from(d.general())?,
            types,
        })
    }

    pub(super) fn valid_nsn(&self, nsn: &str) -> bool {
        self.general.matches(nsn) && self.types.iter().any(|t| t.matches(nsn))
    }

    /// Whether `digits`, written the way people dial inside the region (with or without the
    /// national prefix), is a valid number there.
    pub(super) fn valid_national(&self, digits: &str) -> bool {
        if self.valid_nsn(digits) {
            return true;
        }
        match &self.national_prefix {
            Some(p) => digits
                .strip_prefix(p.as_str())
                .is_some_and(|rest| self.valid_nsn(rest)),
            None => false,
        }
    }
}

/// Plans by region id, compiled on first use and shared by every redactor in the process.
pub(super) fn plan(id: &str) -> Option<Arc<Plan>> {
    static PLANS: LazyLock<Mutex<HashMap<String, Option<Arc<Plan>>>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    let mut plans = PLANS.lock().unwrap_or_else(|e| e.into_inner());
    plans
        .entry(id.to_string())
        .or_insert_with(|| {
            phonenumber::metadata::DATABASE
                .by_id(id)
                .and_then(Plan::compile)
                .map(Arc::new)
        })
        .clone()
}

/// Whether `digits` (after a `+` or `00`) is a valid international number: a country calling
/// code of one to three digits, then a valid national number of a region using that code.
pub(super) fn valid_international(digits: &str) -> bool {
    (1..=3).filter(|n| *n < digits.len()).any(|n| {
        let Ok(code) = digits[..n].parse::<u16>() else {
            return false;
        };
        let nsn = &digits[n..];
        phonenumber::metadata::DATABASE
            .by_code(&code)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|meta| plan(meta.id()))
            .any(|plan| plan.valid_nsn(nsn))
    })
}
