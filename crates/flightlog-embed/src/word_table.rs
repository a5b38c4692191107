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
//!   a user points at gets its table (weighted for BERT-style vocabularies). 30,522 tokens take about 10 s of the
//!   model on 2 cores, once: the table is kept in the cache folder, named by
//!   the checksum of the model and tokenizer it came from.
//! - **Weighted by rarity**: BERT-style vocabularies list whole words
//!   roughly from the most frequent, so a row is scaled by the logarithm of
//!   its rank: "the" and "of" weigh little, "mailbox" and "quota" a lot.

use crate::EmbedError;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Bump when the way rows are made changes: old tables are then not reused.
const FORMAT: &str = "word-table-v1";
/// Tokens run through the model at once while distilling.
const DISTIL_BATCH: usize = 512;

pub struct WordTable {
    tokenizer: tokenizers::Tokenizer,
    rows: Vec<f32>,
    dimension: usize,
}

/// Names a model's table: the checksum of its format, model and
/// tokenizer. Another model (or one replaced in place) is another table.
pub fn table_name(onnx: &[u8], tokenizer_json: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(FORMAT);
    h.update(Sha256::digest(onnx));
    h.update(Sha256::digest(tokenizer_json));
    let hex: String = h.finalize()[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("{FORMAT}-{hex}")
}

impl WordTable {
    /// The table named `name` (see [`table_name`]) of the model whose
    /// sentence vectors have `dimension` values: from the cache when a
    /// whole, matching copy is there, else distilled now with `session`
    /// (and cached when the cache folder is writable).
    pub fn of_model(
        name: &str,
        tokenizer_json: &[u8],
        dimension: usize,
        cache: &Path,
        session: impl FnOnce() -> Result<ort::session::Session, String>,
    ) -> Result<Self, EmbedError> {
        let tokenizer = load_tokenizer(tokenizer_json)?;
        let vocabulary = tokenizer.get_vocab_size(true);
        if vocabulary == 0 || dimension == 0 {
            return Err(EmbedError::Distil(format!("a vocabulary of {vocabulary} tokens and {dimension} dimensions make no table")));
        }
        let path = cache.join("derived").join(format!("{name}.f32"));
        // Processes starting together (a test run, replicas) distil once:
        // the others wait for the lock, then read the file.
        let _lock = lock_beside(&path);
        match std::fs::read(&path) {
            Ok(bytes) => match from_file(&bytes, vocabulary, dimension) {
                Ok(rows) => return Ok(Self { tokenizer, rows, dimension }),
                Err(why) => tracing::warn!(path = %path.display(), why, "the cached word table is not usable; distilling it again"),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot read the cached word table; distilling it again"),
        }
        let started = std::time::Instant::now();
        let mut session = session().map_err(EmbedError::Distil)?;
        let rows = distil(&mut session, &tokenizer, dimension).map_err(EmbedError::Distil)?;
        tracing::info!(tokens = vocabulary, dimension, seconds = started.elapsed().as_secs_f64(), "word table distilled");
        if let Err(e) = save(&path, &to_file(&rows, vocabulary, dimension)) {
            tracing::warn!(path = %path.display(), error = %e, "cannot keep the word table; it will be distilled again next start");
        }
        Ok(Self { tokenizer, rows, dimension })
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

/// The cached file: the SHA-256 of what follows, the vocabulary size and
/// the dimension (u32, little-endian), then the rows (f32, little-endian).
/// A file cut short, or written over by anything, fails its checksum.
fn to_file(rows: &[f32], vocabulary: usize, dimension: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(8 + rows.len() * 4);
    body.extend((vocabulary as u32).to_le_bytes());
    body.extend((dimension as u32).to_le_bytes());
    body.extend(rows.iter().flat_map(|x| x.to_le_bytes()));
    let mut file = Sha256::digest(&body).to_vec();
    file.extend(body);
    file
}

fn from_file(bytes: &[u8], vocabulary: usize, dimension: usize) -> Result<Vec<f32>, &'static str> {
    if bytes.len() != 32 + 8 + vocabulary * dimension * 4 {
        return Err("its size is not that of this model's table");
    }
    let (sum, body) = bytes.split_at(32);
    if Sha256::digest(body).as_slice() != sum {
        return Err("its checksum does not match its content");
    }
    let header = |at: usize| u32::from_le_bytes(body[at..at + 4].try_into().expect("four bytes")) as usize;
    if (header(0), header(4)) != (vocabulary, dimension) {
        return Err("it was made for another vocabulary or dimension");
    }
    Ok(body[8..].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

/// An exclusive lock on `<path>.lock`, released when dropped; none when
/// the cache folder cannot be written (each process then distils alone).
fn lock_beside(path: &Path) -> Option<std::fs::File> {
    std::fs::create_dir_all(path.parent()?).ok()?;
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path.with_extension("lock")).ok()?;
    file.lock().ok()?;
    Some(file)
}

/// Written beside, flushed to disk, and renamed into place: a reader never
/// sees half a table, and a crash never leaves one under the final name.
fn save(path: &Path, file: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().expect("a cache file has a folder");
    std::fs::create_dir_all(dir)?;
    let partial = dir.join(format!(".{}.{}", std::process::id(), path.file_name().and_then(|n| n.to_str()).unwrap_or("table")));
    let written = std::fs::File::create(&partial).and_then(|mut f| {
        f.write_all(file)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&partial, path)) {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    Ok(())
}

/// Every token of the vocabulary through the model, framed by the special
/// tokens the tokenizer adds to a text, mean-pooled, scaled by rarity.
fn distil(session: &mut ort::session::Session, tokenizer: &tokenizers::Tokenizer, dimension: usize) -> Result<Vec<f32>, String> {
    const OUTPUT: &str = "last_hidden_state";
    let frame = tokenizer.encode("", true).map_err(|e| e.to_string())?.get_ids().to_vec();
    let (before, after) = frame.split_at(frame.len().min(1));
    let width = frame.len() + 1;
    let vocabulary = tokenizer.get_vocab_size(true);
    let takes_types = session.inputs().iter().any(|i| i.name() == "token_type_ids");
    let mut rows = Vec::with_capacity(vocabulary * dimension);
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
        let output = outputs.get(OUTPUT).ok_or_else(|| format!("the model has no output named {OUTPUT}"))?;
        let (shape, hidden) = output.try_extract_tensor::<f32>().map_err(|e| e.to_string())?;
        let expected = [n as i64, width as i64, dimension as i64];
        if shape.as_ref() != expected.as_slice() {
            return Err(format!("{OUTPUT} has the shape {shape:?}, not {expected:?}"));
        }
        for (i, &token) in ids.iter().enumerate() {
            let weight = rarity(token as usize);
            let positions = &hidden[i * width * dimension..(i + 1) * width * dimension];
            rows.extend((0..dimension).map(|d| {
                weight * (0..width).map(|p| positions[p * dimension + d]).sum::<f32>() / width as f32
            }));
        }
    }
    Ok(rows)
}

/// ln(1 + rank among whole words). This is BERT's WordPiece layout (the
/// MiniLM family's): special tokens and 994 unused slots, then about a
/// thousand single characters (digits, letters, punctuation), then whole
/// words from the commonest, "the" at 1,996 (rank 1). Everything before
/// it counts as rank 1, so characters and punctuation weigh least. In
/// another vocabulary the weights are only roughly by frequency; the
/// quality tests measure MiniLM's.
fn rarity(token: usize) -> f32 {
    const BEFORE_FIRST_WORD: usize = 1_995;
    (1.0 + token.saturating_sub(BEFORE_FIRST_WORD).max(1) as f32).ln()
}
