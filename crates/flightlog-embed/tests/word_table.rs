//! The word table is distilled from the model once and kept in the cache
//! folder: a later start reads it back, and a damaged copy (cut short, or
//! whole but changed) is distilled again rather than trusted. Each start
//! is a process of its own (this test binary run again), as a server
//! start is: within one process the table is shared from memory. Uses the
//! real model from `make setup`.

use flightlog_embed::{Embedder, Reader, default_model_dir, default_runtime_path};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Set in the child processes: the cache folder to use.
const CHILD_CACHE: &str = "WORD_TABLE_TEST_CACHE";
const TEXT: &str = "the mailbox is full";

/// The child: loads the model with the given cache folder and prints the
/// word table's vector of [`TEXT`]. Does nothing when run as a test.
#[test]
fn child_start() {
    let Some(cache) = std::env::var_os(CHILD_CACHE) else { return };
    let (runtime, model) = (default_runtime_path(), default_model_dir());
    // SAFETY: set before any thread of this test starts.
    unsafe { std::env::set_var("FLIGHTLOG_CACHE", &cache) };
    let mut e = Embedder::load(&runtime, &model, 2).unwrap();
    let v = e.embed_with(Reader::Words, &[TEXT]).unwrap();
    println!("\nVECTOR {}", serde_json::to_string(&v[0]).unwrap());
}

fn start(cache: &Path) -> Vec<f32> {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_start", "--nocapture", "--test-threads", "1"])
        .env(CHILD_CACHE, cache)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    // libtest may print the test's name on the same line first.
    let line = stdout.lines().find_map(|l| l.split_once("VECTOR ").map(|(_, v)| v)).unwrap_or_else(|| panic!("no vector in {stdout}"));
    serde_json::from_str(line).unwrap()
}

fn the_table(cache: &Path) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(cache.join("derived"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "f32"))
        .collect();
    assert_eq!(found.len(), 1, "one table, named for the model, no partial file left: {found:?}");
    found[0].clone()
}

#[test]
fn the_table_is_kept_in_the_cache_and_a_damaged_copy_is_distilled_again() {
    let cache = tempfile::tempdir().unwrap();
    let first = start(cache.path());
    let table = the_table(cache.path());
    // A checksum, a header of two u32, then a row of f32 per token.
    let dimension = first.len();
    let full_size = (32 + 8 + 30_522 * dimension * 4) as u64;
    assert_eq!(std::fs::metadata(&table).unwrap().len(), full_size);
    assert!((flightlog_embed::cosine(&first, &first) - 1.0).abs() < 1e-4, "a unit vector");

    // Read back: the same vector, the file not written again.
    let written = std::fs::metadata(&table).unwrap().modified().unwrap();
    assert_eq!(start(cache.path()), first);
    assert_eq!(std::fs::metadata(&table).unwrap().modified().unwrap(), written, "read, not distilled again");

    // Damaged two ways: each time distilled again and kept, with the good
    // vectors (the changed row, of "the", would swamp the text's vector).
    let mut changed = std::fs::read(&table).unwrap();
    let row_of_the = 40 + 1_996 * dimension * 4;
    changed[row_of_the..row_of_the + 4].copy_from_slice(&1e6f32.to_le_bytes());
    for (damage, bytes) in [("cut short", b"not a table".to_vec()), ("whole but changed", changed)] {
        std::fs::write(&table, &bytes).unwrap();
        let again = start(cache.path());
        assert!(flightlog_embed::cosine(&again, &first) > 0.9999, "{damage}: the vector of a good table");
        let now = std::fs::read(the_table(cache.path())).unwrap();
        assert!(now.len() as u64 == full_size && now != bytes, "{damage}: the table made again and kept");
    }
}
