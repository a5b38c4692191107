//! From a decoded JSON value to a [`Step`], or a [`FieldError`] naming the
//! field and the problem. Only `session_id`, `step` and `timestamp` are
//! required; an optional field that is present must have the right type,
//! because silently dropping a mistyped field would lose audit data.

use crate::canonical::to_canonical_json;
use crate::integrity::canonical_form;
use crate::time::parse_timestamp;
use crate::{Limits, Step};
use serde_json::{Map, Value};
use std::ops::RangeInclusive;

/// The fields every step must have; the others are optional.
pub const REQUIRED_FIELDS: [&str; 3] = ["session_id", "step", "timestamp"];
/// The range a step's `model.temperature` must be in.
pub const TEMPERATURE_RANGE: RangeInclusive<f64> = 0.0..=100.0;
/// 2^53: below it a double still holds every whole number exactly.
pub const EXACT_IN_A_DOUBLE: f64 = 9_007_199_254_740_992.0;
/// The range a step's `model.top_p` must be in.
pub const TOP_P_RANGE: RangeInclusive<f64> = 0.0..=1.0;
/// The longest a tool call may last, in ms: ten years of 365.25 days. A
/// step's start plus it, in microseconds, stays far inside an i64.
pub const MAX_DURATION_MS: u64 = 315_576_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the offending field, e.g. `agent_thoughts.confidence`.
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { field: field.into(), reason: reason.into() }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

type Result<T> = std::result::Result<T, FieldError>;

/// What a step newly sent must also meet, beyond what [`step_from_json`]
/// reads: rules added after steps were stored under the reader's, which
/// verification rebuilds stored steps by (a stored step that broke one
/// would read as tampered with). Ingestion asks both.
pub fn admit(step: &Step, limits: &Limits) -> Result<()> {
    let at_most = |path: &str, n: Option<u64>, limit: u64, unit: &str| match n {
        // Exports and the waterfall read these as signed 64-bit numbers,
        // and a start plus a duration in microseconds must not wrap.
        Some(n) if n > limit => Err(FieldError::new(path, format!("is {n}; the limit is {limit} {unit}"))),
        _ => Ok(()),
    };
    at_most("tool_execution.duration_ms", step.tool_duration_ms, MAX_DURATION_MS, "ms (ten years)")?;
    at_most("model.max_tokens", step.max_tokens, limits.max_tokens, "tokens")?;
    // Tool names and tags are names as much as the chosen tool is: a
    // control or direction character in one reorders what a page shows
    // beside it.
    for (path, names) in [("agent_thoughts.considered_tools", &step.considered_tools), ("tags", &step.tags)] {
        for (i, name) in names.iter().enumerate() {
            check_id(&format!("{path}[{i}]"), name, limits.max_id_bytes)?;
        }
    }
    Ok(())
}

pub fn step_from_json(value: Value, limits: &Limits) -> Result<Step> {
    let Value::Object(obj) = &value else {
        return Err(FieldError::new("(record)", format!("must be a JSON object, got {}", kind(&value))));
    };
    let canonical = canonical_form(&value);
    if canonical.raw.len() > limits.max_record_bytes {
        return Err(FieldError::new(
            "(record)",
            format!("is {} bytes; the limit is {} bytes per record", canonical.raw.len(), limits.max_record_bytes),
        ));
    }
    let f = Fields { limits, canonical: &canonical };

    // REQUIRED_FIELDS, in order.
    let session_id = f.required_id(obj, "session_id")?;
    let step = match obj.get("step") {
        None | Some(Value::Null) => return Err(FieldError::new("step", "is required")),
        Some(v) => v.as_u64().filter(|n| *n <= crate::step::MAX_STEP).ok_or_else(|| {
            FieldError::new("step", format!("must be an integer from 0 to {}, got {}", crate::step::MAX_STEP, show(v)))
        })?,
    };
    let timestamp_us = match obj.get("timestamp") {
        None | Some(Value::Null) => return Err(FieldError::new("timestamp", "is required")),
        Some(Value::String(s)) => parse_timestamp(s)?,
        Some(v) => return Err(FieldError::new("timestamp", format!("must be an RFC 3339 string, got {}", kind(v)))),
    };

    let agent = f.object(obj, "agent")?;
    let thoughts = f.object(obj, "agent_thoughts")?;
    let tool = f.object(obj, "tool_execution")?;
    let model = f.object(obj, "model")?;
    let prompt = f.object(obj, "prompt")?;
    let cost = f.object(obj, "cost")?;

    let model_name = f.id(model, "model.name")?;
    let step = Step {
        model_key: crate::pricing::model_key(&model_name),
        model_name,
        session_id,
        step,
        timestamp_us,
        agent_name: f.id(agent, "agent.name")?,
        agent_version: f.id(agent, "agent.version")?,
        reasoning: f.text(thoughts, "agent_thoughts.reasoning")?,
        considered_tools: f.id_list(thoughts, "agent_thoughts.considered_tools")?,
        chosen_tool: f.id(thoughts, "agent_thoughts.chosen_tool")?,
        confidence: f.number_in(thoughts, "agent_thoughts.confidence", 0.0..=1.0)?,
        tool_name: f.id(tool, "tool_execution.name")?,
        tool_params: f.json(tool, "tool_execution.params")?,
        tool_result: f.json(tool, "tool_execution.result")?,
        tool_status: f.id(tool, "tool_execution.status")?,
        tool_error: f.text_or_json(tool, "tool_execution.error")?,
        tool_duration_ms: f.unsigned(tool, "tool_execution.duration_ms")?,
        model_provider: f.id(model, "model.provider")?,
        model_version: f.id(model, "model.version")?,
        temperature: f.number_in(model, "model.temperature", TEMPERATURE_RANGE)?,
        top_p: f.number_in(model, "model.top_p", TOP_P_RANGE)?,
        seed: f.signed(model, "model.seed")?,
        max_tokens: f.unsigned(model, "model.max_tokens")?,
        prompt_system: f.text_or_json(prompt, "prompt.system")?,
        prompt_messages: f.json(prompt, "prompt.messages")?,
        completion: f.text_or_json(prompt, "prompt.completion")?,
        input_tokens: f.tokens(cost, "cost.input_tokens")?,
        output_tokens: f.tokens(cost, "cost.output_tokens")?,
        cache_read_tokens: f.tokens(cost, "cost.cache_read_tokens")?,
        cache_write_tokens: f.tokens(cost, "cost.cache_write_tokens")?,
        reasoning_tokens: f.tokens(cost, "cost.reasoning_tokens")?,
        estimated_cost: f.number_in(cost, "cost.estimated_cost", 0.0..=limits.max_estimated_cost)?,
        user_id: f.path_segment_id(Some(obj), "user_id")?,
        tags: f.id_list(Some(obj), "tags")?,
        metadata: match obj.get("metadata") {
            None | Some(Value::Null) => String::new(),
            Some(v @ Value::Object(_)) => f.sized("metadata", to_canonical_json(v))?,
            Some(v) => return Err(FieldError::new("metadata", format!("must be an object, got {}", kind(v)))),
        },
        step_hash: canonical.step_hash(),
        raw_rest: canonical.rest,
        attributes_by_reference: canonical.attributes_by_reference,
        raw: canonical.raw,
    };
    Ok(step)
}

/// Field readers that know the limits. Each takes the parent object (absent
/// when the parent was absent) and the field's full dotted path.
struct Fields<'a> {
    limits: &'a Limits,
    /// The step's canonical form, where JSON-valued fields are taken from.
    canonical: &'a crate::integrity::CanonicalForm,
}

impl Fields<'_> {
    fn object<'v>(&self, obj: &'v Map<String, Value>, name: &str) -> Result<Option<&'v Map<String, Value>>> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(v) => Err(FieldError::new(name, format!("must be an object, got {}", kind(v)))),
        }
    }

    fn get<'v>(&self, parent: Option<&'v Map<String, Value>>, path: &str) -> Option<&'v Value> {
        let key = path.rsplit('.').next().unwrap_or(path);
        parent.and_then(|p| p.get(key)).filter(|v| !v.is_null())
    }

    /// The session id: required, and one segment of a URL's path.
    fn required_id(&self, obj: &Map<String, Value>, path: &str) -> Result<String> {
        let value = self.path_segment_id(Some(obj), path)?;
        if value.is_empty() {
            return Err(FieldError::new(path, "is required and must be a non-empty string"));
        }
        Ok(value)
    }

    /// An id that URLs hold as one path segment (a session's pages, a
    /// user's legal hold): `.` and `..` there are read as "this" and "up"
    /// by browsers and HTTP clients, even percent-encoded, so no link could
    /// reach it.
    fn path_segment_id(&self, parent: Option<&Map<String, Value>>, path: &str) -> Result<String> {
        let value = self.id(parent, path)?;
        if value == "." || value == ".." {
            return Err(FieldError::new(path, format!("may not be {value:?}: it cannot be a segment of a URL's path")));
        }
        Ok(value)
    }

    /// A short identifier: a string without control characters.
    fn id(&self, parent: Option<&Map<String, Value>>, path: &str) -> Result<String> {
        match self.get(parent, path) {
            None => Ok(String::new()),
            Some(Value::String(s)) => {
                check_id(path, s, self.limits.max_id_bytes)?;
                Ok(s.clone())
            }
            Some(v) => Err(FieldError::new(path, format!("must be a string, got {}", kind(v)))),
        }
    }

    fn text(&self, parent: Option<&Map<String, Value>>, path: &str) -> Result<String> {
        match self.get(parent, path) {
            None => Ok(String::new()),
            Some(Value::String(s)) => self.sized(path, s.clone()),
            Some(v) => Err(FieldError::new(path, format!("must be a string, got {}", kind(v)))),
        }
    }

    /// Text that agents sometimes send as structured JSON (an error object,
    /// a completion with parts): strings are kept as is, anything else as
    /// canonical JSON.
    fn text_or_json(&self, parent: Option<&Map<String, Value>>, path: &str) -> Result<String> {
        match self.get(parent, path) {
            None => Ok(String::new()),
            Some(Value::String(s)) => self.sized(path, s.clone()),
            Some(v) => self.sized(path, self.canonical_text(path, v)),
        }
    }

    /// Any JSON value, kept as canonical JSON text.
    fn json(&self, parent: Option<&Map<String, Value>>, path: &str) -> Result<String> {
        match self.get(parent, path) {
            None => Ok(String::new()),
            Some(v) => self.sized(path, self.canonical_text(path, v)),
        }
    }

    /// The canonical JSON of `v`, the value at the dotted `path`: copied
    /// from the step's canonical form, which already holds it.
    fn canonical_text(&self, path: &str, v: &Value) -> String {
        let keys: Vec<&str> = path.split('.').collect();
        let text = match self.canonical.field(&keys) {
            Some(t) => t.to_string(),
            None => to_canonical_json(v),
        };
        debug_assert_eq!(text, to_canonical_json(v), "the canonical form holds {path} as written alone");
        text
    }

    fn sized(&self, path: &str, s: String) -> Result<String> {
        if s.len() > self.limits.max_field_bytes {
            return Err(too_long(path, s.len(), self.limits.max_field_bytes));
        }
        Ok(s)
    }

    fn id_list(&self, parent: Option<&Map<String, Value>>, path: &str) -> Result<Vec<String>> {
        match self.get(parent, path) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => {
                if items.len() > self.limits.max_list_items {
                    return Err(FieldError::new(
                        path,
                        format!("has {} items; the limit is {}", items.len(), self.limits.max_list_items),
                    ));
                }
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let item_path = format!("{path}[{i}]");
                        match item {
                            Value::String(s) if s.len() > self.limits.max_id_bytes => {
                                Err(too_long(&item_path, s.len(), self.limits.max_id_bytes))
                            }
                            Value::String(s) => Ok(s.clone()),
                            v => Err(FieldError::new(item_path, format!("must be a string, got {}", kind(v)))),
                        }
                    })
                    .collect()
            }
            Some(v) => Err(FieldError::new(path, format!("must be an array of strings, got {}", kind(v)))),
        }
    }

    fn unsigned(&self, parent: Option<&Map<String, Value>>, path: &str) -> Result<Option<u64>> {
        match self.get(parent, path) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| FieldError::new(path, format!("must be an integer >= 0, got {}", show(v)))),
        }
    }

    /// A token count, at most `max_tokens`: sums over a project's steps
    /// must not wrap around.
    fn tokens(&self, parent: Option<&Map<String, Value>>, path: &str) -> Result<u64> {
        match self.unsigned(parent, path)? {
            Some(n) if n > self.limits.max_tokens => {
                Err(FieldError::new(path, format!("is {n}; the limit is {} tokens per step", self.limits.max_tokens)))
            }
            n => Ok(n.unwrap_or(0)),
        }
    }

    fn signed(&self, parent: Option<&Map<String, Value>>, path: &str) -> Result<Option<i64>> {
        match self.get(parent, path) {
            None => Ok(None),
            Some(v) => {
                let why = format!("must be an integer from {} to {}, got {}", i64::MIN, i64::MAX, show(v));
                v.as_i64().map(Some).ok_or_else(|| FieldError::new(path, why))
            }
        }
    }

    fn number_in(&self, parent: Option<&Map<String, Value>>, path: &str, range: RangeInclusive<f64>) -> Result<Option<f64>> {
        match self.get(parent, path) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(n) if range.contains(&n) => Ok(Some(n)),
                Some(n) => Err(FieldError::new(path, format!("must be between {} and {}, got {n}", range.start(), range.end()))),
                None => Err(FieldError::new(path, format!("must be a number, got {}", show(v)))),
            },
        }
    }
}

fn too_long(path: &str, len: usize, limit: usize) -> FieldError {
    FieldError::new(path, format!("is {len} bytes; the limit is {limit} bytes"))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The offending value, shortened, for error messages.
fn show(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("the string {:?}", clip(s)),
        other => kind(other).to_string(),
    }
}

/// Bytes of a value quoted in an error message, at most.
const ERROR_VALUE_BYTES: usize = 64;

/// A value shortened for an error message: at most 64 bytes (on a char
/// boundary), then `…` if anything was cut.
pub fn clip(s: &str) -> String {
    let mut end = ERROR_VALUE_BYTES.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    marked(s, &s[..end])
}

/// The rule for the text of an identifier (a session, a user, an agent, a
/// tool…), named `path` in its error: at most `max_bytes`, without control
/// characters or bidirectional formatting ones.
pub fn check_id(path: &str, s: &str, max_bytes: usize) -> Result<()> {
    if s.len() > max_bytes {
        return Err(too_long(path, s.len(), max_bytes));
    }
    // One pass over a clean id: this runs for every identifier of every
    // step. A control character is named first, wherever it is.
    match s.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        false => Ok(()),
        true if s.chars().any(char::is_control) => Err(FieldError::new(path, "must not contain control characters")),
        true => Err(FieldError::new(
            path,
            "must not contain bidirectional formatting characters (U+202A to U+202E, U+2066 to U+2069, \
             U+200E, U+200F, U+061C): they would reorder the text shown around the identifier",
        )),
    }
}

/// The characters that embed, override or isolate a direction of text.
/// An identifier holding one would reorder what a page or a report shows
/// beside it (a session `refund-7` + U+202E before ` #12` reads
/// `refund-721#`), so identifiers refuse them; free text keeps them, as
/// pages show it in a block of its own.
pub fn is_bidi_control(c: char) -> bool {
    // The embeddings, overrides and isolates, and the invisible marks that
    // act as a letter of one direction (LRM, RLM, ALM).
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Text shortened for display: at most `max` characters, then `…` if
/// anything was cut. The one clipping rule for text shown to people.
pub fn clip_chars(s: &str, max: usize) -> String {
    marked(s, cut_chars(s, max))
}

/// The longest prefix of `s` with at most `max` characters, unmarked (for
/// limits that are not shown as cut, like the text given to a model).
pub fn cut_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// `prefix` of `s`, with `…` when it is shorter than `s`.
fn marked(s: &str, prefix: &str) -> String {
    if prefix.len() == s.len() { s.to_string() } else { format!("{prefix}…") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> Result<Step> {
        step_from_json(v, &Limits::default())
    }

    fn product_example() -> Value {
        json!({
          "session_id": "sess_123", "step": 5, "timestamp": "2026-01-15T10:30:00Z",
          "agent": {"name": "loan-assistant", "version": "2.3.0"},
          "agent_thoughts": {"reasoning": "The client asked...", "considered_tools": ["analyze_financials", "fetch_historical_data"],
                             "chosen_tool": "analyze_financials", "confidence": 0.8},
          "tool_execution": {"name": "analyze_financials", "params": {"report_id": 456},
                             "result": {"profit_margin": 0.15, "risk_score": 0.3}, "status": "ok", "error": null, "duration_ms": 1200},
          "model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06", "temperature": 0.2, "top_p": 1.0, "seed": 42, "max_tokens": 1024},
          "prompt": {"system": "...", "messages": [], "completion": "..."},
          "cost": {"input_tokens": 1250, "output_tokens": 340, "cache_read_tokens": 0, "reasoning_tokens": 0, "estimated_cost": 0.012},
          "user_id": "customer-77", "tags": ["prod"], "metadata": {}, "extra_field": {"kept": true}
        })
    }

    #[test]
    fn the_product_example_maps_to_every_typed_field() {
        let s = check(product_example()).unwrap();
        assert_eq!(s.session_id, "sess_123");
        assert_eq!(s.step, 5);
        assert_eq!(s.timestamp_us, 1_768_473_000_000_000);
        assert_eq!((s.agent_name.as_str(), s.agent_version.as_str()), ("loan-assistant", "2.3.0"));
        assert_eq!(s.considered_tools, ["analyze_financials", "fetch_historical_data"]);
        assert_eq!(s.chosen_tool, "analyze_financials");
        assert_eq!(s.confidence, Some(0.8));
        assert_eq!(s.tool_params, r#"{"report_id":456}"#);
        assert_eq!(s.tool_result, r#"{"profit_margin":0.15,"risk_score":0.3}"#);
        assert_eq!(s.tool_error, "");
        assert_eq!(s.tool_duration_ms, Some(1200));
        assert_eq!((s.temperature, s.top_p, s.seed, s.max_tokens), (Some(0.2), Some(1.0), Some(42), Some(1024)));
        assert_eq!((s.model_name.as_str(), s.model_key.as_str()), ("gpt-4o", "gpt-4o"));
        assert_eq!(s.prompt_messages, "[]");
        assert_eq!((s.input_tokens, s.output_tokens), (1250, 340));
        assert_eq!(s.estimated_cost, Some(0.012));
        assert_eq!(s.user_id, "customer-77");
        assert_eq!(s.tags, ["prod"]);
        assert!(s.raw.contains(r#""extra_field":{"kept":true}"#), "unknown fields are kept in raw");
        assert!(!s.failed());
    }

    #[test]
    fn only_session_step_and_timestamp_are_required() {
        let s = check(json!({"session_id": "s", "step": 0, "timestamp": "2026-01-15T10:30:00.123456+02:00"})).unwrap();
        assert_eq!(s.timestamp_us, 1_768_465_800_123_456);
        for (missing, v) in [
            ("session_id", json!({"step": 0, "timestamp": "2026-01-15T10:30:00Z"})),
            ("step", json!({"session_id": "s", "timestamp": "2026-01-15T10:30:00Z"})),
            ("timestamp", json!({"session_id": "s", "step": 0})),
        ] {
            assert_eq!(check(v).unwrap_err().field, missing);
        }
        assert_eq!(REQUIRED_FIELDS, ["session_id", "step", "timestamp"], "the three checked above");
    }

    #[test]
    fn errors_name_the_field_and_the_problem() {
        let mut v = product_example();
        v["step"] = json!(-1);
        assert_eq!(check(v).unwrap_err(), FieldError::new("step", "must be an integer from 0 to 9223372036854775807, got -1"));
        let mut v = product_example();
        v["step"] = json!(9_223_372_036_854_775_808u64);
        assert_eq!(check(v).unwrap_err().field, "step", "2^63 is past the range");
        let mut v = product_example();
        v["step"] = json!(i64::MAX);
        assert!(check(v).is_ok(), "2^63 - 1 is the last step number");

        let mut v = product_example();
        v["agent_thoughts"]["confidence"] = json!(1.5);
        let e = check(v).unwrap_err();
        assert_eq!(e.field, "agent_thoughts.confidence");
        assert!(e.reason.contains("between 0 and 1"), "{e}");

        let mut v = product_example();
        v["timestamp"] = json!("yesterday");
        let e = check(v).unwrap_err();
        assert_eq!(e.field, "timestamp");
        assert!(e.reason.contains("RFC 3339") && e.reason.contains("yesterday"), "{e}");

        let mut v = product_example();
        v["tags"] = json!(["ok", 3]);
        assert_eq!(check(v).unwrap_err().field, "tags[1]");

        assert_eq!(check(json!([1])).unwrap_err().reason, "must be a JSON object, got an array");
    }

    #[test]
    fn clipping_keeps_whole_characters_and_marks_a_cut() {
        assert_eq!(clip_chars("héllo", 5), "héllo");
        assert_eq!(clip_chars("héllo", 2), "hé…");
        assert_eq!(clip_chars("", 0), "");
        assert_eq!(cut_chars("héllo", 2), "hé");
        assert_eq!(clip(&"a".repeat(64)), "a".repeat(64));
        assert_eq!(clip(&"a".repeat(65)), format!("{}…", "a".repeat(64)));
        // 63 ASCII bytes then a two-byte character: the cut falls inside it.
        assert_eq!(clip(&format!("{}éz", "a".repeat(63))), format!("{}…", "a".repeat(63)));
    }

    #[test]
    fn sizes_are_limited() {
        let limits = Limits { max_field_bytes: 10, max_id_bytes: 4, ..Limits::default() };
        let base = json!({"session_id": "s", "step": 0, "timestamp": "2026-01-15T10:30:00Z"});
        let mut v = base.clone();
        v["agent_thoughts"] = json!({"reasoning": "x".repeat(11)});
        let e = step_from_json(v, &limits).unwrap_err();
        assert_eq!(e, FieldError::new("agent_thoughts.reasoning", "is 11 bytes; the limit is 10 bytes"));
        let mut v = base;
        v["session_id"] = json!("abcde");
        assert_eq!(step_from_json(v, &limits).unwrap_err().field, "session_id");
        for dots in [".", ".."] {
            let refused = check(json!({"session_id": dots, "step": 0, "timestamp": "2026-01-15T10:30:00Z"})).unwrap_err();
            assert_eq!(refused.field, "session_id", "{dots}");
            let refused = check(json!({"session_id": "s", "user_id": dots, "step": 0, "timestamp": "2026-01-15T10:30:00Z"})).unwrap_err();
            assert_eq!(refused.field, "user_id", "{dots}");
        }
        assert!(check(json!({"session_id": "...", "step": 0, "timestamp": "2026-01-15T10:30:00Z"})).is_ok());
    }

    /// A step newly sent, read and admitted as ingestion does.
    fn check_new(v: Value) -> Result<Step> {
        let step = check(v)?;
        admit(&step, &Limits::default()).map(|()| step)
    }

    #[test]
    fn tags_and_considered_tools_are_names_as_identifiers_are() {
        let step = |key: &str, list: Value| {
            let mut v = json!({"session_id": "s", "step": 0, "timestamp": "2026-01-15T10:30:00Z"});
            match key {
                "tags" => v["tags"] = list,
                _ => v["agent_thoughts"] = json!({"considered_tools": list}),
            }
            check_new(v)
        };
        for (key, field) in [("tags", "tags[1]"), ("considered_tools", "agent_thoughts.considered_tools[1]")] {
            assert!(step(key, json!(["a b", "", "é"])).is_ok(), "{key}: spaces, empty, letters");
            for bad in ["send\u{202e}email", "x\ny", "\u{0}"] {
                let refused = step(key, json!(["ok", bad])).unwrap_err();
                assert_eq!(refused.field, field, "{key}: {bad:?}");
            }
            assert_eq!(step(key, json!(["ok", "x".repeat(257)])).unwrap_err(), FieldError::new(field, "is 257 bytes; the limit is 256 bytes"));
        }
    }

    /// A tool call's duration and a request's max_tokens have limits: past
    /// i64 an export wrote them as null, and a start plus a duration past
    /// it wrapped round in the waterfall. A step stored before the limits
    /// still reads (verification rebuilds it by `step_from_json`).
    #[test]
    fn durations_and_max_tokens_are_limited() {
        let step = |key: &str, inner: &str, n: u64| json!({"session_id": "s", "step": 0, "timestamp": "2026-01-15T10:30:00Z", key: {inner: n}});
        assert_eq!(check_new(step("tool_execution", "duration_ms", MAX_DURATION_MS)).unwrap().tool_duration_ms, Some(MAX_DURATION_MS));
        let refused = check_new(step("tool_execution", "duration_ms", MAX_DURATION_MS + 1)).unwrap_err();
        assert_eq!(refused, FieldError::new("tool_execution.duration_ms", "is 315576000001; the limit is 315576000000 ms (ten years)"));
        assert_eq!(check_new(step("model", "max_tokens", 1_000_000_000)).unwrap().max_tokens, Some(1_000_000_000));
        let refused = check_new(step("model", "max_tokens", u64::MAX)).unwrap_err();
        assert_eq!(refused, FieldError::new("model.max_tokens", "is 18446744073709551615; the limit is 1000000000 tokens"));
        assert_eq!(check(step("tool_execution", "duration_ms", u64::MAX)).unwrap().tool_duration_ms, Some(u64::MAX), "stored before the limit");
        assert!(check(json!({"session_id": "s", "step": 0, "timestamp": "2026-01-15T10:30:00Z", "tags": ["a\u{202e}b"]})).is_ok());
    }

    #[test]
    fn an_error_object_is_kept_as_json_and_marks_the_step_failed() {
        let s = check(json!({"session_id": "s", "step": 1, "timestamp": "2026-01-15T10:30:00Z",
                              "tool_execution": {"status": "error", "error": {"code": 429}}}))
        .unwrap();
        assert_eq!(s.tool_error, r#"{"code":429}"#);
        assert!(s.failed());
    }

    #[test]
    fn the_step_hash_ignores_key_order() {
        let a: Value = serde_json::from_str(r#"{"session_id":"s","step":1,"timestamp":"2026-01-15T10:30:00Z"}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"timestamp":"2026-01-15T10:30:00Z", "step":1, "session_id":"s"}"#).unwrap();
        assert_eq!(check(a).unwrap().step_hash, check(b).unwrap().step_hash);
    }
}
