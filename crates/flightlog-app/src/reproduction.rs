//! Reproduction: what is needed to re-run a session, step by step: the
//! model and its settings, the prompt or messages, the completion, and the
//! tool results the agent saw.

use crate::sessions::TimelinePage;
use crate::{AppError, AppState};
use serde_json::{Value, json};

impl AppState {
    /// What is needed to re-run a session's decisions, step by step: up to
    /// `limit` steps (at most [`crate::sessions::MAX_PAGE`]: one session
    /// may hold millions) after step `after`, with `next_after` when the
    /// page is full, as the timeline's pages. A session with no step is not
    /// found; a page past its last step is empty.
    /// A page of the recipe, and the user of each step in it (for the
    /// read's access record).
    pub async fn reproduction(&self, project: &str, id: &str, after: Option<u64>, limit: u32) -> Result<(Value, Vec<String>), AppError> {
        crate::params::session_id(id)?;
        let steps = self.store.session_timeline(project, id, after, limit).await?;
        self.found(project, steps.is_empty(), after, id).await?;
        let TimelinePage { steps, next_after } = TimelinePage::of(steps, limit);
        let users = steps.iter().map(|s| s.user_id.clone()).collect();
        let steps = steps
            .into_iter()
            .map(|stored| {
                let step: Value =
                    flightlog_model::stored::read_step_json(&stored.raw).map_err(|e| AppError::unavailable("a stored step is unreadable", e))?;
                Ok(reproduction_of(&step, &stored.step_hash))
            })
            .collect::<Result<Vec<_>, AppError>>()?;
        let mut recipe = json!({"format": "flightlog-reproduction/v1", "session_id": id, "steps": steps});
        if let Some(next) = next_after {
            recipe["next_after"] = next.into();
        }
        Ok((recipe, users))
    }
}

pub fn reproduction_of(step: &Value, step_hash: &str) -> Value {
    let m = &step["model"];
    json!({
        "step": step["step"],
        "timestamp": step["timestamp"],
        "step_hash": step_hash,
        "agent": step["agent"],
        "model": {
            "provider": m["provider"], "name": m["name"], "version": m["version"],
            "temperature": m["temperature"], "top_p": m["top_p"], "seed": m["seed"], "max_tokens": m["max_tokens"],
        },
        "prompt": {"system": step["prompt"]["system"], "messages": step["prompt"]["messages"]},
        "completion": step["prompt"]["completion"],
        "decision": {"chosen_tool": step["agent_thoughts"]["chosen_tool"], "considered_tools": step["agent_thoughts"]["considered_tools"]},
        "tool": {
            "name": step["tool_execution"]["name"], "params": step["tool_execution"]["params"],
            "result": step["tool_execution"]["result"], "status": step["tool_execution"]["status"],
            "error": step["tool_execution"]["error"],
        },
    })
}
