//! `flightlog demo`: prints the demo sessions (the app's seed data,
//! `flightlog_app::seed`) as NDJSON. `serve --demo` loads them through the
//! app's ingest path (`AppState::load_demo`).

use flightlog_app::seed::generate;
use flightlog_model::time::now_us;
use std::io::Write;

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Ordinary sessions per agent (the special cases are always included).
    #[arg(long, default_value_t = 12)]
    sessions: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let write = || -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for step in generate(args.sessions, args.seed, now_us()) {
            serde_json::to_writer(&mut out, &step)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    };
    match write() {
        // `flightlog demo | head` closing the pipe early is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
