//! Steps made from OpenTelemetry spans: which span a stored step came from.

use crate::Store;
use crate::backend::{Params, StoreError, rows};
use std::collections::HashMap;

const SPANS_OF_STEPS: &str = include_str!("queries/spans_of_steps.sql");

/// A span's identity, as its ids are kept in hex under the step's `otel`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanIds {
    pub trace_id: String,
    pub span_id: String,
}

impl Store {
    /// The span each of these stored steps of a session was made from, by
    /// step number; a step that is not stored is absent.
    pub async fn spans_of_steps(&self, project: &str, session: &str, steps: &[u64]) -> Result<HashMap<u64, SpanIds>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            step: u64,
            trace_id: String,
            span_id: String,
        }
        let params = Params::new().text("project", project).text("session", session).numbers("steps", steps.iter().copied());
        let found: Vec<Row> = rows(&self.ch.query(SPANS_OF_STEPS, params).await?)?;
        Ok(found.into_iter().map(|r| (r.step, SpanIds { trace_id: r.trace_id, span_id: r.span_id })).collect())
    }
}
