//! `flightlog-bench search`: the similar-failure figures.
//! - embedding throughput in key decisions/s, for 1 and 2 onnxruntime
//!   threads, on realistic decision texts;
//! - search p50/p99 with and without filters at 100k and 1M points in an
//!   embedded qdrant-edge index (synthetic clustered 384-d vectors: embedding
//!   a million texts here would take hours), with upsert and index-build
//!   times and this process's peak RSS;
//! - the indexer's lag behind a sustained ingest into a real server.

use crate::ingest::{KEY, ms, peak_rss_kib, post, step_line, wait_ready};
use anyhow::Context;
use flightlog_embed::Reader;
use flightlog_app::seed::Rng;
use flightlog_index::edge::EdgeIndex;
use flightlog_index::{Payload, Point, SearchFilter, VectorIndex, point_id};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct SearchArgs {
    /// Decision texts embedded per thread setting.
    #[arg(long, default_value_t = 600)]
    texts: usize,
    /// Index sizes to measure search at (0: skip).
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
    points: Vec<usize>,
    /// Searches timed per index size and filter.
    #[arg(long, default_value_t = 1000)]
    searches: usize,
    /// Steps per second sent during the lag measurement (all key decisions).
    #[arg(long, default_value_t = 100)]
    rate: usize,
    /// Seconds of sustained ingest during the lag measurement (0: skip).
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Folder of the ONNX sentence model (model.onnx, tokenizer.json, ...).
    /// Default: where `make setup` puts all-MiniLM-L6-v2.
    #[arg(long, env = "FLIGHTLOG_MODEL_DIR")]
    model_dir: Option<PathBuf>,
    /// Path of libonnxruntime.so. Default: where `make setup` puts it.
    #[arg(long, env = "FLIGHTLOG_ORT_LIB")]
    ort_lib: Option<PathBuf>,
}

pub async fn run(args: SearchArgs, flightlog: Option<PathBuf>) -> anyhow::Result<()> {
    println!("flightlog-bench search: {} cores", std::thread::available_parallelism().map_or(1, |n| n.get()));
    embedding(&args)?;
    for &n in args.points.iter().filter(|n| **n > 0) {
        search_at(n, args.searches).await?;
    }
    if args.seconds > 0 {
        lag(&args, crate::flightlog_bin(flightlog)?).await?;
    }
    Ok(())
}

/// Decision texts as the indexer builds them, varied like real ones.
fn decision_texts(n: usize) -> Vec<String> {
    const REASONS: [&str; 6] = [
        "The customer asked for a refund of order {i}; policy allows it within 30 days.",
        "Fetch the quarterly report {i} before scoring the loan application.",
        "Notify the client by email that shipment {i} is delayed.",
        "Run the test suite of service {i} before deploying.",
        "Look up invoice {i} in the billing system to answer the question.",
        "The data pipeline for table {i} needs a backfill after the outage.",
    ];
    const ERRORS: [&str; 4] =
        ["HTTP 429 Too Many Requests", "timeout after 30s waiting for upstream", "duplicate email to the same recipient", ""];
    (0..n)
        .map(|i| {
            let d = flightlog_model::decision::Decision {
                reasoning: REASONS[i % REASONS.len()].replace("{i}", &i.to_string()),
                chosen_tool: ["issue_refund", "fetch_report", "send_email", "run_tests"][i % 4].into(),
                tool_params: format!(r#"{{"id": {i}, "region": "eu-west-1", "currency": "EUR"}}"#),
                tool_error: ERRORS[i % ERRORS.len()].into(),
                failed: !ERRORS[i % ERRORS.len()].is_empty(),
                ..Default::default()
            };
            d.text()
        })
        .collect()
}

fn embedding(args: &SearchArgs) -> anyhow::Result<()> {
    let texts = decision_texts(args.texts);
    let words: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
    println!("embedding: {} decision texts, {:.0} words each on average", texts.len(), words as f64 / texts.len() as f64);
    let runtime = args.ort_lib.clone().unwrap_or_else(flightlog_embed::default_runtime_path);
    let model = args.model_dir.clone().unwrap_or_else(flightlog_embed::default_model_dir);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    // Every text read once by `reader`, timed, and the rate printed.
    let time = |e: &mut flightlog_embed::Embedder, reader, label: String| -> anyhow::Result<()> {
        let started = Instant::now();
        let vectors = e.embed_with(reader, &refs)?;
        let secs = started.elapsed().as_secs_f64();
        anyhow::ensure!(vectors.len() == texts.len());
        println!("embedding, {label}: {:.0} texts/s ({:.3} ms each)", texts.len() as f64 / secs, 1000.0 * secs / texts.len() as f64);
        Ok(())
    };
    for threads in [1usize, 2] {
        let mut e = flightlog_embed::Embedder::load(&runtime, &model, threads)?;
        if threads == 1 {
            // The table is one thread whatever onnxruntime is given.
            time(&mut e, Reader::Words, "word table (whole texts as indexed)".into())?;
        }
        time(&mut e, Reader::Sentence, format!("sentence model, {threads} onnxruntime thread(s)"))?;
    }
    Ok(())
}

const DIM: usize = 384;
const CLUSTERS: usize = 500;
const AGENTS: [&str; 5] = ["loan-assistant", "support-bot", "deploy-agent", "research-agent", "data-pipeline"];

fn normalise(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// A point near one of the cluster centres, like decisions of one kind.
fn near(rng: &mut Rng, centre: &[f32]) -> Vec<f32> {
    normalise(centre.iter().map(|c| c + 0.35 * rng.unit() / (DIM as f32).sqrt() * 4.0).collect())
}

fn quantiles(mut d: Vec<Duration>) -> (f64, f64) {
    d.sort();
    (ms(d[d.len() / 2]), ms(d[(d.len() * 99 / 100).min(d.len() - 1)]))
}

async fn search_at(n: usize, searches: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let index = EdgeIndex::open(&dir.path().join("edge"))?;
    index.prepare(DIM).await?;
    let mut rng = Rng(n as u64);
    let centres: Vec<Vec<f32>> = (0..CLUSTERS).map(|_| normalise((0..DIM).map(|_| rng.unit()).collect())).collect();
    let started = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(2_000) {
        let points = chunk
            .iter()
            .map(|&i| {
                let session = format!("s{}", i / 20);
                Point {
                    id: point_id("bench", &session, i as u64),
                    vector: near(&mut rng, &centres[i % CLUSTERS]),
                    payload: Payload {
                        project: if i % 10 == 9 { "other".into() } else { "bench".into() },
                        step: i as u64,
                        ts_us: 1_767_225_600_000_000 + i as i64 * 1_000_000,
                        agent: AGENTS[i % AGENTS.len()].into(),
                        tool: format!("tool_{}", i % 20),
                        status: if i % 3 == 0 { "error".into() } else { "ok".into() },
                        model: "gpt-4o".into(),
                        failed: i % 3 == 0,
                        snippet: format!("decision {i}"),
                        session_id: session,
                    },
                }
            })
            .collect();
        index.upsert(points).await?;
    }
    let upsert = started.elapsed().as_secs_f64();
    let started = Instant::now();
    index.maintain().await?;
    let build = started.elapsed().as_secs_f64();
    println!(
        "index of {n} points: upsert {:.0} points/s ({upsert:.1} s, each batch of 2,000 flushed), HNSW build {build:.1} s",
        n as f64 / upsert
    );
    let base = SearchFilter { project: "bench".into(), ..Default::default() };
    let filtered = SearchFilter { failed_only: true, agent: Some("support-bot".into()), ..base.clone() };
    for (name, filter) in [("project only", base), ("project + failures + agent", filtered)] {
        let mut times = Vec::with_capacity(searches);
        for q in 0..searches {
            let v = near(&mut rng, &centres[q % CLUSTERS]);
            let started = Instant::now();
            let hits = index.search(v, &filter, 10).await?;
            times.push(started.elapsed());
            anyhow::ensure!(hits.len() == 10, "a search found {} points", hits.len());
        }
        let (p50, p99) = quantiles(times);
        println!("search top-10 at {n} points, {name}: p50 {p50:.2} ms, p99 {p99:.2} ms");
    }
    let own = peak_rss_kib(std::process::id())?;
    println!("peak RSS of this process so far (VmHWM): {} MiB", own / 1024);
    Ok(())
}

/// The indexer behind a real server while steps arrive at a steady rate.
async fn lag(args: &SearchArgs, flightlog: PathBuf) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut server = tokio::process::Command::new(flightlog)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.path())
        .env("FLIGHTLOG_BOOTSTRAP_KEY", KEY)
        .env("FLIGHTLOG_NO_SEARCH", "false")
        .env("FLIGHTLOG_NO_OTLP_GRPC", "true")
        .env("FLIGHTLOG_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the server")?;
    let pid = server.id().context("server pid")?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await?;
    let health = || async {
        let h: serde_json::Value = http.get(format!("{base}/healthz")).send().await?.json().await?;
        anyhow::Ok(h["search"].clone())
    };
    anyhow::ensure!(health().await?["available"] == true, "search is off in the server: {}", health().await?);
    println!("indexer lag: {} steps/s for {} s, every step a key decision with its own text", args.rate, args.seconds);
    let started = Instant::now();
    let (mut max_steps, mut max_secs, mut sent) = (0u64, 0f64, 0u64);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while started.elapsed() < Duration::from_secs(args.seconds) {
        tick.tick().await;
        let due = (started.elapsed().as_secs_f64() * args.rate as f64) as u64;
        if due > sent {
            let body = (sent..due).map(|n| step_line(&format!("lag-s{}", n / 100), n % 100)).collect::<Vec<_>>().join("\n");
            post(&http, &format!("{base}/v1/steps"), body.into_bytes()).await?;
            sent = due;
        }
        if started.elapsed().as_millis() % 1000 < 100 {
            let s = health().await?;
            max_steps = max_steps.max(s["indexer"]["steps_behind"].as_u64().unwrap_or(0));
            max_secs = max_secs.max(s["indexer"]["seconds_behind"].as_f64().unwrap_or(0.0));
        }
    }
    let stop = Instant::now();
    loop {
        let s = health().await?;
        if s["points"].as_u64() == Some(sent) {
            break;
        }
        anyhow::ensure!(stop.elapsed() < Duration::from_secs(600), "the indexer did not catch up in 10 minutes: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "indexer lag: {sent} key decisions sent; worst lag {max_steps} steps / {max_secs:.1} s; all indexed {:.1} s after the last",
        stop.elapsed().as_secs_f64()
    );
    println!("server peak RSS with search on (VmHWM): {} MiB", peak_rss_kib(pid)? / 1024);
    server.kill().await.ok();
    Ok(())
}
