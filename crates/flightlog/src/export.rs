//! `flightlog export`: downloads steps or costs as CSV, Arrow or Parquet,
//! streamed to a file with a progress bar.

use crate::client::ServerArgs;
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
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
    /// Output file (default: <what>.<format>).
    #[arg(long, short)]
    out: Option<PathBuf>,
    #[command(flatten)]
    server: ServerArgs,
}

pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let key = args.server.key.clone().context("no API key: pass --key or set FLIGHTLOG_KEY")?;
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
            "/v1/costs"
        }
        other => bail!("export what? {other:?}: use steps or costs"),
    };
    let url = format!("{}{path}", args.server.url.trim_end_matches('/'));
    let mut resp = reqwest::Client::new().get(&url).bearer_auth(key).query(&query).send().await.with_context(|| format!("cannot reach {url}"))?;
    if !resp.status().is_success() {
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        bail!("{status}: {}", body["error"]["message"].as_str().unwrap_or("export refused"));
    }
    let out = args.out.unwrap_or_else(|| PathBuf::from(format!("{}.{}", args.what, args.format)));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&out).with_context(|| format!("cannot create {}", out.display()))?);
    let bar = ProgressBar::new_spinner().with_style(ProgressStyle::with_template("{spinner} {bytes} received, {bytes_per_sec} {msg}")?);
    bar.set_message(out.display().to_string());
    while let Some(chunk) = resp.chunk().await.context("the export was interrupted")? {
        file.write_all(&chunk)?;
        bar.inc(chunk.len() as u64);
    }
    file.flush()?;
    bar.finish_and_clear();
    eprintln!("wrote {} ({} bytes)", out.display(), std::fs::metadata(&out)?.len());
    Ok(())
}
