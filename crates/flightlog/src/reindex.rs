//! `flightlog reindex`: empties the similar-failure index of a stopped
//! instance and rebuilds it from the store (the source of truth), with a
//! progress bar. Use it after changing the model, or if the index was lost
//! (the server also notices both at start-up and rebuilds by itself).

use crate::search::SearchArgs;
use flightlog_index::{Indexer, IndexerStatus};
use flightlog_store::Store;
use flightlog_store::embedded::Embedded;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args)]
pub struct ReindexArgs {
    /// The data folder of a stopped instance.
    #[arg(long, env = "FLIGHTLOG_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    #[arg(long, env = "FLIGHTLOG_CHDB_LIB")]
    chdb_lib: Option<PathBuf>,
    #[command(flatten)]
    search: SearchArgs,
}

pub async fn run(args: ReindexArgs) -> anyhow::Result<()> {
    let lib = args.chdb_lib.clone().unwrap_or_else(flightlog_store::embedded::default_library_path);
    let store = Store::open(Arc::new(Embedded::open(&lib, &args.data_dir.join("clickhouse"), 1)?)).await?;
    let embedder = args.search.load_embedder()?;
    let (index, progress) = args.search.open_index(&args.data_dir)?;
    let status = Arc::new(IndexerStatus::default());
    let mut indexer = Indexer::new(store.clone(), index.clone(), embedder, progress, status.clone());
    indexer.resume().await?;
    indexer.reset().await?;
    let total = store.key_decision_lag(0).await?.steps_behind;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} key decisions  {per_sec}  eta {eta}")
            .expect("a valid template"),
    );
    let started = Instant::now();
    loop {
        let n = indexer.step().await?;
        if n == 0 {
            break;
        }
        bar.inc(n as u64);
    }
    bar.set_message("building the search graph");
    indexer.maintain().await?;
    bar.finish_and_clear();
    let s = status.snapshot();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "reindexed {} key decisions into {} in {secs:.1} s ({:.0}/s); {} texts embedded, {} identical texts reused",
        s.indexed,
        index.describe(),
        s.indexed as f64 / secs.max(1e-9),
        s.embedded,
        s.cache_hits,
    );
    Ok(())
}
