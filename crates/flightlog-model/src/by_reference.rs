//! Content stored once: a step's prompt messages by reference.
//!
//! An agent sends the whole conversation so far with each LLM call, so step
//! k of a session repeats the k messages before it. A step whose messages
//! are long enough ([`MIN_BYTES`]) is stored with a reference to each of
//! its messages instead: the message's SHA-256, and the message itself once
//! per session in `step_contents` (schema/0023_step_contents.sql). Reads put
//! the messages back ([`join`]), so every reader, the step hash and the
//! evidence bundle see the canonical JSON the agent sent, byte for byte.
//! A long system prompt, and a long span attribute that is not an array's
//! text, are stored the same way but whole ([`Place`]).
//!
//! Once per *session*, not per project: a conversation repeats its own
//! messages, and keeping them beside their session makes erasure and
//! retention decide what is still needed by reading one session, never the
//! whole project.

use sha2::{Digest, Sha256};

/// A message's key in `step_contents`: the SHA-256 of its canonical JSON.
pub type ContentHash = [u8; 32];

/// Below this many bytes of canonical JSON, a step's messages stay in its
/// row: 32 bytes a reference and a row per message would cost more than
/// they save.
pub const MIN_BYTES: usize = 1024;

/// Fewer bytes than this per piece on average, and a text stays in its
/// row: a long array of tiny items (`[1,1,1,…]`) would otherwise cost a
/// 32-byte reference and a stored row per item, many times its own size.
pub const MIN_BYTES_PER_PIECE: usize = 64;

/// The pieces, when they are worth a reference each.
fn worth_it<'a>(text: &str, pieces: Vec<&'a str>) -> Option<Vec<&'a str>> {
    (pieces.len() * MIN_BYTES_PER_PIECE <= text.len()).then_some(pieces)
}

/// The messages of a step's `prompt.messages` (its canonical JSON), when
/// they are stored by reference: a JSON array of at least [`MIN_BYTES`],
/// whose elements [`join`] gives back exactly. `None`: stored in the row.
pub fn split(prompt_messages: &str) -> Option<Vec<&str>> {
    if prompt_messages.len() < MIN_BYTES {
        return None;
    }
    let items = top_level_items(prompt_messages)?;
    // Canonical JSON has no whitespace between elements; a text that had
    // some would not come back from `join` byte for byte, so it stays in
    // the row.
    let joined_len = items.iter().map(|m| m.len()).sum::<usize>() + items.len().saturating_sub(1) + 2;
    let tight = items.iter().all(|m| m.trim() == *m && !m.is_empty());
    (tight && joined_len == prompt_messages.len()).then_some(items).and_then(|items| worth_it(prompt_messages, items))
}

/// The pieces of a span attribute's text stored by reference: an
/// OpenTelemetry GenAI span carries the conversation so far as one string
/// attribute holding a JSON array (`gen_ai.input.messages`), written by the
/// instrumentation with its own spacing. The text is cut at the array's
/// top-level commas, each piece keeping its spaces, so [`join`] gives the
/// string back byte for byte whatever its spacing: step k+1 repeats step
/// k's pieces exactly, as the same instrumentation wrote them. `None`:
/// shorter than [`MIN_BYTES`], or not an array's text (kept in the row).
pub fn split_attribute(text: &str) -> Option<Vec<&str>> {
    if text.len() < MIN_BYTES {
        return None;
    }
    worth_it(text, top_level_items(text)?)
}

/// The elements of a JSON array's text, cut at its top-level commas. The
/// text is valid JSON (the canonical form of a validated step), so strings
/// are skipped to their closing quote, jumping over escapes, and only the
/// brackets outside them are counted: a tenth of the time a full parse
/// took, on the messages of every conversation step.
fn top_level_items(text: &str) -> Option<Vec<&str>> {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'[') || bytes.last() != Some(&b']') || bytes.len() < 3 {
        return None;
    }
    let (mut items, mut depth, mut start, mut i) = (Vec::new(), 0usize, 1, 1);
    while i < bytes.len() - 1 {
        match bytes[i] {
            b'"' => {
                i += 1;
                loop {
                    i += memchr::memchr2(b'"', b'\\', bytes.get(i..)?)?;
                    if bytes[i] == b'"' {
                        break;
                    }
                    i += 2; // an escape and the byte it escapes
                }
            }
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.checked_sub(1)?,
            b',' if depth == 0 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    (depth == 0 && i == bytes.len() - 1).then(|| {
        items.push(&text[start..i]);
        items
    })
}

/// The key a message is stored under.
pub fn hash(message: &str) -> ContentHash {
    Sha256::digest(message.as_bytes()).into()
}

/// The content columns whose text is stored whole by reference when it is
/// at least [`MIN_BYTES`]: the system prompt, which every step of a session
/// repeats word for word.
pub const WHOLE_COLUMNS: [&str; 1] = ["prompt_system"];

/// Whether a text of a column in [`WHOLE_COLUMNS`] is stored by reference.
pub fn stored_whole(text: &str) -> bool {
    text.len() >= MIN_BYTES
}

/// Where a text stored whole by reference goes back: the key of the
/// `text_refs` column (schema/0025_texts_by_reference.sql).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place<'a> {
    /// A content column of `steps` ([`WHOLE_COLUMNS`]).
    Column(&'a str),
    /// A span attribute's string, under `otel.attributes`, that is not an
    /// array's text (`stored::write_otel_rest`).
    Attribute(&'a str),
}

impl<'a> Place<'a> {
    const COLUMN: &'static str = "column:";
    const ATTRIBUTE: &'static str = "attribute:";

    /// The key stored in `text_refs`. Prefixed, because a span attribute
    /// may be called anything, a column's name included.
    pub fn key(&self) -> String {
        match self {
            Place::Column(c) => format!("{}{c}", Self::COLUMN),
            Place::Attribute(a) => format!("{}{a}", Self::ATTRIBUTE),
        }
    }

    /// The place a stored key names; `None` for a key Flightlog never
    /// writes (a row changed behind its back: its text is then not put
    /// back, and the step reads as changed).
    pub fn of(key: &'a str) -> Option<Self> {
        if let Some(column) = key.strip_prefix(Self::COLUMN) {
            return WHOLE_COLUMNS.contains(&column).then_some(Place::Column(column));
        }
        key.strip_prefix(Self::ATTRIBUTE).map(Place::Attribute)
    }
}

/// `prompt.messages` as the agent sent it, from its messages in order.
pub fn join<'a>(messages: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from("[");
    for (i, m) in messages.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(m);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::to_canonical_json;
    use serde_json::json;

    fn conversation(turns: usize) -> String {
        let messages: Vec<_> = (0..turns)
            .map(|i| json!({"role": if i % 2 == 0 {"user"} else {"assistant"}, "content": format!("turn {i}: {}", "words ".repeat(30))}))
            .collect();
        to_canonical_json(&json!(messages))
    }

    #[test]
    fn long_messages_split_and_join_back_exactly() {
        let text = conversation(12);
        let parts = split(&text).expect("long enough");
        assert_eq!(parts.len(), 12);
        assert!(parts[0].starts_with("{\"content\":\"turn 0"), "{}", parts[0]);
        assert_eq!(join(parts.iter().copied()), text);
    }

    #[test]
    fn short_lists_and_other_values_stay_in_the_row() {
        assert_eq!(split(&conversation(1)), None, "under MIN_BYTES");
        let long_text = to_canonical_json(&json!("x".repeat(2 * MIN_BYTES)));
        assert_eq!(split(&long_text), None, "not an array");
        let object = to_canonical_json(&json!({"a": "x".repeat(2 * MIN_BYTES)}));
        assert_eq!(split(&object), None);
        // Whitespace would not survive the join: kept whole.
        let spaced = conversation(12).replacen("},{", "}, {", 1);
        assert_eq!(split(&spaced), None);
    }

    #[test]
    fn items_are_cut_as_a_json_parser_cuts_them() {
        let tricky = [
            json!([{"a": "x,y]}", "b": [1, 2, {"c": "\\\"]"}]}, "plain", 3, null, [[]], {"q": "\\"}]),
            json!(["", "\\", "\"", ",", "[", "{", "\u{1}", "é ✓"]),
            json!([[1, [2, [3]]], {"k": {"l": {}}}, true]),
        ];
        for value in tricky {
            let text = to_canonical_json(&value);
            let parsed: Vec<&serde_json::value::RawValue> = serde_json::from_str(&text).unwrap();
            let want: Vec<&str> = parsed.iter().map(|r| r.get()).collect();
            assert_eq!(top_level_items(&text), Some(want), "{text}");
        }
        assert_eq!(top_level_items("[]"), None);
        assert_eq!(top_level_items("[1,2"), None);
        assert_eq!(top_level_items("[\"unclosed]"), None);
    }

    #[test]
    fn an_attribute_splits_with_its_own_spacing_and_joins_back_exactly() {
        let spaced = |turns: usize| {
            let items: Vec<String> = (0..turns).map(|i| format!("{{\"role\": \"user\", \"content\": \"turn {i}: {}\"}}", "words ".repeat(30))).collect();
            format!("[{}]", items.join(", "))
        };
        let (a, b) = (spaced(12), spaced(13));
        let (pa, pb) = (split_attribute(&a).unwrap(), split_attribute(&b).unwrap());
        assert_eq!(join(pa.iter().copied()), a);
        assert_eq!((pa.len(), pb.len()), (12, 13));
        assert!(pa[1].starts_with(" {"), "the spacing stays with its piece: {:?}", pa[1]);
        assert_eq!(pa[..], pb[..12], "a longer conversation repeats the pieces of a shorter one");
        // Any text cut only at commas comes back, JSON or not.
        let odd = format!("[ {}, not json ,\t[1,2] ]", "x".repeat(MIN_BYTES));
        assert_eq!(join(split_attribute(&odd).unwrap()), odd);
        assert!(spaced(4).len() < MIN_BYTES && spaced(5).len() >= MIN_BYTES);
        assert_eq!((split_attribute(&spaced(4)), split_attribute(&spaced(5)).map(|p| p.len())), (None, Some(5)), "under MIN_BYTES");
        assert_eq!(split_attribute(&format!("{} ", spaced(12))), None, "not an array's text");
        assert_eq!(split_attribute(&format!("[\"{}]", "x".repeat(MIN_BYTES))), None, "an unclosed string");
        let tiny = format!("[{}1]", "1,".repeat(MIN_BYTES));
        assert_eq!((split_attribute(&tiny), split(&tiny)), (None, None), "tiny items cost more than they save");
    }

    #[test]
    fn a_place_is_named_without_ambiguity() {
        for place in [Place::Column("prompt_system"), Place::Attribute("prompt_system"), Place::Attribute("column:x"), Place::Attribute("")] {
            let key = place.key();
            assert_eq!(Place::of(&key), Some(place), "{key}");
        }
        assert_eq!(Place::of("column:completion"), None, "only the columns stored whole");
        assert_eq!(Place::of("prompt_system"), None);
        assert!(!stored_whole(&"x".repeat(MIN_BYTES - 1)) && stored_whole(&"x".repeat(MIN_BYTES)));
    }

    #[test]
    fn the_same_message_has_the_same_key_wherever_it_is() {
        let a = conversation(12);
        let b = conversation(13);
        let (pa, pb) = (split(&a).unwrap(), split(&b).unwrap());
        assert_eq!(hash(pa[5]), hash(pb[5]));
        assert_ne!(hash(pa[5]), hash(pa[6]));
        assert_eq!(hex::encode(hash("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
