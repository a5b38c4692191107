//! Retention's storage side: which sessions are due, the signed expiry
//! records (`expirations`), and removing a session's expired steps. When
//! and under which policy is the application core's; what a record proves
//! is flightlog-integrity's.

use crate::backend::{Params, StoreError, column, rows};
use crate::Store;
use flightlog_model::retention::ExpiryKind;
use sha2::{Digest, Sha256};

const SESSIONS_TO_EXPIRE: &str = include_str!("queries/sessions_to_expire.sql");
const SESSION_CHAIN: &str = include_str!("queries/session_chain_for_expiry.sql");
const LOG_POSITIONS: &str = include_str!("queries/log_positions_of_session.sql");
const REMOVE_EXPIRED_STEPS: &str = include_str!("queries/remove_expired_steps.sql");
const FORGET_SUMMARY: &str = include_str!("queries/forget_session_summary.sql");
const FORGET_ACTIONS: &str = include_str!("queries/forget_session_actions.sql");
const SESSION_DERIVED_TOTALS: &str = include_str!("queries/session_derived_totals.sql");
const ALL_EXPIRATIONS: &str = include_str!("queries/expirations_all.sql");
const EXPIRATIONS_OF_PROJECT: &str = include_str!("queries/expirations_of_project.sql");
const EXPIRATIONS_OF_SESSION: &str = include_str!("queries/expirations_of_session.sql");
const NEWEST_STEP_EXPIRIES: &str = include_str!("queries/newest_step_expiries.sql");

/// How many of the newest whole-step expiries each run finishes again.
/// One session is removed at a time, so a removal cut short by a crash is
/// the newest record's; the margin is for runs that went on to others
/// after a session failed. (A record is written once: a session retried
/// long after its record ranks by its first try.)
const EXPIRIES_FINISHED_AGAIN: u32 = 1000;

/// How many times an expiry rebuilds a session's derived rows again when
/// it finds a step counted twice; past that the start-up check repairs them.
const REBUILDS_AFTER_A_DOUBLE_COUNT: usize = 3;

/// One session's stored steps, and what its derived rows say of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct DerivedTotals {
    pub steps: u64,
    pub tool_runs: u64,
    pub summarised_steps: u64,
    pub counted_tool_runs: u64,
    pub rolled_up_steps: u64,
}

impl DerivedTotals {
    /// Whether a derived table counts more than is stored. Fewer is not a
    /// fault: a step's views write their rows just after its own part is
    /// visible, so a read in between sees the step and not yet its rows.
    pub fn counts_a_step_twice(&self) -> bool {
        self.summarised_steps > self.steps || self.rolled_up_steps > self.steps || self.counted_tool_runs > self.tool_runs
    }
}

/// A stored step as an expiry sees it.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct ChainStep {
    pub step: u64,
    pub log_index: u64,
    pub session_seq: u64,
    /// Hex.
    pub chain_hash: String,
    pub ts_us: i64,
    pub user_id: String,
}

/// A signed statement that a session's content or steps expired.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct ExpirationRow {
    pub project: String,
    pub session_id: String,
    /// `content` or `steps` ([`ExpiryKind`]; text as stored, parsed by
    /// whoever checks the record).
    pub kind: String,
    /// The log positions of the steps it covers.
    pub log_indexes: Vec<u64>,
    /// Hex chain link after the last expired step (empty for content).
    pub last_link: String,
    /// The session position after the last expired step.
    pub next_seq: u64,
    /// The retention policy in force, as JSON.
    pub policy: String,
    pub expired_us: i64,
    pub public_key: String,
    pub signature: String,
}

impl ExpirationRow {
    /// Derived from what the record states, not when: an expiry run again
    /// after a crash states the same and is stored once.
    fn deduplication_token(&self) -> String {
        let mut h = Sha256::new();
        for part in [&self.project, &self.session_id, &self.kind] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        for i in &self.log_indexes {
            h.update(i.to_be_bytes());
        }
        format!("expiry-{}", hex::encode(h.finalize()))
    }
}

/// Which sessions of a project are due for an expiry: last step before
/// `cutoff_us`, none of the held sessions, no step of a held user.
pub struct Due<'a> {
    pub project: &'a str,
    pub kind: ExpiryKind,
    pub cutoff_us: i64,
    pub held_sessions: &'a [String],
    pub held_users: &'a [String],
}

impl Store {
    /// At most `limit` sessions of `project` due for `kind` (last step
    /// before `cutoff_us`, not held, not done yet), oldest first.
    pub async fn sessions_to_expire(&self, due: &Due<'_>, limit: u32) -> Result<Vec<String>, StoreError> {
        let params = Params::new()
            .text("project", due.project)
            .text("kind", due.kind.as_str())
            .number("cutoff_us", due.cutoff_us)
            .texts("held_sessions", due.held_sessions)
            .texts("held_users", due.held_users)
            .number("limit", limit);
        column(&self.ch.query(SESSIONS_TO_EXPIRE, params).await?)
    }

    /// The session's positions in the log of record.
    pub async fn log_positions(&self, project: &str, session: &str) -> Result<Vec<u64>, StoreError> {
        column(&self.ch.query(LOG_POSITIONS, Params::new().text("project", project).text("session", session)).await?)
    }

    /// The session's stored steps in acceptance order.
    pub async fn session_chain(&self, project: &str, session: &str) -> Result<Vec<ChainStep>, StoreError> {
        rows(&self.ch.query(SESSION_CHAIN, Params::new().text("project", project).text("session", session)).await?)
    }

    /// Stores a signed expiry record (once, however often it is stored).
    pub async fn put_expiration(&self, row: &ExpirationRow) -> Result<(), StoreError> {
        // The token is hex: safe as the settings clause's literal.
        let sql = format!(
            "INSERT INTO expirations (project, session_id, kind, log_indexes, last_link, next_seq, policy, expired_us, public_key, signature) \
             SETTINGS insert_deduplicate = 1, insert_deduplication_token = '{}' \
             SELECT {{project:String}}, {{session:String}}, {{kind:String}}, {{indexes:Array(UInt64)}}, {{last_link:String}}, \
             {{next_seq:UInt64}}, {{policy:String}}, {{expired_us:Int64}}, {{public_key:String}}, {{signature:String}}",
            row.deduplication_token()
        );
        let params = Params::new()
            .text("project", &row.project)
            .text("session", &row.session_id)
            .text("kind", &row.kind)
            .numbers("indexes", row.log_indexes.iter().copied())
            .text("last_link", &row.last_link)
            .number("next_seq", row.next_seq)
            .text("policy", &row.policy)
            .number("expired_us", row.expired_us)
            .text("public_key", &row.public_key)
            .text("signature", &row.signature);
        self.ch.query(&sql, params).await?;
        Ok(())
    }

    /// Removes the steps at `log_indexes` of a session from storage, then
    /// recomputes the session's derived rows (its list entry, its action
    /// counts, its cost rollups) from the steps left: none after a whole
    /// session expired, the ones that arrived while it was expiring
    /// otherwise. Idempotent.
    pub async fn remove_expired_steps(&self, project: &str, session: &str, log_indexes: &[u64]) -> Result<(), StoreError> {
        let params = || Params::new().text("project", project).text("session", session);
        self.removals.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let removed = self.ch.query(REMOVE_EXPIRED_STEPS, params().numbers("indexes", log_indexes.iter().copied())).await;
        self.removals.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        removed?;
        // No copy kept to hash the next long value faster outlives them.
        flightlog_model::prefix_hash::forget();
        // Then the messages no step left refers to. Never before: a step
        // must not outlive its messages, even if the removal is cut short.
        // After a crash here the session is still listed, with no steps,
        // and the next run comes back here; or, once the start-up check has
        // rebuilt the list without it, finish_cut_short_removals does.
        self.drop_unneeded_messages(project, &[session.to_string()]).await?;
        // A crash between these leaves the derived tables disagreeing with
        // the steps; the start-up check finds that and rebuilds them.
        self.rebuild_derived_rows_of(project, session).await?;
        // A step of this session stored while the rebuild ran can have had
        // its views' rows written after the forget and also be read by the
        // rebuild: counted twice. Holding ingestion off for the rebuild's
        // mutations would stall every client, so look afterwards instead.
        for _ in 0..REBUILDS_AFTER_A_DOUBLE_COUNT {
            if !self.repair_derived_rows_of(project, session).await? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Drops what the newest whole-step expiries may have left behind: the
    /// messages of a session whose steps went but whose removal stopped
    /// before its messages went (a crash, a full disk). A run would come
    /// back to that session while it is listed, but the start-up check,
    /// finding the list counting steps that are gone, rebuilds the list
    /// without it (as does the writer's recovery from a failed write).
    /// Cheap when nothing is left: one read of the newest records and one
    /// primary-key read per project.
    pub async fn finish_cut_short_removals(&self) -> Result<(), StoreError> {
        #[derive(serde::Deserialize)]
        struct Expired {
            project: String,
            sessions: Vec<String>,
        }
        let params = Params::new().number("limit", EXPIRIES_FINISHED_AGAIN);
        for expired in rows::<Expired>(&self.ch.query(NEWEST_STEP_EXPIRIES, params).await?)? {
            self.drop_unneeded_messages(&expired.project, &expired.sessions).await?;
        }
        Ok(())
    }

    /// Forgets a session's derived rows and computes them again from its
    /// steps.
    async fn rebuild_derived_rows_of(&self, project: &str, session: &str) -> Result<(), StoreError> {
        let params = || Params::new().text("project", project).text("session", session);
        self.ch.query(FORGET_SUMMARY, params()).await?;
        self.ch.query(FORGET_ACTIONS, params()).await?;
        self.ch.query(&crate::sessions::rebuild_summaries_of_one_session(), params()).await?;
        self.ch.query(&crate::sessions::rebuild_actions_of_one_session(), params()).await?;
        self.rebuild_session_cost_rollups(project, session).await
    }

    /// What a session's derived rows say about its steps, against the steps.
    pub async fn session_derived_totals(&self, project: &str, session: &str) -> Result<DerivedTotals, StoreError> {
        let params = Params::new().text("project", project).text("session", session);
        let found: Vec<DerivedTotals> = rows(&self.ch.query(SESSION_DERIVED_TOTALS, params).await?)?;
        found.into_iter().next().ok_or_else(|| StoreError::Decode("the session's derived totals came back empty".into()))
    }

    /// Rebuilds a session's derived rows if they count a step twice.
    /// Whether it rebuilt.
    pub async fn repair_derived_rows_of(&self, project: &str, session: &str) -> Result<bool, StoreError> {
        let totals = self.session_derived_totals(project, session).await?;
        if !totals.counts_a_step_twice() {
            return Ok(false);
        }
        tracing::warn!(project, session, ?totals, "a session's derived rows count a step twice after its expiry; rebuilding them");
        self.rebuild_derived_rows_of(project, session).await?;
        Ok(true)
    }

    /// Every expiry record, for verification.
    pub async fn expirations(&self) -> Result<Vec<ExpirationRow>, StoreError> {
        rows(&self.ch.query(ALL_EXPIRATIONS, Params::new()).await?)
    }

    /// One session's expiry records.
    pub async fn session_expirations(&self, project: &str, session: &str) -> Result<Vec<ExpirationRow>, StoreError> {
        rows(&self.ch.query(EXPIRATIONS_OF_SESSION, Params::new().text("project", project).text("session", session)).await?)
    }

    /// A project's newest `limit` expiry records.
    pub async fn project_expirations(&self, project: &str, limit: u32) -> Result<Vec<ExpirationRow>, StoreError> {
        rows(&self.ch.query(EXPIRATIONS_OF_PROJECT, Params::new().text("project", project).number("limit", limit)).await?)
    }
}
