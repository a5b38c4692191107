//! The similar-failure index.
//!
//! Key decisions (flightlog-model `decision`) are embedded by
//! flightlog-embed and stored as points in Qdrant, one point per step,
//! with the fields people filter on as payload. The store stays the source
//! of truth: the [`indexer`] follows it by log_index and can always rebuild
//! the index from it.
//!
//! [`VectorIndex`] is the seam between Flightlog and Qdrant, with two
//! implementations side by side:
//! - [`edge::EdgeIndex`]: qdrant-edge in this process, stored in the data
//!   folder. The default.
//! - [`server::ServerIndex`]: a Qdrant server over gRPC (qdrant-client).
//!
//! Both map the same [`Point`] and [`SearchFilter`] to their own types;
//! nothing above this crate sees a Qdrant type.
//!
//! May use: `flightlog-model`, `flightlog-store`, `flightlog-embed` (floor
//! 2). Used by the application core and the binary (which starts it).

pub mod cache;
pub mod edge;
pub mod indexer;
pub mod search;
pub mod server;

pub use indexer::{Gate, Indexer, IndexerSnapshot, IndexerState, IndexerStatus, MarkPlace};
pub use search::{Query, Search, SearchError, SearchOutcome, SearchRequest};

use flightlog_embed::Reader;
use sha2::{Digest, Sha256};

/// Which model reads which text of a key decision, for the indexer and for
/// "find similar to this step" alike:
/// - the whole text by the word table: it is most of the tokens, and the
///   sentence model would cap the indexer near 150 decisions/s on 2 cores;
/// - the error by the sentence model: it weighs 0.7 of a failed decision's
///   vector, is short (about 16 tokens), and repeats, so the cache answers
///   most of it.
///
/// On the labelled sets in tests/data this finds the same class as
/// reading both with the sentence model (crates/flightlog-index/tests/quality.rs).
pub const WHOLE_TEXT: Reader = Reader::Words;
pub const ERROR_TEXT: Reader = Reader::Sentence;

/// Names the way decisions are read, beside the model folder in the
/// indexer's mark: a mark made another way rebuilds the index.
pub const READING: &str = "whole text by word table v1, error by sentence";

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("vector index unavailable: {0}")]
    Unavailable(String),
    #[error("vector index: {0}")]
    Failed(String),
}

/// What is stored beside a decision's vector, for filters and results.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Payload {
    pub project: String,
    pub session_id: String,
    pub step: u64,
    pub ts_us: i64,
    pub agent: String,
    pub tool: String,
    pub status: String,
    pub model: String,
    pub failed: bool,
    /// The start of the embedded text, shown in results.
    pub snippet: String,
}

#[derive(Debug, Clone)]
pub struct Point {
    pub id: String,
    pub vector: Vec<f32>,
    pub payload: Payload,
}

/// Filters of a similarity search. `project` is always applied: a key
/// never sees another project's decisions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchFilter {
    pub project: String,
    pub failed_only: bool,
    pub agent: Option<String>,
    pub tool: Option<String>,
    pub model: Option<String>,
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    pub exclude_session: Option<String>,
    /// Point ids left out (the step searched from).
    pub exclude_ids: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Hit {
    pub score: f32,
    pub payload: Payload,
}

/// The kind of a payload field's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Keyword,
    Bool,
    Integer,
}

/// Payload fields with an index (the ones searches filter on); each
/// backend creates them in its own terms.
pub const INDEXED_FIELDS: [(&str, FieldKind); 8] = [
    ("project", FieldKind::Keyword),
    ("session_id", FieldKind::Keyword),
    ("agent", FieldKind::Keyword),
    ("tool", FieldKind::Keyword),
    ("model", FieldKind::Keyword),
    ("status", FieldKind::Keyword),
    ("failed", FieldKind::Bool),
    ("ts_us", FieldKind::Integer),
];

/// Characters of the embedded text kept in the payload.
pub const SNIPPET_CHARS: usize = 240;

/// The point id of a step: a UUID from the hash of (project, session,
/// step), so that indexing a step again replaces its point instead of
/// adding one.
pub fn point_id(project: &str, session_id: &str, step: u64) -> String {
    let mut h = Sha256::new();
    for part in [project.as_bytes(), session_id.as_bytes()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.update(step.to_be_bytes());
    let b = h.finalize();
    let x = hex::encode(&b[..16]);
    format!("{}-{}-{}-{}-{}", &x[0..8], &x[8..12], &x[12..16], &x[16..20], &x[20..32])
}

/// A vector index of decisions. Writes return once they are durable.
#[async_trait::async_trait]
pub trait VectorIndex: Send + Sync {
    /// What this is, for logs and /healthz.
    fn describe(&self) -> String;
    /// Creates the collection and payload indexes when missing.
    async fn prepare(&self, dimension: usize) -> Result<(), IndexError>;
    /// Inserts or replaces points, durably.
    async fn upsert(&self, points: Vec<Point>) -> Result<(), IndexError>;
    async fn delete(&self, ids: Vec<String>) -> Result<(), IndexError>;
    /// The stored vector of a point, if it is indexed.
    async fn vector_of(&self, id: &str) -> Result<Option<Vec<f32>>, IndexError>;
    /// The `limit` nearest points that pass `filter`, best first.
    async fn search(&self, vector: Vec<f32>, filter: &SearchFilter, limit: usize) -> Result<Vec<Hit>, IndexError>;
    /// Points stored, of one project or of all.
    async fn count(&self, project: Option<&str>) -> Result<u64, IndexError>;
    /// Removes every point (before a rebuild).
    async fn clear(&self, dimension: usize) -> Result<(), IndexError>;
    /// Housekeeping after a batch of writes (qdrant-edge builds its HNSW
    /// graph here; a server does it in the background by itself).
    async fn maintain(&self) -> Result<(), IndexError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_ids_are_uuids_stable_and_distinct() {
        let a = point_id("default", "s1", 1);
        assert_eq!(a, point_id("default", "s1", 1));
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
        assert_ne!(a, point_id("default", "s1", 2));
        assert_ne!(a, point_id("other", "s1", 1));
        // Length-prefixed: moving characters between fields changes the id.
        assert_ne!(point_id("ab", "c", 1), point_id("a", "bc", 1));
    }
}
