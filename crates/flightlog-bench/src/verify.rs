//! `flightlog-bench verify`: `flightlog verify --all` over a stopped
//! instance's data folder, filled through the real ingest path and sealed
//! by a checkpoint: steps per second and the verifier's peak RSS, for this
//! build and (`--compare-with`) another binary on the same data in the
//! same run. Then the evidence bundle of its big session, served by this
//! build with the stored Merkle nodes and again with them removed (the
//! proofs then come from every leaf, as before the nodes), and the
//! server's peak RSS each time.

use crate::ingest::{KEY, post, serve_command, step_line, wait_ready};
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Steps to store and verify (sessions of 100 steps).
    #[arg(long, default_value_t = 500_000)]
    steps: u64,
    /// Steps per POST.
    #[arg(long, default_value_t = 1_000)]
    batch_size: u64,
    /// Clients posting at once.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Another `flightlog` binary (e.g. built before a change) to verify
    /// the same data with, after this one.
    #[arg(long)]
    compare_with: Option<PathBuf>,
    /// Steps of the one big session (the first ones stored), whose
    /// evidence bundle is timed.
    #[arg(long, default_value_t = 10_000)]
    big_session_steps: u64,
    /// Bundles of it to fetch, each way (0: none). With `--data-dir`, only
    /// with the stored nodes: the other way removes them from the folder.
    #[arg(long, default_value_t = 5)]
    bundles: usize,
    /// Also read, through the bundles' server, everything issue 16 times:
    /// the whole log verified, session lists, costs and the big timeline,
    /// so its peak RSS covers them all.
    #[arg(long)]
    all_reads: bool,
    /// Rounds of decision pages to time (with the bundles' server, stored
    /// nodes; so not with `--bundles 0`): each stores one step in a session of its own, signs a
    /// checkpoint, then views a big-session step's page twice. The steps
    /// stay in the folder.
    #[arg(long, default_value_t = 20)]
    decision_pages: usize,
    /// Keep the filled folder here (filled on the first run, reused as it
    /// is by later ones) instead of a temporary one: for repeated runs and
    /// profiles of the same data.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

const BIG: &str = "v-big";
/// Written into a kept folder once its fill is complete.
const FILLED: &str = "bench-filled";

pub async fn run(args: VerifyArgs, flightlog: PathBuf) -> anyhow::Result<()> {
    anyhow::ensure!(Path::new(TIME).is_file(), "{TIME} (GNU time) measures the verifier's peak RSS; it is not installed");
    let temp = tempfile::tempdir()?;
    let dir = args.data_dir.as_deref().unwrap_or(temp.path());
    if let Ok(filled) = std::fs::read_to_string(dir.join(FILLED)) {
        anyhow::ensure!(filled == args.steps.to_string(), "{} holds {filled} steps, not {}: use another folder", dir.display(), args.steps);
        println!("reusing the steps stored in {}", dir.display());
    } else {
        std::fs::create_dir_all(dir)?;
        fill(&flightlog, dir, &args).await?;
        std::fs::write(dir.join(FILLED), args.steps.to_string())?;
    }
    println!("machine: {} cores", std::thread::available_parallelism().map_or(1, |n| n.get()));
    for bin in std::iter::once(&flightlog).chain(args.compare_with.as_ref()) {
        let (secs, rss_kib, report) = verify_all(bin, dir)?;
        println!(
            "verify --all ({}): {} steps in {secs:.2} s = {:.0} steps/s, status {}, peak RSS {} MiB",
            bin.display(),
            report["steps_checked"],
            report["steps_checked"].as_f64().unwrap_or(0.0) / secs,
            report["status"],
            rss_kib / 1024
        );
    }
    // Removing the nodes changes the folder: only a temporary one.
    let ways: &[bool] = if args.data_dir.is_some() { &[true] } else { &[true, false] };
    for &nodes in ways.iter().filter(|_| args.bundles > 0) {
        bundles(&flightlog, dir, nodes, &args).await?;
    }
    Ok(())
}

/// Times the big session's evidence bundle as served by `bin`, with the
/// stored Merkle nodes or after removing them.
async fn bundles(bin: &Path, dir: &Path, nodes: bool, args: &VerifyArgs) -> anyhow::Result<()> {
    let count = args.bundles;
    if !nodes {
        let out = std::process::Command::new(bin).args(["sql", "--data-dir"]).arg(dir).arg("TRUNCATE TABLE merkle_nodes").output()?;
        anyhow::ensure!(out.status.success(), "cannot remove the nodes: {}", String::from_utf8_lossy(&out.stderr));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut server = serve_command(bin, dir, port, "warn").spawn().context("cannot start the server")?;
    let pid = server.id().context("no pid")?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await?;
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..count {
        let started = Instant::now();
        let resp = http.get(format!("{base}/v1/sessions/{BIG}/evidence")).bearer_auth(KEY).send().await?;
        anyhow::ensure!(resp.status().is_success(), "bundle refused: {}", resp.status());
        bytes = resp.bytes().await?.len();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    if nodes && args.decision_pages > 0 {
        decision_pages(&base, &http, args.decision_pages, args.big_session_steps).await?;
    }
    if nodes && args.all_reads {
        all_reads(&base, &http).await?;
    }
    let peak = format!("{} kB", crate::ingest::peak_rss_kib(pid)?);
    server.kill().await?;
    let first = times[0];
    times.sort_by(f64::total_cmp);
    println!(
        "evidence bundle of {BIG} ({} KiB), proofs from {}: first {:.0} ms, median {:.0} ms, worst {:.0} ms over {count}; server peak RSS {peak}",
        bytes / 1024,
        if nodes { "the stored nodes" } else { "every leaf (nodes removed)" },
        first,
        times[times.len() / 2],
        times[times.len() - 1],
    );
    Ok(())
}

/// The reads of issue 16 through the same server, each once, for its peak
/// RSS through all of them: the whole log verified, session lists sorted
/// and filtered every way, costs by model × day and the top sessions, and
/// the big session's timeline page by page.
async fn all_reads(base: &str, http: &reqwest::Client) -> anyhow::Result<()> {
    let mut paths: Vec<String> = vec!["/v1/integrity/verify".into()];
    for query in [
        "",
        "sort=cost",
        "sort=steps",
        "order=asc",
        "status=failed",
        "min_cost=0.25",
        "flagged=true",
        "agent=loan-assistant",
        "user=customer-7",
        "model=gpt-4o",
        "from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
    ] {
        paths.push(format!("/v1/sessions?limit=50&{query}"));
    }
    paths.push("/v1/costs?group_by=model,day&limit=10000".into());
    paths.push("/v1/costs?group_by=session&limit=100".into());
    paths.push(format!("/v1/sessions/{BIG}/verify"));
    let mut after = String::new();
    for path in paths {
        let started = Instant::now();
        let resp = http.get(format!("{base}{path}")).bearer_auth(KEY).send().await?;
        let status = resp.status();
        let bytes = resp.bytes().await?.len();
        anyhow::ensure!(status.is_success(), "{path}: {status}");
        println!("  {path}: {:.0} ms, {} KiB", started.elapsed().as_secs_f64() * 1000.0, bytes / 1024);
    }
    let started = Instant::now();
    let mut pages = 0;
    loop {
        let resp = http.get(format!("{base}/v1/sessions/{BIG}/steps?limit=1000{after}")).bearer_auth(KEY).send().await?;
        anyhow::ensure!(resp.status().is_success(), "timeline: {}", resp.status());
        let page: serde_json::Value = resp.json().await?;
        pages += 1;
        match page["next_after"].as_u64() {
            Some(n) => after = format!("&after={n}"),
            None => break,
        }
    }
    println!("  the big session's timeline, {pages} pages of 1,000: {:.0} ms", started.elapsed().as_secs_f64() * 1000.0);
    Ok(())
}

/// Times the decision page of big-session steps as a signed-in reader
/// sees it, the first view after a new checkpoint and a second view, over
/// `rounds` checkpoints.
async fn decision_pages(base: &str, http: &reqwest::Client, rounds: usize, big: u64) -> anyhow::Result<()> {
    let cookie = crate::ingest::web_session(base).await?;
    // A page answered by a redirect to the sign-in form is an error here.
    let pages = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    // A session of this run's own, so that each step is new to the log.
    let session = format!("v-pages-{}", flightlog_model::time::now_us());
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for round in 0..rounds as u64 {
        post(http, &format!("{base}/v1/steps"), step_line(&session, round).into_bytes()).await?;
        let sealed = http.post(format!("{base}/v1/integrity/checkpoints")).bearer_auth(KEY).send().await?;
        anyhow::ensure!(sealed.status().is_success(), "checkpoint refused: {}", sealed.status());
        for (times, k) in [(&mut first, round * 7_919 % big), (&mut second, (round * 7_919 + 4_000) % big)] {
            let started = Instant::now();
            let resp = pages.get(format!("{base}/sessions/{BIG}/steps/{k}")).header("cookie", &cookie).send().await?;
            let status = resp.status();
            let html = resp.text().await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(status.is_success(), "decision page of step {k}: {status}");
            anyhow::ensure!(html.contains("badge ok\">verified"), "decision page of step {k} does not say verified");
        }
    }
    for (name, times) in [("first view after a checkpoint", first), ("second view", second)] {
        let (p50, p99, worst) = crate::guard::percentiles(times);
        println!("decision page of a {BIG} step, {name}: p50 {p50:.1} ms, p99 {p99:.1} ms, worst {worst:.1} ms over {rounds}");
    }
    Ok(())
}

const TIME: &str = "/usr/bin/time";

/// Stores `args.steps` steps through a real server, seals them, stops it.
async fn fill(flightlog: &Path, dir: &Path, args: &VerifyArgs) -> anyhow::Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut server = serve_command(flightlog, dir, port, "warn").env("FLIGHTLOG_BOOTSTRAP_KEY", KEY).spawn().context("cannot start the server")?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await?;
    let started = Instant::now();
    let batches = args.steps.div_ceil(args.batch_size);
    let mut tasks = Vec::new();
    for c in 0..args.clients as u64 {
        let (http, url, args_steps, size, clients) = (http.clone(), format!("{base}/v1/steps"), args.steps, args.batch_size, args.clients as u64);
        let big = args.big_session_steps;
        tasks.push(tokio::spawn(async move {
            for b in (c..batches).step_by(clients as usize) {
                let lines: Vec<String> =
                    (b * size..((b + 1) * size).min(args_steps)).map(|n| big_or_small(n, big)).collect();
                post(&http, &url, lines.join("\n").into_bytes()).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    println!("stored {} steps in {:.1} s", args.steps, started.elapsed().as_secs_f64());
    let sealed = http.post(format!("{base}/v1/integrity/checkpoints")).bearer_auth(KEY).send().await?;
    if !sealed.status().is_success() {
        bail!("checkpoint refused: {}", sealed.status());
    }
    server.kill().await?;
    Ok(())
}

/// Step `n` of the fill: the big session's first, then sessions of 100.
fn big_or_small(n: u64, big: u64) -> String {
    if n < big { step_line(BIG, n) } else { step_line(&format!("v-s{}", n / 100), n % 100) }
}

/// Runs `bin verify --all` on the folder: seconds, peak RSS (KiB), report.
fn verify_all(bin: &Path, dir: &Path) -> anyhow::Result<(f64, u64, serde_json::Value)> {
    let started = Instant::now();
    let out = std::process::Command::new(TIME)
        .args(["-f", "peak-rss-kib %M"])
        .arg(bin)
        .args(["verify", "--all", "--data-dir"])
        .arg(dir)
        .env("FLIGHTLOG_LOG", "warn")
        .output()
        .context("cannot run flightlog verify")?;
    let secs = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rss = stderr.lines().find_map(|l| l.strip_prefix("peak-rss-kib ")).and_then(|v| v.trim().parse().ok()).context("no peak RSS")?;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).with_context(|| format!("not a report: {stderr}"))?;
    Ok((secs, rss, report))
}
