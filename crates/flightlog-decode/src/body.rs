//! Request bodies: gzip, then JSON object / JSON array / NDJSON.

use crate::json::parse_record;
use flightlog_model::{FieldError, Limits};
use serde_json::Value;
use serde_json::value::RawValue;
use std::io::Read;

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
pub fn decode_body(body: &[u8], content_encoding: Option<&str>, limits: &Limits) -> Result<Vec<Record>, BodyError> {
    if body.len() > limits.max_body_bytes {
        return Err(BodyError::TooLarge { size: body.len(), limit: limits.max_body_bytes });
    }
    let decoded;
    let bytes = match content_encoding.map(str::trim) {
        None | Some("") | Some("identity") => body,
        Some(enc) if enc.eq_ignore_ascii_case("gzip") => {
            decoded = gunzip(body, limits.max_decoded_bytes)?;
            &decoded[..]
        }
        Some(other) => return Err(BodyError::Encoding(other.to_string())),
    };
    let records = split_records(bytes)?;
    if records.len() > limits.max_records {
        return Err(BodyError::TooManyRecords { count: records.len(), limit: limits.max_records });
    }
    Ok(records)
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

fn split_records(bytes: &[u8]) -> Result<Vec<Record>, BodyError> {
    // A byte-order mark (what some editors and Windows tools put before
    // UTF-8 text) is no part of the first record: it made it "not JSON".
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let trimmed = bytes.trim_ascii();
    match trimmed.first() {
        None => Err(BodyError::Empty),
        // A JSON array: records are its elements. A syntax error anywhere
        // leaves no way to tell where records begin, so it rejects the body;
        // a duplicate key or an inexact number rejects only its record.
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_slice(trimmed).map_err(|e| BodyError::Json(e.to_string()))?;
            Ok(items.into_iter().map(|item| parse_record(item.get().as_bytes())).collect())
        }
        // One object (possibly pretty-printed over many lines), or NDJSON.
        _ => match serde_json::from_slice::<&RawValue>(trimmed) {
            Ok(_) => Ok(vec![parse_record(trimmed)]),
            // Numbered from the body's first line, blank or not.
            Err(_) => Ok(ndjson(bytes)),
        },
    }
}

/// One record per non-blank line; a line that does not parse is a rejected
/// record, numbered like the others so the client can find it.
fn ndjson(bytes: &[u8]) -> Vec<Record> {
    lines(bytes)
        .enumerate()
        .filter(|(_, line)| !line.trim_ascii().is_empty())
        .map(|(line_no, line)| {
            parse_record(line.trim_ascii()).map_err(|e| match e.field.as_str() {
                "(record)" => FieldError::new("(record)", format!("line {} {}", line_no + 1, e.reason)),
                _ => e,
            })
        })
        .collect()
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
        decode_body(body, None, &Limits::default())
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
        assert_eq!(decode_body(&body, Some("gzip"), &Limits::default()).unwrap().len(), 1);
        let limits = Limits { max_decoded_bytes: 1000, ..Limits::default() };
        let bomb = gzip(&vec![b' '; 10_000]);
        assert_eq!(decode_body(&bomb, Some("gzip"), &limits).unwrap_err(), BodyError::DecodedTooLarge { limit: 1000 });
        assert!(matches!(decode_body(b"not gzip", Some("gzip"), &limits), Err(BodyError::Gzip(_))));
        assert!(matches!(decode_body(b"{}", Some("br"), &limits), Err(BodyError::Encoding(_))));
    }

    #[test]
    fn limits_on_size_and_count_name_the_limit() {
        let limits = Limits { max_body_bytes: 10, max_records: 2, ..Limits::default() };
        let e = decode_body(b"[{},{},{},{}]", None, &limits).unwrap_err();
        assert_eq!(e.to_string(), "body is 13 bytes; the limit is 10 bytes");
        let e = decode_body(b"[{},{},{}]", None, &limits).unwrap_err();
        assert_eq!(e.to_string(), "body has 3 records; the limit is 2 records per request");
        assert!(e.is_too_large());
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
