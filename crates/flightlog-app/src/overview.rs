//! The overview: how a project's recent days went, at a glance. Sessions,
//! steps, failures and exact cost per day (one cost query grouped by day),
//! the tools and agents that fail most, and the newest flagged sessions
//! (repeated side effects and runaways: the incidents Flightlog detects
//! today).

use crate::costs::{MAX_GROUPS, last_days};
use crate::sessions::{SessionListParams, SessionListing};
use crate::{AppError, AppState, params};
use flightlog_store::overview::{Failing, FailingBy};
use flightlog_store::{CostDimension, CostQuery, CostRow};

/// The ranges offered, in days.
pub const RANGES: [u32; 4] = [1, 7, 30, 90];
const DEFAULT_DAYS: u32 = 7;
const TOP: u32 = 5;

pub struct Overview {
    pub days: u32,
    pub from_us: i64,
    pub to_us: i64,
    /// One row per day with any step, oldest first.
    pub by_day: Vec<CostRow>,
    /// Sessions with a step in the range, each once (a session that runs
    /// over midnight is in two days' rows).
    pub sessions: u64,
    pub failing_tools: Vec<Failing>,
    pub failing_agents: Vec<Failing>,
    /// The newest sessions with an anomaly.
    pub flagged: SessionListing,
}

impl AppState {
    pub async fn overview(&self, project: &str, days: Option<&str>) -> Result<Overview, AppError> {
        let days = params::number::<u32>("days", days.filter(|d| !d.is_empty()))?.unwrap_or(DEFAULT_DAYS);
        if !RANGES.contains(&days) {
            return Err(AppError::invalid("days", format!("one of {RANGES:?}, not {days}")));
        }
        let range = last_days(days);
        let by_day = CostQuery { group_by: vec![CostDimension::Day], limit: MAX_GROUPS, ..range.clone() };
        let flagged = SessionListParams { flagged: Some("true".into()), limit: Some(TOP.to_string()), ..Default::default() }.filter()?;
        let whole = CostQuery { group_by: Vec::new(), limit: 1, ..range.clone() };
        let (by_day, whole, tools, agents, flagged) = tokio::join!(
            self.store.costs(project, &by_day),
            self.store.costs(project, &whole),
            self.store.top_failing(project, FailingBy::Tool, range.from_us, TOP),
            self.store.top_failing(project, FailingBy::Agent, range.from_us, TOP),
            self.list_sessions(project, &flagged),
        );
        let mut by_day = by_day?;
        by_day.sort_by(|a, b| a.group.first().map(|g| &g.1).cmp(&b.group.first().map(|g| &g.1)));
        Ok(Overview {
            days,
            from_us: range.from_us,
            to_us: range.to_us,
            by_day,
            sessions: whole?.first().map_or(0, |r| r.sessions),
            failing_tools: tools?,
            failing_agents: agents?,
            flagged: flagged?,
        })
    }
}
