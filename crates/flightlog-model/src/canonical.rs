//! The canonical form of a step: what is stored and what is hashed.
//!
//! Canonical form: JSON with object keys sorted by their UTF-8 bytes, no
//! insignificant whitespace, strings escaped as `serde_json` does (only the
//! escapes JSON requires; non-ASCII stays UTF-8), numbers written in the form
//! they were parsed (integers as integers, floats in shortest round-trip
//! form). Two sends of the same step, whatever their key order or spacing,
//! have the same canonical bytes (and so the same step hash, see
//! `integrity`).
//!
//! Keys are sorted here explicitly rather than relying on `serde_json`'s map
//! ordering, which another crate in the build may switch to insertion order.

use serde_json::Value;

/// Object entries sorted by key bytes: the canonical order.
pub(crate) fn sorted(map: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    entries
}

pub fn to_canonical_json(value: &Value) -> String {
    let mut out = Vec::with_capacity(1024);
    write_value(value, &mut out);
    into_text(out)
}

/// The writer's bytes as text. Everything written is UTF-8 (keys and
/// strings come from `&str`, the rest is ASCII), so this never fails.
pub fn into_text(out: Vec<u8>) -> String {
    String::from_utf8(out).expect("canonical JSON is written from UTF-8 text")
}

/// Appends the canonical form of `value` to `out` (then `into_text`); also
/// for files too large to build as one `Value`. Everything is appended to
/// one buffer: serialising each string or number to a `String` of its own
/// first was an allocation per field, a large share of hashing a step.
pub fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            out.push(b'{');
            for (i, (key, val)) in sorted(map).into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_value(val, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::String(s) => write_string(s, out),
        // Null, booleans and numbers have one form each in serde_json.
        other => serde_json::to_writer(&mut *out, other).expect("writing to memory does not fail"),
    }
}

pub fn write_string(s: &str, out: &mut Vec<u8>) {
    // serde_json's string serialisation is the escaping rule we document.
    serde_json::to_writer(&mut *out, s).expect("writing to memory does not fail");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_and_spacing_do_not_change_the_canonical_form() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2.5, "x"], "x": null}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":null,"y":[1,2.5,"x"]},"b":1}"#).unwrap();
        assert_eq!(to_canonical_json(&a), r#"{"a":{"x":null,"y":[1,2.5,"x"]},"b":1}"#);
        assert_eq!(to_canonical_json(&a), to_canonical_json(&b));
    }

    #[test]
    fn strings_are_escaped_and_unicode_kept() {
        assert_eq!(to_canonical_json(&json!({"k": "é\"\n<"})), "{\"k\":\"é\\\"\\n<\"}");
    }
}
