//! The OTLP JSON mapping (protobuf's JSON form) leaves out a field that
//! holds its default: an empty list, an empty string, a zero. The serde
//! types of `opentelemetry-proto` require some of them (a list's or a map's
//! `values`, a pair's `key`; the spans, events and links themselves take
//! defaults), so a valid export holding an empty list, an empty map or an
//! empty key was refused whole. They are put back before the types read
//! the export. A double written as a string, which the mapping also allows,
//! becomes the number it names.

use serde_json::{Number, Value, json};

/// The kinds an attribute's value may be, one at a time (a oneof): a value
/// giving two is refused before the types read it, which kept one of them
/// (`json::check_strictly`). Each by its JSON name and by protobuf's, which
/// is read as the JSON name (`proto_names`).
pub(crate) const KINDS: [&str; 14] = [
    "stringValue", "boolValue", "intValue", "doubleValue", "arrayValue", "kvlistValue", "bytesValue",
    "string_value", "bool_value", "int_value", "double_value", "array_value", "kvlist_value", "bytes_value",
];

/// Puts back, in an export request, the defaults the types require.
pub fn fill(request: &mut Value) {
    for resource_spans in objects(request, "resourceSpans") {
        if let Some(resource) = resource_spans.get_mut("resource") {
            attributes(resource);
        }
        for scope_spans in objects(resource_spans, "scopeSpans") {
            if let Some(scope) = scope_spans.get_mut("scope") {
                attributes(scope);
            }
            for span in objects(scope_spans, "spans") {
                attributes(span);
                for list in ["events", "links"] {
                    for event_or_link in objects(span, list) {
                        attributes(event_or_link);
                    }
                }
            }
        }
    }
}

/// The objects in the list at `key`, when there is one.
fn objects<'v>(message: &'v mut Value, key: &str) -> impl Iterator<Item = &'v mut Value> {
    message.get_mut(key).and_then(Value::as_array_mut).into_iter().flatten().filter(|item| item.is_object())
}

fn or_default(message: &mut Value, key: &str, default: Value) {
    if let Some(fields) = message.as_object_mut() {
        fields.entry(key).or_insert(default);
    }
}

fn attributes(message: &mut Value) {
    for pair in objects(message, "attributes") {
        key_value(pair);
    }
}

fn key_value(pair: &mut Value) {
    or_default(pair, "key", json!(""));
    if let Some(value) = pair.get_mut("value") {
        any_value(value);
    }
}

fn any_value(value: &mut Value) {
    if let Some(list) = value.get_mut("arrayValue") {
        or_default(list, "values", json!([]));
        for item in objects(list, "values") {
            any_value(item);
        }
    }
    if let Some(map) = value.get_mut("kvlistValue") {
        or_default(map, "values", json!([]));
        for pair in objects(map, "values") {
            key_value(pair);
        }
    }
    // "NaN" and the infinities stay strings, which JSON cannot make
    // numbers of: refused as before; so do more digits than name one
    // double ("0.1000000000000000000001" was read as 0.1).
    let double = value
        .get("doubleValue")
        .and_then(Value::as_str)
        .filter(|s| crate::json::beyond_a_double(s).is_none())
        .and_then(|s| s.parse::<f64>().ok())
        .and_then(Number::from_f64);
    if let (Some(double), Some(fields)) = (double, value.as_object_mut()) {
        fields.insert("doubleValue".into(), Value::Number(double));
    }
}
