//! Reproduction: what is needed to re-run a session, step by step: the
//! model and its settings, the prompt or messages, the completion, and the
//! tool results the agent saw.

use crate::{AppError, AppState};
use serde_json::{Value, json};

const PAGE: u32 = 1000;

impl AppState {
    /// Everything needed to re-run a session's decisions, step by step.
    pub async fn reproduction(&self, project: &str, id: &str) -> Result<Value, AppError> {
        let mut steps = Vec::new();
        let mut after = None;
        loop {
            let page = self.store.session_timeline(project, id, after, PAGE).await?;
            let full = page.len() as u32 == PAGE;
            after = page.last().map(|s| s.step);
            for stored in page {
                let step: Value =
                    serde_json::from_str(&stored.raw).map_err(|e| AppError::unavailable("a stored step is unreadable", e))?;
                steps.push(reproduction_of(&step, &stored.step_hash));
            }
            if !full {
                break;
            }
        }
        if steps.is_empty() {
            return Err(AppError::no_session(id));
        }
        Ok(json!({"format": "flightlog-reproduction/v1", "session_id": id, "steps": steps}))
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
