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
/// Indenting adds two spaces a level to every line, so a value nested deep
/// grows many times over (200 KB of numbers nested 110 deep became 22 MB):
/// past [`PRETTY_MAX_BYTES`] it is shown compact, its stored size.
pub fn pretty(v: &Value) -> String {
    if v.is_null() {
        return String::new();
    }
    let mut out = Bounded { buf: Vec::new(), max: PRETTY_MAX_BYTES };
    match serde_json::to_writer_pretty(&mut out, v) {
        Ok(()) => String::from_utf8(out.buf).unwrap_or_default(),
        Err(_) => v.to_string(),
    }
}

/// [`pretty`], for a page listing many steps: indented as far as
/// [`LISTED_FIELD_CHARS`] reaches, then `…`. Written only that far, not
/// whole and then clipped (a step may hold 4 MiB).
pub fn listed_pretty(v: &Value) -> String {
    if v.is_null() {
        return String::new();
    }
    // A character is at most 4 bytes: enough bytes for the characters kept.
    let mut out = Bounded { buf: Vec::new(), max: 4 * LISTED_FIELD_CHARS + 4 };
    let whole = serde_json::to_writer_pretty(&mut out, v).is_ok();
    // Cut only at characters' starts: UTF-8.
    let text = String::from_utf8(out.buf).unwrap_or_default();
    match whole {
        true => listed(text),
        false => format!("{}…", flightlog_model::validate::cut_chars(&text, LISTED_FIELD_CHARS)),
    }
}

/// The longest indented JSON [`pretty`] gives.
const PRETTY_MAX_BYTES: usize = 256 << 10;

/// A buffer that holds at most `max` bytes: a write past them is cut,
/// and the next one refused, which stops the serialiser.
struct Bounded {
    buf: Vec<u8>,
    max: usize,
}

impl std::io::Write for Bounded {
    /// Takes what fits, cut at a character's start (serde_json writes
    /// whole strings, or runs of them, as UTF-8), and refuses the rest.
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut take = bytes.len().min(self.max - self.buf.len());
        while take < bytes.len() && take > 0 && bytes[take] & 0xC0 == 0x80 {
            take -= 1;
        }
        if take == 0 && !bytes.is_empty() {
            return Err(std::io::Error::other("longer than a page shows"));
        }
        self.buf.extend_from_slice(&bytes[..take]);
        Ok(take)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The most characters of one field a page listing many steps shows (the
/// timeline: 100 steps of up to 4 MiB each); the step's own page shows it
/// whole.
pub const LISTED_FIELD_CHARS: usize = 2_000;

/// A field on a page listing many steps: at most [`LISTED_FIELD_CHARS`],
/// then `…`.
pub fn listed(text: String) -> String {
    match text.len() > LISTED_FIELD_CHARS {
        true => flightlog_model::validate::clip_chars(&text, LISTED_FIELD_CHARS),
        false => text,
    }
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

/// An amount of USD as the pages show it: to the hundred-millionth, as
/// many digits as it needs but at least four (`$13.5000`, `$0.00015`).
/// Four alone showed a user's $0.00015 as $0.0001, and a column of such
/// rows did not add up to its total; a token at $0.01 per 1M is $1e-8.
pub fn usd(amount: f64) -> String {
    let mut digits = format!("{amount:.8}");
    let keep = digits.find('.').map_or(digits.len(), |point| point + 5);
    while digits.len() > keep && digits.ends_with('0') {
        digits.pop();
    }
    format!("${digits}")
}

/// A session's computed cost, and what it leaves out: steps with tokens
/// whose model has no price (so `$0.0000` is never shown as if exact).
pub fn session_cost(cost: flightlog_app::sessions::SessionCost) -> String {
    let usd = usd(cost.usd);
    match cost.unpriced_steps {
        0 => usd,
        1 => format!("{usd} + 1 unpriced step"),
        n => format!("{usd} + {n} unpriced steps"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts_show_every_digit_to_the_hundred_millionth() {
        let shown: Vec<String> = [13.5, 0.00015, 0.0, 2.0 / 3.0, 1.5e-7, 1234.56789012].into_iter().map(usd).collect();
        assert_eq!(shown, ["$13.5000", "$0.00015", "$0.0000", "$0.66666667", "$0.00000015", "$1234.56789012"]);
    }

    #[test]
    fn table_times_are_to_the_second() {
        assert_eq!(short_time(1_768_473_000_123_456), "2026-01-15 10:30:00");
        assert_eq!(short_text_time("2026-01-15T10:30:00.5+01:00"), "2026-01-15 09:30:00");
        assert_eq!(short_text_time("not a time"), "not a time");
    }

    #[test]
    fn deep_values_are_shown_compact_and_short_ones_indented() {
        assert_eq!(pretty(&json!({"a": [1]})), "{\n  \"a\": [\n    1\n  ]\n}");
        let mut deep = json!(vec![0; 20_000]);
        for _ in 0..110 {
            deep = json!([deep]);
        }
        let shown = pretty(&deep);
        assert_eq!(shown, deep.to_string(), "indented it would be 4.4 MB");
        assert!(shown.len() < 50_000);
    }

    #[test]
    fn listed_json_is_written_only_as_far_as_it_is_shown() {
        let long = json!({"text": "é".repeat(10 * LISTED_FIELD_CHARS)});
        let shown = listed_pretty(&long);
        assert_eq!(shown.chars().count(), LISTED_FIELD_CHARS + 1);
        assert!(shown.starts_with("{\n  \"text\": \"éé") && shown.ends_with('…'), "{shown}");
        assert_eq!(listed_pretty(&json!({"a": 1})), pretty(&json!({"a": 1})));
        assert_eq!(listed_pretty(&Value::Null), "");
    }

    #[test]
    fn listed_fields_are_clipped_to_a_bound_with_a_mark() {
        assert_eq!(listed("short".into()), "short");
        let long = "é".repeat(LISTED_FIELD_CHARS + 1);
        let shown = listed(long);
        assert_eq!(shown.chars().count(), LISTED_FIELD_CHARS + 1);
        assert!(shown.ends_with('…'));
    }
}
