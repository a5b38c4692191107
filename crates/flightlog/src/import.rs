//! `flightlog import FILE`: sends steps from NDJSON or CSV to a server in
//! batches, with a progress bar. Re-running is safe: steps already stored
//! come back as duplicates, not copies.
//!
//! A bad record is reported by its line and the rest of the file is still
//! sent, whatever is wrong with it: not JSON or not UTF-8 (the server names
//! it, as it would in a request), a CSV cell that does not parse, a line
//! larger than a request may be. Only the server going away stops an
//! import, and the summary then says how far it got.

use crate::client::{Client, ServerArgs};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::StatusCode;
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

/// The most bytes of records sent in one request: half the server's
/// default body limit (32 MiB). A batch the server still finds too large is
/// halved until it is taken, down to one record.
const BATCH_BYTES: usize = 16 << 20;

/// One record of the file: its line, and the step to send, or why it
/// cannot be sent.
type Record = (u64, Result<Vec<u8>, String>);

#[derive(Default)]
struct Totals {
    accepted: u64,
    duplicates: u64,
    /// Each refusal by the file's line: found here or by the server, whose
    /// are known only once their batch is sent, so they are listed sorted.
    rejected: Vec<(u64, String)>,
}

impl Totals {
    fn print(&self, file: &std::path::Path) -> std::io::Result<()> {
        crate::stdout::line(format_args!("{}: {} accepted, {} already stored, {} rejected", file.display(), self.accepted, self.duplicates, self.rejected.len()))?;
        let mut rejected: Vec<&(u64, String)> = self.rejected.iter().collect();
        rejected.sort_by_key(|(line, _)| *line);
        for (line, why) in rejected.into_iter().take(20) {
            crate::stdout::line(format_args!("  line {line}: {why}"))?;
        }
        if self.rejected.len() > 20 {
            crate::stdout::line(format_args!("  … and {} more", self.rejected.len() - 20))?;
        }
        Ok(())
    }
}

pub async fn run(args: ImportArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.server)?;
    let size = std::fs::metadata(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?.len();
    let bar = ProgressBar::new(size).with_style(
        ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec} eta {eta} {msg}")?
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
    let records: Box<dyn Iterator<Item = anyhow::Result<Record>>> =
        if csv { Box::new(csv_records(reader)?) } else { Box::new(ndjson_records(reader)) };

    let mut totals = Totals::default();
    let stopped = send_all(&client, records, args.batch.max(1), &mut totals, &bar).await;
    bar.finish_and_clear();
    totals.print(&args.file)?;
    if let Err(e) = stopped {
        anyhow::bail!("the import stopped: {e:#}. What is listed above was sent; running it again sends the rest (stored steps come back as duplicates)");
    }
    if !totals.rejected.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

async fn send_all(
    client: &Client,
    records: impl Iterator<Item = anyhow::Result<Record>>,
    batch_len: usize,
    totals: &mut Totals,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    let (mut batch, mut bytes): (Vec<(u64, Vec<u8>)>, usize) = (Vec::with_capacity(batch_len), 0);
    for record in records {
        let (line, step) = record?;
        let step = match step {
            Ok(step) => step,
            Err(why) => {
                totals.rejected.push((line, why));
                continue;
            }
        };
        if !batch.is_empty() && bytes + step.len() + 1 > BATCH_BYTES {
            send(client, &batch, totals).await?;
            (bytes, batch) = (0, Vec::with_capacity(batch_len));
        }
        bytes += step.len() + 1;
        batch.push((line, step));
        if batch.len() == batch_len {
            send(client, &batch, totals).await?;
            (bytes, batch) = (0, Vec::with_capacity(batch_len));
        }
        bar.set_message(format!("{} stored", totals.accepted + totals.duplicates));
    }
    send(client, &batch, totals).await
}

/// NDJSON records, numbered by their line in the file, blank lines skipped.
/// A line is sent as its bytes: one that is not UTF-8 or not JSON is
/// refused by the server, by itself. A byte-order mark before the first
/// line is no part of it.
fn ndjson_records(mut reader: impl BufRead) -> impl Iterator<Item = anyhow::Result<Record>> {
    let mut line_no = 0u64;
    std::iter::from_fn(move || {
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => return None,
                Err(e) => return Some(Err(anyhow::Error::new(e).context(format!("cannot read line {}", line_no + 1)))),
                Ok(_) => {}
            }
            line_no += 1;
            if line_no == 1 && line.starts_with(b"\xEF\xBB\xBF") {
                line.drain(..3);
            }
            while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                line.pop();
            }
            // A step is one JSON object. Anything else is refused here: a
            // line that opens a batch with `[` made the server read the
            // whole request as one JSON array and refuse all of it.
            match line.iter().find(|b| !b.is_ascii_whitespace()) {
                None => {}
                Some(b'{') => return Some(Ok((line_no, Ok(line)))),
                Some(_) => return Some(Ok((line_no, Err("(record) is not a JSON object: each line must be one step".to_string())))),
            }
        }
    })
}

/// CSV rows turned into step JSON, numbered by their line in the file. A
/// row that cannot be read (a cell that does not parse, a ragged row, text
/// that is not UTF-8) is reported by its line, and the next is read.
fn csv_records(reader: impl BufRead + 'static) -> anyhow::Result<impl Iterator<Item = anyhow::Result<Record>>> {
    let mut csv = csv::Reader::from_reader(reader);
    let header = csv.headers()?.clone();
    Ok(csv.into_records().map(move |r| {
        let r = match r {
            Ok(r) => r,
            // An error of the file itself (it cannot be read) ends the import.
            Err(e) if e.is_io_error() => return Err(e.into()),
            Err(e) => return Ok((e.position().map_or(0, |p| p.line()), Err(e.to_string()))),
        };
        let line = r.position().map_or(0, |p| p.line());
        let step = flightlog_decode::csv_steps::row_to_json(&header, &r).map_err(|e| format!("column {e}"));
        Ok((line, step.map(|s| serde_json::to_vec(&s).expect("JSON values serialise"))))
    }))
}

/// Sends a batch; one the server finds too large is sent again in halves,
/// and a single record too large for any request is reported by its line.
async fn send(client: &Client, batch: &[(u64, Vec<u8>)], totals: &mut Totals) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let body = batch.iter().map(|(_, l)| l.as_slice()).collect::<Vec<_>>().join(&b'\n');
    let (status, answer) = client.post_steps(body).await?;
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        if let [(line, _)] = batch {
            let why = answer["error"]["message"].as_str().unwrap_or("larger than a request may be");
            totals.rejected.push((*line, format!("the record is too large to send: {why}")));
            return Ok(());
        }
        let (first, second) = batch.split_at(batch.len() / 2);
        Box::pin(send(client, first, totals)).await?;
        return Box::pin(send(client, second, totals)).await;
    }
    if let Some(err) = answer.get("error") {
        let first = batch[0].0;
        anyhow::bail!("{status} for the lines from {first}: {}", err["message"].as_str().unwrap_or("request refused"));
    }
    totals.accepted += answer["accepted"].as_u64().unwrap_or(0);
    totals.duplicates += answer["duplicates"].as_u64().unwrap_or(0);
    for r in answer["rejected"].as_array().into_iter().flatten() {
        let index = r["index"].as_u64().unwrap_or(u64::MAX);
        let line = batch.get(index as usize).map_or(0, |(line, _)| *line);
        // The server numbers a line that is not JSON by its place in the
        // request (`line 3 is not valid JSON`): the file's line says it.
        let reason = r["reason"].as_str().unwrap_or("");
        let reason = reason.strip_prefix(&format!("line {} ", index.saturating_add(1))).unwrap_or(reason);
        totals.rejected.push((line, format!("{} {reason}", r["field"].as_str().unwrap_or(""))));
    }
    Ok(())
}
