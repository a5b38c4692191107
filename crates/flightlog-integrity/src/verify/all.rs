//! `verify --all`: every step of every project, the whole log and every
//! checkpoint, reading the steps table a page at a time.

use super::*;
use crate::read_ahead::ReadAhead;
use std::sync::{Arc, Mutex};

/// Steps read per page (see `StoredPages`). Over 1M steps, `verify --all`
/// peaked at 588 MiB and 34,640 steps/s with two pages of 6,000 in memory;
/// when the reader could hold a third, 653 MiB at 6,000 and 904–960 MiB
/// (6% faster) at 10,000.
const PAGE: u32 = 6_000;
/// Rows of one session `verify_all` holds to check it, at most: a longer
/// session is checked apart (`check_session_apart`).
const HELD_ROWS: usize = 20_000;

/// Verifies every step of every project, the whole log and every
/// checkpoint, reading the steps a page at a time. `trusted_key` is the
/// instance's public key (hex): only expiry records it signed excuse a
/// step missing from storage.
pub async fn verify_all(store: &Store, trusted_key: Option<&str>) -> Result<Report, StoreError> {
    let (mut log, checkpoint) = check_log(store, trusted_key, true).await?;
    take_erasures(store, trusted_key, &mut log, None).await?;
    let mut report = Report { checkpoint, ..Report::default() };
    for p in &log.problems {
        report.problem(p.clone());
    }
    report.problem_count += log.problem_count - log.problems.len() as u64;
    // Sessions come a page of rows at a time, each with what the log says
    // at its rows' positions (one look-up per page), the next page read
    // while this one is checked. A session is checked once all its rows
    // are in.
    let mut accounted = RoaringTreemap::new();
    let mut pending: Vec<IntegrityRow> = Vec::new();
    let mut at_positions: HashMap<u64, Vec<LogEntry>> = HashMap::new();
    let mut apart: Option<(String, String)> = None;
    let mut pending_is_text = true;
    let mut pages = StoredPages::new(store.clone());
    while let Some(page) = pages.next().await {
        let Page { rows, logged } = page?;
        for e in logged {
            at_positions.entry(e.log_index).or_default().push(e);
        }
        for row in rows {
            if key_is_text(&row) && apart.as_ref().is_some_and(|(p, s)| *p == row.project && *s == row.session_id) {
                take_own_entries(&row, &mut at_positions, &mut accounted);
                continue;
            }
            let same = pending.last().is_some_and(|p| p.project == row.project && p.session_id == row.session_id);
            if !same {
                check_stored_session(&mut pending, &mut at_positions, &mut accounted, &log, &mut report);
                pending_is_text = true;
            }
            pending_is_text &= key_is_text(&row);
            pending.push(row);
            // A session this long is checked apart, a page at a time in
            // its chain's order, and its later rows here only accounted
            // for: held whole, a session of 500,000 steps took `verify
            // --all` to 2.7 GB. Not while any of its rows has a key that
            // is not text: read by its text, that key reads as another's
            // (or as none), and those rows would go unchecked.
            if pending.len() >= HELD_ROWS && pending_is_text {
                let last = pending.last().expect("just pushed");
                let (project, session) = (last.project.clone(), last.session_id.clone());
                for r in pending.drain(..) {
                    take_own_entries(&r, &mut at_positions, &mut accounted);
                }
                pages.skip_session(&project, &session);
                check_session_apart(store, &project, &session, &log, &mut accounted, &mut report).await?;
                apart = Some((project, session));
            }
        }
    }
    check_stored_session(&mut pending, &mut at_positions, &mut accounted, &log, &mut report);
    // Entries of the log whose step is stored nowhere (their session's or
    // not at all), unless retention removed it: the log's positions less
    // those accounted for, so the log is read again only where something
    // is missing (it used to be a second pass over the whole log).
    let mut unaccounted = std::mem::take(&mut log.positions);
    unaccounted -= &accounted;
    unaccounted -= &log.expired_positions;
    let mut chunk: Vec<u64> = Vec::with_capacity(PAGE as usize);
    let mut unaccounted = unaccounted.into_iter().peekable();
    while unaccounted.peek().is_some() {
        chunk.clear();
        chunk.extend(unaccounted.by_ref().take(PAGE as usize));
        for e in store.log_entries_at(&chunk).await? {
            report.problem(Problem {
                kind: ProblemKind::Deleted,
                detail: format!("step {} (log position {}) is in the log but no longer stored: deleted", e.step, e.log_index),
                session_id: Some(e.session_id),
                step: Some(e.step),
                log_index: Some(e.log_index),
            });
        }
    }
    report.expired = log.expired;
    Ok(report.finish())
}

/// A page of stored steps, in primary-key order, and the log of record's
/// entries at their positions.
struct Page {
    rows: Vec<IntegrityRow>,
    logged: Vec<LogEntry>,
}

/// Reads the steps table a page at a time, one page ahead of the checks
/// (read_ahead.rs).
struct StoredPages {
    pages: ReadAhead<Page>,
    /// A key to go on after, if it is further than the reader's cursor:
    /// the rest of a session checked apart is not read.
    skip: Arc<Mutex<Option<(String, String, u64)>>>,
}

impl StoredPages {
    fn new(store: Store) -> Self {
        let skip: Arc<Mutex<Option<(String, String, u64)>>> = Arc::default();
        let skip_to = skip.clone();
        let pages = ReadAhead::start(|feed| async move {
            let mut cursor: Option<(String, String, u64)> = None;
            loop {
                let Some(slot) = feed.slot().await else { return };
                let skip = skip_to.lock().expect("not poisoned").take();
                if skip.is_some() && skip > cursor {
                    cursor = skip;
                }
                let read = async {
                    let rows = store.integrity_rows_after(cursor.as_ref().map(|(p, s, n)| (p.as_str(), s.as_str(), *n)), PAGE).await?;
                    let positions: Vec<u64> = rows.iter().map(|r| r.log_index).collect();
                    let logged = store.log_entries_at(&positions).await?;
                    Ok(Page { rows, logged })
                };
                let (page, next) = match read.await.and_then(|p| next_cursor(&p).map(|next| (p, next))) {
                    Ok((p, next)) => (Ok(p), next),
                    Err(e) => (Err(e), None),
                };
                slot.send(page);
                if next.is_none() {
                    return;
                }
                cursor = next;
            }
        });
        StoredPages { pages, skip }
    }

    /// Reads no more rows of this session than the reader already has
    /// (the last page read may hold some).
    fn skip_session(&self, project: &str, session: &str) {
        *self.skip.lock().expect("not poisoned") = Some((project.to_string(), session.to_string(), u64::MAX));
    }

    /// The next page; `None` once every page was read.
    async fn next(&mut self) -> Option<Result<Page, StoreError>> {
        self.pages.next().await
    }
}

/// Where the page after this one starts: `None` after the last page (not
/// full; a full page holds its last key whole, see
/// `Store::integrity_rows_after`). Only from a key read exactly: a project
/// or session id that is not UTF-8 text was read with replacement
/// characters, and a cursor made of those would restart or skip (it sorts
/// elsewhere).
fn next_cursor(page: &Page) -> Result<Option<(String, String, u64)>, StoreError> {
    let Some(r) = page.rows.last().filter(|_| page.rows.len() >= PAGE as usize) else { return Ok(None) };
    if let Some(key) = r.not_utf8.iter().find(|c| **c == "project" || **c == "session_id") {
        return Err(StoreError::Decode(format!(
            "the {} of stored step {} (log position {}) is not UTF-8 text: verification cannot page past it",
            if *key == "project" { "project" } else { "session id" },
            r.step,
            r.log_index
        )));
    }
    Ok(Some((r.project.clone(), r.session_id.clone(), r.step)))
}

/// Checks the rows of one stored session against each other and against
/// the log's entries at their positions (taken out of `at_positions`), and
/// marks the positions where the log's entry is of this session as
/// accounted for. A position shared by entries of two sessions (an
/// inserted entry) is accounted for by either: the log check has already
/// named it as used twice.
fn check_stored_session(
    rows: &mut Vec<IntegrityRow>,
    at_positions: &mut HashMap<u64, Vec<LogEntry>>,
    accounted: &mut RoaringTreemap,
    log: &LogState,
    report: &mut Report,
) {
    let mut logged = Vec::new();
    for r in rows.iter() {
        logged.extend(take_own_entries(r, at_positions, accounted));
    }
    check_session(rows, &logged, log, report);
    rows.clear();
}

/// Whether the row's project and session id were read exactly (not UTF-8
/// text, they are read with replacement characters).
fn key_is_text(row: &IntegrityRow) -> bool {
    !row.not_utf8.iter().any(|c| *c == "project" || *c == "session_id")
}

/// Takes the log's entries of `row`'s own session at its position out of
/// `at_positions`, and marks their positions accounted for. Another
/// session's row may claim the same position, and its check needs what
/// the log says there: those stay.
fn take_own_entries(row: &IntegrityRow, at_positions: &mut HashMap<u64, Vec<LogEntry>>, accounted: &mut RoaringTreemap) -> Vec<LogEntry> {
    let Some(here) = at_positions.get_mut(&row.log_index) else { return Vec::new() };
    let (own, others): (Vec<LogEntry>, Vec<LogEntry>) =
        here.drain(..).partition(|e| e.project == row.project && e.session_id == row.session_id);
    *here = others;
    if here.is_empty() {
        at_positions.remove(&row.log_index);
    }
    for e in &own {
        accounted.insert(e.log_index);
    }
    own
}

/// Checks a session too long to hold (see `verify_all`) a page at a time
/// in its chain's order, each page against the log's entries of the
/// session at its rows' positions, which are accounted for.
async fn check_session_apart(
    store: &Store,
    project: &str,
    session: &str,
    log: &LogState,
    accounted: &mut RoaringTreemap,
    report: &mut Report,
) -> Result<(), StoreError> {
    let mut pages = ChainPages::open(store, project, session).await?;
    let mut check = SessionCheck::new(log);
    while let Some(rows) = pages.next().await? {
        let positions: Vec<u64> = rows.iter().map(|r| r.log_index).collect();
        let mut logged = store.log_entries_at(&positions).await?;
        logged.retain(|e| e.project == project && e.session_id == session);
        for e in &logged {
            accounted.insert(e.log_index);
        }
        let by_index: HashMap<u64, &LogEntry> = logged.iter().map(|e| (e.log_index, e)).collect();
        check.rows(&rows, &by_index, report);
    }
    Ok(())
}

