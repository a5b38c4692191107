//! OTLP/HTTP traces: a body (protobuf or the OTLP JSON mapping, possibly
//! gzip-compressed) → spans → step records, and the answer to send back.
//!
//! The types are the maintained ones from `opentelemetry-proto` (prost
//! messages generated from the official protos; their serde form is the
//! OTLP JSON mapping: hex ids, lowerCamelCase, 64-bit integers as strings).
//! How a span becomes a step is [`mapping`].

pub mod attributes;
pub mod items;
mod json_defaults;
mod proto_names;
pub mod mapping;

pub use mapping::{SpanOutcome, map_request, map_spans_at};
pub use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};

use prost::Message;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// The encoding a Content-Type names, if it is one OTLP/HTTP uses.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match mime.as_str() {
            "application/x-protobuf" | "application/protobuf" => Some(Self::Protobuf),
            "application/json" => Some(Self::Json),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("malformed protobuf ExportTraceServiceRequest: {0}")]
    Protobuf(String),
    #[error("malformed OTLP JSON ExportTraceServiceRequest: {0}")]
    Json(String),
    #[error(
        "the export holds more than {} protobuf messages or {} JSON values (spans, attributes, values, events, links): export smaller batches",
        items::MAX_ITEMS,
        items::MAX_JSON_ITEMS
    )]
    TooManyItems,
}

/// Parses an (already decompressed) export request, once its messages are
/// counted ([`items`]: their memory, decoded, is many times their bytes).
pub fn decode_request(body: &[u8], encoding: Encoding) -> Result<ExportTraceServiceRequest, OtlpError> {
    match items::count(body, encoding) {
        items::Count::Within(_) => {}
        items::Count::TooMany => return Err(OtlpError::TooManyItems),
        items::Count::Unreadable => return Err(OtlpError::Protobuf("it cannot be read through (a group, a field cut short, or nesting past 100 levels)".into())),
    }
    match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(body).map_err(|e| OtlpError::Protobuf(e.to_string())),
        // Checked as strictly as a step is read (a key given twice, a value
        // of two kinds or a number no double holds refuses the export,
        // naming it: the types read the last of two `stringValue`s, and a
        // double rounded), then read straight into the types; only an
        // export they refuse is read again with the defaults the mapping
        // leaves out put back (the common case pays for one more scan).
        Encoding::Json => {
            let scanned = crate::json::check_strictly(body, &json_defaults::KINDS, crate::json::Numbers::Doubles).map_err(|e| match e.field.as_str() {
                "(record)" => OtlpError::Json(e.reason),
                field => OtlpError::Json(format!("{field}: {}", e.reason)),
            })?;
            // The types would pass over protobuf's own field names
            // (`resource_spans`) as unknown, and answer an export written
            // with them taken, its spans dropped: they are read as the
            // Collector reads them, as their lowerCamelCase names.
            let direct = match scanned.underscored_keys {
                false => serde_json::from_slice(body),
                true => Err(serde::de::Error::custom("protobuf's field names")),
            };
            direct.or_else(|direct: serde_json::Error| {
                let mut request: serde_json::Value = serde_json::from_slice(body).map_err(|_| OtlpError::Json(direct.to_string()))?;
                if scanned.underscored_keys {
                    proto_names::to_json_names(&mut request).map_err(OtlpError::Json)?;
                }
                json_defaults::fill(&mut request);
                // Refused again: named by where in the export, which the
                // first error's line and column only point at
                // (`resourceSpans[0].scopeSpans[0].spans[3].attributes[1].value.intValue`).
                serde_path_to_error::deserialize(request).map_err(|e| OtlpError::Json(format!("{}: {}", e.path(), e.inner())))
            })
        }
    }
}

/// An export request as protobuf.
pub fn encode_request(request: &ExportTraceServiceRequest) -> Vec<u8> {
    request.encode_to_vec()
}

/// The answer to an export: empty when every span was taken, else a
/// partial success with the count and why.
pub fn encode_response(encoding: Encoding, rejected: i64, message: String) -> Vec<u8> {
    let response = ExportTraceServiceResponse {
        partial_success: (rejected > 0 || !message.is_empty())
            .then_some(ExportTracePartialSuccess { rejected_spans: rejected, error_message: message }),
    };
    match encoding {
        Encoding::Protobuf => response.encode_to_vec(),
        // The serde form writes `"partialSuccess": null`; OTLP JSON omits
        // an unset message.
        Encoding::Json if response.partial_success.is_none() => b"{}".to_vec(),
        Encoding::Json => serde_json::to_vec(&response).expect("a response serialises"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_select_the_encoding() {
        assert_eq!(Encoding::from_content_type("application/x-protobuf"), Some(Encoding::Protobuf));
        assert_eq!(Encoding::from_content_type("application/json; charset=utf-8"), Some(Encoding::Json));
        assert_eq!(Encoding::from_content_type("text/plain"), None);
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        assert!(decode_request(&[0xff, 0xff, 0xff, 0x01], Encoding::Protobuf).is_err());
        assert!(decode_request(b"{\"resourceSpans\": 3}", Encoding::Json).is_err());
        assert!(decode_request(b"not json", Encoding::Json).is_err());
        let empty = decode_request(b"", Encoding::Protobuf).unwrap();
        assert!(empty.resource_spans.is_empty());
    }

    /// What reading OTLP/JSON strictly costs against reading it straight
    /// into the types (run: `cargo test --release -p flightlog-decode --lib
    /// strict_json_reading_cost -- --ignored --nocapture`).
    #[test]
    #[ignore = "a measurement, not a check"]
    fn strict_json_reading_cost() {
        let span = |i: usize| {
            format!(
                r#"{{"traceId":"8b8efff798038103d269b633813fc60c","spanId":"{i:016x}","name":"chat","startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000001000000000","attributes":[{{"key":"gen_ai.operation.name","value":{{"stringValue":"chat"}}}},{{"key":"gen_ai.conversation.id","value":{{"stringValue":"s-{i}"}}}},{{"key":"gen_ai.usage.input_tokens","value":{{"intValue":"1200"}}}},{{"key":"gen_ai.input.messages","value":{{"stringValue":"{text}"}}}}]}}"#,
                text = "a".repeat(1000)
            )
        };
        let spans: Vec<String> = (0..1000).map(span).collect();
        let body = format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{}]}}]}}]}}"#, spans.join(","));
        let time = |f: &dyn Fn()| {
            let started = std::time::Instant::now();
            for _ in 0..20 {
                f();
            }
            started.elapsed().as_secs_f64() * 1000.0 / 20.0
        };
        for _ in 0..2 {
            let direct = time(&|| assert!(serde_json::from_slice::<ExportTraceServiceRequest>(body.as_bytes()).is_ok()));
            let strict = time(&|| assert!(decode_request(body.as_bytes(), Encoding::Json).is_ok()));
            println!("{} KB, 1,000 spans: straight into the types {direct:.2} ms, strictly {strict:.2} ms", body.len() / 1024);
        }
    }

    #[test]
    fn json_that_says_one_thing_twice_is_refused_not_read_as_the_last() {
        let export = |attribute: &str| {
            format!(
                r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"8b8efff798038103d269b633813fc60c","spanId":"0000000000000a01","name":"chat","attributes":[{attribute}]}}]}}]}}]}}"#
            )
        };
        for (attribute, says) in [
            (r#"{"key":"user.id","value":{"stringValue":"alice","stringValue":"bob"}}"#, "stringValue"),
            (r#"{"key":"user.id","key":"gen_ai.request.model","value":{"stringValue":"a"}}"#, "key"),
            (r#"{"key":"n","value":{"stringValue":"a","intValue":"5"}}"#, "attributes[0].value.intValue: is given beside stringValue"),
            (r#"{"key":"n","value":{"doubleValue":0.1000000000000000000001}}"#, "doubleValue"),
            (r#"{"key":"n","value":{"doubleValue":"0.1000000000000000000001"}}"#, r#"string "0.1000000000000000000001", expected f64"#),
            // A value the types refuse is named by its place in the export.
            (r#"{"key":"n","value":{"intValue":1.5}}"#, "resourceSpans[0].scopeSpans[0].spans[0].attributes[0]"),
            (r#"{"key":"n","value":{"intValue":"9223372036854775808"}}"#, "resourceSpans[0].scopeSpans[0].spans[0].attributes[0]"),
        ] {
            match decode_request(export(attribute).as_bytes(), Encoding::Json) {
                Err(OtlpError::Json(why)) => assert!(why.contains(says), "{attribute}: {why}"),
                other => panic!("{attribute}: refused expected, got {other:?}"),
            }
        }
        let twice_named = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"8b8efff798038103d269b633813fc60c","spanId":"0000000000000a01","name":"first","name":"second"}]}]}]}"#;
        assert!(decode_request(twice_named.as_bytes(), Encoding::Json).is_err());
        // What the mapping allows still reads: a double as a string, a
        // 19-digit time as a number, an empty list without its values.
        let fine = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"8b8efff798038103d269b633813fc60c","spanId":"0000000000000a01","startTimeUnixNano":1700000000000000001,"attributes":[{"key":"d","value":{"doubleValue":"0.5"}},{"key":"l","value":{"arrayValue":{}}},{"key":"full","value":{"doubleValue":0.10000000000000001}}]}]}]}]}"#;
        let read = decode_request(fine.as_bytes(), Encoding::Json).unwrap();
        assert_eq!(read.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano, 1_700_000_000_000_000_001);
    }

    /// Protobuf's JSON printers may keep the protos' own field names
    /// (Python's `MessageToJson(preserving_proto_field_name=True)`), and
    /// the Collector reads them: an export written so was answered taken,
    /// its spans dropped or its values read as none.
    #[test]
    fn json_with_protobuf_field_names_reads_as_with_json_names() {
        let camel = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"loans"}}]},"scopeSpans":[{"spans":[{"traceId":"8b8efff798038103d269b633813fc60c","spanId":"0000000000000a01","name":"chat","startTimeUnixNano":"1767225600000000000","endTimeUnixNano":"1767225601000000000","attributes":[{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},{"key":"gen_ai.usage.input_tokens","value":{"intValue":"12"}},{"key":"tags","value":{"arrayValue":{"values":[{"boolValue":true},{"doubleValue":0.5}]}}},{"key":"m","value":{"kvlistValue":{"values":[{"key":"k","value":{"bytesValue":"AQI="}}]}}}],"droppedAttributesCount":1}]}]}]}"#;
        let snake = camel
            .replace("resourceSpans", "resource_spans")
            .replace("scopeSpans", "scope_spans")
            .replace("traceId", "trace_id")
            .replace("spanId", "span_id")
            .replace("startTimeUnixNano", "start_time_unix_nano")
            .replace("endTimeUnixNano", "end_time_unix_nano")
            .replace("droppedAttributesCount", "dropped_attributes_count");
        let snake = ["string", "int", "array", "bool", "double", "kvlist", "bytes"].iter().fold(snake, |s, kind| s.replace(&format!("{kind}Value"), &format!("{kind}_value")));
        assert!(!snake.contains("Value") && !snake.contains("Spans"), "{snake}");
        let read = decode_request(snake.as_bytes(), Encoding::Json).expect("protobuf's names read");
        assert_eq!(read, decode_request(camel.as_bytes(), Encoding::Json).unwrap());
        let span = &read.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!((span.attributes.len(), span.dropped_attributes_count, span.end_time_unix_nano), (4, 1, 1_767_225_601_000_000_000));
        // One field both ways, or a value of two kinds however named, is
        // refused as one said twice is.
        for (export, says) in [
            (r#"{"resourceSpans":[],"resource_spans":[]}"#, "resource_spans and resourceSpans are one field, given twice"),
            (r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"n","value":{"string_value":"a","int_value":"5"}}]}]}]}]}"#, "int_value: is given beside string_value"),
            (r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"n","value":{"stringValue":"a","string_value":"b"}}]}]}]}]}"#, "string_value: is given beside stringValue"),
        ] {
            match decode_request(export.as_bytes(), Encoding::Json) {
                Err(OtlpError::Json(why)) => assert!(why.contains(says), "{export}: {why}"),
                other => panic!("{export}: refused expected, got {other:?}"),
            }
        }
    }

    #[test]
    fn json_may_leave_out_what_holds_its_default() {
        use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
        // As protobuf's JSON printers write them: no `values` in an empty
        // list or map, no `key` when it is empty, a double as a string.
        let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"8b8efff798038103d269b633813fc60c","spanId":"0000000000000a01",
            "attributes":[{"key":"tags","value":{"arrayValue":{}}},{"key":"m","value":{"kvlistValue":{"values":[{"value":{"kvlistValue":{}}}]}}},
                          {"value":{"stringValue":"no key"}},{"key":"d","value":{"doubleValue":"2.5"}}],
            "events":[{"name":"exception","attributes":[{"value":{"arrayValue":{}}}]}]}]}]}]}"#;
        let request = decode_request(body, Encoding::Json).unwrap();
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        let value = |i: usize| span.attributes[i].value.as_ref().and_then(|v| v.value.clone());
        assert!(matches!(value(0), Some(V::ArrayValue(a)) if a.values.is_empty()));
        let Some(V::KvlistValue(map)) = value(1) else { panic!("{:?}", value(1)) };
        assert_eq!(map.values[0].key, "");
        assert!(matches!(&map.values[0].value.as_ref().unwrap().value, Some(V::KvlistValue(m)) if m.values.is_empty()));
        assert_eq!((span.attributes[2].key.as_str(), value(2)), ("", Some(V::StringValue("no key".into()))));
        assert_eq!(value(3), Some(V::DoubleValue(2.5)));
        let event = &span.events[0].attributes[0];
        assert_eq!(event.key, "");
        assert!(matches!(&event.value.as_ref().unwrap().value, Some(V::ArrayValue(a)) if a.values.is_empty()));
        // A double JSON cannot hold is still refused.
        assert!(decode_request(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"d","value":{"doubleValue":"NaN"}}]}]}]}]}"#, Encoding::Json).is_err());
    }

    #[test]
    fn responses_carry_partial_success_only_when_needed() {
        assert_eq!(encode_response(Encoding::Json, 0, String::new()), b"{}");
        let body = encode_response(Encoding::Json, 2, "span x: bad".into());
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["partialSuccess"]["rejectedSpans"], 2);
        assert_eq!(v["partialSuccess"]["errorMessage"], "span x: bad");
        let proto = encode_response(Encoding::Protobuf, 2, "m".into());
        let back = ExportTraceServiceResponse::decode(proto.as_slice()).unwrap();
        assert_eq!(back.partial_success.unwrap().rejected_spans, 2);
    }
}
