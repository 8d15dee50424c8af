//! `consentgate redact eval`: precision and recall of the redactor on a labelled JSONL file.
//!
//! Each line is `{"text": "...", "spans": [{"start": 0, "end": 12, "type": "PHONE"}]}` with
//! offsets in Unicode characters. A predicted span is a true positive when it overlaps a labelled
//! span of the same type, else a false positive; a labelled span no prediction of its type
//! overlaps is a false negative.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Hints, Kind, Redactor};

#[derive(Deserialize)]
struct Sample {
    text: String,
    #[serde(default)]
    spans: Vec<Labelled>,
}

#[derive(Deserialize)]
struct Labelled {
    start: usize,
    end: usize,
    #[serde(rename = "type")]
    kind: String,
}

/// Counts and scores for one type (or overall).
#[derive(Default, Serialize, Clone, Debug, PartialEq)]
pub struct Score {
    /// Predicted spans that overlap a labelled span of their type.
    pub tp: usize,
    /// Predicted spans that do not.
    pub fp: usize,
    /// Labelled spans no prediction of their type overlaps.
    #[serde(rename = "fn")]
    pub fn_: usize,
    /// Labelled spans in all.
    pub labelled: usize,
    pub precision: f64,
    /// Labelled spans found / labelled spans.
    pub recall: f64,
}

impl Score {
    fn finish(&mut self) {
        let predicted = self.tp + self.fp;
        self.precision = if predicted == 0 {
            1.0
        } else {
            self.tp as f64 / predicted as f64
        };
        self.recall = if self.labelled == 0 {
            1.0
        } else {
            (self.labelled - self.fn_) as f64 / self.labelled as f64
        };
    }
}

/// A labelled span not found, or a detection that matches no label.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Miss {
    /// Line number in the file.
    pub line: usize,
    /// `missed` (a false negative) or `extra` (a false positive).
    pub what: &'static str,
    #[serde(rename = "type")]
    pub kind: String,
    /// The span's text.
    pub span: String,
    pub text: String,
}

/// The whole report.
#[derive(Serialize, Debug)]
pub struct Report {
    pub samples: usize,
    /// Rows with no labelled span that came through unchanged.
    pub clean_rows: usize,
    pub clean_rows_unchanged: usize,
    pub per_type: BTreeMap<String, Score>,
    pub overall: Score,
    /// Email, phone, card, IBAN, IP and national id together.
    pub structured: Score,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub misses: Vec<Miss>,
}

/// Why an eval file could not be scored.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("line {line}: {problem}")]
    Line { line: usize, problem: String },
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

fn structured(kind: &str) -> bool {
    matches!(
        kind,
        "EMAIL" | "PHONE" | "CARD" | "IBAN" | "IP" | "NATIONAL_ID"
    )
}

/// Scores `redactor` on the JSONL `input`; with `list_misses`, every miss is listed too.
pub fn evaluate(redactor: &Redactor, input: &str, list_misses: bool) -> Result<Report, EvalError> {
    let mut per_type: BTreeMap<String, Score> = BTreeMap::new();
    let mut samples = 0;
    let mut clean_rows = 0;
    let mut clean_rows_unchanged = 0;
    let mut misses = Vec::new();

    for (i, line) in input.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |problem: String| EvalError::Line {
            line: i + 1,
            problem,
        };
        let sample: Sample = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let chars = sample.text.chars().count();
        for l in &sample.spans {
            if l.start >= l.end || l.end > chars {
                return Err(bad(format!(
                    "span {}..{} is outside the text",
                    l.start, l.end
                )));
            }
            if Kind::from_name(&l.kind).is_none() {
                return Err(bad(format!("unknown type {}", l.kind)));
            }
        }
        samples += 1;
        let predicted = redactor
            .detect(&sample.text, &Hints::default())
            .map_err(|e| bad(e.to_string()))?;
        let miss = |what: &'static str, kind: &str, start: usize, end: usize| Miss {
            line: i + 1,
            what,
            kind: kind.to_string(),
            span: sample.text.chars().skip(start).take(end - start).collect(),
            text: sample.text.clone(),
        };
        if sample.spans.is_empty() {
            clean_rows += 1;
            if predicted.is_empty() {
                clean_rows_unchanged += 1;
            }
        }
        for p in &predicted {
            let name = p.kind.name();
            let hit = sample.spans.iter().any(|l| {
                l.kind.eq_ignore_ascii_case(name) && overlaps((p.start, p.end), (l.start, l.end))
            });
            let score = per_type.entry(name.to_string()).or_default();
            if hit {
                score.tp += 1;
            } else {
                score.fp += 1;
                if list_misses {
                    misses.push(miss("extra", name, p.start, p.end));
                }
            }
        }
        for l in &sample.spans {
            let name = l.kind.to_ascii_uppercase();
            let found = predicted
                .iter()
                .any(|p| p.kind.name() == name && overlaps((p.start, p.end), (l.start, l.end)));
            let score = per_type.entry(name.clone()).or_default();
            score.labelled += 1;
            if !found {
                score.fn_ += 1;
                if list_misses {
                    misses.push(miss("missed", &name, l.start, l.end));
                }
            }
        }
    }
    let mut overall = Score::default();
    let mut structured_score = Score::default();
    for (name, s) in per_type.iter_mut() {
        s.finish();
        for total in [
            Some(&mut overall),
            structured(name).then_some(&mut structured_score),
        ]
        .into_iter()
        .flatten()
        {
            total.tp += s.tp;
            total.fp += s.fp;
            total.fn_ += s.fn_;
            total.labelled += s.labelled;
        }
    }
    overall.finish();
    structured_score.finish();
    Ok(Report {
        samples,
        clean_rows,
        clean_rows_unchanged,
        per_type,
        overall,
        structured: structured_score,
        misses,
    })
}
