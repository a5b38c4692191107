//! "Has this happened before?": nearest key decisions to a step or a text.
//!
//! Queries have their own model instance, so a search never waits behind
//! the indexer's batch. Searching from a step reuses the step's stored
//! vector when it is indexed, and embeds its text when it is not yet.

use crate::indexer::IndexerStatus;
use crate::{ERROR_TEXT, Hit, IndexError, SearchFilter, VectorIndex, WHOLE_TEXT, point_id};
use flightlog_embed::{Embedder, Reader};
use flightlog_model::decision::mix_vectors;
use flightlog_store::{DecisionRow, Store, StoreError};
use std::sync::{Arc, Mutex};

/// Results per search, at most.
pub const MAX_LIMIT: usize = 100;
/// Characters of a free-text query, at most.
pub const MAX_QUERY_CHARS: usize = 2_000;

/// What to search from.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    Step { session_id: String, step: u64 },
    Text(String),
}

#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: Query,
    /// Filters; `failed_only: None` means "failures only when searching
    /// from a failed step, everything otherwise".
    pub filter: SearchFilter,
    pub failed_only: Option<bool>,
    pub limit: usize,
}

/// The outcome, with what was searched from.
#[derive(Debug, Clone)]
pub struct SearchOutcome {
    pub hits: Vec<Hit>,
    /// The step searched from, when there was one.
    pub origin: Option<DecisionRow>,
    pub failed_only: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("similar-failure search is unavailable: {0}")]
    Unavailable(String),
    #[error("step {step} of session `{session_id}` not found")]
    StepNotFound { session_id: String, step: u64 },
    #[error("step {step} of session `{session_id}` has no reasoning, tool or error to compare")]
    NothingToCompare { session_id: String, step: u64 },
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("embedding the query failed: {0}")]
    Embed(String),
}

struct Ready {
    index: Arc<dyn VectorIndex>,
    embedder: Arc<Mutex<Embedder>>,
}

/// The search side of the index, as the API holds it: ready, or off with
/// the reason (no model, no runtime, no index), which /healthz and the UI show.
pub struct Search {
    ready: Result<Ready, String>,
    status: Arc<IndexerStatus>,
}

impl Search {
    pub fn ready(index: Arc<dyn VectorIndex>, embedder: Embedder, status: Arc<IndexerStatus>) -> Self {
        Self { ready: Ok(Ready { index, embedder: Arc::new(Mutex::new(embedder)) }), status }
    }

    pub fn off(reason: impl Into<String>) -> Self {
        Self { ready: Err(reason.into()), status: Arc::default() }
    }

    /// None when search works; the reason otherwise.
    pub fn unavailable(&self) -> Option<&str> {
        self.ready.as_ref().err().map(String::as_str)
    }

    pub fn status(&self) -> &IndexerStatus {
        &self.status
    }

    pub fn index(&self) -> Option<&Arc<dyn VectorIndex>> {
        self.ready.as_ref().ok().map(|r| &r.index)
    }

    /// Removes these points (erased or expired steps), once the indexer's
    /// batch under way, which may have read them before, is written; no
    /// batch starts meanwhile. Nothing to do with search off.
    pub async fn remove_points(&self, ids: Vec<String>) -> Result<(), crate::IndexError> {
        let Some(index) = self.index().filter(|_| !ids.is_empty()) else { return Ok(()) };
        let _batch = self.status.batch().await;
        index.delete(ids).await
    }

    pub async fn similar(&self, store: &Store, req: SearchRequest) -> Result<SearchOutcome, SearchError> {
        let ready = self.ready.as_ref().map_err(|r| SearchError::Unavailable(r.clone()))?;
        let mut filter = req.filter;
        let (vector, origin) = match req.query {
            // What someone types is read both ways and mixed, as a failed
            // decision is: it then meets failed and other decisions alike.
            Query::Text(text) => (mix_vectors(&embed(ready, WHOLE_TEXT, text.clone()).await?, &embed(ready, ERROR_TEXT, text).await?), None),
            Query::Step { session_id, step } => {
                let row = store
                    .decision_of_step(&filter.project, &session_id, step)
                    .await?
                    .ok_or_else(|| SearchError::StepNotFound { session_id: session_id.clone(), step })?;
                let decision = row.decision();
                let text = decision.text();
                if text.is_empty() {
                    return Err(SearchError::NothingToCompare { session_id, step });
                }
                let id = point_id(&filter.project, &session_id, step);
                // Not indexed yet (or not a key decision): its vector made
                // the way the indexer makes it.
                let vector = match ready.index.vector_of(&id).await? {
                    Some(v) => v,
                    None => match decision.error_text() {
                        Some(error) => mix_vectors(&embed(ready, WHOLE_TEXT, text).await?, &embed(ready, ERROR_TEXT, error).await?),
                        None => embed(ready, WHOLE_TEXT, text).await?,
                    },
                };
                // The nearest non-identical decisions: never the step itself.
                filter.exclude_ids.push(id);
                (vector, Some(row))
            }
        };
        filter.failed_only = req.failed_only.unwrap_or_else(|| origin.as_ref().is_some_and(|o| o.failed));
        let failed_only = filter.failed_only;
        let hits = ready.index.search(vector, &filter, req.limit.clamp(1, MAX_LIMIT)).await?;
        Ok(SearchOutcome { hits, origin, failed_only })
    }
}

async fn embed(ready: &Ready, reader: Reader, text: String) -> Result<Vec<f32>, SearchError> {
    let embedder = ready.embedder.clone();
    tokio::task::spawn_blocking(move || embedder.lock().expect("embedder lock").embed_with(reader, &[text.as_str()]))
        .await
        .map_err(|e| SearchError::Embed(e.to_string()))?
        .map_err(|e| SearchError::Embed(e.to_string()))?
        .pop()
        .ok_or_else(|| SearchError::Embed("no vector returned".into()))
}
