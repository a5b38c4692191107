//! Verification: recompute everything from stored content, compare with
//! what was recorded and sealed, and name what is wrong and where.
//!
//! What each check catches:
//! - **content → step hash**: a field edited in the stored JSON (a step's
//!   hash is recomputed from its fields, with erased fields' kept hashes);
//! - **typed columns ↔ content**: a column (what the UI and queries show)
//!   edited without its JSON, named by column;
//! - **session chain** (acceptance order, `session_seq` 0, 1, 2…): a deleted
//!   step (a gap), an inserted one (a repeated position or broken link), a
//!   reordering (broken links);
//! - **steps ↔ the log of record** (`log_entries`, one entry per accepted
//!   step): a stored step deleted, inserted, moved or rewritten together
//!   with its hashes, named by session and step;
//! - **the log of record vs the signed checkpoints**: the log itself
//!   altered, truncated, or with entries removed;
//! - **checkpoints**: each signature, and each consistent with the one
//!   before (the log only grew).
//!
//! Steps accepted after the latest checkpoint are reported as not yet
//! sealed, never as verified.

use crate::cover::{Cover, expiry_signed};
use crate::signer::checkpoint_signature_valid;
use flightlog_model::retention::ExpiryKind;
use flightlog_store::ExpirationRow;
use flightlog_model::integrity::{chain_next, chain_seed, is_erasable, step_hash, stored_step_hash};
use flightlog_model::merkle::{Frontier, Hash, hash_from_hex, leaf_hash, verify_inclusion};
use flightlog_model::stored::{REBUILT, left_to_column};
use rayon::prelude::*;
use roaring::RoaringTreemap;
use flightlog_model::{Limits, Step, step_from_json};
use crate::chain_pages::ChainPages;
use crate::off_the_async_threads;
use crate::sealed::SealCache;
use flightlog_store::{CheckpointRow, IntegrityRow, LogEntry, Store, StoreError, Stored};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};

mod all;
mod content;
mod report;
pub use all::verify_all;
pub use report::{ErasedField, Expired, Problem, ProblemKind, Report, ReportStatus};
pub(crate) use content::{field_is_null, not_erasable, restored};
use content::*;
use report::{MAX_LISTED, checkpoint_json, problem};

/// The most entries of one session proven from the stored nodes rather
/// than by reading the whole log.
const MAX_PROVEN_APART: usize = 100_000;

/// The log of record checked against the checkpoints, once per
/// verification; the per-session checks use it. The log itself is read a
/// stretch at a time, never held; what grows with it is the bitmap of its
/// positions (8 KiB per 65,536).
#[derive(Default)]
struct LogState {
    /// Entries in the log of record (its leaves).
    leaves: u64,
    /// The largest signed checkpoint that the log of record still
    /// reproduces: the steps at positions below it are sealed and proven.
    sealed_size: u64,
    /// Problems of the log itself (not of one session): the first
    /// [`MAX_LISTED`], and how many there are.
    problems: Vec<Problem>,
    problem_count: u64,
    /// Log positions whose steps retention removed, under a valid signed
    /// record naming their session: not stored, and rightly so.
    expired_positions: RoaringTreemap,
    /// The positions the log of record holds: 8 KiB per 65,536 of them
    /// (1.2 MiB at 10M, 12 MiB at 100M). Kept only for `verify_all`, which
    /// looks for entries no stored step accounts for; empty otherwise.
    positions: RoaringTreemap,
    /// Where each session's chain resumes after removed steps:
    /// (project, session) -> [(next position, link)].
    resumes: HashMap<(String, String), Vec<(u64, Hash)>>,
    /// The valid records, as reports list them.
    expired: Vec<Expired>,
    /// The signed erasure and content expiry records: an erased field is
    /// lawful under one that covers it ([`LogState::erasure_recorded`]).
    cover: Cover,
}

impl LogState {
    /// Whether a record explains `row`'s erased fields: a signed erasure
    /// record covering it, or a signed content expiry listing its position.
    fn erasure_recorded(&self, row: &IntegrityRow) -> bool {
        self.cover.covers(&row.project, &row.session_id, user_of(row), row.log_index)
    }

    fn problem(&mut self, p: Problem) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(p);
        }
    }
}

fn log_problem(kind: ProblemKind, log_index: Option<u64>, detail: String) -> Problem {
    Problem { kind, session_id: None, step: None, log_index, detail }
}

/// Positions of the log of record read per page.
const LOG_PAGE: u64 = 100_000;

/// `trusted_key`: the instance's own public key (hex). Only records it
/// signed count as expiries; without it, none does. Never the keys found
/// in storage: anyone who can write there can add a checkpoint signed with
/// a key of their own.
///
/// One pass over the log: positions are checked as they come, and the
/// root of the log's first n entries is taken from a Merkle frontier
/// (O(log n) hashes) as n reaches each checkpoint's size. Two checkpoints
/// whose roots the same log reproduces are consistent by construction, so
/// no consistency proof is needed between them. `keep_positions` keeps the
/// bitmap of the log's positions (see [`LogState::positions`]).
async fn check_log(store: &Store, trusted_key: Option<&str>, keep_positions: bool) -> Result<(LogState, Option<Value>), StoreError> {
    let checkpoints = store.checkpoints().await?;
    let signed: Vec<bool> =
        checkpoints.iter().map(checkpoint_signature_valid).collect();
    let mut wanted: Vec<u64> = checkpoints.iter().zip(&signed).filter(|(_, ok)| **ok).map(|(c, _)| c.tree_size).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut wanted = wanted.into_iter().peekable();
    let mut roots: HashMap<u64, Hash> = HashMap::new();
    let mut log = LogState::default();
    let mut frontier = Frontier::default();
    let mut take_roots = |frontier: &Frontier, roots: &mut HashMap<u64, Hash>| {
        while let Some(size) = wanted.next_if(|s| *s <= frontier.size()) {
            if size == frontier.size() {
                roots.insert(size, frontier.root());
            }
        }
    };
    take_roots(&frontier, &mut roots);
    // Positions run 0, 1, 2… with nothing missing or repeated.
    let mut expected = 0u64;
    let mut gaps: Vec<Problem> = Vec::new();
    let mut gap_count = 0u64;
    let mut positions = RoaringTreemap::new();
    store
        .for_each_log_entry(LOG_PAGE, |e| {
            let found = if e.log_index > expected {
                Some(log_problem(
                    ProblemKind::LogGap,
                    Some(expected),
                    format!("log positions {expected}..{} were removed from the log of record", e.log_index - 1),
                ))
            } else if e.log_index < expected {
                Some(log_problem(
                    ProblemKind::RepeatedPosition,
                    Some(e.log_index),
                    format!("log position {} is used twice: an entry was inserted", e.log_index),
                ))
            } else {
                None
            };
            if let Some(p) = found {
                gap_count += 1;
                if gaps.len() < MAX_LISTED {
                    gaps.push(p);
                }
            }
            expected = e.log_index + 1;
            if keep_positions {
                positions.insert(e.log_index);
            }
            frontier.push(leaf_hash(&e.step_hash));
            take_roots(&frontier, &mut roots);
        })
        .await?;
    log.leaves = frontier.size();
    log.positions = positions;
    log.problem_count = gap_count;
    log.problems = gaps;

    let mut latest_json = None;
    for (c, signed) in checkpoints.iter().zip(signed) {
        if !signed {
            log.problem(log_problem(ProblemKind::BadSignature, None, format!("the checkpoint of size {} has an invalid signature", c.tree_size)));
        } else if log.leaves < c.tree_size {
            log.problem(log_problem(
                ProblemKind::LogTruncated,
                Some(log.leaves),
                format!(
                    "the checkpoint of size {} covers more entries than the {} left: the tail of the log was removed",
                    c.tree_size, log.leaves
                ),
            ));
        } else if roots.get(&c.tree_size) != Some(&c.root_hash) {
            log.problem(log_problem(
                ProblemKind::LogMismatch,
                None,
                format!(
                    "the first {} log entries do not hash to the root signed at size {}: entries were altered, \
                     inserted, removed or reordered",
                    c.tree_size, c.tree_size
                ),
            ));
        } else if trusted_key.is_none_or(|k| k.eq_ignore_ascii_case(&c.public_key)) {
            // Consistent with the log and, when the instance's key is
            // known, signed with it. One signed with another key seals
            // nothing here: anyone who can write to the store can sign one
            // with a key of their own (the steps past the instance's own
            // checkpoints read verified before stop 58).
            log.sealed_size = log.sealed_size.max(c.tree_size);
            latest_json = Some(checkpoint_json(c));
        }
    }
    take_expirations(store, trusted_key, &mut log).await?;
    Ok((log, latest_json))
}

/// Takes the erasure records this instance signed into the log's state:
/// every project's, or those that can cover a step of one session (of it,
/// or of one of its users). Without its key, none counts (as for expiries).
async fn take_erasures(store: &Store, trusted_key: Option<&str>, log: &mut LogState, of: Option<(&str, &str)>) -> Result<(), StoreError> {
    let Some(key) = trusted_key else { return Ok(()) };
    let records = match of {
        None => store.all_erasures().await?,
        Some((project, session)) => store.erasures_of_session(project, session).await?,
    };
    log.cover.set_erasures(key, records);
    Ok(())
}

/// The user a row's step names ("" for none), which an erasure of a user
/// covers it by.
fn user_of(row: &IntegrityRow) -> &str {
    match row.column("user_id") {
        Some(Stored::Text(u)) => u,
        _ => "",
    }
}

/// [`LogState::erasure_recorded`] for one row, reading only the records
/// of its project and its session's expiries.
async fn erasure_recorded_for(store: &Store, trusted_key: &str, row: &IntegrityRow) -> Result<bool, StoreError> {
    let user = user_of(row);
    // A step without a user is covered by its session's records only.
    let users: Vec<String> = if user.is_empty() { Vec::new() } else { vec![user.to_string()] };
    let (erasures, expiries) =
        tokio::try_join!(store.erasures_covering(&row.project, &row.session_id, &users), store.session_expirations(&row.project, &row.session_id))?;
    Ok(Cover::signed(trusted_key, erasures, &expiries).covers(&row.project, &row.session_id, user, row.log_index))
}

/// The problem of a row whose erased fields no record explains.
fn erased_without_record(row: &IntegrityRow) -> Problem {
    let fields: Vec<&str> = row.erased.keys().map(String::as_str).collect();
    problem(
        ProblemKind::ErasedWithoutRecord,
        Some(row),
        format!(
            "step {} has erased fields ({}) that no signed erasure or content expiry record covers: blanked behind Flightlog's back, or its record removed",
            row.step,
            fields.join(", ")
        ),
    )
}

/// Takes every signed expiry record into the log's state (`accept_expiry`),
/// with the log's entries at the positions each one lists.
async fn take_expirations(store: &Store, trusted_key: Option<&str>, log: &mut LogState) -> Result<(), StoreError> {
    for record in store.expirations().await? {
        let entries = store.log_entries_at(&record.log_indexes).await?;
        accept_expiry(log, trusted_key, record, &entries);
    }
    Ok(())
}

/// Takes a signed expiry record into the log's state, or names it as a
/// problem: not signed by this instance, of no known kind, or listing a
/// position that is not its own session's in the log of record, or not yet
/// sealed by a checkpoint (the job seals before it expires anything).
/// `entries`: the log of record's entries at the positions it lists.
fn accept_expiry(log: &mut LogState, trusted_key: Option<&str>, record: ExpirationRow, entries: &[LogEntry]) {
    let problem = |kind, detail: String| Problem {
        kind,
        session_id: Some(record.session_id.clone()),
        step: None,
        log_index: record.log_indexes.first().copied(),
        detail,
    };
    let signed = trusted_key.is_some_and(|k| expiry_signed(&record, k));
    if !signed {
        log.problem(problem(
            ProblemKind::BadSignature,
            format!("an expiry record of session {:?} is not signed by this instance's key: what it lists counts as deleted", record.session_id),
        ));
        return;
    }
    let Some(kind) = ExpiryKind::parse(&record.kind) else {
        log.problem(problem(ProblemKind::ExpiryMismatch, format!("an expiry record has the unknown kind {:?}", record.kind)));
        return;
    };
    let own = |p: &u64| {
        let mut at = entries.iter().filter(|e| e.log_index == *p);
        at.any(|e| e.project == record.project && e.session_id == record.session_id) && *p < log.sealed_size
    };
    if let Some(bad) = record.log_indexes.iter().find(|p| !own(p)) {
        log.problem(problem(
            ProblemKind::ExpiryMismatch,
            format!("an expiry record of session {:?} lists log position {bad}, which is not a sealed step of that session", record.session_id),
        ));
        return;
    }
    if kind == ExpiryKind::Content {
        log.cover.add_content_expiry(&record.log_indexes);
    }
    if kind == ExpiryKind::Steps {
        // Each position was just checked to be this session's.
        log.expired_positions.extend(record.log_indexes.iter().copied());
        if let Some(link) = hash_from_hex(&record.last_link) {
            log.resumes.entry((record.project.clone(), record.session_id.clone())).or_default().push((record.next_seq, link));
        }
    }
    log.expired.push(Expired {
        project: record.project,
        session_id: record.session_id,
        kind,
        steps: record.log_indexes.len() as u64,
        log_from: record.log_indexes.iter().copied().min().unwrap_or(0),
        log_to: record.log_indexes.iter().copied().max().unwrap_or(0),
        policy: serde_json::from_str(&record.policy).unwrap_or(Value::String(record.policy)),
        expired_at: flightlog_model::time::format_timestamp(record.expired_us),
    });
}

/// Checks one session whose rows are all in memory: its rows (content,
/// columns, chain) against each other and against the session's entries
/// in the log of record. `logged`: the session's entries in the log of
/// record (or those at its rows' positions, when the log's other entries
/// are checked apart).
fn check_session(rows: &mut [IntegrityRow], logged: &[LogEntry], log: &LogState, report: &mut Report) {
    rows.sort_by_key(IntegrityRow::place);
    let stored: HashSet<u64> = rows.iter().map(|r| r.log_index).collect();
    name_deleted(logged, &stored, log, report);
    let by_index: HashMap<u64, &LogEntry> = logged.iter().map(|e| (e.log_index, e)).collect();
    SessionCheck::new(log).rows(rows, &by_index, report);
}

/// Names the entries of `logged` whose step is stored at none of the
/// positions `stored` (and that retention did not remove): deleted.
fn name_deleted(logged: &[LogEntry], stored: &HashSet<u64>, log: &LogState, report: &mut Report) {
    for e in logged {
        if !stored.contains(&e.log_index) && !log.expired_positions.contains(e.log_index) {
            report.problem(Problem {
                kind: ProblemKind::Deleted,
                session_id: Some(e.session_id.clone()),
                step: Some(e.step),
                log_index: Some(e.log_index),
                detail: format!("step {} (log position {}) is in the log but no longer stored: deleted", e.step, e.log_index),
            });
        }
    }
}

/// The checks of one session's rows, given in the order of its chain a
/// batch at a time (so that a long session need not be held whole):
/// content and columns, the row against the log of record's entry at its
/// position, and the chain from one row to the next.
struct SessionCheck<'a> {
    log: &'a LogState,
    limits: Limits,
    /// The link after the last row checked and the chain position
    /// expected next; None before the first row.
    chain: Option<(Hash, u64)>,
}

impl<'a> SessionCheck<'a> {
    fn new(log: &'a LogState) -> Self {
        let limits = Limits { max_record_bytes: usize::MAX, max_field_bytes: usize::MAX, ..Limits::default() };
        Self { log, limits, chain: None }
    }

    /// Checks the next `rows` of the chain; `by_index`: the log of record's
    /// entries of this session at (at least) their positions.
    fn rows(&mut self, rows: &[IntegrityRow], by_index: &HashMap<u64, &LogEntry>, report: &mut Report) {
        let Some(first) = rows.first() else { return };
        let (mut link, mut expected_seq) = self.chain.unwrap_or_else(|| {
            // Steps that came after the session's earlier steps expired
            // continue its chain from where the signed expiry record says
            // it stood.
            let resumes = self.log.resumes.get(&(first.project.clone(), first.session_id.clone()));
            match resumes.and_then(|r| r.iter().filter(|(n, _)| *n <= first.session_seq).max_by_key(|(n, _)| *n)) {
                Some(&(next, resumed)) if first.session_seq > 0 => (resumed, next),
                _ => (chain_seed(&first.project, &first.session_id), 0),
            }
        });
        // The content checks (parse, rehash, columns) are most of the work
        // and independent row by row: done on every core, taken in row
        // order.
        let limits = &self.limits;
        let findings = off_the_async_threads(|| -> Vec<Findings> {
            rows.par_iter()
                .map(|row| {
                    let mut found = Findings::default();
                    if let Ok(recorded) = hash_of(&row.step_hash) {
                        check_content(row, &recorded, limits, &mut found);
                    }
                    found
                })
                .collect()
        });
        for (row, found) in rows.iter().zip(findings) {
            report.steps_checked += 1;
            let (Ok(recorded), Ok(recorded_link)) = (hash_of(&row.step_hash), hash_of(&row.chain_hash)) else {
                report.problem(problem(ProblemKind::Unreadable, Some(row), "the recorded hashes are not valid hex".into()));
                continue;
            };
            match by_index.get(&row.log_index) {
                None => report.problem(problem(
                    ProblemKind::Inserted,
                    Some(row),
                    format!("step {} is stored but the log of record never accepted it: inserted", row.step),
                )),
                Some(e) if e.step != row.step => report.problem(problem(
                    ProblemKind::Moved,
                    Some(row),
                    format!("the log recorded step {} at this position, the stored row says step {}: reordered", e.step, row.step),
                )),
                Some(e) if e.step_hash != recorded => report.problem(problem(
                    ProblemKind::Modified,
                    Some(row),
                    format!("step {}'s recorded hash differs from the log's: it was rewritten", row.step),
                )),
                Some(_) if row.log_index < self.log.sealed_size => report.sealed += 1,
                Some(_) => report.not_yet_sealed += 1,
            }

            report.absorb(found);
            if !row.erased.is_empty() && !self.log.erasure_recorded(row) {
                report.problem(erased_without_record(row));
            }

            // The chain, in acceptance order.
            if row.session_seq > expected_seq {
                report.problem(problem(
                    ProblemKind::MissingInSession,
                    Some(row),
                    format!("the session's steps at positions {expected_seq}..{} of its chain are missing", row.session_seq - 1),
                ));
            } else if row.session_seq < expected_seq {
                report.problem(problem(
                    ProblemKind::RepeatedPosition,
                    Some(row),
                    format!("position {} of the session's chain is used twice: a step was inserted", row.session_seq),
                ));
            }
            if chain_next(&link, &recorded) != recorded_link {
                report.problem(problem(
                    ProblemKind::ChainBroken,
                    Some(row),
                    format!("the session's hash chain breaks at step {} (position {})", row.step, row.session_seq),
                ));
            }
            link = recorded_link;
            expected_seq = row.session_seq + 1;
        }
        self.chain = Some((link, expected_seq));
    }
}


/// Verifies one session: its steps against their content, their chain and
/// the log of record, and its entries in the log against the latest signed
/// checkpoint, by their inclusion proofs from the stored Merkle nodes, with
/// the log's positions below it counted. Where that does not prove every
/// entry (no stored nodes yet, a checkpoint not signed by `trusted_key`, an
/// entry the signed log holds otherwise, a position missing or repeated), the
/// whole log is checked against every checkpoint instead: problems of the
/// log elsewhere are then listed in `log_problems` and do not fail this
/// session, and steps they leave unproven count as not yet sealed.
/// `verify --all` always checks the whole log. `None` when the project has
/// no such session.
/// `trusted_key` as for [`verify_all`].
pub async fn verify_session(store: &Store, project: &str, session_id: &str, trusted_key: Option<&str>) -> Result<Option<Report>, StoreError> {
    // The rows come a page at a time in the chain's order: memory holds a
    // page of content, whatever the session's length.
    let (mut pages, logged) =
        tokio::try_join!(ChainPages::open(store, project, session_id), store.log_entries_of_session(project, session_id))?;
    if pages.places().is_empty() && logged.is_empty() {
        return Ok(None);
    }
    // The whole log is read only when the session's own entries do not
    // prove from the stored nodes: reading it took 0.5 s per session over
    // a log of 1M steps, and grows with the log.
    let (mut log, checkpoint) = match proven_from_stored_nodes(store, trusted_key, &logged).await? {
        Some(proven) => proven,
        None => check_log(store, trusted_key, false).await?,
    };
    take_erasures(store, trusted_key, &mut log, Some((project, session_id))).await?;
    let mut report = Report { checkpoint, ..Report::default() };
    let stored: HashSet<u64> = pages.places().iter().map(|p| p.log_index).collect();
    name_deleted(&logged, &stored, &log, &mut report);
    drop(stored);
    let by_index: HashMap<u64, &LogEntry> = logged.iter().map(|e| (e.log_index, e)).collect();
    let mut check = SessionCheck::new(&log);
    while let Some(rows) = pages.next().await? {
        check.rows(&rows, &by_index, &mut report);
    }
    report.expired = log.expired.iter().filter(|e| e.project == project && e.session_id == session_id).cloned().collect();
    report.log_problems = log.problems;
    Ok(Some(report.finish()))
}

/// The log's state for one session when each of its entries the latest
/// checkpoint covers proves against that checkpoint's root from the stored
/// nodes (O(log n) reads per entry) and the log still holds every position
/// that checkpoint covers, once (one column counted); None when not, or
/// when the latest checkpoint is not this instance's, so that the whole
/// log is checked.
async fn proven_from_stored_nodes(
    store: &Store,
    trusted_key: Option<&str>,
    logged: &[LogEntry],
) -> Result<Option<(LogState, Option<Value>)>, StoreError> {
    let Some(latest) = store.latest_checkpoint().await? else { return Ok(None) };
    // Only a checkpoint this instance signed stands in for the whole log:
    // the key stored beside a checkpoint proves nothing by itself.
    if trusted_key != Some(latest.public_key.as_str()) {
        return Ok(None);
    }
    if !checkpoint_signature_valid(&latest) {
        return Ok(None);
    }
    let size = latest.tree_size;
    let sealed: Vec<&LogEntry> = logged.iter().filter(|e| e.log_index < size).collect();
    // A very long session's proofs (about 640 bytes each) would take more
    // memory than reading the whole log a stretch at a time.
    if sealed.len() > MAX_PROVEN_APART {
        return Ok(None);
    }
    let positions: Vec<u64> = sealed.iter().map(|e| e.log_index).collect();
    // The log must still hold each position the checkpoint covers, once:
    // a session's last steps removed from both tables leave its chain whole
    // and its other entries provable, and only the count shows the hole.
    let (census, proofs) = tokio::join!(store.log_census_below(size), async {
        match positions.is_empty() {
            true => Ok(Some(Vec::new())),
            false => crate::nodes::inclusion_proofs(store, &positions, size).await,
        }
    });
    if census? != (size, size) {
        return Ok(None);
    }
    let Some(proofs) = proofs? else { return Ok(None) };
    let proven = sealed.iter().zip(&proofs).all(|(e, proof)| verify_inclusion(e.log_index, size, &leaf_hash(&e.step_hash), proof, &latest.root_hash));
    if !proven {
        return Ok(None);
    }
    let mut log = LogState { leaves: size, sealed_size: size, ..LogState::default() };
    take_expirations(store, trusted_key, &mut log).await?;
    Ok(Some((log, Some(checkpoint_json(&latest)))))
}

/// Verifies one step for a page: its content and columns, its entry in the
/// log of record, and its place in the sealed log (its inclusion proof
/// against the latest checkpoint `sealed` holds). The session's chain is not walked: `verify_session` does that.
/// `None` when no such step is stored.
pub async fn verify_step(
    store: &Store,
    sealed: &SealCache,
    project: &str,
    session_id: &str,
    step: u64,
) -> Result<Option<Report>, StoreError> {
    // The checkpoint is read while the row is, and the log's entry while
    // the step's place in the sealed log is proven: on a page each read is
    // a round trip to the engine.
    let (row, sealed_log) = tokio::join!(store.step_integrity_row(project, session_id, step), sealed.get(store));
    let Some(row) = row? else { return Ok(None) };
    let mut report = Report { steps_checked: 1, ..Report::default() };
    let Ok(recorded) = hash_of(&row.step_hash) else {
        report.problem(problem(ProblemKind::Unreadable, Some(&row), "the recorded hash is not valid hex".into()));
        return Ok(Some(report.finish()));
    };
    let limits = Limits { max_record_bytes: usize::MAX, max_field_bytes: usize::MAX, ..Limits::default() };
    let mut found = Findings::default();
    check_content(&row, &recorded, &limits, &mut found);
    report.absorb(found);
    if !row.erased.is_empty() && !erasure_recorded_for(store, sealed.trusted_key(), &row).await? {
        report.problem(erased_without_record(&row));
    }
    let in_sealed = sealed_log?.filter(|log| row.log_index < log.size());
    let (entry, seals) = tokio::join!(store.log_entry_at(row.log_index), async {
        match &in_sealed {
            Some(log) => match &log.broken {
                Some(why) => Ok(Some(Err(why.clone()))),
                None => log.seals(store, row.log_index, &recorded).await.map(Some),
            },
            None => Ok(None),
        }
    });
    match entry? {
        None => report.problem(problem(ProblemKind::Inserted, Some(&row), format!("step {step} is stored but the log of record never accepted it"))),
        Some(e) if e.project != project || e.session_id != session_id || e.step != step => report.problem(problem(
            ProblemKind::Moved,
            Some(&row),
            format!("the log recorded session {:?} step {} at this position: reordered", e.session_id, e.step),
        )),
        Some(e) if e.step_hash != recorded => {
            report.problem(problem(ProblemKind::Modified, Some(&row), format!("step {step}'s recorded hash differs from the log's")))
        }
        Some(_) => {}
    }
    match (in_sealed, seals?) {
        (Some(log), Some(seals)) => {
            match seals {
                Err(why) => report.problem(problem(ProblemKind::LogMismatch, Some(&row), why)),
                Ok(true) => report.sealed = 1,
                Ok(false) => report.problem(problem(
                    ProblemKind::Modified,
                    Some(&row),
                    "the signed log holds another hash at this position".into(),
                )),
            }
            report.checkpoint = Some(checkpoint_json(&log.checkpoint));
        }
        _ => report.not_yet_sealed = 1,
    }
    Ok(Some(report.finish()))
}

/// For an offline check of an instance's folder: how many entries the
/// newest checkpoint it signed covered (its mark, `DATA_DIR/integrity/
/// last-checkpoint`), when no stored checkpoint reaches as far; for
/// [`Report::with_deleted_checkpoint`].
pub async fn signed_checkpoint_deleted(store: &Store, data_dir: &std::path::Path) -> Result<Option<u64>, StoreError> {
    crate::mark::Mark::at(data_dir.join("integrity/last-checkpoint")).deleted_from(store).await
}
