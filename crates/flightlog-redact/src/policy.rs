//! A project's redaction policy: plain data, stored as JSON, compiled once
//! into a [`Redactor`](crate::Redactor).

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::kind::BuiltinKind;

/// At most this many custom patterns per policy.
pub const MAX_CUSTOM_PATTERNS: usize = 32;
/// At most this many bytes in one custom pattern's source.
pub const MAX_PATTERN_LEN: usize = 512;
/// At most this many bytes of compiled program per custom pattern. A short
/// pattern such as `\w{1000}` can still compile to megabytes; this refuses it.
pub const MAX_COMPILED_PATTERN_BYTES: usize = 256 * 1024;
/// At most this many drop paths and, separately, keep paths.
pub const MAX_PATHS: usize = 64;
/// A pseudonym secret shorter than this is guessable.
pub const MIN_SECRET_LEN: usize = 16;

/// What to redact and how. `Policy::default()` turns every built-in kind on
/// and masks, so a new project is safe without configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// The built-in detectors that run.
    pub kinds: BTreeSet<BuiltinKind>,
    /// The project's own patterns, run in addition to the built-in kinds.
    pub custom: Vec<CustomPattern>,
    /// Field paths whose whole value is replaced by `[DROPPED]`, whatever it
    /// holds. A drop path wins over a keep path.
    pub drop_paths: Vec<String>,
    /// Field paths never scanned, with everything under them.
    pub keep_paths: Vec<String>,
    pub replacement: Replacement,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            kinds: BuiltinKind::ALL.into_iter().collect(),
            custom: Vec::new(),
            drop_paths: Vec::new(),
            keep_paths: Vec::new(),
            replacement: Replacement::Mask,
        }
    }
}

/// A named regular expression (the `regex` crate's syntax).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomPattern {
    /// Lower-case letters, digits, `_` and `-`; shown as `[CUSTOM:name]`.
    pub name: String,
    pub regex: String,
}

/// What a found value becomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Replacement {
    /// `[EMAIL]`, `[CARD]`, `[CUSTOM:name]`…
    Mask,
    /// `[EMAIL:7f3a2c]`: the first 6 hex digits of an HMAC-SHA256, keyed by
    /// the project's secret, over the kind and the normalised value. The same
    /// value always gives the same token within a project, so analysts can
    /// group by it without seeing it.
    Pseudonym { secret: PseudonymSecret },
}

/// The per-project HMAC key. It is part of the stored policy; whoever serves
/// the policy back to users should leave it out. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PseudonymSecret(pub String);

impl fmt::Debug for PseudonymSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PseudonymSecret(…)")
    }
}

/// Why a policy cannot be compiled. Each message names what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("too many custom patterns: {count}, at most {MAX_CUSTOM_PATTERNS}")]
    TooManyPatterns { count: usize },
    #[error(
        "custom pattern name `{name}` is not allowed: use 1 to 32 lower-case letters, digits, `_` or `-`"
    )]
    BadPatternName { name: String },
    #[error("custom pattern `{name}` appears twice")]
    DuplicatePatternName { name: String },
    #[error("custom pattern `{name}` is {len} bytes long, at most {MAX_PATTERN_LEN}")]
    PatternTooLong { name: String, len: usize },
    #[error("custom pattern `{name}` is not a valid regular expression: {reason}")]
    InvalidPattern { name: String, reason: String },
    #[error("custom pattern `{name}` matches the empty text, so it would match everywhere")]
    PatternMatchesEmpty { name: String },
    #[error("too many {which} paths: {count}, at most {MAX_PATHS}")]
    TooManyPaths { which: &'static str, count: usize },
    #[error("{which} path `{path}` is not a field path: {reason}")]
    BadPath {
        which: &'static str,
        path: String,
        reason: &'static str,
    },
    #[error("the pseudonym secret is {len} bytes long, at least {MIN_SECRET_LEN}")]
    SecretTooShort { len: usize },
}
