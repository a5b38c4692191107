//! Walking a step's JSON and redacting every string in it.

use std::borrow::Cow;
use std::collections::HashSet;

use serde_json::Value;

use crate::detect::{Finding, Scanner};
use crate::kind::Kind;
use crate::path::{PathPattern, Step, pointer};
use crate::policy::{MAX_CUSTOM_PATTERNS, MAX_PATHS, MAX_PATTERN_LEN, Policy, PolicyError};
use crate::replace::{DROPPED, Replacer};
use crate::report::Report;

/// A policy compiled once, to be applied to many steps (it is `Send` and
/// `Sync`; share it behind an `Arc`).
pub struct Redactor {
    scanner: Scanner,
    drop_paths: Vec<PathPattern>,
    keep_paths: Vec<PathPattern>,
    replacer: Replacer,
}

/// Long texts already scanned and found clean, so that a text sent again
/// (an agent's conversation so far, repeated in each of its LLM calls) is
/// scanned once per batch instead of once per step. The texts themselves
/// are the keys, so a hit is the same text, never a lookalike. Keep one per
/// batch of records: the set only grows, up to [`CleanTexts::MAX_BYTES`].
/// It belongs to the redactor that filled it: used with another (another
/// policy), it forgets everything first.
#[derive(Default)]
pub struct CleanTexts {
    texts: HashSet<String, foldhash::fast::RandomState>,
    bytes: usize,
    /// The address of the redactor that found these texts clean.
    redactor: usize,
}

impl CleanTexts {
    /// Shorter texts are scanned each time: they are cheap to scan and
    /// many, and rarely repeated whole.
    pub const MIN_LEN: usize = 256;
    /// Texts kept at most, in bytes (a batch's body is at most 32 MiB);
    /// beyond it, texts are scanned anew.
    pub const MAX_BYTES: usize = 16 << 20;

    fn belong_to(&mut self, redactor: &Redactor) {
        let address = redactor as *const Redactor as usize;
        if self.redactor != address {
            self.texts.clear();
            self.bytes = 0;
            self.redactor = address;
        }
    }

    fn contains(&self, text: &str) -> bool {
        text.len() >= Self::MIN_LEN && self.texts.contains(text)
    }

    fn remember(&mut self, text: &str) {
        if text.len() >= Self::MIN_LEN && self.bytes + text.len() <= Self::MAX_BYTES && self.texts.insert(text.to_owned()) {
            self.bytes += text.len();
        }
    }
}

/// Where a walk is and what it has found so far.
struct Walk<'w, 'v> {
    path: &'w mut Vec<Step<'v>>,
    found: &'w mut Vec<Finding>,
    report: &'w mut Report,
    /// None: one record alone, nothing to remember for.
    clean: Option<&'w mut CleanTexts>,
}

/// Integers at least this large are scanned too: a card number or a BSN sent
/// as a JSON number is still one. Smaller ones cannot hold any of the kinds.
const SCANNED_INTEGER: u64 = 100_000_000;

impl Redactor {
    /// Checks and compiles the policy. Every error names the pattern or
    /// path at fault.
    pub fn new(policy: &Policy) -> Result<Redactor, PolicyError> {
        check_custom_patterns(policy)?;
        let scanner = Scanner::new(|kind| policy.kinds.contains(&kind), &policy.custom)?;
        Ok(Redactor {
            scanner,
            drop_paths: parse_paths("drop", &policy.drop_paths)?,
            keep_paths: parse_paths("keep", &policy.keep_paths)?,
            replacer: Replacer::new(&policy.replacement)?,
        })
    }

    /// Redacts every string inside `value`, in place, at any depth, and
    /// reports what it replaced. Object keys are never changed: they are
    /// the step's schema, not its content. Large integers (nine digits or
    /// more) are scanned as text and become a string when redacted. A JSON
    /// document encoded inside a string is scanned as plain text.
    pub fn redact(&self, value: &mut Value) -> Report {
        self.redact_with(value, None)
    }

    /// [`Redactor::redact`], skipping the scan of long texts that `clean`
    /// holds and remembering there those it finds clean: for a batch of
    /// records that repeat each other's texts. The result is the same.
    pub fn redact_remembering(&self, value: &mut Value, clean: &mut CleanTexts) -> Report {
        clean.belong_to(self);
        self.redact_with(value, Some(clean))
    }

    fn redact_with(&self, value: &mut Value, clean: Option<&mut CleanTexts>) -> Report {
        let mut report = Report::default();
        let mut path = Vec::new();
        let mut found = Vec::new();
        self.walk(value, &mut Walk { path: &mut path, found: &mut found, report: &mut report, clean });
        report
    }

    /// Redacts one text outside any JSON. Returns it borrowed, untouched,
    /// when there is nothing to redact; the report's paths are empty.
    pub fn redact_text<'t>(&self, text: &'t str) -> (Cow<'t, str>, Report) {
        let mut report = Report::default();
        let mut found = Vec::new();
        self.scanner.scan(text, &mut found);
        if found.is_empty() {
            return (Cow::Borrowed(text), report);
        }
        for finding in &found {
            report.add("", &finding.kind);
        }
        (Cow::Owned(self.replace(text, &found)), report)
    }

    fn walk<'v>(&self, value: &'v mut Value, w: &mut Walk<'_, 'v>) {
        if self.drop_paths.iter().any(|p| p.matches(w.path)) {
            *value = Value::String(DROPPED.to_owned());
            w.report.add(&pointer(w.path), &Kind::Dropped);
            return;
        }
        if self.keep_paths.iter().any(|p| p.matches(w.path)) {
            return;
        }
        match value {
            Value::String(text) => {
                self.redact_string(text, w);
            }
            Value::Number(number) => {
                let Some(integer) = number
                    .as_u64()
                    .or_else(|| number.as_i64().map(i64::unsigned_abs))
                else {
                    return;
                };
                if integer < SCANNED_INTEGER {
                    return;
                }
                let mut text = number.to_string();
                if self.redact_string(&mut text, w) {
                    *value = Value::String(text);
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter_mut().enumerate() {
                    w.path.push(Step::Index(index));
                    self.walk(item, w);
                    w.path.pop();
                }
            }
            Value::Object(fields) => {
                for (key, field) in fields.iter_mut() {
                    w.path.push(Step::Key(key));
                    self.walk(field, w);
                    w.path.pop();
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }

    /// Returns whether the text changed. Clean text is left in place (a
    /// long one is copied once into `w.clean`, when there is one).
    fn redact_string(&self, text: &mut String, w: &mut Walk<'_, '_>) -> bool {
        if w.clean.as_ref().is_some_and(|c| c.contains(text)) {
            return false;
        }
        w.found.clear();
        self.scanner.scan(text, w.found);
        if w.found.is_empty() {
            if let Some(clean) = w.clean.as_mut() {
                clean.remember(text);
            }
            return false;
        }
        let at = pointer(w.path);
        for finding in w.found.iter() {
            w.report.add(&at, &finding.kind);
        }
        *text = self.replace(text, w.found);
        true
    }

    fn replace(&self, text: &str, found: &[Finding]) -> String {
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for finding in found {
            out.push_str(&text[copied..finding.range.start]);
            out.push_str(
                &self
                    .replacer
                    .token(&finding.kind, &text[finding.range.clone()]),
            );
            copied = finding.range.end;
        }
        out.push_str(&text[copied..]);
        out
    }
}

fn check_custom_patterns(policy: &Policy) -> Result<(), PolicyError> {
    if policy.custom.len() > MAX_CUSTOM_PATTERNS {
        return Err(PolicyError::TooManyPatterns {
            count: policy.custom.len(),
        });
    }
    for (index, pattern) in policy.custom.iter().enumerate() {
        let name = &pattern.name;
        let good_name = (1..=32).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !good_name {
            return Err(PolicyError::BadPatternName { name: name.clone() });
        }
        if policy.custom[..index]
            .iter()
            .any(|earlier| earlier.name == *name)
        {
            return Err(PolicyError::DuplicatePatternName { name: name.clone() });
        }
        if pattern.regex.len() > MAX_PATTERN_LEN {
            return Err(PolicyError::PatternTooLong {
                name: name.clone(),
                len: pattern.regex.len(),
            });
        }
    }
    Ok(())
}

/// The first of `drop_paths` that a step's schema forbids, with the field
/// it would break, as (drop path, field): one that would replace a field of
/// `fixed` (identity, times and numbers, whose replacement by text would
/// merge sessions or refuse steps) or an object or a list holding one, or
/// that would replace an object or a list holding a field of `typed` (the
/// step would lose its shape). A drop path wins over a keep path when a
/// step is redacted, so a policy's owner checks its drops first.
pub fn drop_breaking_schema(drop_paths: &[String], fixed: &[String], typed: &[String]) -> Result<Option<(String, String)>, PolicyError> {
    let (fixed_patterns, typed_patterns) = (parse_paths("keep", fixed)?, parse_paths("keep", typed)?);
    for (text, drop) in drop_paths.iter().zip(parse_paths("drop", drop_paths)?) {
        if let Some(i) = fixed_patterns.iter().position(|k| drop.reaches(k)) {
            return Ok(Some((text.clone(), fixed[i].clone())));
        }
        if let Some(i) = typed_patterns.iter().position(|k| drop.holds(k)) {
            return Ok(Some((text.clone(), typed[i].clone())));
        }
    }
    Ok(None)
}

fn parse_paths(which: &'static str, paths: &[String]) -> Result<Vec<PathPattern>, PolicyError> {
    if paths.len() > MAX_PATHS {
        return Err(PolicyError::TooManyPaths {
            which,
            count: paths.len(),
        });
    }
    paths
        .iter()
        .map(|path| PathPattern::parse(which, path))
        .collect()
}
