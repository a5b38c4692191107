//! Payment card numbers: 13 to 19 digits, run together or in groups split
//! by spaces or dashes, from a known issuer range, passing the Luhn check.

use std::ops::Range;

use super::Detector;
use super::context::{digits, glued};
use crate::kind::BuiltinKind;

pub(super) const DETECTORS: &[Detector] = &[Detector {
    kind: BuiltinKind::Card,
    pattern: concat!(
        r"[0-9]{13,19}",
        r"|[0-9]{4}(?:[ -][0-9]{4}){2}[ -][0-9]{1,4}(?:[ -][0-9]{3})?", // 4-4-4-4(-3)
        r"|[0-9]{4}[ -][0-9]{6}[ -][0-9]{4,5}",                         // Amex 4-6-5, Diners 4-6-4
    ),
    anchors: &[],
    validate,
    priority: 45,
}];

fn validate(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let candidate = &text[range.clone()];
    let separators: Vec<u8> = candidate.bytes().filter(|b| !b.is_ascii_digit()).collect();
    if separators.windows(2).any(|w| w[0] != w[1]) {
        return None;
    }
    let digits: Vec<u32> = digits(candidate).collect();
    if !(13..=19).contains(&digits.len()) || !known_issuer(&digits) || !luhn(&digits) {
        return None;
    }
    (!glued(text, &range)).then_some(range)
}

/// The Luhn mod-10 check every card number carries in its last digit.
pub(crate) fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The major networks' issuer ranges. One random number in ten passes Luhn;
/// requiring a real network's prefix removes most ids and timestamps that
/// would (epoch milliseconds start with 1, for instance).
fn known_issuer(digits: &[u32]) -> bool {
    let prefix = |n: usize| digits.iter().take(n).fold(0, |acc, d| acc * 10 + d);
    match digits[0] {
        4 => true,                                                             // Visa
        5 => (51..=55).contains(&prefix(2)) || (50..=59).contains(&prefix(2)), // Mastercard, Maestro
        2 => (2221..=2720).contains(&prefix(4)), // Mastercard 2-series
        3 => matches!(prefix(2), 34 | 37 | 30 | 36 | 38 | 39 | 35), // Amex, Diners, JCB
        6 => true,                               // Discover, UnionPay, Maestro
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::luhn;
    use crate::detect::testing::found;
    use crate::kind::BuiltinKind::Card;

    #[test]
    fn finds_cards_in_every_common_layout() {
        for (text, card) in [
            ("card 4111111111111111 exp 12/29", "4111111111111111"),
            ("pan=4111 1111 1111 1111;", "4111 1111 1111 1111"),
            ("MC 5555-5555-5555-4444", "5555-5555-5555-4444"),
            ("amex 3782 822463 10005", "3782 822463 10005"),
            ("amex 378282246310005", "378282246310005"),
            ("mc2 2223003122003222", "2223003122003222"),
        ] {
            assert_eq!(found(Card, text), [card], "{text}");
        }
    }

    #[test]
    fn a_number_failing_luhn_is_not_a_card() {
        assert!(!luhn(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]));
        assert!(found(Card, "card 4111111111111112").is_empty());
        assert!(found(Card, "card 4111 1111 1111 1112").is_empty());
    }

    #[test]
    fn leaves_ids_timestamps_and_mixed_layouts() {
        for text in [
            "epoch_ms 1715958000000 and 1715958000000000",
            "ORD-4111111111111111",
            "4111-1111 1111-1111",
            "trace 0000000000000000",
            "id 7992739871300000000000",
        ] {
            assert!(
                found(Card, text).is_empty(),
                "{text}: {:?}",
                found(Card, text)
            );
        }
    }

    #[test]
    fn a_hash_sign_does_not_hide_a_card() {
        assert_eq!(found(Card, "order #4111111111111111"), ["4111111111111111"]);
    }
}
