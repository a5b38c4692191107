//! Reading back what verification checks.
//!
//! Rows are read as RowBinary: each carries its content twice (`raw` and
//! the typed columns that must agree with it), and as JSON the engine
//! escaped every quote of both and the reader unescaped them again, a
//! third of `verify --all`'s time.

use crate::backend::{Format, Params, StoreError};
use crate::rowbinary::{Reader, without_low_cardinality};
use crate::Store;
use crate::content::Refs;
use flightlog_model::stored::rebuild_value;
use std::collections::BTreeMap;

const INTEGRITY_ROWS: &str = include_str!("queries/integrity_rows.sql");
const SESSION_CHAIN_POSITIONS: &str = include_str!("queries/session_chain_positions.sql");

/// Rows read for one key at a page's edge, at most: a bound on memory
/// whatever was inserted.
const MAX_COPIES: u32 = 10_000;

/// Where one stored step stands in its session's chain and in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct ChainPosition {
    pub session_seq: u64,
    pub log_index: u64,
    pub step: u64,
}

impl ChainPosition {
    /// Where the row stands in its session's chain: `session_seq`, then
    /// `log_index` (its order).
    pub fn place(&self) -> (u64, u64) {
        (self.session_seq, self.log_index)
    }
}

/// One stored step as verification sees it.
#[derive(Clone, Debug)]
pub struct IntegrityRow {
    pub project: String,
    pub session_id: String,
    pub step: u64,
    pub log_index: u64,
    pub session_seq: u64,
    pub step_hash: String,
    pub chain_hash: String,
    /// Field path → hex field hash, for erased fields.
    pub erased: BTreeMap<String, String>,
    /// What the `raw` column kept: the content its columns hold is left
    /// out (`flightlog_model::stored`); [`IntegrityRow::content`] puts it back.
    pub raw: String,
    /// The span attributes `raw` left out, stored by reference and put
    /// back: (key, text). [`IntegrityRow::content`] puts them in.
    pub attributes: Vec<(String, String)>,
    /// The typed columns that must agree with `raw`, in [`CHECKED`] order.
    pub columns: Vec<(&'static str, Stored)>,
    /// Columns whose stored bytes are not UTF-8 text (read with
    /// replacement characters), so that verification names the row
    /// instead of failing as a whole.
    pub not_utf8: Vec<&'static str>,
}

impl IntegrityRow {
    /// Where the row stands in its session's chain (see
    /// [`ChainPosition::place`]).
    pub fn place(&self) -> (u64, u64) {
        (self.session_seq, self.log_index)
    }

    /// A checked column's stored value.
    pub fn column(&self, name: &str) -> Option<&Stored> {
        self.columns.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// A checked column's stored value, looked up at `at` first: rows read
    /// here hold their columns in [`CHECKED`] order, and this runs for
    /// every column of every row `verify --all` reads.
    pub fn column_at(&self, at: usize, name: &str) -> Option<&Stored> {
        self.columns.get(at).filter(|(n, _)| *n == name).map(|(_, v)| v).or_else(|| self.column(name))
    }

    /// The step as stored: `raw` with the content its columns hold put back.
    /// An error when that is not JSON any more.
    pub fn content(&self) -> Result<serde_json::Value, serde_json::Error> {
        let column = |c: &str| {
            let at = REBUILT_AT.iter().find(|(n, _)| *n == c).map_or(usize::MAX, |(_, i)| *i);
            match self.column_at(at, c) {
                Some(Stored::Text(t)) => t.as_str(),
                _ => "",
            }
        };
        rebuild_value(&self.raw, column, &self.attributes)
    }
}

/// A checked column's value exactly as stored: integers as integers (a
/// float would hide a change above 2^53) and floats with their bits (a
/// NaN is not a null).
#[derive(Clone, Debug, PartialEq)]
pub enum Stored {
    Text(String),
    List(Vec<String>),
    UInt(u64),
    OptUInt(Option<u64>),
    /// Also a time, in microseconds.
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(bool),
}

/// A text column's value; bytes that are not UTF-8 are kept with
/// replacement characters and the column is named in `not_utf8`.
fn text(name: &'static str, r: &mut Reader, not_utf8: &mut Vec<&'static str>) -> Result<String, StoreError> {
    let (text, replaced) = r.text_lossy()?;
    if replaced {
        not_utf8.push(name);
    }
    Ok(text)
}

/// Reads a checked column by its type in the steps table.
fn read_checked(name: &'static str, engine_type: &str, r: &mut Reader, not_utf8: &mut Vec<&'static str>) -> Result<Stored, StoreError> {
    Ok(match engine_type {
        "String" => Stored::Text(text(name, r, not_utf8)?),
        "Array(LowCardinality(String))" => {
            let count = r.map_len()?;
            Stored::List((0..count).map(|_| text(name, r, not_utf8)).collect::<Result<_, _>>()?)
        }
        "UInt64" => Stored::UInt(r.u64()?),
        "Nullable(UInt64)" => Stored::OptUInt(r.nullable(Reader::u64)?),
        "DateTime64(6, 'UTC')" => Stored::Int(Some(r.i64()?)),
        "Bool" => Stored::Bool(r.bool()?),
        "Nullable(Float64)" => Stored::Float(r.nullable(Reader::f64)?),
        "Nullable(Int64)" => Stored::Int(r.nullable(Reader::i64)?),
        other => return Err(StoreError::Decode(format!("no reader for a checked column of type {other}"))),
    })
}

/// Where each column of `flightlog_model::stored::REBUILT` is in [`CHECKED`].
static REBUILT_AT: std::sync::LazyLock<Vec<(&'static str, usize)>> = std::sync::LazyLock::new(|| {
    flightlog_model::stored::REBUILT
        .iter()
        .map(|r| (r.column, CHECKED.iter().position(|c| *c == r.column).expect("a rebuilt column is checked")))
        .collect()
});

/// What `integrity_rows.sql` selects before the checked columns.
const LEADING: [(&str, &str); 12] = [
    ("project", "String"),
    ("session_id", "String"),
    ("step", "UInt64"),
    ("log_index", "UInt64"),
    ("session_seq", "UInt64"),
    ("step_hash", "String"),
    ("chain_hash", "String"),
    ("erased", "Map(String, String)"),
    ("raw", "String"),
    Refs::COLUMNS[0],
    Refs::COLUMNS[1],
    Refs::COLUMNS[2],
];

/// The typed columns verification compares with the content, in the
/// query's order; their types are the steps table's
/// ([`flightlog_model::columns`]).
const CHECKED: [&str; 34] = [
    "agent_name",
    "reasoning",
    "chosen_tool",
    "tool_name",
    "tool_params",
    "tool_result",
    "tool_status",
    "tool_error",
    "model_provider",
    "model_name",
    "model_version",
    "temperature",
    "top_p",
    "seed",
    "prompt_system",
    "prompt_messages",
    "completion",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "estimated_cost",
    "user_id",
    "ts",
    "agent_version",
    "considered_tools",
    "confidence",
    "tool_duration_ms",
    "model_key",
    "max_tokens",
    "tags",
    "metadata",
    "failed",
];

/// The erased fields' paths and kept hashes.
fn erased(r: &mut Reader, not_utf8: &mut Vec<&'static str>) -> Result<BTreeMap<String, String>, StoreError> {
    let count = r.map_len()?;
    let mut erased = BTreeMap::new();
    for _ in 0..count {
        erased.insert(text("erased", r, not_utf8)?, text("erased", r, not_utf8)?);
    }
    Ok(erased)
}

/// A row read, with what it stored by reference (`step_contents`).
type ReadRow = (IntegrityRow, Refs);

/// Decodes the query's RowBinaryWithNamesAndTypes answer: each row with
/// the keys of the content it refers to ([`Store::put_back_messages_of`]).
fn integrity_rows(out: &[u8]) -> Result<Vec<ReadRow>, StoreError> {
    let checked: Vec<(&'static str, &str)> = CHECKED
        .iter()
        .map(|name| {
            let column = flightlog_model::columns::column(name).expect("a checked column is a column of steps");
            (*name, without_low_cardinality(column.clickhouse_type))
        })
        .collect();
    let columns: Vec<(&str, &str)> = LEADING.iter().copied().chain(checked.iter().copied()).collect();
    let mut r = Reader::new(out, &columns)?;
    let mut rows = Vec::new();
    while !r.done() {
        let mut not_utf8 = Vec::new();
        let mut row = IntegrityRow {
            project: text("project", &mut r, &mut not_utf8)?,
            session_id: text("session_id", &mut r, &mut not_utf8)?,
            step: r.u64()?,
            log_index: r.u64()?,
            session_seq: r.u64()?,
            step_hash: text("step_hash", &mut r, &mut not_utf8)?,
            chain_hash: text("chain_hash", &mut r, &mut not_utf8)?,
            erased: erased(&mut r, &mut not_utf8)?,
            raw: text("raw", &mut r, &mut not_utf8)?,
            attributes: Vec::new(),
            columns: Vec::with_capacity(checked.len()),
            not_utf8: Vec::new(),
        };
        let refs = Refs::read(&mut r)?;
        for &(name, engine_type) in &checked {
            let value = read_checked(name, engine_type, &mut r, &mut not_utf8)?;
            row.columns.push((name, value));
        }
        row.not_utf8 = not_utf8;
        rows.push((row, refs));
    }
    Ok(rows)
}

impl Store {
    /// The rows with what they refer to in `step_contents` put back: their
    /// messages into `prompt_messages`, a text stored whole into its column
    /// or attribute, their span attributes stored in pieces: one read per
    /// project among them. Anything not stored leaves its column empty or
    /// its attribute out, so the step reads as changed.
    async fn put_back_messages_of(&self, read: Vec<ReadRow>) -> Result<Vec<IntegrityRow>, StoreError> {
        let mut projects: Vec<&str> = read.iter().filter(|(_, refs)| !refs.is_empty()).map(|(r, _)| r.project.as_str()).collect();
        projects.sort_unstable();
        projects.dedup();
        let mut found = Vec::with_capacity(projects.len());
        for project in projects {
            let mut wanted: Vec<(&str, &[String])> = Vec::new();
            for (r, refs) in read.iter().filter(|(r, _)| r.project == project) {
                wanted.extend(refs.keys().map(|keys| (r.session_id.as_str(), keys)));
            }
            found.push((project.to_string(), self.stored_messages(project, wanted).await?));
        }
        Ok(read
            .into_iter()
            .map(|(mut row, refs)| {
                if let Some((_, messages)) = found.iter().find(|(p, _)| *p == row.project) {
                    let columns = &mut row.columns;
                    row.attributes = refs.put_back(&row.session_id, messages, |name, text| {
                        if let Some((_, Stored::Text(column))) = columns.iter_mut().find(|(n, _)| *n == name) {
                            *column = text;
                        }
                    });
                }
                row
            })
            .collect())
    }

    /// Where each of the session's stored rows stands, in chain order
    /// (`session_seq`, then `log_index`): a few bytes a row, so that the
    /// rows themselves can be read a page at a time in that order.
    pub async fn session_chain_positions(&self, project: &str, session: &str) -> Result<Vec<ChainPosition>, StoreError> {
        crate::backend::rows(&self.ch.query(SESSION_CHAIN_POSITIONS, Params::new().text("project", project).text("session", session)).await?)
    }

    /// The session's rows stored under the step numbers `steps` whose place
    /// in its chain, (`session_seq`, `log_index`), lies in `places` (both
    /// ends included), at most `limit`, in step order: a primary-key read
    /// of those numbers alone. (A step number can also have a row at
    /// another place, a copy filed there by tampering: that row is another
    /// page's.)
    pub async fn session_integrity_rows_at(
        &self,
        project: &str,
        session: &str,
        steps: &[u64],
        places: std::ops::RangeInclusive<(u64, u64)>,
        limit: u32,
    ) -> Result<Vec<IntegrityRow>, StoreError> {
        let condition = "project = {project:String} AND session_id = {session:String} AND step IN {steps:Array(UInt64)} \
             AND (session_seq, log_index) >= ({first_seq:UInt64}, {first_index:UInt64}) \
             AND (session_seq, log_index) <= ({last_seq:UInt64}, {last_index:UInt64})";
        let (first, last) = places.into_inner();
        let params = Params::new()
            .text("project", project)
            .text("session", session)
            .numbers("steps", steps.iter().copied())
            .number("first_seq", first.0)
            .number("first_index", first.1)
            .number("last_seq", last.0)
            .number("last_index", last.1)
            .number("limit", limit);
        self.integrity_rows_where(condition, params).await
    }

    /// integrity_rows.sql's rows where `condition` holds, with what they
    /// refer to put back.
    async fn integrity_rows_where(&self, condition: &str, params: Params) -> Result<Vec<IntegrityRow>, StoreError> {
        let sql = INTEGRITY_ROWS.replace("{{where}}", condition);
        self.put_back_messages_of(integrity_rows(&self.ch.query_as(&sql, params, Format::RowBinaryWithNamesAndTypes).await?)?).await
    }

    /// One step's row, if stored.
    pub async fn step_integrity_row(&self, project: &str, session: &str, step: u64) -> Result<Option<IntegrityRow>, StoreError> {
        Ok(self.rows_of_key(project, session, step, 1).await?.into_iter().next())
    }

    /// Up to `limit` rows stored under one step's key (more than one only
    /// if a copy was inserted by tampering).
    async fn rows_of_key(&self, project: &str, session: &str, step: u64, limit: u32) -> Result<Vec<IntegrityRow>, StoreError> {
        let condition = "project = {project:String} AND session_id = {session:String} AND step = {step:UInt64}";
        let params = Params::new().text("project", project).text("session", session).number("step", step).number("limit", limit);
        self.integrity_rows_where(condition, params).await
    }

    /// `limit` rows of the whole table after the cursor (exclusive), in
    /// primary-key order, and every other row stored under the last one's
    /// key, so a page never ends inside a key; fewer only at the table's
    /// end. `None` starts at the beginning.
    pub async fn integrity_rows_after(
        &self,
        after: Option<(&str, &str, u64)>,
        limit: u32,
    ) -> Result<Vec<IntegrityRow>, StoreError> {
        let (sql, mut params): (String, Params) = match after {
            None => (INTEGRITY_ROWS.replace("{{where}}", "1"), Params::new()),
            Some((p, s, n)) => (
                // The cursor written out: the primary-key index does not
                // read a tuple comparison (alone, it made every page read
                // the table's keys from the start: quadratic, at 10M steps
                // the last pages took 0.1 s more), nor, inside one long
                // session, a bound on the session alone.
                INTEGRITY_ROWS.replace(
                    "{{where}}",
                    "(project > {p:String} OR (project = {p:String} AND (session_id > {s:String} \
                     OR (session_id = {s:String} AND step > {n:UInt64}))))",
                ),
                Params::new().text("p", p).text("s", s).number("n", n),
            ),
        };
        // One row more than asked: it tells whether the page's last key
        // goes on past the page's edge.
        params.push_number("limit", limit.saturating_add(1));
        let read = integrity_rows(&self.ch.query_as(&sql, params, Format::RowBinaryWithNamesAndTypes).await?)?;
        let mut rows = self.put_back_messages_of(read).await?;
        if rows.len() > limit as usize {
            // A key stored twice (a copy inserted by tampering) across the
            // page's edge would be split by the cursor, and its second copy
            // never read: then the key's rows are read whole, by a
            // primary-key look-up. (`LIMIT … WITH TIES` does the same but
            // cost 0.17 s more per page at 10M steps: it loses the lazy
            // reading of the content.) The page is kept as read when the
            // look-up finds no more (a key read with replacement characters
            // finds none; the caller refuses to page past it).
            let extra = rows.pop().expect("more rows than the limit");
            let same = |r: &IntegrityRow| r.project == extra.project && r.session_id == extra.session_id && r.step == extra.step;
            if rows.last().is_some_and(same) {
                let in_page = rows.iter().filter(|r| same(r)).count();
                let copies = self.rows_of_key(&extra.project, &extra.session_id, extra.step, MAX_COPIES).await?;
                if copies.len() > in_page {
                    rows.retain(|r| !same(r));
                    rows.extend(copies);
                }
            }
        }
        Ok(rows)
    }
}
