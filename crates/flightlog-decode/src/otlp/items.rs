//! How many messages (spans, attributes, values, events, links…) an export
//! holds, counted on its bytes before it is decoded. Decoded, each takes
//! some 50–250 bytes of memory however few it took on the wire: an empty
//! event is two bytes of protobuf, so a 16 KB gzip body of 8 million of
//! them took 770 MB to decode (a hostile probe), and the body limits alone
//! let one request take gigabytes.

/// Messages (protobuf) or objects (JSON) in one export: a batch of 10,000
/// spans of 50 attributes each holds about a million; decoded, two
/// million take a few hundred MB at most.
pub const MAX_ITEMS: usize = 2_000_000;

/// Whether a body (protobuf, or OTLP JSON) holds more than [`MAX_ITEMS`]
/// messages. A message takes 2 bytes at least (a tag and a length; `{}`
/// in JSON), so a body of at most twice the limit is not counted: the
/// batches SDKs send are all that small, and counting costs about a
/// tenth of decoding (18.6 MB of protobuf, 10,000 spans: 16–48 ms against
/// 100–138 ms, release build).
pub fn too_many(body: &[u8], protobuf: bool) -> bool {
    if body.len() / 2 <= MAX_ITEMS {
        return false;
    }
    match protobuf {
        true => protobuf_items(body, MAX_ITEMS).is_none(),
        false => json_items(body, MAX_ITEMS).is_none(),
    }
}

/// The message fields of each message type of a trace export, by field
/// number (opentelemetry-proto's trace, resource and common protos). The
/// other fields are scalars, strings or bytes.
#[derive(Clone, Copy)]
enum Kind {
    Request,
    ResourceSpans,
    Resource,
    ScopeSpans,
    Scope,
    Span,
    Event,
    Link,
    KeyValue,
    AnyValue,
    /// ArrayValue (its values are AnyValues) or KeyValueList (KeyValues).
    Values(bool),
    /// A message whose fields are none of the above (a span's status, a
    /// resource's entity references).
    Leaf,
}

impl Kind {
    fn field(self, number: u64) -> Option<Kind> {
        use Kind::*;
        match (self, number) {
            (Request, 1) => Some(ResourceSpans),
            (ResourceSpans, 1) => Some(Resource),
            (ResourceSpans, 2) => Some(ScopeSpans),
            (Resource, 1) | (Scope, 3) | (Span, 9) | (Event, 3) | (Link, 4) => Some(KeyValue),
            (Resource, 3) | (Span, 15) => Some(Leaf),
            (ScopeSpans, 1) => Some(Scope),
            (ScopeSpans, 2) => Some(Span),
            (Span, 11) => Some(Event),
            (Span, 13) => Some(Link),
            (KeyValue, 2) => Some(AnyValue),
            (AnyValue, 5) => Some(Values(true)),
            (AnyValue, 6) => Some(Values(false)),
            (Values(true), 1) => Some(AnyValue),
            (Values(false), 1) => Some(KeyValue),
            _ => None,
        }
    }
}

/// Messages nested deeper than this are refused by the decoder (prost's
/// recursion limit): the count stops there.
const MAX_DEPTH: usize = 100;

/// The messages a protobuf export holds, or None past `max`. Bytes that
/// are not protobuf, or nesting past [`MAX_DEPTH`], are left for the
/// decoder to refuse: the count stops there.
pub fn protobuf_items(body: &[u8], max: usize) -> Option<usize> {
    let mut count = 0;
    // Depth first, each level's message with what is left of it to read:
    // the memory is the nesting's, not the messages'.
    let mut levels: Vec<(Kind, &[u8])> = vec![(Kind::Request, body)];
    while let Some(&(kind, bytes)) = levels.last() {
        if bytes.is_empty() {
            levels.pop();
            continue;
        }
        let Some((key, rest)) = varint(bytes) else { break };
        let (after, child) = match key & 7 {
            0 => (varint(rest).map(|(_, after)| after), None),
            1 => (rest.get(8..), None),
            5 => (rest.get(4..), None),
            2 => match varint(rest).and_then(|(len, rest)| rest.split_at_checked(usize::try_from(len).ok()?)) {
                Some((inner, after)) => (Some(after), kind.field(key >> 3).map(|inner_kind| (inner_kind, inner))),
                None => (None, None),
            },
            _ => (None, None),
        };
        let Some(after) = after else { break };
        *levels.last_mut().expect("the level just read") = (kind, after);
        if let Some(child) = child {
            count += 1;
            if count > max {
                return None;
            }
            if levels.len() >= MAX_DEPTH {
                break;
            }
            levels.push(child);
        }
    }
    Some(count)
}

/// The objects a JSON export holds (each `{` outside a string), or None
/// past `max`.
pub fn json_items(body: &[u8], max: usize) -> Option<usize> {
    let (mut count, mut in_string, mut escaped) = (0, false, false);
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if b == b'{' {
            count += 1;
            if count > max {
                return None;
            }
        }
    }
    Some(count)
}

/// A protobuf varint and the bytes after it.
fn varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span};
    use prost::Message;

    fn string(key: &str, value: &str) -> KeyValue {
        KeyValue { key: key.into(), value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }), ..Default::default() }
    }

    fn export(spans: Vec<Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn every_message_is_counted_and_strings_are_not() {
        let list = AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue { values: vec![AnyValue::default(), AnyValue::default()] })),
        };
        let span = Span {
            name: "a span whose name is not a message".into(),
            attributes: vec![string("k", "v"), KeyValue { key: "list".into(), value: Some(list), ..Default::default() }],
            events: vec![span::Event::default(), span::Event { attributes: vec![string("e", "1")], ..Default::default() }],
            links: vec![span::Link::default()],
            ..Default::default()
        };
        let body = export(vec![span.clone(), span]).encode_to_vec();
        // ResourceSpans, ScopeSpans, then per span: itself; two KeyValues,
        // their AnyValues, the ArrayValue and its two AnyValues (7); two
        // events, the second's KeyValue and AnyValue (4); a link (1).
        // Empty messages are written too (a tag and a length of 0).
        assert_eq!(protobuf_items(&body, MAX_ITEMS), Some(2 + 2 * (1 + 7 + 4 + 1)));
        assert_eq!(protobuf_items(&body, 10), None);
        let json = serde_json::to_vec(&export(vec![Span::default()])).unwrap();
        let counted = json_items(&json, MAX_ITEMS).unwrap();
        assert!(counted >= 4, "the request, its resource spans, scope spans and span: {counted}");
    }

    /// What the probe sent: a span followed by millions of empty events.
    #[test]
    fn a_flood_of_empty_events_is_counted_before_it_is_decoded() {
        let mut body = export(vec![Span { name: "x".into(), kind: span::SpanKind::Internal as i32, ..Default::default() }]).encode_to_vec();
        // Appended at the top level, the flood would be fields of the
        // request; the probe's went inside its span, as here: a span of
        // 2.5M empty events (field 11, length 0), framed by hand.
        let flood: Vec<u8> = std::iter::repeat_n([0x5a, 0x00], MAX_ITEMS + 500_000).flatten().collect();
        let span = [vec![0x0a, 0x01, b'x'], flood].concat();
        let scope = [vec![0x12], length(span.len()), span].concat();
        let resource = [vec![0x12], length(scope.len()), scope].concat();
        body.extend([vec![0x0a], length(resource.len()), resource].concat());
        assert_eq!(protobuf_items(&body, MAX_ITEMS), None);
        assert!(too_many(&body, true));
        let events: Vec<u8> = std::iter::repeat_n(*b"{},", MAX_ITEMS + 1).flatten().collect();
        assert_eq!(json_items(&events, MAX_ITEMS), None);
        assert!(too_many(&events, false));
        // A body too small to hold more is not counted.
        assert!(!too_many(&vec![0x5a; 2 * MAX_ITEMS], true));
        assert_eq!(json_items(br#"{"a":"{{{\"{{","b":{}}"#, MAX_ITEMS), Some(2), "braces in strings are text");
    }

    fn length(n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        prost::encoding::encode_varint(n as u64, &mut out);
        out
    }

    /// Values nested past the decoder's limit stop the count, which holds
    /// one level per nesting, not one per message.
    #[test]
    fn nesting_past_the_decoders_limit_stops_the_count() {
        let mut value = AnyValue::default();
        for _ in 0..300 {
            value = AnyValue { value: Some(any_value::Value::ArrayValue(ArrayValue { values: vec![value] })) };
        }
        let nested = KeyValue { key: "deep".into(), value: Some(value), ..Default::default() };
        let body = export(vec![Span { attributes: vec![nested], ..Default::default() }]).encode_to_vec();
        let counted = protobuf_items(&body, MAX_ITEMS).unwrap();
        assert!((MAX_DEPTH - 1..=MAX_DEPTH).contains(&counted), "{counted}");
        assert!(ExportTraceServiceRequest::decode(&body[..]).is_err(), "the decoder refuses it");
    }

    #[test]
    fn bytes_that_are_not_protobuf_stop_the_count() {
        assert_eq!(protobuf_items(&[0x0a, 0xff], MAX_ITEMS), Some(0));
        assert_eq!(protobuf_items(&[0xff; 20], MAX_ITEMS), Some(0));
    }
}
