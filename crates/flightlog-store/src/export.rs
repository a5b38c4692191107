//! Reading steps out for exports, a page at a time.

use crate::clickhouse::{Params, StoreError, rows};
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
        let (session, step) = after.map_or((String::new(), -1), |(s, n)| (s.to_string(), n as i64));
        let params: Params = vec![
            ("project", project.to_string()),
            ("from_us", from_us.to_string()),
            ("to_us", to_us.to_string()),
            ("after_session", session),
            ("after_step", step.to_string()),
            ("limit", limit.to_string()),
        ];
        rows(&self.ch.query(EXPORT_STEPS, params).await?)
    }
}
