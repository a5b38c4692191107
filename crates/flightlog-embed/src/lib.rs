//! Turns text into vectors with a local ONNX sentence model, or with the
//! word table distilled from it ([`Reader`]: which one reads a text is the
//! caller's choice; flightlog-index says which for a key decision).
//!
//! The model (all-MiniLM-L6-v2 by default: 384 dimensions, mean pooling)
//! and onnxruntime itself are files on disk that `make setup` fetches,
//! pinned and checked. onnxruntime is loaded at run time rather than linked,
//! so the build needs no native part, and a missing or broken file is an
//! [`EmbedError`] naming it instead of a panic: the rest of Flightlog then
//! runs without search.
//!
//! May use: no other Flightlog crate (floor 0). Used by `flightlog-index`.

mod word_table;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use word_table::WordTable;

/// Which model reads a text: the sentence model (context and word order,
/// milliseconds a text) or the word table distilled from it (a sum of
/// token rows, microseconds a text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reader {
    Sentence,
    Words,
}

/// The onnxruntime release `make setup` fetches.
pub const PINNED_RUNTIME: &str = "1.31.1";
/// The model folder `make setup` fills.
pub const DEFAULT_MODEL: &str = "all-minilm-l6-v2-int8";
/// Tokens the model reads of one text; the rest is cut.
pub const MAX_TOKENS: usize = 256;

/// The files a model folder must hold.
pub const MODEL_FILES: [&str; 5] =
    ["model.onnx", "tokenizer.json", "config.json", "special_tokens_map.json", "tokenizer_config.json"];

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("cannot load onnxruntime from {path}: {reason} (run `make setup`, or set FLIGHTLOG_ORT_LIB)")]
    Runtime { path: PathBuf, reason: String },
    #[error("the embedding model folder {dir} lacks {file} (run `make setup`, or set FLIGHTLOG_MODEL_DIR)")]
    MissingFile { dir: PathBuf, file: &'static str },
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("the embedding model in {dir} cannot be used: {reason}")]
    Model { dir: PathBuf, reason: String },
    #[error("embedding failed: {0}")]
    Embed(String),
    #[error("cannot distil the word table from the model: {0}")]
    Distil(String),
}

fn cache_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    var("FLIGHTLOG_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into())).join(".cache/flightlog")
    })
}

/// Where `make setup` puts libonnxruntime.so.
pub fn default_runtime_path() -> PathBuf {
    cache_dir().join(format!("native/onnxruntime-{PINNED_RUNTIME}/libonnxruntime.so"))
}

/// Where `make setup` puts the model.
pub fn default_model_dir() -> PathBuf {
    cache_dir().join("native").join(DEFAULT_MODEL)
}

/// One loaded model. Embedding is CPU work: call it off the async runtime.
pub struct Embedder {
    model: fastembed::TextEmbedding,
    /// Err: why there is none (`Reader::Words` then fails with it).
    words: MadeWordTable,
    dimension: usize,
    model_dir: PathBuf,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder").field("model_dir", &self.model_dir).field("dimension", &self.dimension).finish()
    }
}

/// onnxruntime is loaded, and its one environment built, once per process;
/// later loads reuse the result.
static RUNTIME: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// Word tables by name (the checksum of model and tokenizer): every
/// embedder of one model in a process shares one (47 MB for MiniLM), and
/// the first makes it. A failure is kept too: the next embedder of that
/// model does not distil again.
static WORD_TABLES: LazyLock<Mutex<HashMap<String, MadeWordTable>>> = LazyLock::new(Default::default);

/// A word table, or why it could not be made.
type MadeWordTable = Result<Arc<WordTable>, String>;

/// The table named `name`, when this process has it (or failed to make it).
fn known_word_table(name: &str) -> Option<MadeWordTable> {
    WORD_TABLES.lock().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
}

/// The table named `name`, made from these model files if no embedder of
/// this process has made it yet.
fn word_table_of(
    name: String,
    onnx: &[u8],
    tokenizer: &[u8],
    dimension: usize,
    threads: usize,
    environment: &ort::environment::Environment,
) -> MadeWordTable {
    // Held while distilling: a second embedder waits for the first's table.
    let mut tables = WORD_TABLES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(table) = tables.get(&name) {
        return table.clone();
    }
    let session = || {
        ort::session::Session::builder(environment)
            .map_err(|e| e.to_string())?
            .with_intra_threads(threads)
            .map_err(|e| e.to_string())?
            .commit_from_memory(onnx)
            .map_err(|e| e.to_string())
    };
    let table = WordTable::of_model(&name, tokenizer, dimension, &cache_dir(), session).map(Arc::new).map_err(|e| e.to_string());
    if let Err(e) = &table {
        tracing::warn!(error = %e, "no word table: texts read by it fail; the sentence model works");
    }
    tables.insert(name, table.clone());
    table
}

fn load_runtime(path: &Path) -> Result<ort::environment::Environment, EmbedError> {
    let loaded = RUNTIME.get_or_init(|| {
        if !path.is_file() {
            return Err("no such file".to_string());
        }
        let builder = ort::init_from(path).map_err(|e| e.to_string())?;
        builder.with_name("flightlog").build().map_err(|e| e.to_string())
    });
    loaded.clone().map_err(|reason| EmbedError::Runtime { path: path.to_path_buf(), reason })
}

impl Embedder {
    /// Loads onnxruntime from `runtime` and the model from `model_dir`, and
    /// its word table (distilled on first use; without it the sentence
    /// model still works). `threads` caps onnxruntime's intra-op threads.
    pub fn load(runtime: &Path, model_dir: &Path, threads: usize) -> Result<Self, EmbedError> {
        // Check the folder first: it names the missing file, where ORT
        // would only say that something failed.
        let mut files = Vec::with_capacity(MODEL_FILES.len());
        for file in MODEL_FILES {
            let path = model_dir.join(file);
            if !path.is_file() {
                return Err(EmbedError::MissingFile { dir: model_dir.to_path_buf(), file });
            }
            files.push(std::fs::read(&path).map_err(|e| EmbedError::Read { path, reason: e.to_string() })?);
        }
        let environment = load_runtime(runtime)?;
        let [onnx, tokenizer, config, special, tokenizer_config]: [Vec<u8>; 5] =
            files.try_into().expect("five model files");
        // The word table is made once the model's dimension is known, from
        // copies of its files: only when this process has not made it yet.
        let table_name = word_table::table_name(&onnx, &tokenizer);
        let known_or_files = known_word_table(&table_name).ok_or_else(|| (onnx.clone(), tokenizer.clone()));
        let model = fastembed::UserDefinedEmbeddingModel::new(
            onnx,
            fastembed::TokenizerFiles {
                tokenizer_file: tokenizer,
                config_file: config,
                special_tokens_map_file: special,
                tokenizer_config_file: tokenizer_config,
            },
        )
        .with_pooling(fastembed::Pooling::Mean);
        let options =
            fastembed::InitOptionsUserDefined::new()
            .with_environment(environment.clone())
            .with_max_length(MAX_TOKENS)
            .with_intra_threads(threads.max(1));
        let bad = |reason: String| EmbedError::Model { dir: model_dir.to_path_buf(), reason };
        let mut model = fastembed::TextEmbedding::try_new_from_user_defined(model, options).map_err(|e| bad(e.to_string()))?;
        // One probe tells the dimension and proves the model runs.
        let probe = model.embed(["probe"], None).map_err(|e| bad(e.to_string()))?;
        let dimension = probe.first().map(Vec::len).filter(|d| *d > 0).ok_or_else(|| bad("it returned no vector".into()))?;
        let words = match known_or_files {
            Ok(table) => table,
            Err((onnx, tokenizer)) => word_table_of(table_name, &onnx, &tokenizer, dimension, threads.max(1), &environment),
        };
        Ok(Self { model, words, dimension, model_dir: model_dir.to_path_buf() })
    }

    pub fn dimension(&self) -> usize {
        self.dimension
    }

    pub fn model_dir(&self) -> &Path {
        &self.model_dir
    }

    /// Unit-length vectors of `texts` as `reader` reads them, in order.
    pub fn embed_with(&mut self, reader: Reader, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        match reader {
            Reader::Sentence => self.embed(texts),
            Reader::Words => {
                let table = self.words.as_ref().map_err(|e| EmbedError::Distil(e.clone()))?;
                texts.iter().map(|t| table.embed(t)).collect()
            }
        }
    }

    /// Unit-length vectors by the sentence model, one per text, in order.
    ///
    /// Texts are run in batches of similar length: a batch is padded to its
    /// longest text, so sorting by length first saves most of the padding.
    pub fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        const BATCH: usize = 32;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(BATCH) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            let vectors = self.model.embed(&batch, Some(BATCH)).map_err(|e| EmbedError::Embed(e.to_string()))?;
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}

/// Cosine similarity of two unit vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
