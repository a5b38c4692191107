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

/// A time for a table: to the second, UTC. Pages that are evidence (the
/// decision page) show the exact recorded timestamp instead.
pub fn short_time(us: i64) -> String {
    let full = flightlog_model::time::format_timestamp(us);
    match full.get(..19) {
        Some(prefix) => format!("{} {}", &prefix[..10], &prefix[11..]),
        None => full,
    }
}

/// An RFC 3339 timestamp string shortened the same way.
pub fn short_text_time(s: &str) -> String {
    flightlog_model::time::parse_timestamp(s).map(short_time).unwrap_or_else(|_| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_times_are_to_the_second() {
        assert_eq!(short_time(1_768_473_000_123_456), "2026-01-15 10:30:00");
        assert_eq!(short_text_time("2026-01-15T10:30:00.5+01:00"), "2026-01-15 09:30:00");
        assert_eq!(short_text_time("not a time"), "not a time");
    }
}
