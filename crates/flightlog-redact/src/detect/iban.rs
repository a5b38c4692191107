//! International bank account numbers: a country code, two check digits and
//! the national account number, run together or in groups of four; the
//! length must be the country's and the mod-97 check must pass.

use std::ops::Range;

use super::Detector;
use super::context::{char_after, glued};
use crate::kind::BuiltinKind;

pub(super) const DETECTORS: &[Detector] = &[Detector {
    kind: BuiltinKind::Iban,
    pattern: r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?",
    anchors: &[],
    validate,
    priority: 50,
}];

/// IBAN lengths per country (SWIFT IBAN registry).
const LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SC", 31),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
];

fn validate(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let candidate = &text[range.clone()];
    let length = LENGTHS
        .iter()
        .find(|(country, _)| candidate.starts_with(country))?
        .1;
    // The pattern's last, shorter group may swallow the start of what
    // follows (`NO93 8601 1117 947 EUR`): cut at the country's length,
    // which must end where a word ends.
    let mut kept = 0;
    let mut end = range.start;
    for (offset, ch) in candidate.char_indices() {
        if ch != ' ' {
            kept += 1;
        }
        if kept == length {
            end = range.start + offset + ch.len_utf8();
            break;
        }
    }
    if kept < length || char_after(text, end).is_some_and(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let range = range.start..end;
    let compact: String = text[range.clone()].chars().filter(|c| *c != ' ').collect();
    (mod97(&compact) == 1 && !glued(text, &range)).then_some(range)
}

/// ISO 13616: move the first four characters to the end, read letters as
/// 10..35, and take the number modulo 97; a valid IBAN gives 1.
pub(crate) fn mod97(compact: &str) -> u32 {
    let rotated = compact.chars().skip(4).chain(compact.chars().take(4));
    rotated.fold(0, |acc, ch| {
        let value = ch.to_digit(36).unwrap_or(0);
        if value < 10 {
            (acc * 10 + value) % 97
        } else {
            (acc * 100 + value) % 97
        }
    })
}

#[cfg(test)]
mod tests {
    use super::mod97;
    use crate::detect::testing::found;
    use crate::kind::BuiltinKind::Iban;

    #[test]
    fn finds_ibans_grouped_or_compact() {
        for (text, iban) in [
            (
                "IBAN: DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX",
                "DE89 3704 0044 0532 0130 00",
            ),
            (
                "pay to GB82WEST12345698765432 by Friday",
                "GB82WEST12345698765432",
            ),
            ("rekening NL91 ABNA 0417 1643 00.", "NL91 ABNA 0417 1643 00"),
            ("NO9386011117947", "NO9386011117947"),
            (
                "FR1420041010050500013M02606 EUR",
                "FR1420041010050500013M02606",
            ),
        ] {
            assert_eq!(found(Iban, text), [iban], "{text}");
        }
    }

    #[test]
    fn a_wrong_check_digit_is_not_an_iban() {
        assert_eq!(mod97("DE89370400440532013000"), 1);
        assert_ne!(mod97("DE88370400440532013000"), 1);
        assert!(found(Iban, "IBAN DE88 3704 0044 0532 0130 00").is_empty());
        assert!(found(Iban, "IBAN DE89 3704 0044 0532 0130 01").is_empty());
    }

    #[test]
    fn leaves_codes_of_the_wrong_length_or_country() {
        for text in [
            "SKU AB12 CDEF 3456 7890",
            "DE89 3704 0044 0532 0130",
            "ZZ89370400440532013000",
            "ISO8601DATETIME",
        ] {
            assert!(found(Iban, text).is_empty(), "{text}");
        }
    }
}
