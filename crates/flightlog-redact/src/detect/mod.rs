//! Finding personal data and secrets in one text.
//!
//! Each built-in detector is a regular expression that proposes candidates
//! and a validator that keeps only the real ones (a Luhn check for cards,
//! mod 97 for IBANs, `std::net` parsing for IP addresses…). Clean text is the
//! common case, so a [`Scanner`] first asks two cheap questions over the
//! whole text, and runs a detector only when the answer allows a match:
//!
//! - detectors that start with a fixed anchor (`@`, `sk-`, `AKIA`, `eyJ`,
//!   `-----BEGIN`…) run only when an Aho-Corasick pass finds the anchor;
//! - the others (numbers of all kinds, custom patterns) share one
//!   `RegexSet` pass that says which of them match at all.

mod card;
mod context;
mod email;
mod iban;
mod ip;
mod national_id;
mod phone;
mod secret;

use std::ops::Range;

pub(crate) use ip::canonical as ip_canonical;

use aho_corasick::AhoCorasick;
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use crate::kind::{BuiltinKind, Kind};
use crate::policy::{CustomPattern, MAX_COMPILED_PATTERN_BYTES, PolicyError};

/// Checks a candidate in its surrounding text and returns the part to
/// redact, or `None` when the candidate is not the real thing.
pub(crate) type Validator = fn(text: &str, candidate: Range<usize>) -> Option<Range<usize>>;

/// A built-in detector, as data.
pub(crate) struct Detector {
    pub kind: BuiltinKind,
    pub pattern: &'static str,
    /// The detector can only match where one of these occurs (compared
    /// ignoring ASCII case). Empty: no anchor, so it goes into the
    /// `RegexSet` pass.
    pub anchors: &'static [&'static str],
    pub validate: Validator,
    /// Where two findings overlap, they become one, labelled with the kind
    /// of the higher priority.
    pub priority: u8,
}

fn builtin_detectors() -> impl Iterator<Item = &'static Detector> {
    [
        email::DETECTORS,
        phone::DETECTORS,
        card::DETECTORS,
        iban::DETECTORS,
        ip::DETECTORS,
        secret::DETECTORS,
        national_id::DETECTORS,
    ]
    .into_iter()
    .flatten()
}

/// A project's own pattern outranks the built-in kinds: it says what the
/// project wants to call a match.
const CUSTOM_PRIORITY: u8 = 200;

struct Rule {
    kind: Kind,
    regex: Regex,
    validate: Option<Validator>,
    priority: u8,
}

/// One redaction inside one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub range: Range<usize>,
    pub kind: Kind,
}

/// The compiled detectors of one policy.
pub(crate) struct Scanner {
    rules: Vec<Rule>,
    anchors: Option<AhoCorasick>,
    /// For each anchor pattern of `anchors`, the rule it gates.
    anchor_rule: Vec<usize>,
    unanchored: Option<RegexSet>,
    /// For each pattern of `unanchored`, its rule.
    unanchored_rule: Vec<usize>,
}

impl Scanner {
    pub(crate) fn new(
        kinds: impl Fn(BuiltinKind) -> bool,
        custom: &[CustomPattern],
    ) -> Result<Scanner, PolicyError> {
        let mut rules = Vec::new();
        let mut anchor_words = Vec::new();
        let mut anchor_rule = Vec::new();
        let mut unanchored_patterns = Vec::new();
        let mut unanchored_rule = Vec::new();

        for detector in builtin_detectors().filter(|d| kinds(d.kind)) {
            let regex = Regex::new(detector.pattern)
                .unwrap_or_else(|e| panic!("built-in pattern for {:?}: {e}", detector.kind));
            if detector.anchors.is_empty() {
                unanchored_patterns.push(detector.pattern.to_owned());
                unanchored_rule.push(rules.len());
            }
            for anchor in detector.anchors {
                anchor_words.push(*anchor);
                anchor_rule.push(rules.len());
            }
            rules.push(Rule {
                kind: Kind::Builtin(detector.kind),
                regex,
                validate: Some(detector.validate),
                priority: detector.priority,
            });
        }
        for pattern in custom {
            unanchored_patterns.push(pattern.regex.clone());
            unanchored_rule.push(rules.len());
            rules.push(Rule {
                kind: Kind::Custom(pattern.name.clone()),
                regex: compile_custom(pattern)?,
                validate: None,
                priority: CUSTOM_PRIORITY,
            });
        }

        let anchors = (!anchor_words.is_empty()).then(|| {
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(&anchor_words)
                .expect("built-in anchors are short literals")
        });
        let unanchored = if unanchored_patterns.is_empty() {
            None
        } else {
            // Every pattern here already compiled on its own within limits;
            // the set gets room for all of them together.
            let limit = MAX_COMPILED_PATTERN_BYTES * (unanchored_patterns.len() + 8);
            Some(
                RegexSetBuilder::new(&unanchored_patterns)
                    .size_limit(limit)
                    .build()
                    .map_err(|e| PolicyError::InvalidPattern {
                        name: "(all custom patterns together)".to_owned(),
                        reason: e.to_string(),
                    })?,
            )
        };
        assert!(
            rules.len() <= 64,
            "MAX_CUSTOM_PATTERNS keeps the rules within a u64"
        );
        Ok(Scanner {
            rules,
            anchors,
            anchor_rule,
            unanchored,
            unanchored_rule,
        })
    }

    /// Appends to `found` the redactions in `text`, in order and without
    /// overlaps. Leaves `found` untouched when there are none.
    pub(crate) fn scan(&self, text: &str, found: &mut Vec<Finding>) {
        // One bit per rule; `new` keeps the rule count within 64. A bit
        // set rather than a Vec: this runs for every string of every step.
        let mut candidates: u64 = 0;
        if let Some(anchors) = &self.anchors {
            // Non-overlapping search can use the SIMD prefilter; anchors
            // that overlap one another (none of the built-in ones do in
            // practice) would at worst hide each other within one match.
            for hit in anchors.find_iter(text) {
                candidates |= 1 << self.anchor_rule[hit.pattern().as_usize()];
            }
        }
        if let Some(set) = &self.unanchored {
            for index in set.matches(text).iter() {
                candidates |= 1 << self.unanchored_rule[index];
            }
        }
        if candidates == 0 {
            return;
        }

        // (range, priority, rule)
        let mut hits: Vec<(Range<usize>, u8, usize)> = Vec::new();
        for (index, rule) in self
            .rules
            .iter()
            .enumerate()
            .filter(|(i, _)| candidates & (1 << i) != 0)
        {
            for candidate in rule.regex.find_iter(text) {
                let range = match rule.validate {
                    Some(validate) => validate(text, candidate.range()),
                    None => Some(candidate.range()),
                };
                if let Some(range) = range.filter(|r| !r.is_empty()) {
                    hits.push((range, rule.priority, index));
                }
            }
        }
        merge_overlaps(&mut hits);
        found.extend(hits.into_iter().map(|(range, _, index)| Finding {
            range,
            kind: self.rules[index].kind.clone(),
        }));
    }
}

/// Overlapping findings become one span covering both, so that no part of
/// either leaks; it keeps the label of the higher priority.
fn merge_overlaps(hits: &mut Vec<(Range<usize>, u8, usize)>) {
    hits.sort_by_key(|(range, _, _)| (range.start, std::cmp::Reverse(range.end)));
    let mut merged: Vec<(Range<usize>, u8, usize)> = Vec::with_capacity(hits.len());
    for (range, priority, rule) in hits.drain(..) {
        match merged.last_mut() {
            Some(last) if range.start < last.0.end => {
                last.0.end = last.0.end.max(range.end);
                if priority > last.1 {
                    last.1 = priority;
                    last.2 = rule;
                }
            }
            _ => merged.push((range, priority, rule)),
        }
    }
    *hits = merged;
}

fn compile_custom(pattern: &CustomPattern) -> Result<Regex, PolicyError> {
    let regex = RegexBuilder::new(&pattern.regex)
        .size_limit(MAX_COMPILED_PATTERN_BYTES)
        .dfa_size_limit(MAX_COMPILED_PATTERN_BYTES)
        .build()
        .map_err(|e| PolicyError::InvalidPattern {
            name: pattern.name.clone(),
            reason: e.to_string(),
        })?;
    if regex.is_match("") {
        return Err(PolicyError::PatternMatchesEmpty {
            name: pattern.name.clone(),
        });
    }
    Ok(regex)
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// The parts of `text` that the given built-in kind alone would redact.
    pub(crate) fn found(kind: BuiltinKind, text: &str) -> Vec<String> {
        let scanner = Scanner::new(|k| k == kind, &[]).unwrap();
        let mut found = Vec::new();
        scanner.scan(text, &mut found);
        found
            .into_iter()
            .map(|f| text[f.range].to_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_findings_merge_under_the_higher_priority() {
        let mut hits = vec![(5..10, 20, 1), (0..7, 50, 0), (12..14, 20, 2)];
        merge_overlaps(&mut hits);
        assert_eq!(hits, vec![(0..10, 50, 0), (12..14, 20, 2)]);
    }

    #[test]
    fn every_built_in_pattern_compiles() {
        for detector in builtin_detectors() {
            Regex::new(detector.pattern).unwrap();
        }
    }
}
