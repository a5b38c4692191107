//! Flightlog's HTTP API, served by axum.
//!
//! | route | scope | what |
//! |---|---|---|
//! | `GET /healthz` | none | liveness, storage, writer and indexer status |
//! | `GET /metrics` | none | the same figures in Prometheus text format |
//! | `POST /v1/steps` | ingest | JSON object, array or NDJSON; gzip; idempotent |
//! | `POST /v1/traces`, `POST /api/public/otel/v1/traces` | ingest | OTLP/HTTP spans (protobuf or JSON, gzip) → steps |
//! | `GET /v1/sessions` | read | filtered, sorted, cursor-paged summaries |
//! | `GET /v1/sessions/{id}` | read | one session's summary |
//! | `GET /v1/sessions/{id}/steps` | read | the timeline, keyset-paged by step |
//! | `GET /v1/costs` | read | cost by up to two dimensions, computed at query time |
//! | `GET /v1/prices`, `POST /v1/prices/overrides` (admin) | read | price list and project overrides |
//! | `GET/POST /v1/keys`, `DELETE /v1/keys/{id}` | admin | API keys |
//! | `GET /v1/sessions/{id}/verify` | read | integrity report of a session |
//! | `GET /v1/sessions/{id}/evidence` | read | the session's evidence bundle |
//! | `GET /v1/sessions/{id}/reproduction` | read | model, settings, prompts, tool results to re-run it |
//! | `GET /v1/integrity/public-key` | none | the key that signs checkpoints |
//! | `GET /v1/integrity/checkpoints` | read | signed checkpoints |
//! | `POST /v1/integrity/checkpoints` | admin | sign a checkpoint now |
//! | `GET /v1/integrity/verify` | admin | verify every step and checkpoint |
//! | `GET /v1/integrity/consistency?from=M&to=N` | read | proof that checkpoint N extends M |
//! | `POST /v1/erasures` | admin | erase personal content (GDPR), proofs intact |
//! | `GET /v1/search/similar` | read | key decisions like a step or a text, nearest first |
//!
//! Every client error is a JSON body `{"error": {"code", "message",
//! "field"?}}` with a 4xx status ([`error`]). Handlers are thin: decoding
//! lives in `flightlog-decode`, rules in `flightlog-model`, durability in
//! `flightlog-ingest`, SQL in `flightlog-store`.

pub mod auth;
pub mod auth_failures;
pub mod body_timeout;
pub mod error;
pub mod extract;
mod routes;

use auth::KeyRing;
use axum::Router;
use flightlog_ingest::Ingestor;
use flightlog_model::Limits;
use flightlog_integrity::checkpoint::Checkpointer;
use flightlog_integrity::sealed::SealCache;
use flightlog_store::Store;
use std::sync::Arc;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub ingestor: Ingestor,
    pub keys: Arc<KeyRing>,
    pub limits: Arc<Limits>,
    pub checkpointer: Checkpointer,
    /// A checked snapshot of the sealed log, for per-step checks on pages.
    pub sealed: Arc<SealCache>,
    /// Cost budgets; sessions over them are flagged.
    pub budgets: Arc<flightlog_model::budget::Budgets>,
    /// Similar-failure search, or why it is off.
    pub search: Arc<flightlog_index::Search>,
}

impl AppState {
    /// The computed cost of each of these sessions, and whether it is over
    /// its budget (None when no budget applies). One cost query per page.
    pub async fn session_costs(
        &self,
        project: &str,
        sessions: &[(String, Vec<String>)],
    ) -> Result<std::collections::HashMap<String, (f64, Option<bool>)>, flightlog_store::StoreError> {
        if sessions.is_empty() {
            return Ok(Default::default());
        }
        let q = flightlog_store::CostQuery {
            group_by: vec![flightlog_store::CostDimension::Session],
            to_us: i64::MAX / 2,
            sessions: sessions.iter().map(|(id, _)| id.clone()).collect(),
            limit: sessions.len() as u32,
            ..Default::default()
        };
        let costs: std::collections::HashMap<String, f64> = self
            .store
            .costs(project, &q)
            .await?
            .into_iter()
            .filter_map(|r| Some((r.get("session")?.as_str()?.to_string(), r.get("cost")?.as_f64()?)))
            .collect();
        Ok(sessions
            .iter()
            .map(|(id, agents)| {
                let cost = costs.get(id).copied().unwrap_or(0.0);
                let over = self.budgets.limit_for(agents.iter().map(String::as_str)).map(|limit| cost > limit);
                (id.clone(), (cost, over))
            })
            .collect())
    }

    /// What a page of the session list shows beside each summary: its
    /// computed cost, budget verdict and anomalies. The cost query and the
    /// anomaly query run side by side. Shared by the API and the web page.
    pub async fn session_flags(
        &self,
        project: &str,
        sessions: &[flightlog_store::SessionSummary],
    ) -> Result<std::collections::HashMap<String, SessionFlags>, flightlog_store::StoreError> {
        let ids: Vec<(String, Vec<String>)> = sessions.iter().map(|s| (s.session_id.clone(), s.agents.clone())).collect();
        let steps: Vec<(&str, u64)> = sessions.iter().map(|s| (s.session_id.as_str(), s.steps)).collect();
        let (costs, mut anomalies) =
            tokio::try_join!(self.session_costs(project, &ids), self.store.anomalies_of(project, &steps))?;
        Ok(costs
            .into_iter()
            .map(|(id, (cost, over_budget))| {
                let anomalies = anomalies.remove(&id).unwrap_or_default();
                (id, SessionFlags { cost, over_budget, anomalies })
            })
            .collect())
    }
}

/// See [`AppState::session_flags`].
#[derive(Debug, Clone, Default)]
pub struct SessionFlags {
    pub cost: f64,
    /// None when no budget applies.
    pub over_budget: Option<bool>,
    pub anomalies: Vec<flightlog_model::anomaly::Anomaly>,
}

/// The cost groups as a downloadable file (for the UI's downloads).
pub use routes::costs::cost_file;
/// The similar-search parameters and results (for the UI's search page).
pub use routes::search::{HitView, SimilarParams, encode_segment, similar_request};

pub fn router(state: AppState) -> Router {
    routes::router().with_state(state)
}
