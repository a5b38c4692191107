//! `flightlog export`: downloads steps or costs as CSV, Arrow or Parquet,
//! streamed to a file with a progress bar.

use crate::client::{Client, ServerArgs};
use anyhow::bail;
use flightlog_api::MORE_GROUPS;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// `steps` (raw steps of the range) or `costs` (grouped, see --group-by).
    what: String,
    #[arg(long, default_value = "csv")]
    format: String,
    /// RFC 3339 start of the range (inclusive).
    #[arg(long)]
    from: Option<String>,
    /// RFC 3339 end of the range (exclusive).
    #[arg(long)]
    to: Option<String>,
    /// For costs: up to two of session, model, provider, agent, user, tool, day, week, month.
    #[arg(long)]
    group_by: Option<String>,
    /// For costs: the most expensive groups to keep, at most 10000. More
    /// matching is an error (the file then holds the first N), never a file
    /// cut short without a word.
    #[arg(long, default_value_t = 10_000)]
    limit: u32,
    /// Output file (default: <what>.<format>).
    #[arg(long, short)]
    out: Option<PathBuf>,
    #[command(flatten)]
    server: ServerArgs,
}

pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let mut query: Vec<(&str, String)> = vec![("format", args.format.clone())];
    if let Some(f) = &args.from {
        query.push(("from", f.clone()));
    }
    if let Some(t) = &args.to {
        query.push(("to", t.clone()));
    }
    let path = match args.what.as_str() {
        "steps" => "/v1/export/steps",
        "costs" => {
            if let Some(g) = &args.group_by {
                query.push(("group_by", g.clone()));
            }
            query.push(("limit", args.limit.to_string()));
            "/v1/costs"
        }
        other => bail!("export what? {other:?}: use steps or costs"),
    };
    let out = args.out.unwrap_or_else(|| PathBuf::from(format!("{}.{}", args.what, args.format)));
    let (bytes, headers) = Client::new(&args.server)?.download(path, &query, &out).await?;
    eprintln!("wrote {} ({bytes} bytes)", out.display());
    if headers.get(MORE_GROUPS).is_some_and(|v| v == "true") {
        bail!(
            "{} holds only the {} most expensive groups: more matched (raise --limit, at most 10000, narrow --from/--to, or group by less)",
            out.display(),
            args.limit
        );
    }
    Ok(())
}
