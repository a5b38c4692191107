//! The failure patterns of production agents that a session list flags:
//! the same side effect repeated (one tool with identical parameters, run
//! again and again: the same email to the same customer) and runaway
//! sessions (far more steps than any task needs). Over-budget sessions are
//! flagged by `budget`.

/// Runs of one action (tool + identical parameters) that make it a
/// repeated side effect.
pub const REPEATED_ACTION_TIMES: u64 = 3;
/// Steps that make a session a runaway.
pub const RUNAWAY_STEPS: u64 = 1_000;

#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Anomaly {
    /// `tool` ran `times` times with identical parameters.
    RepeatedAction { tool: String, times: u64 },
    Runaway { steps: u64 },
    /// An incident the detectors found involving the session (`id`:
    /// `GET /v1/incidents/{id}`).
    Incident { id: String, incident: crate::detect::IncidentKind, count: u64 },
}

impl Anomaly {
    /// A short label for a badge.
    pub fn label(&self) -> String {
        match self {
            Self::RepeatedAction { tool, times } => format!("{tool} ×{times}"),
            Self::Runaway { steps } => format!("runaway: {steps} steps"),
            Self::Incident { incident, count, .. } => format!("{} ×{count}", incident.title()),
        }
    }
}

/// A session's anomalies, from its step count and its most repeated action.
pub fn anomalies(steps: u64, most_repeated: Option<(&str, u64)>) -> Vec<Anomaly> {
    let mut out = Vec::new();
    if let Some((tool, times)) = most_repeated.filter(|(_, t)| *t >= REPEATED_ACTION_TIMES) {
        out.push(Anomaly::RepeatedAction { tool: tool.to_string(), times });
    }
    if steps >= RUNAWAY_STEPS {
        out.push(Anomaly::Runaway { steps });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_from_three_and_runaways_from_a_thousand_steps() {
        assert!(anomalies(10, Some(("send_email", 2))).is_empty());
        assert_eq!(anomalies(10, Some(("send_email", 5))), vec![Anomaly::RepeatedAction { tool: "send_email".into(), times: 5 }]);
        assert_eq!(anomalies(999, None), vec![]);
        assert_eq!(anomalies(2_000, None), vec![Anomaly::Runaway { steps: 2_000 }]);
        assert_eq!(anomalies(2_000, Some(("t", 3))).len(), 2);
        assert_eq!(Anomaly::RepeatedAction { tool: "send_email".into(), times: 5 }.label(), "send_email ×5");
        let json = serde_json::to_value(Anomaly::Runaway { steps: 1_500 }).unwrap();
        assert_eq!(json, serde_json::json!({"kind": "runaway", "steps": 1500}));
    }
}
