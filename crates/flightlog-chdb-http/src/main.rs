//! A test fixture: ClickHouse's HTTP interface served over embedded chDB.
//!
//! No modern ClickHouse server can be installed on the machines Flightlog
//! is built and tested on, so server mode (the ClickHouse backend speaking
//! HTTP) is tested against this process instead: it answers the subset of
//! ClickHouse's documented HTTP interface a client uses (the query in the
//! URL or the body, INSERT data in the body, `param_*` bound on the engine
//! side, `database`, `default_format`, settings as URL parameters,
//! credentials, gzip both ways, `X-ClickHouse-*` headers, exceptions as
//! `Code: N. DB::Exception: ...` with ClickHouse's HTTP statuses), and runs
//! every statement on the real engine. It follows ClickHouse's documentation
//! of that interface, not the habits of any one client.
//!
//! ```text
//! flightlog-chdb-http --data-dir DIR --listen 127.0.0.1:8123 [--user U --password P]
//! ```
//! prints `listening on ADDR` on stdout once it accepts connections (with
//! port 0, ADDR names the port chosen). One process owns the data folder.
//!
//! May use: `flightlog-chdb` only among Flightlog crates (floor 1). Nothing
//! depends on it but tests, which start the binary.

mod engine;
mod http;
mod sql;

use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    version,
    about = "ClickHouse's HTTP interface over embedded chDB (a test fixture)"
)]
struct Args {
    /// The chDB data folder (created when missing).
    #[arg(long)]
    data_dir: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8123")]
    listen: String,
    /// The only user accepted (ClickHouse's `default` when not given).
    #[arg(long, default_value = "default")]
    user: String,
    /// That user's password (empty when not given).
    #[arg(long, default_value = "")]
    password: String,
    /// libchdb.so; default `$FLIGHTLOG_CHDB_LIB`, else the cache folder
    /// `make setup` fills.
    #[arg(long)]
    chdb_lib: Option<PathBuf>,
    /// Statements run at once; more requests wait for a turn.
    #[arg(long, default_value_t = 8)]
    max_concurrent_queries: usize,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let lib = args
        .chdb_lib
        .clone()
        .unwrap_or_else(flightlog_chdb::default_library_path);
    let engine = match engine::Engine::open(&lib, args.data_dir.clone()) {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("flightlog-chdb-http: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let config = http::Config {
        user: args.user,
        password: args.password,
        max_concurrent_queries: args.max_concurrent_queries.max(1),
    };
    match runtime.block_on(http::serve(engine, config, &args.listen)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flightlog-chdb-http: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
