//! `flightlog serve`: opens the store, starts the writer, serves HTTP, and
//! on SIGINT/SIGTERM stops accepting, finishes in-flight requests, and lets
//! the writer drain its queue before exiting.

use crate::demo;
use flightlog_api::auth::KeyRing;
use flightlog_api::{AppState, router};
use flightlog_ingest::Ingestor;
use flightlog_model::Limits;
use flightlog_prove::checkpoint::Checkpointer;
use flightlog_prove::signer::Signer;
use flightlog_store::Store;
use flightlog_store::embedded::Embedded;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Folder for all data (created when missing).
    #[arg(long, env = "FLIGHTLOG_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "FLIGHTLOG_LISTEN", default_value = "127.0.0.1:4318")]
    listen: SocketAddr,
    /// Path of libchdb.so (default: where `make setup` puts it).
    #[arg(long, env = "FLIGHTLOG_CHDB_LIB")]
    chdb_lib: Option<PathBuf>,
    /// Load demo sessions into project `default` when it has none yet.
    #[arg(long)]
    demo: bool,
    /// Read connections to the embedded engine (reads run in parallel).
    #[arg(long, default_value_t = 3)]
    readers: usize,
    /// Ed25519 key (64 hex characters, the seed) that signs checkpoints.
    /// Default: DATA_DIR/integrity/signing.key, generated at first start.
    #[arg(long, env = "FLIGHTLOG_SIGNING_KEY_FILE")]
    signing_key: Option<PathBuf>,
    /// Flag sessions whose computed cost exceeds this many USD.
    #[arg(long, env = "FLIGHTLOG_SESSION_BUDGET")]
    session_budget: Option<f64>,
    /// Flag sessions of an agent over its budget: AGENT=USD (repeatable).
    #[arg(long = "agent-budget", value_parser = flightlog_model::budget::Budgets::parse_agent)]
    agent_budgets: Vec<(String, f64)>,
    /// Seconds between signed checkpoints of the log (also signed on shutdown).
    #[arg(long, env = "FLIGHTLOG_CHECKPOINT_INTERVAL", default_value_t = 60)]
    checkpoint_interval: u64,
    #[command(flatten)]
    search: crate::search::SearchArgs,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let lib = args.chdb_lib.clone().unwrap_or_else(flightlog_store::embedded::default_library_path);
    let engine = Embedded::open(&lib, &args.data_dir.join("clickhouse"), args.readers)?;
    let store = Store::open(Arc::new(engine)).await?;
    tracing::info!(store = %store.backend().describe(), "store ready");

    let keys = KeyRing::load(store.clone()).await?;
    let bootstrap = std::env::var("FLIGHTLOG_BOOTSTRAP_KEY").ok().filter(|k| !k.is_empty());
    if let Some(generated) = keys.bootstrap(bootstrap.as_deref()).await? {
        // Printed once, on first start only: it is stored hashed.
        println!("Generated an admin key for project `default` (shown once, keep it):\n  {generated}");
    }

    let (ingestor, writer) = Ingestor::start(store.clone()).await?;
    let key_path = args.signing_key.clone().unwrap_or_else(|| args.data_dir.join("integrity/signing.key"));
    let signer = Signer::load_or_create(&key_path).map_err(|e| anyhow::anyhow!("signing key {}: {e}", key_path.display()))?;
    let checkpointer = Checkpointer::new(store.clone(), ingestor.log_view(), Arc::new(signer)).await?;
    let periodic = checkpointer.clone().spawn_periodic(Duration::from_secs(args.checkpoint_interval.max(1)));
    let limits = Arc::new(Limits::default());
    if args.demo {
        demo::load_into(&store, &ingestor, &limits).await?;
    }

    let (search, indexer) = crate::search::start(&args.search, &args.data_dir, store.clone()).await;

    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "flightlog listening");
    println!("Flightlog listening on http://{addr}");
    let state = AppState {
        store,
        ingestor,
        keys: Arc::new(keys),
        limits,
        checkpointer: checkpointer.clone(),
        sealed: Arc::default(),
        budgets: Arc::new(flightlog_model::budget::Budgets {
            per_session: args.session_budget,
            per_agent: args.agent_budgets.iter().cloned().collect(),
        }),
        search,
    };
    let app = router(state.clone()).merge(flightlog_web::router(state));
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;

    // The router, and with it every Ingestor clone, is gone: the writer
    // commits what is still queued, then stops.
    tracing::info!("draining the ingest queue");
    writer.await?;
    periodic.abort();
    // The indexer's mark is only ever saved after its points are durable,
    // so stopping it anywhere loses nothing.
    if let Some(indexer) = indexer {
        indexer.abort();
    }
    // Seal what the drained writer stored, so a clean stop leaves nothing
    // unsealed.
    checkpointer.seal().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
