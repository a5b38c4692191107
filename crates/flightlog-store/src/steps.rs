//! Writing steps, checking what is already stored, and reading a session's
//! timeline.

use crate::backend::{Params, StoreError, rows};
use crate::rowbinary::RowBinary;
use crate::Store;
use flightlog_model::Step;
use std::collections::HashMap;

const INSERT_STEPS: &str = include_str!("queries/insert_steps.sql");
const NEXT_LOG_INDEX: &str = include_str!("queries/next_log_index.sql");
const SESSION_TIMELINE: &str = include_str!("queries/session_timeline.sql");
const FIRST_FAILED_STEP: &str = include_str!("queries/first_failed_step.sql");
const SESSION_STATES: &str = include_str!("queries/session_states.sql");
const LOG_LEAVES: &str = include_str!("queries/log_leaves.sql");
const INSERT_LOG_ENTRIES: &str = "INSERT INTO log_entries (log_index, project, session_id, step, step_hash)";
const LOG_HASHES_PAGE: &str = include_str!("queries/log_hashes_page.sql");
const LOG_ENTRY_AT: &str = include_str!("queries/log_entry_at.sql");
const APPEND_MISSING_LOG_ENTRIES: &str = include_str!("queries/append_missing_log_entries.sql");

/// A validated step, already encoded as the RowBinary prefix of its row.
///
/// Encoding happens in the request handler, in parallel across requests;
/// the single writer only appends the columns it owns (the session chain,
/// `log_index`, `received_at`), which `insert_steps.sql` lists last for that
/// reason.
pub struct EncodedStep {
    pub session_id: String,
    pub step: u64,
    pub step_hash: [u8; 32],
    prefix: Vec<u8>,
}

impl EncodedStep {
    pub fn new(project: &str, s: &Step) -> Self {
        let mut buf = Vec::with_capacity(s.raw.len() * 2 + 256);
        let mut w = RowBinary(&mut buf);
        w.string(project);
        w.string(&s.session_id);
        w.u64(s.step);
        w.i64(s.timestamp_us);
        w.string(&s.agent_name);
        w.string(&s.agent_version);
        w.string(&s.reasoning);
        w.strings(&s.considered_tools);
        w.string(&s.chosen_tool);
        w.nullable(s.confidence, RowBinary::f64);
        w.string(&s.tool_name);
        w.string(&s.tool_params);
        w.string(&s.tool_result);
        w.string(&s.tool_status);
        w.string(&s.tool_error);
        w.nullable(s.tool_duration_ms, RowBinary::u64);
        w.string(&s.model_provider);
        w.string(&s.model_name);
        w.string(&s.model_version);
        w.string(&s.model_key);
        w.nullable(s.temperature, RowBinary::f64);
        w.nullable(s.top_p, RowBinary::f64);
        w.nullable(s.seed, RowBinary::i64);
        w.nullable(s.max_tokens, RowBinary::u64);
        w.string(&s.prompt_system);
        w.string(&s.prompt_messages);
        w.string(&s.completion);
        w.u64(s.input_tokens);
        w.u64(s.output_tokens);
        w.u64(s.cache_read_tokens);
        w.u64(s.cache_write_tokens);
        w.u64(s.reasoning_tokens);
        w.nullable(s.estimated_cost, RowBinary::f64);
        w.string(&s.user_id);
        w.strings(&s.tags);
        w.string(&s.metadata);
        w.string(&s.raw);
        w.bool(s.failed());
        w.fixed(&s.step_hash);
        w.empty_map(); // erased: nothing is erased at ingestion
        Self { session_id: s.session_id.clone(), step: s.step, step_hash: s.step_hash, prefix: buf }
    }

    pub fn encoded_len(&self) -> usize {
        self.prefix.len() + 64
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
#[derive(Debug, serde::Deserialize)]
pub struct StoredStep {
    pub step: u64,
    pub log_index: u64,
    pub step_hash: String,
    pub received_us: i64,
    pub failed: bool,
    pub raw: String,
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
        let params =
            Params::new().text("project", project).texts("sessions", sessions).numbers("steps", steps.iter().copied());
        let found: Vec<Row> = rows(&self.ch.query(SESSION_STATES, params).await?)?;
        found
            .into_iter()
            .map(|r| {
                let existing = r.existing.iter().map(|(n, h)| Ok((*n, decode_hash(h)?))).collect::<Result<_, StoreError>>()?;
                let head = ChainHead { seq: r.seq, head: decode_hash(&r.head)? };
                Ok((r.session_id, SessionState { head, existing }))
            })
            .collect()
    }

    /// Durably inserts `steps` at the positions the writer gave them.
    /// Returns once ClickHouse has fsynced the new part.
    pub async fn insert_steps(&self, steps: &[(&EncodedStep, LogPosition)], received_at_us: i64) -> Result<(), StoreError> {
        let mut buf = Vec::with_capacity(steps.iter().map(|(s, _)| s.encoded_len()).sum());
        for (s, pos) in steps {
            buf.extend_from_slice(&s.prefix);
            let mut w = RowBinary(&mut buf);
            w.u64(pos.session_seq);
            w.fixed(&pos.chain_hash);
            w.u64(pos.log_index);
            w.i64(received_at_us);
        }
        self.ch.insert(INSERT_STEPS, buf).await?;
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
        Ok(self.log_entries().await?.into_iter().map(|e| e.step_hash).collect())
    }

    /// Calls `each` with (position, step hash) of the log of record below
    /// `until` (None: all of it), in log order, reading `page` positions at a
    /// time so that memory holds one page, not the log.
    pub async fn for_each_log_hash(
        &self,
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
        let mut from = 0;
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

    /// The log of record, in log order.
    pub async fn log_entries(&self) -> Result<Vec<LogEntry>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            log_index: u64,
            project: String,
            session_id: String,
            step: u64,
            step_hash: String,
        }
        let found: Vec<Row> = rows(&self.ch.query(LOG_LEAVES, Params::new()).await?)?;
        found
            .into_iter()
            .map(|r| {
                Ok(LogEntry {
                    log_index: r.log_index,
                    project: r.project,
                    session_id: r.session_id,
                    step: r.step,
                    step_hash: decode_hash(&r.step_hash)?,
                })
            })
            .collect()
    }

    /// The entry of the log of record at one position.
    pub async fn log_entry_at(&self, log_index: u64) -> Result<Option<LogEntry>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            log_index: u64,
            project: String,
            session_id: String,
            step: u64,
            step_hash: String,
        }
        let found: Vec<Row> = rows(&self.ch.query(LOG_ENTRY_AT, Params::new().number("log_index", log_index)).await?)?;
        found
            .into_iter()
            .next()
            .map(|r| {
                Ok(LogEntry {
                    log_index: r.log_index,
                    project: r.project,
                    session_id: r.session_id,
                    step: r.step,
                    step_hash: decode_hash(&r.step_hash)?,
                })
            })
            .transpose()
    }

    /// Appends to the log of record the steps a crash left out of it (see
    /// the query). Called before the writer reads the log at start-up.
    pub async fn append_missing_log_entries(&self) -> Result<(), StoreError> {
        self.ch.query(APPEND_MISSING_LOG_ENTRIES, Params::new()).await?;
        Ok(())
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

    /// Up to `limit` steps of a session with step number > `after`, in order.
    pub async fn session_timeline(
        &self,
        project: &str,
        session_id: &str,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<StoredStep>, StoreError> {
        let after = after.map_or(-1, |a| i64::try_from(a).unwrap_or(i64::MAX));
        let params = Params::new()
            .text("project", project)
            .text("session", session_id)
            .number("after", after)
            .number("limit", limit);
        rows(&self.ch.query(SESSION_TIMELINE, params).await?)
    }
}

/// A 32-byte hash from the hex that `lower(hex(...))` returns.
pub(crate) fn decode_hash(hex_text: &str) -> Result<[u8; 32], StoreError> {
    flightlog_model::merkle::hash_from_hex(hex_text).ok_or_else(|| StoreError::Decode(format!("bad hash {hex_text:?}")))
}
