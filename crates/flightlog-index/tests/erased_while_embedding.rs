//! A step erased while the indexer embeds it must not come back into the
//! index. The indexer's batch lock orders erasures made by its own process;
//! in server mode another process sharing the store and the index erases
//! without it. This index erases as such a process would, in the middle of
//! the indexer's batch (after the batch was read, before its points are
//! written), and the erased step's point must be gone afterwards. A step
//! erased before the batch read it keeps its point, made from what the
//! erasure left, as a rebuild of the index makes it.

use flightlog_embed::Embedder;
use flightlog_index::edge::EdgeIndex;
use flightlog_index::indexer::{Indexer, IndexerStatus, MarkPlace};
use flightlog_index::{Hit, IndexError, Point, SearchFilter, VectorIndex, point_id};
use flightlog_model::{Limits, step_from_json};
use flightlog_store::embedded::{Embedded, default_library_path};
use flightlog_store::{EncodedStep, LogPosition, Store};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A real qdrant-edge index; its first write is preceded by the erasure of
/// session `s1`, in storage and then in the index, without the batch lock.
struct ErasedMeanwhile {
    inner: EdgeIndex,
    store: Store,
    erased: AtomicBool,
}

#[async_trait::async_trait]
impl VectorIndex for ErasedMeanwhile {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn prepare(&self, dimension: usize) -> Result<(), IndexError> {
        self.inner.prepare(dimension).await
    }
    async fn upsert(&self, points: Vec<Point>) -> Result<(), IndexError> {
        if !self.erased.swap(true, Ordering::SeqCst) {
            let done = self.store.erase("p1", "s1", "", &Default::default()).await.unwrap();
            assert_eq!(done.steps_erased, 1, "the other process erased the step");
            self.inner.delete(vec![point_id("p1", "s1", 1)]).await?;
        }
        self.inner.upsert(points).await
    }
    async fn delete(&self, ids: Vec<String>) -> Result<(), IndexError> {
        self.inner.delete(ids).await
    }
    async fn vector_of(&self, id: &str) -> Result<Option<Vec<f32>>, IndexError> {
        self.inner.vector_of(id).await
    }
    async fn search(&self, vector: Vec<f32>, filter: &SearchFilter, limit: usize) -> Result<Vec<Hit>, IndexError> {
        self.inner.search(vector, filter, limit).await
    }
    async fn count(&self, project: Option<&str>) -> Result<u64, IndexError> {
        self.inner.count(project).await
    }
    async fn clear(&self, dimension: usize) -> Result<(), IndexError> {
        self.inner.clear(dimension).await
    }
    async fn maintain(&self) -> Result<(), IndexError> {
        self.inner.maintain().await
    }
}

#[tokio::test]
async fn a_step_erased_by_another_process_while_it_was_embedded_leaves_no_point() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Arc::new(Embedded::open(&default_library_path(), &dir.path().join("store"), 2, Default::default()).unwrap()))
        .await
        .unwrap();
    // Three failed tool calls (key decisions), one in each session.
    let steps: Vec<EncodedStep> = ["s1", "s2", "s3"]
        .iter()
        .map(|session| {
            let v = json!({"session_id": session, "step": 1, "timestamp": "2026-01-15T10:00:00Z",
                           "reasoning": "look the customer up by email",
                           "tool_execution": {"name": "crm_lookup", "params": {"email": "ann@example.com"},
                                              "status": "error", "error": "timeout"}});
            EncodedStep::new("p1", &step_from_json(v, &Limits::default()).unwrap())
        })
        .collect();
    let rows: Vec<_> =
        steps.iter().enumerate().map(|(i, s)| (s, LogPosition { session_seq: 0, chain_hash: [0; 32], log_index: i as u64 })).collect();
    store.insert_steps(&rows, 1).await.unwrap();
    assert_eq!(store.erase("p1", "s3", "", &Default::default()).await.unwrap().steps_erased, 1, "erased before the indexer reads it");

    let index = Arc::new(ErasedMeanwhile {
        inner: EdgeIndex::open(&dir.path().join("index")).unwrap(),
        store: store.clone(),
        erased: AtomicBool::new(false),
    });
    let embedder = Embedder::load(&flightlog_embed::default_runtime_path(), &flightlog_embed::default_model_dir(), 1)
        .expect("the model from `make setup` loads");
    let mark = MarkPlace { name: "test".into(), legacy_file: None };
    let mut indexer = Indexer::new(store.clone(), index.clone(), embedder, mark, Arc::new(IndexerStatus::default()));
    indexer.resume().await.unwrap();
    assert_eq!(indexer.step().await.unwrap(), 3, "the three decisions were read in one batch");

    assert!(index.erased.load(Ordering::SeqCst));
    assert!(index.vector_of(&point_id("p1", "s2", 1)).await.unwrap().is_some(), "the other step is indexed");
    assert!(index.vector_of(&point_id("p1", "s1", 1)).await.unwrap().is_none(), "the erased step's point is gone");
    assert!(index.vector_of(&point_id("p1", "s3", 1)).await.unwrap().is_some(), "a step read erased keeps its point");
    assert_eq!(index.count(Some("p1")).await.unwrap(), 2);
}
