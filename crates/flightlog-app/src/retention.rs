//! Retention per project, legal holds, and the expiry job that applies
//! them (see `flightlog_model::retention` for what expires and how the
//! proofs survive it).
//!
//! The job runs on the process that writes the log (the writer lease's
//! holder), a bounded batch of sessions at a time, and acts only on
//! policies and holds the instance signed (see `policies`). Each session's
//! expiry is restart-safe: content is blanked by the erasure path
//! (idempotent) before its record is written; for removed steps the signed
//! record is written first (stored once however often it is written), then
//! the index's points go, then the steps, then the session's derived rows
//! are recomputed, so a crash at any point is finished by the next run,
//! never doubled. Just before it acts, the job checks again that the
//! session is due and not held; the positions it lists come from the log
//! of record, and steps are removed only once a signed checkpoint covers
//! them.

pub use crate::policies::{HoldAction, HoldChange};
use crate::{AppError, AppState};
use flightlog_ingest::Role;
use flightlog_model::retention::{ExpiryKind, HoldSubject, Retention};
use flightlog_model::time::{format_timestamp, now_us};
use flightlog_store::expirations::Due;
use flightlog_store::{CheckpointRow, ExpirationRow, Held, HoldRow, PolicyKind};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Sessions one run of the job expires per project and kind, at most (by
/// default).
pub const EXPIRY_BATCH: u32 = 100;

/// Holds placed and released, erasures and expiries, one at a time: an
/// erasure (or expiry) looks at the holds in force and then acts, and a
/// hold placed between the two would not stop it. Within one process this
/// closes that window: a hold placed while an erasure runs is placed once
/// it has finished, and an erasure that starts after a hold was placed
/// sees it. Erasures run beside the log's writer, and the API sends hold
/// changes there too; a hold placed from the web pages of another process
/// (several processes on one ClickHouse) is not serialised with them.
#[derive(Debug, Default)]
pub struct OneAtATime(tokio::sync::Mutex<()>);

impl OneAtATime {
    pub(crate) async fn turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.0.lock().await
    }
}

/// Sessions due to expire whose steps did not verify, and how many runs in
/// a row found so. One that failed twice is passed over, as a held one is,
/// so that the oldest sessions (where a backdated one lands) cannot take a
/// place in every run's batch and stop the project's retention. Once is
/// not enough: a step being committed is stored before its log entry, and
/// reads as inserted until its commit ends. Forgotten at a restart, which
/// checks them again.
#[derive(Debug, Default)]
pub struct Unverified(std::sync::Mutex<std::collections::BTreeMap<(String, String), u32>>);

/// Runs in a row a session must fail verification in to be passed over.
const FAILURES_TO_PASS_OVER: u32 = 2;

impl Unverified {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<(String, String), u32>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes a run's finding; returns whether the session is passed over
    /// from now on.
    fn found(&self, project: &str, session: &str, verifies: bool) -> bool {
        let key = (project.to_string(), session.to_string());
        let mut failures = self.lock();
        if verifies {
            failures.remove(&key);
            return false;
        }
        let n = failures.entry(key).or_default();
        *n += 1;
        *n >= FAILURES_TO_PASS_OVER
    }

    /// `project`'s sessions passed over.
    fn of(&self, project: &str) -> Vec<String> {
        self.lock().iter().filter(|((p, _), n)| p == project && **n >= FAILURES_TO_PASS_OVER).map(|((_, s), _)| s.clone()).collect()
    }
}

/// A project's retention as in force.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RetentionInForce {
    pub project: String,
    pub policy: Retention,
    /// What a compliance officer should know (e.g. under six months).
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_by: Option<String>,
}

/// A legal hold as asked for: a session or a user, and why.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    pub subject: HoldSubject,
    /// The session id or user id.
    pub id: String,
    #[serde(default)]
    pub reason: String,
}

/// A legal hold in force.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Hold {
    pub subject: HoldSubject,
    pub id: String,
    pub reason: String,
    pub since: String,
    pub by: String,
    /// Whether this instance signed its placement. One it did not sign
    /// (written behind its back, or under another key) holds all the same
    /// until released.
    pub signed: bool,
}

/// What one run of the expiry job did.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct ExpiryRun {
    /// Sessions whose full content was blanked.
    pub content_expired: u64,
    /// Sessions whose steps were removed.
    pub steps_expired: u64,
    /// Steps removed.
    pub steps_removed: u64,
    /// Sessions left for a later run (not yet sealed by a checkpoint).
    pub deferred: u64,
    /// Sessions found held, or with new steps, when their turn came.
    pub skipped: u64,
    /// Sessions whose expiry failed (logged; retried at the next run).
    pub failed: u64,
}

/// What legal holds keep: the held sessions and users.
fn held_of(rows: &[(HoldRow, bool)]) -> Held {
    let ids = |subject: HoldSubject| rows.iter().filter(|(r, _)| r.subject == subject.as_str()).map(|(r, _)| r.id.clone()).collect();
    Held { sessions: ids(HoldSubject::Session), users: ids(HoldSubject::User) }
}

impl AppState {
    pub async fn retention_policy(&self, project: &str) -> Result<RetentionInForce, AppError> {
        let row = self.policy_in_force(project, PolicyKind::Retention).await?;
        let (policy, set_at, set_by) = match row {
            Some(r) => (
                serde_json::from_str(&r.body).map_err(|e| AppError::unavailable("the stored retention policy cannot be read", e))?,
                Some(format_timestamp(r.set_us)),
                Some(r.set_by),
            ),
            None => (Retention::default(), None, None),
        };
        Ok(RetentionInForce { project: project.to_string(), warnings: policy.warnings(), policy, set_at, set_by })
    }

    /// Puts a retention policy in force; the expiry job applies it from
    /// its next run. Answers with the warnings that apply.
    pub async fn set_retention_policy(&self, project: &str, policy: Retention, by: &str) -> Result<RetentionInForce, AppError> {
        policy.check().map_err(|(field, why)| AppError::invalid(field, why))?;
        let body = serde_json::to_string(&policy).expect("a policy serialises");
        self.put_policy(project, PolicyKind::Retention, body, by).await?;
        tracing::info!(project, by, ?policy, "retention policy set");
        self.retention_policy(project).await
    }

    /// The sessions and users the project's holds keep now.
    pub(crate) async fn held_in_force(&self, project: &str) -> Result<Held, AppError> {
        Ok(held_of(&self.holds_in_force(project).await?))
    }

    pub async fn legal_holds(&self, project: &str) -> Result<Vec<Hold>, AppError> {
        let rows = self.holds_in_force(project).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(r, signed)| {
                Some(Hold { subject: HoldSubject::parse(&r.subject)?, id: r.id, reason: r.reason, since: format_timestamp(r.at_us), by: r.by_key, signed })
            })
            .collect())
    }

    /// Places a legal hold: the session (or every session of the user)
    /// never expires while it stands.
    pub async fn place_legal_hold(&self, project: &str, req: HoldRequest, by: &str) -> Result<Hold, AppError> {
        crate::params::id("id", &req.id, self.limits.max_id_bytes)?;
        crate::params::reason(&req.reason)?;
        let row = {
            let _turn = self.holds_and_erasures.turn().await;
            // One hold per session or user: a second would replace the
            // first's reason and date, and one release would lift both.
            // A standing hold this instance did not sign is replaced by a
            // signed one, in this one turn: released first, then placed
            // again, an expiry could take its turn in between.
            let standing = self.legal_holds(project).await?.into_iter().find(|h| h.subject == req.subject && h.id == req.id);
            if let Some(standing) = standing.filter(|h| h.signed) {
                // The same hold sent again (a retry after a lost answer) is
                // answered with the one that stands.
                if standing.reason == req.reason {
                    return Ok(standing);
                }
                return Err(AppError::Conflict {
                    code: "already_held",
                    message: format!(
                        "{} {:?} is held already, since {} ({:?}); nothing was changed. To hold it for another reason too, release it and place one hold naming both",
                        req.subject.as_str(),
                        req.id,
                        standing.since,
                        standing.reason
                    ),
                });
            }
            self.put_hold(project, req.subject, &req.id, true, &req.reason, by).await?
        };
        tracing::info!(project, subject = req.subject.as_str(), id = %req.id, by, "legal hold placed");
        Ok(Hold { subject: req.subject, id: req.id, reason: req.reason, since: format_timestamp(row.at_us), by: by.to_string(), signed: true })
    }

    /// Releases a legal hold in force (404 when there is none), kept with
    /// who released it and why.
    pub async fn release_legal_hold(&self, project: &str, subject: HoldSubject, id: &str, reason: &str, by: &str) -> Result<(), AppError> {
        crate::params::id("id", id, self.limits.max_id_bytes)?;
        crate::params::reason(reason)?;
        let _turn = self.holds_and_erasures.turn().await;
        let held = self.legal_holds(project).await?.into_iter().any(|h| h.subject == subject && h.id == id);
        if !held {
            return Err(AppError::NotFound(format!("no legal hold on {} {id:?} in this project", subject.as_str())));
        }
        self.put_hold(project, subject, id, false, reason, by).await?;
        tracing::info!(project, subject = subject.as_str(), id, by, "legal hold released");
        Ok(())
    }

    /// A project's newest expiry records.
    pub async fn expirations(&self, project: &str, limit: u32) -> Result<Vec<ExpirationRow>, AppError> {
        Ok(self.store.project_expirations(project, limit).await?)
    }

    /// Erases again the steps an earlier version erased (or whose content
    /// it expired) without their span's attributes, but those of a held
    /// session or user, in one walk through the store. Whether the walk
    /// left none (skipped, failed or found on another process's lease):
    /// every erasure since takes the attributes, so the expiry job stops
    /// walking then. A session that fails is logged and the walk goes on.
    async fn finish_erasures_of_span_attributes(&self) -> Result<bool, AppError> {
        let (mut after, mut left_some) = (Default::default(), false);
        loop {
            let page = self.store.erased_before_span_attributes(&after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = flightlog_store::erasure::ErasedBefore { steps: Vec::new(), ..last.clone() };
            for group in page {
                // The lease can move while this runs: only the writer erases.
                if !matches!(self.ingestor.role(), Role::Writer { .. }) {
                    return Ok(false);
                }
                // The holds read fresh, and none placed until this group is
                // erased (`OneAtATime`).
                let _turn = self.holds_and_erasures.turn().await;
                let held = self.held_in_force(&group.project).await?;
                if held.sessions.contains(&group.session_id) || held.users.contains(&group.user_id) {
                    left_some = true;
                    continue;
                }
                match self.store.erase_steps(&group.project, &group.session_id, &group.steps, &held).await {
                    Ok(done) => {
                        // One that kept them (its content unreadable) is
                        // looked for again at the next run.
                        left_some |= done.steps_erased < group.steps.len() as u64;
                        tracing::info!(project = %group.project, session = %group.session_id, steps = done.steps_erased,
                                       "erased a span's attributes that an earlier erasure left");
                    }
                    Err(e) => {
                        left_some = true;
                        tracing::warn!(project = %group.project, session = %group.session_id, error = %e,
                                       "could not erase a span's attributes that an earlier erasure left; the next run retries");
                    }
                }
            }
        }
        Ok(!left_some)
    }

    /// One run of the expiry job over every project with a policy: at most
    /// `batch` sessions per project and kind. Only the log's writer runs it.
    /// A session that fails is logged and left for the next run; the
    /// others go on.
    pub async fn expire(&self, batch: u32) -> Result<ExpiryRun, AppError> {
        let mut run = ExpiryRun::default();
        if !matches!(self.ingestor.role(), Role::Writer { .. }) {
            return Ok(run);
        }
        // Like a session that fails, a failure here is logged and the run
        // goes on: it must not hold every expiry back.
        if let Err(e) = self.store.finish_cut_short_removals().await {
            tracing::warn!(error = %e, "could not finish the newest removals' messages; the next run retries");
        }
        for row in self.policies_in_force(PolicyKind::Retention).await? {
            let policy: Retention = match serde_json::from_str(&row.body) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(project = %row.project, error = %e, "unreadable retention policy; nothing of this project expires");
                    continue;
                }
            };
            let holds = self.held_in_force(&row.project).await?;
            for kind in ExpiryKind::ALL {
                let Some(cutoff_us) = policy.cutoff_us(kind, now_us()) else { continue };
                // Passed over like a held session: what does not verify.
                let mut passed_over = holds.sessions.clone();
                passed_over.extend(self.unverified.of(&row.project));
                let due = Due { project: &row.project, kind, cutoff_us, held_sessions: &passed_over, held_users: &holds.users };
                for session in self.store.sessions_to_expire(&due, batch).await? {
                    if let Err(e) = self.expire_session(&due, &session, &row.body, &mut run).await {
                        run.failed += 1;
                        tracing::warn!(project = %row.project, session, kind = kind.as_str(), error = %e, "could not expire a session; the next run retries");
                    }
                }
            }
        }
        if run.steps_removed > 0 {
            // A step that arrived while its session's older steps were
            // removed may have landed after the session's summary was
            // rebuilt, without the row that opens the session.
            self.store.open_unopened_sessions().await?;
        }
        if run.content_expired + run.steps_expired + run.failed > 0 {
            tracing::info!(?run, "retention expired sessions");
        }
        Ok(run)
    }

    async fn expire_session(&self, due: &Due<'_>, session: &str, policy: &str, run: &mut ExpiryRun) -> Result<(), AppError> {
        let (project, kind) = (due.project, due.kind);
        // Expired only as stored: a session whose steps no longer verify (a
        // timestamp moved back to make it look due, say) is not blanked,
        // removed and signed for as a lawful expiry, which would hide the
        // tampering from every later verification (`Unverified`). Checked
        // before the turn below, which holds and erasures wait for: a long
        // session's check reads all of it.
        let verifies = self.verifies(project, session, kind).await?;
        if self.unverified.found(project, session, verifies) {
            tracing::error!(project, session, kind = kind.as_str(), "a session due to expire does not verify; not expiring it, nor trying again (run verification)");
        }
        if !verifies {
            run.skipped += 1;
            return Ok(());
        }
        // No hold is placed from the look at the holds below until the
        // session has expired (`OneAtATime`).
        let _turn = self.holds_and_erasures.turn().await;
        let chain = self.store.session_chain(project, session).await?;
        // Checked again now: a step may have arrived, a hold been placed,
        // since the session was picked.
        let holds = self.held_in_force(project).await?;
        let newest = chain.iter().map(|s| s.ts_us).max();
        if holds.sessions.iter().any(|s| s == session)
            || chain.iter().any(|s| holds.users.contains(&s.user_id))
            || newest.is_some_and(|ts| ts >= due.cutoff_us)
        {
            run.skipped += 1;
            return Ok(());
        }
        // What is acknowledged, read before the positions: a step past it
        // may be in steps before its log entry (being committed).
        let Some(acknowledged) = self.ingestor.acknowledged_size() else {
            run.deferred += 1;
            return Ok(());
        };
        // The positions are the log of record's, never the steps table's
        // (whose rows could claim another session's positions).
        let logged = self.store.log_positions(project, session).await?;
        let stored: Vec<u64> = chain.iter().map(|s| s.log_index).collect();
        if let Some(stray) = stored.iter().find(|p| logged.binary_search(p).is_err()) {
            // A step being committed is in `steps` before its log entry:
            // past the acknowledged log, it is no stray, just early.
            match *stray >= acknowledged {
                true => tracing::debug!(project, session, position = stray, "a step of this session is being stored; it expires at the next run"),
                false => tracing::error!(project, session, position = stray, "a stored step claims a log position not of its session; not expiring it (run verification)"),
            }
            run.skipped += 1;
            return Ok(());
        }
        let mut record = ExpirationRow {
            project: project.to_string(),
            session_id: session.to_string(),
            kind: kind.as_str().to_string(),
            log_indexes: stored,
            last_link: String::new(),
            next_seq: 0,
            policy: policy.to_string(),
            expired_us: now_us(),
            public_key: String::new(),
            signature: String::new(),
        };
        // A record lists sealed steps only (verification checks it), and a
        // step leaves storage only once the signed log proves it existed: a
        // step that arrived late, dated in the past, may not be sealed yet.
        if let Some(newest_position) = record.log_indexes.iter().copied().max()
            && !self.sealed_past(newest_position).await?
        {
            run.deferred += 1;
            return Ok(());
        }
        match kind {
            ExpiryKind::Content => {
                if record.log_indexes.is_empty() {
                    return Ok(());
                }
                // The steps read above only (up to the highest position
                // the record lists: a step that arrives since is logged
                // past it), by the erasure path (the content and the
                // index's snippets), sparing what is held: a step that
                // arrived since (dated now, or a held user's) is not due.
                // Run again after a crash, it changes nothing.
                let through = record.log_indexes.iter().copied().max().unwrap_or_default();
                self.erase_steps_through(project, session, through, &holds, "retention").await?;
                self.checkpointer.sign_expiry(&mut record);
                self.store.put_expiration(&record).await?;
                run.content_expired += 1;
            }
            ExpiryKind::Steps => {
                if let Some(last) = chain.last() {
                    record.last_link = last.chain_hash.clone();
                    record.next_seq = last.session_seq + 1;
                    self.checkpointer.sign_expiry(&mut record);
                    self.store.put_expiration(&record).await?;
                    // The points first: a failure here leaves the session
                    // listed, so the next run comes back to it.
                    let ids = chain.iter().map(|s| flightlog_index::point_id(project, session, s.step)).collect::<Vec<_>>();
                    self.search.remove_points(ids.clone()).await.map_err(|e| AppError::unavailable("the vector index failed; the next run retries", e))?;
                    let removed = self.store.remove_expired_steps(project, session, &record.log_indexes).await;
                    // And again once the steps are gone (even if what
                    // follows their removal failed: a later run no longer
                    // knows their step numbers): an indexer of another
                    // process that read them before can have written their
                    // points since, and it takes back only what it finds
                    // gone after its write (indexer.rs).
                    let again = self.search.remove_points(ids).await;
                    removed?;
                    again.map_err(|e| AppError::unavailable("the steps expired, but removing their points again failed", e))?;
                } else {
                    // Nothing is left to remove, but a removal that failed
                    // before the session's list entry was recomputed is
                    // finished here.
                    self.store.remove_expired_steps(project, session, &record.log_indexes).await?;
                }
                run.steps_expired += u64::from(!chain.is_empty());
                run.steps_removed += chain.len() as u64;
            }
        }
        Ok(())
    }

    /// Whether the session's steps verify against their hashes, the log
    /// of record and this instance's checkpoints (what retention already
    /// expired of it included).
    /// For a content expiry, fields erased without a record do not stop
    /// it: that is what an expiry cut short leaves (its record is signed
    /// once the content is blanked, since the record is what marks the
    /// session done), and the expiry about to run signs for them. Blanking
    /// content that is due to be blanked is all such a field can be.
    async fn verifies(&self, project: &str, session: &str, kind: ExpiryKind) -> Result<bool, AppError> {
        use flightlog_integrity::verify::ProblemKind;
        Ok(self.session_report(project, session).await?.is_some_and(|r| {
            let all_listed = r.problem_count == r.problems.len() as u64;
            let expiry_cut_short = kind == ExpiryKind::Content && all_listed && r.problems.iter().all(|p| p.kind == ProblemKind::ErasedWithoutRecord);
            r.problem_count == 0 || expiry_cut_short
        }))
    }

    /// Whether a checkpoint this instance signed covers log position
    /// `index`, sealing one first if needed: a step leaves storage only
    /// once the signed log proves it existed (a row over a million entries
    /// added behind its back proves nothing).
    async fn sealed_past(&self, index: u64) -> Result<bool, AppError> {
        let covered = |c: Option<CheckpointRow>| c.is_some_and(|c| index < c.tree_size);
        if covered(self.checkpointer.newest_signed_here().await?) {
            return Ok(true);
        }
        self.checkpointer.seal().await?;
        Ok(covered(self.checkpointer.newest_signed_here().await?))
    }

    /// Runs the expiry job every `interval`, `batch` sessions per project
    /// and kind at a time, until the process ends.
    pub fn spawn_expiry(self, interval: Duration, batch: u32) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            let mut span_attributes_erased = false;
            loop {
                tick.tick().await;
                // First, as the process starts: an erasure a crash cut
                // short is recorded, and its steps are to be blanked.
                if matches!(self.ingestor.role(), Role::Writer { .. })
                    && let Err(e) = self.finish_cut_short_erasures(100).await
                {
                    tracing::warn!(error = %e, "could not finish the erasures a crash or failure cut short; the next run retries");
                }
                if !span_attributes_erased && matches!(self.ingestor.role(), Role::Writer { .. }) {
                    match self.finish_erasures_of_span_attributes().await {
                        Ok(none_left) => span_attributes_erased = none_left,
                        Err(e) => tracing::warn!(error = %e, "could not erase the span attributes that earlier erasures left; the next run retries"),
                    }
                }
                if let Err(e) = self.expire(batch).await {
                    tracing::warn!(error = %e, "the expiry job failed; it runs again at the next interval");
                }
            }
        })
    }
}
