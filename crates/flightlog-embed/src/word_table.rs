//! A static word table distilled from the sentence model: one vector per
//! token of its vocabulary, so that a text's vector is the normalised sum
//! of its tokens' rows. Reading a text costs its tokenizing and a few
//! hundred additions (microseconds) where the sentence model costs
//! milliseconds, at the price of word order and context (the idea of
//! Model2Vec's static embeddings).
//!
//! - **Distilled, not downloaded**: each row is what the sentence model
//!   itself makes of that one token (`[CLS] token [SEP]`, mean-pooled), so
//!   the table lives in the model's own vector space and any model folder
//!   a user points at gets its table. 30,522 tokens take about 10 s of the
//!   model on 2 cores, once: the table is kept in the cache folder, named by
//!   the checksum of the model and tokenizer it came from.
//! - **Weighted by rarity**: BERT-style vocabularies list whole words
//!   roughly from the most frequent, so a row is scaled by the logarithm of
//!   its rank: "the" and "of" weigh little, "mailbox" and "quota" a lot.

use crate::EmbedError;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Bump when the way rows are made changes: old tables are then not reused.
const FORMAT: &str = "word-table-v1";
/// Tokens run through the model at once while distilling.
const DISTIL_BATCH: usize = 512;

pub struct WordTable {
    tokenizer: tokenizers::Tokenizer,
    rows: Vec<f32>,
    dimension: usize,
}

impl WordTable {
    /// The table of the model whose files are given, from the cache when
    /// it was distilled before, else distilled now (and cached when the
    /// cache folder is writable).
    pub fn of_model(
        onnx: &[u8],
        tokenizer_json: &[u8],
        cache: &Path,
        session: impl FnOnce() -> Result<ort::session::Session, String>,
    ) -> Result<Self, EmbedError> {
        let tokenizer = load_tokenizer(tokenizer_json)?;
        let path = cached_path(cache, onnx, tokenizer_json);
        let vocabulary = tokenizer.get_vocab_size(true);
        // Processes starting together (a test run, replicas) distil once:
        // the others wait for the lock, then read the file.
        let _lock = lock_beside(&path);
        if let Ok(bytes) = std::fs::read(&path) {
            if bytes.len() % (4 * vocabulary) == 0 && !bytes.is_empty() {
                let rows: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
                let dimension = rows.len() / vocabulary;
                return Ok(Self { tokenizer, rows, dimension });
            }
            tracing::warn!(path = %path.display(), "the cached word table has the wrong size; distilling it again");
        }
        let started = std::time::Instant::now();
        let mut session = session().map_err(|reason| EmbedError::Distil(reason))?;
        let (rows, dimension) = distil(&mut session, &tokenizer).map_err(EmbedError::Distil)?;
        tracing::info!(tokens = vocabulary, dimension, seconds = started.elapsed().as_secs_f64(), "word table distilled");
        if let Err(e) = save(&path, &rows) {
            tracing::warn!(path = %path.display(), error = %e, "cannot keep the word table; it will be distilled again next start");
        }
        Ok(Self { tokenizer, rows, dimension })
    }

    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// The unit-length vector of `text` (all zeros when it has no token).
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let encoding = self.tokenizer.encode(text, false).map_err(|e| EmbedError::Embed(e.to_string()))?;
        let mut sum = vec![0f32; self.dimension];
        for &id in encoding.get_ids() {
            let start = id as usize * self.dimension;
            if let Some(row) = self.rows.get(start..start + self.dimension) {
                sum.iter_mut().zip(row).for_each(|(s, r)| *s += r);
            }
        }
        let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            sum.iter_mut().for_each(|x| *x /= norm);
        }
        Ok(sum)
    }
}

fn load_tokenizer(json: &[u8]) -> Result<tokenizers::Tokenizer, EmbedError> {
    let mut tokenizer = tokenizers::Tokenizer::from_bytes(json).map_err(|e| EmbedError::Distil(format!("tokenizer.json: {e}")))?;
    // Every token counts, however long the text: no cut, no padding.
    tokenizer.with_padding(None);
    tokenizer.with_truncation(None).map_err(|e| EmbedError::Distil(e.to_string()))?;
    Ok(tokenizer)
}

/// `<cache>/derived/word-table-v1-<checksum>.f32`: another model or
/// tokenizer, or another way of making rows, is another file.
fn cached_path(cache: &Path, onnx: &[u8], tokenizer_json: &[u8]) -> PathBuf {
    let mut h = Sha256::new();
    h.update(FORMAT);
    h.update(Sha256::digest(onnx));
    h.update(Sha256::digest(tokenizer_json));
    let hex: String = h.finalize()[..12].iter().map(|b| format!("{b:02x}")).collect();
    cache.join("derived").join(format!("{FORMAT}-{hex}.f32"))
}

/// An exclusive lock on `<path>.lock`, released when dropped; none when
/// the cache folder cannot be written (each process then distils alone).
fn lock_beside(path: &Path) -> Option<std::fs::File> {
    std::fs::create_dir_all(path.parent()?).ok()?;
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path.with_extension("lock")).ok()?;
    file.lock().ok()?;
    Some(file)
}

/// Written beside and renamed into place: a reader never sees half a table.
fn save(path: &Path, rows: &[f32]) -> std::io::Result<()> {
    let dir = path.parent().expect("a cache file has a folder");
    std::fs::create_dir_all(dir)?;
    let partial = dir.join(format!(".{}.{}", std::process::id(), path.file_name().and_then(|n| n.to_str()).unwrap_or("table")));
    let bytes: Vec<u8> = rows.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, path)
}

/// Every token of the vocabulary through the model, framed by the special
/// tokens the tokenizer adds to a text, mean-pooled, scaled by rarity.
fn distil(session: &mut ort::session::Session, tokenizer: &tokenizers::Tokenizer) -> Result<(Vec<f32>, usize), String> {
    let frame = tokenizer.encode("", true).map_err(|e| e.to_string())?.get_ids().to_vec();
    let (before, after) = frame.split_at(frame.len().min(1));
    let width = frame.len() + 1;
    let vocabulary = tokenizer.get_vocab_size(true);
    let takes_types = session.inputs().iter().any(|i| i.name() == "token_type_ids");
    let mut rows = Vec::new();
    let mut dimension = 0;
    for start in (0..vocabulary).step_by(DISTIL_BATCH) {
        let ids: Vec<i64> = (start..(start + DISTIL_BATCH).min(vocabulary)).map(|t| t as i64).collect();
        let n = ids.len();
        let input: Vec<i64> = ids
            .iter()
            .flat_map(|&t| before.iter().map(|&b| b as i64).chain([t]).chain(after.iter().map(|&a| a as i64)))
            .collect();
        let tensor = |data: Vec<i64>| ort::value::Tensor::from_array(([n, width], data)).map_err(|e| e.to_string());
        let mut inputs = ort::inputs![
            "input_ids" => tensor(input)?,
            "attention_mask" => tensor(vec![1; n * width])?,
        ];
        if takes_types {
            inputs.push(("token_type_ids".into(), tensor(vec![0; n * width])?.into()));
        }
        let outputs = session.run(inputs).map_err(|e| e.to_string())?;
        let (shape, hidden) = outputs[0].try_extract_tensor::<f32>().map_err(|e| e.to_string())?;
        dimension = *shape.last().ok_or("the model's output has no shape")? as usize;
        for (i, &token) in ids.iter().enumerate() {
            let weight = rarity(token as usize);
            let positions = &hidden[i * width * dimension..(i + 1) * width * dimension];
            rows.extend((0..dimension).map(|d| {
                weight * (0..width).map(|p| positions[p * dimension + d]).sum::<f32>() / width as f32
            }));
        }
    }
    Ok((rows, dimension))
}

/// ln(1 + rank among whole words). BERT's vocabulary puts its special
/// tokens and 994 unused slots first and "the" at 1,996 (rank 1); those
/// before it count as rank 1 too.
fn rarity(token: usize) -> f32 {
    const BEFORE_FIRST_WORD: usize = 1_995;
    (1.0 + token.saturating_sub(BEFORE_FIRST_WORD).max(1) as f32).ln()
}
