//! One decision explained: the step, the steps that led to it, what the
//! session set out to do, and whether the record of it is proven unaltered
//! (the "why" page's content, and the MCP server's next).

use crate::{AppError, AppState};
use flightlog_integrity::verify;
use flightlog_store::StoredStep;
use serde_json::Value;

/// How many earlier steps an explanation carries.
pub const EARLIER_STEPS: u64 = 10;

pub struct Explanation {
    pub step: StoredStep,
    /// The steps just before it, oldest first (at most [`EARLIER_STEPS`]).
    pub earlier: Vec<StoredStep>,
    /// What the session set out to do (see [`goal_of`]).
    pub goal: String,
    /// The step's integrity report; None when it could not be checked.
    pub report: Option<verify::Report>,
}

/// What a session set out to do, from its first step: the first user
/// message, else the system prompt, else the reasoning.
pub fn goal_of(first: &StoredStep) -> String {
    let v: Value = serde_json::from_str(&first.raw).unwrap_or(Value::Null);
    let user = v["prompt"]["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str().map(str::to_string));
    user.or_else(|| v["prompt"]["system"].as_str().map(str::to_string))
        .or_else(|| v["agent_thoughts"]["reasoning"].as_str().map(str::to_string))
        .unwrap_or_default()
}

impl AppState {
    /// Step `n` of a session.
    pub async fn step(&self, project: &str, id: &str, n: u64) -> Result<StoredStep, AppError> {
        self.store
            .session_timeline(project, id, n.checked_sub(1), 1)
            .await?
            .into_iter()
            .next()
            .filter(|s| s.step == n)
            .ok_or_else(|| AppError::NotFound(format!("no step {n} in session {id:?}")))
    }

    pub async fn explain(&self, project: &str, id: &str, n: u64) -> Result<Explanation, AppError> {
        let step = self.step(project, id, n).await?;
        let first = self.store.session_timeline(project, id, None, 1).await.unwrap_or_default();
        let earlier = self
            .store
            .session_timeline(project, id, n.checked_sub(EARLIER_STEPS + 1), EARLIER_STEPS as u32)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s.step < n)
            .collect();
        let report = verify::verify_step(&self.store, &self.sealed, project, id, n).await.ok().flatten();
        Ok(Explanation { step, earlier, goal: first.first().map(goal_of).unwrap_or_default(), report })
    }
}
