//! Reading the raw text a front end received (a query string, a form, an
//! MCP tool's arguments) into typed values, each error naming its field.

use crate::AppError;
use flightlog_model::time::{parse_instant, parse_timestamp};
use std::str::FromStr;

/// An RFC 3339 timestamp, in microseconds since the epoch.
pub fn time(name: &str, s: &str) -> Result<i64, AppError> {
    parse_timestamp(s).map_err(|e| AppError::invalid(name, e.reason))
}

/// `from` and `to` (RFC 3339) when given, each named in its error, and
/// `to` after `from` when both are: a range that ends before it starts
/// would answer nothing, as if nothing had happened then.
///
/// Steps are placed in time to the microsecond (their time cut down; the
/// timestamp is kept as sent), so a bound finer than that is moved up to
/// the next one, which keeps exactly the steps placed at or after `from`
/// and before `to`: a `from` of 10:00:00.000000001 took the steps at
/// 10:00:00. A step sent at 10:00:00.0000009 is placed at 10:00:00.
pub fn time_range(from: Option<&str>, to: Option<&str>) -> Result<(Option<i64>, Option<i64>), AppError> {
    let instant = |name: &str, s: &str| parse_instant(s).map_err(|e| AppError::invalid(name, e.reason));
    let from = from.map(|s| instant("from", s)).transpose()?;
    let to = to.map(|s| flightlog_model::time::parse_range_end(s).map_err(|e| AppError::invalid("to", e.reason))).transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        return Err(AppError::invalid("to", "must come after from"));
    }
    Ok((from.map(up), to.map(up)))
}

/// A bound of a time range (RFC 3339), in microseconds, moved up to the
/// next microsecond when it is finer (see [`time_range`]).
pub fn time_bound(name: &str, s: &str) -> Result<i64, AppError> {
    parse_instant(s).map(up).map_err(|e| AppError::invalid(name, e.reason))
}

/// The first microsecond at or after an instant.
fn up((us, nanos): (i64, u32)) -> i64 {
    us + i64::from(nanos > 0)
}

/// A whole number, when given; the error says the range its type takes
/// (`after=18446744073709551616` was "not a non-negative number").
pub fn number<T: FromStr + Whole>(name: &str, s: Option<&str>) -> Result<Option<T>, AppError> {
    s.map(|s| s.parse().map_err(|_| AppError::invalid(name, format!("must be a whole number from {} to {}, got {s:?}", T::MIN, T::MAX))))
        .transpose()
}

/// The whole-number types a parameter is read into, and their range.
pub trait Whole {
    const MIN: i128;
    const MAX: i128;
}

macro_rules! whole {
    ($($t:ty),*) => {$(impl Whole for $t { const MIN: i128 = <$t>::MIN as i128; const MAX: i128 = <$t>::MAX as i128; })*};
}
whole!(u32, u64, usize, i64);

/// An amount of USD (flightlog-model `budget::parse_usd`), when given.
pub fn usd(name: &str, s: Option<&str>) -> Result<Option<f64>, AppError> {
    s.map(|s| {
        flightlog_model::budget::parse_usd(s)
            .ok_or_else(|| AppError::invalid(name, format!("must be a finite number >= 0, got {s:?}")))
    })
    .transpose()
}

/// A page size between 1 and `max`; `default` when not given.
pub fn page_size(s: Option<&str>, default: u32, max: u32) -> Result<u32, AppError> {
    // One message for any refusal: `-1` was told the range a u32 has.
    let refused = |got: String| AppError::invalid("limit", format!("must be between 1 and {max}, got {got}"));
    match s.map(|s| (s, s.parse::<u32>())) {
        None => Ok(default),
        Some((_, Ok(n))) if (1..=max).contains(&n) => Ok(n),
        Some((_, Ok(n))) => Err(refused(n.to_string())),
        Some((s, Err(_))) => Err(refused(format!("{s:?}"))),
    }
}

/// The value with surrounding blanks removed, unless nothing is left.
pub fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The spellings [`flag`] reads as true, as false, and as "either".
pub const TRUE_WORDS: [&str; 4] = ["true", "1", "yes", "on"];
pub const FALSE_WORDS: [&str; 4] = ["false", "0", "no", "off"];
pub const EITHER_WORD: &str = "any";

/// true, false, or absent (also `any`).
pub fn flag(name: &str, v: &Option<String>) -> Result<Option<bool>, AppError> {
    match non_empty(v) {
        None => Ok(None),
        Some(w) if w == EITHER_WORD => Ok(None),
        Some(w) if TRUE_WORDS.contains(&w) => Ok(Some(true)),
        Some(w) if FALSE_WORDS.contains(&w) => Ok(Some(false)),
        Some(other) => Err(AppError::invalid(name, format!("must be true or false, got {other:?}"))),
    }
}

/// A session or user id a hold or an erasure names (`field`): one a step
/// could have had, as long as a step's ids may be.
pub fn id(field: &str, id: &str, max_id_bytes: usize) -> Result<(), AppError> {
    if id.is_empty() {
        return Err(AppError::invalid(field, "is required: the session id or user id"));
    }
    if id.len() > max_id_bytes {
        return Err(AppError::invalid(field, format!("is {} bytes, at most {max_id_bytes}", id.len())));
    }
    // An id no step could ever have had would name nothing. (Ids with
    // bidirectional formatting characters were stored before they were
    // refused, so they can still be named.)
    if id.chars().any(char::is_control) {
        return Err(AppError::invalid(field, "must not contain control characters: no step's id has them"));
    }
    Ok(())
}

/// A session id a read names: one a step could have (at most the ingest
/// limit's bytes), so that a megabyte of id is refused, not looked up and
/// echoed back.
pub fn session_id(id: &str) -> Result<(), AppError> {
    id_size("session_id", "session's id", id)
}

/// An id a read or a filter names (`field`, a `what`) no longer than any
/// step's can be (the ingest limit's bytes).
pub fn id_size(field: &str, what: &str, id: &str) -> Result<(), AppError> {
    let max = flightlog_model::Limits::default().max_id_bytes;
    match id.len() > max {
        true => Err(AppError::invalid(field, format!("is {} bytes; no {what} is longer than {max}", id.len()))),
        false => Ok(()),
    }
}

/// An id a list is filtered by (`field`, a `what`), as given: "" when not
/// given. Not trimmed, since an id may start or end with a space and the
/// trimmed one names another session (the filter showed its rows).
pub fn filter_id(field: &str, what: &str, v: &Option<String>) -> Result<String, AppError> {
    let id = v.as_deref().unwrap_or_default();
    id_size(field, what, id)?;
    Ok(id.to_string())
}

/// The most bytes of a reason kept with an action (a hold placed or
/// released, an erasure).
pub const MAX_REASON_BYTES: usize = 1_000;

/// A reason kept with an action: at most [`MAX_REASON_BYTES`].
pub fn reason(text: &str) -> Result<(), AppError> {
    match text.len() > MAX_REASON_BYTES {
        true => Err(AppError::invalid("reason", format!("is {} bytes, at most {MAX_REASON_BYTES}", text.len()))),
        false => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_size_out_of_range_is_told_the_range_it_may_be() {
        assert_eq!(page_size(None, 50, 1000).unwrap(), 50);
        assert_eq!(page_size(Some("1000"), 50, 1000).unwrap(), 1000);
        for (sent, says) in [("0", "must be between 1 and 1000, got 0"), ("-1", "must be between 1 and 1000, got \"-1\""), ("x", "must be between 1 and 1000, got \"x\"")] {
            match page_size(Some(sent), 50, 1000) {
                Err(AppError::Invalid { field, message }) => assert_eq!((field.as_str(), message.as_str()), ("limit", says)),
                other => panic!("{sent}: {other:?}"),
            }
        }
    }
}
