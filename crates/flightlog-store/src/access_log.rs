//! The access log (`access_log`, schema/0016_access_log.sql): who read
//! which step content, when and through what. Only ever appended to; the
//! one query reads it a page at a time, newest first.

use crate::backend::{Params, StoreError, column, rows};
use crate::rowbinary::RowBinary;
use crate::Store;

const INSERT_ACCESS: &str = "INSERT INTO access_log (project, at_us, read_id, key_id, front_end, route, session_id, \
    filter, user_id, sessions, user_ids, items, whole_project)";
const ACCESS_LOG_PAGE: &str = include_str!("queries/access_log_page.sql");

/// One read of step content, as stored. The meaning of each column is in
/// schema/0016_access_log.sql.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AccessRow {
    #[serde(default)]
    pub project: String,
    pub at_us: i64,
    pub read_id: String,
    pub key_id: String,
    pub front_end: String,
    pub route: String,
    pub session_id: String,
    pub filter: String,
    pub user_id: String,
    pub sessions: Vec<String>,
    pub user_ids: Vec<String>,
    pub items: u64,
    pub whole_project: bool,
}

/// Which reads of a project to list; empty strings match every read.
#[derive(Clone, Debug, PartialEq)]
pub struct AccessFilter {
    pub session_id: String,
    pub user_id: String,
    pub key_id: String,
    /// Reads at or after (µs).
    pub from_us: i64,
    /// Reads before (µs).
    pub to_us: i64,
    /// The (at_us, read_id) of the last read of the page before.
    pub before: Option<(i64, String)>,
    pub limit: u32,
}

impl Default for AccessFilter {
    fn default() -> Self {
        Self {
            session_id: String::new(),
            user_id: String::new(),
            key_id: String::new(),
            from_us: 0,
            to_us: i64::MAX,
            before: None,
            limit: 100,
        }
    }
}

impl Store {
    /// The users of these steps of `project` (session, step), each once:
    /// a search's, for the record of the read.
    pub async fn users_of_steps(&self, project: &str, steps: &[(&str, u64)]) -> Result<Vec<String>, StoreError> {
        if steps.is_empty() {
            return Ok(Vec::new());
        }
        let params = Params::new()
            .text("project", project)
            .texts("sessions", steps.iter().map(|(s, _)| *s))
            .numbers("steps", steps.iter().map(|(_, n)| *n));
        column(&self.ch.query(include_str!("queries/users_of_steps.sql"), params).await?)
    }

    /// Appends reads, in one insert; returns once they are durable.
    pub async fn record_access(&self, reads: &[AccessRow]) -> Result<(), StoreError> {
        if reads.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        let mut w = RowBinary(&mut buf);
        for r in reads {
            w.string(&r.project);
            w.i64(r.at_us);
            w.string(&r.read_id);
            w.string(&r.key_id);
            w.string(&r.front_end);
            w.string(&r.route);
            w.string(&r.session_id);
            w.string(&r.filter);
            w.string(&r.user_id);
            w.strings(&r.sessions);
            w.strings(&r.user_ids);
            w.u64(r.items);
            w.bool(r.whole_project);
        }
        self.ch.insert(INSERT_ACCESS, buf).await?;
        Ok(())
    }

    /// One page of a project's reads, newest first.
    pub async fn access_log(&self, project: &str, f: &AccessFilter) -> Result<Vec<AccessRow>, StoreError> {
        let (before_us, before_id) = f.before.clone().unwrap_or((i64::MAX, String::new()));
        let params = Params::new()
            .text("project", project)
            .text("session", &f.session_id)
            .text("user", &f.user_id)
            .text("key_id", &f.key_id)
            .number("from_us", f.from_us)
            .number("to_us", f.to_us)
            .number("before_us", before_us)
            .text("before_id", &before_id)
            .number("limit", f.limit);
        let mut found: Vec<AccessRow> = rows(&self.ch.query(ACCESS_LOG_PAGE, params).await?)?;
        for r in &mut found {
            r.project = project.to_string();
        }
        Ok(found)
    }
}
