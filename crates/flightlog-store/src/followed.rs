//! What the detectors that run behind ingestion read: the stored steps in
//! order of acceptance, sessions' goals, and where a time window starts
//! in the log.

use crate::backend::{Params, StoreError, rows};
use crate::Store;

const FOLLOWED_STEPS_FROM: &str = include_str!("queries/followed_steps_from.sql");
const SESSION_GOALS: &str = include_str!("queries/session_goals.sql");
const FIRST_LOG_INDEX_SINCE: &str = include_str!("queries/first_log_index_since.sql");

/// One stored step, as those detectors read it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct FollowedStep {
    pub log_index: u64,
    pub project: String,
    pub session_id: String,
    pub step: u64,
    pub ts_us: i64,
    pub agent_name: String,
    pub user_id: String,
    pub tool_name: String,
    pub tool_params: String,
    pub failed: bool,
    pub reasoning: String,
}

/// A session's first step's prompt messages and reasoning.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SessionGoal {
    pub session_id: String,
    pub prompt_messages: String,
    pub reasoning: String,
}

#[derive(serde::Deserialize)]
struct Position {
    log_index: u64,
}

impl Store {
    /// Up to `limit` stored steps with `from <= log_index < below`, in log
    /// order.
    pub async fn followed_steps_from(&self, from: u64, below: u64, limit: u32) -> Result<Vec<FollowedStep>, StoreError> {
        let params = Params::new().number("from", from).number("below", below).number("limit", limit);
        rows(&self.ch.query(FOLLOWED_STEPS_FROM, params).await?)
    }

    /// The first steps' prompts and reasonings of these sessions of `project`.
    pub async fn session_goals(&self, project: &str, sessions: &[String]) -> Result<Vec<SessionGoal>, StoreError> {
        if sessions.is_empty() {
            return Ok(Vec::new());
        }
        #[derive(serde::Deserialize)]
        struct Row {
            #[serde(flatten)]
            goal: SessionGoal,
            message_refs: Vec<String>,
        }
        let params = Params::new().text("project", project).texts("sessions", sessions);
        let found: Vec<Row> = rows(&self.ch.query(SESSION_GOALS, params).await?)?;
        let messages = self.stored_messages(project, found.iter().map(|r| (r.goal.session_id.as_str(), r.message_refs.as_slice()))).await?;
        Ok(found
            .into_iter()
            .map(|mut r| {
                if let Some(text) = messages.messages_column(&r.goal.session_id, &r.message_refs) {
                    r.goal.prompt_messages = text;
                }
                r.goal
            })
            .collect())
    }

    /// The first log position of a step timed from `since_us` to
    /// `until_us`; `end` when there is none.
    pub async fn first_log_index_since(&self, since_us: i64, until_us: i64, end: u64) -> Result<u64, StoreError> {
        let params = Params::new().number("since_us", since_us).number("until_us", until_us).number("end", end);
        let found: Vec<Position> = rows(&self.ch.query(FIRST_LOG_INDEX_SINCE, params).await?)?;
        Ok(found.first().map_or(end, |p| p.log_index))
    }
}
