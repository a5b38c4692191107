//! Similar-failure search for `serve` and `reindex`: where the model, the
//! runtime and the index are, and starting the background indexer.

use flightlog_embed::{EmbedError, Embedder};
use flightlog_index::edge::EdgeIndex;
use flightlog_index::server::ServerIndex;
use flightlog_index::{Gate, IndexError, Indexer, IndexerStatus, MarkPlace, Search, VectorIndex};
use flightlog_store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(clap::Args, Clone, Debug)]
pub struct SearchArgs {
    /// Folder of the ONNX sentence model (model.onnx, tokenizer.json, ...).
    /// Default: where `make setup` puts all-MiniLM-L6-v2.
    #[arg(long, env = "FLIGHTLOG_MODEL_DIR")]
    model_dir: Option<PathBuf>,
    /// Path of libonnxruntime.so. Default: where `make setup` puts it.
    #[arg(long, env = "FLIGHTLOG_ORT_LIB")]
    ort_lib: Option<PathBuf>,
    /// A Qdrant server (gRPC URL, e.g. http://qdrant:6334) instead of the
    /// embedded index in DATA_DIR/index.
    #[arg(long, env = "FLIGHTLOG_QDRANT_URL")]
    qdrant_url: Option<String>,
    #[arg(long, env = "FLIGHTLOG_QDRANT_API_KEY", hide_env_values = true)]
    qdrant_api_key: Option<String>,
    #[arg(long, env = "FLIGHTLOG_QDRANT_COLLECTION", default_value = "flightlog_decisions")]
    qdrant_collection: String,
    /// onnxruntime threads per embedding call.
    #[arg(long, env = "FLIGHTLOG_EMBED_THREADS", default_value_t = 2)]
    embed_threads: usize,
    /// Run without similar-failure search (no model is loaded).
    #[arg(long, env = "FLIGHTLOG_NO_SEARCH")]
    no_search: bool,
}

impl SearchArgs {
    /// Whether search is turned off (`--no-search`, FLIGHTLOG_NO_SEARCH).
    pub fn turned_off(&self) -> bool {
        self.no_search
    }

    pub fn load_embedder(&self) -> Result<Embedder, EmbedError> {
        self.load_embedder_with(self.embed_threads)
    }

    /// The model with `threads` intra-op threads.
    pub fn load_embedder_with(&self, threads: usize) -> Result<Embedder, EmbedError> {
        let runtime = self.ort_lib.clone().unwrap_or_else(flightlog_embed::default_runtime_path);
        let model = self.model_dir.clone().unwrap_or_else(flightlog_embed::default_model_dir);
        Embedder::load(&runtime, &model, threads)
    }

    /// The vector index and where its indexer's mark is kept: in the store,
    /// named for the index (a Qdrant server's collection is shared by every
    /// process pointed at it; an embedded index is its folder's), with the
    /// file earlier versions kept beside the index as a one-time fallback.
    pub fn open_index(&self, data_dir: &Path) -> Result<(Arc<dyn VectorIndex>, MarkPlace), IndexError> {
        let dir = data_dir.join("index");
        Ok(match &self.qdrant_url {
            Some(url) => (
                Arc::new(ServerIndex::connect(url, self.qdrant_api_key.as_deref(), &self.qdrant_collection)?),
                MarkPlace {
                    name: format!("qdrant {url} {}", self.qdrant_collection),
                    legacy_file: Some(dir.join(format!("qdrant-{}.progress.json", self.qdrant_collection))),
                },
            ),
            None => {
                let folder = dir.join("edge");
                let index = EdgeIndex::open(&folder)?;
                let absolute = std::fs::canonicalize(&folder).unwrap_or(folder);
                let name = format!("edge {} {}", hostname(), absolute.display());
                (Arc::new(index), MarkPlace { name, legacy_file: Some(dir.join("edge.progress.json")) })
            }
        })
    }
}

/// Search for the API, and the indexer task when search is on. Anything
/// missing turns search off with the reason, logged and on /healthz; the
/// rest of Flightlog runs either way.
/// `gate`: index only while it is open (the writer lease, when processes
/// share a store).
pub async fn start(args: &SearchArgs, data_dir: &Path, store: Store, gate: Option<Gate>) -> (Arc<Search>, Option<tokio::task::JoinHandle<()>>) {
    if args.no_search {
        return (Arc::new(Search::off("turned off (--no-search)")), None);
    }
    let loaded = {
        let args = args.clone();
        // Two instances: one for the indexer's batches, one for queries.
        tokio::task::spawn_blocking(move || Ok::<_, EmbedError>((args.load_embedder()?, args.load_embedder()?))).await
    };
    let (for_indexer, for_queries) = match loaded {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => return off(e.to_string()),
        Err(e) => return off(format!("loading the model failed: {e}")),
    };
    let (index, progress) = match args.open_index(data_dir) {
        Ok(found) => found,
        Err(e) => return off(e.to_string()),
    };
    let status = Arc::new(IndexerStatus::default());
    let mut indexer = Indexer::new(store, index.clone(), for_indexer, progress, status.clone());
    if let Some(gate) = gate {
        indexer = indexer.only_while(gate);
    }
    tracing::info!(model = %for_queries.model_dir().display(), dimension = for_queries.dimension(),
                   index = %index.describe(), "similar-failure search on");
    let task = tokio::spawn(indexer.run());
    (Arc::new(Search::ready(index, for_queries, status)), Some(task))
}

/// This machine's name: an embedded index is a folder on one machine.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

fn off(reason: String) -> (Arc<Search>, Option<tokio::task::JoinHandle<()>>) {
    tracing::warn!(%reason, "similar-failure search is off; everything else works");
    (Arc::new(Search::off(reason)), None)
}
