//! Text helpers shared by adapters.

/// Splits `text` into pieces of at most `max` UTF-16 code units (how Telegram counts message
/// length: an emoji outside the BMP counts twice), preferring to break after a newline, then after
/// a space, so that long replies stay readable on platforms with a length cap.
pub fn split_message(text: &str, max: usize) -> Vec<String> {
    let max = max.max(2);
    if text.encode_utf16().count() <= max {
        return vec![text.to_string()];
    }
    let chars: Vec<char> = text.chars().collect();
    let mut parts = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        // The furthest end whose UTF-16 length fits.
        let mut hard_end = start;
        let mut units = 0;
        while hard_end < chars.len() && units + chars[hard_end].len_utf16() <= max {
            units += chars[hard_end].len_utf16();
            hard_end += 1;
        }
        let mut end = hard_end;
        if hard_end < chars.len() {
            let window = &chars[start..hard_end];
            let cut = window
                .iter()
                .rposition(|c| *c == '\n')
                .or_else(|| window.iter().rposition(|c| c.is_whitespace()));
            if let Some(pos) = cut.filter(|p| *p > window.len() / 2) {
                end = start + pos + 1;
            }
        }
        parts.push(chars[start..end].iter().collect());
        start = end;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split_message("hello", 4096), vec!["hello".to_string()]);
    }

    #[test]
    fn long_text_is_split_by_characters_not_bytes() {
        let text = "ж".repeat(5000);
        let parts = split_message(&text, 4096);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].chars().count(), 4096);
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn emoji_count_as_two_units() {
        let text = "😀".repeat(3000); // 6,000 UTF-16 units
        let parts = split_message(&text, 4096);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.encode_utf16().count() <= 4096));
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn split_prefers_line_breaks() {
        let text = format!("{}\n{}", "a".repeat(3000), "b".repeat(3000));
        let parts = split_message(&text, 4096);
        assert_eq!(parts[0], format!("{}\n", "a".repeat(3000)));
        assert_eq!(parts.concat(), text);
        assert!(parts.iter().all(|p| p.chars().count() <= 4096));
    }
}
