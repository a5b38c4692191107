//! Looking just outside a candidate: the `regex` crate has no look-around,
//! so detectors check their neighbours here instead.

use std::ops::Range;

pub(super) fn char_before(text: &str, at: usize) -> Option<char> {
    text[..at].chars().next_back()
}

pub(super) fn char_after(text: &str, at: usize) -> Option<char> {
    text[at..].chars().next()
}

fn is_word(ch: char) -> bool {
    ch.is_alphanumeric() || ch == '_'
}

/// True when the candidate is a piece of a longer token: a letter, digit or
/// `_` touches it, or it continues a dotted or hyphenated token
/// (`ORD-4111…`, `v1.2.3.4`, `1.2.3.4.5`). Numbers inside identifiers are
/// identifiers, not personal data.
pub(super) fn glued(text: &str, range: &Range<usize>) -> bool {
    let before = char_before(text, range.start);
    let after = char_after(text, range.end);
    if before.is_some_and(is_word) || after.is_some_and(is_word) {
        return true;
    }
    if let Some(sep @ ('.' | '-')) = before {
        let start = range.start - sep.len_utf8();
        if char_before(text, start).is_some_and(is_word) {
            return true;
        }
    }
    if let Some(sep @ ('.' | '-' | ',')) = after
        && char_after(text, range.end + sep.len_utf8()).is_some_and(|c| c.is_ascii_digit())
    {
        return true;
    }
    false
}

/// True when one of `words` (lower case) starts a word within `window`
/// bytes before `at`, ignoring ASCII case: `server 10.0.0.1` does not hold
/// the word `ver `.
pub(super) fn preceded_by_word(text: &str, at: usize, window: usize, words: &[&str]) -> bool {
    let mut from = at.saturating_sub(window);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let before = text[from..at].to_ascii_lowercase();
    words.iter().any(|word| {
        before.match_indices(word).any(|(index, _)| {
            // At the window's edge the word may be cut; look at the real text.
            char_before(text, from + index).is_none_or(|c| !c.is_alphabetic())
        })
    })
}

/// True when a group of digits and a space come right before `at`: the
/// candidate continues a longer grouped number (`ES24 8665 4344 0814 …`).
pub(super) fn continues_digit_groups(text: &str, at: usize) -> bool {
    let mut before = text[..at].chars().rev();
    matches!(before.next(), Some(' ')) && before.next().is_some_and(|c| c.is_ascii_digit())
}

pub(super) fn digits(text: &str) -> impl Iterator<Item = u32> + '_ {
    text.chars().filter_map(|c| c.to_digit(10))
}
