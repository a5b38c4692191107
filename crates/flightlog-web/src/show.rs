//! How stored JSON values are shown on a page.

use serde_json::Value;

/// A value as plain text: strings as they are, absent as nothing, anything
/// else as compact JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A value as indented JSON, for params and results; absent as nothing.
pub fn pretty(v: &Value) -> String {
    if v.is_null() { String::new() } else { serde_json::to_string_pretty(v).unwrap_or_default() }
}
