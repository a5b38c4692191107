//! One copy of each field: what the `raw` column keeps of a step.
//!
//! A step's large content (its reasoning, tool parameters and result,
//! prompt, messages, completion, error and metadata) is stored in its typed
//! column. The `raw` column keeps the rest of the canonical JSON: unknown
//! fields, identifiers, numbers, and any content its column cannot give
//! back exactly. Reads put the content back, so every reader sees the
//! canonical JSON the step was hashed from, byte for byte.
//!
//! A field is left out of `raw` only when its column gives it back exactly:
//! - [`Form::String`]: a non-empty string; the column is that string. An
//!   empty string, a null, or (for fields that also take JSON) any other
//!   value stays in `raw`.
//! - [`Form::Json`]: any value but null; the column is its canonical JSON.
//!
//! So a field is put back only when its key is missing from `raw` and its
//! column is not empty. Rows written before this rule keep every key in
//! `raw` and read back unchanged. A changed column changes the rebuilt
//! content, and with it the step hash: verification still catches it.
//!
//! A span's step (flightlog-decode's OTLP mapping) keeps the span's
//! attributes under `otel.attributes`, and a GenAI span carries the
//! conversation so far there as one string (`gen_ai.input.messages`), an
//! OpenInference span as one string per message. Every long attribute
//! string (`write_otel_rest`) is left out of `raw` too and stored by
//! reference, in pieces like prompt messages when it is an array's text
//! (`by_reference::split_attribute`), whole otherwise; reads put it back
//! ([`rebuild`]).

use crate::canonical::{into_text, sorted, write_object, write_string, write_value};
use crate::step::Step;
use serde_json::{Map, Value};

/// How a left-out field's column holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// The field was a non-empty string, and the column is that string.
    String,
    /// The field was any value but null, and the column is its canonical JSON.
    Json,
}

impl Form {
    /// Whether the column gives `value` back exactly (see the module notes).
    fn leaves_out(self, value: &Value) -> bool {
        match self {
            Form::String => matches!(value, Value::String(s) if !s.is_empty()),
            Form::Json => !value.is_null(),
        }
    }
}

/// A field that `raw` leaves to its typed column.
#[derive(Clone, Copy, Debug)]
pub struct Rebuilt {
    /// The top-level object holding the field, or `None` for a top-level field.
    pub parent: Option<&'static str>,
    pub key: &'static str,
    /// The column of `steps` that holds it.
    pub column: &'static str,
    pub form: Form,
    /// The column's value on a [`Step`].
    pub of: fn(&Step) -> &str,
}

/// Every field left to its column. The forms follow `validate`: a text
/// field's column is its string; a field that takes text or JSON keeps a
/// string as is, so only strings are left out; a JSON field's column is
/// its canonical JSON.
pub const REBUILT: [Rebuilt; 8] = [
    Rebuilt { parent: Some("agent_thoughts"), key: "reasoning", column: "reasoning", form: Form::String, of: |s| &s.reasoning },
    Rebuilt { parent: Some("tool_execution"), key: "params", column: "tool_params", form: Form::Json, of: |s| &s.tool_params },
    Rebuilt { parent: Some("tool_execution"), key: "result", column: "tool_result", form: Form::Json, of: |s| &s.tool_result },
    Rebuilt { parent: Some("tool_execution"), key: "error", column: "tool_error", form: Form::String, of: |s| &s.tool_error },
    Rebuilt { parent: Some("prompt"), key: "system", column: "prompt_system", form: Form::String, of: |s| &s.prompt_system },
    Rebuilt { parent: Some("prompt"), key: "messages", column: "prompt_messages", form: Form::Json, of: |s| &s.prompt_messages },
    Rebuilt { parent: Some("prompt"), key: "completion", column: "completion", form: Form::String, of: |s| &s.completion },
    Rebuilt { parent: None, key: "metadata", column: "metadata", form: Form::Json, of: |s| &s.metadata },
];

fn rebuilt(parent: Option<&str>, key: &str) -> Option<&'static Rebuilt> {
    REBUILT.iter().find(|r| r.parent == parent && r.key == key)
}

/// Whether a valid step's field `key` (in `parent`) is left out of `raw`.
pub(crate) fn left_out(parent: Option<&str>, key: &str, value: &Value) -> bool {
    rebuilt(parent, key).is_some_and(|r| r.form.leaves_out(value))
}

/// Whether the top-level object `key` holds fields left out of `raw`.
pub(crate) fn holds_rebuilt(key: &str) -> bool {
    REBUILT.iter().any(|r| r.parent == Some(key))
}

/// The object of a step holding a span's attributes, and its key there.
pub const SPAN_ATTRIBUTES: [&str; 2] = ["otel", "attributes"];

/// Whether a span attribute's value is stored by reference: a string of at
/// least `by_reference::MIN_BYTES`. An array's text (`gen_ai.input.messages`)
/// is stored in pieces when `by_reference::split_attribute` cuts it, any
/// other text whole (OpenInference's `llm.input_messages.N.message.content`,
/// a tool's JSON schema): either way once per session, since step k+1
/// repeats step k's attributes. The store decides which (steps.rs).
fn stored_by_reference(value: &Value) -> bool {
    matches!(value, Value::String(s) if s.len() >= crate::by_reference::MIN_BYTES)
}

/// Writes a step's `otel` object (`"otel":` is written already) as `raw`
/// keeps it: without the span attributes stored by reference, which it
/// returns as (key, text) in key order; everything else as it is.
pub(crate) fn write_otel_rest(otel: &Map<String, Value>, out: &mut Vec<u8>) -> Vec<(String, String)> {
    let mut taken_out = Vec::new();
    let mut kept = |k: &str, v: &Value| match v {
        Value::String(text) if stored_by_reference(v) => {
            taken_out.push((k.to_owned(), text.clone()));
            false
        }
        _ => true,
    };
    let value = |key: &str, value: &Value, out: &mut Vec<u8>| match value {
        Value::Object(attributes) if key == SPAN_ATTRIBUTES[1] => write_object(attributes, &mut kept, |_, v, out| write_value(v, out), out),
        _ => write_value(value, out),
    };
    write_object(otel, |_, _| true, value, out);
    taken_out
}

/// The `otel` object of a step, when its top-level `key` is `otel` and its
/// span attributes may hold something stored by reference.
pub(crate) fn otel_takes_out<'v>(key: &str, value: &'v Value) -> Option<&'v Map<String, Value>> {
    match value {
        Value::Object(otel) if key == SPAN_ATTRIBUTES[0] => match otel.get(SPAN_ATTRIBUTES[1]) {
            Some(Value::Object(attributes)) if attributes.values().any(stored_by_reference) => Some(otel),
            _ => None,
        },
        _ => None,
    }
}

/// What the `raw` column keeps of a valid step (`step` as `validate`
/// accepted it, so that its columns were built from these very values):
/// its canonical JSON without the fields its columns hold.
pub fn rest_of(step: &Map<String, Value>) -> String {
    let mut out = Vec::with_capacity(512);
    write_rest(step, None, &|_, _| true, true, &mut out);
    into_text(out)
}

/// [`rest_of`] for a step whose columns were written before (`column`
/// gives a stored column by name): a field is left out only where its
/// stored column gives it back exactly. So rewriting `raw` (an erasure)
/// never makes a changed column the content: the content stays in `raw`,
/// and verification still names the column. Span attributes stay in `raw`
/// whole: a rewritten row refers to none (erasure empties its references).
pub fn rest_of_matching<'a>(step: &Map<String, Value>, column: impl Fn(&str) -> &'a str) -> String {
    let holds = |r: &Rebuilt, value: &Value| match r.form {
        Form::String => value.as_str() == Some(column(r.column)),
        Form::Json => crate::canonical::to_canonical_json(value) == column(r.column),
    };
    let mut out = Vec::with_capacity(512);
    write_rest(step, None, &holds, false, &mut out);
    into_text(out)
}

/// `attributes_out`: whether span attributes stored by reference are left out.
fn write_rest(
    map: &Map<String, Value>,
    parent: Option<&str>,
    holds: &impl Fn(&Rebuilt, &Value) -> bool,
    attributes_out: bool,
    out: &mut Vec<u8>,
) {
    let keep = |key: &str, value: &Value| !rebuilt(parent, key).is_some_and(|r| r.form.leaves_out(value) && holds(r, value));
    let value = |key: &str, value: &Value, out: &mut Vec<u8>| match value {
        Value::Object(inner) if parent.is_none() && holds_rebuilt(key) => write_rest(inner, Some(key), holds, attributes_out, out),
        _ => match otel_takes_out(key, value).filter(|_| parent.is_none() && attributes_out) {
            Some(otel) => drop(write_otel_rest(otel, out)),
            None => write_value(value, out),
        },
    };
    write_object(map, keep, value, out);
}

/// The step's canonical JSON from what `raw` kept (`rest`), its columns
/// (`column` gives a column's stored text by name) and its span
/// `attributes` stored by reference, put back: (key, text). An error when
/// `rest`, or a JSON column put back, is not one JSON value: a changed
/// column must not add keys to what readers are shown. A `rest` that is not
/// an object comes back as it is. (See `put_back_attributes` for a row
/// changed behind Flightlog's back.)
pub fn rebuild<'a>(rest: &str, column: impl Fn(&str) -> &'a str, attributes: &[(String, String)]) -> Result<String, serde_json::Error> {
    let mut value: Value = serde_json::from_str(rest)?;
    put_back_attributes(&mut value, attributes);
    let Value::Object(top) = &value else { return Ok(rest.to_owned()) };
    let put_back: usize = REBUILT.iter().map(|r| column(r.column).len()).sum::<usize>() + attributes.iter().map(|(k, v)| k.len() + v.len() + 8).sum::<usize>();
    let mut out = Vec::with_capacity(rest.len() + put_back + 64);
    write_rebuilt(top, None, &column, &mut out)?;
    Ok(into_text(out))
}

/// Puts span attributes stored by reference back into a step's
/// `otel.attributes` (see [`rebuild`]). A step changed behind
/// Flightlog's back, with no attributes to put them in or holding one of
/// them already, keeps what `raw` holds: it then reads as changed (its hash
/// differs), and one such row fails neither a page nor an erasure.
fn put_back_attributes(step: &mut Value, attributes: &[(String, String)]) {
    let [otel, key] = SPAN_ATTRIBUTES;
    let Some(Value::Object(into)) = step.get_mut(otel).and_then(|o| o.get_mut(key)) else { return };
    for (k, text) in attributes {
        into.entry(k.as_str()).or_insert_with(|| Value::String(text.clone()));
    }
}

/// [`rebuild`], as a JSON value: for readers that go on to parse the step
/// (verification, bundles), so that it is not written and parsed again. A
/// JSON column that does not parse is an error, as a `rest` that does not.
pub fn rebuild_value<'a>(rest: &str, column: impl Fn(&str) -> &'a str, attributes: &[(String, String)]) -> Result<Value, serde_json::Error> {
    let mut value: Value = serde_json::from_str(rest)?;
    put_back_attributes(&mut value, attributes);
    let Value::Object(top) = &mut value else { return Ok(value) };
    for r in &REBUILT {
        let text = column(r.column);
        if text.is_empty() {
            continue;
        }
        let map = match r.parent {
            None => &mut *top,
            Some(parent) => match top.get_mut(parent) {
                Some(Value::Object(inner)) => inner,
                _ => continue,
            },
        };
        if !map.contains_key(r.key) {
            let put_back = match r.form {
                Form::String => Value::String(text.to_owned()),
                Form::Json => serde_json::from_str(text)?,
            };
            map.insert(r.key.to_owned(), put_back);
        }
    }
    Ok(value)
}

/// A key of a rebuilt object: stored in `raw`, or put back from a column.
enum Entry<'v> {
    Kept(&'v Value),
    PutBack(Form, &'v str),
}

fn write_rebuilt<'a>(
    map: &Map<String, Value>,
    parent: Option<&str>,
    column: &impl Fn(&str) -> &'a str,
    out: &mut Vec<u8>,
) -> Result<(), serde_json::Error> {
    let mut entries: Vec<(&str, Entry)> = sorted(map).into_iter().map(|(k, v)| (k.as_str(), Entry::Kept(v))).collect();
    let mut added = false;
    for r in REBUILT.iter().filter(|r| r.parent == parent) {
        let text = column(r.column);
        if !text.is_empty() && !map.contains_key(r.key) {
            if r.form == Form::Json {
                // Checked, not parsed into a value (it is written as stored):
                // a changed column must be one JSON value, or it could add
                // keys to what readers are shown.
                serde_json::from_str::<serde::de::IgnoredAny>(text)?;
            }
            entries.push((r.key, Entry::PutBack(r.form, text)));
            added = true;
        }
    }
    if added {
        entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    }
    out.push(b'{');
    for (i, (key, entry)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(key, out);
        out.push(b':');
        match entry {
            Entry::Kept(Value::Object(inner)) if parent.is_none() && holds_rebuilt(key) => {
                write_rebuilt(inner, Some(key), column, out)?
            }
            Entry::Kept(value) => write_value(value, out),
            Entry::PutBack(Form::String, text) => write_string(text, out),
            // Already canonical JSON: written as stored, not parsed again.
            Entry::PutBack(Form::Json, text) => out.extend_from_slice(text.as_bytes()),
        }
    }
    out.push(b'}');
    Ok(())
}

/// Whether what `raw` kept (`rest`, parsed) leaves the field that `column`
/// holds to that column, so that the column is the only copy of it.
pub fn left_to_column(rest: &Value, column: &str) -> bool {
    let Some(r) = REBUILT.iter().find(|r| r.column == column) else { return false };
    let map = match r.parent {
        None => rest.as_object(),
        Some(parent) => rest.get(parent).and_then(Value::as_object),
    };
    map.is_some_and(|m| !m.contains_key(r.key))
}

/// A step's column by name, for [`rebuild`] from a [`Step`].
pub fn column_of<'s>(step: &'s Step, name: &str) -> &'s str {
    REBUILT.iter().find(|r| r.column == name).map_or("", |r| (r.of)(step))
}

/// A stored step's JSON (`raw` as read back) as a value. Without serde_json's
/// limit of 128 levels: a step was bounded when it was taken in, and one
/// that nests deeper once its span's attributes are put in (an OTLP step
/// keeps its span under `otel`) read as nothing: null in MCP and on the
/// decision page, 503 for its reproduction, every time.
pub fn read_step_json(raw: &str) -> Result<serde_json::Value, serde_json::Error> {
    use serde::Deserialize;
    let mut de = serde_json::Deserializer::from_str(raw);
    de.disable_recursion_limit();
    let value = serde_json::Value::deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, step_from_json};
    use serde_json::json;

    /// Stores `v` as ingestion does, reads it back as every reader does.
    fn round_trip(v: Value) -> (Step, String) {
        let step = step_from_json(v, &Limits::default()).unwrap();
        let back = rebuild(&step.raw_rest, |c| column_of(&step, c), &[]).unwrap();
        (step, back)
    }

    fn base() -> serde_json::Map<String, Value> {
        json!({"session_id": "s", "step": 1, "timestamp": "2026-01-15T10:00:00Z"}).as_object().unwrap().clone()
    }

    #[test]
    fn content_is_kept_once_and_read_back_exactly() {
        let mut v = base();
        v.extend(json!({
            "agent_thoughts": {"reasoning": "long reasoning", "chosen_tool": "t", "confidence": 1.0},
            "tool_execution": {"name": "t", "params": {"b": [1, 2.5, "x"], "a": null}, "result": "plain string result",
                               "error": "boom", "status": "error"},
            "prompt": {"system": "be brief", "messages": [{"role": "user", "content": "hé \"quoted\"\n"}], "completion": "done"},
            "metadata": {"k": {"z": 1, "a": 2}},
            "zz_unknown": {"kept": true}
        }).as_object().unwrap().clone());
        let (step, back) = round_trip(Value::Object(v));
        assert_eq!(back, step.raw);
        for text in ["long reasoning", "plain string result", "be brief", "hé", "done", "boom", "\"z\":1"] {
            assert!(step.raw.contains(text) && !step.raw_rest.contains(text), "{text} is kept once: {}", step.raw_rest);
        }
        assert!(step.raw_rest.contains(r#""zz_unknown":{"kept":true}"#) && step.raw_rest.contains(r#""confidence":1.0"#));
    }

    #[test]
    fn the_value_form_is_the_text_form_parsed() {
        let mut v = base();
        v.extend(json!({"prompt": {"messages": [{"a": 1.5}], "completion": "c"}, "metadata": {"k": "v"}, "tool_execution": {}})
            .as_object().unwrap().clone());
        let (step, back) = round_trip(Value::Object(v.clone()));
        let value = rebuild_value(&step.raw_rest, |c| column_of(&step, c), &[]).unwrap();
        assert_eq!(value, Value::Object(v));
        assert_eq!(crate::canonical::to_canonical_json(&value), back);
        assert!(rebuild_value(&step.raw_rest, |c| if c == "metadata" { "{not json" } else { "" }, &[]).is_err());
    }

    #[test]
    fn the_one_pass_rest_equals_the_definition() {
        let cases = [
            json!({"prompt": {"messages": [1], "completion": "c", "system": ""}, "metadata": {"k": 1}, "z": {"a": "b"}}),
            json!({"metadata": {}, "prompt": {}, "agent_thoughts": {"reasoning": "r"}, "a": null}),
            json!({"tool_execution": {"params": null, "result": "", "error": {"x": 1}}, "metadata": null}),
            json!({"agent_thoughts": {"reasoning": "only"}}),
            json!({}),
        ];
        // Span steps: an attribute stored by reference, the only one or
        // beside others, with keys sorting on either side of "attributes".
        let long = format!("[{}]", vec![format!("\"{}\"", "w".repeat(100)); 20].join(", "));
        let spans = [
            json!({"otel": {"attributes": {"m": long}}}),
            json!({"otel": {"a": 1, "attributes": {"a": "x", "m": long, "z": [long]}, "b": {"attributes": {"m": long}}}}),
            json!({"otel": {"attributes": "not an object", "m": long}}),
            json!({"otel": {"attributes": {}}, "extra": {"otel": {"attributes": {"m": long}}}}),
            json!({"otel": "not an object", "z": {"attributes": {"m": long}}}),
        ];
        for (i, case) in spans.iter().enumerate() {
            let rest = rest_of(case.as_object().unwrap());
            assert_eq!(rest.contains(&"w".repeat(100)), i > 0, "only a top-level otel's attribute strings are taken out: {rest}");
        }
        let after_other_keys = json!({"otel": {"a": 1, "attributes": {"b": 2, "m": long}, "name": "chat"}});
        let rest = rest_of(after_other_keys.as_object().unwrap());
        assert_eq!(rest, r#"{"otel":{"a":1,"attributes":{"b":2},"name":"chat"}}"#, "keys before and after the attributes change nothing");
        let cases = cases.into_iter().chain(spans);
        for case in cases {
            let one_pass = crate::integrity::canonical_form(&case);
            assert_eq!(one_pass.rest, rest_of(case.as_object().unwrap()), "{case}");
            assert_eq!(one_pass.raw, crate::canonical::to_canonical_json(&case));
        }
    }

    /// A GenAI span's step: the conversation so far as one attribute
    /// string, spaced as its instrumentation wrote it.
    fn span_step(turns: usize) -> Value {
        let messages: Vec<String> = (0..turns).map(|i| format!(r#"{{"role": "user", "content": "turn {i} {}"}}"#, "w ".repeat(40))).collect();
        let mut v = base();
        v.extend(json!({
            "model": {"name": "gpt-4o"},
            "otel": {"name": "chat", "span_id": "ab", "attributes": {
                "gen_ai.input.messages": format!("[{}]", messages.join(", ")),
                "gen_ai.request.model": "gpt-4o",
                "short.array": "[1, 2]",
                "long.text": "x".repeat(2 * crate::by_reference::MIN_BYTES),
                "n": 3
            }, "resource": {"service.name": "svc"}}
        }).as_object().unwrap().clone());
        Value::Object(v)
    }

    #[test]
    fn a_long_span_attribute_is_stored_by_reference_and_read_back_exactly() {
        let v = span_step(12);
        let step = step_from_json(v.clone(), &Limits::default()).unwrap();
        let conversation = v["otel"]["attributes"]["gen_ai.input.messages"].as_str().unwrap();
        let long_text = "x".repeat(2 * crate::by_reference::MIN_BYTES);
        assert_eq!(
            step.attributes_by_reference,
            [("gen_ai.input.messages".to_string(), conversation.to_string()), ("long.text".to_string(), long_text.clone())],
            "an array's text and a plain text alike, in key order"
        );
        assert!(!step.raw_rest.contains("turn 0") && step.raw.contains("turn 0"), "{}", step.raw_rest);
        assert!(!step.raw_rest.contains("xxxx") && step.raw.contains(&long_text), "{}", step.raw_rest);
        for kept in [r#""short.array":"[1, 2]""#, r#""gen_ai.request.model":"gpt-4o""#, r#""n":3"#, r#""service.name":"svc""#] {
            assert!(step.raw_rest.contains(kept), "{kept} stays in raw: {}", step.raw_rest);
        }
        let back = rebuild(&step.raw_rest, |c| column_of(&step, c), &step.attributes_by_reference).unwrap();
        assert_eq!(back, step.raw);
        let value = rebuild_value(&step.raw_rest, |c| column_of(&step, c), &step.attributes_by_reference).unwrap();
        assert_eq!(value, v);
        assert_eq!(crate::integrity::canonical_form(&v).rest, rest_of(v.as_object().unwrap()), "the one-pass rest is the definition");

        // Without its attribute the step reads as changed (its hash differs);
        // an attribute both kept and referred to keeps what `raw` holds, and
        // a step with no attributes to put it in stays as it is.
        let without = rebuild(&step.raw_rest, |c| column_of(&step, c), &[]).unwrap();
        assert_ne!(crate::integrity::step_hash(&serde_json::from_str(&without).unwrap()), step.step_hash);
        let twice = vec![("n".to_string(), "3".to_string())];
        assert_eq!(rebuild(&step.raw_rest, |c| column_of(&step, c), &twice).unwrap(), without);
        assert_eq!(rebuild(r#"{"otel":{}}"#, |_| "", &step.attributes_by_reference).unwrap(), r#"{"otel":{}}"#);
        // A rewrite (erasure) keeps the attributes in raw whole.
        let rewritten = rest_of_matching(v.as_object().unwrap(), |c| column_of(&step, c));
        assert!(rewritten.contains("turn 0"), "{rewritten}");
    }

    #[test]
    fn what_a_column_cannot_say_stays_in_raw() {
        // Empty strings and nulls have an empty column, as an absent field
        // does; JSON given where text is allowed has the same column as a
        // string holding that JSON. All stay in `raw`.
        let mut v = base();
        v.extend(json!({
            "agent_thoughts": {"reasoning": ""},
            "tool_execution": {"params": null, "result": "", "error": {"code": 429}},
            "prompt": {"system": ["a", "b"], "completion": {"text": "x"}, "messages": null},
            "metadata": null
        }).as_object().unwrap().clone());
        let (step, back) = round_trip(Value::Object(v));
        assert_eq!(back, step.raw);
        assert!(step.raw_rest.contains(r#""error":{"code":429}"#) && step.raw_rest.contains(r#""system":["a","b"]"#));
        assert!(step.raw_rest.contains(r#""reasoning":"""#) && step.raw_rest.contains(r#""metadata":null"#));
        // An empty string given as JSON has a column of its own (`""`): left out.
        assert_eq!(step.tool_result, r#""""#);
        assert!(!step.raw_rest.contains(r#""result""#), "{}", step.raw_rest);
    }

    #[test]
    fn parents_emptied_and_absent_read_back_exactly() {
        let mut v = base();
        v.extend(json!({"prompt": {"completion": "only this"}, "agent_thoughts": {}, "metadata": {}}).as_object().unwrap().clone());
        let (step, back) = round_trip(Value::Object(v));
        assert_eq!(back, step.raw);
        assert!(step.raw_rest.contains(r#""prompt":{}"#), "{}", step.raw_rest);
        let (step, back) = round_trip(Value::Object(base()));
        assert_eq!((back.as_str(), step.raw_rest.as_str()), (step.raw.as_str(), step.raw.as_str()));
    }

    #[test]
    fn rows_that_kept_everything_read_back_unchanged() {
        let mut v = base();
        v.extend(json!({"prompt": {"completion": "c", "system": "s"}, "metadata": {"a": 1}}).as_object().unwrap().clone());
        let step = step_from_json(Value::Object(v), &Limits::default()).unwrap();
        assert_eq!(rebuild(&step.raw, |c| column_of(&step, c), &[]).unwrap(), step.raw);
    }

    #[test]
    fn a_changed_column_changes_the_content_and_its_hash() {
        let mut v = base();
        v.extend(json!({"agent_thoughts": {"reasoning": "original"}}).as_object().unwrap().clone());
        let step = step_from_json(Value::Object(v), &Limits::default()).unwrap();
        let forged = rebuild(&step.raw_rest, |c| if c == "reasoning" { "forged" } else { column_of(&step, c) }, &[]).unwrap();
        assert!(forged.contains("forged"));
        let again = step_from_json(serde_json::from_str(&forged).unwrap(), &Limits::default()).unwrap();
        assert_ne!(again.step_hash, step.step_hash);
        assert!(rebuild("not json", |_| "", &[]).is_err());
        // A JSON column that is not one JSON value cannot add keys.
        let injected = rebuild(&step.raw_rest, |c| if c == "metadata" { r#"{"a":1},"session_id":"forged""# } else { "" }, &[]);
        assert!(injected.is_err(), "{injected:?}");
    }

    #[test]
    fn a_rewrite_keeps_in_raw_what_a_changed_column_no_longer_holds() {
        let mut v = base();
        v.extend(json!({"agent_thoughts": {"reasoning": "original"}, "metadata": {"a": 1}}).as_object().unwrap().clone());
        let step = step_from_json(Value::Object(v.clone()), &Limits::default()).unwrap();
        assert_eq!(rest_of_matching(&v, |c| column_of(&step, c)), step.raw_rest);
        let changed = rest_of_matching(&v, |c| if c == "reasoning" { "changed" } else { column_of(&step, c) });
        assert!(changed.contains(r#""reasoning":"original""#) && !changed.contains("metadata"), "{changed}");
        let changed: Value = serde_json::from_str(&changed).unwrap();
        assert!(left_to_column(&changed, "metadata") && !left_to_column(&changed, "reasoning"));
    }
}

