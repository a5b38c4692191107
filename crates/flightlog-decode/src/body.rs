//! Request bodies: gzip, then JSON object / JSON array / NDJSON.

use crate::json::parse_record;
use flightlog_model::{FieldError, Limits};
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::io::Read;
use std::ops::Range;

/// One record of a body: its JSON value, or why it could not be parsed.
pub type Record = Result<Value, FieldError>;

/// Errors that reject the whole body. Per-record problems are [`Record`]s.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BodyError {
    #[error("body is {size} bytes; the limit is {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("decompressed body exceeds the limit of {limit} bytes")]
    DecodedTooLarge { limit: usize },
    #[error("body has {count} records; the limit is {limit} records per request")]
    TooManyRecords { count: usize, limit: usize },
    #[error("body is not valid gzip: {0}")]
    Gzip(String),
    #[error("unsupported Content-Encoding {0:?}; use gzip or none")]
    Encoding(String),
    #[error("body is not valid JSON: {0}")]
    Json(String),
    #[error("body is empty")]
    Empty,
}

impl BodyError {
    /// 413 for size limits, 400 for everything else.
    pub fn is_too_large(&self) -> bool {
        matches!(self, Self::TooLarge { .. } | Self::DecodedTooLarge { .. } | Self::TooManyRecords { .. })
    }
}

/// Decodes a body. `content_encoding` is the header's value, if any.
pub fn decode_body<'a>(body: &'a [u8], content_encoding: Option<&str>, framing: Framing, limits: &Limits) -> Result<Records<'a>, BodyError> {
    if body.len() > limits.max_body_bytes {
        return Err(BodyError::TooLarge { size: body.len(), limit: limits.max_body_bytes });
    }
    let text = match content_encoding.map(str::trim) {
        None | Some("") | Some("identity") => Cow::Borrowed(body),
        Some(enc) if enc.eq_ignore_ascii_case("gzip") => Cow::Owned(gunzip(body, limits.max_decoded_bytes)?),
        Some(other) => return Err(BodyError::Encoding(other.to_string())),
    };
    let found = split_records(&text, framing, limits.max_records)?;
    Ok(Records { text, found, max_record_bytes: limits.max_record_bytes })
}

/// What the client said a body of several lines is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Nothing (`application/json`, or no type): a body that is not one
    /// JSON value is read line by line, unless its first line opens a value
    /// it does not close (`{` alone): then it is one value written over
    /// many lines, broken, and refused whole. Read line by line, one of its
    /// lines could be a nested object that reads as a step nobody sent.
    Guessed,
    /// NDJSON (`application/x-ndjson`): each line is a record whatever the
    /// others are (`flightlog import` sends a file's lines so).
    Lines,
}

/// A body's records, found and counted but not parsed: each is parsed as
/// it is taken, one at a time, so a request holds the values of its
/// records one by one rather than all at once (a value takes many times
/// its text: 32 records of 4 MiB of `[1,1,…]` would take gigabytes).
#[derive(Debug, PartialEq)]
pub struct Records<'a> {
    text: Cow<'a, [u8]>,
    found: Vec<Found>,
    max_record_bytes: usize,
}

/// Where a record's text is in the body; for NDJSON, its line.
#[derive(Debug, PartialEq)]
struct Found {
    text: Range<usize>,
    line: Option<usize>,
}

impl Records<'_> {
    pub fn len(&self) -> usize {
        self.found.len()
    }

    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }
}

impl<'a> IntoIterator for Records<'a> {
    type Item = Record;
    type IntoIter = Parsed<'a>;

    fn into_iter(self) -> Parsed<'a> {
        Parsed { found: self.found.into_iter(), text: self.text, max_record_bytes: self.max_record_bytes }
    }
}

/// A body's records, each parsed as it is taken.
pub struct Parsed<'a> {
    text: Cow<'a, [u8]>,
    found: std::vec::IntoIter<Found>,
    max_record_bytes: usize,
}

impl Iterator for Parsed<'_> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        let Found { text, line } = self.found.next()?;
        let bytes = &self.text[text];
        let limit = self.max_record_bytes;
        // The size limit is the step's canonical form's, which may be much
        // smaller than its text (escapes, spaces); a record whose text is
        // over it is measured without being built, and refused unbuilt
        // when even its smallest canonical form would be over.
        let read = match bytes.len() > limit && canonical_size_over(bytes, limit) {
            true => Err(FieldError::new("(record)", format!("is over {limit} bytes as a step, the limit per record (its text is {} bytes)", bytes.len()))),
            false => parse_record(bytes),
        };
        Some(match line {
            None => read,
            Some(line) => read.map_err(|e| match e.field.as_str() {
                "(record)" => FieldError::new("(record)", format!("line {line} {}", e.reason)),
                _ => e,
            }),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.found.size_hint()
    }
}

/// Whether JSON text's canonical form (no spaces, strings unescaped) would
/// be over `limit` bytes, read without building its value: strings are
/// counted whole, numbers at one byte each (the least they take). Text
/// that is not JSON is left to the parser to refuse.
fn canonical_size_over(bytes: &[u8], limit: usize) -> bool {
    let size = std::cell::Cell::new(0usize);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let measured = serde::de::DeserializeSeed::deserialize(CanonicalSize { size: &size, limit }, &mut de);
    measured.is_err() && size.get() > limit
}

/// Adds up the least a value's canonical form takes, and stops (an error)
/// once that passes the limit.
#[derive(Clone, Copy)]
struct CanonicalSize<'a> {
    size: &'a std::cell::Cell<usize>,
    limit: usize,
}

impl CanonicalSize<'_> {
    fn add<E: serde::de::Error>(&self, n: usize) -> Result<(), E> {
        self.size.set(self.size.get().saturating_add(n));
        match self.size.get() > self.limit {
            true => Err(E::custom("over the limit")),
            false => Ok(()),
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for CanonicalSize<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for CanonicalSize<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        self.add(if v { 4 } else { 5 })
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.add(1)
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.add(1)
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.add(1)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.add(v.len() + 2)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.add(4)
    }
    // Brackets, and a comma between items.
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.add(1)?;
        let mut items = 0;
        while seq.next_element_seed(self)?.is_some() {
            items += 1;
            self.add(usize::from(items > 1))?;
        }
        self.add(1)
    }
    // Braces, a colon after each key, and a comma between pairs.
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.add(1)?;
        let mut pairs = 0;
        while map.next_key_seed(self)?.is_some() {
            pairs += 1;
            self.add(1 + usize::from(pairs > 1))?;
            map.next_value_seed(self)?;
        }
        self.add(1)
    }
}

pub fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    // Reading one byte past the limit tells "exactly at the limit" from "over".
    flate2::read::MultiGzDecoder::new(body)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Gzip(e.to_string()))?;
    if out.len() > limit {
        return Err(BodyError::DecodedTooLarge { limit });
    }
    Ok(out)
}

/// Where the body's records are, found and counted before any is parsed:
/// a record's value takes many times its bytes (a 16 KB gzip body of eight
/// million `x` lines took 1.3 GB and 14–28 s to be refused for its count).
fn split_records(bytes: &[u8], framing: Framing, max_records: usize) -> Result<Vec<Found>, BodyError> {
    // A byte-order mark (what some editors and Windows tools put before
    // UTF-8 text) is no part of the first record: it made it "not JSON".
    let bom = if bytes.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    let body = &bytes[bom..];
    let trimmed = body.trim_ascii();
    let too_many = |count| BodyError::TooManyRecords { count, limit: max_records };
    let at = |part: &[u8]| part.as_ptr() as usize - bytes.as_ptr() as usize;
    let whole = |part: &[u8]| Found { text: at(part)..at(part) + part.len(), line: None };
    // Read line by line, unless the first line opens what it does not
    // close, saying the body is one broken value over many lines.
    let by_lines = |e: serde_json::Error| match framing == Framing::Guessed && lines(body).find(|l| !l.trim_ascii().is_empty()).is_some_and(opens_a_value) {
        true => Err(BodyError::Json(format!("{e} (the first line opens a value the body does not close)"))),
        false => ndjson(body, bom, max_records),
    };
    match trimmed.first() {
        None => Err(BodyError::Empty),
        // A JSON array: records are its elements. A syntax error anywhere
        // leaves no way to tell where records begin, so it rejects the body;
        // a duplicate key or an inexact number rejects only its record. An
        // array followed by more is NDJSON whose first line is an array.
        Some(b'[') => {
            let mut array = serde_json::Deserializer::from_slice(trimmed);
            let Elements { kept, count } = serde::Deserializer::deserialize_seq(&mut array, ElementsUpTo(max_records)).map_err(|e| BodyError::Json(e.to_string()))?;
            if let Err(e) = array.end() {
                return by_lines(e);
            }
            if count > max_records {
                return Err(too_many(count));
            }
            Ok(kept.into_iter().map(|item| whole(item.get().as_bytes())).collect())
        }
        // One object (possibly pretty-printed over many lines), or NDJSON.
        _ => match serde_json::from_slice::<serde::de::IgnoredAny>(trimmed) {
            Ok(_) if max_records == 0 => Err(too_many(1)),
            Ok(_) => Ok(vec![whole(trimmed)]),
            // Numbered from the body's first line, blank or not.
            Err(e) => by_lines(e),
        },
    }
}

/// Whether a line leaves a bracket or a string open: the start of a value
/// written over many lines, not a record of its own.
fn opens_a_value(line: &[u8]) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0i64, false, false);
    for &b in line {
        match (in_string, b) {
            (true, _) if escaped => escaped = false,
            (true, b'\\') => escaped = true,
            (true, b'"') | (false, b'"') => in_string = !in_string,
            (false, b'{' | b'[') => depth += 1,
            (false, b'}' | b']') => depth -= 1,
            _ => {}
        }
    }
    depth > 0 || in_string
}

/// One record per non-blank line, numbered from the body's first line so
/// the client can find a line refused; `body` starts `offset` bytes into
/// the text. Past the limit, lines are counted, not kept.
fn ndjson(body: &[u8], offset: usize, max_records: usize) -> Result<Vec<Found>, BodyError> {
    let (mut found, mut count) = (Vec::new(), 0usize);
    let mut start = offset;
    for (line_no, line) in lines(body).enumerate() {
        let trimmed = line.trim_ascii();
        if !trimmed.is_empty() {
            count += 1;
            if count <= max_records {
                let from = start + (trimmed.as_ptr() as usize - line.as_ptr() as usize);
                found.push(Found { text: from..from + trimmed.len(), line: Some(line_no + 1) });
            }
        }
        start += line.len() + 1;
    }
    if count > max_records {
        return Err(BodyError::TooManyRecords { count, limit: max_records });
    }
    Ok(found)
}

/// An array's first elements, as the text they are, and how many it has.
struct Elements<'a> {
    kept: Vec<&'a RawValue>,
    count: usize,
}

/// Reads an array keeping at most this many elements' text; past them it
/// only counts, so a body of millions of `1,` holds no more than the limit.
struct ElementsUpTo(usize);

impl<'de> serde::de::Visitor<'de> for ElementsUpTo {
    type Value = Elements<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of records")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Elements<'de>, A::Error> {
        let mut kept = Vec::new();
        while kept.len() < self.0 {
            match seq.next_element::<&RawValue>()? {
                Some(item) => kept.push(item),
                None => return Ok(Elements { count: kept.len(), kept }),
            }
        }
        let mut count = kept.len();
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
            count += 1;
        }
        Ok(Elements { kept, count })
    }
}

/// The lines of `bytes`, as `bytes.split(|&b| b == b'\n')` gives them (the
/// last is what follows the last newline, empty when the body ends with
/// one), found with memchr: `split` looked at every byte, 8% of the CPU of
/// preparing 25 KB conversation steps (`perf` of `flightlog-bench
/// write-path --conversations`).
fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let ends = memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len()));
    ends.scan(0, |start, end| {
        let line = &bytes[*start..end];
        *start = end + 1;
        Some(line)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    fn decode(body: &[u8]) -> Result<Vec<Record>, BodyError> {
        decode_body(body, None, Framing::Guessed, &Limits::default()).map(|records| records.into_iter().collect())
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn one_object_an_array_and_ndjson_all_decode() {
        assert_eq!(decode(b"{\"a\":1}").unwrap().len(), 1);
        assert_eq!(decode(b"{\n  \"a\": 1\n}\n").unwrap().len(), 1, "pretty-printed object is one record");
        assert_eq!(decode(b"[{\"a\":1},{\"a\":2}]").unwrap().len(), 2);
        assert_eq!(decode(b"{\"a\":1}\n\n{\"a\":2}\r\n{\"a\":3}\n").unwrap().len(), 3);
    }

    #[test]
    fn a_byte_order_mark_is_no_part_of_the_first_record_and_lines_count_from_the_first() {
        for body in [&b"\xEF\xBB\xBF{\"a\":1}\n{\"b\":2}"[..], b"\xEF\xBB\xBF{\"a\":1}", b"\xEF\xBB\xBF[{\"a\":1}]"] {
            let records = decode(body).unwrap();
            assert!(records.iter().all(Result::is_ok), "{records:?}");
        }
        let records = decode(b"\n\n{\"a\":1}\n\n{bad\n").unwrap();
        let e = records[1].as_ref().unwrap_err();
        assert!(e.reason.starts_with("line 5 "), "the fifth line of the body: {e:?}");
        assert!(decode(b"\xEF\xBB\xBF").is_err(), "a mark alone is an empty body");
    }

    #[test]
    fn a_bad_ndjson_line_rejects_only_that_record() {
        let records = decode(b"{\"a\":1}\n{oops\n{\"a\":3}").unwrap();
        assert!(records[0].is_ok() && records[2].is_ok());
        let err = records[1].as_ref().unwrap_err();
        assert!(err.reason.starts_with("line 2 is not valid JSON"), "{err}");
    }

    #[test]
    fn a_big_body_keeps_its_records_in_order_with_their_line_numbers() {
        let lines: Vec<String> =
            (0..1000).map(|i| if i % 97 == 5 { format!("{{\"n\":{i},oops") } else { format!("{{\"n\":{i}}}") }).collect();
        let ndjson = lines.join("\n");
        let array = format!("[{}]", (0..1000).map(|i| format!("{{\"n\":{i}}}")).collect::<Vec<_>>().join(","));
        let records = decode(ndjson.as_bytes()).unwrap();
        assert_eq!(records.len(), 1000);
        assert_eq!(records.iter().filter(|r| r.is_err()).count(), (0..1000).filter(|i| i % 97 == 5).count());
        for (i, record) in records.iter().enumerate() {
            match record {
                Ok(v) => assert_eq!(v["n"], i as u64),
                Err(e) => {
                    assert_eq!(i % 97, 5, "only the broken lines are refused");
                    assert!(e.reason.starts_with(&format!("line {} is not valid JSON", i + 1)), "{e}");
                }
            }
        }
        let records = decode(array.as_bytes()).unwrap();
        assert_eq!(records.len(), 1000);
        assert!(records.iter().enumerate().all(|(i, r)| r.as_ref().unwrap()["n"] == i as u64));
    }

    #[test]
    fn a_duplicate_key_rejects_only_its_record() {
        let records = decode(b"[{\"a\":1},{\"a\":1,\"a\":2},{\"a\":3}]").unwrap();
        assert!(records[0].is_ok() && records[2].is_ok());
        assert_eq!(records[1].as_ref().unwrap_err().field, "a");
        let records = decode(b"{\"a\":1}\n{\"b\":{\"c\":1,\"c\":1}}").unwrap();
        assert_eq!(records[1].as_ref().unwrap_err().field, "b.c");
        let one = decode(b"{\n \"a\": 1,\n \"a\": 2\n}").unwrap();
        assert_eq!(one.len(), 1, "a pretty-printed object with a repeated key is still one record");
        assert_eq!(one[0].as_ref().unwrap_err().field, "a");
    }

    #[test]
    fn gzip_bodies_decode_and_bombs_are_stopped() {
        let body = gzip(b"[{\"a\":1}]");
        assert_eq!(decode_body(&body, Some("gzip"), Framing::Guessed, &Limits::default()).unwrap().len(), 1);
        let limits = Limits { max_decoded_bytes: 1000, ..Limits::default() };
        let bomb = gzip(&vec![b' '; 10_000]);
        assert_eq!(decode_body(&bomb, Some("gzip"), Framing::Guessed, &limits).unwrap_err(), BodyError::DecodedTooLarge { limit: 1000 });
        assert!(matches!(decode_body(b"not gzip", Some("gzip"), Framing::Guessed, &limits), Err(BodyError::Gzip(_))));
        assert!(matches!(decode_body(b"{}", Some("br"), Framing::Guessed, &limits), Err(BodyError::Encoding(_))));
    }

    #[test]
    fn limits_on_size_and_count_name_the_limit() {
        let limits = Limits { max_body_bytes: 10, max_records: 2, ..Limits::default() };
        let e = decode_body(b"[{},{},{},{}]", None, Framing::Guessed, &limits).unwrap_err();
        assert_eq!(e.to_string(), "body is 13 bytes; the limit is 10 bytes");
        let e = decode_body(b"[{},{},{}]", None, Framing::Guessed, &limits).unwrap_err();
        assert_eq!(e.to_string(), "body has 3 records; the limit is 2 records per request");
        assert!(e.is_too_large());
    }

    /// The count comes before the parse: past the limit, no element is
    /// kept or parsed (a flood of records took gigabytes to refuse).
    #[test]
    fn records_past_the_limit_are_counted_not_parsed() {
        let limits = Limits { max_records: 3, ..Limits::default() };
        for (body, count) in [("[1,2,3,4,5]", 5), ("x\nx\n\nx\nx\n", 4), ("[{\"a\":[1,2]},{},{},{}]", 4)] {
            assert_eq!(decode_body(body.as_bytes(), None, Framing::Guessed, &limits).unwrap_err(), BodyError::TooManyRecords { count, limit: 3 }, "{body}");
        }
        assert_eq!(decode_body(b"[1,2,3]", None, Framing::Guessed, &limits).unwrap().len(), 3, "at the limit");
        assert_eq!(decode_body(b"x\n\nx\nx", None, Framing::Guessed, &limits).unwrap().len(), 3, "blank lines are no records");
        // A million elements, then a syntax error: refused as not JSON, as
        // any broken array, while holding no more than three.
        let flood = format!("[{}", "1,".repeat(1_000_000));
        assert!(matches!(decode_body(flood.as_bytes(), None, Framing::Guessed, &limits), Err(BodyError::Json(_))));
        let text = format!("[{}1]", "{\"big\":[1,2,3]},".repeat(100_000));
        let mut body = serde_json::Deserializer::from_slice(text.as_bytes());
        let Elements { kept, count } = serde::Deserializer::deserialize_seq(&mut body, ElementsUpTo(3)).unwrap();
        assert_eq!((kept.len(), count), (3, 100_001));
    }

    /// NDJSON whose first line is an array: the line is a record (refused
    /// alone, as not a step, as it would be second), not the whole body
    /// refused as an array with more after it.
    #[test]
    fn ndjson_whose_first_line_is_an_array_keeps_its_other_lines() {
        let records = decode(b"[1,2]\n{\"a\":1}\n{\"a\":2}").unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records.iter().map(|r| r.as_ref().unwrap().to_string()).collect::<Vec<_>>(), ["[1,2]", r#"{"a":1}"#, r#"{"a":2}"#]);
        assert!(matches!(decode(b"[1,2] x"), Ok(ref r) if r.len() == 1 && r[0].is_err()), "one line holding an array and more");
    }

    /// A pretty-printed object with a syntax error was read line by line, as
    /// NDJSON is: a nested object alone on its line was stored as a step
    /// nobody sent. A body whose first line opens a value it does not close
    /// is one value over many lines, and refused whole, however the first
    /// line breaks (a key given twice, a syntax error, a string left open).
    #[test]
    fn a_body_whose_first_line_opens_a_value_is_one_broken_value() {
        let inner = "    {\"session_id\":\"inner\",\"step\":7,\"timestamp\":\"2026-01-15T10:30:00Z\"}\n  },\n}\n";
        for first in ["{", "{\"a\":1,\"a\":2,\"tool_execution\": {\"params\":", "{\"a\":nul,\"t\":{\"p\":", "[{\"a\": \"open"] {
            let body = format!("{first}\n  \"tool_execution\": {{\"params\":\n{inner}");
            match decode(body.as_bytes()) {
                // An array broken inside is refused whole as before.
                Err(BodyError::Json(why)) => assert!(first.starts_with('[') || why.contains("the first line opens a value the body does not close"), "{first}: {why}"),
                other => panic!("{first}: refused whole expected, got {other:?}"),
            }
        }
        // A first line that closes what it opens is a record: the body is
        // NDJSON, and a broken line, or a last line cut short, refuses
        // only itself.
        let records = decode(b"{\"a\":1}\n{oops}\n{\"a\":\n{\"a\":2}\n{\"a\":").unwrap();
        assert_eq!(records.iter().map(Result::is_ok).collect::<Vec<_>>(), [true, false, false, true, false]);
        assert!(opens_a_value(br#"{"a": "}\"{"#) && !opens_a_value(br#"{"a": "{[\\"}"#) && !opens_a_value(b"[1]"));
        // Declared NDJSON: each line is a record, even when the first is
        // cut short.
        let lines: Vec<Record> = decode_body(b"{\"a\":\n{\"a\":2}", None, Framing::Lines, &Limits::default()).unwrap().into_iter().collect();
        assert_eq!(lines.iter().map(Result::is_ok).collect::<Vec<_>>(), [false, true]);
        assert!(lines[0].as_ref().unwrap_err().reason.starts_with("line 1 is not valid JSON"), "{lines:?}");
    }

    /// A record whose canonical form would be over the size limit, as far
    /// as can be told without building it, is refused unbuilt: its value
    /// would take many times its bytes. One whose text only is over the
    /// limit (escapes, spaces) is read, and held to the limit as a step.
    #[test]
    fn a_record_over_the_size_limit_is_refused_unbuilt() {
        let limits = Limits { max_record_bytes: 20, ..Limits::default() };
        let ones = format!("{{\"x\":[{}1]}}", "1,".repeat(20));
        for body in [ones.clone(), format!("[{ones},{{}}]"), format!("{{}}\n{ones}")] {
            let records: Vec<Record> = decode_body(body.as_bytes(), None, Framing::Guessed, &limits).unwrap().into_iter().collect();
            let refused = records.iter().find_map(|r| r.as_ref().err()).expect("the big record refused");
            assert!(refused.field == "(record)" && refused.reason.contains("is over 20 bytes as a step, the limit per record (its text is 49 bytes)"), "{body}: {refused:?}");
            assert_eq!(records.iter().filter(|r| r.is_ok()).count(), records.len() - 1, "{body}: the others are read");
        }
        // 18 bytes as canonical JSON, 40 as sent.
        let escaped = r#"{ "x" : "\u00e9\u00e9\u00e9\u00e9\u00e9" }"#;
        assert!(!canonical_size_over(escaped.as_bytes(), 20) && canonical_size_over(escaped.as_bytes(), 17));
        let read: Vec<Record> = decode_body(escaped.as_bytes(), None, Framing::Guessed, &limits).unwrap().into_iter().collect();
        assert_eq!(read[0].as_ref().unwrap()["x"], "ééééé");
        // The count is exact where it can be: [] {} "" 1 true null.
        for (json, size) in [("[]", 2), ("{}", 2), ("[1,2]", 5), (r#"{"a":1,"b":[]}"#, 14), ("true", 4), ("null", 4), (r#""ab""#, 4)] {
            assert!(canonical_size_over(json.as_bytes(), size - 1) && !canonical_size_over(json.as_bytes(), size), "{json}");
        }
    }

    #[test]
    fn a_broken_array_or_empty_body_is_rejected_whole() {
        assert!(matches!(decode(b"[{\"a\":1},"), Err(BodyError::Json(_))));
        assert_eq!(decode(b"  \n"), Err(BodyError::Empty));
    }

    proptest::proptest! {
        #[test]
        fn the_lines_are_those_split_gives(body in proptest::collection::vec(proptest::sample::select(vec![b'\n', b'a', b' ', b'{', 0xC3]), 0..200)) {
            let want: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
            proptest::prop_assert_eq!(lines(&body).collect::<Vec<_>>(), want);
        }
    }
}
