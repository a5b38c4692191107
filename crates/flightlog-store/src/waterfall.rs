//! What a session's waterfall is drawn from: its extent, then either its
//! steps in a time range (when few enough start there) or the range in
//! time slices, aggregated by the engine.

use crate::backend::rows;
use crate::{Params, Store, StoreError};

const EXTENT: &str = include_str!("queries/session_waterfall_extent.sql");
const STEPS: &str = include_str!("queries/session_waterfall_steps.sql");
const BINS: &str = include_str!("queries/session_waterfall_bins.sql");

#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct WaterfallExtent {
    /// Steps that start in the range asked for.
    pub in_range: u64,
    /// Steps in the whole session.
    pub steps: u64,
    pub first_us: i64,
    /// When the last step ended (start + duration).
    pub last_us: i64,
    pub tokens_before: u64,
}

/// One step as a bar.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct WaterfallStep {
    pub step: u64,
    pub start_us: i64,
    pub duration_ms: u64,
    pub tool: String,
    pub status: String,
    pub failed: bool,
    pub tokens: u64,
    /// How many steps of the session ran the same tool with identical
    /// parameters (0 for a step without a tool).
    pub same_action: u64,
}

/// One time slice of a long session.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct WaterfallSlice {
    pub slice: i64,
    pub steps: u64,
    pub failed: u64,
    pub tokens: u64,
    pub first_step: u64,
    pub last_step: u64,
}

fn range(project: &str, session: &str, from_us: i64, to_us: i64) -> Params {
    Params::new().text("project", project).text("session", session).number("from_us", from_us).number("to_us", to_us)
}

impl Store {
    pub async fn waterfall_extent(&self, project: &str, session: &str, from_us: i64, to_us: i64) -> Result<WaterfallExtent, StoreError> {
        Ok(rows(&self.ch.query(EXTENT, range(project, session, from_us, to_us)).await?)?.into_iter().next().unwrap_or_default())
    }

    /// The steps that start in [from_us, to_us), by start time.
    pub async fn waterfall_steps(&self, project: &str, session: &str, from_us: i64, to_us: i64) -> Result<Vec<WaterfallStep>, StoreError> {
        rows(&self.ch.query(STEPS, range(project, session, from_us, to_us)).await?)
    }

    /// [from_us, to_us) in slices of `width_us`, the empty ones left out.
    pub async fn waterfall_slices(
        &self,
        project: &str,
        session: &str,
        from_us: i64,
        to_us: i64,
        width_us: i64,
    ) -> Result<Vec<WaterfallSlice>, StoreError> {
        rows(&self.ch.query(BINS, range(project, session, from_us, to_us).number("width_us", width_us.max(1))).await?)
    }
}
