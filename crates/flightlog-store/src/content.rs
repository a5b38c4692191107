//! The content columns a stored step's `raw` leaves out, and the step's
//! canonical JSON rebuilt from them (`flightlog_model::stored`); and the
//! messages stored once per session (`flightlog_model::by_reference`,
//! schema/0023_step_contents.sql), the pieces of span attributes stored
//! the same way (schema/0024), and long texts stored whole (a system
//! prompt, other span attributes: schema/0025): written before their
//! steps, put back into their columns and `otel.attributes` on every read,
//! dropped when no step needs them.

use crate::backend::{Format, Params, StoreError, rows};
use crate::rowbinary::{Reader, RowBinary};
use crate::Store;
use flightlog_model::by_reference::{self, ContentHash};
use flightlog_model::stored::{rebuild, rebuild_value};
use std::collections::{BTreeSet, HashMap, HashSet};

const MESSAGES_HELD: &str = include_str!("queries/messages_held.sql");
const STORED_MESSAGES: &str = include_str!("queries/stored_messages.sql");
const UNNEEDED_MESSAGES: &str = include_str!("queries/unneeded_messages.sql");
const DROP_MESSAGES: &str = include_str!("queries/drop_messages.sql");
const INSERT_MESSAGES: &str = "INSERT INTO step_contents (project, session_id, hash, body)";

/// Every column of `flightlog_model::stored::REBUILT`, as a query selects
/// them next to `raw` (a test checks the two lists agree).
#[derive(Debug, Default)]
pub(crate) struct Content {
    reasoning: String,
    tool_params: String,
    tool_result: String,
    tool_error: String,
    prompt_system: String,
    prompt_messages: String,
    completion: String,
    metadata: String,
    /// What the row refers to in `step_contents`.
    refs: Refs,
    /// The span attributes stored by reference, once put back: (key, text).
    attributes: Vec<(String, String)>,
}

/// What a row refers to in `step_contents`, its keys as hex.
#[derive(Debug, Default)]
pub(crate) struct Refs {
    /// The keys of the messages stored by reference, in order; empty when
    /// `prompt_messages` holds them.
    messages: Vec<String>,
    /// The span attributes stored in pieces: key → its pieces' keys.
    attributes: AttributeRefs,
    /// The texts stored whole (schema/0025): where each goes back (a
    /// `by_reference::Place` key) → its key.
    texts: Vec<(String, String)>,
}

impl Refs {
    /// The columns [`Refs::read`] reads, in this order, as a query selects
    /// them for RowBinaryWithNamesAndTypes (the keys as `lower(hex(...))`).
    pub(crate) const COLUMNS: [(&'static str, &'static str); 3] =
        [("message_refs", "Array(String)"), ("attribute_refs", ATTRIBUTE_REFS_TYPE), ("text_refs", "Map(String, String)")];

    /// The references of a row read without its span attributes' (an export).
    pub(crate) fn new(messages: Vec<String>, texts: Vec<(String, String)>) -> Self {
        Refs { messages, attributes: Vec::new(), texts }
    }

    pub(crate) fn read(r: &mut Reader) -> Result<Self, StoreError> {
        let messages = (0..r.map_len()?).map(|_| r.string()).collect::<Result<_, _>>()?;
        let attributes = read_attribute_refs(r)?;
        // Lossy, as every text of a row: a place changed behind Flightlog's
        // back fails its step's check, not the whole read.
        let texts = (0..r.map_len()?).map(|_| Ok((r.text_lossy()?.0, r.string()?))).collect::<Result<_, StoreError>>()?;
        Ok(Refs { messages, attributes, texts })
    }

    /// Every list of keys the row refers to: its messages', each span
    /// attribute's pieces', then each whole text's own.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &[String]> {
        std::iter::once(self.messages.as_slice())
            .chain(self.attributes.iter().map(|(_, pieces)| pieces.as_slice()))
            .chain(self.texts.iter().map(|(_, key)| std::slice::from_ref(key)))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.attributes.is_empty() && self.texts.is_empty()
    }

    /// Puts back what a row of `session` refers to: `set` is given each
    /// column's text by name (its messages as `prompt_messages`, a column
    /// stored whole as itself), and the span attributes are returned as
    /// (key, text). Anything not stored (dropped by tampering) leaves its
    /// column empty or its attribute out, so the step reads as changed.
    pub(crate) fn put_back(&self, session: &str, messages: &Messages, mut set: impl FnMut(&str, String)) -> Vec<(String, String)> {
        if let Some(text) = messages.messages_column(session, &self.messages) {
            set("prompt_messages", text);
        }
        let mut attributes = messages.attributes(session, &self.attributes);
        for (place, key) in &self.texts {
            let text = messages.whole(session, key);
            match by_reference::Place::of(place) {
                Some(by_reference::Place::Column(name)) => set(name, text.unwrap_or_default()),
                Some(by_reference::Place::Attribute(name)) => attributes.extend(text.map(|t| (name.to_owned(), t))),
                None => {}
            }
        }
        attributes
    }
}

/// A row's span attributes stored by reference (schema/0024): each
/// attribute's key and its pieces' keys as hex, in order.
pub(crate) type AttributeRefs = Vec<(String, Vec<String>)>;

/// Reads the `attribute_refs` column as a query selects it for
/// RowBinary: `Map(String, Array(String))`, the keys as hex.
pub(crate) fn read_attribute_refs(r: &mut Reader) -> Result<AttributeRefs, StoreError> {
    (0..r.map_len()?)
        .map(|_| {
            // Lossy, as every text of a row: a key changed behind
            // Flightlog's back fails its step's check, not the whole read.
            let key = r.text_lossy()?.0;
            let pieces = (0..r.map_len()?).map(|_| r.string()).collect::<Result<Vec<_>, _>>()?;
            Ok((key, pieces))
        })
        .collect()
}

/// The column type [`read_attribute_refs`] reads.
pub(crate) const ATTRIBUTE_REFS_TYPE: &str = "Map(String, Array(String))";

impl Content {
    /// The columns a query answering as RowBinaryWithNamesAndTypes selects
    /// for [`Content::read`], in this order, with their types (every
    /// column of `REBUILT` is a String; the keys are `lower(hex(...))`).
    pub(crate) const BINARY_COLUMNS: [(&'static str, &'static str); 11] = [
        ("reasoning", "String"),
        ("tool_params", "String"),
        ("tool_result", "String"),
        ("tool_error", "String"),
        ("prompt_system", "String"),
        ("prompt_messages", "String"),
        ("completion", "String"),
        ("metadata", "String"),
        Refs::COLUMNS[0],
        Refs::COLUMNS[1],
        Refs::COLUMNS[2],
    ];

    /// The columns of [`Content::BINARY_COLUMNS`] from a RowBinary row.
    /// Text that is not UTF-8 is read with replacement characters, so the
    /// step reads as changed (verification, which reads rows its own way,
    /// names the column).
    pub(crate) fn read(r: &mut Reader) -> Result<Self, StoreError> {
        let mut text = || r.text_lossy().map(|(t, _)| t);
        let mut content = Content {
            reasoning: text()?,
            tool_params: text()?,
            tool_result: text()?,
            tool_error: text()?,
            prompt_system: text()?,
            prompt_messages: text()?,
            completion: text()?,
            metadata: text()?,
            ..Content::default()
        };
        content.refs = Refs::read(r)?;
        Ok(content)
    }

    pub(crate) fn column(&self, name: &str) -> &str {
        match name {
            "reasoning" => &self.reasoning,
            "tool_params" => &self.tool_params,
            "tool_result" => &self.tool_result,
            "tool_error" => &self.tool_error,
            "prompt_system" => &self.prompt_system,
            "prompt_messages" => &self.prompt_messages,
            "completion" => &self.completion,
            "metadata" => &self.metadata,
            _ => "",
        }
    }

    /// The canonical JSON of a step stored as `raw` and these columns; an
    /// error (as a stored `raw` that was not JSON always was for readers)
    /// when `raw`, or a JSON column put back, is not JSON any more.
    /// Verification reads rows its own way and reports which.
    pub(crate) fn rebuild(&self, raw: &str) -> Result<String, String> {
        rebuild(raw, |c| self.column(c), &self.attributes).map_err(not_json)
    }

    /// [`Content::rebuild`] as a JSON value, for a reader that edits it.
    pub(crate) fn rebuild_value(&self, raw: &str) -> Result<serde_json::Value, String> {
        rebuild_value(raw, |c| self.column(c), &self.attributes).map_err(not_json)
    }
}

/// A message an accepted step refers to, as the writer stores it.
pub struct MessageRow<'a> {
    pub project: &'a str,
    pub session: &'a str,
    pub hash: &'a ContentHash,
    pub body: &'a str,
}

/// The keys of messages stored already, by project and session: looked up
/// by borrowed names for every message of a commit's accepted steps.
#[derive(Default)]
pub struct HeldMessages(HashMap<String, HashMap<String, HashSet<ContentHash>>>);

impl HeldMessages {
    fn contains(&self, m: &MessageRow) -> bool {
        self.0.get(m.project).and_then(|sessions| sessions.get(m.session)).is_some_and(|keys| keys.contains(m.hash))
    }
}

/// Stored messages by session, then by hex key. A key stored twice with
/// different bodies (a copy inserted by tampering) keeps a body that does
/// not hash to its key, so the change is never hidden behind the original.
#[derive(Default)]
pub(crate) struct Messages(HashMap<String, HashMap<String, String>>);

impl Messages {
    fn add(&mut self, session: String, key: String, body: String) {
        let matches = |body: &str| hex::encode(by_reference::hash(body)) == key;
        let of_session = self.0.entry(session).or_default();
        match of_session.get(&key) {
            Some(kept) if !matches(kept) || matches(&body) => {}
            _ => {
                of_session.insert(key, body);
            }
        }
    }

    /// A text stored whole of a step of `session`; `None` when it is not
    /// stored (dropped by tampering).
    fn whole(&self, session: &str, key: &str) -> Option<String> {
        self.0.get(session)?.get(key).cloned()
    }

    /// `prompt.messages` of a step of `session` from its references; `None`
    /// when one is not stored (dropped by tampering).
    fn put_back(&self, session: &str, refs: &[String]) -> Option<String> {
        let of_session = self.0.get(session)?;
        let found: Option<Vec<&str>> = refs.iter().map(|key| of_session.get(key).map(String::as_str)).collect();
        found.map(by_reference::join)
    }

    /// The `prompt_messages` column of a row of `session` that refers to
    /// messages (`None`: it refers to none, and its column holds them). One
    /// not stored leaves the column empty: the step then reads without its
    /// messages, and verification reports it as changed.
    pub(crate) fn messages_column(&self, session: &str, refs: &[String]) -> Option<String> {
        (!refs.is_empty()).then(|| self.put_back(session, refs).unwrap_or_default())
    }

    /// The span attributes a row of `session` stored by reference, put
    /// back: (key, text). One whose piece is not stored (dropped by
    /// tampering) is left out, so the step reads as changed.
    pub(crate) fn attributes(&self, session: &str, refs: &AttributeRefs) -> Vec<(String, String)> {
        refs.iter().filter_map(|(key, pieces)| Some((key.clone(), self.put_back(session, pieces)?))).collect()
    }
}

impl Content {
    /// The messages, attribute pieces and whole texts this row refers to,
    /// as hex keys.
    pub(crate) fn refs(&self) -> impl Iterator<Item = &[String]> {
        self.refs.keys()
    }

    /// Puts back the messages, span attributes and texts stored by reference.
    pub(crate) fn put_back_messages(&mut self, session: &str, messages: &Messages) {
        let Content { prompt_system, prompt_messages, refs, .. } = self;
        self.attributes = refs.put_back(session, messages, |name, text| match name {
            "prompt_system" => *prompt_system = text,
            "prompt_messages" => *prompt_messages = text,
            _ => {}
        });
    }
}

impl Store {
    /// The messages that these (session, hex keys) of `project` refer to,
    /// in one read.
    pub(crate) async fn stored_messages<'a>(
        &self,
        project: &str,
        wanted: impl IntoIterator<Item = (&'a str, &'a [String])>,
    ) -> Result<Messages, StoreError> {
        let mut sessions = BTreeSet::new();
        let mut hashes = BTreeSet::new();
        for (session, refs) in wanted {
            if !refs.is_empty() {
                sessions.insert(session);
                hashes.extend(refs.iter().map(String::as_str));
            }
        }
        let mut messages = Messages::default();
        if hashes.is_empty() {
            return Ok(messages);
        }
        let params = Params::new().text("project", project).texts("sessions", &sessions).texts("hashes", &hashes);
        let out = self.ch.query_as(STORED_MESSAGES, params, Format::RowBinaryWithNamesAndTypes).await?;
        let mut r = Reader::new(&out, &[("session_id", "String"), ("key", "String"), ("body", "String")])?;
        while !r.done() {
            let (session, key) = (r.string()?, r.string()?);
            messages.add(session, key, r.text_lossy()?.0);
        }
        Ok(messages)
    }

    /// Puts back the messages of rows of `project` read with their
    /// `message_refs`: one read for all of them.
    pub(crate) async fn put_back_messages<'a>(
        &self,
        project: &str,
        rows: impl IntoIterator<Item = (&'a str, &'a mut Content)>,
    ) -> Result<(), StoreError> {
        let mut rows: Vec<(&str, &mut Content)> = rows.into_iter().collect();
        let wanted: Vec<(&str, &[String])> = rows.iter().flat_map(|(s, c)| c.refs().map(move |refs| (*s, refs))).collect();
        let messages = self.stored_messages(project, wanted).await?;
        for (session, content) in &mut rows {
            content.put_back_messages(session, &messages);
        }
        Ok(())
    }

    /// Which of these messages their sessions hold already: one read per
    /// project. The writer reads it beside its duplicate check, holding
    /// [`Store::lock_messages`] until its steps are stored.
    pub async fn held_messages(&self, items: &[MessageRow<'_>]) -> Result<HeldMessages, StoreError> {
        #[derive(serde::Deserialize)]
        struct Held {
            session_id: String,
            key: String,
        }
        let mut held = HeldMessages::default();
        let projects: BTreeSet<&str> = items.iter().map(|m| m.project).collect();
        for project in projects {
            let mine = || items.iter().filter(move |m| m.project == project);
            let sessions: HashSet<&str, foldhash::fast::RandomState> = mine().map(|m| m.session).collect();
            // A step names every message before it, so most are named many
            // times in a group: each is encoded once (1,200 conversation
            // steps name about 24,000).
            let hashes: HashSet<&ContentHash, foldhash::fast::RandomState> = mine().map(|m| m.hash).collect();
            let hashes = hashes.into_iter().map(hex::encode);
            let params = Params::new().text("project", project).texts("sessions", &sessions).texts("hashes", hashes);
            let of_project = held.0.entry(project.to_string()).or_default();
            for h in rows::<Held>(&self.ch.query(MESSAGES_HELD, params).await?)? {
                of_project.entry(h.session_id).or_default().insert(crate::steps::decode_hash(&h.key)?);
            }
        }
        Ok(held)
    }

    /// Durably stores the messages that accepted steps refer to, but those
    /// their sessions hold already. Called by the writer before it inserts
    /// those steps, holding [`Store::lock_messages`].
    pub async fn insert_messages(&self, items: &[MessageRow<'_>], held: &HeldMessages) -> Result<(), StoreError> {
        let mut buf = Vec::new();
        let mut written: HashSet<(&str, &str, &ContentHash), foldhash::fast::RandomState> = HashSet::default();
        for m in items {
            if written.insert((m.project, m.session, m.hash)) && !held.contains(m) {
                let mut w = RowBinary(&mut buf);
                w.string(m.project);
                w.string(m.session);
                w.fixed(m.hash);
                w.string(m.body);
            }
        }
        if !buf.is_empty() {
            self.ch.insert(INSERT_MESSAGES, buf).await?;
        }
        Ok(())
    }

    /// Drops the stored messages of these sessions of `project` that none
    /// of their steps refers to any more: one read, and one mutation when
    /// there is anything to drop. Idempotent, so a retry after a crash
    /// finishes it. Holds [`Store::lock_messages`]: the writer never stores
    /// a step that refers to a message this drops.
    pub async fn drop_unneeded_messages(&self, project: &str, sessions: &[String]) -> Result<(), StoreError> {
        #[derive(serde::Deserialize)]
        struct Unneeded {
            session_id: String,
            key: String,
        }
        if sessions.is_empty() {
            return Ok(());
        }
        let _writes = self.lock_messages().await;
        let params = Params::new().text("project", project).texts("sessions", sessions);
        let unneeded: Vec<Unneeded> = rows(&self.ch.query(UNNEEDED_MESSAGES, params).await?)?;
        if unneeded.is_empty() {
            return Ok(());
        }
        let of: BTreeSet<&str> = unneeded.iter().map(|u| u.session_id.as_str()).collect();
        let params = Params::new()
            .text("project", project)
            .texts("sessions", &of)
            .texts("pair_sessions", unneeded.iter().map(|u| &u.session_id))
            .texts("pair_keys", unneeded.iter().map(|u| &u.key));
        self.ch.query(DROP_MESSAGES, params).await?;
        Ok(())
    }

    /// Held by the writer from its look at which messages are stored until
    /// its steps are, and by whatever drops messages: a message a step is
    /// about to refer to is never dropped under it. (One process writes
    /// steps; erasures are sent to it, and run only while it holds the
    /// writer lease: flightlog-app's `erase`.)
    pub async fn lock_messages(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.messages_lock.lock().await
    }
}

fn not_json(e: serde_json::Error) -> String {
    format!("a stored step is not JSON any more: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use flightlog_model::stored::REBUILT;

    /// RowBinaryWithNamesAndTypes of one row of `Content::BINARY_COLUMNS`,
    /// as the engine writes it (lengths as varints below 128 here).
    fn binary_row(texts: &[&[u8]], refs: &[&str], attributes: &[(&str, &[&str])], whole: &[(&str, &str)]) -> Vec<u8> {
        let mut out = vec![Content::BINARY_COLUMNS.len() as u8];
        let put = |bytes: &[u8], out: &mut Vec<u8>| {
            out.push(bytes.len() as u8);
            out.extend_from_slice(bytes);
        };
        for (name, _) in Content::BINARY_COLUMNS {
            put(name.as_bytes(), &mut out);
        }
        for (_, engine_type) in Content::BINARY_COLUMNS {
            put(engine_type.as_bytes(), &mut out);
        }
        for text in texts {
            put(text, &mut out);
        }
        out.push(refs.len() as u8);
        for key in refs {
            put(key.as_bytes(), &mut out);
        }
        out.push(attributes.len() as u8);
        for (key, pieces) in attributes {
            put(key.as_bytes(), &mut out);
            out.push(pieces.len() as u8);
            for piece in *pieces {
                put(piece.as_bytes(), &mut out);
            }
        }
        out.push(whole.len() as u8);
        for (place, key) in whole {
            put(place.as_bytes(), &mut out);
            put(key.as_bytes(), &mut out);
        }
        out
    }

    #[test]
    fn the_binary_columns_are_the_rebuilt_ones_in_order_and_read_back() {
        let names: Vec<&str> = Content::BINARY_COLUMNS.iter().map(|(n, _)| *n).collect();
        let rebuilt: Vec<&str> = REBUILT.iter().map(|r| r.column).collect();
        assert_eq!(names[..REBUILT.len()], rebuilt[..]);
        assert_eq!(names[REBUILT.len()..], ["message_refs", "attribute_refs", "text_refs"]);

        let texts: Vec<Vec<u8>> = rebuilt.iter().map(|c| format!("<{c}>").into_bytes()).collect();
        let mut texts: Vec<&[u8]> = texts.iter().map(Vec::as_slice).collect();
        texts[rebuilt.iter().position(|c| *c == "completion").unwrap()] = b"\xC3(";
        let buf = binary_row(&texts, &["aa", "bb"], &[("gen_ai.input.messages", &["cc", "dd"]), ("x", &[])], &[("column:prompt_system", "ee")]);
        let mut r = Reader::new(&buf, &Content::BINARY_COLUMNS).unwrap();
        let content = Content::read(&mut r).unwrap();
        assert!(r.done());
        for c in rebuilt.iter().filter(|c| **c != "completion") {
            assert_eq!(content.column(c), format!("<{c}>"));
        }
        assert_eq!(content.column("completion"), "\u{FFFD}(", "bytes that are not UTF-8 read as replacement characters");
        let refs: Vec<&[String]> = content.refs().collect();
        assert_eq!(refs, [&["aa", "bb"][..], &["cc", "dd"][..], &[][..], &["ee"][..]]);
        assert_eq!(content.refs.attributes[0].0, "gen_ai.input.messages");
        assert_eq!(content.refs.texts, [("column:prompt_system".to_string(), "ee".to_string())]);
    }
}
