//! Field paths: where a string sits inside a step's JSON, written like a JSON
//! pointer (`/tool/params/to`, `/messages/3/content`), and the drop/keep
//! patterns that may use `*` for any one segment.

use std::fmt::Write as _;

use crate::policy::PolicyError;

/// One step down into a JSON value while walking it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Renders a walk position as a JSON pointer (RFC 6901: `~` is written `~0`
/// and `/` is written `~1` inside a key). The root is the empty string.
pub(crate) fn pointer(steps: &[Step<'_>]) -> String {
    let mut out = String::new();
    for step in steps {
        out.push('/');
        match step {
            Step::Key(key) => {
                for ch in key.chars() {
                    match ch {
                        '~' => out.push_str("~0"),
                        '/' => out.push_str("~1"),
                        _ => out.push(ch),
                    }
                }
            }
            Step::Index(index) => {
                let _ = write!(out, "{index}");
            }
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Any,
    Exact(String),
}

/// A compiled drop or keep path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathPattern {
    segments: Vec<Segment>,
}

impl PathPattern {
    pub(crate) fn parse(which: &'static str, text: &str) -> Result<Self, PolicyError> {
        let bad = |reason| PolicyError::BadPath {
            which,
            path: text.to_owned(),
            reason,
        };
        let Some(rest) = text.strip_prefix('/') else {
            return Err(bad("it must start with `/`"));
        };
        let mut segments = Vec::new();
        for raw in rest.split('/') {
            if raw == "*" {
                segments.push(Segment::Any);
                continue;
            }
            if raw.is_empty() {
                return Err(bad("it has an empty segment"));
            }
            segments.push(Segment::Exact(
                unescape(raw).ok_or_else(|| bad("`~` must be followed by 0 or 1"))?,
            ));
        }
        Ok(PathPattern { segments })
    }

    /// True when the pattern names exactly this position (not a parent or a
    /// child of it).
    pub(crate) fn matches(&self, steps: &[Step<'_>]) -> bool {
        self.segments.len() == steps.len()
            && self
                .segments
                .iter()
                .zip(steps)
                .all(|(segment, step)| match (segment, step) {
                    (Segment::Any, _) => true,
                    (Segment::Exact(want), Step::Key(key)) => want == key,
                    (Segment::Exact(want), Step::Index(index)) => want.parse() == Ok(*index),
                })
    }
}

impl PathPattern {
    /// Whether replacing what this pattern names could replace a position
    /// `kept` names: that position itself, or an object or a list that
    /// holds it.
    pub(crate) fn reaches(&self, kept: &PathPattern) -> bool {
        self.reaches_within(kept, kept.segments.len())
    }

    /// Whether replacing what this pattern names could replace an object or
    /// a list that holds a position `kept` names (not that position itself).
    pub(crate) fn holds(&self, kept: &PathPattern) -> bool {
        !kept.segments.is_empty() && self.reaches_within(kept, kept.segments.len() - 1)
    }

    fn reaches_within(&self, kept: &PathPattern, longest: usize) -> bool {
        self.segments.len() <= longest
            && self.segments.iter().zip(&kept.segments).all(|pair| match pair {
                (Segment::Any, _) | (_, Segment::Any) => true,
                (Segment::Exact(a), Segment::Exact(b)) => a == b,
            })
    }
}

fn unescape(raw: &str) -> Option<String> {
    if !raw.contains('~') {
        return Some(raw.to_owned());
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(ch) = chars.next() {
        if ch != '~' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some('0') => out.push('~'),
            Some('1') => out.push('/'),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drop_reaches_a_kept_field_itself_or_what_holds_it_never_a_sibling_or_a_child() {
        let p = |t| PathPattern::parse("drop", t).unwrap();
        assert!(p("/session_id").reaches(&p("/session_id")));
        assert!(p("/model").reaches(&p("/model/name")), "the object holding it");
        assert!(p("/*").reaches(&p("/session_id")));
        assert!(p("/tags/0").reaches(&p("/tags/*")), "one item of a kept list");
        assert!(p("/tags").reaches(&p("/tags/*")));
        assert!(!p("/model/seedling").reaches(&p("/model/seed")), "a sibling");
        assert!(!p("/model/name/x").reaches(&p("/model/name")), "inside a kept field there is nothing to drop");
        assert!(!p("/tool_execution/params").reaches(&p("/tool_execution/name")));
        assert!(p("/agent").holds(&p("/agent/name")) && p("/tags").holds(&p("/tags/*")));
        assert!(!p("/agent/name").holds(&p("/agent/name")) && !p("/tags/0").holds(&p("/tags/*")), "the field itself is not a holder");
    }

    #[test]
    fn a_star_matches_any_one_segment_and_only_one() {
        let pattern = PathPattern::parse("drop", "/messages/*/content").unwrap();
        assert!(pattern.matches(&[Step::Key("messages"), Step::Index(3), Step::Key("content")]));
        assert!(pattern.matches(&[Step::Key("messages"), Step::Key("x"), Step::Key("content")]));
        assert!(!pattern.matches(&[Step::Key("messages"), Step::Key("content")]));
        assert!(!pattern.matches(&[
            Step::Key("messages"),
            Step::Index(3),
            Step::Key("content"),
            Step::Index(0)
        ]));
    }

    #[test]
    fn escaped_slashes_and_tildes_round_trip() {
        let pattern = PathPattern::parse("keep", "/headers/a~1b~0c").unwrap();
        let steps = [Step::Key("headers"), Step::Key("a/b~c")];
        assert!(pattern.matches(&steps));
        assert_eq!(pointer(&steps), "/headers/a~1b~0c");
    }

    #[test]
    fn malformed_paths_are_refused_with_their_reason() {
        for (text, reason) in [
            ("tool/params", "it must start with `/`"),
            ("/tool//params", "it has an empty segment"),
            ("/a~2", "`~` must be followed by 0 or 1"),
        ] {
            match PathPattern::parse("drop", text) {
                Err(PolicyError::BadPath { reason: got, .. }) => assert_eq!(got, reason, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
