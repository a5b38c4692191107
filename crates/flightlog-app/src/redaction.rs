//! Redaction at ingestion: every step, whichever front end it came
//! through (the native API, OTLP over HTTP or gRPC, the demo), passes
//! through its project's redactor (flightlog-redact) before it is
//! validated, hashed, stored or embedded. What Flightlog keeps never held
//! the found values, and each stored step says what was replaced, where,
//! under the reserved field [`REDACTED_FIELD`], never the original.
//!
//! The default turns every built-in kind on and replaces each value with a
//! keyed pseudonym (`[EMAIL:7f3a2c]`): the same address gives the same
//! token within a project, so repeated side effects to one customer are
//! still seen as repeated. The key is derived from the signing key and the
//! project, so replicas sharing the signing key agree, and a re-sent step
//! is redacted identically and stays a duplicate.

use crate::AppState;
use flightlog_model::validate::FieldError;
use flightlog_redact::{Policy, PseudonymSecret, Redactor, Replacement, Report};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

/// Where a stored step lists its redactions: `[{"path", "kind", "count"}]`.
pub const REDACTED_FIELD: &str = "redacted";

/// What found values become, for every project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedactionMode {
    /// `[EMAIL:7f3a2c]` (the default).
    Pseudonym,
    /// `[EMAIL]`.
    Mask,
    /// Nothing is redacted.
    Off,
}

impl FromStr for RedactionMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pseudonym" => Ok(Self::Pseudonym),
            "mask" => Ok(Self::Mask),
            "off" => Ok(Self::Off),
            other => Err(format!("redaction must be pseudonym, mask or off, got {other:?}")),
        }
    }
}

/// The redactors by project, and how many values each kind replaced.
pub struct Redaction {
    mode: RedactionMode,
    redactors: Mutex<HashMap<String, Arc<Redactor>>>,
    counts: Mutex<BTreeMap<String, u64>>,
}

impl Redaction {
    pub fn new(mode: RedactionMode) -> Self {
        Self { mode, redactors: Mutex::default(), counts: Mutex::default() }
    }

    pub fn mode(&self) -> RedactionMode {
        self.mode
    }

    /// Values replaced since start, by kind (`email`, `card`…).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.counts.lock().expect("counts lock").clone()
    }

    pub(crate) fn count(&self, replaced: &BTreeMap<String, u64>) {
        let mut counts = self.counts.lock().expect("counts lock");
        for (kind, n) in replaced {
            *counts.entry(kind.clone()).or_default() += n;
        }
    }
}

impl AppState {
    /// The redactor of `project`; None when redaction is off.
    pub fn redactor(&self, project: &str) -> Option<Arc<Redactor>> {
        if self.redaction.mode == RedactionMode::Off {
            return None;
        }
        let mut redactors = self.redaction.redactors.lock().expect("redactors lock");
        let redactor = redactors.entry(project.to_string()).or_insert_with(|| {
            let replacement = match self.redaction.mode {
                RedactionMode::Pseudonym => {
                    let key = self.shared_secret(&format!("redaction pseudonyms of project {project}"));
                    Replacement::Pseudonym { secret: PseudonymSecret(hex::encode(key)) }
                }
                _ => Replacement::Mask,
            };
            let policy = Policy { replacement, keep_paths: kept_paths(), ..Policy::default() };
            Arc::new(Redactor::new(&policy).expect("the built-in policy compiles"))
        });
        Some(redactor.clone())
    }
}

/// The fields left as sent: what a session is found by and a user erased
/// by (`session_id`, `user_id`), names (agent, model, tool, tags: the
/// low-cardinality columns), times, and numbers, whose type a replacement
/// would change (a 16-digit `seed` that passes Luhn is not a card).
/// Everything else (reasoning, params, results, errors, prompts,
/// completions, metadata, unknown fields) is scanned.
fn kept_paths() -> Vec<String> {
    use flightlog_model::columns::{Cell, STEP_COLUMNS};
    STEP_COLUMNS
        .iter()
        .filter_map(|c| Some((c.field()?, c.clickhouse_type)))
        .filter(|(f, t)| {
            matches!(f.cell, Cell::Number | Cell::List)
                || t.contains("LowCardinality(")
                || t.starts_with("DateTime")
                || ["session_id", "user_id"].contains(&f.path)
        })
        .map(|(f, _)| {
            let pointer = format!("/{}", f.path.replace('.', "/"));
            if f.cell == Cell::List { format!("{pointer}/*") } else { pointer }
        })
        .collect()
}

/// Redacts one decoded record in place and records what was replaced in
/// it. A record that brings its own [`REDACTED_FIELD`] is refused: that
/// field is Flightlog's statement, not the client's.
pub fn redact_record(redactor: Option<&Redactor>, record: &mut Value) -> Result<Report, FieldError> {
    let Some(object) = record.as_object() else { return Ok(Report::default()) };
    if object.contains_key(REDACTED_FIELD) {
        return Err(FieldError::new(REDACTED_FIELD, "is reserved: Flightlog records there what it redacted from the step"));
    }
    let Some(redactor) = redactor else { return Ok(Report::default()) };
    let report = redactor.redact(record);
    if !report.is_empty() {
        let listed = serde_json::to_value(&report.redactions).expect("a report serialises");
        record.as_object_mut().expect("still an object").insert(REDACTED_FIELD.into(), listed);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_lists_what_was_replaced_and_never_the_value() {
        let redactor = Redactor::new(&Policy::default()).unwrap();
        let mut record = json!({"session_id": "s", "tool_execution": {"params": {"to": "jane.doe@example.com"}}});
        let report = redact_record(Some(&redactor), &mut record).unwrap();
        assert_eq!(report.total(), 1);
        assert_eq!(record["tool_execution"]["params"]["to"], "[EMAIL]");
        assert_eq!(record[REDACTED_FIELD], json!([{"path": "/tool_execution/params/to", "kind": "email", "count": 1}]));
        assert!(!record.to_string().contains("jane.doe"));
    }

    #[test]
    fn a_clean_record_is_left_as_sent_and_the_reserved_field_is_refused() {
        let redactor = Redactor::new(&Policy::default()).unwrap();
        let mut clean = json!({"session_id": "s", "agent_thoughts": {"reasoning": "look up order 1234567"}});
        let before = clean.clone();
        assert!(redact_record(Some(&redactor), &mut clean).unwrap().is_empty());
        assert_eq!(clean, before);
        let mut forged = json!({"session_id": "s", "redacted": []});
        assert_eq!(redact_record(None, &mut forged).unwrap_err().field, REDACTED_FIELD);
    }

    #[test]
    fn identifiers_names_and_numbers_are_kept_and_content_is_scanned() {
        let policy = Policy { keep_paths: kept_paths(), ..Policy::default() };
        let redactor = Redactor::new(&policy).unwrap();
        let mut record = json!({"session_id": "jane@example.com", "user_id": "jane@example.com", "step": 4111111111111111u64,
            "model": {"name": "gpt-4o", "seed": 4111111111111111u64}, "tags": ["jane@example.com"],
            "agent_thoughts": {"reasoning": "mail jane@example.com"}, "prompt": {"completion": "jane@example.com"}});
        let before = record.clone();
        let report = redact_record(Some(&redactor), &mut record).unwrap();
        for kept in ["/session_id", "/user_id", "/step", "/model/seed", "/tags/0"] {
            assert_eq!(record.pointer(kept), before.pointer(kept), "{kept}");
        }
        let paths: Vec<&str> = report.redactions.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/agent_thoughts/reasoning", "/prompt/completion"]);
    }

    #[test]
    fn modes_parse_by_name() {
        assert_eq!("pseudonym".parse(), Ok(RedactionMode::Pseudonym));
        assert_eq!("off".parse(), Ok(RedactionMode::Off));
        assert!("none".parse::<RedactionMode>().is_err());
    }
}
