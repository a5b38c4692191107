//! Reading steps out for exports, a page at a time.

use crate::backend::{Params, StoreError, rows};
use crate::Store;

const EXPORT_STEPS: &str = include_str!("queries/export_steps.sql");

impl Store {
    /// Up to `limit` steps of `project` in [from_us, to_us) after the
    /// (session, step) cursor (`None`: from the start), as JSON rows.
    pub async fn export_steps_page(
        &self,
        project: &str,
        from_us: i64,
        to_us: i64,
        after: Option<(&str, u64)>,
        limit: u32,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, StoreError> {
        // An empty session id sorts before every real one, and step -1
        // before every step: together, "from the start".
        // Step numbers are at most i64::MAX (flightlog-model limits).
        let (session, step) = after.map_or(("", -1), |(s, n)| (s, i64::try_from(n).unwrap_or(i64::MAX)));
        let params = Params::new()
            .text("project", project)
            .number("from_us", from_us)
            .number("to_us", to_us)
            .text("after_session", session)
            .number("after_step", step)
            .number("limit", limit);
        rows(&self.ch.query(EXPORT_STEPS, params).await?)
    }
}
