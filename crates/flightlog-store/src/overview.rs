//! What the overview page shows of a project's recent days besides their
//! costs (which the cost query gives per day, with sessions, steps and
//! failures): the tools and agents that fail most.

use crate::backend::rows;
use crate::{Params, Store, StoreError};

const TOP_FAILING: &str = include_str!("queries/top_failing.sql");

#[derive(Clone, Debug, serde::Deserialize)]
pub struct Failing {
    pub name: String,
    pub failed: u64,
    pub runs: u64,
}

/// What [`Store::top_failing`] ranks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailingBy {
    Tool,
    Agent,
}

impl Store {
    pub async fn top_failing(&self, project: &str, by: FailingBy, from_us: i64, limit: u32) -> Result<Vec<Failing>, StoreError> {
        let by = match by {
            FailingBy::Tool => "tool",
            FailingBy::Agent => "agent",
        };
        let params = Params::new().text("project", project).text("by", by).number("from_us", from_us).number("limit", limit);
        rows(&self.ch.query(TOP_FAILING, params).await?)
    }
}
