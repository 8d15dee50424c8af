//! Check digits and issuer ranges: what turns "looks like a number" into "is one".

/// The Luhn (mod 10) check used by payment cards.
pub fn luhn(digits: &[u8]) -> bool {
    if digits.is_empty() {
        return false;
    }
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(*d);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

fn prefix_num(digits: &[u8], n: usize) -> u32 {
    digits
        .iter()
        .take(n)
        .fold(0u32, |acc, d| acc * 10 + u32::from(*d))
}

/// Iranian bank (Shetab) BINs: all 16-digit cards.
const IRAN_BINS: [u32; 33] = [
    603799, 610433, 589210, 589463, 502229, 585947, 603769, 627412, 627353, 622106, 627760, 639346,
    636214, 627648, 603770, 628023, 627488, 621986, 639607, 502938, 505785, 504706, 606373, 639217,
    627381, 505416, 636949, 502908, 639370, 627961, 585983, 504172, 606256,
];

/// Whether the digits fall in a known issuer range with a length that issuer uses.
pub fn card_issuer(digits: &[u8]) -> Option<&'static str> {
    let len = digits.len();
    if !(12..=19).contains(&len) {
        return None;
    }
    let p1 = prefix_num(digits, 1);
    let p2 = prefix_num(digits, 2);
    let p3 = prefix_num(digits, 3);
    let p4 = prefix_num(digits, 4);
    let p6 = prefix_num(digits, 6);
    if len == 16 && IRAN_BINS.contains(&p6) {
        return Some("shetab");
    }
    if (2200..=2204).contains(&p4) && (16..=19).contains(&len) {
        return Some("mir");
    }
    if ((2221..=2720).contains(&p4) || (51..=55).contains(&p2)) && len == 16 {
        return Some("mastercard");
    }
    if p1 == 4 && matches!(len, 13 | 16 | 19) {
        return Some("visa");
    }
    if (p2 == 34 || p2 == 37) && len == 15 {
        return Some("amex");
    }
    if (3528..=3589).contains(&p4) && (16..=19).contains(&len) {
        return Some("jcb");
    }
    if ((300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39) && (14..=19).contains(&len) {
        return Some("diners");
    }
    if (p4 == 6011 || (644..=649).contains(&p3) || p2 == 65) && (16..=19).contains(&len) {
        return Some("discover");
    }
    if p2 == 62 && (16..=19).contains(&len) {
        return Some("unionpay");
    }
    if p4 == 9792 && len == 16 {
        return Some("troy");
    }
    if (p2 == 50 || (56..=69).contains(&p2)) && (12..=19).contains(&len) {
        return Some("maestro");
    }
    None
}

/// IBAN length per country (ISO 13616 registry).
pub fn iban_length(country: &str) -> Option<usize> {
    Some(match country {
        "NO" => 15,
        "BE" => 16,
        "DK" | "FI" | "FO" | "GL" | "NL" | "SD" | "FK" => 18,
        "MK" | "SI" => 19,
        "AT" | "BA" | "EE" | "KZ" | "LT" | "LU" | "XK" | "MN" => 20,
        "CH" | "HR" | "LI" | "LV" => 21,
        "BG" | "BH" | "CR" | "DE" | "GB" | "GE" | "IE" | "ME" | "RS" | "VA" => 22,
        "AE" | "GI" | "IL" | "IQ" | "TL" | "SO" | "OM" => 23,
        "AD" | "CZ" | "ES" | "MD" | "PK" | "RO" | "SA" | "SE" | "SK" | "TN" | "VG" => 24,
        "PT" | "ST" | "LY" => 25,
        "IR" | "IS" | "TR" => 26,
        "FR" | "GR" | "IT" | "MC" | "MR" | "SM" | "BI" | "DJ" => 27,
        "AL" | "AZ" | "BY" | "CY" | "DO" | "GT" | "HU" | "LB" | "PL" | "SV" | "NI" | "HN" => 28,
        "BR" | "EG" | "PS" | "QA" | "UA" => 29,
        "JO" | "KW" | "MU" | "YE" => 30,
        "MT" | "SC" => 31,
        "LC" => 32,
        "RU" => 33,
        _ => return None,
    })
}

/// ISO 7064 mod 97-10 over an IBAN (uppercase letters and digits, no spaces).
pub fn iban_mod97(iban: &[u8]) -> bool {
    if iban.len() < 5 {
        return false;
    }
    let rearranged = iban[4..].iter().chain(&iban[..4]);
    let mut rem: u32 = 0;
    for &c in rearranged {
        match c {
            b'0'..=b'9' => rem = (rem * 10 + u32::from(c - b'0')) % 97,
            b'A'..=b'Z' => {
                let v = u32::from(c - b'A') + 10;
                rem = (rem * 100 + v) % 97;
            }
            _ => return false,
        }
    }
    rem == 1
}

/// Iranian national code (کد ملی): ten digits, the last a mod-11 check digit.
pub fn iran_national_code(d: &[u8]) -> bool {
    if d.len() != 10 || d.iter().all(|x| *x == d[0]) {
        return false;
    }
    let sum: u32 = (0..9).map(|i| u32::from(d[i]) * (10 - i as u32)).sum();
    let r = sum % 11;
    let check = u32::from(d[9]);
    if r < 2 { check == r } else { check == 11 - r }
}

fn weighted(d: &[u8], weights: &[u32]) -> u32 {
    d.iter()
        .zip(weights)
        .map(|(x, w)| u32::from(*x) * w)
        .sum::<u32>()
        % 11
        % 10
}

/// Russian taxpayer number (ИНН): 10 digits (organisations) or 12 (people), with check digits.
pub fn russian_inn(d: &[u8]) -> bool {
    match d.len() {
        10 => weighted(d, &[2, 4, 10, 3, 5, 9, 4, 6, 8]) == u32::from(d[9]),
        12 => {
            weighted(d, &[7, 2, 4, 10, 3, 5, 9, 4, 6, 8]) == u32::from(d[10])
                && weighted(d, &[3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]) == u32::from(d[11])
        }
        _ => false,
    }
}

/// Russian pension insurance number (СНИЛС): 9 digits and a 2-digit checksum.
pub fn russian_snils(d: &[u8]) -> bool {
    if d.len() != 11 || d.iter().all(|x| *x == 0) {
        return false;
    }
    let sum: u32 = (0..9).map(|i| u32::from(d[i]) * (9 - i as u32)).sum();
    let check = match sum {
        0..=99 => sum,
        100 | 101 => 0,
        _ => {
            let r = sum % 101;
            if r == 100 { 0 } else { r }
        }
    };
    check == prefix_num(&d[9..], 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(s: &str) -> Vec<u8> {
        s.bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect()
    }

    #[test]
    fn luhn_accepts_known_test_cards_and_rejects_a_changed_digit() {
        for good in [
            "4111 1111 1111 1111",
            "5500 0000 0000 0004",
            "2200 0000 0000 0004",
            "6037 9900 0000 0006",
        ] {
            assert!(luhn(&digits(good)), "{good}");
        }
        assert!(!luhn(&digits("4111 1111 1111 1112")));
    }

    #[test]
    fn issuer_ranges_include_mir_mastercard_2_series_and_iranian_bins() {
        assert_eq!(card_issuer(&digits("2200000000000004")), Some("mir"));
        assert_eq!(card_issuer(&digits("2221000000000009")), Some("mastercard"));
        assert_eq!(card_issuer(&digits("5892101234567890")), Some("shetab"));
        assert_eq!(card_issuer(&digits("6037990000000006")), Some("shetab"));
        assert_eq!(card_issuer(&digits("1234567890123456")), None);
        assert_eq!(card_issuer(&digits("41111111")), None);
    }

    #[test]
    fn iban_checks() {
        for good in [
            "GB82WEST12345698765432",
            "DE89370400440532013000",
            "IR820540102680020817909002",
            "FR1420041010050500013M02606",
        ] {
            let b = good.as_bytes();
            assert!(iban_mod97(b), "{good}");
            assert_eq!(iban_length(&good[..2]), Some(good.len()), "{good}");
        }
        assert!(!iban_mod97(b"GB82WEST12345698765433"));
    }

    #[test]
    fn national_ids() {
        assert!(iran_national_code(&digits("0499370899")));
        assert!(!iran_national_code(&digits("0499370898")));
        assert!(!iran_national_code(&digits("1111111111")));
        assert!(russian_inn(&digits("7707083893")));
        assert!(!russian_inn(&digits("7707083894")));
        assert!(russian_inn(&digits("500100732259")));
        assert!(!russian_inn(&digits("500100732258")));
        assert!(russian_snils(&digits("112-233-445 95")));
        assert!(!russian_snils(&digits("112-233-445 96")));
    }
}
