//! `flightlog-bench otlp`: OTLP ingest, Flightlog against Arize Phoenix.
//! The comparison is a shell script (it starts both servers and installs
//! Phoenix in its own venv) driving a Python client (the official OTLP
//! protobuf messages): `otlp/bench-otlp.sh` and `otlp/otlp_vs_phoenix.py`
//! in this crate. Both are built into this binary and run from a temporary
//! folder, so the command works wherever the binary is.

use anyhow::{Context, bail};
use std::path::PathBuf;

const SCRIPT: &str = include_str!("../otlp/bench-otlp.sh");
const CLIENT: &str = include_str!("../otlp/otlp_vs_phoenix.py");

#[derive(clap::Args)]
pub struct OtlpArgs {
    /// Spans sent to each server.
    #[arg(long, env = "SPANS", default_value_t = 20_000)]
    spans: u64,
    /// Python with the OTLP messages installed (`make pyclients`).
    #[arg(long, env = "FLIGHTLOG_PYTHON")]
    python: Option<PathBuf>,
}

pub fn run(args: OtlpArgs, flightlog: PathBuf) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("bench-otlp.sh");
    std::fs::write(&script, SCRIPT)?;
    std::fs::write(dir.path().join("otlp_vs_phoenix.py"), CLIENT)?;
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(&script).env("FLIGHTLOG_BENCH_BIN", &flightlog).env("SPANS", args.spans.to_string());
    if let Some(python) = &args.python {
        cmd.env("FLIGHTLOG_PYTHON", python);
    }
    let status = cmd.status().context("cannot run bash")?;
    if !status.success() {
        bail!("the OTLP benchmark failed ({status})");
    }
    Ok(())
}
