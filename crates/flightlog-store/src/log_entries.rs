//! Reading the log of record (`log_entries`, one entry per accepted step,
//! in position order): whole, a stretch at a time, at given positions, or
//! one session's.

use crate::backend::{Params, StoreError, rows};
use crate::steps::{LogEntry, decode_hash};
use crate::Store;

const LOG_LEAVES: &str = include_str!("queries/log_leaves.sql");
const LOG_ENTRY_AT: &str = include_str!("queries/log_entry_at.sql");
const LOG_ENTRIES_PAGE: &str = include_str!("queries/log_entries_page.sql");
const LOG_ENTRIES_AT: &str = include_str!("queries/log_entries_at.sql");
const LOG_ENTRIES_OF_SESSION: &str = include_str!("queries/log_entries_of_session.sql");

/// An entry as the queries return it (the hash in hex).
#[derive(serde::Deserialize)]
struct EntryRow {
    log_index: u64,
    project: String,
    session_id: String,
    step: u64,
    step_hash: String,
}

fn entries(out: &[u8]) -> Result<Vec<LogEntry>, StoreError> {
    rows::<EntryRow>(out)?
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

impl Store {
    /// The log of record, in log order (all of it in memory: for small
    /// logs and tests; verification reads it a stretch at a time).
    pub async fn log_entries(&self) -> Result<Vec<LogEntry>, StoreError> {
        entries(&self.ch.query(LOG_LEAVES, Params::new()).await?)
    }

    /// The entry of the log of record at one position.
    pub async fn log_entry_at(&self, log_index: u64) -> Result<Option<LogEntry>, StoreError> {
        Ok(entries(&self.ch.query(LOG_ENTRY_AT, Params::new().number("log_index", log_index)).await?)?.into_iter().next())
    }

    /// The entries at these positions (several at one position when the
    /// log was tampered with), in position order.
    pub async fn log_entries_at(&self, positions: &[u64]) -> Result<Vec<LogEntry>, StoreError> {
        if positions.is_empty() {
            return Ok(Vec::new());
        }
        entries(&self.ch.query(LOG_ENTRIES_AT, Params::new().numbers("positions", positions.iter().copied())).await?)
    }

    /// One session's entries, in log order.
    pub async fn log_entries_of_session(&self, project: &str, session: &str) -> Result<Vec<LogEntry>, StoreError> {
        entries(&self.ch.query(LOG_ENTRIES_OF_SESSION, Params::new().text("project", project).text("session", session)).await?)
    }

    /// Calls `each` with every entry of the log of record, in log order,
    /// reading `page` positions at a time so that memory holds one page,
    /// not the log. Returns how many there were.
    pub async fn for_each_log_entry(&self, page: u64, mut each: impl FnMut(LogEntry)) -> Result<u64, StoreError> {
        let end = self.next_log_index().await?;
        let (mut from, mut seen) = (0, 0);
        while from < end {
            let count = page.min(end - from);
            for e in entries(&self.ch.query(LOG_ENTRIES_PAGE, Params::new().number("from", from).number("count", count)).await?)? {
                each(e);
                seen += 1;
            }
            from += count;
        }
        Ok(seen)
    }
}
