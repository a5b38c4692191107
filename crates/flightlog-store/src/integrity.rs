//! Reading back what verification checks.
//!
//! Rows are read as RowBinary: each carries its content twice (`raw` and
//! the typed columns that must agree with it), and as JSON the engine
//! escaped every quote of both and the reader unescaped them again, a
//! third of `verify --all`'s time.

use crate::backend::{Format, Params, StoreError};
use crate::rowbinary::Reader;
use crate::Store;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

const INTEGRITY_ROWS: &str = include_str!("queries/integrity_rows.sql");

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
    pub raw: String,
    /// The typed columns, by name, that must agree with `raw`.
    pub columns: Map<String, Value>,
}

/// How a checked column is typed, and so read.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Count,
    MaybeFloat,
    MaybeInt,
}

impl Kind {
    fn engine_type(self) -> &'static str {
        match self {
            Kind::Text => "String",
            Kind::Count => "UInt64",
            Kind::MaybeFloat => "Nullable(Float64)",
            Kind::MaybeInt => "Nullable(Int64)",
        }
    }

    fn read(self, r: &mut Reader) -> Result<Value, StoreError> {
        Ok(match self {
            Kind::Text => Value::String(r.string()?),
            Kind::Count => Value::from(r.u64()?),
            Kind::MaybeFloat => r.nullable(Reader::f64)?.map_or(Value::Null, Value::from),
            Kind::MaybeInt => r.nullable(Reader::i64)?.map_or(Value::Null, Value::from),
        })
    }
}

/// What `integrity_rows.sql` selects before the checked columns.
const LEADING: [(&str, &str); 9] = [
    ("project", "String"),
    ("session_id", "String"),
    ("step", "UInt64"),
    ("log_index", "UInt64"),
    ("session_seq", "UInt64"),
    ("step_hash", "String"),
    ("chain_hash", "String"),
    ("erased", "Map(String, String)"),
    ("raw", "String"),
];

/// The typed columns verification compares with the content, in the
/// query's order.
const CHECKED: [(&str, Kind); 24] = [
    ("agent_name", Kind::Text),
    ("reasoning", Kind::Text),
    ("chosen_tool", Kind::Text),
    ("tool_name", Kind::Text),
    ("tool_params", Kind::Text),
    ("tool_result", Kind::Text),
    ("tool_status", Kind::Text),
    ("tool_error", Kind::Text),
    ("model_provider", Kind::Text),
    ("model_name", Kind::Text),
    ("model_version", Kind::Text),
    ("temperature", Kind::MaybeFloat),
    ("top_p", Kind::MaybeFloat),
    ("seed", Kind::MaybeInt),
    ("prompt_system", Kind::Text),
    ("prompt_messages", Kind::Text),
    ("completion", Kind::Text),
    ("input_tokens", Kind::Count),
    ("output_tokens", Kind::Count),
    ("cache_read_tokens", Kind::Count),
    ("cache_write_tokens", Kind::Count),
    ("reasoning_tokens", Kind::Count),
    ("estimated_cost", Kind::MaybeFloat),
    ("user_id", Kind::Text),
];

/// Decodes the query's RowBinaryWithNamesAndTypes answer.
fn integrity_rows(out: &[u8]) -> Result<Vec<IntegrityRow>, StoreError> {
    let columns: Vec<(&str, &str)> =
        LEADING.iter().copied().chain(CHECKED.iter().map(|(name, kind)| (*name, kind.engine_type()))).collect();
    let mut r = Reader::new(out, &columns)?;
    let mut rows = Vec::new();
    while !r.done() {
        let mut row = IntegrityRow {
            project: r.string()?,
            session_id: r.string()?,
            step: r.u64()?,
            log_index: r.u64()?,
            session_seq: r.u64()?,
            step_hash: r.string()?,
            chain_hash: r.string()?,
            erased: r.string_map()?.into_iter().collect(),
            raw: r.string()?,
            columns: Map::new(),
        };
        for (name, kind) in CHECKED {
            row.columns.insert(name.to_string(), kind.read(&mut r)?);
        }
        rows.push(row);
    }
    Ok(rows)
}

impl Store {
    /// Up to `limit` rows of one session, in step order.
    pub async fn session_integrity_rows(&self, project: &str, session: &str, limit: u32) -> Result<Vec<IntegrityRow>, StoreError> {
        let sql = INTEGRITY_ROWS.replace("{{where}}", "project = {project:String} AND session_id = {session:String}");
        let params = Params::new().text("project", project).text("session", session).number("limit", limit);
        integrity_rows(&self.ch.query_as(&sql, params, Format::RowBinaryWithNamesAndTypes).await?)
    }

    /// One step's row, if stored.
    pub async fn step_integrity_row(&self, project: &str, session: &str, step: u64) -> Result<Option<IntegrityRow>, StoreError> {
        let sql = INTEGRITY_ROWS
            .replace("{{where}}", "project = {project:String} AND session_id = {session:String} AND step = {step:UInt64}");
        let params = Params::new().text("project", project).text("session", session).number("step", step).number("limit", 1u32);
        Ok(integrity_rows(&self.ch.query_as(&sql, params, Format::RowBinaryWithNamesAndTypes).await?)?.into_iter().next())
    }

    /// Up to `limit` rows of the whole table after the cursor (exclusive),
    /// in primary-key order; `None` starts at the beginning.
    pub async fn integrity_rows_after(
        &self,
        after: Option<(&str, &str, u64)>,
        limit: u32,
    ) -> Result<Vec<IntegrityRow>, StoreError> {
        let (sql, mut params): (String, Params) = match after {
            None => (INTEGRITY_ROWS.replace("{{where}}", "1"), Params::new()),
            Some((p, s, n)) => (
                INTEGRITY_ROWS.replace("{{where}}", "(project, session_id, step) > ({p:String}, {s:String}, {n:UInt64})"),
                Params::new().text("p", p).text("s", s).number("n", n),
            ),
        };
        params.push_number("limit", limit);
        integrity_rows(&self.ch.query_as(&sql, params, Format::RowBinaryWithNamesAndTypes).await?)
    }
}
