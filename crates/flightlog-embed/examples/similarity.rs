//! Prints the cosine similarity of every pair of lines read from stdin,
//! with the model `make setup` installed (or FLIGHTLOG_MODEL_DIR): how the
//! near-duplicate and goal-drift thresholds were chosen, and how to choose
//! them again for another model.
//!
//!     printf '%s\n' "first text" "second text" | cargo run -p flightlog-embed --example similarity

use flightlog_embed::{Embedder, cosine, default_model_dir, default_runtime_path};
use std::io::BufRead;

fn main() {
    let model = std::env::var_os("FLIGHTLOG_MODEL_DIR").map_or_else(default_model_dir, Into::into);
    let mut embedder = Embedder::load(&default_runtime_path(), &model, 2).unwrap_or_else(|e| panic!("{e}"));
    let lines: Vec<String> = std::io::stdin().lock().lines().map_while(Result::ok).filter(|l| !l.trim().is_empty()).collect();
    let texts: Vec<&str> = lines.iter().map(String::as_str).collect();
    let vectors = embedder.embed(&texts).unwrap_or_else(|e| panic!("{e}"));
    for (i, a) in vectors.iter().enumerate() {
        let row: Vec<String> = vectors.iter().map(|b| format!("{:.2}", cosine(a, b))).collect();
        println!("{i:>3}: {}", row.join(" "));
    }
}
