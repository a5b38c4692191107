//! Phone numbers: international `+CC …` forms and national forms written
//! with separators. Deliberately conservative: a bare run of digits is an
//! id, an amount or a timestamp far more often than a phone number, so it is
//! never flagged unless it starts with `+`.

use std::ops::Range;

use super::Detector;
use super::context::{char_after, char_before, continues_digit_groups, glued};
use crate::kind::BuiltinKind;

/// The three forms are one pattern, so that the prefilter pass carries one
/// pattern for phones rather than three (its cost grows with the count);
/// each form starts differently, and [`validate`] tells them apart by that.
/// The pattern stays loose and the validators count digits and groups.
pub(super) const DETECTORS: &[Detector] = &[Detector {
    kind: BuiltinKind::Phone,
    pattern: concat!(
        // International: +31 6 12345678, +44 20 7946 0958, +1 (415) 555-0132, +49 (0)30 901820
        r"\+[1-9][0-9]*(?:[ .-]?(?:\([0-9]+\)|[0-9]+))*",
        // North American: (415) 555-0132, 415-555-0132, 415.555.0132
        r"|(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}",
        // National with a trunk 0: 020 7946 0958, 06-12345678, 01 23 45 67 89, (030) 901820
        r"|(?:\(0[1-9][0-9]*\)|0[1-9][0-9]*)(?:[ ./-]{1,2}[0-9]{2,})+",
    ),
    anchors: &[],
    validate,
    priority: 20,
}];

fn validate(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let candidate = &text[range.clone()];
    if candidate.starts_with('+') {
        validate_international(text, range)
    } else if candidate.starts_with('0') || candidate.starts_with("(0") {
        validate_national(text, range)
    } else {
        validate_north_american(text, range)
    }
}

fn digit_count(text: &str) -> usize {
    text.bytes().filter(u8::is_ascii_digit).count()
}

/// Neither a word nor a `+`, `/` or `=` may touch the number from the left
/// (`a+123…` is arithmetic, `/0612…` a path), and it may not run on into
/// `:` (a clock) or more digits.
fn isolated(text: &str, range: &Range<usize>) -> bool {
    if glued(text, range) {
        return false;
    }
    if char_before(text, range.start)
        .is_some_and(|c| matches!(c, '+' | '/' | '=' | '#' | '$' | '€' | '£'))
    {
        return false;
    }
    !char_after(text, range.end).is_some_and(|c| matches!(c, ':' | '%'))
}

fn validate_international(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let candidate = &text[range.clone()];
    // At most one bracketed group: the area code or the trunk `(0)`.
    if candidate.matches('(').count() > 1 {
        return None;
    }
    // `(0)` is the national trunk prefix, written but not dialled.
    let digits = digit_count(candidate) - candidate.matches("(0)").count();
    let separated = candidate[1..].contains([' ', '.', '-', '(']);
    let enough = if separated { 8..=15 } else { 10..=15 };
    (enough.contains(&digits) && isolated(text, &range)).then_some(range)
}

fn validate_north_american(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    if continues_digit_groups(text, range.start) {
        return None;
    }
    let candidate = &text[range.clone()];
    if !candidate.starts_with('(') {
        // 415-555-0132 but not 415-555.0132: one separator throughout.
        let seps: Vec<u8> = candidate.bytes().filter(|b| !b.is_ascii_digit()).collect();
        if seps.windows(2).any(|w| w[0] != w[1]) {
            return None;
        }
    }
    isolated(text, &range).then_some(range)
}

fn validate_national(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let candidate = &text[range.clone()];
    let groups = digit_groups(candidate);
    // The trunk 0 and the area code: 2 to 5 digits before the first
    // separator, so `0612345678 12` is not read as one number.
    if !(2..=5).contains(&groups[0].len()) || groups.len() > 5 {
        return None;
    }
    if !(9..=12).contains(&digit_count(candidate))
        || looks_like_date(candidate)
        || continues_digit_groups(text, range.start)
    {
        return None;
    }
    isolated(text, &range).then_some(range)
}

fn digit_groups(candidate: &str) -> Vec<&str> {
    candidate
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .collect()
}

/// `01.05.2024 12` has the shape of a national number; a day, a month and
/// a year in that order are a date.
fn looks_like_date(candidate: &str) -> bool {
    let groups = digit_groups(candidate);
    let number = |g: &str| g.parse::<u32>().unwrap_or(u32::MAX);
    groups.len() >= 3
        && groups[0].len() <= 2
        && (1..=31).contains(&number(groups[0]))
        && groups[1].len() <= 2
        && (1..=12).contains(&number(groups[1]))
        && (groups[2].len() == 4 || groups[2].len() == 2)
}

#[cfg(test)]
mod tests {
    use crate::detect::testing::found;
    use crate::kind::BuiltinKind::Phone;

    #[test]
    fn finds_international_and_national_forms() {
        let cases = [
            ("call +31 6 12345678 now", "+31 6 12345678"),
            ("tel: +44 20 7946 0958.", "+44 20 7946 0958"),
            ("+1 (415) 555-0132", "+1 (415) 555-0132"),
            ("Tel. +49 (0)30 901820", "+49 (0)30 901820"),
            ("whatsapp +31612345678", "+31612345678"),
            ("office (415) 555-0132 ext", "(415) 555-0132"),
            ("cell 415.555.0132", "415.555.0132"),
            ("bel 020 7946 0958 of", "020 7946 0958"),
            ("mobiel 06-12345678", "06-12345678"),
            ("appelez le 01 23 45 67 89", "01 23 45 67 89"),
        ];
        for (text, phone) in cases {
            assert_eq!(found(Phone, text), [phone], "{text}");
        }
    }

    #[test]
    fn leaves_numbers_that_are_not_phones() {
        for text in [
            "order 1234567890 shipped",
            "at 2024-05-17T12:30:45+02:00",
            "2024-05-17 12:30:45.123",
            "on 01.05.2024 12:30",
            "version 10.15.7 build 19H2",
            "total $1,234,567.89",
            "latency +12.5% week over week",
            "diff: +1234 -567 lines",
            "ORD-020-7946-0958",
            "x = a+1234567890",
            "uuid 550e8400-e29b-41d4-a716-446655440000",
            "415-555.0132",
            "epoch 1715958000123",
            "IBAN ES24 8665 4344 0814 7646 0786",
            "ids 0612345678 12 and 0612345678",
        ] {
            assert!(
                found(Phone, text).is_empty(),
                "{text}: {:?}",
                found(Phone, text)
            );
        }
    }
}
