//! Placeholders and their restoration.

use std::{collections::HashMap, fmt, sync::LazyLock};

use regex::Regex;

/// The mapping of placeholders to the values they stand for, for one conversation turn. The
/// same value always gets the same placeholder; a placeholder never carries the value.
#[derive(Default, Clone)]
pub struct Placeholders {
    /// (label, value) → placeholder number.
    numbers: HashMap<(String, String), usize>,
    /// (upper-case label, number) → value.
    values: HashMap<(String, usize), String>,
    counters: HashMap<String, usize>,
    /// Placeholder-shaped tokens the person typed themselves: never issued, never filled in.
    taken: std::collections::HashSet<(String, usize)>,
}

impl fmt::Debug for Placeholders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Placeholders({} values, <redacted>)", self.values.len())
    }
}

/// Placeholders as a model may write them back: any case, spaces inside the brackets, a space
/// or hyphen instead of the underscore, and sometimes without the brackets.
static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i:\[\s*([a-z][a-z0-9_ -]*?)[\s_-]*([0-9]{1,4})\s*\])|(?-u:\b)([A-Z][A-Z0-9_]*?)_([0-9]{1,4})(?-u:\b)",
    )
    .expect("static regex")
});

/// The (upper-case label, number) a placeholder match names.
fn parse(caps: &regex::Captures<'_>) -> Option<(String, usize)> {
    let (label, number) = match (caps.get(1), caps.get(2), caps.get(3), caps.get(4)) {
        (Some(l), Some(n), _, _) | (_, _, Some(l), Some(n)) => (l.as_str(), n.as_str()),
        _ => return None,
    };
    let label = label
        .split([' ', '-', '_'])
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("_")
        .to_ascii_uppercase();
    Some((label, number.parse().ok()?))
}

impl Placeholders {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Notes placeholder-shaped text already in the person's message ("Dear [PERSON_1]"), so
    /// that the numbers are skipped when issuing and the model's echo of that text is left as
    /// typed instead of being filled with someone's value.
    pub fn reserve_existing(&mut self, text: &str) {
        // Both placeholder forms contain "[" or "_" and a digit; most messages have neither.
        let bracketed = text.contains('[');
        let bare = text
            .as_bytes()
            .windows(2)
            .any(|w| w[0] == b'_' && w[1].is_ascii_digit());
        if !bracketed && !bare {
            return;
        }
        for caps in PLACEHOLDER.captures_iter(text) {
            if let Some((label, n)) = parse(&caps) {
                self.taken.insert((label, n));
            }
        }
    }

    /// The placeholder for `value` under `label`, e.g. `[PHONE_1]`.
    pub fn placeholder(&mut self, label: &str, value: &str) -> String {
        let key = (label.to_string(), value.to_string());
        let n = match self.numbers.get(&key) {
            Some(n) => *n,
            None => {
                let upper = label.to_ascii_uppercase();
                let counter = self.counters.entry(label.to_string()).or_insert(0);
                *counter += 1;
                while self.taken.contains(&(upper.clone(), *counter)) {
                    *counter += 1;
                }
                let n = *counter;
                self.numbers.insert(key, n);
                self.values
                    .insert((label.to_ascii_uppercase(), n), value.to_string());
                n
            }
        };
        format!("[{label}_{n}]")
    }

    /// Puts the original values back into `answer`. Placeholders the model repeats are all
    /// restored; ones it altered slightly (case, spacing) are recognised; anything that does not
    /// name a value of this mapping is left exactly as written, so no value is ever invented.
    pub fn restore(&self, answer: &str) -> String {
        if self.values.is_empty() {
            return answer.to_string();
        }
        PLACEHOLDER
            .replace_all(answer, |caps: &regex::Captures<'_>| {
                parse(caps)
                    .and_then(|key| self.values.get(&key))
                    .cloned()
                    .unwrap_or_else(|| caps[0].to_string())
            })
            .into_owned()
    }
}

/// How much of a streamed answer can be shown: everything before a tail that might still become
/// a placeholder (an open `[` whose text so far could be one, or a word still being written,
/// which could grow into `PHONE_1`). What is held back is shown once the next pieces decide it.
pub fn settled(so_far: &str) -> &str {
    let mut cut = so_far.len();
    // A word still being written (letters, digits, underscores) may be a bare placeholder.
    if let Some((i, _)) = so_far
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '_')
        .last()
    {
        cut = i;
    }
    // An open bracket with placeholder-like text after it.
    if let Some(open) = so_far[..cut].rfind('[') {
        let inside = &so_far[open + 1..];
        if !inside.contains(']')
            && inside.len() <= 64
            && inside
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c.is_whitespace())
        {
            cut = open;
        }
    }
    &so_far[..cut]
}

impl Placeholders {
    /// The part of a streamed answer that can be shown now, restored: no half placeholder and
    /// no placeholder that could still become one is ever shown. As more arrives this only
    /// grows, and once the answer is complete it is [`Placeholders::restore`] of the whole.
    pub fn restore_settled(&self, so_far: &str) -> String {
        self.restore(settled(so_far))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_placeholder_split_across_pieces_is_held_back_until_complete() {
        let mut p = Placeholders::new();
        p.placeholder("PHONE", "+7 912 345-67-89");
        p.placeholder("PERSON", "Ivan Petrov");
        let answer = "Dear [PERSON_1], I will call [ phone 1 ] or PHONE_1 today.";
        let full = p.restore(answer);
        let mut shown = String::new();
        // Every way of cutting the stream: what is shown is always a prefix of the final text
        // and never holds a placeholder or part of one.
        for end in 0..=answer.len() {
            if !answer.is_char_boundary(end) {
                continue;
            }
            let now = p.restore_settled(&answer[..end]);
            assert!(
                full.starts_with(&now),
                "{now:?} is not a prefix of {full:?}"
            );
            assert!(now.len() >= shown.len(), "shrank at {end}");
            for bad in ["[", "PERSON", "PHONE", "phone", "PHO", "PER"] {
                assert!(!now.contains(bad), "{now:?} shows {bad:?} at {end}");
            }
            shown = now;
        }
        // The last word waits for what follows it; the end of the stream settles it.
        assert_eq!(p.restore(answer), full);
        assert!(full.contains("Ivan Petrov") && full.contains("+7 912 345-67-89"));
    }

    #[test]
    fn ordinary_brackets_and_words_are_not_held_for_long() {
        assert_eq!(settled("see [the list] and"), "see [the list] ");
        assert_eq!(settled("a [b](https://x.y) c"), "a [b](https://x.y) ");
        assert_eq!(settled("Hello [PERS"), "Hello ");
        assert_eq!(settled("Hello [PHONE\u{a0}"), "Hello ");
        assert_eq!(settled("Hello [ phone\n"), "Hello ");
        assert_eq!(settled("Hello, wor"), "Hello, ");
        assert_eq!(settled("Hello, world."), "Hello, world.");
        assert_eq!(settled("Привет"), "Привет");
    }

    #[test]
    fn same_value_same_placeholder_and_numbers_per_label() {
        let mut p = Placeholders::new();
        assert_eq!(p.placeholder("PHONE", "+7 912"), "[PHONE_1]");
        assert_eq!(p.placeholder("PHONE", "+1 212"), "[PHONE_2]");
        assert_eq!(p.placeholder("PHONE", "+7 912"), "[PHONE_1]");
        assert_eq!(p.placeholder("EMAIL", "a@b.cd"), "[EMAIL_1]");
    }

    #[test]
    fn restoration_tolerates_case_spacing_repeats_and_missing_brackets() {
        let mut p = Placeholders::new();
        p.placeholder("PHONE", "+7 912 345-67-89");
        p.placeholder("NATIONAL_ID", "0499370899");
        let answer = "Call [PHONE_1], yes [phone_1] or [ Phone 1 ] or PHONE_1; id [NATIONAL_ID_1] / [national id 1].";
        assert_eq!(
            p.restore(answer),
            "Call +7 912 345-67-89, yes +7 912 345-67-89 or +7 912 345-67-89 or +7 912 345-67-89; id 0499370899 / 0499370899."
        );
    }

    #[test]
    fn unknown_placeholders_are_left_alone_never_invented() {
        let mut p = Placeholders::new();
        p.placeholder("PHONE", "+7 912 345-67-89");
        let answer = "[PHONE_2] and [EMAIL_1] and [CARD_1] stay; [PHONE_1] returns";
        assert_eq!(
            p.restore(answer),
            "[PHONE_2] and [EMAIL_1] and [CARD_1] stay; +7 912 345-67-89 returns"
        );
    }

    #[test]
    fn lower_case_tokens_without_brackets_are_prose_not_placeholders() {
        let mut p = Placeholders::new();
        p.placeholder("PHONE", "+7 912 345-67-89");
        assert_eq!(p.restore("set phone_1 = x"), "set phone_1 = x");
    }

    #[test]
    fn placeholders_the_person_typed_are_never_filled() {
        let mut p = Placeholders::new();
        p.reserve_existing("Dear [PERSON_1], my name is Ivan");
        assert_eq!(p.placeholder("PERSON", "Ivan"), "[PERSON_2]");
        assert_eq!(
            p.restore("Dear [PERSON_1], hello [PERSON_2]"),
            "Dear [PERSON_1], hello Ivan"
        );
    }

    #[test]
    fn debug_shows_no_values() {
        let mut p = Placeholders::new();
        p.placeholder("EMAIL", "secret@example.com");
        assert!(!format!("{p:?}").contains("secret"));
    }
}
