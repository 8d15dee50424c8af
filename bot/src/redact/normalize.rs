//! Digit normalisation: Persian (U+06F0–06F9) and Arabic-Indic (U+0660–0669) digits become ASCII
//! before matching, with a map back to the original byte offsets so the original text is what
//! gets replaced.

/// Text prepared for the detectors.
pub struct Normalized<'a> {
    pub original: &'a str,
    /// Text with ASCII digits; borrowed from `original` when nothing needed changing.
    pub text: std::borrow::Cow<'a, str>,
    /// Normalised offsets just after each replaced digit. Every replacement shortens the text by
    /// one byte (a two-byte digit becomes one), so an offset maps back by adding how many
    /// replacements lie before it. Empty when `text` is `original`.
    replaced: Vec<usize>,
}

impl<'a> Normalized<'a> {
    pub fn new(original: &'a str) -> Self {
        // Persian digits are DB B0..DB B9 in UTF-8, Arabic-Indic ones D9 A0..D9 A9: find them
        // with a vectorised byte search and copy the text between them in slices.
        let bytes = original.as_bytes();
        let is_digit_at = |i: usize| {
            matches!(
                (bytes[i], bytes.get(i + 1)),
                (0xDB, Some(0xB0..=0xB9)) | (0xD9, Some(0xA0..=0xA9))
            )
        };
        let mut hits = memchr::memchr2_iter(0xDB, 0xD9, bytes)
            .filter(|i| is_digit_at(*i))
            .peekable();
        if hits.peek().is_none() {
            return Normalized {
                original,
                text: std::borrow::Cow::Borrowed(original),
                replaced: Vec::new(),
            };
        }
        let mut text = String::with_capacity(original.len());
        let mut replaced = Vec::new();
        let mut last = 0;
        for i in hits {
            text.push_str(&original[last..i]);
            let value = if bytes[i] == 0xDB {
                bytes[i + 1] - 0xB0
            } else {
                bytes[i + 1] - 0xA0
            };
            text.push(char::from(b'0' + value));
            replaced.push(text.len());
            last = i + 2;
        }
        text.push_str(&original[last..]);
        Normalized {
            original,
            text: std::borrow::Cow::Owned(text),
            replaced,
        }
    }

    /// Maps a byte offset of the normalised text back to the original.
    pub fn original_offset(&self, offset: usize) -> usize {
        // Replacements ending at or before `offset` lie wholly before it.
        offset + self.replaced.partition_point(|end| *end <= offset)
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
