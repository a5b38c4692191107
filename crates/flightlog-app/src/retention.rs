//! Retention per project, legal holds, and the expiry job that applies
//! them (see `flightlog_model::retention` for what expires and how the
//! proofs survive it).
//!
//! The job runs on the process that writes the log (the writer lease's
//! holder), a bounded batch of sessions at a time. Each session's expiry is
//! restart-safe: content is blanked by the erasure path (idempotent) before
//! its record is written; for removed steps the signed record is written
//! first (stored once however often it is written) and the steps removed
//! after, so a crash at any point is finished by the next run, never
//! doubled. Steps are removed only once a signed checkpoint covers them.

use crate::integrity::ErasureRequest;
use crate::{AppError, AppState};
use flightlog_ingest::Role;
use flightlog_model::retention::{ExpiryKind, HoldSubject, Retention};
use flightlog_model::time::{format_timestamp, now_us};
use flightlog_store::{ExpirationRow, HoldChange, PolicyKind};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Sessions one run of the job expires per project and kind, at most (by
/// default).
pub const EXPIRY_BATCH: u32 = 100;
/// Longest reason a legal hold may carry.
pub const MAX_HOLD_REASON: usize = 1_000;
/// Longest session or user id a hold may name (as long as a step's ids).
pub const MAX_HOLD_ID: usize = 1_024;

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
}

impl AppState {
    pub async fn retention_policy(&self, project: &str) -> Result<RetentionInForce, AppError> {
        let row = self.store.policy(project, PolicyKind::Retention).await?;
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
        self.store.set_policy(project, PolicyKind::Retention, &body, now_us(), by).await?;
        tracing::info!(project, by, ?policy, "retention policy set");
        self.retention_policy(project).await
    }

    pub async fn legal_holds(&self, project: &str) -> Result<Vec<Hold>, AppError> {
        let rows = self.store.legal_holds(project).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(Hold { subject: HoldSubject::parse(&r.subject)?, id: r.id, reason: r.reason, since: format_timestamp(r.since_us), by: r.by_key })
            })
            .collect())
    }

    /// Places a legal hold: the session (or every session of the user)
    /// never expires while it stands.
    pub async fn place_legal_hold(&self, project: &str, req: HoldRequest, by: &str) -> Result<Hold, AppError> {
        check_hold_id(&req.id)?;
        if req.reason.len() > MAX_HOLD_REASON {
            return Err(AppError::invalid("reason", format!("is {} bytes, at most {MAX_HOLD_REASON}", req.reason.len())));
        }
        let at = now_us();
        let change = HoldChange { project, subject: req.subject, id: &req.id, held: true, reason: &req.reason, at_us: at, by_key: by };
        self.store.put_legal_hold(&change).await?;
        tracing::info!(project, subject = req.subject.as_str(), id = %req.id, by, "legal hold placed");
        Ok(Hold { subject: req.subject, id: req.id, reason: req.reason, since: format_timestamp(at), by: by.to_string() })
    }

    /// Releases a legal hold in force (404 when there is none).
    pub async fn release_legal_hold(&self, project: &str, subject: HoldSubject, id: &str, by: &str) -> Result<(), AppError> {
        check_hold_id(id)?;
        let held = self.legal_holds(project).await?.into_iter().any(|h| h.subject == subject && h.id == id);
        if !held {
            return Err(AppError::NotFound(format!("no legal hold on {} {id:?} in this project", subject.as_str())));
        }
        let change = HoldChange { project, subject, id, held: false, reason: "", at_us: now_us(), by_key: by };
        self.store.put_legal_hold(&change).await?;
        tracing::info!(project, subject = subject.as_str(), id, by, "legal hold released");
        Ok(())
    }

    /// A project's newest expiry records.
    pub async fn expirations(&self, project: &str, limit: u32) -> Result<Vec<ExpirationRow>, AppError> {
        Ok(self.store.project_expirations(project, limit).await?)
    }

    /// One run of the expiry job over every project with a policy: at most
    /// `batch` sessions per project and kind. Only the log's writer runs it.
    pub async fn expire(&self, batch: u32) -> Result<ExpiryRun, AppError> {
        let mut run = ExpiryRun::default();
        if !matches!(self.ingestor.role(), Role::Writer { .. }) {
            return Ok(run);
        }
        for row in self.store.policies(PolicyKind::Retention).await? {
            let policy: Retention = match serde_json::from_str(&row.body) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(project = %row.project, error = %e, "unreadable retention policy; nothing of this project expires");
                    continue;
                }
            };
            for kind in ExpiryKind::ALL {
                let Some(cutoff) = policy.cutoff_us(kind, now_us()) else { continue };
                for session in self.store.sessions_to_expire(&row.project, kind, cutoff, batch).await? {
                    self.expire_session(&row.project, &session, kind, &row.body, &mut run).await?;
                }
            }
        }
        if run.content_expired + run.steps_expired > 0 {
            tracing::info!(?run, "retention expired sessions");
        }
        Ok(run)
    }

    async fn expire_session(&self, project: &str, session: &str, kind: ExpiryKind, policy: &str, run: &mut ExpiryRun) -> Result<(), AppError> {
        let chain = self.store.session_chain(project, session).await?;
        let Some(last) = chain.last() else { return Ok(()) };
        let mut record = ExpirationRow {
            project: project.to_string(),
            session_id: session.to_string(),
            kind: kind.as_str().to_string(),
            log_indexes: chain.iter().map(|s| s.log_index).collect(),
            last_link: String::new(),
            next_seq: 0,
            policy: policy.to_string(),
            expired_us: now_us(),
            public_key: String::new(),
            signature: String::new(),
        };
        match kind {
            ExpiryKind::Content => {
                // The erasure path blanks the content and the index's
                // snippets; run again after a crash, it changes nothing.
                self.erase(project, &ErasureRequest { session_id: session.to_string(), user_id: String::new() }, "retention").await?;
                self.checkpointer.sign_expiry(&mut record);
                self.store.put_expiration(&record).await?;
                run.content_expired += 1;
            }
            ExpiryKind::Steps => {
                let newest = chain.iter().map(|s| s.log_index).max().unwrap_or(0);
                if !self.sealed_past(newest).await? {
                    run.deferred += 1;
                    return Ok(());
                }
                record.last_link = last.chain_hash.clone();
                record.next_seq = last.session_seq + 1;
                self.checkpointer.sign_expiry(&mut record);
                self.store.put_expiration(&record).await?;
                self.store.remove_expired_steps(project, session, &record.log_indexes).await?;
                if let Some(index) = self.search.index() {
                    let ids = chain.iter().map(|s| flightlog_index::point_id(project, session, s.step)).collect::<Vec<_>>();
                    index.delete(ids).await.map_err(|e| AppError::unavailable("steps removed, but the vector index failed; the next run retries", e))?;
                }
                run.steps_expired += 1;
                run.steps_removed += chain.len() as u64;
            }
        }
        Ok(())
    }

    /// Whether a signed checkpoint covers log position `index`, sealing
    /// one first if needed: a step leaves storage only once the signed log
    /// proves it existed.
    async fn sealed_past(&self, index: u64) -> Result<bool, AppError> {
        let covered = |c: Option<u64>| c.is_some_and(|size| index < size);
        if covered(self.store.checkpoints().await?.last().map(|c| c.tree_size)) {
            return Ok(true);
        }
        self.checkpointer.seal().await?;
        Ok(covered(self.store.checkpoints().await?.last().map(|c| c.tree_size)))
    }

    /// Runs the expiry job every `interval`, `batch` sessions per project
    /// and kind at a time, until the process ends.
    pub fn spawn_expiry(self, interval: Duration, batch: u32) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                if let Err(e) = self.expire(batch).await {
                    tracing::warn!(error = %e, "the expiry job failed; it runs again at the next interval");
                }
            }
        })
    }
}

fn check_hold_id(id: &str) -> Result<(), AppError> {
    if id.is_empty() {
        return Err(AppError::invalid("id", "is required: the session id or user id to hold"));
    }
    if id.len() > MAX_HOLD_ID {
        return Err(AppError::invalid("id", format!("is {} bytes, at most {MAX_HOLD_ID}", id.len())));
    }
    Ok(())
}
