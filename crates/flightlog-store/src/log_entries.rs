//! Reading the log of record (`log_entries`, one entry per accepted step,
//! in position order): whole, a stretch at a time, at given positions, or
//! one session's.

use crate::backend::{Format, Params, StoreError};
use crate::rowbinary::Reader;
use crate::steps::LogEntry;
use crate::Store;

const LOG_LEAVES: &str = include_str!("queries/log_leaves.sql");
const LOG_ENTRY_AT: &str = include_str!("queries/log_entry_at.sql");
const LOG_ENTRIES_PAGE: &str = include_str!("queries/log_entries_page.sql");
const LOG_ENTRIES_AT: &str = include_str!("queries/log_entries_at.sql");
const LOG_ENTRIES_OF_SESSION: &str = include_str!("queries/log_entries_of_session.sql");
const LOG_CENSUS_BELOW: &str = include_str!("queries/log_census_below.sql");

/// What every query here selects. Read as RowBinary: the hash comes as
/// its 32 bytes rather than 64 hex digits in JSON, and reading the log is
/// a tenth of `verify --all`.
const ENTRY: [(&str, &str); 5] =
    [("log_index", "UInt64"), ("project", "String"), ("session_id", "String"), ("step", "UInt64"), ("step_hash", "FixedString(32)")];

fn decode_entries(out: &[u8]) -> Result<Vec<LogEntry>, StoreError> {
    let mut r = Reader::new(out, &ENTRY)?;
    let mut entries = Vec::new();
    while !r.done() {
        entries.push(LogEntry { log_index: r.u64()?, project: r.string()?, session_id: r.string()?, step: r.u64()?, step_hash: r.fixed()? });
    }
    Ok(entries)
}

impl Store {
    /// The log entries a query selects.
    async fn entries(&self, sql: &str, params: Params) -> Result<Vec<LogEntry>, StoreError> {
        decode_entries(&self.ch.query_as(sql, params, Format::RowBinaryWithNamesAndTypes).await?)
    }

    /// The log of record, in log order (all of it in memory: for small
    /// logs and tests; verification reads it a stretch at a time).
    pub async fn log_entries(&self) -> Result<Vec<LogEntry>, StoreError> {
        self.entries(LOG_LEAVES, Params::new()).await
    }

    /// The entry of the log of record at one position.
    pub async fn log_entry_at(&self, log_index: u64) -> Result<Option<LogEntry>, StoreError> {
        Ok(self.entries(LOG_ENTRY_AT, Params::new().number("log_index", log_index)).await?.into_iter().next())
    }

    /// The entries at these positions (several at one position when the
    /// log was tampered with), in position order.
    pub async fn log_entries_at(&self, positions: &[u64]) -> Result<Vec<LogEntry>, StoreError> {
        if positions.is_empty() {
            return Ok(Vec::new());
        }
        self.entries(LOG_ENTRIES_AT, Params::new().numbers("positions", positions.iter().copied())).await
    }

    /// How many entries lie below position `size`, and at how many distinct
    /// positions: (size, size) when none of them is missing or repeated.
    pub async fn log_census_below(&self, size: u64) -> Result<(u64, u64), StoreError> {
        #[derive(serde::Deserialize)]
        struct Census {
            entries: u64,
            positions: u64,
        }
        let found = crate::backend::rows::<Census>(&self.ch.query(LOG_CENSUS_BELOW, Params::new().number("size", size)).await?)?;
        Ok(found.first().map_or((0, 0), |c| (c.entries, c.positions)))
    }

    /// One session's entries, in log order.
    pub async fn log_entries_of_session(&self, project: &str, session: &str) -> Result<Vec<LogEntry>, StoreError> {
        self.entries(LOG_ENTRIES_OF_SESSION, Params::new().text("project", project).text("session", session)).await
    }

    /// Calls `each` with every entry of the log of record, in log order,
    /// reading `page` positions at a time so that memory holds one page,
    /// not the log. Returns how many there were.
    pub async fn for_each_log_entry(&self, page: u64, mut each: impl FnMut(LogEntry)) -> Result<u64, StoreError> {
        let end = self.next_log_index().await?;
        let (mut from, mut seen) = (0, 0);
        while from < end {
            let count = page.min(end - from);
            for e in self.entries(LOG_ENTRIES_PAGE, Params::new().number("from", from).number("count", count)).await? {
                each(e);
                seen += 1;
            }
            from += count;
        }
        Ok(seen)
    }
}
