//! The background indexer: follows the steps table by log_index, embeds
//! the key decisions it finds, and upserts them into the vector index.
//!
//! - Never in the way of ingestion: it only reads the store, on its own
//!   task, and embedding runs on the blocking pool.
//! - Never loses work: its high-water mark (the first log_index not yet
//!   indexed) is saved in the store (`indexer_marks`, shared by every
//!   process on that store) only after the points are durable in the
//!   index, and point ids
//!   are derived from (project, session, step), so work redone after a
//!   crash replaces points instead of adding them.
//! - Survives an index outage: a failed upsert keeps the mark where it
//!   was and is retried with backoff; /healthz shows the error and the lag.
//! - Rebuilds when the index was lost or the model changed.

use crate::cache::{TextHash, VectorCache, text_hash};
use crate::{ERROR_TEXT, IndexError, Payload, Point, READING, SNIPPET_CHARS, VectorIndex, WHOLE_TEXT, point_id};
use flightlog_embed::{Embedder, Reader};
use flightlog_model::decision::mix_vectors;
use flightlog_model::validate::cut_chars;
use flightlog_store::{DecisionRow, Store};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Key decisions read and embedded per round.
pub const BATCH: u32 = 256;
/// Points written between two HNSW builds while catching up.
const MAINTAIN_EVERY: u64 = 20_000;
const IDLE_POLL: Duration = Duration::from_millis(500);
/// Waits between retries while the index or the store fails: 0.5 s,
/// doubling, at most 30 s, for as long as it takes. Starts over after a
/// round that worked.
const RETRY: backon::ExponentialBuilder = backon::ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(500))
    .with_max_delay(Duration::from_secs(30))
    .without_max_times();

/// What the indexer is doing, serialised as the words shown on /healthz
/// and the search page (`up to date`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum IndexerState {
    /// No indexer has reported yet (search off, or not yet created): empty.
    #[default]
    #[serde(rename = "")]
    NotStarted,
    #[serde(rename = "starting")]
    Starting,
    #[serde(rename = "catching up")]
    CatchingUp,
    #[serde(rename = "up to date")]
    UpToDate,
    #[serde(rename = "index unavailable")]
    IndexUnavailable,
    /// Another process holds the writer lease and indexes.
    #[serde(rename = "standby")]
    Standby,
}

/// Whether this process may index now (see [`Indexer::only_while`]).
pub type Gate = Arc<dyn Fn() -> bool + Send + Sync>;

impl IndexerState {
    /// The words shown for this state.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotStarted => "",
            Self::Starting => "starting",
            Self::CatchingUp => "catching up",
            Self::UpToDate => "up to date",
            Self::IndexUnavailable => "index unavailable",
            Self::Standby => "standby",
        }
    }
}

impl std::fmt::Display for IndexerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the indexer is doing, for /healthz, /metrics and the UI.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct IndexerSnapshot {
    pub state: IndexerState,
    pub backend: String,
    pub model: String,
    /// The high-water mark: every key decision with a smaller log_index is indexed.
    pub next_log_index: u64,
    pub steps_behind: u64,
    pub seconds_behind: f64,
    /// Points written since start; texts embedded; decisions whose text
    /// was embedded before (identical texts are embedded once).
    pub indexed: u64,
    pub embedded: u64,
    pub cache_hits: u64,
    pub last_error: Option<String>,
}

/// The indexer's state, shared with the search side (which serves it and
/// removes points).
#[derive(Debug, Default)]
pub struct IndexerStatus {
    snapshot: Mutex<IndexerSnapshot>,
    /// Held by the indexer from reading a batch until its points are
    /// written, and by whoever removes points (erasure, expiry): a batch
    /// read before an erasure would otherwise write the erased text back
    /// into the index after the erasure removed it.
    batch: tokio::sync::Mutex<()>,
}

impl IndexerStatus {
    pub fn snapshot(&self) -> IndexerSnapshot {
        self.snapshot.lock().expect("status lock").clone()
    }

    fn update(&self, f: impl FnOnce(&mut IndexerSnapshot)) {
        f(&mut self.snapshot.lock().expect("status lock"));
    }

    /// Waits for the batch under way, if any, and keeps the next from
    /// starting while held.
    pub(crate) async fn batch(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.batch.lock().await
    }
}

/// The mark and what it was made with.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Progress {
    /// The first log_index not yet indexed: every key decision below it is.
    next_log_index: u64,
    model: String,
    dimension: usize,
}

/// Where an index's mark is kept: in the store under `name` (shared by
/// every process on that store). `legacy_file` is where earlier versions
/// kept it beside the index; it is read once when the store has no mark.
#[derive(Clone, Debug)]
pub struct MarkPlace {
    pub name: String,
    pub legacy_file: Option<PathBuf>,
}

fn load_legacy(path: &Path) -> Option<Progress> {
    std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok())
}

pub struct Indexer {
    store: Store,
    index: Arc<dyn VectorIndex>,
    embedder: Arc<Mutex<Embedder>>,
    model: String,
    dimension: usize,
    mark: MarkPlace,
    /// The last save's clock, so saves are ordered even within a microsecond.
    saved_us: i64,
    progress: Progress,
    cache: VectorCache,
    status: Arc<IndexerStatus>,
    since_maintain: u64,
    gate: Option<Gate>,
}

impl Indexer {
    pub fn new(
        store: Store,
        index: Arc<dyn VectorIndex>,
        embedder: Embedder,
        mark: MarkPlace,
        status: Arc<IndexerStatus>,
    ) -> Self {
        let model = format!("{} ({READING})", embedder.model_dir().display());
        let dimension = embedder.dimension();
        status.update(|s| {
            s.state = IndexerState::Starting;
            s.backend = index.describe();
            s.model = model.clone();
        });
        Self {
            store,
            index,
            embedder: Arc::new(Mutex::new(embedder)),
            model,
            dimension,
            mark,
            saved_us: 0,
            progress: Progress::default(),
            cache: VectorCache::new(20_000),
            status,
            since_maintain: 0,
            gate: None,
        }
    }

    /// Indexes only while `gate` says so (the writer lease, when several
    /// processes share one store and one index: two indexers would redo
    /// each other's batches). When it opens again the indexer re-reads its
    /// mark, which the other process may have moved.
    pub fn only_while(mut self, gate: Gate) -> Self {
        self.gate = Some(gate);
        self
    }

    fn may_run(&self) -> bool {
        self.gate.as_ref().is_none_or(|open| open())
    }

    /// Creates the collection if needed and decides where to resume: at the
    /// saved mark, or at 0 when the index is empty (lost) or was built with
    /// another model.
    pub async fn resume(&mut self) -> Result<u64, IndexError> {
        self.index.prepare(self.dimension).await?;
        let stored = self.store.indexer_mark(&self.mark.name).await.map_err(|e| IndexError::Failed(format!("cannot read the mark: {e}")))?;
        let saved = match stored {
            Some(m) => Progress { next_log_index: m.next_log_index, model: m.model, dimension: m.dimension as usize },
            None => self.mark.legacy_file.as_deref().and_then(load_legacy).unwrap_or_default(),
        };
        let same_model = saved.model == self.model && saved.dimension == self.dimension;
        self.progress = Progress { next_log_index: saved.next_log_index, model: self.model.clone(), dimension: self.dimension };
        if saved.next_log_index > 0 && !same_model {
            tracing::warn!(old = %saved.model, new = %self.model, "embedding model changed; rebuilding the index");
            self.index.clear(self.dimension).await?;
            self.progress.next_log_index = 0;
        } else if saved.next_log_index > 0 && self.index.count(None).await? == 0 {
            tracing::warn!("the vector index is empty but the mark says otherwise; rebuilding it");
            self.progress.next_log_index = 0;
        }
        self.status.update(|s| s.next_log_index = self.progress.next_log_index);
        Ok(self.progress.next_log_index)
    }

    /// Empties the index and starts again from the first step.
    pub async fn reset(&mut self) -> Result<(), IndexError> {
        self.index.clear(self.dimension).await?;
        self.progress.next_log_index = 0;
        self.save().await?;
        Ok(())
    }

    async fn save(&mut self) -> Result<(), IndexError> {
        self.saved_us = flightlog_model::time::now_us().max(self.saved_us + 1);
        let mark = flightlog_store::IndexerMark {
            next_log_index: self.progress.next_log_index,
            model: self.progress.model.clone(),
            dimension: self.progress.dimension as u32,
        };
        self.store
            .save_indexer_mark(&self.mark.name, &mark, self.saved_us)
            .await
            .map_err(|e| IndexError::Failed(format!("cannot save the mark of {}: {e}", self.mark.name)))
    }

    /// Indexes the next batch; returns how many key decisions it covered
    /// (0 when there was nothing new).
    pub async fn step(&mut self) -> Result<usize, IndexError> {
        let status = self.status.clone();
        let batch = status.batch().await;
        let rows = self
            .store
            .key_decisions_from(self.progress.next_log_index, BATCH)
            .await
            .map_err(|e| IndexError::Failed(format!("reading key decisions: {e}")))?;
        let Some(last) = rows.last().map(|r| r.log_index) else {
            return Ok(0);
        };
        // Not "up to date" from here until the mark is saved: a reader (or
        // a shutdown) that trusted the index's count alone would otherwise
        // see every point while the mark still lagged them.
        self.status.update(|s| {
            if s.state == IndexerState::UpToDate {
                s.state = IndexerState::CatchingUp;
            }
        });
        let points = self.embed(&rows).await?;
        let n = points.len();
        self.index.upsert(points).await?;
        self.take_back_erased(&rows).await?;
        // Written: an erasure waiting may remove points again.
        drop(batch);
        // Durable in the index: now the mark may move past them.
        self.progress.next_log_index = last + 1;
        self.save().await?;
        self.since_maintain += n as u64;
        if self.since_maintain >= MAINTAIN_EVERY {
            self.maintain().await?;
        }
        self.status.update(|s| {
            s.next_log_index = last + 1;
            s.indexed += n as u64;
        });
        Ok(rows.len())
    }

    /// Removes the points just written for steps that were erased or
    /// expired since the batch was read: those points hold content that is
    /// gone. The batch lock orders this process's erasures against the
    /// batch; one made by another process sharing the store (server mode)
    /// is not. Reading the steps again after the write covers both: an
    /// erasure changes storage before it removes points, so one that
    /// finished before this read is seen here, and one that had not
    /// finishes its own removal after these points were written. (Retention
    /// removes a steps expiry's points again after the steps, for the same
    /// reason.) A step read already erased keeps its point, made from what
    /// the erasure left, as a rebuild of the index makes it.
    async fn take_back_erased(&self, rows: &[DecisionRow]) -> Result<(), IndexError> {
        let indexes: Vec<u64> = rows.iter().map(|r| r.log_index).collect();
        let now = self
            .store
            .erased_fields_at(&indexes)
            .await
            .map_err(|e| IndexError::Failed(format!("reading the batch's steps again: {e}")))?;
        let changed: Vec<String> = rows
            .iter()
            .filter(|r| now.get(&r.log_index).is_none_or(|erased| *erased > r.erased_fields))
            .map(|r| point_id(&r.project, &r.session_id, r.step))
            .collect();
        if !changed.is_empty() {
            tracing::info!(points = changed.len(), "steps erased or expired while they were embedded; their points removed");
            self.index.delete(changed).await?;
        }
        Ok(())
    }

    /// Builds the index structures for what was written since the last time.
    pub async fn maintain(&mut self) -> Result<(), IndexError> {
        if self.since_maintain > 0 {
            let started = Instant::now();
            self.index.maintain().await?;
            tracing::debug!(points = self.since_maintain, ms = started.elapsed().as_millis() as u64, "index optimised");
            self.since_maintain = 0;
        }
        Ok(())
    }

    /// Vectors for these decisions: from the cache, else embedded (each
    /// distinct text once, by the model the rule in this crate's root
    /// names). A failed decision's vector mixes its whole text's and its
    /// error's (flightlog-model `decision`).
    async fn embed(&mut self, rows: &[DecisionRow]) -> Result<Vec<Point>, IndexError> {
        let decisions: Vec<_> = rows.iter().map(DecisionRow::decision).collect();
        let texts: Vec<String> = decisions.iter().map(|d| d.text()).collect();
        let errors: Vec<Option<String>> = decisions.iter().map(|d| d.error_text()).collect();
        let wanted = texts.iter().map(|t| (WHOLE_TEXT, t)).chain(errors.iter().flatten().map(|e| (ERROR_TEXT, e)));
        let mut missing: HashMap<Reader, Vec<(TextHash, String)>> = HashMap::new();
        let mut reused = 0u64;
        for (reader, t) in wanted {
            let h = text_hash(reader, t);
            let list = missing.entry(reader).or_default();
            if self.cache.get(&h).is_some() {
                reused += 1;
            } else if !list.iter().any(|(m, _)| *m == h) {
                list.push((h, t.clone()));
            }
        }
        self.status.update(|s| s.cache_hits += reused);
        // Vectors of this batch, kept here too: the cache may forget them.
        let mut batch: HashMap<TextHash, Arc<Vec<f32>>> = HashMap::new();
        for (reader, list) in missing.into_iter().filter(|(_, l)| !l.is_empty()) {
            let embedder = self.embedder.clone();
            let inputs: Vec<String> = list.iter().map(|(_, t)| t.clone()).collect();
            let vectors = tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                embedder.lock().expect("embedder lock").embed_with(reader, &refs)
            })
            .await
            .map_err(|e| IndexError::Failed(e.to_string()))?
            .map_err(|e| IndexError::Failed(e.to_string()))?;
            self.status.update(|s| s.embedded += vectors.len() as u64);
            for ((h, _), v) in list.into_iter().zip(vectors) {
                let v = Arc::new(v);
                self.cache.put(h, v.clone());
                batch.insert(h, v);
            }
        }
        let mut vector_of = |reader: Reader, t: &str| -> Result<Arc<Vec<f32>>, IndexError> {
            let h = text_hash(reader, t);
            if let Some(v) = batch.get(&h) {
                return Ok(v.clone());
            }
            self.cache.get(&h).ok_or_else(|| IndexError::Failed("a vector of this batch went missing".into()))
        };
        let mut points = Vec::with_capacity(rows.len());
        for ((row, text), error) in rows.iter().zip(&texts).zip(&errors) {
            let whole = vector_of(WHOLE_TEXT, text)?;
            let vector = match error {
                Some(e) => mix_vectors(&whole, &vector_of(ERROR_TEXT, e)?),
                None => whole.as_ref().clone(),
            };
            points.push(Point { id: point_id(&row.project, &row.session_id, row.step), vector, payload: payload(row, text) });
        }
        Ok(points)
    }

    /// Refreshes the lag figures from the store.
    pub async fn measure_lag(&self) {
        match self.store.key_decision_lag(self.progress.next_log_index).await {
            Ok(lag) => self.status.update(|s| {
                s.steps_behind = lag.steps_behind;
                // "Up to date" with steps behind it would be a lie told
                // between this measure and the step that indexes them.
                if lag.steps_behind > 0 && s.state == IndexerState::UpToDate {
                    s.state = IndexerState::CatchingUp;
                }
                s.seconds_behind = if lag.steps_behind == 0 {
                    0.0
                } else {
                    (flightlog_model::time::now_us() - lag.oldest_us).max(0) as f64 / 1e6
                };
            }),
            Err(e) => tracing::warn!(error = %e, "cannot measure the indexer's lag"),
        }
    }

    /// Runs until the task is dropped: catch up, then follow new steps.
    pub async fn run(mut self) {
        loop {
            while !self.may_run() {
                self.status.update(|s| s.state = IndexerState::Standby);
                tokio::time::sleep(IDLE_POLL).await;
            }
            self.run_while_open().await;
        }
    }

    /// Resumes from the stored mark, then indexes until the gate closes.
    async fn run_while_open(&mut self) {
        use backon::BackoffBuilder;
        let mut delays = RETRY.build();
        loop {
            match self.resume().await {
                Ok(mark) => {
                    tracing::info!(mark, backend = %self.index.describe(), "similar-failure indexer started");
                    break;
                }
                Err(e) => {
                    self.unavailable(&e);
                    tokio::time::sleep(delays.next().expect("retries forever")).await;
                }
            }
        }
        let mut last_lag = Instant::now() - Duration::from_secs(10);
        delays = RETRY.build();
        while self.may_run() {
            if last_lag.elapsed() >= Duration::from_secs(1) {
                self.measure_lag().await;
                last_lag = Instant::now();
            }
            match self.step().await {
                Ok(0) => {
                    delays = RETRY.build();
                    // Idle: a good moment to build the graph for what came in.
                    if let Err(e) = self.maintain().await {
                        self.unavailable(&e);
                    }
                    // Nothing at or after the mark: no lag, by definition.
                    self.status.update(|s| {
                        s.state = IndexerState::UpToDate;
                        s.last_error = None;
                        s.steps_behind = 0;
                        s.seconds_behind = 0.0;
                    });
                    tokio::time::sleep(IDLE_POLL).await;
                }
                Ok(_) => {
                    delays = RETRY.build();
                    self.status.update(|s| {
                        s.state = IndexerState::CatchingUp;
                        s.last_error = None;
                    });
                }
                Err(e) => {
                    self.unavailable(&e);
                    tokio::time::sleep(delays.next().expect("retries forever")).await;
                }
            }
        }
    }

    fn unavailable(&self, e: &IndexError) {
        tracing::warn!(error = %e, "similar-failure indexer cannot proceed; will retry");
        self.status.update(|s| {
            s.state = IndexerState::IndexUnavailable;
            s.last_error = Some(e.to_string());
        });
    }

    pub fn mark(&self) -> u64 {
        self.progress.next_log_index
    }

    pub fn status(&self) -> Arc<IndexerStatus> {
        self.status.clone()
    }
}

/// The payload stored beside a decision's vector.
pub fn payload(row: &DecisionRow, text: &str) -> Payload {
    let tool = if row.chosen_tool.is_empty() { &row.tool_name } else { &row.chosen_tool };
    Payload {
        project: row.project.clone(),
        session_id: row.session_id.clone(),
        step: row.step,
        ts_us: row.ts_us,
        agent: row.agent_name.clone(),
        tool: tool.clone(),
        status: row.tool_status.clone(),
        model: row.model_name.clone(),
        failed: row.failed,
        snippet: cut_chars(text, SNIPPET_CHARS).to_string(),
    }
}
