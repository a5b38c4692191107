//! `flightlog sql`: runs one SQL statement on the store a stopped instance
//! used (its data folder, or the ClickHouse server it names) and prints the
//! result (JSONEachRow), through the same backend as `serve`. For
//! operators; the tamper tests use it to change stored rows behind
//! Flightlog's back.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct SqlArgs {
    /// The data folder of a stopped instance.
    #[arg(long, env = "FLIGHTLOG_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    #[command(flatten)]
    store: crate::store::StoreArgs,
    /// The statement.
    statement: String,
}

pub async fn run(args: SqlArgs) -> anyhow::Result<()> {
    let backend = args.store.open_backend(&args.data_dir).await?;
    let out = backend.query(&args.statement, flightlog_store::Params::new()).await?;
    crate::stdout::bytes(&out)?;
    Ok(())
}
