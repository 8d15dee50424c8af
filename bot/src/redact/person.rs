//! Names: of anyone mentioned (the lexicon in [`super::names`], capitalisation, titles,
//! initials and cues such as "my name is" / "меня зовут" / "اسم من"), the sender's own names
//! and username (as the channel told us), and @usernames.

use std::sync::LazyLock;

use regex::Regex;

use super::{Hints, Kind, Recognizer, Span, mentioned::mentioned, names};

static MENTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"@[A-Za-z][A-Za-z0-9_]{3,31}(?-u:\b)").expect("static regex"));

pub struct Person;

impl Person {
    pub fn new() -> Self {
        Person
    }
}

impl Recognizer for Person {
    fn find(&self, text: &str, hints: &Hints, out: &mut Vec<Span>) -> Result<(), String> {
        if text.contains('@') {
            let b = text.as_bytes();
            for m in MENTION.find_iter(text) {
                // Not the domain part of an e-mail address.
                let prev = m.start().checked_sub(1).map(|i| b[i]);
                if prev.is_some_and(|p| p.is_ascii_alphanumeric() || p == b'.' || p == b'_') {
                    continue;
                }
                out.push(Span::found(Kind::Person, m.start(), m.end()));
            }
        }
        let mut folded = String::new();
        for term in &hints.terms {
            // A short part ("Jo") or one that is also a word ("Will", "Rose") counts only
            // written as a name: capitalised, not the first word of a sentence.
            names::fold_into(term, &mut folded);
            let strict = term.chars().count() < 3
                || names::lookup(&folded).is_some_and(|e| e.is_word() || !e.is_name());
            find_word(text, term, strict, out);
        }
        mentioned(text, out);
        Ok(())
    }
}

/// Case-insensitive, whole-word occurrences of `term` (any script), without building a regex
/// for every message. Digits and underscores do not end a word: "mo_rashid1990" holds
/// "rashid", and the whole handle is redacted. `strict`: only capitalised, and not the first
/// word of a sentence.
fn find_word(text: &str, term: &str, strict: bool, out: &mut Vec<Span>) {
    let mut term_chars = term.chars();
    let Some(first) = term_chars.next() else {
        return;
    };
    let rest: Vec<char> = term_chars.flat_map(char::to_lowercase).collect();
    // The forms the first letter can take, found with a vectorised byte search.
    let mut firsts: Vec<char> = first.to_lowercase().chain(first.to_uppercase()).collect();
    firsts.push(first);
    firsts.sort_unstable();
    firsts.dedup();
    let mut starts: Vec<usize> = Vec::new();
    for f in &firsts {
        let mut buf = [0u8; 4];
        let needle = f.encode_utf8(&mut buf);
        starts.extend(memchr::memmem::find_iter(
            text.as_bytes(),
            needle.as_bytes(),
        ));
    }
    starts.sort_unstable();
    for start in starts {
        let Some(c) = text[start..].chars().next() else {
            continue;
        };
        let after_first = start + c.len_utf8();
        // Compare the rest of the term, lower-cased, character by character.
        let mut tail = text[after_first..].char_indices();
        let mut lowered = tail
            .by_ref()
            .flat_map(|(i, c)| c.to_lowercase().map(move |l| (i, l)));
        let mut end = after_first;
        let mut matched = true;
        for want in &rest {
            match lowered.next() {
                Some((i, got)) if got == *want => {
                    end = after_first + i;
                }
                _ => {
                    matched = false;
                    break;
                }
            }
        }
        if !matched {
            continue;
        }
        // `end` points at the start of the last matched character; move past it.
        let end = if rest.is_empty() {
            after_first
        } else {
            end + text[end..].chars().next().map_or(0, char::len_utf8)
        };
        let letter_before = text[..start]
            .chars()
            .next_back()
            .is_some_and(char::is_alphabetic);
        let letter_after = text[end..].chars().next().is_some_and(char::is_alphabetic);
        if letter_before || letter_after {
            continue;
        }
        if strict {
            let capital = c.is_uppercase();
            let opens_sentence = text[..start]
                .trim_end()
                .chars()
                .next_back()
                .is_none_or(|p| matches!(p, '.' | '!' | '?' | '\n' | '¿' | '¡' | '؟'));
            if !capital || opens_sentence {
                continue;
            }
        }
        // Inside a handle ("mo_rashid1990", "anna.k_88"): the whole handle, without a full
        // stop at either end.
        let handle = |ch: char| ch.is_alphanumeric() || ch == '_';
        let dot_then_handle = |rest: &str| {
            let mut c = rest.chars();
            c.next() == Some('.') && c.next().is_some_and(handle)
        };
        let glued = text[..start].chars().next_back().is_some_and(handle)
            || text[end..].chars().next().is_some_and(handle)
            || dot_then_handle(&text[end..]);
        let (start, end) = if glued {
            let s = text[..start]
                .char_indices()
                .rev()
                .take_while(|&(_, ch)| handle(ch) || ch == '.')
                .last()
                .map_or(start, |(i, _)| i);
            let e = end
                + text[end..]
                    .char_indices()
                    .take_while(|&(_, ch)| handle(ch) || ch == '.')
                    .last()
                    .map_or(0, |(i, ch)| i + ch.len_utf8());
            let (mut s, mut e) = (s, e);
            while text[s..e].starts_with('.') {
                s += 1;
            }
            while text[s..e].ends_with('.') {
                e -= 1;
            }
            (s, e)
        } else {
            (start, end)
        };
        out.push(Span::found(Kind::Person, start, end));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words<'a>(text: &'a str, term: &str) -> Vec<&'a str> {
        let mut out = Vec::new();
        find_word(text, term, false, &mut out);
        out.iter().map(|s| &text[s.start..s.end]).collect()
    }

    #[test]
    fn whole_words_in_any_case_and_script() {
        assert_eq!(words("Ivan and IVAN, not Ivanov", "ivan"), ["Ivan", "IVAN"]);
        assert_eq!(words("Это Мария. мария!", "Мария"), ["Мария", "мария"]);
        assert_eq!(words("سلام مریم جان", "مریم"), ["مریم"]);
        assert!(words("nothing here", "ivan").is_empty());
    }

    #[test]
    fn handles_holding_the_name_go_whole() {
        assert_eq!(
            words("I'm mo_rashid1990 there", "rashid"),
            ["mo_rashid1990"]
        );
        assert_eq!(
            words("write anna_k88 or anna", "anna"),
            ["anna_k88", "anna"]
        );
    }

    #[test]
    fn short_parts_and_ordinary_words_only_as_names() {
        let strict = |text: &'static str, term: &str| {
            let mut out = Vec::new();
            find_word(text, term, true, &mut out);
            out.iter()
                .map(|s| &text[s.start..s.end])
                .collect::<Vec<_>>()
        };
        assert!(strict("Will you help me? I will come in", "Will").is_empty());
        assert_eq!(strict("Ask for Will at the desk", "Will"), ["Will"]);
        assert!(strict("jo, li", "Jo").is_empty());
        assert_eq!(strict("signed, Jo Li", "Jo"), ["Jo"]);
    }
}
