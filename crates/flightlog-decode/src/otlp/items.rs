//! How many messages (spans, attributes, values, events, links…) an export
//! holds, counted on its bytes before it is decoded. Decoded, each takes
//! some 50–250 bytes of memory however few it took on the wire: an empty
//! event is two bytes of protobuf, so a 16 KB gzip body of 8 million of
//! them took 770 MB to decode (a hostile probe), and the body limits alone
//! let one request take gigabytes.

use super::Encoding;

/// Messages (and repeated strings) in one protobuf export: a batch of
/// 10,000 spans of 50 attributes each holds about a million; decoded, two
/// million take a few hundred MB at most.
pub const MAX_ITEMS: usize = 2_000_000;

/// Values in one OTLP JSON export (each `{`, `[` and `,` outside strings):
/// an attribute is four or five, and an export that cannot be read straight
/// into the types is read whole as JSON values first (32 bytes each and up).
pub const MAX_JSON_ITEMS: usize = 4_000_000;

/// What counting an export found.
#[derive(Debug, PartialEq, Eq)]
pub enum Count {
    Within(usize),
    TooMany,
    /// Protobuf the count cannot read through (a group, bytes cut short,
    /// nesting past what the decoder takes): refused whole, since the
    /// decoder skips some of it (an unknown field's group) and what follows
    /// would go uncounted.
    Unreadable,
}

/// The decoder's recursion limit (prost's): messages nested deeper are
/// refused. Counted from the request, which is level 1 here.
const MAX_DEPTH: usize = 101;

/// Counts an (already decompressed) export's messages. A protobuf message
/// takes 2 bytes at least (a tag and a length), a JSON value 1 (`[`), so a
/// body too short to be over the limit is not counted: the batches SDKs
/// send are all that small, and counting costs about a tenth of decoding
/// (18.6 MB of protobuf, 10,000 spans: 16–48 ms against 100–138 ms,
/// release build).
pub fn count(body: &[u8], encoding: Encoding) -> Count {
    let (limit, least_bytes) = match encoding {
        Encoding::Protobuf => (MAX_ITEMS, 2),
        Encoding::Json => (MAX_JSON_ITEMS, 1),
    };
    if body.len() / least_bytes <= limit {
        return Count::Within(0);
    }
    match encoding {
        Encoding::Protobuf => protobuf_items(body, limit),
        Encoding::Json => json_items(body, limit),
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
    ArrayValue,
    KeyValueList,
    /// A resource's entity reference, whose repeated strings (`id_keys`,
    /// `description_keys`) are counted too: 2 bytes sent, 24 decoded.
    EntityRef,
    /// A message of scalars and strings (a span's status).
    Leaf,
}

/// What a length-delimited field of a message is, to the count.
enum Field {
    Message(Kind),
    RepeatedString,
    Other,
}

impl Kind {
    fn field(self, number: u64) -> Field {
        use Kind::*;
        let message = match (self, number) {
            (Request, 1) => ResourceSpans,
            (ResourceSpans, 1) => Resource,
            (ResourceSpans, 2) => ScopeSpans,
            (Resource, 1) | (Scope, 3) | (Span, 9) | (Event, 3) | (Link, 4) | (KeyValueList, 1) => KeyValue,
            (Resource, 3) => EntityRef,
            (EntityRef, 3 | 4) => return Field::RepeatedString,
            (Span, 15) => Leaf,
            (ScopeSpans, 1) => Scope,
            (ScopeSpans, 2) => Span,
            (Span, 11) => Event,
            (Span, 13) => Link,
            (KeyValue, 2) | (ArrayValue, 1) => AnyValue,
            (AnyValue, 5) => ArrayValue,
            (AnyValue, 6) => KeyValueList,
            _ => return Field::Other,
        };
        Field::Message(message)
    }
}

/// The messages a protobuf export holds, up to `max`.
pub fn protobuf_items(body: &[u8], max: usize) -> Count {
    let mut count = 0;
    // Depth first, each level's message with what is left of it to read:
    // the memory is the nesting's, not the messages'.
    let mut levels: Vec<(Kind, &[u8])> = vec![(Kind::Request, body)];
    while let Some(&(kind, bytes)) = levels.last() {
        if bytes.is_empty() {
            levels.pop();
            continue;
        }
        let Some((key, rest)) = varint(bytes) else { return Count::Unreadable };
        let (after, field) = match key & 7 {
            0 => (varint(rest).map(|(_, after)| after), None),
            1 => (rest.get(8..), None),
            5 => (rest.get(4..), None),
            2 => match varint(rest).and_then(|(len, rest)| rest.split_at_checked(usize::try_from(len).ok()?)) {
                Some((inner, after)) => (Some(after), Some((kind.field(key >> 3), inner))),
                None => (None, None),
            },
            // Groups (3, 4) are proto2's; OTLP has none.
            _ => (None, None),
        };
        let Some(after) = after else { return Count::Unreadable };
        *levels.last_mut().expect("the level just read") = (kind, after);
        match field {
            Some((Field::Message(inner_kind), inner)) => {
                if levels.len() >= MAX_DEPTH {
                    return Count::Unreadable;
                }
                levels.push((inner_kind, inner));
                count += 1;
            }
            Some((Field::RepeatedString, _)) => count += 1,
            Some((Field::Other, _)) | None => continue,
        }
        if count > max {
            return Count::TooMany;
        }
    }
    Count::Within(count)
}

/// The values a JSON export holds (each `{`, `[` and `,` outside a
/// string), up to `max`.
pub fn json_items(body: &[u8], max: usize) -> Count {
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
        } else if matches!(b, b'{' | b'[' | b',') {
            count += 1;
            if count > max {
                return Count::TooMany;
            }
        }
    }
    Count::Within(count)
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

    /// A field of `number`, length-delimited, around `inner`.
    fn framed(number: u8, inner: Vec<u8>) -> Vec<u8> {
        let mut out = vec![number << 3 | 2];
        prost::encoding::encode_varint(inner.len() as u64, &mut out);
        out.extend(inner);
        out
    }

    /// An export whose one span holds `events` empty events (field 11,
    /// length 0), after `before` (bytes inside the request, first).
    fn flood(before: Vec<u8>, events: usize) -> Vec<u8> {
        let span: Vec<u8> = [0x2a, 0x01, b'x'].into_iter().chain(std::iter::repeat_n([0x5a, 0x00], events).flatten()).collect();
        [before, framed(1, framed(2, framed(2, span)))].concat()
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
        assert_eq!(protobuf_items(&body, MAX_ITEMS), Count::Within(2 + 2 * (1 + 7 + 4 + 1)));
        assert_eq!(protobuf_items(&body, 10), Count::TooMany);
        // `{` `{` `[` `{` `[` `{` `{` `,` `[` `,` `{` `]`…: each value once.
        assert_eq!(json_items(br#"{"a":[{},{"b":[1,2]}],"c":"x,{["}"#, MAX_JSON_ITEMS), Count::Within(8));
    }

    /// What the probe sent: a span of millions of empty events; and the
    /// same as JSON, with scalars in an unknown field, which a body the
    /// types refuse reads whole as JSON values.
    #[test]
    fn a_flood_is_counted_before_it_is_decoded() {
        let body = flood(Vec::new(), MAX_ITEMS + 500_000);
        assert_eq!(count(&body, Encoding::Protobuf), Count::TooMany);
        let events: Vec<u8> = std::iter::repeat_n(*b"{},", MAX_JSON_ITEMS / 2 + 1).flatten().collect();
        assert_eq!(count(&events, Encoding::Json), Count::TooMany);
        let zeros: Vec<u8> = std::iter::repeat_n(*b"0,", MAX_JSON_ITEMS + 1).flatten().collect();
        assert_eq!(count(&zeros, Encoding::Json), Count::TooMany);
        assert_eq!(json_items(br#"{"a":"{{{\"{{","b":{}}"#, MAX_JSON_ITEMS), Count::Within(3), "braces in strings are text");
        // A body too small to hold more is not counted.
        assert_eq!(count(&vec![0x5a; 2 * MAX_ITEMS], Encoding::Protobuf), Count::Within(0));
        assert_eq!(count(&vec![b'['; MAX_JSON_ITEMS], Encoding::Json), Count::Within(0));
    }

    /// What the review found: a group in an unknown field, which the
    /// decoder skips, stopped the count before the flood after it; so did
    /// nesting as deep as the decoder takes. The first is refused, the
    /// second counted through.
    #[test]
    fn what_the_count_cannot_read_through_is_refused() {
        // Field 15 (unknown to the request): start group, a varint, end group.
        let group = vec![15 << 3 | 3, 0x08, 0x01, 15 << 3 | 4];
        let body = flood(group, 10);
        assert!(ExportTraceServiceRequest::decode(&body[..]).is_ok(), "the decoder skips the group");
        assert_eq!(protobuf_items(&body, MAX_ITEMS), Count::Unreadable);
        assert_eq!(protobuf_items(&[0x0a, 0xff], MAX_ITEMS), Count::Unreadable, "a length past the end");
        assert_eq!(protobuf_items(&[0xff; 20], MAX_ITEMS), Count::Unreadable, "a varint of 20 bytes");
        // Repeated strings of an entity reference are counted: resource
        // spans, resource, entity reference, and its two strings.
        let entity = framed(1, framed(1, framed(3, [framed(3, Vec::new()), framed(4, Vec::new())].concat())));
        assert_eq!(protobuf_items(&entity, MAX_ITEMS), Count::Within(5));
    }

    /// Values nested as deep as the decoder takes are counted through;
    /// deeper, the decoder refuses them and so does the count.
    #[test]
    fn nesting_is_counted_to_the_decoders_limit() {
        let nested = |levels: usize| {
            let mut value = AnyValue::default();
            for _ in 0..levels {
                value = AnyValue { value: Some(any_value::Value::ArrayValue(ArrayValue { values: vec![value] })) };
            }
            let deep = KeyValue { key: "deep".into(), value: Some(value), ..Default::default() };
            export(vec![Span { attributes: vec![deep], ..Default::default() }]).encode_to_vec()
        };
        // Request, ResourceSpans, ScopeSpans, Span, KeyValue: then two
        // levels (AnyValue, ArrayValue) per array, and the last AnyValue.
        let deepest_decoded = (1..200).map(nested).take_while(|b| ExportTraceServiceRequest::decode(&b[..]).is_ok()).count();
        let accepted = nested(deepest_decoded);
        assert!(matches!(protobuf_items(&accepted, MAX_ITEMS), Count::Within(n) if n > 2 * deepest_decoded), "counted through");
        let refused = nested(deepest_decoded + 1);
        assert!(ExportTraceServiceRequest::decode(&refused[..]).is_err());
        assert_eq!(protobuf_items(&refused, MAX_ITEMS), Count::Unreadable);
    }
}
