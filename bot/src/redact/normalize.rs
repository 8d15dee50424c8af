//! Normalisation before matching, with a map back to the original byte offsets so that the
//! original text is what gets replaced:
//!
//! - Persian (U+06F0–06F9), Arabic-Indic (U+0660–0669) and full-width (U+FF10–FF19) digits
//!   become ASCII digits;
//! - no-break, narrow, thin and other Unicode spaces become a space, Unicode dashes and the minus
//!   sign a hyphen, full-width `＋` and `＠` their ASCII forms;
//! - invisible marks (zero-width space and joiners, direction marks, word joiner, BOM) are
//!   dropped, so they cannot split a number or an address.

use std::borrow::Cow;

/// Text prepared for the detectors.
pub struct Normalized<'a> {
    pub original: &'a str,
    /// The normalised text; borrowed from `original` when nothing needed changing.
    pub text: Cow<'a, str>,
    /// Points where the two texts fall out of step: (normalised offset, original offset), in
    /// order. Between two points the texts are byte-for-byte the same. Empty when `text` is
    /// `original`.
    points: Vec<(usize, usize)>,
}

/// What a character becomes: `Some("")` to drop it, `None` to keep it.
fn replacement(c: char) -> Option<&'static str> {
    const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    Some(match c {
        '\u{06F0}'..='\u{06F9}' => DIGITS[c as usize - 0x06F0],
        '\u{0660}'..='\u{0669}' => DIGITS[c as usize - 0x0660],
        '\u{FF10}'..='\u{FF19}' => DIGITS[c as usize - 0xFF10],
        '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => " ",
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE63}' | '\u{FF0D}' => "-",
        '\u{FF0B}' => "+",
        '\u{FF20}' => "@",
        '\u{FF08}' => "(",
        '\u{FF09}' => ")",
        '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}' | '\u{202A}'..='\u{202E}' => "",
        _ => return None,
    })
}

impl<'a> Normalized<'a> {
    pub fn new(original: &'a str) -> Self {
        // Every character handled above starts with one of these UTF-8 lead bytes; only there
        // is a character decoded, so most text is passed over at byte speed.
        const LEADS: [u8; 6] = [0xC2, 0xD9, 0xDB, 0xE2, 0xE3, 0xEF];
        let bytes = original.as_bytes();
        let mut text = String::new();
        let mut points = Vec::new();
        let mut last = 0;
        let mut i = 0;
        while i < bytes.len() {
            if !LEADS.contains(&bytes[i]) {
                i += 1;
                continue;
            }
            let Some(c) = original[i..].chars().next() else {
                break;
            };
            let width = c.len_utf8();
            if let Some(with) = replacement(c) {
                if text.capacity() == 0 {
                    text.reserve(original.len());
                }
                text.push_str(&original[last..i]);
                // The replacement stands where the character stood ...
                points.push((text.len(), i));
                text.push_str(with);
                last = i + width;
                // ... and the texts are in step again after it.
                points.push((text.len(), last));
            }
            i += width;
        }
        if points.is_empty() {
            return Normalized {
                original,
                text: Cow::Borrowed(original),
                points,
            };
        }
        text.push_str(&original[last..]);
        Normalized {
            original,
            text: Cow::Owned(text),
            points,
        }
    }

    /// Maps a byte offset of the normalised text back to the original.
    pub fn original_offset(&self, offset: usize) -> usize {
        let i = self.points.partition_point(|(norm, _)| *norm <= offset);
        match i.checked_sub(1).map(|i| self.points[i]) {
            Some((norm, orig)) => orig + (offset - norm),
            None => offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(original: &str, needle: &str) -> String {
        let n = Normalized::new(original);
        let start = n.text.find(needle).unwrap();
        let (a, b) = (
            n.original_offset(start),
            n.original_offset(start + needle.len()),
        );
        n.original[a..b].to_string()
    }

    #[test]
    fn persian_arabic_and_full_width_digits_become_ascii_with_offsets_kept() {
        let n = Normalized::new("تلفن ۰۹۱۲ و ٣٤ ０９");
        assert_eq!(n.text, "تلفن 0912 و 34 09");
        assert_eq!(round_trip("تلفن ۰۹۱۲ و ٣٤", "0912"), "۰۹۱۲");
        assert_eq!(round_trip("x ０９１２ y", "0912"), "０９１２");
    }

    #[test]
    fn unicode_spaces_dashes_and_invisible_marks_do_not_split_numbers() {
        let text = "call +7\u{00A0}912\u{202F}345\u{2011}67\u{200E}89 now";
        let n = Normalized::new(text);
        assert_eq!(n.text, "call +7 912 345-6789 now");
        assert_eq!(
            round_trip(text, "+7 912 345-6789"),
            "+7\u{00A0}912\u{202F}345\u{2011}67\u{200E}89"
        );
    }

    #[test]
    fn ascii_text_is_borrowed() {
        let n = Normalized::new("call +7 912");
        assert!(matches!(n.text, Cow::Borrowed(_)));
        assert_eq!(n.original_offset(5), 5);
    }
}
