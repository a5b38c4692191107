//! Strict JSON for audit records: what is stored is what was sent, or the
//! record is refused naming the field.
//!
//! A plain `serde_json` parse bends two things silently, and an audit
//! record must not:
//! - **duplicate keys**: `{"session_id":"a","session_id":"b"}` would keep
//!   `b`. Here the record is refused, naming the key and where it is.
//! - **numbers a double cannot hold**: `123456789012345678901234567890`
//!   or `1.000000000000000000001` would be stored rounded. Here every number
//!   must be an integer that fits in 64 bits (signed or unsigned), or a
//!   decimal whose value is exactly the shortest form of the double it
//!   parses to (`0.1`, `2.5e-3`, `1e5`: stored in canonical form as `0.1`,
//!   `0.0025`, `100000.0`, the same values). Anything else is refused with
//!   a reason that says to send fewer digits, or a string where text is taken.

use flightlog_model::byte_words::{any_digit, word_at};
use flightlog_model::FieldError;
use flightlog_model::decimal::decimal;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};
use std::cell::{Cell, RefCell};
use std::fmt;

/// Parses one record's bytes into a JSON value, refusing duplicate keys
/// and numbers that cannot be stored exactly.
pub fn parse_record(bytes: &[u8]) -> Result<Value, FieldError> {
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = StrictValue { duplicate: &duplicate }.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    let value = match parsed {
        Ok(v) => v,
        Err(e) => {
            return Err(match duplicate.into_inner() {
                Some(path) => duplicate_key_error(path),
                None => FieldError::new("(record)", format!("is not valid JSON: {e}")),
            });
        }
    };
    if may_hold_inexact_numbers(bytes) {
        check_numbers(bytes, Numbers::AsWritten)?;
    }
    Ok(value)
}

/// Checks JSON text as strictly as [`parse_record`] reads it, without
/// building its value: a key repeated in an object, an object holding
/// more than one of the `exclusive` keys (a protobuf oneof: `stringValue`
/// and `intValue`), or a number that cannot be stored exactly is refused,
/// naming where. For a body that is then read straight into types, which
/// keep the last of two keys (OTLP/JSON): building the value first tripled
/// the time the reading took.
pub fn check_strictly(bytes: &[u8], exclusive: &[&str], numbers: Numbers) -> Result<Scanned, FieldError> {
    let problem = RefCell::new(None);
    let underscored = Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let scanned = StrictScan { problem: &problem, exclusive, underscored: &underscored }.deserialize(&mut de).and_then(|()| de.end());
    if let Err(e) = scanned {
        return Err(match problem.into_inner() {
            Some((mut innermost_first, reason)) => {
                innermost_first.reverse();
                FieldError::new(field_path(&innermost_first), reason)
            }
            None => FieldError::new("(record)", format!("is not valid JSON: {e}")),
        });
    }
    if may_hold_inexact_numbers(bytes) {
        check_numbers(bytes, numbers)?;
    }
    Ok(Scanned { underscored_keys: underscored.get() })
}

/// What [`check_strictly`] saw of text it passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scanned {
    /// Whether an object's key holds an underscore (OTLP/JSON names its
    /// fields in lowerCamelCase; `resource_spans` is protobuf's name).
    pub underscored_keys: bool,
}

/// Which number literals JSON text may hold.
#[derive(Clone, Copy, Debug)]
pub enum Numbers {
    /// Those stored as written: an integer that fits in 64 bits, a decimal
    /// a double gives back digit for digit (a step's rule).
    AsWritten,
    /// As written, but under a key `doubleValue` (protobuf's JSON for a
    /// double) any printing of a double ([`beyond_a_double`]): OTLP/JSON.
    Doubles,
}

/// Walks JSON text for [`check_strictly`]; what it found wrong, and where
/// (innermost part first, as the visitors unwind), is left in `problem`.
#[derive(Clone, Copy)]
struct StrictScan<'a> {
    problem: &'a RefCell<Option<(Vec<String>, String)>>,
    exclusive: &'a [&'a str],
    underscored: &'a Cell<bool>,
}

impl StrictScan<'_> {
    fn refuse<E: de::Error>(&self, part: String, reason: String) -> E {
        *self.problem.borrow_mut() = Some((vec![part], reason));
        E::custom("refused")
    }

    fn within<E>(&self, part: impl FnOnce() -> String, e: E) -> E {
        if let Some((path, _)) = self.problem.borrow_mut().as_mut() {
            path.push(part());
        }
        e
    }
}

impl<'de> DeserializeSeed<'de> for StrictScan<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictScan<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut n = 0usize;
        loop {
            match seq.next_element_seed(self) {
                Ok(Some(())) => n += 1,
                Ok(None) => return Ok(()),
                Err(e) => return Err(self.within(|| format!("[{n}]"), e)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // A few keys are compared in turn; past that, looked up (an object
        // of a million keys must not take a million squared steps).
        let (mut few, mut many) = (Vec::<String>::new(), std::collections::HashSet::<String>::new());
        let mut kind: Option<String> = None;
        while let Some(key) = map.next_key::<String>()? {
            if key.contains('_') {
                self.underscored.set(true);
            }
            if few.contains(&key) || many.contains(&key) {
                let reason = format!("the key {key:?} appears more than once in its object");
                return Err(self.refuse(key_part(&key), reason));
            }
            if self.exclusive.contains(&key.as_str()) {
                if let Some(first) = &kind {
                    return Err(self.refuse(key_part(&key), format!("is given beside {first}: it may be one kind only")));
                }
                kind = Some(key.clone());
            }
            if let Err(e) = map.next_value_seed(self) {
                return Err(self.within(|| key_part(&key), e));
            }
            match few.len() < 8 {
                true => few.push(key),
                false => {
                    many.insert(key);
                }
            }
        }
        Ok(())
    }
}

/// A quick, conservative look for what could be an inexact number: a run
/// of 16 or more digits (dots between them included), or an exponent. A
/// decimal of 15 significant digits or fewer always comes back from a
/// double as written (IEEE 754's 15-digit guarantee), and so does any
/// integer of 15 digits, so most records skip the exact check. Hits inside
/// strings only cost the full check.
///
/// Read eight bytes at a time: a word without a digit (most of them in
/// text, a conversation's messages) ends any run at once. Byte by byte it
/// was a quarter of the CPU that preparing 25 KB conversation steps took
/// (`perf` of `flightlog-bench write-path --conversations`).
fn may_hold_inexact_numbers(bytes: &[u8]) -> bool {
    let mut run = DigitRun::default();
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        if any_digit(word_at(word)) {
            if word.iter().any(|&b| run.hits(b)) {
                return true;
            }
        } else if run.previous_digit && matches!(word[0], b'e' | b'E') {
            return true;
        } else {
            // Eight bytes without a digit end any run, a dot first or not.
            run = DigitRun::default();
        }
    }
    words.remainder().iter().any(|&b| run.hits(b))
}

/// Where a scan of [`may_hold_inexact_numbers`] stands.
#[derive(Default)]
struct DigitRun {
    digits: u32,
    previous_digit: bool,
}

impl DigitRun {
    /// Takes in the next byte; whether the bytes so far could hold an
    /// inexact number.
    fn hits(&mut self, b: u8) -> bool {
        match b {
            b'0'..=b'9' => {
                self.digits += 1;
                self.previous_digit = true;
                return self.digits >= 16;
            }
            b'e' | b'E' if self.previous_digit => return true,
            b'.' if self.previous_digit => {}
            _ => self.digits = 0,
        }
        self.previous_digit = false;
        false
    }
}

/// The path of a duplicate key, innermost key first, as the visitors
/// unwind.
type DuplicatePath = RefCell<Option<Vec<String>>>;

fn duplicate_key_error(mut innermost_first: Vec<String>) -> FieldError {
    innermost_first.reverse();
    let key = innermost_first.last().cloned().unwrap_or_default();
    FieldError::new(field_path(&innermost_first), format!("the key {key:?} appears more than once in its object"))
}

/// A key as a part of a field's name: as it is, unless it would not read
/// as one in an error (empty, blank at either end, or holding a control
/// character): then as its JSON string in brackets, `[""]`, `["\r"]`.
fn key_part(key: &str) -> String {
    if key.is_empty() || key.trim() != key || key.chars().any(char::is_control) {
        format!("[{}]", serde_json::Value::from(key))
    } else {
        key.to_string()
    }
}

/// `a.b[2].c`, as the rest of Flightlog names fields.
fn field_path(parts: &[String]) -> String {
    let mut out = String::new();
    for part in parts {
        if !out.is_empty() && !part.starts_with('[') {
            out.push('.');
        }
        out.push_str(part);
    }
    if out.is_empty() { "(record)".into() } else { out }
}

/// Builds a `serde_json::Value`, refusing an object that repeats a key.
#[derive(Clone, Copy)]
struct StrictValue<'a> {
    duplicate: &'a DuplicatePath,
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("a number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            match seq.next_element_seed(self) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => return Ok(Value::Array(items)),
                Err(e) => {
                    if let Some(path) = self.duplicate.borrow_mut().as_mut() {
                        path.push(format!("[{}]", items.len()));
                    }
                    return Err(e);
                }
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match out.entry(key) {
                Entry::Occupied(taken) => {
                    *self.duplicate.borrow_mut() = Some(vec![key_part(taken.key())]);
                    return Err(de::Error::custom("duplicate key"));
                }
                Entry::Vacant(place) => match map.next_value_seed(self) {
                    Ok(value) => {
                        place.insert(value);
                    }
                    Err(e) => {
                        if let Some(path) = self.duplicate.borrow_mut().as_mut() {
                            path.push(key_part(place.key()));
                        }
                        return Err(e);
                    }
                },
            }
        }
        Ok(Value::Object(out))
    }
}

/// Walks the (already valid) JSON text and checks every number literal;
/// on the first one that cannot be stored exactly, names its field.
fn check_numbers(bytes: &[u8], numbers: Numbers) -> Result<(), FieldError> {
    let mut scan = Scanner { bytes, at: 0, path: Vec::new(), numbers };
    scan.value()
}

/// Where the scanner is: keys as byte ranges of the text, so that nothing
/// is allocated unless a number is refused (this runs on every record).
#[derive(Clone, Copy)]
enum Part {
    Key { start: usize, end: usize },
    Index(usize),
}

/// A minimal walker over JSON that is known to be valid (serde_json parsed
/// it first), tracking the path for error messages.
struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
    path: Vec<Part>,
    numbers: Numbers,
}

impl Scanner<'_> {
    fn skip_ws(&mut self) {
        while self.at < self.bytes.len() && matches!(self.bytes[self.at], b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Result<(), FieldError> {
        self.skip_ws();
        match self.bytes.get(self.at) {
            Some(b'{') => {
                self.at += 1;
                loop {
                    self.skip_ws();
                    if self.bytes.get(self.at) == Some(&b'}') {
                        self.at += 1;
                        return Ok(());
                    }
                    let (start, end) = self.string();
                    self.skip_ws();
                    self.at += 1; // ':'
                    self.path.push(Part::Key { start, end });
                    self.value()?;
                    self.path.pop();
                    self.skip_ws();
                    if self.bytes.get(self.at) == Some(&b',') {
                        self.at += 1;
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut index = 0;
                loop {
                    self.skip_ws();
                    if self.bytes.get(self.at) == Some(&b']') {
                        self.at += 1;
                        return Ok(());
                    }
                    self.path.push(Part::Index(index));
                    self.value()?;
                    self.path.pop();
                    index += 1;
                    self.skip_ws();
                    if self.bytes.get(self.at) == Some(&b',') {
                        self.at += 1;
                    }
                }
            }
            Some(b'"') => {
                self.string();
                Ok(())
            }
            Some(b'-' | b'0'..=b'9') => {
                let start = self.at;
                while self.at < self.bytes.len() && matches!(self.bytes[self.at], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                    self.at += 1;
                }
                let literal = std::str::from_utf8(&self.bytes[start..self.at]).unwrap_or_default();
                let refused = match self.numbers {
                    Numbers::Doubles if self.under_key("doubleValue") => beyond_a_double(literal),
                    _ => inexact(literal),
                };
                if let Some(reason) = refused {
                    return Err(FieldError::new(self.field(), reason));
                }
                Ok(())
            }
            // true, false, null
            _ => {
                while self.at < self.bytes.len() && self.bytes[self.at].is_ascii_alphabetic() {
                    self.at += 1;
                }
                Ok(())
            }
        }
    }

    /// Skips a string token; returns its byte range, quotes included.
    fn string(&mut self) -> (usize, usize) {
        let start = self.at;
        self.at += 1;
        while self.at < self.bytes.len() {
            match self.bytes[self.at] {
                b'\\' => self.at += 2,
                b'"' => {
                    self.at += 1;
                    break;
                }
                _ => self.at += 1,
            }
        }
        (start, self.at.min(self.bytes.len()))
    }

    /// The path so far, as field names: keys decoded (escapes and all).
    /// Whether the value read now is under `key` itself.
    fn under_key(&self, key: &str) -> bool {
        matches!(self.path.last(), Some(Part::Key { start, end }) if &self.bytes[*start..*end] == format!("\"{key}\"").as_bytes())
    }

    fn field(&self) -> String {
        let parts: Vec<String> = self
            .path
            .iter()
            .map(|part| match *part {
                Part::Key { start, end } => key_part(&serde_json::from_slice::<String>(&self.bytes[start..end]).unwrap_or_default()),
                Part::Index(i) => format!("[{i}]"),
            })
            .collect();
        field_path(&parts)
    }
}

/// The fast answer for the common number: a plain integer that fits.
fn is_small_integer(literal: &str) -> bool {
    let digits = literal.strip_prefix('-').unwrap_or(literal);
    !digits.is_empty() && digits.len() <= 18 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Why a literal is not a printing of the double it names (see
/// [`Numbers::Doubles`]), or None when it is: its shortest form, its 17
/// significant digits (`%.17g`: `0.10000000000000001` for 0.1), or for a
/// whole double its exact digits (JavaScript prints 1e20 as
/// `100000000000000000000`). `0.1000000000000000000001` and
/// `9007199254740993` are no double's: they were stored as 0.1 and
/// 9007199254740992.
pub(crate) fn beyond_a_double(literal: &str) -> Option<String> {
    let refused = || {
        Some(format!(
            "the number {} is no double's (a double would store another value); send the double's own digits",
            flightlog_model::validate::clip(literal)
        ))
    };
    let Ok(d) = literal.parse::<f64>() else { return refused() };
    if !d.is_finite() {
        return refused();
    }
    let written = decimal(literal);
    let shortest = Number::from_f64(d).map(|n| n.to_string()).unwrap_or_default();
    let printings = [shortest, format!("{d:.16e}"), if d.fract() == 0.0 { format!("{d:.0}") } else { String::new() }];
    match printings.iter().any(|p| !p.is_empty() && decimal(p) == written) {
        true => None,
        false => refused(),
    }
}

/// Why a number literal cannot be stored exactly, or None when it can.
pub(crate) fn inexact(literal: &str) -> Option<String> {
    if is_small_integer(literal) {
        return None;
    }
    let is_integer = !literal.contains(['.', 'e', 'E']);
    let refused = || {
        Some(format!(
            "the number {} cannot be stored exactly (integers must fit in 64 bits, decimals in a double); \
             send it with fewer digits, or as a string where the field takes text",
            flightlog_model::validate::clip(literal)
        ))
    };
    if is_integer {
        let fits = literal.parse::<i64>().is_ok() || literal.parse::<u64>().is_ok();
        return if fits { None } else { refused() };
    }
    let Ok(parsed) = literal.parse::<f64>() else { return refused() };
    if !parsed.is_finite() {
        return refused();
    }
    if flightlog_model::decimal::double_holds(literal, parsed) { None } else { refused() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strict_check_finds_what_the_strict_reading_refuses_without_building_it() {
        let many: Vec<String> = (0..20).map(|i| format!(r#""k{i}":{i}"#)).collect();
        let body = format!(r#"{{"a":[{{"x":1}},{{"o":{{{},"k15":0}}}}]}}"#, many.join(","));
        let refused = check_strictly(body.as_bytes(), &[], Numbers::AsWritten).unwrap_err();
        assert_eq!((refused.field.as_str(), refused.reason.as_str()), ("a[1].o.k15", "the key \"k15\" appears more than once in its object"));
        assert!(check_strictly(format!(r#"{{"o":{{{}}}}}"#, many.join(",")).as_bytes(), &[], Numbers::AsWritten).is_ok());
        let two = check_strictly(br#"{"v":{"stringValue":"a","intValue":"5"}}"#, &["stringValue", "intValue"], Numbers::AsWritten).unwrap_err();
        assert_eq!((two.field.as_str(), two.reason.as_str()), ("v.intValue", "is given beside stringValue: it may be one kind only"));
        assert_eq!(check_strictly(br#"{"doubleValue":0.1000000000000000000001}"#, &[], Numbers::Doubles).unwrap_err().field, "doubleValue");
        assert_eq!(check_strictly(b"{\"n\":", &[], Numbers::AsWritten).unwrap_err().field, "(record)");
        // A double's printings are taken under doubleValue; elsewhere, and
        // in a step, a number is as written.
        for printing in ["0.10000000000000001", "100000000000000000000", "18446744073709551616", "123456789012345680000", "1e20", "0.1"] {
            let body = format!(r#"{{"doubleValue":{printing}}}"#);
            assert!(check_strictly(body.as_bytes(), &[], Numbers::Doubles).is_ok(), "{printing}");
        }
        for no_double in ["9007199254740993", "0.1000000000000000000001", "123456789012345678901"] {
            let body = format!(r#"{{"doubleValue":{no_double}}}"#);
            assert!(check_strictly(body.as_bytes(), &[], Numbers::Doubles).is_err(), "{no_double}");
        }
        assert!(check_strictly(br#"{"n":0.10000000000000001}"#, &[], Numbers::Doubles).is_err(), "not under doubleValue");
        assert!(check_strictly(br#"{"n":0.10000000000000001}"#, &[], Numbers::AsWritten).is_err());
        assert!(check_strictly(br#"{"startTimeUnixNano":1700000000000000001}"#, &[], Numbers::Doubles).is_ok());
    }

    #[test]
    fn duplicate_keys_are_refused_naming_the_key_and_its_path() {
        let e = parse_record(br#"{"session_id":"a","session_id":"b"}"#).unwrap_err();
        assert_eq!(e.field, "session_id");
        assert!(e.reason.contains("more than once"), "{e}");
        let e = parse_record(br#"{"step":0,"tool_execution":{"params":[{"x":1},{"y":1,"y":2}]}}"#).unwrap_err();
        assert_eq!(e.field, "tool_execution.params[1].y");
        // An escaped spelling of the same key is the same key.
        let e = parse_record(br#"{"step":0,"st\u0065p":1}"#).unwrap_err();
        assert_eq!(e.field, "step");
    }

    #[test]
    fn a_key_that_would_not_read_in_an_error_is_named_by_its_json_string() {
        // Found by the fuzzer: a refusal named the field "\r", which reads
        // as no name at all.
        let e = parse_record(br#"{"\r":18446744073709551616}"#).unwrap_err();
        assert_eq!(e.field, r#"["\r"]"#);
        let e = parse_record(br#"{"a":{" b":[1,1e-400]}}"#).unwrap_err();
        assert_eq!(e.field, r#"a[" b"][1]"#);
        let e = parse_record(br#"{"":1,"":2}"#).unwrap_err();
        assert_eq!(e.field, r#"[""]"#);
        assert!(e.reason.contains("more than once"), "{e}");
        let e = parse_record(br#"{"tool_execution":{"params":{"caf\u00e9":1e-400}}}"#).unwrap_err();
        assert_eq!(e.field, "tool_execution.params.café", "an ordinary key stays as it is");
    }

    #[test]
    fn numbers_that_lose_digits_are_refused_naming_the_field() {
        for literal in ["123456789012345678901234567890", "18446744073709551616", "1.000000000000000000001", "1e-400", "-9223372036854775809"] {
            let e = parse_record(format!(r#"{{"a":{{"b":[1,{literal}]}}}}"#).as_bytes()).unwrap_err();
            assert_eq!(e.field, "a.b[1]", "{literal}");
            assert!(e.reason.contains("cannot be stored exactly"), "{e}");
        }
    }

    #[test]
    fn numbers_a_double_holds_exactly_are_kept() {
        for literal in ["0", "-0", "18446744073709551615", "-9223372036854775808", "0.1", "0.10", "2.5e-3", "1e5", "1E+2", "-1.5", "1.7976931348623157e308", "5e-324", "0.30000000000000004"] {
            assert!(parse_record(format!(r#"{{"n":{literal}}}"#).as_bytes()).is_ok(), "{literal}");
        }
        // Same value, canonical form.
        assert_eq!(parse_record(br#"{"n":1e5}"#).unwrap()["n"].to_string(), "100000.0");
    }

    #[test]
    fn the_quick_look_lets_no_inexact_number_through() {
        for literal in ["1234567890.123456789", "0.1000000000000000055511151231257827", "1e-400", "2E3", "12345678901234567"] {
            assert!(may_hold_inexact_numbers(format!(r#"{{"n":{literal}}}"#).as_bytes()), "{literal}");
        }
        assert!(!may_hold_inexact_numbers(br#"{"a":0.82,"b":123456789012345,"c":"2026-03-01T10:00:00.123456Z"}"#));
    }

    /// The byte-by-byte reading the word-at-a-time one replaced.
    fn byte_by_byte(bytes: &[u8]) -> bool {
        let mut digits = 0;
        let mut previous_digit = false;
        for &b in bytes {
            match b {
                b'0'..=b'9' => {
                    digits += 1;
                    if digits >= 16 {
                        return true;
                    }
                    previous_digit = true;
                    continue;
                }
                b'e' | b'E' if previous_digit => return true,
                b'.' if previous_digit => {}
                _ => digits = 0,
            }
            previous_digit = false;
        }
        false
    }

    proptest::proptest! {
        /// Reading eight bytes at a time answers as reading byte by byte,
        /// for texts made of digits, dots, exponents and letters, where
        /// runs and exponents cross the words' edges.
        #[test]
        fn the_word_reading_answers_as_the_byte_reading(text in "[0-9.eEa \"x-]{0,80}") {
            proptest::prop_assert_eq!(may_hold_inexact_numbers(text.as_bytes()), byte_by_byte(text.as_bytes()));
        }

        /// The same for text with few digits, where most words hold none.
        #[test]
        fn the_word_reading_answers_as_the_byte_reading_in_text(text in "([a-z .\"]{0,12}[0-9.eE]{0,3}){0,10}") {
            proptest::prop_assert_eq!(may_hold_inexact_numbers(text.as_bytes()), byte_by_byte(text.as_bytes()));
        }
    }

    #[test]
    fn runs_and_exponents_across_the_words_edges_are_found() {
        for pad in 0..16 {
            let p = "x".repeat(pad);
            for text in [format!("{p}1234567890123456"), format!("{p}7e"), format!("{p}7E-3"), format!("{p}7exxxxxxxxx"), format!("{p}12345678.12345678")] {
                assert!(may_hold_inexact_numbers(text.as_bytes()), "{text}");
                assert!(byte_by_byte(text.as_bytes()), "{text}");
            }
            for text in [format!("{p}123456789012345"), format!("{p}7.E"), format!("{p}7.........e"), format!("{p}7 e"), format!("{p}1234567.x12345678")] {
                assert_eq!(may_hold_inexact_numbers(text.as_bytes()), byte_by_byte(text.as_bytes()), "{text}");
            }
        }
    }

    #[test]
    fn syntax_errors_are_refused_as_the_record() {
        let e = parse_record(br#"{"a":"#).unwrap_err();
        assert_eq!(e.field, "(record)");
        assert!(e.reason.starts_with("is not valid JSON"), "{e}");
        assert!(parse_record(br#"{"a":1} x"#).is_err(), "trailing text");
    }

    #[test]
    fn decimals_compare_by_value() {
        assert_eq!(decimal("0.10"), decimal("1e-1"));
        assert_eq!(decimal("100000.0"), decimal("1e5"));
        assert_ne!(decimal("1.000000000000000000001"), decimal("1.0"));
        assert_eq!(decimal("-0.0"), decimal("0"));
        // Exponents at the ends of i64: no overflow, and a tiny number that
        // a double rounds to 0 is refused; a zero stays a zero.
        assert!(parse_record(br#"{"x":0.01e-9223372036854775808}"#).is_err());
        assert!(parse_record(br#"{"x":1.5e-99999999999999999999}"#).is_err());
        assert!(parse_record(br#"{"x":0.0e-9223372036854775808}"#).is_ok());
    }
}
