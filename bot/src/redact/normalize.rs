//! Digit normalisation: Persian (U+06F0–06F9) and Arabic-Indic (U+0660–0669) digits become ASCII
//! before matching, with a map back to the original byte offsets so the original text is what
//! gets replaced.

/// Text prepared for the detectors.
pub struct Normalized<'a> {
    pub original: &'a str,
    /// Text with ASCII digits; borrowed from `original` when nothing needed changing.
    pub text: std::borrow::Cow<'a, str>,
    /// For each byte offset of `text` (and one past the end), the offset in `original`.
    /// `None` when `text` is `original`.
    map: Option<Vec<usize>>,
}

fn ascii_digit(c: char) -> Option<char> {
    match c {
        '\u{06F0}'..='\u{06F9}' => char::from_digit(c as u32 - 0x06F0, 10),
        '\u{0660}'..='\u{0669}' => char::from_digit(c as u32 - 0x0660, 10),
        _ => None,
    }
}

impl<'a> Normalized<'a> {
    pub fn new(original: &'a str) -> Self {
        // Fast path: both digit blocks are in U+0600..U+06FF, whose UTF-8 lead bytes are D8..DB.
        let has_candidates = original
            .as_bytes()
            .iter()
            .any(|b| (0xD8..=0xDB).contains(b));
        if !has_candidates || !original.chars().any(|c| ascii_digit(c).is_some()) {
            return Normalized {
                original,
                text: std::borrow::Cow::Borrowed(original),
                map: None,
            };
        }
        let mut text = String::with_capacity(original.len());
        let mut map = Vec::with_capacity(original.len() + 1);
        for (offset, c) in original.char_indices() {
            let out = ascii_digit(c).unwrap_or(c);
            for _ in 0..out.len_utf8() {
                map.push(offset);
            }
            text.push(out);
        }
        map.push(original.len());
        Normalized {
            original,
            text: std::borrow::Cow::Owned(text),
            map: Some(map),
        }
    }

    /// Maps a byte offset of the normalised text back to the original.
    pub fn original_offset(&self, offset: usize) -> usize {
        match &self.map {
            None => offset,
            Some(map) => map[offset.min(map.len() - 1)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persian_and_arabic_digits_become_ascii_with_offsets_kept() {
        let n = Normalized::new("تلفن ۰۹۱۲ و ٣٤");
        assert_eq!(n.text, "تلفن 0912 و 34");
        let start = n.text.find("0912").unwrap();
        let orig_start = n.original_offset(start);
        let orig_end = n.original_offset(start + 4);
        assert_eq!(&n.original[orig_start..orig_end], "۰۹۱۲");
    }

    #[test]
    fn ascii_text_is_borrowed() {
        let n = Normalized::new("call +7 912");
        assert!(matches!(n.text, std::borrow::Cow::Borrowed(_)));
        assert_eq!(n.original_offset(5), 5);
    }
}
