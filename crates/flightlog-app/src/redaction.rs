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

use flightlog_model::columns::{Cell, Field, STEP_COLUMNS};
use crate::{AppError, AppState};
use flightlog_model::validate::FieldError;
use flightlog_redact::{BuiltinKind, CleanTexts, CustomPattern, Policy, PseudonymSecret, Redactor, Replacement, Report};
use flightlog_store::PolicyKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a stored step lists its redactions: `[{"path", "kind", "count"}]`.
pub const REDACTED_FIELD: &str = "redacted";

/// How long a process trusts its copy of a project's policy before it
/// reads the store again: a policy set through another replica reaches the
/// writer within this.
const POLICY_RECHECK: Duration = Duration::from_secs(2);
/// How long a copy may stand in for a policy the store cannot be asked
/// for: a policy made stricter meanwhile must not wait out an outage.
const POLICY_STALE_LIMIT: Duration = Duration::from_secs(30);

/// What found values become, for every project without its own policy.
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

/// What a found value becomes under a project's policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplacementMode {
    /// `[EMAIL:7f3a2c]`: keyed by a per-project secret Flightlog derives
    /// from its signing key and never shows.
    #[default]
    Pseudonym,
    /// `[EMAIL]`.
    Mask,
}

fn all_kinds() -> BTreeSet<BuiltinKind> {
    BuiltinKind::ALL.into_iter().collect()
}

/// A project's redaction policy as an admin sets it: which built-in kinds
/// run, the project's own patterns, field paths always dropped or always
/// kept, and the replacement. Identifiers, names, times and numbers are
/// always kept as sent (see `kept_paths`), whatever `keep_paths` says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectRedaction {
    /// Built-in detectors that run (default: all of them; empty: none).
    #[serde(default = "all_kinds")]
    #[schema(value_type = Vec<String>, example = json!(["email", "phone", "card", "iban", "ip", "secret", "national_id"]))]
    pub kinds: BTreeSet<BuiltinKind>,
    /// The project's own patterns (`regex` syntax), shown as `[CUSTOM:name]`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>, example = json!([{"name": "order", "regex": "ORD-[0-9]{6}"}]))]
    pub custom: Vec<CustomPattern>,
    /// JSON pointers (`/tool_execution/params/body`, `*` for any key)
    /// whose whole value becomes `[DROPPED]`.
    #[serde(default)]
    pub drop_paths: Vec<String>,
    /// JSON pointers never scanned, with everything under them.
    #[serde(default)]
    pub keep_paths: Vec<String>,
    #[serde(default)]
    pub replacement: ReplacementMode,
}

impl Default for ProjectRedaction {
    fn default() -> Self {
        Self { kinds: all_kinds(), custom: Vec::new(), drop_paths: Vec::new(), keep_paths: Vec::new(), replacement: ReplacementMode::Pseudonym }
    }
}

/// A project's redaction as in force: its own policy, or the server's default.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RedactionInForce {
    pub project: String,
    pub policy: ProjectRedaction,
    /// `project` when the project set it, `server_default` else.
    pub source: PolicySource,
    /// When and by which key it was set (RFC 3339; absent for the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_by: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicySource {
    Project,
    ServerDefault,
}

/// The redactors by project, and how many values each kind replaced.
pub struct Redaction {
    mode: RedactionMode,
    redactors: Mutex<HashMap<String, Cached>>,
    counts: Mutex<BTreeMap<String, u64>>,
}

/// A project's compiled policy, and when the store was last asked.
#[derive(Clone)]
struct Cached {
    redactor: Option<Arc<Redactor>>,
    /// When the project's own policy was set (None: the server default).
    set_us: Option<i64>,
    checked: Instant,
}

impl Redaction {
    pub fn new(mode: RedactionMode) -> Self {
        Self { mode, redactors: Mutex::default(), counts: Mutex::default() }
    }

    pub fn mode(&self) -> RedactionMode {
        self.mode
    }

    /// The policy of a project that has not set its own.
    pub fn server_default(&self) -> ProjectRedaction {
        match self.mode {
            RedactionMode::Pseudonym => ProjectRedaction::default(),
            RedactionMode::Mask => ProjectRedaction { replacement: ReplacementMode::Mask, ..ProjectRedaction::default() },
            RedactionMode::Off => ProjectRedaction { kinds: BTreeSet::new(), ..ProjectRedaction::default() },
        }
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

    fn cached(&self, project: &str) -> Option<Cached> {
        self.redactors.lock().expect("redactors lock").get(project).cloned()
    }

    fn cache(&self, project: &str, entry: Cached) {
        self.redactors.lock().expect("redactors lock").insert(project.to_string(), entry);
    }
}

impl AppState {
    /// The redactor of `project` under its policy in force; None when
    /// nothing is to be redacted. Fails (so ingestion answers 503) when
    /// the policy cannot be read and this process has no copy of it:
    /// storing a step unredacted is never the fallback.
    pub async fn redactor(&self, project: &str) -> Result<Option<Arc<Redactor>>, AppError> {
        let cached = self.redaction.cached(project);
        if let Some(c) = &cached
            && c.checked.elapsed() < POLICY_RECHECK
        {
            return Ok(c.redactor.clone());
        }
        let row = match self.policy_in_force(project, PolicyKind::Redaction).await {
            Ok(row) => row,
            Err(e) => match cached {
                Some(c) if c.checked.elapsed() < POLICY_STALE_LIMIT => {
                    tracing::warn!(project, error = %e, "could not re-read the redaction policy; using the copy in memory");
                    return Ok(c.redactor);
                }
                _ => return Err(AppError::unavailable("the project's redaction policy cannot be read", e)),
            },
        };
        let set_us = row.as_ref().map(|r| r.set_us);
        let redactor = match cached {
            Some(c) if c.set_us == set_us => c.redactor,
            _ => {
                let policy = match &row {
                    Some(r) => serde_json::from_str(&r.body)
                        .map_err(|e| AppError::unavailable("the stored redaction policy cannot be read", e))?,
                    None => self.redaction.server_default(),
                };
                self.compile(project, &policy).map_err(|e| AppError::unavailable("the stored redaction policy does not compile", e))?
            }
        };
        self.redaction.cache(project, Cached { redactor: redactor.clone(), set_us, checked: Instant::now() });
        Ok(redactor)
    }

    /// The project's redaction policy in force.
    pub async fn redaction_policy(&self, project: &str) -> Result<RedactionInForce, AppError> {
        let row = self.policy_in_force(project, PolicyKind::Redaction).await?;
        Ok(match row {
            Some(r) => RedactionInForce {
                project: project.to_string(),
                policy: serde_json::from_str(&r.body).map_err(|e| AppError::unavailable("the stored redaction policy cannot be read", e))?,
                source: PolicySource::Project,
                set_at: Some(flightlog_model::time::format_timestamp(r.set_us)),
                set_by: Some(r.set_by),
            },
            None => RedactionInForce {
                project: project.to_string(),
                policy: self.redaction.server_default(),
                source: PolicySource::ServerDefault,
                set_at: None,
                set_by: None,
            },
        })
    }

    /// Puts a redaction policy in force for `project` (checked first: a
    /// policy that does not compile is refused, naming the field). Steps
    /// already stored stay as they were redacted when they arrived.
    pub async fn set_redaction_policy(&self, project: &str, policy: ProjectRedaction, by: &str) -> Result<RedactionInForce, AppError> {
        // The built-in kept paths are added to the project's own: its own
        // may use what is left of the limit, and the error counts its own.
        let room = flightlog_redact::policy::MAX_PATHS - kept_paths().len();
        if policy.keep_paths.len() > room {
            return Err(AppError::invalid("keep_paths", format!("has {} paths, at most {room}", policy.keep_paths.len())));
        }
        let bad = |e: flightlog_redact::PolicyError| AppError::invalid(policy_field(&e), e.to_string());
        if let Some(why) = schema_broken_by(&policy.drop_paths).map_err(bad)? {
            return Err(AppError::invalid("drop_paths", why));
        }
        // Identifiers, names, statuses, times and numbers are kept as sent
        // (see `kept_paths`): a user erased by id must still be found by it.
        if let Some((drop, field)) = flightlog_redact::drop_breaking_schema(&policy.drop_paths, &kept_paths(), &[]).map_err(bad)? {
            return Err(AppError::invalid(
                "drop_paths",
                format!("`{drop}` would replace `{field}`: identifiers, names, statuses, times and numbers are kept as sent; drop a path inside the content instead"),
            ));
        }
        let redactor = self.compile(project, &policy).map_err(bad)?;
        let body = serde_json::to_string(&policy).expect("a policy serialises");
        let row = self.put_policy(project, PolicyKind::Redaction, body, by).await?;
        self.redaction.cache(project, Cached { redactor, set_us: Some(row.set_us), checked: Instant::now() });
        tracing::info!(project, by, "redaction policy set");
        self.redaction_policy(project).await
    }

    /// The redactor a policy makes; None when it redacts nothing.
    fn compile(&self, project: &str, policy: &ProjectRedaction) -> Result<Option<Arc<Redactor>>, flightlog_redact::PolicyError> {
        if policy.kinds.is_empty() && policy.custom.is_empty() && policy.drop_paths.is_empty() {
            return Ok(None);
        }
        let replacement = match policy.replacement {
            ReplacementMode::Pseudonym => {
                let key = self.shared_secret(&format!("redaction pseudonyms of project {project}"));
                Replacement::Pseudonym { secret: PseudonymSecret(hex::encode(key)) }
            }
            ReplacementMode::Mask => Replacement::Mask,
        };
        let kept = kept_paths();
        // A drop path wins over a keep path, and one stored before such
        // paths were refused (or given as the server's default) would
        // merge sessions or refuse every step: it is left out.
        let drop_paths: Vec<String> = policy
            .drop_paths
            .iter()
            .filter(|d| match schema_broken_by(std::slice::from_ref(*d)) {
                Ok(Some(why)) => {
                    tracing::warn!(project, why, "a stored redaction drop path is not applied");
                    false
                }
                _ => true,
            })
            .cloned()
            .collect();
        let mut keep_paths = kept;
        keep_paths.extend(policy.keep_paths.iter().cloned());
        let policy = Policy {
            kinds: policy.kinds.clone(),
            custom: policy.custom.clone(),
            drop_paths,
            keep_paths,
            replacement,
        };
        Redactor::new(&policy).map(|r| Some(Arc::new(r)))
    }
}

/// The field of a policy that an error is about.
fn policy_field(e: &flightlog_redact::PolicyError) -> &'static str {
    use flightlog_redact::PolicyError as E;
    match e {
        E::TooManyPaths { which, .. } | E::BadPath { which, .. } => {
            if *which == "drop" { "drop_paths" } else { "keep_paths" }
        }
        E::SecretTooShort { .. } => "replacement",
        _ => "custom",
    }
}

/// Why dropping one of `drop_paths` would break steps, if it would: a
/// session's identity, its step numbers, times and numbers (replaced by
/// text, they would merge sessions or refuse every step), `metadata`, or an
/// object or a list of the step's schema (a step without its shape is
/// refused). A stored policy (set before drops were checked) has such paths
/// left out; its drops of text fields still apply, as they did.
fn schema_broken_by(drop_paths: &[String]) -> Result<Option<String>, flightlog_redact::PolicyError> {
    Ok(flightlog_redact::drop_breaking_schema(drop_paths, &fixed_paths(), &schema_paths())?.map(|(drop, field)| {
        format!("`{drop}` would replace `{field}` or what holds it, which a step needs as sent (its session, step number, times, numbers, and the shape of its objects and lists): drop a text field or a path inside the content instead")
    }))
}

/// The fields a step needs exactly as sent: its session, its step number,
/// its times and its numbers, and `metadata`, which must be an object.
fn fixed_paths() -> Vec<String> {
    field_pointers(|f, t| f.cell == Cell::Number || t.starts_with("DateTime") || ["session_id", "metadata"].contains(&f.path))
}

/// Every field of the step's schema (a list's items as `/*`): an object or
/// a list holding one is the step's shape.
fn schema_paths() -> Vec<String> {
    field_pointers(|_, _| true)
}

/// The fields left as sent: what a session is found by and a user erased
/// by (`session_id`, `user_id`), names (agent, model, tool, tags: the
/// low-cardinality columns), times, and numbers, whose type a replacement
/// would change (a 16-digit `seed` that passes Luhn is not a card).
/// A span's ids (random hex, what tells two spans apart: `spans`) are
/// kept too. Everything else (reasoning, params, results, errors, prompts,
/// completions, metadata, unknown fields) is scanned.
fn kept_paths() -> Vec<String> {
    let mut kept = field_pointers(|f, t| {
        matches!(f.cell, Cell::Number | Cell::List) || t.contains("LowCardinality(") || t.starts_with("DateTime") || ["session_id", "user_id"].contains(&f.path)
    });
    kept.extend(["/otel/trace_id", "/otel/span_id", "/otel/parent_span_id"].map(String::from));
    kept
}

/// The JSON pointers of the step's fields that `pick` chooses (given each
/// field and its column's type), a list's items as `/*`.
fn field_pointers(pick: impl Fn(&Field, &str) -> bool) -> Vec<String> {
    STEP_COLUMNS
        .iter()
        .filter_map(|c| Some((c.field()?, c.clickhouse_type)))
        .filter(|(f, t)| pick(f, t))
        .map(|(f, _)| {
            let pointer = format!("/{}", f.path.replace('.', "/"));
            if f.cell == Cell::List { format!("{pointer}/*") } else { pointer }
        })
        .collect()
}

/// Redacts one decoded record in place and records what was replaced in
/// it. A record that brings its own [`REDACTED_FIELD`] is refused: that
/// field is Flightlog's statement, not the client's.
/// `clean`: long texts found clean in the batch so far (see [`CleanTexts`]);
/// None for a record on its own.
pub fn redact_record(redactor: Option<&Redactor>, record: &mut Value, clean: Option<&mut CleanTexts>) -> Result<Report, FieldError> {
    let Some(object) = record.as_object() else { return Ok(Report::default()) };
    if object.contains_key(REDACTED_FIELD) {
        return Err(FieldError::new(REDACTED_FIELD, "is reserved: Flightlog records there what it redacted from the step"));
    }
    let Some(redactor) = redactor else { return Ok(Report::default()) };
    let report = match clean {
        Some(clean) => redactor.redact_remembering(record, clean),
        None => redactor.redact(record),
    };
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
        let report = redact_record(Some(&redactor), &mut record, None).unwrap();
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
        assert!(redact_record(Some(&redactor), &mut clean, None).unwrap().is_empty());
        assert_eq!(clean, before);
        let mut forged = json!({"session_id": "s", "redacted": []});
        assert_eq!(redact_record(None, &mut forged, None).unwrap_err().field, REDACTED_FIELD);
    }

    #[test]
    fn identifiers_names_and_numbers_are_kept_and_content_is_scanned() {
        let policy = Policy { keep_paths: kept_paths(), ..Policy::default() };
        let redactor = Redactor::new(&policy).unwrap();
        let mut record = json!({"session_id": "jane@example.com", "user_id": "jane@example.com", "step": 4111111111111111u64,
            "model": {"name": "gpt-4o", "seed": 4111111111111111u64}, "tags": ["jane@example.com"],
            "agent_thoughts": {"reasoning": "mail jane@example.com"}, "prompt": {"completion": "jane@example.com"}});
        let before = record.clone();
        let report = redact_record(Some(&redactor), &mut record, None).unwrap();
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
