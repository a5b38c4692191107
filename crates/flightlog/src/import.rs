//! `flightlog import FILE`: sends steps from NDJSON or CSV to a server in
//! batches, with a progress bar. Re-running is safe: steps already stored
//! come back as duplicates, not copies.

use crate::client::{Client, ServerArgs};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ImportArgs {
    /// NDJSON (one step per line) or CSV (columns as in `flightlog export`).
    file: PathBuf,
    /// `ndjson` or `csv`; guessed from the file name when absent.
    #[arg(long)]
    format: Option<String>,
    /// Steps per request.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Default)]
struct Totals {
    accepted: u64,
    duplicates: u64,
    rejected: Vec<String>,
}

pub async fn run(args: ImportArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.server)?;
    let size = std::fs::metadata(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?.len();
    let bar = ProgressBar::new(size).with_style(
        ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} [{bar:30}] {per_sec} eta {eta} {msg}")?
            .progress_chars("=> "),
    );
    let csv = match args.format.as_deref() {
        Some("csv") => true,
        Some("ndjson") | Some("jsonl") => false,
        Some(other) => anyhow::bail!("unknown --format {other:?}; use ndjson or csv"),
        None => args.file.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")),
    };
    let file = std::fs::File::open(&args.file)?;
    let reader = BufReader::new(bar.wrap_read(file));
    let lines: Box<dyn Iterator<Item = anyhow::Result<(u64, String)>>> =
        if csv { Box::new(csv_lines(reader)?) } else { Box::new(ndjson_lines(reader)) };

    let mut totals = Totals::default();
    let mut batch: Vec<(u64, String)> = Vec::with_capacity(args.batch);
    for line in lines {
        batch.push(line?);
        if batch.len() == args.batch.max(1) {
            send(&client, &mut batch, &mut totals, &bar).await?;
        }
    }
    send(&client, &mut batch, &mut totals, &bar).await?;
    bar.finish_and_clear();

    println!(
        "{}: {} accepted, {} already stored, {} rejected",
        args.file.display(),
        totals.accepted,
        totals.duplicates,
        totals.rejected.len()
    );
    for r in totals.rejected.iter().take(20) {
        println!("  {r}");
    }
    if totals.rejected.len() > 20 {
        println!("  … and {} more", totals.rejected.len() - 20);
    }
    if !totals.rejected.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

/// NDJSON lines, numbered as in the file, blank ones skipped.
fn ndjson_lines(reader: impl BufRead) -> impl Iterator<Item = anyhow::Result<(u64, String)>> {
    reader
        .lines()
        .enumerate()
        .filter(|(_, l)| l.as_ref().map_or(true, |l| !l.trim().is_empty()))
        .map(|(i, l)| Ok((i as u64 + 1, l?)))
}

/// CSV rows turned into step JSON, numbered by their line in the file.
fn csv_lines(reader: impl BufRead + 'static) -> anyhow::Result<impl Iterator<Item = anyhow::Result<(u64, String)>>> {
    let mut csv = csv::Reader::from_reader(reader);
    let header = csv.headers()?.clone();
    Ok(csv.into_records().map(move |r| {
        let r = r?;
        let line = r.position().map_or(0, |p| p.line());
        let step = flightlog_decode::csv_steps::row_to_json(&header, &r)
            .map_err(|e| anyhow::anyhow!("line {line}: column {e}"))?;
        Ok((line, serde_json::to_string(&step)?))
    }))
}

async fn send(client: &Client, batch: &mut Vec<(u64, String)>, totals: &mut Totals, bar: &ProgressBar) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let body = batch.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>().join("\n").into_bytes();
    let (status, answer) = client.post_steps(body).await?;
    if let Some(err) = answer.get("error") {
        anyhow::bail!("{status}: {}", err["message"].as_str().unwrap_or("request refused"));
    }
    totals.accepted += answer["accepted"].as_u64().unwrap_or(0);
    totals.duplicates += answer["duplicates"].as_u64().unwrap_or(0);
    for r in answer["rejected"].as_array().into_iter().flatten() {
        let line = r["index"].as_u64().and_then(|i| batch.get(i as usize)).map_or(0, |(line, _)| *line);
        totals.rejected.push(format!(
            "line {line}: {} {}",
            r["field"].as_str().unwrap_or(""),
            r["reason"].as_str().unwrap_or("")
        ));
    }
    bar.set_message(format!("{} stored", totals.accepted + totals.duplicates));
    batch.clear();
    Ok(())
}
