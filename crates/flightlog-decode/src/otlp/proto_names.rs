//! OTLP/JSON names a message's fields in lowerCamelCase (`resourceSpans`),
//! and protobuf's JSON mapping lets a reader take the proto field's own
//! name too (`resource_spans`), as the OpenTelemetry Collector does. The
//! types read only the first and pass over the second as an unknown field,
//! so an export written with protobuf's names was answered taken with its
//! spans dropped, or its attributes' values read as none. Such an export
//! has its keys renamed before the types read it.
//!
//! Every object key in an export is a field's name (attributes are lists
//! of `key`/`value` pairs, their keys strings), so any key holding an
//! underscore is renamed.

use serde_json::Value;

/// Renames every field named the protobuf way to its JSON name; a field
/// given both ways in one object is refused, naming where.
pub fn to_json_names(value: &mut Value) -> Result<(), String> {
    renamed(value, &mut String::new())
}

fn renamed(value: &mut Value, path: &mut String) -> Result<(), String> {
    let at = path.len();
    match value {
        Value::Array(items) => {
            for (n, item) in items.iter_mut().enumerate() {
                path.push_str(&format!("[{n}]"));
                renamed(item, path)?;
                path.truncate(at);
            }
        }
        Value::Object(fields) => {
            let underscored: Vec<String> = fields.keys().filter(|k| k.contains('_')).cloned().collect();
            for key in underscored {
                let name = json_name(&key);
                if fields.contains_key(&name) {
                    let place = if path.is_empty() { String::new() } else { format!("{path}: ") };
                    return Err(format!("{place}{key} and {name} are one field, given twice"));
                }
                let field = fields.remove(&key).expect("a key just listed");
                fields.insert(name, field);
            }
            for (key, field) in fields.iter_mut() {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                renamed(field, path)?;
                path.truncate(at);
            }
        }
        _ => {}
    }
    Ok(())
}

/// `start_time_unix_nano` → `startTimeUnixNano`.
fn json_name(proto_name: &str) -> String {
    let mut name = String::with_capacity(proto_name.len());
    let mut upper = false;
    for c in proto_name.chars() {
        match c {
            '_' => upper = !name.is_empty(),
            c if upper => {
                name.extend(c.to_uppercase());
                upper = false;
            }
            c => name.push(c),
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn protobuf_names_become_json_names() {
        assert_eq!(json_name("resource_spans"), "resourceSpans");
        assert_eq!(json_name("start_time_unix_nano"), "startTimeUnixNano");
        assert_eq!(json_name("kvlist_value"), "kvlistValue");
        assert_eq!(json_name("traceId"), "traceId");
        let mut export = json!({"resource_spans": [{"scope_spans": [{"spans": [{"span_id": "01", "attributes": [{"key": "gen_ai.request.model", "value": {"string_value": "a_b"}}]}]}]}]});
        to_json_names(&mut export).expect("renamed");
        assert_eq!(export, json!({"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "01", "attributes": [{"key": "gen_ai.request.model", "value": {"stringValue": "a_b"}}]}]}]}]}));
    }

    #[test]
    fn a_field_given_both_ways_is_refused_where_it_is() {
        let mut export = json!({"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "01", "span_id": "02"}]}]}]});
        assert_eq!(to_json_names(&mut export).unwrap_err(), "resourceSpans[0].scopeSpans[0].spans[0]: span_id and spanId are one field, given twice");
        let mut top = json!({"resourceSpans": [], "resource_spans": []});
        assert_eq!(to_json_names(&mut top).unwrap_err(), "resource_spans and resourceSpans are one field, given twice");
    }
}
