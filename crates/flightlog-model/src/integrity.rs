//! What a step's hash commits to, and how erasure keeps it provable.
//!
//! A step (its canonical JSON object) is split into **fields**: each
//! top-level key, and for a top-level value that is a non-empty object,
//! each of its keys one level down. A field's **path** is the canonical
//! JSON array of its keys (`["prompt","completion"]`), so a key with a dot
//! in it can never be confused with a nested one.
//!
//! ```text
//! field_hash = SHA-256("flightlog/field/v1" 0x00 path 0x00 canonical(value))
//! step_hash  = SHA-256("flightlog/step/v1" 0x00 (path 0x00 field_hash)*)   paths sorted bytewise
//! ```
//!
//! Because the step hash commits to field hashes rather than raw bytes, a
//! GDPR erasure can remove a field's content (its value becomes null) while
//! keeping its field hash: the step hash, and with it the session chain and
//! the Merkle log, still verify, and the verifier reports the field as
//! erased. Only [`ERASABLE`] fields can be erased.

use crate::canonical::{into_text, sorted, to_canonical_json, write_string, write_value};
use crate::merkle::Hash;
use crate::stored;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::ops::Range;

/// The personal content a GDPR request (or a content retention) erases.
///
/// A step from an OpenTelemetry span also keeps the span's attributes under
/// `otel` (flightlog-decode's OTLP mapping), and they hold the same
/// content: `gen_ai.input.messages`, `llm.input_messages.0.message.content`,
/// `input.value`, tool arguments and results. The attributes are one field
/// of the step hash, so they are erased whole, those that held nothing
/// personal with them; what the span's step keeps in its own fields (model,
/// tokens, tool name, status) stays, as for any step.
pub const ERASABLE: [&[&str]; 7] = [
    &["prompt", "system"],
    &["prompt", "messages"],
    &["prompt", "completion"],
    &["tool_execution", "params"],
    &["tool_execution", "result"],
    &["otel", "attributes"],
    &["otel", "replaced_attributes"],
];

/// Whether `path` (as [`path_of`] writes it) is one of the fields an
/// erasure blanks ([`ERASABLE`]). A record saying another field was erased
/// was altered: a reasoning or a status blanked behind Flightlog's back
/// would otherwise pass as a lawful erasure.
pub fn is_erasable(path: &str) -> bool {
    // Written once: `verify --all` asks for every erased field.
    static PATHS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| ERASABLE.iter().map(|keys| path_of(keys)).collect());
    PATHS.iter().any(|p| p == path)
}

/// The path of a field, as its canonical JSON array of keys.
pub fn path_of(keys: &[&str]) -> String {
    let mut out = Vec::with_capacity(keys.iter().map(|k| k.len() + 3).sum::<usize>() + 2);
    write_path(keys, &mut out);
    into_text(out)
}

/// Appends [`path_of`]`(keys)` to `out`: written as `to_canonical_json`
/// would write the array, without building it, since this runs for every
/// field of every step hashed.
fn write_path(keys: &[&str], out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(key, out);
    }
    out.push(b']');
}

pub fn field_hash(path: &str, value: &Value) -> Hash {
    field_hash_of_canonical(path.as_bytes(), to_canonical_json(value).as_bytes())
}

fn field_hash_of_canonical(path: &[u8], canonical_value: &[u8]) -> Hash {
    if canonical_value.len() >= crate::prefix_hash::MIN_BYTES {
        // A long value usually repeats the one before it with more at the
        // end (a conversation so far): hashed from where they part.
        return crate::prefix_hash::hash(&[&b"flightlog/field/v1\0"[..], path, b"\0"].concat(), canonical_value);
    }
    let mut h = Sha256::new();
    h.update(b"flightlog/field/v1\0");
    h.update(path);
    h.update([0]);
    h.update(canonical_value);
    h.finalize().into()
}

/// Every field of a step with its value, keyed by path (sorted bytewise).
pub fn fields(step: &Value) -> BTreeMap<String, &Value> {
    let mut out = BTreeMap::new();
    if let Value::Object(top) = step {
        for (key, value) in top {
            match value {
                Value::Object(inner) if !inner.is_empty() => {
                    for (sub, v) in inner {
                        out.insert(path_of(&[key, sub]), v);
                    }
                }
                _ => {
                    out.insert(path_of(&[key]), value);
                }
            }
        }
    }
    out
}

/// The step hash from field hashes, in path order.
pub fn step_hash_of(field_hashes: &BTreeMap<String, Hash>) -> Hash {
    step_hash_of_sorted(field_hashes.iter().map(|(p, h)| (p.as_bytes(), h)))
}

/// [`step_hash_of`] over (path, field hash) pairs already in path order.
fn step_hash_of_sorted<'a>(field_hashes: impl Iterator<Item = (&'a [u8], &'a Hash)>) -> Hash {
    let mut h = Sha256::new();
    h.update(b"flightlog/step/v1\0");
    for (path, fh) in field_hashes {
        h.update(path);
        h.update([0]);
        h.update(fh);
    }
    h.finalize().into()
}

/// The hash of an intact step.
pub fn step_hash(step: &Value) -> Hash {
    canonical_form(step).step_hash()
}

/// A step's canonical JSON and what the `raw` column keeps of it: what is
/// stored of every step, and what its hash is computed from.
pub struct CanonicalForm {
    pub raw: String,
    /// `raw` without the content its typed columns hold: `stored::rest_of`.
    pub rest: String,
    /// The span attributes `rest` leaves out, stored by reference: (key,
    /// text), in key order.
    pub attributes_by_reference: Vec<(String, String)>,
    /// Every field's path, one after another.
    paths: Vec<u8>,
    /// Each field: where its path lies in `paths` and its value in `raw`.
    fields: Vec<(Range<usize>, Range<usize>)>,
}

impl CanonicalForm {
    /// The canonical JSON of the field at `keys` (a key of the step, or a
    /// key of one of its objects and one of that object's), as it lies in
    /// `raw`: the text `to_canonical_json` writes for that value, without
    /// writing it again (for a conversation's messages, most of a step).
    /// None for a field the step does not have, or an object of the step
    /// (its fields are hashed one by one, not it).
    pub fn field(&self, keys: &[&str]) -> Option<&str> {
        let path = path_of(keys);
        self.fields.iter().find(|(p, _)| &self.paths[p.clone()] == path.as_bytes()).map(|(_, v)| &self.raw[v.clone()])
    }

    /// The step hash: each field's value hashed from its slice of `raw`
    /// rather than serialised a second time (this halved the hashing cost
    /// of ingestion). Equal to `step_hash_of` the fields' `field_hash`es.
    pub fn step_hash(&self) -> Hash {
        let mut hashes: Vec<(&[u8], Hash)> = self
            .fields
            .iter()
            .map(|(p, v)| {
                let path = &self.paths[p.clone()];
                (path, field_hash_of_canonical(path, &self.raw.as_bytes()[v.clone()]))
            })
            .collect();
        // Paths are unique (keys are, in each object), so a sorted list is
        // the map `step_hash_of` takes, without building one.
        hashes.sort_unstable_by(|a, b| a.0.cmp(b.0));
        step_hash_of_sorted(hashes.iter().map(|(p, h)| (*p, h)))
    }
}

/// The canonical JSON of a step and its rest, in one pass: the rest is
/// copied from the canonical output, and each field's place in it is kept
/// for [`CanonicalForm::step_hash`] and [`CanonicalForm::field`]. Equal to
/// `(to_canonical_json(step), stored::rest_of(step))`.
pub fn canonical_form(step: &Value) -> CanonicalForm {
    let Value::Object(top) = step else {
        let raw = to_canonical_json(step);
        return CanonicalForm { rest: raw.clone(), raw, paths: Vec::new(), fields: Vec::new(), attributes_by_reference: Vec::new() };
    };
    let mut out: Vec<u8> = Vec::with_capacity(2048);
    let mut rest: Vec<u8> = Vec::with_capacity(1024);
    let mut paths: Vec<u8> = Vec::with_capacity(512);
    let mut fields: Vec<(Range<usize>, Range<usize>)> = Vec::with_capacity(32);
    let mut field = |keys: &[&str], value: Range<usize>, paths: &mut Vec<u8>| {
        let start = paths.len();
        write_path(keys, paths);
        fields.push((start..paths.len(), value));
    };
    // Kept nested entries of the current object, as ranges of `out`.
    let mut kept: Vec<(usize, usize)> = Vec::with_capacity(16);
    let mut attributes_by_reference = Vec::new();
    out.push(b'{');
    rest.push(b'{');
    for (i, (key, value)) in sorted(top).into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let entry = out.len();
        write_string(key, &mut out);
        out.push(b':');
        let kept_whole = !stored::left_out(None, key, value);
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                let opened = out.len();
                out.push(b'{');
                let split = stored::holds_rebuilt(key);
                kept.clear();
                for (j, (sub, v)) in sorted(inner).into_iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    let sub_entry = out.len();
                    write_string(sub, &mut out);
                    out.push(b':');
                    let start = out.len();
                    write_value(v, &mut out);
                    field(&[key, sub], start..out.len(), &mut paths);
                    if split && kept_whole && !stored::left_out(Some(key), sub, v) {
                        kept.push((sub_entry, out.len()));
                    }
                }
                out.push(b'}');
                if kept_whole {
                    if rest.len() > 1 {
                        rest.push(b',');
                    }
                    if split {
                        rest.extend_from_slice(&out[entry..opened]);
                        rest.push(b'{');
                        for (n, &(from, to)) in kept.iter().enumerate() {
                            if n > 0 {
                                rest.push(b',');
                            }
                            rest.extend_from_slice(&out[from..to]);
                        }
                        rest.push(b'}');
                    } else if let Some(otel) = stored::otel_takes_out(key, value) {
                        // Written again without what is stored by
                        // reference: only spans carrying a long string.
                        rest.extend_from_slice(&out[entry..opened]);
                        attributes_by_reference = stored::write_otel_rest(otel, &mut rest);
                    } else {
                        rest.extend_from_slice(&out[entry..]);
                    }
                }
            }
            _ => {
                let start = out.len();
                write_value(value, &mut out);
                field(&[key], start..out.len(), &mut paths);
                if kept_whole {
                    if rest.len() > 1 {
                        rest.push(b',');
                    }
                    rest.extend_from_slice(&out[entry..]);
                }
            }
        }
    }
    out.push(b'}');
    rest.push(b'}');
    CanonicalForm { raw: into_text(out), rest: into_text(rest), paths, fields, attributes_by_reference }
}

/// Erases `paths` from a step: their values become null, and their field
/// hashes are returned so the step hash can still be recomputed. Paths that
/// are absent or already null are skipped.
pub fn erase(step: &mut Value, paths: &[&[&str]]) -> BTreeMap<String, Hash> {
    let mut kept = BTreeMap::new();
    for keys in paths {
        let path = path_of(keys);
        let mut slot = Some(&mut *step);
        for k in *keys {
            slot = slot.and_then(|v| v.get_mut(*k));
        }
        // A null value has nothing left to erase (it may have been erased
        // before, and its real hash is already kept by the caller).
        if let Some(v) = slot.filter(|v| !v.is_null()) {
            kept.insert(path, field_hash(&path_of(keys), v));
            *v = Value::Null;
        }
    }
    kept
}

/// Recomputes the hash of a stored step whose `erased` fields were removed:
/// their stored hashes stand in for their content. An erased field whose
/// value is not null any more is content that came back after erasure,
/// which the caller reports; its stored hash is used all the same.
pub fn stored_step_hash(step: &Value, erased: &BTreeMap<String, Hash>) -> Hash {
    let mut hashes: BTreeMap<String, Hash> =
        fields(step).into_iter().map(|(p, v)| (p.clone(), field_hash(&p, v))).collect();
    for (path, hash) in erased {
        hashes.insert(path.clone(), *hash);
    }
    step_hash_of(&hashes)
}

/// Where a session's hash chain starts.
pub fn chain_seed(project: &str, session_id: &str) -> Hash {
    let mut h = Sha256::new();
    h.update(b"flightlog/session/v1\0");
    h.update(project.as_bytes());
    h.update([0]);
    h.update(session_id.as_bytes());
    h.finalize().into()
}

/// One link of a session's chain: each accepted step extends the previous.
pub fn chain_next(previous: &Hash, step_hash: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(previous);
    h.update(step_hash);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_fields_text_in_the_canonical_form_is_the_value_written_alone() {
        let step = json!({"session_id": "s", "step": 1, "metadata": {"k": "v"},
            "prompt": {"system": "x", "messages": [{"role": "user", "content": "é\"\n<", "n": 1e5}]},
            "tool_execution": {"params": {"b": [1, 2.5, null], "a": {"z": true, "y": "\u{1}"}}}});
        let c = canonical_form(&step);
        for keys in [&["prompt", "messages"][..], &["prompt", "system"], &["tool_execution", "params"], &["session_id"], &["metadata", "k"]] {
            let v = keys.iter().fold(&step, |v, k| &v[*k]);
            assert_eq!(c.field(keys), Some(to_canonical_json(v).as_str()), "{keys:?}");
        }
        assert_eq!(c.field(&["prompt"]), None, "an object's fields are hashed one by one, not it");
        assert_eq!(c.field(&["prompt", "completion"]), None, "a field the step does not have");
    }

    fn example() -> Value {
        json!({"session_id": "s", "step": 1, "timestamp": "2026-01-15T10:30:00Z",
               "prompt": {"system": "be careful", "completion": "I will."},
               "tool_execution": {"name": "send_email", "params": {"to": "a@b.c"}}, "metadata": {}})
    }

    #[test]
    fn any_change_changes_the_step_hash() {
        let base = step_hash(&example());
        let mut edited = example();
        edited["tool_execution"]["params"]["to"] = json!("x@y.z");
        assert_ne!(step_hash(&edited), base);
        let mut added = example();
        added["user_id"] = json!("u");
        assert_ne!(step_hash(&added), base);
        let mut removed = example();
        removed.as_object_mut().unwrap().remove("metadata");
        assert_ne!(step_hash(&removed), base, "an empty object still counts as a field");
    }

    #[test]
    fn the_one_pass_form_equals_the_definition() {
        let mut with_empty = example();
        with_empty["z"] = json!({"a": {"b": [1, 2.5, null]}, "c": "é\"\n"});
        // Keys whose quoted, escaped paths sort otherwise than the keys.
        let awkward = json!({"a": {"x": 1, "x ": 2, "x!": 3, "x\u{1}": 4, "x\"": 5, "é": 6}, "a ": 7, "a\u{1}": {"q": 8}, "a\\": 9});
        for v in [example(), with_empty, awkward, json!({}), json!({"a": {}})] {
            let by_definition =
                step_hash_of(&fields(&v).into_iter().map(|(p, x)| (p.clone(), field_hash(&p, x))).collect());
            let one_pass = canonical_form(&v);
            assert_eq!(one_pass.step_hash(), by_definition, "{v}");
            assert_eq!(one_pass.raw, to_canonical_json(&v), "{v}");
            assert_eq!(one_pass.rest, crate::stored::rest_of(v.as_object().unwrap()), "{v}");
            // What verification relies on to hash a stored step once.
            assert_eq!(stored_step_hash(&v, &BTreeMap::new()), by_definition, "{v}");
        }
    }

    #[test]
    fn a_path_is_the_canonical_array_of_its_keys() {
        for keys in [&["a"][..], &["prompt", "messages"], &["x\"\u{1}\\", "é"], &[]] {
            let array = Value::Array(keys.iter().map(|k| json!(k)).collect());
            assert_eq!(path_of(keys), to_canonical_json(&array));
        }
    }

    #[test]
    fn a_dotted_key_is_not_a_nested_one() {
        assert_ne!(step_hash(&json!({"a.b": 1})), step_hash(&json!({"a": {"b": 1}})));
        assert_eq!(path_of(&["a.b"]), r#"["a.b"]"#);
    }

    #[test]
    fn erasure_keeps_the_hash_and_removes_the_content() {
        let original = step_hash(&example());
        let mut step = example();
        let kept = erase(&mut step, &ERASABLE);
        assert_eq!(step["prompt"]["completion"], Value::Null);
        assert_eq!(step["tool_execution"]["params"], Value::Null);
        assert!(!step.to_string().contains("a@b.c"));
        assert_eq!(kept.len(), 3, "only the fields present are erased");
        assert_eq!(stored_step_hash(&step, &kept), original);
        // Erasing twice keeps the first (real) field hashes.
        let again = erase(&mut step, &ERASABLE);
        assert!(again.is_empty());
        step["prompt"]["completion"] = json!("forged");
        assert_eq!(stored_step_hash(&step, &kept), original, "the stored hash decides; content is checked by the caller");
    }

    #[test]
    fn erasure_takes_a_spans_attributes_and_keeps_the_rest_of_the_span() {
        let mut step = example();
        step["otel"] = json!({
            "trace_id": "5b8efff798038103d269b633813fc60c",
            "name": "chat",
            "attributes": {"gen_ai.input.messages": "[{\"role\":\"user\",\"content\":\"I am Ada Quill\"}]", "gen_ai.request.model": "gpt-4o"},
            "replaced_attributes": [{"key": "input.value", "value": "I am Ada Quill"}],
            "resource": {"service.name": "svc"}
        });
        let original = step_hash(&step);
        let kept = erase(&mut step, &ERASABLE);
        assert!(!step.to_string().contains("Ada Quill"), "{step}");
        assert!(kept.contains_key(r#"["otel","attributes"]"#) && kept.contains_key(r#"["otel","replaced_attributes"]"#), "{kept:?}");
        assert_eq!((step["otel"]["name"].as_str(), step["otel"]["resource"]["service.name"].as_str()), (Some("chat"), Some("svc")));
        assert_eq!(stored_step_hash(&step, &kept), original);
        // A step whose `otel` is not a span's object has nothing there to erase.
        let mut plain = example();
        plain["otel"] = json!("kept as sent");
        assert_eq!(erase(&mut plain, &ERASABLE).len(), 3);
        assert_eq!(plain["otel"], "kept as sent");
    }

    #[test]
    fn chains_depend_on_order() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let seed = chain_seed("p", "s");
        assert_ne!(chain_next(&chain_next(&seed, &a), &b), chain_next(&chain_next(&seed, &b), &a));
        assert_ne!(chain_seed("p", "s"), chain_seed("q", "s"));
    }
}
