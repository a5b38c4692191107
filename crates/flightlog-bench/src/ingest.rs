//! `flightlog-bench ingest`: starts a real server on a fresh data folder and
//! measures what the spine promises, printing the figures:
//! - durable ingest throughput (each 200 means fsynced) for ~1 KB steps in
//!   batches of 1,000, with 1 and 8 concurrent clients;
//! - p50/p99 latency of `GET /v1/sessions/{id}/steps` on a 10k-step session;
//! - `verify --all` speed, and the export and offline check of the 10k-step
//!   session's evidence bundle;
//! - the server's peak RSS (VmHWM).

use anyhow::{Context, bail};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct IngestArgs {
    /// Batches per ingest run (each run sends batches × batch-size steps).
    #[arg(long, default_value_t = 120)]
    batches: usize,
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Steps in the session whose timeline is read.
    #[arg(long, default_value_t = 10_000)]
    session_steps: u64,
    /// Timeline page requests to time.
    #[arg(long, default_value_t = 400)]
    timeline_requests: usize,
    /// Requests per web page timed.
    #[arg(long, default_value_t = 50)]
    page_requests: usize,
    #[arg(long, env = "FLIGHTLOG_CHDB_LIB")]
    chdb_lib: Option<PathBuf>,
    /// Server mode: store in a ClickHouse server over HTTP, here the
    /// `flightlog-chdb-http` fixture next to the flightlog binary (the same
    /// engine as embedded, so the difference is the HTTP path).
    #[arg(long)]
    server_mode: bool,
    /// Server mode against this ClickHouse server instead of the fixture.
    #[arg(long, env = "FLIGHTLOG_CLICKHOUSE_URL")]
    clickhouse_url: Option<String>,
    /// Server mode: start a second Flightlog process on the same store and
    /// send the ingest to it, a standby that forwards to the writer (the
    /// price of sending steps to any replica).
    #[arg(long, requires = "server_mode")]
    through_standby: bool,
    /// Measure the ingest runs only (for quick before/after comparisons
    /// of two binaries, run after run on a noisy machine).
    #[arg(long)]
    ingest_only: bool,
}

pub(crate) const KEY: &str = "bench-admin-key";

/// Starts the ClickHouse HTTP fixture beside the flightlog binary on `dir`;
/// returns it and its URL.
async fn start_fixture(flightlog: &std::path::Path, dir: &std::path::Path) -> anyhow::Result<(tokio::process::Child, String)> {
    use tokio::io::AsyncBufReadExt;
    let bin = flightlog.with_file_name("flightlog-chdb-http");
    let mut child = tokio::process::Command::new(&bin)
        .arg("--data-dir")
        .arg(dir)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().context("fixture stdout")?).lines();
    let line = lines.next_line().await?.context("the fixture exited before listening")?;
    let addr = line.strip_prefix("listening on ").with_context(|| format!("unexpected fixture output {line:?}"))?;
    // Keep reading (and dropping) its output so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, format!("http://{addr}")))
}

/// `flightlog serve` on 127.0.0.1:`port` with its data in `dir`, as the
/// benchmarks start it: no search, no OTLP/gRPC, logs at `log`, stdout
/// dropped, killed with its handle.
pub(crate) fn serve_command(flightlog: &std::path::Path, dir: &std::path::Path, port: u16, log: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(flightlog);
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir)
        .env("FLIGHTLOG_NO_SEARCH", "true")
        .env("FLIGHTLOG_NO_OTLP_GRPC", "true")
        .env("FLIGHTLOG_LOG", log)
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true);
    command
}

/// A second `flightlog serve` on the same ClickHouse server; returns it and
/// its URL once it knows the first one holds the writer lease.
async fn start_standby(flightlog: &std::path::Path, dir: &std::path::Path, clickhouse_url: &str) -> anyhow::Result<(tokio::process::Child, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = serve_command(flightlog, dir, port, "warn")
        .args(["--clickhouse-url", clickhouse_url])
        .spawn()
        .context("cannot start the standby")?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await?;
    let health: serde_json::Value = http.get(format!("{base}/healthz")).send().await?.json().await?;
    if health["ingest"]["lease"]["role"] != "standby" {
        bail!("the second process is not a standby: {}", health["ingest"]["lease"]);
    }
    Ok((child, base))
}

pub async fn run(args: IngestArgs, flightlog: PathBuf) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut cmd = tokio::process::Command::new(&flightlog);
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.path())
        .env("FLIGHTLOG_BOOTSTRAP_KEY", KEY)
        // Every bench step is a key decision; embedding them would compete
        // for the same two cores. `flightlog-bench search` measures the indexer.
        .env("FLIGHTLOG_NO_SEARCH", "true")
        .env("FLIGHTLOG_NO_OTLP_GRPC", "true")
        // FLIGHTLOG_BENCH_LOG=flightlog_ingest=debug shows each group commit.
        .env("FLIGHTLOG_LOG", std::env::var("FLIGHTLOG_BENCH_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(lib) = &args.chdb_lib {
        cmd.arg("--chdb-lib").arg(lib);
    }
    // Kept alive for the run (killed on drop).
    let mut _clickhouse = None;
    let clickhouse_url = match (&args.clickhouse_url, args.server_mode) {
        (Some(url), _) => Some(url.clone()),
        (None, true) => {
            let (child, url) = start_fixture(&flightlog, &dir.path().join("clickhouse-server")).await?;
            _clickhouse = Some(child);
            Some(url)
        }
        (None, false) => None,
    };
    if let Some(url) = &clickhouse_url {
        cmd.args(["--clickhouse-url", url]);
    }
    let mut server = cmd.spawn().context("cannot start the server")?;
    let pid = server.id().context("server pid")?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await?;
    let standby_dir = tempfile::tempdir()?;
    let mut _standby = None;
    let ingest_base = match (&clickhouse_url, args.through_standby) {
        (Some(url), true) => {
            let (child, standby) = start_standby(&flightlog, standby_dir.path(), url).await?;
            _standby = Some(child);
            println!("ingest goes through a standby at {standby}, which forwards it to the writer at {base}");
            standby
        }
        _ => base.clone(),
    };
    println!("flightlog-bench ingest: server pid {pid}, data in {}", dir.path().display());
    match &clickhouse_url {
        Some(url) => println!("store: ClickHouse server at {url} (server mode)"),
        None => println!("store: embedded chDB"),
    }
    println!("machine: {} cores", std::thread::available_parallelism().map_or(1, |n| n.get()));

    for clients in [1usize, 8] {
        let bodies = ingest_bodies(&format!("c{clients}"), args.batches, args.batch_size);
        let bytes: usize = bodies.iter().map(Vec::len).sum();
        let started = Instant::now();
        post_concurrently(&http, &format!("{ingest_base}/v1/steps"), bodies, clients, Payload::Steps).await?;
        let secs = started.elapsed().as_secs_f64();
        let steps = args.batches * args.batch_size;
        println!(
            "ingest, {clients} client(s): {steps} steps ({:.0} B/step) in {secs:.2} s = {:.0} steps/s durable",
            bytes as f64 / steps as f64,
            steps as f64 / secs
        );
    }

    if args.ingest_only {
        println!("server peak RSS after ingest (VmHWM): {} MiB", peak_rss_kib(pid)? / 1024);
        return Ok(());
    }
    let session = "bench-timeline";
    for body in timeline_bodies(session, args.session_steps) {
        post(&http, &format!("{base}/v1/steps"), body).await?;
    }
    let mut latencies = Vec::with_capacity(args.timeline_requests);
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..args.timeline_requests {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let after = seed % args.session_steps.saturating_sub(100).max(1);
        let url = format!("{base}/v1/sessions/{session}/steps?after={after}&limit=100");
        let started = Instant::now();
        let resp = http.get(&url).bearer_auth(KEY).send().await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        latencies.push(started.elapsed());
        if !status.is_success() {
            bail!("timeline read failed: {status}");
        }
        drop(body);
    }
    let walk = Instant::now();
    let mut after: Option<u64> = None;
    let mut seen = 0;
    loop {
        let q = after.map_or(String::new(), |a| format!("&after={a}"));
        let page: serde_json::Value =
            http.get(format!("{base}/v1/sessions/{session}/steps?limit=1000{q}")).bearer_auth(KEY).send().await?.json().await?;
        seen += page["steps"].as_array().map_or(0, Vec::len);
        match page["next_after"].as_u64() {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "timeline of a {}-step session, pages of 100 at random offsets ({} requests): p50 {:.1} ms, p99 {:.1} ms",
        args.session_steps,
        latencies.len(),
        ms(pct(0.50)),
        ms(pct(0.99))
    );
    println!("timeline, whole session in pages of 1000: {seen} steps in {:.0} ms", ms(walk.elapsed()));
    println!("server peak RSS after ingest and timeline reads (VmHWM): {} MiB", peak_rss_kib(pid)? / 1024);

    // Seal everything, so that pages and bundles prove against a checkpoint.
    let sealed = http.post(format!("{base}/v1/integrity/checkpoints")).bearer_auth(KEY).send().await?;
    if !sealed.status().is_success() {
        bail!("checkpoint refused: {}", sealed.status());
    }

    // Web pages, as a signed-in reader sees them (server time + loopback).
    let cookie = web_session(&base).await?;
    // A step in the middle of the long session (the default is 5,000 of 10,000).
    let middle = args.session_steps / 2;
    // Redirects are not followed: a page answered by a redirect to the
    // sign-in form is an error here, not a fast page.
    let pages = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    // The session page of the long session draws its waterfall in time
    // slices; the first slice's link zooms into a range drawn step by step.
    let whole = pages.get(format!("{base}/sessions/{session}")).header("cookie", &cookie).send().await?.text().await?;
    let zoom = whole
        .split("href=\"")
        .skip(1)
        .filter_map(|h| h.split('"').next())
        .find(|h| h.contains("?from="))
        .map(|h| h.replace("&amp;", "&"))
        .context("the long session's waterfall has no time slice to zoom into")?;
    for (name, path) in [
        ("sessions list page".to_string(), "/sessions".to_string()),
        (format!("session page (waterfall in slices + 100 steps) of the {}-step session", args.session_steps), format!("/sessions/{session}?after={middle}")),
        (format!("session page zoomed into one slice of the {}-step session", args.session_steps), zoom),
        (format!("decision page of a step in the {}-step session", args.session_steps), format!("/sessions/{session}/steps/{middle}")),
    ] {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..args.page_requests {
            let started = Instant::now();
            let resp = pages.get(format!("{base}{path}")).header("cookie", &cookie).send().await?;
            let status = resp.status();
            size = resp.bytes().await?.len();
            times.push(started.elapsed());
            if !status.is_success() {
                bail!("{name}: {status}");
            }
        }
        times.sort();
        let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
        println!("{name}: p50 {:.1} ms, p99 {:.1} ms ({} requests), {:.0} KiB", ms(pct(0.5)), ms(pct(0.99)), times.len(), size as f64 / 1024.0);
    }

    // Integrity: verify it all, export and check a bundle.
    let started = Instant::now();
    let report: serde_json::Value = http.get(format!("{base}/v1/integrity/verify")).bearer_auth(KEY).send().await?.json().await?;
    let secs = started.elapsed().as_secs_f64();
    let checked = report["steps_checked"].as_u64().unwrap_or(0);
    if report["status"] != flightlog_integrity::verify::ReportStatus::Verified.as_str() {
        bail!("verify --all did not verify: {report}");
    }
    println!("verify --all: {checked} steps in {secs:.2} s = {:.0} steps/s", checked as f64 / secs);
    let started = Instant::now();
    let bundle = http.get(format!("{base}/v1/sessions/{session}/evidence")).bearer_auth(KEY).send().await?.bytes().await?;
    let export_ms = ms(started.elapsed());
    let started = Instant::now();
    let checked = flightlog_integrity::bundle::verify_bundle(&bundle, None);
    if !checked.verified {
        bail!("the bundle did not verify: {:?}", checked.problems);
    }
    println!(
        "evidence bundle of the {}-step session: exported in {export_ms:.0} ms ({:.1} MiB), checked offline in {:.0} ms",
        args.session_steps,
        bundle.len() as f64 / (1 << 20) as f64,
        ms(started.elapsed())
    );
    println!("server peak RSS after verify --all and the bundle (VmHWM): {} MiB", peak_rss_kib(pid)? / 1024);

    server.start_kill()?;
    server.wait().await?;
    Ok(())
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Signs in to the web UI as a browser does (the form's CSRF token and
/// pre-session cookie, then the key from this site's origin) and returns
/// the `flightlog_session=…` cookie pair.
pub(crate) async fn web_session(base: &str) -> anyhow::Result<String> {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let cookie = |headers: &reqwest::header::HeaderMap, name: &str| {
        headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next())
            .find(|pair| pair.split_once('=').is_some_and(|(n, v)| n == name && !v.is_empty()))
            .map(str::to_string)
    };
    let form = client.get(format!("{base}/login")).send().await?;
    let pre_session = cookie(form.headers(), "flightlog_signin").context("the sign-in form set no cookie")?;
    let html = form.text().await?;
    let marker = "name=\"csrf\" value=\"";
    let token = html.split_once(marker).and_then(|(_, rest)| rest.split('"').next()).context("the sign-in form has no CSRF token")?;
    let answer = client
        .post(format!("{base}/login"))
        .header("cookie", pre_session)
        .header("origin", base)
        .form(&[("key", KEY), ("csrf", token)])
        .send()
        .await?;
    cookie(answer.headers(), "flightlog_session").with_context(|| format!("sign-in refused: {}", answer.status()))
}

pub(crate) async fn wait_ready(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the server did not become ready in 30 s")
}

pub(crate) async fn post(http: &reqwest::Client, url: &str, body: Vec<u8>) -> anyhow::Result<()> {
    post_as(http, url, body, Payload::Steps).await
}

/// What a body holds, and so how it is sent and how its answer says that
/// all of it was stored.
#[derive(Clone, Copy)]
pub(crate) enum Payload {
    /// NDJSON steps to `POST /v1/steps`: the answer lists no rejected step.
    Steps,
    /// An OTLP/HTTP protobuf export to `POST /v1/traces`: no span rejected.
    Spans,
}

async fn post_as(http: &reqwest::Client, url: &str, body: Vec<u8>, payload: Payload) -> anyhow::Result<()> {
    let content_type = match payload {
        Payload::Steps => "application/x-ndjson",
        Payload::Spans => "application/x-protobuf",
    };
    let resp = http.post(url).bearer_auth(KEY).header("content-type", content_type).body(body).send().await?;
    let status = resp.status();
    match payload {
        Payload::Steps => {
            let answer: serde_json::Value = resp.json().await?;
            if !status.is_success() || !answer["rejected"].as_array().is_some_and(Vec::is_empty) {
                bail!("ingest refused: {status} {answer}");
            }
        }
        Payload::Spans => {
            let rejected = resp.headers().get("x-flightlog-rejected").and_then(|v| v.to_str().ok()).map(str::to_owned);
            if !status.is_success() || rejected.as_deref() != Some("0") {
                bail!("export refused: {status}, rejected spans {rejected:?}");
            }
        }
    }
    Ok(())
}

/// Posts `bodies`, which hold `payload`, to `url` from `clients`
/// concurrent clients, each sending its share one body after the other;
/// returns once every one is stored.
pub(crate) async fn post_concurrently(
    http: &reqwest::Client,
    url: &str,
    bodies: Vec<Vec<u8>>,
    clients: usize,
    payload: Payload,
) -> anyhow::Result<()> {
    let mut tasks = Vec::new();
    for (c, chunk) in split(bodies, clients).into_iter().enumerate() {
        let (http, url) = (http.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            for body in chunk {
                post_as(&http, &url, body, payload).await.with_context(|| format!("client {c}"))?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

fn split<T>(items: Vec<T>, parts: usize) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = (0..parts).map(|_| Vec::new()).collect();
    for (i, item) in items.into_iter().enumerate() {
        out[i % parts].push(item);
    }
    out
}

/// A realistic step of about 1 KB: reasoning, params, result, prompt, costs.
pub(crate) fn step_line(session: &str, n: u64) -> String {
    let v = serde_json::json!({
        "session_id": session, "step": n,
        "timestamp": flightlog_model::time::format_timestamp(1_767_225_600_000_000 + n as i64 * 1_000_000),
        "agent": {"name": "loan-assistant", "version": "2.3.0"},
        "agent_thoughts": {
            "reasoning": format!("Step {n}: the client asked for an analysis of the quarterly report before the credit committee; \
                                  the financial figures decide affordability, so analyse them before fetching history."),
            "considered_tools": ["analyze_financials", "fetch_historical_data", "escalate_to_human"],
            "chosen_tool": "analyze_financials", "confidence": 0.82},
        "tool_execution": {"name": "analyze_financials", "params": {"report_id": n, "currency": "EUR", "period": "2025-Q4"},
                           "result": {"profit_margin": 0.15, "risk_score": 0.3, "flags": ["seasonal", "fx_exposure"]},
                           "status": if n % 50 == 7 { "error" } else { "ok" }, "error": null, "duration_ms": 1200},
        "model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06", "temperature": 0.2, "top_p": 1.0, "seed": 42, "max_tokens": 1024},
        "prompt": {"system": "You are a careful loan assistant. Follow the bank's credit policy.",
                   "messages": [{"role": "user", "content": "Please analyse report and recommend."}],
                   "completion": "I will analyse the financials first, then compare with the historical data."},
        "cost": {"input_tokens": 1250, "output_tokens": 340, "cache_read_tokens": 200, "reasoning_tokens": 0, "estimated_cost": 0.012},
        "user_id": format!("customer-{}", n % 97), "tags": ["prod", "eu"], "metadata": {"request_id": format!("req-{session}-{n}")}
    });
    v.to_string()
}

pub(crate) fn batch_body(lines: impl Iterator<Item = String>) -> Vec<u8> {
    lines.collect::<Vec<_>>().join("\n").into_bytes()
}

/// Batches of steps spread over many sessions of 100 steps, like many
/// agents reporting at once.
fn ingest_bodies(run: &str, batches: usize, size: usize) -> Vec<Vec<u8>> {
    (0..batches).map(|b| ingest_body(run, b, size)).collect()
}

/// Batch `b` of [`ingest_bodies`].
pub(crate) fn ingest_body(run: &str, b: usize, size: usize) -> Vec<u8> {
    batch_body((0..size).map(|i| {
        let n = (b * size + i) as u64;
        step_line(&format!("{run}-s{}", n / 100), n % 100)
    }))
}

fn timeline_bodies(session: &str, steps: u64) -> Vec<Vec<u8>> {
    (0..steps).collect::<Vec<_>>().chunks(1000).map(|c| batch_body(c.iter().map(|n| step_line(session, *n)))).collect()
}

/// The CPU time a process has used so far, all its threads, user and
/// system: a steadier figure than throughput on a shared machine.
pub(crate) fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name (which may hold spaces), counted
    // from 3: utime is the 14th, stime the 15th, in clock ticks, which
    // Linux reports at USER_HZ = 100 whatever the kernel's own rate.
    let after_name = stat.rsplit_once(')').context("unreadable /proc stat")?.1;
    let ticks: Vec<u64> = after_name.split_whitespace().skip(11).take(2).map(|t| t.parse().unwrap_or(0)).collect();
    Ok(Duration::from_millis(ticks.iter().sum::<u64>() * 10))
}

pub(crate) fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmHWM not found")
}
