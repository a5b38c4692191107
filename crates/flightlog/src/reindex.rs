//! `flightlog reindex`: empties the similar-failure index of a stopped
//! instance and rebuilds it from the store (the source of truth), with a
//! progress bar. Use it after changing the model, or if the index was lost
//! (the server also notices both at start-up and rebuilds by itself).

use crate::search::SearchArgs;
use flightlog_index::{Indexer, IndexerStatus};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args)]
pub struct ReindexArgs {
    /// The data folder of a stopped instance.
    #[arg(long, env = "FLIGHTLOG_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    #[command(flatten)]
    store: crate::store::StoreArgs,
    #[command(flatten)]
    search: SearchArgs,
}

pub async fn run(args: ReindexArgs) -> anyhow::Result<()> {
    // Before the store is opened: nothing to do, and nothing touched.
    if args.search.turned_off() {
        anyhow::bail!("reindex builds the similar-failure index, which --no-search (or FLIGHTLOG_NO_SEARCH) turns off: nothing to do");
    }
    let store = args.store.open_store(&args.data_dir).await?;
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
    crate::stdout::line(format_args!(
        "reindexed {} key decisions into {} in {secs:.1} s ({:.0}/s); {} texts embedded, {} identical texts reused",
        s.indexed,
        index.describe(),
        s.indexed as f64 / secs.max(1e-9),
        s.embedded,
        s.cache_hits,
    ))?;
    Ok(())
}
