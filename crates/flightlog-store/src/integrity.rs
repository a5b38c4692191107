//! Reading back what verification checks.

use crate::backend::{Params, StoreError, rows};
use crate::Store;
use std::collections::BTreeMap;

const INTEGRITY_ROWS: &str = include_str!("queries/integrity_rows.sql");

/// One stored step as verification sees it.
#[derive(Clone, Debug, serde::Deserialize)]
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
    #[serde(flatten)]
    pub columns: serde_json::Map<String, serde_json::Value>,
}

impl Store {
    /// Up to `limit` rows of one session, in step order.
    pub async fn session_integrity_rows(&self, project: &str, session: &str, limit: u32) -> Result<Vec<IntegrityRow>, StoreError> {
        let sql = INTEGRITY_ROWS.replace("{{where}}", "project = {project:String} AND session_id = {session:String}");
        let params = Params::new().text("project", project).text("session", session).number("limit", limit);
        rows(&self.ch.query(&sql, params).await?)
    }

    /// One step's row, if stored.
    pub async fn step_integrity_row(&self, project: &str, session: &str, step: u64) -> Result<Option<IntegrityRow>, StoreError> {
        let sql = INTEGRITY_ROWS
            .replace("{{where}}", "project = {project:String} AND session_id = {session:String} AND step = {step:UInt64}");
        let params = Params::new().text("project", project).text("session", session).number("step", step).number("limit", 1u32);
        Ok(rows(&self.ch.query(&sql, params).await?)?.into_iter().next())
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
        rows(&self.ch.query(&sql, params).await?)
    }
}
