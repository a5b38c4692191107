//! Writing steps, checking what is already stored, and reading a session's
//! timeline.

use crate::backend::{Format, Params, StoreError, rows};
use backon::BackoffBuilder;
use crate::content::Content;
use crate::rowbinary::{Reader, RowBinary};
use crate::Store;
use flightlog_model::Step;
use flightlog_model::by_reference::{self, ContentHash, Place};
use flightlog_model::columns::STEP_COLUMNS;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

const NEXT_LOG_INDEX: &str = include_str!("queries/next_log_index.sql");
const STEP_COUNTED_BACK: &str = include_str!("queries/step_counted_back.sql");
const SESSION_TIMELINE: &str = include_str!("queries/session_timeline.sql");
const FIRST_FAILED_STEP: &str = include_str!("queries/first_failed_step.sql");
const SESSION_STATES: &str = include_str!("queries/session_states.sql");
const EXISTING_STEPS: &str = include_str!("queries/existing_steps.sql");
const INSERT_LOG_ENTRIES: &str = "INSERT INTO log_entries (log_index, project, session_id, step, step_hash)";
const LOG_HASHES_PAGE: &str = include_str!("queries/log_hashes_page.sql");
const APPEND_MISSING_LOG_ENTRIES: &str = include_str!("queries/append_missing_log_entries.sql");
const WRITES_IN_FLIGHT: &str = include_str!("queries/writes_in_flight.sql");
/// How a repair waits for writes left running on the engine: every 50 ms,
/// for 30 s at most (a group commit is bounded: 50,000 steps).
const WRITES_IN_FLIGHT_POLL: backon::ConstantBuilder =
    backon::ConstantBuilder::new().with_delay(std::time::Duration::from_millis(50)).with_max_times(600);

/// `INSERT INTO steps (…)` with every stored column, in table order:
/// derived from `flightlog_model::columns::STEP_COLUMNS`, the one
/// definition of the step's columns (a test checks the real table against
/// it, another the encoder's order).
static INSERT_STEPS: LazyLock<String> = LazyLock::new(|| {
    let names: Vec<&str> = STEP_COLUMNS.iter().map(|c| c.name).collect();
    format!("INSERT INTO steps ({})", names.join(", "))
});

/// The statement [`Store::insert_steps`] runs, and the rows it sends: for
/// a benchmark that times the same insert under other settings.
pub fn insert_steps_sql() -> &'static str {
    &INSERT_STEPS
}

pub fn steps_rows(steps: &[(&EncodedStep, LogPosition)], received_at_us: i64) -> Vec<u8> {
    let mut buf = Vec::with_capacity(steps.iter().map(|(s, _)| s.encoded_len()).sum());
    for (s, pos) in steps {
        buf.extend_from_slice(&s.prefix);
        encode_writer_columns(&mut Row::new(&mut buf), pos, received_at_us);
    }
    buf
}

/// A validated step, already encoded as the RowBinary prefix of its row.
///
/// Encoding happens in the request handler, in parallel across requests;
/// the single writer only appends the columns it owns (the session chain,
/// `log_index`, `received_at`: `Source::Writer` in `STEP_COLUMNS`), which
/// the table lists last for that reason.
pub struct EncodedStep {
    pub session_id: String,
    pub step: u64,
    pub step_hash: [u8; 32],
    prefix: Vec<u8>,
    /// The messages and span attribute pieces this step refers to
    /// (`by_reference`), each once: the writer stores those its session
    /// does not hold yet, before the step. Shared with the batch's other
    /// steps that carry the same message.
    pub contents: Vec<(ContentHash, Arc<str>)>,
}

/// The messages of one batch's steps, each hashed and kept once: a batch's
/// steps repeat each other's messages (each LLM call carries the
/// conversation so far), and hashing and copying every step's messages
/// cost a quarter of a conversation step's CPU (`write-path
/// --conversations`). Bounded like redaction's memory of clean texts:
/// past [`BatchMessages::MAX_BYTES`], messages are hashed anew.
#[derive(Default)]
pub struct BatchMessages {
    seen: HashMap<Arc<str>, ContentHash, foldhash::fast::RandomState>,
    bytes: usize,
}

impl BatchMessages {
    pub const MAX_BYTES: usize = 16 << 20;

    fn key(&mut self, message: &str) -> (ContentHash, Arc<str>) {
        if let Some((text, hash)) = self.seen.get_key_value(message) {
            return (*hash, text.clone());
        }
        let (hash, text) = (by_reference::hash(message), Arc::<str>::from(message));
        if self.bytes + message.len() <= Self::MAX_BYTES {
            self.bytes += message.len();
            self.seen.insert(text.clone(), hash);
        }
        (hash, text)
    }
}

/// A row being written: each value is written through [`Row::col`], which
/// names its column. In unit tests the names are recorded, so a test can
/// assert the encoder writes exactly `STEP_COLUMNS`, in order; otherwise
/// the name costs nothing.
struct Row<'a> {
    w: RowBinary<'a>,
    #[cfg(test)]
    written: Vec<&'static str>,
}

impl<'a> Row<'a> {
    fn new(buf: &'a mut Vec<u8>) -> Self {
        Self {
            w: RowBinary(buf),
            #[cfg(test)]
            written: Vec::new(),
        }
    }

    #[inline(always)]
    fn col(&mut self, name: &'static str) -> &mut RowBinary<'a> {
        #[cfg(test)]
        self.written.push(name);
        let _ = name;
        &mut self.w
    }
}

/// What of a step is stored by reference: its messages' keys, if they are,
/// each span attribute's pieces' keys, and the texts stored whole (where
/// each goes back, and its key).
#[derive(Default)]
struct References<'s> {
    messages: Option<Vec<ContentHash>>,
    attributes: Vec<(&'s str, Vec<ContentHash>)>,
    texts: Vec<(Place<'s>, ContentHash)>,
    /// Whether the system prompt is among `texts` (its column then empty).
    system_whole: bool,
}

/// The columns the encoder writes (all but the writer's), in table order.
fn encode_prefix(row: &mut Row, project: &str, s: &Step, refs: &References) {
    row.col("project").string(project);
    row.col("session_id").string(&s.session_id);
    row.col("step").u64(s.step);
    row.col("ts").i64(s.timestamp_us);
    row.col("agent_name").string(&s.agent_name);
    row.col("agent_version").string(&s.agent_version);
    row.col("reasoning").string(&s.reasoning);
    row.col("considered_tools").strings(&s.considered_tools);
    row.col("chosen_tool").string(&s.chosen_tool);
    row.col("confidence").nullable(s.confidence, RowBinary::f64);
    row.col("tool_name").string(&s.tool_name);
    row.col("tool_params").string(&s.tool_params);
    row.col("tool_result").string(&s.tool_result);
    row.col("tool_status").string(&s.tool_status);
    row.col("tool_error").string(&s.tool_error);
    row.col("tool_duration_ms").nullable(s.tool_duration_ms, RowBinary::u64);
    row.col("model_provider").string(&s.model_provider);
    row.col("model_name").string(&s.model_name);
    row.col("model_version").string(&s.model_version);
    row.col("model_key").string(&s.model_key);
    row.col("temperature").nullable(s.temperature, RowBinary::f64);
    row.col("top_p").nullable(s.top_p, RowBinary::f64);
    row.col("seed").nullable(s.seed, RowBinary::i64);
    row.col("max_tokens").nullable(s.max_tokens, RowBinary::u64);
    row.col("prompt_system").string(if refs.system_whole { "" } else { &s.prompt_system });
    row.col("prompt_messages").string(if refs.messages.is_some() { "" } else { &s.prompt_messages });
    row.col("message_refs").fixed_list(refs.messages.as_deref().unwrap_or_default());
    let w = row.col("attribute_refs");
    w.len(refs.attributes.len());
    for (key, pieces) in &refs.attributes {
        w.string(key);
        w.fixed_list(pieces);
    }
    let w = row.col("text_refs");
    w.len(refs.texts.len());
    for (place, key) in &refs.texts {
        w.string(&place.key());
        w.fixed(key);
    }
    row.col("completion").string(&s.completion);
    row.col("input_tokens").u64(s.input_tokens);
    row.col("output_tokens").u64(s.output_tokens);
    row.col("cache_read_tokens").u64(s.cache_read_tokens);
    row.col("cache_write_tokens").u64(s.cache_write_tokens);
    row.col("reasoning_tokens").u64(s.reasoning_tokens);
    row.col("estimated_cost").nullable(s.estimated_cost, RowBinary::f64);
    row.col("user_id").string(&s.user_id);
    row.col("tags").strings(&s.tags);
    row.col("metadata").string(&s.metadata);
    // The rest: the content is in its columns (flightlog_model::stored).
    row.col("raw").string(&s.raw_rest);
    row.col("failed").bool(s.failed());
    row.col("step_hash").fixed(&s.step_hash);
    row.col("erased").empty_map(); // nothing is erased at ingestion
}

/// The writer's columns, after the prefix.
fn encode_writer_columns(row: &mut Row, pos: &LogPosition, received_at_us: i64) {
    row.col("session_seq").u64(pos.session_seq);
    row.col("chain_hash").fixed(&pos.chain_hash);
    row.col("log_index").u64(pos.log_index);
    row.col("received_at").i64(received_at_us);
}

impl EncodedStep {
    pub fn new(project: &str, s: &Step) -> Self {
        Self::in_batch(project, s, &mut BatchMessages::default())
    }

    /// [`EncodedStep::new`] for one of a batch's steps, whose messages the
    /// others may carry too.
    pub fn in_batch(project: &str, s: &Step, batch: &mut BatchMessages) -> Self {
        let mut contents: Vec<(ContentHash, Arc<str>)> = Vec::new();
        let mut keys = |pieces: Vec<&str>| -> Vec<ContentHash> {
            pieces
                .into_iter()
                .map(|piece| {
                    let keyed = batch.key(piece);
                    let hash = keyed.0;
                    contents.push(keyed);
                    hash
                })
                .collect()
        };
        let messages = by_reference::split(&s.prompt_messages).map(&mut keys);
        let mut texts = Vec::new();
        let system_whole = by_reference::stored_whole(&s.prompt_system);
        if system_whole {
            texts.push((Place::Column("prompt_system"), keys(vec![&s.prompt_system])[0]));
        }
        let mut attributes = Vec::new();
        for (key, text) in &s.attributes_by_reference {
            // The model left it out of `raw` because it is long: an array's
            // text is stored in pieces, any other whole.
            match by_reference::split_attribute(text) {
                Some(pieces) => attributes.push((key.as_str(), keys(pieces))),
                None => texts.push((Place::Attribute(key), keys(vec![text])[0])),
            }
        }
        let refs = References { messages, attributes, texts, system_whole };
        contents.sort_unstable_by_key(|(hash, _)| *hash);
        contents.dedup_by_key(|(hash, _)| *hash);
        let mut buf = Vec::with_capacity(s.raw.len() * 2 + 256);
        encode_prefix(&mut Row::new(&mut buf), project, s, &refs);
        Self { session_id: s.session_id.clone(), step: s.step, step_hash: s.step_hash, prefix: buf, contents }
    }

    pub fn encoded_len(&self) -> usize {
        self.prefix.len() + 64 + self.contents.iter().map(|(_, m)| m.len() + 40).sum::<usize>()
    }
}

/// What the writer decides for an accepted step: its place in its session's
/// chain and in the log.
#[derive(Clone, Copy, Debug)]
pub struct LogPosition {
    pub session_seq: u64,
    pub chain_hash: [u8; 32],
    pub log_index: u64,
}

/// One entry of the log of record.
#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    pub log_index: u64,
    pub project: String,
    pub session_id: String,
    pub step: u64,
    pub step_hash: [u8; 32],
}

/// The parameters of the writer's reads of a group's sessions
/// (session_states.sql, existing_steps.sql).
fn group_params(project: &str, sessions: &[&str], steps: &[u64]) -> Params {
    Params::new().text("project", project).texts("sessions", sessions).numbers("steps", steps.iter().copied())
}

/// The (step number, hex step hash) pairs those reads return.
fn stored_numbers(pairs: &[(u64, String)]) -> Result<HashMap<u64, [u8; 32]>, StoreError> {
    pairs.iter().map(|(n, h)| Ok((*n, decode_hash(h)?))).collect()
}

/// What the writer needs to know of a stored session.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionState {
    pub head: ChainHead,
    /// Step number → step hash, for the step numbers asked about.
    pub existing: HashMap<u64, [u8; 32]>,
}

/// Where a session's chain stands.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChainHead {
    pub seq: u64,
    pub head: [u8; 32],
}

/// A stored step as the timeline returns it: the canonical JSON the agent
/// sent, plus what Flightlog added when it accepted it.
#[derive(Debug)]
pub struct StoredStep {
    pub step: u64,
    pub log_index: u64,
    pub step_hash: String,
    pub received_us: i64,
    pub failed: bool,
    /// A key decision (schema/0010_key_decision.sql): one the
    /// similar-failure index holds.
    pub key_decision: bool,
    /// Whose step it is (its `user_id` column; empty for none): the access
    /// log names the users a read returned.
    pub user_id: String,
    /// The canonical JSON, rebuilt from what `raw` kept and the columns.
    pub raw: String,
}

/// A row of `session_timeline.sql`: `raw` as stored, and the content columns.
struct TimelineRow {
    step: u64,
    log_index: u64,
    step_hash: String,
    received_us: i64,
    failed: bool,
    key_decision: bool,
    user_id: String,
    raw: String,
    content: Content,
}

/// A page of a session's timeline as read, before the content stored by
/// reference is put back ([`Store::put_back_timeline`]): what the access
/// log records of a read is known here, so it can be written meanwhile.
pub struct TimelineRows(Vec<TimelineRow>);

impl TimelineRows {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The user of each of the page's steps, in step order (empty for none).
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|r| r.user_id.as_str())
    }
}

/// What `session_timeline.sql` selects before the content columns.
const TIMELINE_LEADING: [(&str, &str); 8] = [
    ("step", "UInt64"),
    ("log_index", "UInt64"),
    ("step_hash", "String"),
    ("received_us", "Int64"),
    ("failed", "Bool"),
    ("key_decision", "Bool"),
    ("user_id", "String"),
    ("raw", "String"),
];

/// The timeline's rows from its RowBinaryWithNamesAndTypes answer. Read as
/// RowBinary rather than JSON: a conversation's step is mostly JSON text,
/// which JSON output escapes and the reader unescapes again (half the
/// time of a 40-step timeline read: the README's conversation figures).
fn timeline_rows(out: &[u8]) -> Result<Vec<TimelineRow>, StoreError> {
    let columns: Vec<(&str, &str)> = TIMELINE_LEADING.iter().chain(&Content::BINARY_COLUMNS).copied().collect();
    let mut r = Reader::new(out, &columns)?;
    let mut found = Vec::new();
    while !r.done() {
        found.push(TimelineRow {
            step: r.u64()?,
            log_index: r.u64()?,
            step_hash: r.string()?,
            received_us: r.i64()?,
            failed: r.bool()?,
            key_decision: r.bool()?,
            user_id: r.text_lossy()?.0,
            raw: r.text_lossy()?.0,
            content: Content::read(&mut r)?,
        });
    }
    Ok(found)
}

impl TryFrom<TimelineRow> for StoredStep {
    type Error = String;

    fn try_from(r: TimelineRow) -> Result<Self, String> {
        let raw = r.content.rebuild(&r.raw)?;
        Ok(Self {
            step: r.step,
            log_index: r.log_index,
            step_hash: r.step_hash,
            received_us: r.received_us,
            failed: r.failed,
            key_decision: r.key_decision,
            user_id: r.user_id,
            raw,
        })
    }
}

impl Store {
    /// What is stored of these sessions of `project`: each one's chain head
    /// and, among `steps`, the step numbers it holds with their hashes.
    /// Sessions with no stored step are absent.
    pub async fn session_states(
        &self,
        project: &str,
        sessions: &[&str],
        steps: &[u64],
    ) -> Result<HashMap<String, SessionState>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            session_id: String,
            seq: u64,
            head: String,
            existing: Vec<(u64, String)>,
        }
        if sessions.is_empty() {
            return Ok(HashMap::new());
        }
        let found: Vec<Row> = rows(&self.ch.query(SESSION_STATES, group_params(project, sessions, steps)).await?)?;
        found
            .into_iter()
            .map(|r| {
                let head = ChainHead { seq: r.seq, head: decode_hash(&r.head)? };
                Ok((r.session_id, SessionState { head, existing: stored_numbers(&r.existing)? }))
            })
            .collect()
    }

    /// Among `steps`, the step numbers these sessions of `project` hold,
    /// with their hashes: [`Store::session_states`] without the chain
    /// heads, which cost a read of every row of each session. Sessions
    /// holding none of them are absent.
    pub async fn existing_steps(
        &self,
        project: &str,
        sessions: &[&str],
        steps: &[u64],
    ) -> Result<HashMap<String, HashMap<u64, [u8; 32]>>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            session_id: String,
            existing: Vec<(u64, String)>,
        }
        if sessions.is_empty() || steps.is_empty() {
            return Ok(HashMap::new());
        }
        let found: Vec<Row> = rows(&self.ch.query(EXISTING_STEPS, group_params(project, sessions, steps)).await?)?;
        found.into_iter().map(|r| Ok((r.session_id, stored_numbers(&r.existing)?))).collect()
    }

    /// Durably inserts `steps` at the positions the writer gave them.
    /// Returns once ClickHouse has fsynced the new part.
    pub async fn insert_steps(&self, steps: &[(&EncodedStep, LogPosition)], received_at_us: i64) -> Result<(), StoreError> {
        self.ch.insert(&INSERT_STEPS, steps_rows(steps, received_at_us)).await?;
        Ok(())
    }

    /// Appends to the log of record the accepted steps (same order and
    /// positions as just inserted into steps), durably.
    pub async fn insert_log_entries(&self, entries: &[(&str, &EncodedStep, u64)]) -> Result<(), StoreError> {
        let mut buf = Vec::with_capacity(entries.len() * 96);
        for (project, s, log_index) in entries {
            let mut w = RowBinary(&mut buf);
            w.u64(*log_index);
            w.string(project);
            w.string(&s.session_id);
            w.u64(s.step);
            w.fixed(&s.step_hash);
        }
        self.ch.insert(INSERT_LOG_ENTRIES, buf).await?;
        Ok(())
    }

    /// Every step hash of the log of record, in log order: the Merkle
    /// log's leaves (before the leaf prefix is applied).
    pub async fn log_step_hashes(&self) -> Result<Vec<[u8; 32]>, StoreError> {
        // In pages: one read of the whole log would be held by the engine.
        let mut hashes = Vec::new();
        self.for_each_log_hash(None, 100_000, |_, h| hashes.push(h)).await?;
        Ok(hashes)
    }

    /// Calls `each` with (position, step hash) of the log of record below
    /// `until` (None: all of it), in log order, reading `page` positions at a
    /// time so that memory holds one page, not the log.
    pub async fn for_each_log_hash(&self, until: Option<u64>, page: u64, each: impl FnMut(u64, [u8; 32])) -> Result<u64, StoreError> {
        self.for_each_log_hash_from(0, until, page, each).await
    }

    /// [`Store::for_each_log_hash`] from position `from` on.
    pub async fn for_each_log_hash_from(
        &self,
        from: u64,
        until: Option<u64>,
        page: u64,
        mut each: impl FnMut(u64, [u8; 32]),
    ) -> Result<u64, StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            i: u64,
            h: String,
        }
        let end = match until {
            Some(n) => n,
            None => self.next_log_index().await?,
        };
        let mut seen = 0;
        let mut from = from;
        while from < end {
            let count = page.min(end - from);
            let params = Params::new().number("from", from).number("count", count);
            for row in rows::<Row>(&self.ch.query(LOG_HASHES_PAGE, params).await?)? {
                each(row.i, decode_hash(&row.h)?);
                seen += 1;
            }
            from += count;
        }
        Ok(seen)
    }

    /// Appends to the log of record the steps a crash left out of it (see
    /// the query). Called before the writer reads the log at start-up.
    pub async fn append_missing_log_entries(&self) -> Result<(), StoreError> {
        self.wait_for_writes_in_flight().await;
        self.ch.query(APPEND_MISSING_LOG_ENTRIES, Params::new()).await?;
        Ok(())
    }

    /// Waits until no write of the steps or of the log of record runs on
    /// the engine (writes_in_flight.sql), for at most [`WRITES_IN_FLIGHT_POLL`]:
    /// one that a killed process, or a commit that timed out here, left
    /// running on a ClickHouse server would otherwise land after a repair
    /// had counted its steps, and count them twice. In the embedded engine
    /// such a write died with its process. A server that does not show its
    /// processes is not waited for.
    pub async fn wait_for_writes_in_flight(&self) {
        #[derive(serde::Deserialize)]
        struct Running {
            running: u64,
        }
        // The statements exactly as the writer starts them.
        let params = Params::new().text("steps_insert", &INSERT_STEPS).text("log_insert", INSERT_LOG_ENTRIES);
        let mut polls = WRITES_IN_FLIGHT_POLL.build();
        loop {
            let running = match self.ch.query(WRITES_IN_FLIGHT, params.clone()).await.and_then(|out| rows::<Running>(&out)) {
                Ok(found) => found.first().map_or(0, |r| r.running),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot see the engine's running writes; repairing without waiting for them");
                    return;
                }
            };
            if running == 0 {
                return;
            }
            let Some(wait) = polls.next() else {
                tracing::warn!(running, "writes to steps still running on the engine; repairing anyway");
                return;
            };
            tracing::info!(running, "waiting for writes left running on the engine before repairing");
            tokio::time::sleep(wait).await;
        }
    }

    /// One durable write of `bytes` incompressible bytes, as a group commit
    /// writes, then removed: whether storage takes a write that big again
    /// after one failed.
    pub async fn probe_write(&self, now_us: i64, bytes: usize) -> Result<(), StoreError> {
        let mut payload = vec![0u8; bytes];
        // xorshift: incompressible enough that the part is as big as asked.
        let mut x = (now_us as u64) | 1;
        for chunk in payload.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        let mut buf = Vec::with_capacity(bytes + 32);
        let mut w = RowBinary(&mut buf);
        w.i64(now_us);
        w.bytes(&payload);
        self.ch.insert("INSERT INTO write_probes (probed_at, payload)", buf).await?;
        if let Err(e) = self.ch.query("TRUNCATE TABLE write_probes", Params::new()).await {
            tracing::warn!(error = %e, "could not remove the write probe; its TTL will");
        }
        Ok(())
    }

    /// The log index the next accepted step gets.
    pub async fn next_log_index(&self) -> Result<u64, StoreError> {
        #[derive(serde::Deserialize)]
        struct Next {
            next: u64,
        }
        let found: Vec<Next> = rows(&self.ch.query(NEXT_LOG_INDEX, Params::new()).await?)?;
        Ok(found.first().map_or(0, |n| n.next))
    }

    /// The session's first failed step, if it has one.
    pub async fn first_failed_step(&self, project: &str, session_id: &str) -> Result<Option<u64>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            step: u64,
            failures: u64,
        }
        let params = Params::new().text("project", project).text("session", session_id);
        let found: Vec<Row> = rows(&self.ch.query(FIRST_FAILED_STEP, params).await?)?;
        Ok(found.first().filter(|r| r.failures > 0).map(|r| r.step))
    }

    /// The step number `back` steps before step `before` of a session
    /// (counted, as numbers may have gaps); None when it has fewer.
    pub async fn step_counted_back(&self, project: &str, session_id: &str, before: u64, back: u64) -> Result<Option<u64>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            step: u64,
        }
        if back == 0 {
            return Ok(Some(before));
        }
        let params = Params::new().text("project", project).text("session", session_id).number("before", before).number("skip", back - 1);
        Ok(rows::<Row>(&self.ch.query(STEP_COUNTED_BACK, params).await?)?.first().map(|r| r.step))
    }

    /// Up to `limit` steps of a session with step number > `after`, in order.
    pub async fn session_timeline(
        &self,
        project: &str,
        session_id: &str,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<StoredStep>, StoreError> {
        let rows = self.session_timeline_rows(project, session_id, after, limit).await?;
        self.put_back_timeline(project, session_id, rows).await
    }

    /// [`Store::session_timeline`]'s read, before the content stored by
    /// reference is put back.
    pub async fn session_timeline_rows(
        &self,
        project: &str,
        session_id: &str,
        after: Option<u64>,
        limit: u32,
    ) -> Result<TimelineRows, StoreError> {
        let after = after.map_or(-1, |a| i64::try_from(a).unwrap_or(i64::MAX));
        let params = Params::new()
            .text("project", project)
            .text("session", session_id)
            .number("after", after)
            .number("limit", limit);
        Ok(TimelineRows(timeline_rows(&self.ch.query_as(SESSION_TIMELINE, params, Format::RowBinaryWithNamesAndTypes).await?)?))
    }

    /// The steps of a page read by [`Store::session_timeline_rows`], with
    /// the messages and span attributes stored by reference put back.
    pub async fn put_back_timeline(&self, project: &str, session_id: &str, rows: TimelineRows) -> Result<Vec<StoredStep>, StoreError> {
        let mut found = rows.0;
        self.put_back_messages(project, found.iter_mut().map(|r| (session_id, &mut r.content))).await?;
        found.into_iter().map(|r| StoredStep::try_from(r).map_err(StoreError::Decode)).collect()
    }
}

/// A 32-byte hash from the hex that `lower(hex(...))` returns.
pub(crate) fn decode_hash(hex_text: &str) -> Result<[u8; 32], StoreError> {
    flightlog_model::merkle::hash_from_hex(hex_text).ok_or_else(|| StoreError::Decode(format!("bad hash {hex_text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flightlog_model::columns::Source;
    use flightlog_model::{Limits, step_from_json};

    #[test]
    fn the_encoder_writes_the_step_columns_in_table_order() {
        let step = step_from_json(serde_json::json!({"session_id": "s", "step": 1, "timestamp": "2026-01-15T10:00:00Z"}), &Limits::default())
            .unwrap();
        let mut buf = Vec::new();
        let mut row = Row::new(&mut buf);
        encode_prefix(&mut row, "p", &step, &References::default());
        let prefix = row.written.len();
        encode_writer_columns(&mut row, &LogPosition { session_seq: 0, chain_hash: [0; 32], log_index: 0 }, 0);
        let names: Vec<&str> = STEP_COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(row.written, names);
        // The encoder writes all but the writer's columns, the writer those.
        assert!(STEP_COLUMNS[..prefix].iter().all(|c| c.source != Source::Writer));
        assert!(STEP_COLUMNS[prefix..].iter().all(|c| c.source == Source::Writer));
        // The bytes are those of the encoded step and its insert.
        drop(row);
        let encoded = EncodedStep::new("p", &step);
        assert_eq!(buf[..encoded.prefix.len()], encoded.prefix[..]);
        assert_eq!(buf.len(), encoded.prefix.len() + 8 + 32 + 8 + 8);
    }

    #[test]
    fn a_timeline_page_names_the_user_of_each_step_in_order() {
        let row = |step: u64, user: &str| TimelineRow {
            step,
            log_index: step,
            step_hash: String::new(),
            received_us: 0,
            failed: false,
            key_decision: false,
            user_id: user.to_string(),
            raw: "{}".to_string(),
            content: Content::default(),
        };
        let page = TimelineRows(vec![row(1, "bob"), row(2, ""), row(3, "ann"), row(4, "bob")]);
        assert_eq!((page.len(), page.users().collect::<Vec<_>>()), (4, vec!["bob", "", "ann", "bob"]));
        assert!(TimelineRows(Vec::new()).is_empty());
    }

    #[test]
    fn a_batchs_steps_share_each_message_once_under_its_key() {
        let messages: Vec<serde_json::Value> =
            (0..6).map(|i| serde_json::json!({"role": "user", "content": format!("message {i} {}", "words ".repeat(60))})).collect();
        let step = |n: usize| {
            let v = serde_json::json!({"session_id": "s", "step": n, "timestamp": "2026-01-15T10:00:00Z", "prompt": {"messages": messages[..=n]}});
            step_from_json(v, &Limits::default()).unwrap()
        };
        let mut batch = BatchMessages::default();
        let (four, five) = (EncodedStep::in_batch("p", &step(4), &mut batch), EncodedStep::in_batch("p", &step(5), &mut batch));
        assert_eq!((four.contents.len(), five.contents.len()), (5, 6));
        for (hash, text) in &four.contents {
            assert_eq!(*hash, by_reference::hash(text), "keyed by the SHA-256 of the message");
            let (_, same) = five.contents.iter().find(|(h, _)| h == hash).expect("the later step carries it too");
            assert!(Arc::ptr_eq(text, same), "held once for the batch");
        }
        // Encoded alone, a step refers to the same keys.
        let alone = EncodedStep::new("p", &step(5));
        assert_eq!(alone.contents.iter().map(|(h, _)| *h).collect::<Vec<_>>(), five.contents.iter().map(|(h, _)| *h).collect::<Vec<_>>());
        assert_eq!(alone.prefix, five.prefix);
    }

    #[test]
    fn the_insert_names_every_stored_column_in_order() {
        assert!(INSERT_STEPS.starts_with("INSERT INTO steps (project, session_id, step, ts, agent_name, "));
        assert!(INSERT_STEPS.ends_with("session_seq, chain_hash, log_index, received_at)"));
        assert_eq!(INSERT_STEPS.matches(", ").count() + 1, STEP_COLUMNS.len());
    }
}
