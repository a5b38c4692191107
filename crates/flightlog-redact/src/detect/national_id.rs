//! National identity numbers, only where a checksum makes them reliable.
//!
//! Today: the Dutch citizen service number (BSN), nine digits passing the
//! "11-test". One random nine-digit number in eleven passes it too, so a
//! BSN is only flagged when the word `BSN`, `burgerservicenummer` or
//! `sofinummer` stands shortly before it. US social security numbers carry
//! no checksum and are not detected.

use std::ops::Range;

use super::Detector;
use super::context::{digits, glued, preceded_by_word};
use crate::kind::BuiltinKind;

const KEYWORDS: &[&str] = &["bsn", "burgerservicenummer", "sofinummer", "sofi-nummer"];

pub(super) const DETECTORS: &[Detector] = &[Detector {
    kind: BuiltinKind::NationalId,
    pattern: r"[0-9]{9}|[0-9]{4}\.[0-9]{2}\.[0-9]{3}|[0-9]{3}[ -][0-9]{3}[ -][0-9]{3}",
    anchors: KEYWORDS,
    validate,
    priority: 42,
}];

fn validate(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let digits: Vec<u32> = digits(&text[range.clone()]).collect();
    if digits.len() != 9 || !eleven_test(&digits) || glued(text, &range) {
        return None;
    }
    preceded_by_word(text, range.start, 40, KEYWORDS).then_some(range)
}

/// 9·d1 + 8·d2 + … + 2·d8 − d9 must be a multiple of 11 (and not zero).
pub(crate) fn eleven_test(digits: &[u32]) -> bool {
    let weighted: i64 = digits
        .iter()
        .zip([9, 8, 7, 6, 5, 4, 3, 2, -1])
        .map(|(&d, w)| d as i64 * w)
        .sum();
    weighted != 0 && weighted % 11 == 0
}

#[cfg(test)]
mod tests {
    use crate::detect::testing::found;
    use crate::kind::BuiltinKind::NationalId;

    #[test]
    fn finds_a_bsn_named_as_such() {
        assert_eq!(found(NationalId, "BSN: 111222333"), ["111222333"]);
        assert_eq!(
            found(NationalId, "burgerservicenummer 1112.22.333"),
            ["1112.22.333"]
        );
    }

    #[test]
    fn needs_both_the_checksum_and_the_word() {
        assert!(
            found(NationalId, "BSN: 111222334").is_empty(),
            "fails the 11-test"
        );
        assert!(
            found(NationalId, "order 111222333").is_empty(),
            "no keyword"
        );
        assert!(found(NationalId, "BSN: 000000000").is_empty(), "all zeros");
    }
}
