//! Timestamps: RFC 3339 in the API, microseconds since the epoch (UTC)
//! inside, which is ClickHouse's DateTime64(6).

use crate::validate::{FieldError, clip};

/// Earliest accepted timestamp (inclusive): the Unix epoch.
const MIN_TIMESTAMP_US: i64 = 0;

/// The far future, 2200-01-01T00:00:00Z: the exclusive upper bound of every
/// accepted timestamp ([`parse_timestamp`] refuses it and anything later,
/// and every stored step's time went through it), so a time range that
/// ends here has no upper bound. Use it as the default `to` of a query.
///
/// Why this value: it lies inside ClickHouse's DateTime64(6) range (up to
/// 2299-12-31) with room for arithmetic, so it converts like any other
/// time, unlike `i64::MAX / 2`, which lies far outside that range. Both
/// bound no stored step, so queries give the same answers with either.
pub const END_OF_TIME_US: i64 = 7_258_118_400_000_000;

/// Microseconds in a second: times inside Flightlog are microseconds.
pub const MICROS_PER_SECOND: i64 = 1_000_000;

/// Parses an RFC 3339 timestamp with any offset. Errors name `timestamp`.
pub fn parse_timestamp(s: &str) -> Result<i64, FieldError> {
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .map_err(|e| FieldError::new("timestamp", format!("is not RFC 3339 ({e}): {}", clip(s))))?;
    let us = t.timestamp_micros();
    if !(MIN_TIMESTAMP_US..END_OF_TIME_US).contains(&us) {
        return Err(FieldError::new("timestamp", format!("{} is outside 1970-01-01 .. 2200-01-01", clip(s))));
    }
    Ok(us)
}

/// Formats microseconds since the epoch as RFC 3339 UTC, e.g.
/// `2026-01-15T10:30:00.123456Z` (fraction only when non-zero).
pub fn format_timestamp(us: i64) -> String {
    match chrono::DateTime::from_timestamp_micros(us) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        None => us.to_string(),
    }
}

/// Now, in microseconds since the Unix epoch (the one impure function
/// here: a clock read).
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_microseconds() {
        for s in ["2026-01-15T10:30:00Z", "2026-01-15T10:30:00.123456Z", "2026-01-15T10:30:00.120Z"] {
            let us = parse_timestamp(s).unwrap();
            assert_eq!(parse_timestamp(&format_timestamp(us)).unwrap(), us);
        }
        assert_eq!(format_timestamp(1_768_473_000_000_000), "2026-01-15T10:30:00Z");
        assert!(parse_timestamp("1969-12-31T23:59:59Z").is_err());
        assert_eq!(format_timestamp(END_OF_TIME_US), "2200-01-01T00:00:00Z");
        assert!(parse_timestamp("2200-01-01T00:00:00Z").is_err(), "nothing stored reaches the end of time");
        assert!(parse_timestamp("2199-12-31T23:59:59.999999Z").is_ok());
    }
}

