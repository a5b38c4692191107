//! `flightlog-bench`: Flightlog's benchmarks, all in one place, one
//! subcommand each, printing the figures the README quotes:
//! - `ingest`: a real server's durable ingest, timeline and web-page
//!   latency, `verify --all`, evidence bundles, peak RSS;
//! - `costs`: cost queries over millions of steps in an embedded store;
//! - `sessions`: the session list's pages over a million sessions;
//! - `guard`: the guard's answer latency over 1M recorded actions, its rebuild;
//! - `search`: embedding throughput, vector search at 100k/1M points, the
//!   indexer's lag behind a real server;
//! - `otlp`: OTLP ingest against Arize Phoenix (`otlp/bench-otlp.sh`);
//! - `otlp-grpc`: OTLP over gRPC beside OTLP/HTTP, one server, one run;
//! - `verify`: `verify --all` over a sealed store, steps/s and peak RSS;
//! - `write-path`: one group commit's time, part by part, in an embedded store;
//! - `conversations`: ingest of 40-step sessions that carry the whole
//!   conversation in each step, and the bytes kept for the bytes sent;
//! - `long-session`: one step per request into a session of many steps,
//!   against a short one.
//!
//! The benchmarks that need a server start the real `flightlog` binary
//! (`--flightlog-bin`, `FLIGHTLOG_BIN`, else the `flightlog` next to this
//! executable) and talk to it over HTTP, as a client would.
//!
//! May use: every crate below it (floor 6, beside the binary; see
//! docs/architecture.md); it uses the model, store, index, embed, integrity
//! and the app core (for its seeded generator). Nothing uses it, and it is
//! never linked into `flightlog`: it runs that binary as a separate process.

mod alerts;
mod conversations;
mod costs;
mod guard;
mod ingest;
mod long_session;
mod otlp;
mod otlp_grpc;
mod record;
mod search;
mod sessions;
mod verify;
mod write_path;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// The same allocator as the `flightlog` binary, so that the in-process
/// parts (`write-path`) measure what the server does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "flightlog-bench", version, about = "Flightlog's benchmarks, one command each")]
struct Cli {
    /// The `flightlog` binary to start as the server. Default: `flightlog`
    /// next to this executable (same build profile).
    #[arg(long, env = "FLIGHTLOG_BIN", global = true)]
    flightlog_bin: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure ingest throughput, timeline latency and peak RSS.
    Ingest(ingest::IngestArgs),
    /// Measure cost queries over millions of steps in an embedded store.
    Costs(costs::CostsArgs),
    /// Measure the session list's pages, every sort and filter, over 1M sessions.
    Sessions(sessions::SessionsArgs),
    /// Measure the guard's answers over 1M recorded actions, and its rebuild.
    Guard(guard::GuardArgs),
    /// Measure the time from a step's acknowledgement to its incident's webhook.
    Alerts(alerts::AlertsArgs),
    /// Measure embedding throughput, vector search latency and indexer lag.
    Search(search::SearchArgs),
    /// Measure OTLP ingest against Arize Phoenix, same payloads, same run.
    Otlp(otlp::OtlpArgs),
    /// Measure OTLP ingest over gRPC beside OTLP/HTTP, same spans, same run.
    OtlpGrpc(otlp_grpc::OtlpGrpcArgs),
    /// Measure `flightlog verify --all` (steps/s, peak RSS) on a sealed store.
    Verify(verify::VerifyArgs),
    /// Measure one group commit's time part by part: CPU, check, inserts, views.
    WritePath(write_path::WritePathArgs),
    /// Measure ingest of steps carrying the whole conversation, and bytes on disk.
    Conversations(conversations::ConversationsArgs),
    /// Measure one step per request into a session of many steps, and into a short one.
    LongSession(long_session::LongSessionArgs),
}

/// The `flightlog` binary the benchmarks start.
pub(crate) fn flightlog_bin(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("flightlog"),
    };
    anyhow::ensure!(
        path.is_file(),
        "no flightlog binary at {} (build it, or pass --flightlog-bin / set FLIGHTLOG_BIN)",
        path.display()
    );
    Ok(path)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Ingest(args) => ingest::run(args, flightlog_bin(cli.flightlog_bin)?).await,
            Command::Costs(args) => costs::run(args).await,
            Command::Sessions(args) => sessions::run(args).await,
            Command::Guard(args) => guard::run(args, flightlog_bin(cli.flightlog_bin)?).await,
            Command::Alerts(args) => alerts::run(args, flightlog_bin(cli.flightlog_bin)?).await,
            Command::Search(args) => search::run(args, cli.flightlog_bin).await,
            Command::Otlp(args) => otlp::run(args, flightlog_bin(cli.flightlog_bin)?),
            Command::OtlpGrpc(args) => otlp_grpc::run(args, flightlog_bin(cli.flightlog_bin)?).await,
            Command::Verify(args) => verify::run(args, flightlog_bin(cli.flightlog_bin)?).await,
            Command::WritePath(args) => write_path::run(args).await,
            Command::Conversations(args) => conversations::run(args, flightlog_bin(cli.flightlog_bin)?).await,
            Command::LongSession(args) => long_session::run(args, flightlog_bin(cli.flightlog_bin)?).await,
        }
    });
    if let Err(e) = outcome {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}
