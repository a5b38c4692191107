//! Steps made from OpenTelemetry spans: which span a stored step came from.

use crate::Store;
use crate::backend::{Params, StoreError, rows};
use std::collections::HashMap;

const SPANS_OF_STEPS: &str = include_str!("queries/spans_of_steps.sql");

/// What a stored step was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A step sent natively (`POST /v1/steps`), not from a span.
    Native,
    /// The span of these ids (trace, span), as kept in hex under `otel`.
    Span { trace_id: String, span_id: String },
}

impl Store {
    /// What each of these stored steps of a session was made from, by
    /// step number; a step that is not stored is absent.
    pub async fn spans_of_steps(&self, project: &str, session: &str, steps: &[u64]) -> Result<HashMap<u64, Origin>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            step: u64,
            from_span: u8,
            trace_id: String,
            span_id: String,
        }
        let params = Params::new().text("project", project).text("session", session).numbers("steps", steps.iter().copied());
        let found: Vec<Row> = rows(&self.ch.query(SPANS_OF_STEPS, params).await?)?;
        Ok(found
            .into_iter()
            .map(|r| (r.step, if r.from_span == 0 { Origin::Native } else { Origin::Span { trace_id: r.trace_id, span_id: r.span_id } }))
            .collect())
    }
}
