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

use crate::byte_words;
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
        // Not through `write_object`: every step's hashing runs this loop,
        // and its filter cost about 4% of a request's CPU (`write-path`, two runs each way).
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

/// Appends `map` as a canonical object, as `write_value` does, but for the
/// entries `keep` leaves out, each value written by `value` given its key:
/// for what `raw` keeps of a step (`stored`), which leaves out content.
pub(crate) fn write_object(
    map: &serde_json::Map<String, Value>,
    mut keep: impl FnMut(&str, &Value) -> bool,
    mut value: impl FnMut(&str, &Value, &mut Vec<u8>),
    out: &mut Vec<u8>,
) {
    out.push(b'{');
    let mut first = true;
    for (key, val) in sorted(map) {
        if !keep(key, val) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        write_string(key, out);
        out.push(b':');
        value(key, val, out);
    }
    out.push(b'}');
}

/// Writes `s` as a JSON string, escaped as `serde_json` escapes it (the
/// rule the canonical form documents; a property test holds the two
/// equal): `"` and `\` by a backslash, `\b \f \n \r \t` by name, any other
/// byte below 0x20 as `\u00xx`, everything else as it is.
///
/// The text between escapes is copied whole, found eight bytes at a time:
/// `serde_json` looks at each byte in turn, which was a quarter of the CPU
/// that preparing 25 KB conversation steps took (`perf` of
/// `flightlog-bench write-path --conversations`).
pub fn write_string(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    while let Some(at) = next_escape(bytes, start) {
        out.extend_from_slice(&bytes[start..at]);
        write_escape(bytes[at], out);
        start = at + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// The first byte at or after `from` that a JSON string must escape.
fn next_escape(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 8 <= bytes.len() {
        let w = byte_words::word_at(&bytes[i..]);
        if byte_words::any_below(w, 0x20) || byte_words::any_equal(w, b'"') || byte_words::any_equal(w, b'\\') {
            break;
        }
        i += 8;
    }
    bytes[i..].iter().position(|&b| needs_escape(b)).map(|at| i + at)
}

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

fn write_escape(b: u8, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0C => out.extend_from_slice(b"\\f"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        _ => out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xF)]]),
    }
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

    proptest::proptest! {
        /// Strings are written exactly as serde_json writes them: escapes,
        /// control characters, non-ASCII text, at any place in a word.
        #[test]
        fn strings_are_written_as_serde_json_writes_them(s in "(\\PC|[\\x00-\\x1f\"\\\\\\x7f]){0,40}") {
            let mut ours = Vec::new();
            write_string(&s, &mut ours);
            proptest::prop_assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&s).unwrap());
        }
    }

    #[test]
    fn every_byte_that_needs_an_escape_is_found_wherever_it_lies() {
        for c in (0u8..0x80).map(char::from) {
            for at in 0..20 {
                let s = format!("{}{c}{}", "a".repeat(at), "b".repeat(20 - at));
                let mut ours = Vec::new();
                write_string(&s, &mut ours);
                assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&s).unwrap(), "{c:?} at {at}");
            }
        }
    }

    #[test]
    fn strings_are_escaped_and_unicode_kept() {
        assert_eq!(to_canonical_json(&json!({"k": "é\"\n<"})), "{\"k\":\"é\\\"\\n<\"}");
    }
}
