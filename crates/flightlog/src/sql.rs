//! `flightlog sql`: runs one SQL statement against a stopped instance's
//! data folder and prints the result (JSONEachRow). For operators: what a
//! ClickHouse client would be for a server. The tamper tests use it to
//! change stored rows behind Flightlog's back.

use anyhow::Context;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct SqlArgs {
    /// The data folder of a stopped instance.
    #[arg(long, env = "FLIGHTLOG_DATA_DIR")]
    data_dir: PathBuf,
    /// The statement.
    statement: String,
}

pub fn run(args: SqlArgs) -> anyhow::Result<()> {
    let lib = flightlog_chdb::Library::open(&flightlog_store::embedded::default_library_path())?;
    let conn = lib.connect(&args.data_dir.join("clickhouse")).context("cannot open the data folder")?;
    let out = conn.query(&args.statement, "JSONEachRow", &[])?;
    print!("{}", String::from_utf8_lossy(&out));
    Ok(())
}
