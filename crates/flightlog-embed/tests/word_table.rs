//! The word table is distilled from the model once and kept in the cache
//! folder: a later load reads it back, and a damaged copy is distilled
//! again rather than trusted. Uses the real model from `make setup`.

use flightlog_embed::{Embedder, Reader, default_model_dir, default_runtime_path};
use std::path::{Path, PathBuf};

fn tables_in(cache: &Path) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(cache.join("derived")) else { return Vec::new() };
    dir.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "f32")).collect()
}

/// Another folder holding the same model: another embedder, not one this
/// process has already made the table for.
fn copy_of_model(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for f in flightlog_embed::MODEL_FILES {
        std::fs::copy(from.join(f), to.path().join(f)).unwrap();
    }
    to
}

#[test]
fn the_table_is_kept_in_the_cache_and_a_damaged_copy_is_distilled_again() {
    let (runtime, model) = (default_runtime_path(), default_model_dir());
    let cache = tempfile::tempdir().unwrap();
    // SAFETY: this test is its own process (nextest) and starts no thread
    // before this line.
    unsafe { std::env::set_var("FLIGHTLOG_CACHE", cache.path()) };
    let text = ["SMTP 550: mailbox full, the message to ana@example.com bounced"];

    let mut first = Embedder::load(&runtime, &model, 2).unwrap();
    let tables = tables_in(cache.path());
    assert_eq!(tables.len(), 1, "one table, named for the model: {tables:?}");
    let table = &tables[0];
    let full_size = 30_522 * first.dimension() as u64 * 4;
    assert_eq!(std::fs::metadata(table).unwrap().len(), full_size, "a row of f32 per token of the vocabulary");
    let v = first.embed_with(Reader::Words, &text).unwrap();

    // Read back: the same vectors, and the file left as it was.
    let written = std::fs::metadata(table).unwrap().modified().unwrap();
    let copy = copy_of_model(&model);
    let mut second = Embedder::load(&runtime, copy.path(), 2).unwrap();
    assert_eq!(second.embed_with(Reader::Words, &text).unwrap(), v);
    assert_eq!(std::fs::metadata(table).unwrap().modified().unwrap(), written, "read, not written again");

    // Damaged: distilled again, and the good table put back.
    std::fs::write(table, b"not a table").unwrap();
    let copy = copy_of_model(&model);
    let mut third = Embedder::load(&runtime, copy.path(), 2).unwrap();
    assert_eq!(std::fs::metadata(table).unwrap().len(), full_size);
    let again = third.embed_with(Reader::Words, &text).unwrap();
    assert!(flightlog_embed::cosine(&again[0], &v[0]) > 0.9999, "the same table distilled again");
    assert_eq!(tables_in(cache.path()).len(), 1, "no partial file left beside it");
}
