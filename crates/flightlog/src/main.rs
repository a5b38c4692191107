//! `flightlog`: the command line. Thin glue over the library crates:
//! `serve` runs the recorder; `import`, `keys` and `demo` talk to it.
//! The benchmarks are their own binary (`flightlog-bench`).
//!
//! May use: every crate (floor 6). It parses the command line and wires the
//! crates together; what Flightlog does lives in `flightlog-app`.

mod client;
mod demo;
mod export;
mod import;
mod incidents;
mod integrity;
mod keys;
mod policy;
mod prices;
mod reindex;
mod replay;
mod replica;
mod schema;
mod search;
mod serve;
mod signing_key;
mod sql;
mod stdout;
mod store;

use clap::{Parser, Subcommand};

/// Rust's allocations go to mimalloc rather than glibc's malloc: a step is
/// read into a JSON tree of small values, and malloc/free were a fifth of
/// `verify --all`'s CPU. Measured in one run each way: `verify --all` 13%
/// faster, a bundle 10%, decoding a request 25%; ingest end to end the
/// same (the engine and the kernel bound it). The engine (chDB) and
/// onnxruntime keep their own allocators.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "flightlog", version, about = "The flight recorder for AI agents")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run: the size of its biggest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the recorder: HTTP API over embedded ClickHouse in DATA_DIR, or a ClickHouse server.
    Serve(serve::ServeArgs),
    /// Send steps from an NDJSON or CSV file to a running server (idempotent).
    Import(import::ImportArgs),
    /// Download steps or costs as CSV, Arrow or Parquet, with a progress bar.
    Export(export::ExportArgs),
    /// Print realistic demo sessions as NDJSON (pipe into `import`).
    Demo(demo::DemoArgs),
    /// Show the price list; set a project's price overrides.
    Prices(prices::PricesArgs),
    /// Create, list and revoke API keys on a running server.
    Keys(keys::KeysArgs),
    /// Check that stored steps are complete and unaltered.
    Verify(integrity::VerifyArgs),
    /// Download a session's evidence bundle.
    Evidence(integrity::EvidenceArgs),
    /// Check an evidence bundle offline, with nothing but the file.
    VerifyBundle(integrity::VerifyBundleArgs),
    /// Erase personal content of a session or user (GDPR); proofs stay valid.
    Erase(integrity::EraseArgs),
    /// Show or set the project's redaction and retention policies.
    Policy(policy::PolicyArgs),
    /// List, place and release legal holds (they suspend expiry and erasure).
    Hold(policy::HoldArgs),
    /// List incidents (repeated side effects, loops, bursts…), change their
    /// state, show or set the detectors' thresholds.
    Incidents(incidents::IncidentsArgs),
    /// Show or set where incidents are sent (signed webhooks, Slack).
    Alerts(incidents::AlertsArgs),
    /// Serve a session's recorded completions as an OpenAI-compatible API.
    Replay(replay::ReplayArgs),
    /// Rebuild the similar-failure index of a stopped instance from its store.
    Reindex(reindex::ReindexArgs),
    /// Print the schema's DDL for a replicated ClickHouse cluster, for review.
    Schema(schema::SchemaArgs),
    /// Run one SQL statement on a stopped instance's store (data folder or server).
    Sql(sql::SqlArgs),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FLIGHTLOG_LOG").unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Import(args) => import::run(args).await,
            Command::Demo(args) => demo::run(args),
            Command::Export(args) => export::run(args).await,
            Command::Keys(args) => keys::run(args).await,
            Command::Prices(args) => prices::run(args).await,
            Command::Verify(args) => integrity::verify(args).await,
            Command::Evidence(args) => integrity::evidence(args).await,
            Command::VerifyBundle(args) => integrity::verify_bundle(args),
            Command::Sql(args) => sql::run(args).await,
            Command::Schema(args) => schema::run(args),
            Command::Erase(args) => integrity::erase(args).await,
            Command::Policy(args) => policy::policy(args).await,
            Command::Hold(args) => policy::hold(args).await,
            Command::Incidents(args) => incidents::incidents(args).await,
            Command::Alerts(args) => incidents::alerts(args).await,
            Command::Replay(args) => replay::run(args).await,
            Command::Reindex(args) => reindex::run(args).await,
        }
    });
    // One readable line for the person at the terminal, whatever
    // RUST_BACKTRACE says; the causes are chained with ": ".
    if let Err(e) = outcome {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}
