//! `flightlog schema --cluster NAME`: prints the DDL Flightlog would run on
//! a replicated ClickHouse cluster (every table `ON CLUSTER`, every engine
//! `Replicated…`), for an operator to review. Nothing is sent anywhere.

#[derive(clap::Args)]
pub struct SchemaArgs {
    /// The cluster's name, as in the servers' remote_servers configuration.
    #[arg(long)]
    cluster: String,
}

pub fn run(args: SchemaArgs) -> anyhow::Result<()> {
    for statement in flightlog_store::migrations::cluster_schema(&args.cluster) {
        crate::stdout::line(format_args!("{statement};\n"))?;
    }
    Ok(())
}
