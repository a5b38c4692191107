//! Email addresses (ASCII; internationalised addresses are not detected).

use std::ops::Range;

use super::Detector;
use super::context::char_before;
use crate::kind::BuiltinKind;

pub(super) const DETECTORS: &[Detector] = &[Detector {
    kind: BuiltinKind::Email,
    pattern: r"[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24}(?-u:\b)",
    anchors: &["@"],
    validate,
    priority: 60,
}];

/// Asset names such as `logo@2x.png` have the shape of an address; these
/// endings are file types, not top-level domains.
const FILE_ENDINGS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "avif",
];

fn validate(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let mut range = range;
    // The pattern accepts dots at the edges of the local part; an address
    // cannot start with one, so a sentence's dot before it is not part of it.
    while text[range.clone()].starts_with('.') {
        range.start += 1;
    }
    let candidate = &text[range.clone()];
    let (local, domain) = candidate.split_once('@')?;
    if local.is_empty() || local.len() > 64 || candidate.len() > 254 {
        return None;
    }
    if local.ends_with('.') || local.contains("..") {
        return None;
    }
    if domain
        .split('.')
        .any(|label| label.starts_with('-') || label.ends_with('-'))
    {
        return None;
    }
    let tld = domain.rsplit('.').next()?.to_ascii_lowercase();
    if FILE_ENDINGS.contains(&tld.as_str()) {
        return None;
    }
    // `a@b@example.com` is not an address, whatever its tail looks like.
    if char_before(text, range.start).is_some_and(|c| c == '@') {
        return None;
    }
    Some(range)
}

#[cfg(test)]
mod tests {
    use crate::detect::testing::found;
    use crate::kind::BuiltinKind::Email;

    #[test]
    fn finds_addresses_in_prose_and_markup() {
        assert_eq!(
            found(Email, "Write to jane.doe+test@example.co.uk today."),
            ["jane.doe+test@example.co.uk"]
        );
        assert_eq!(
            found(Email, "<a href=\"mailto:Bob_99@Mail.Example.ORG\">"),
            ["Bob_99@Mail.Example.ORG"]
        );
        assert_eq!(
            found(Email, "from: a@b.io, cc: c.d@e-f.de"),
            ["a@b.io", "c.d@e-f.de"]
        );
    }

    #[test]
    fn ignores_things_shaped_like_addresses() {
        for text in [
            "import logo from './logo@2x.png'",
            "npm install lodash@4.17.21",
            "@decorator on line 3",
            "user@localhost",
            "docker pull image@sha256:abcdef",
            "a@-bad-.com",
        ] {
            assert!(found(Email, text).is_empty(), "{text}");
        }
    }
}
