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

/// Parses an RFC 3339 timestamp with any offset, to the microsecond at or
/// before it (a finer fraction is kept where the step is kept whole, in
/// its canonical JSON). Errors name `timestamp`.
pub fn parse_timestamp(s: &str) -> Result<i64, FieldError> {
    parse_instant(s).map(|(us, _)| us)
}

/// [`parse_timestamp`], and the nanoseconds past that microsecond.
pub fn parse_instant(s: &str) -> Result<(i64, u32), FieldError> {
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .map_err(|e| FieldError::new("timestamp", format!("is not RFC 3339 ({e}): {}", clip(s))))?;
    // chrono reads a leap second (…:59:60) as the second after it, so a
    // step stamped 23:59:60 was filed under the next day, while it read
    // back as sent: refused rather than put in another day.
    if t.timestamp_subsec_nanos() >= 1_000_000_000 {
        let why = format!("{} is a leap second (:60), which has no place in UTC time order here: send :59.999999 or the next second", clip(s));
        return Err(FieldError::new("timestamp", why));
    }
    let us = t.timestamp_micros();
    if !(MIN_TIMESTAMP_US..END_OF_TIME_US).contains(&us) {
        return Err(FieldError::new("timestamp", format!("{} is outside 1970-01-01 .. 2200-01-01", clip(s))));
    }
    Ok((us, t.timestamp_subsec_nanos() % 1_000))
}

/// The end of a range (RFC 3339, exclusive): an instant as
/// [`parse_instant`] takes it, or the end of time itself, which ends every
/// range (a step may be dated up to just before it).
pub fn parse_range_end(s: &str) -> Result<(i64, u32), FieldError> {
    match chrono::DateTime::parse_from_rfc3339(s) {
        Ok(t) if t.timestamp_micros() == END_OF_TIME_US && t.timestamp_subsec_nanos() == 0 => Ok((END_OF_TIME_US, 0)),
        _ => parse_instant(s),
    }
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
        assert_eq!(parse_range_end("2200-01-01T00:00:00Z"), Ok((END_OF_TIME_US, 0)), "but a range may end there");
        assert_eq!(parse_range_end("2200-01-01T02:00:00+02:00"), Ok((END_OF_TIME_US, 0)));
        assert!(parse_range_end("2200-01-01T00:00:00.000001Z").is_err() && parse_range_end("2200-01-02T00:00:00Z").is_err());
        assert_eq!(parse_range_end("2026-01-15T10:30:00Z"), parse_instant("2026-01-15T10:30:00Z"));
        assert!(parse_timestamp("2199-12-31T23:59:59.999999Z").is_ok());
    }

    #[test]
    fn a_leap_second_is_refused_and_nanoseconds_are_told_apart() {
        let e = parse_timestamp("2026-03-01T23:59:60Z").unwrap_err();
        assert!(e.reason.contains("leap second"), "{e:?}");
        assert!(parse_timestamp("2016-12-31T23:59:60.5Z").is_err());
        let (us, nanos) = parse_instant("2026-03-01T10:00:00.000000001Z").unwrap();
        assert_eq!((us, nanos), (parse_timestamp("2026-03-01T10:00:00Z").unwrap(), 1));
        assert_eq!(parse_instant("2026-03-01T10:00:10.123456789+05:45").unwrap().1, 789);
    }
}

