//! Key decisions for the similar-failure index: reading them in order of
//! acceptance, and how far the index is behind.

use crate::backend::{Params, StoreError, rows};
use crate::Store;
use flightlog_model::decision::Decision;

const KEY_DECISIONS_FROM: &str = include_str!("queries/key_decisions_from.sql");
const KEY_DECISION_LAG: &str = include_str!("queries/key_decision_lag.sql");
const ERASED_FIELDS_AT_POSITIONS: &str = include_str!("queries/erased_fields_at_positions.sql");
const DECISION_OF_STEP: &str = include_str!("queries/decision_of_step.sql");

/// A step's decision, with what the index stores beside its vector.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct DecisionRow {
    pub log_index: u64,
    pub project: String,
    pub session_id: String,
    pub step: u64,
    pub ts_us: i64,
    pub agent_name: String,
    pub model_name: String,
    pub reasoning: String,
    pub chosen_tool: String,
    pub tool_name: String,
    pub tool_params: String,
    pub tool_status: String,
    pub tool_error: String,
    pub failed: bool,
    /// The stored rule's verdict (schema/0010_key_decision.sql): the
    /// indexer embeds exactly the steps for which it is true.
    pub key_decision: bool,
    /// How many of its fields were erased when it was read (0: none).
    #[serde(default)]
    pub erased_fields: u64,
}

impl DecisionRow {
    pub fn decision(&self) -> Decision {
        Decision {
            reasoning: self.reasoning.clone(),
            chosen_tool: self.chosen_tool.clone(),
            tool_name: self.tool_name.clone(),
            tool_params: self.tool_params.clone(),
            tool_error: self.tool_error.clone(),
            failed: self.failed,
        }
    }
}

/// Key decisions not yet indexed, and the arrival time of the oldest.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
pub struct DecisionLag {
    pub steps_behind: u64,
    pub oldest_us: i64,
}

impl Store {
    /// Up to `limit` key decisions with log_index >= `from`, in log order.
    pub async fn key_decisions_from(&self, from: u64, limit: u32) -> Result<Vec<DecisionRow>, StoreError> {
        let params = Params::new().number("from", from).number("limit", limit);
        rows(&self.ch.query(KEY_DECISIONS_FROM, params).await?)
    }

    /// How many fields are erased in each step still stored at these log
    /// positions (a position missing: its step is gone).
    pub async fn erased_fields_at(&self, log_indexes: &[u64]) -> Result<std::collections::HashMap<u64, u64>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Found {
            log_index: u64,
            erased_fields: u64,
        }
        let (Some(first), Some(last)) = (log_indexes.iter().min(), log_indexes.iter().max()) else { return Ok(Default::default()) };
        let params = Params::new().number("first", *first).number("last", *last).numbers("indexes", log_indexes.iter().copied());
        let found: Vec<Found> = rows(&self.ch.query(ERASED_FIELDS_AT_POSITIONS, params).await?)?;
        Ok(found.into_iter().map(|f| (f.log_index, f.erased_fields)).collect())
    }

    /// Key decisions with log_index >= `from`, and the oldest one's arrival.
    pub async fn key_decision_lag(&self, from: u64) -> Result<DecisionLag, StoreError> {
        let found: Vec<DecisionLag> = rows(&self.ch.query(KEY_DECISION_LAG, Params::new().number("from", from)).await?)?;
        Ok(found.first().copied().unwrap_or_default())
    }

    /// One step's decision fields, whether or not it is a key decision.
    pub async fn decision_of_step(&self, project: &str, session_id: &str, step: u64) -> Result<Option<DecisionRow>, StoreError> {
        let params = Params::new().text("project", project).text("session", session_id).number("step", step);
        Ok(rows(&self.ch.query(DECISION_OF_STEP, params).await?)?.into_iter().next())
    }
}
