//! The guard's storage: what steps did, read back in log order to rebuild
//! its memory at start-up (`queries/actions_since.sql`), and its answers,
//! appended to `guard_answers` (schema/0017_guard_answers.sql).

use crate::backend::{Params, StoreError, rows};
use crate::rowbinary::RowBinary;
use crate::Store;

const ACTIONS_SINCE: &str = include_str!("queries/actions_since.sql");
const ALLOWED_ANSWERS_SINCE: &str = include_str!("queries/allowed_answers_since.sql");
const INSERT_ANSWERS: &str = "INSERT INTO guard_answers (project, at_us, key_id, session_id, user_id, agent_name, \
    tool_name, action_key, allowed, reason, message, previous)";

/// One stored step, as much of it as the guard needs.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct ActionRow {
    pub project: String,
    pub session_id: String,
    pub step: u64,
    pub ts_us: i64,
    /// When the step was stored.
    pub received_us: i64,
    pub agent_name: String,
    pub user_id: String,
    pub tool_name: String,
    pub tool_params: String,
    pub failed: bool,
    pub tokens: u64,
    /// The first 8 bytes of the result's SHA-256, in hex (the model's
    /// `result_hash`, computed by the engine so results are not read).
    pub result_hex: String,
    /// What the step did before an erasure blanked its parameters and
    /// result (0: not erased).
    #[serde(default)]
    pub erased_action_key: u64,
    #[serde(default)]
    pub erased_result: u64,
}

/// An allowed answer, as much of it as the guard's rate windows need.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct AllowedAnswer {
    pub project: String,
    pub at_us: i64,
    pub session_id: String,
    pub user_id: String,
    pub agent_name: String,
    pub tool_name: String,
    pub action_key: u64,
}

/// One answer of the guard, as stored.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GuardAnswerRow {
    pub project: String,
    pub at_us: i64,
    pub key_id: String,
    pub session_id: String,
    pub user_id: String,
    pub agent_name: String,
    pub tool_name: String,
    pub action_key: u64,
    pub allowed: bool,
    /// '' when allowed.
    pub reason: String,
    pub message: String,
    /// JSON: `[{"session_id", "step", "timestamp"}]`.
    pub previous: String,
}

impl Store {
    /// Every step taken at or after `since_us`, in log order, a page of
    /// `page` log positions at a time. Returns how many were read.
    pub async fn for_each_action_since(&self, since_us: i64, page: u64, each: impl FnMut(ActionRow)) -> Result<u64, StoreError> {
        let end = self.next_log_index().await?;
        self.for_each_action_in(0..end, since_us, page, each).await
    }

    /// [`Store::for_each_action_since`], of the log positions in `positions`
    /// only (steps stored by a commit that failed, say).
    pub async fn for_each_action_in(
        &self,
        positions: std::ops::Range<u64>,
        since_us: i64,
        page: u64,
        mut each: impl FnMut(ActionRow),
    ) -> Result<u64, StoreError> {
        let mut seen = 0;
        let mut from = positions.start;
        while from < positions.end {
            let count = page.max(1).min(positions.end - from);
            let params = Params::new().number("from", from).number("count", count).number("since_us", since_us);
            for row in rows::<ActionRow>(&self.ch.query(ACTIONS_SINCE, params).await?)? {
                each(row);
                seen += 1;
            }
            from += count;
        }
        Ok(seen)
    }

    /// The allowed answers given at or after `since_us`, oldest first (a
    /// rate period's worth: few).
    pub async fn allowed_answers_since(&self, since_us: i64) -> Result<Vec<AllowedAnswer>, StoreError> {
        rows(&self.ch.query(ALLOWED_ANSWERS_SINCE, Params::new().number("since_us", since_us)).await?)
    }

    /// Appends answers, in one insert; returns once they are durable.
    pub async fn record_guard_answers(&self, answers: &[GuardAnswerRow]) -> Result<(), StoreError> {
        if answers.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        let mut w = RowBinary(&mut buf);
        for a in answers {
            w.string(&a.project);
            w.i64(a.at_us);
            w.string(&a.key_id);
            w.string(&a.session_id);
            w.string(&a.user_id);
            w.string(&a.agent_name);
            w.string(&a.tool_name);
            w.u64(a.action_key);
            w.bool(a.allowed);
            w.string(&a.reason);
            w.string(&a.message);
            w.string(&a.previous);
        }
        self.ch.insert(INSERT_ANSWERS, buf).await?;
        Ok(())
    }
}
