//! `flightlog-bench alerts`: how long from a step's acknowledgement to its
//! incident's webhook delivery. A receiver runs in this process; a rule
//! sends every incident to it. For each of N sessions, two identical
//! emails are posted (the second one opens a repeated-side-effect
//! incident); the time from the second post's answer to the receiver
//! getting the incident is one sample. Sessions are posted one after
//! another, `--gap-ms` apart, while `--background` clients keep posting
//! ordinary steps, so the detectors and the writer are busy meanwhile.

use crate::guard::percentiles;
use crate::ingest::{KEY, post, serve_command, wait_ready};
use anyhow::Context;
use flightlog_model::time::{format_timestamp, now_us};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct AlertsArgs {
    /// Incidents opened (one per session).
    #[arg(long, default_value_t = 300)]
    incidents: u64,
    /// Between two sessions.
    #[arg(long, default_value_t = 20)]
    gap_ms: u64,
    /// Clients posting ordinary steps (batches of 1,000) meanwhile.
    #[arg(long, default_value_t = 2)]
    background: u64,
}

fn spawn(flightlog: &Path, dir: &Path, port: u16) -> anyhow::Result<tokio::process::Child> {
    // The receiver listens on 127.0.0.1, which only an operator allows.
    serve_command(flightlog, dir, port, "warn")
        .env("FLIGHTLOG_BOOTSTRAP_KEY", KEY)
        .env("FLIGHTLOG_ALERT_PRIVATE_RECEIVERS", "true")
        .spawn()
        .context("cannot start the server")
}

fn email(session: &str, n: u64) -> String {
    serde_json::json!({"session_id": session, "step": n, "timestamp": format_timestamp(now_us()), "agent": {"name": "mailer"},
        "tool_execution": {"name": "send_email", "params": {"to": format!("{session}@example.com")}, "result": "sent", "status": "ok"}})
    .to_string()
}

/// Ordinary steps: distinct searches (each batch one agent's burst of
/// calls, so the detectors and the deliverer have company).
fn ordinary(client: u64, batch: u64) -> Vec<u8> {
    let lines: Vec<String> = (0..1_000u64)
        .map(|n| {
            serde_json::json!({"session_id": format!("bg-{client}-{batch}-{}", n / 20), "step": n % 20,
                "timestamp": format_timestamp(now_us()), "agent": {"name": format!("bg-{client}-{batch}")},
                "tool_execution": {"name": "search_web", "params": {"q": format!("{client} {batch} {n}")}, "status": "ok"}})
            .to_string()
        })
        .collect();
    lines.join("\n").into_bytes()
}

/// The receiver: the time each session's incident arrived.
async fn receiver(arrived: Arc<Mutex<HashMap<String, Instant>>>) -> anyhow::Result<String> {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let arrived = arrived.clone();
            async move {
                let at = Instant::now();
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body)
                    && let Some(session) = v["incident"]["sessions"][0].as_str()
                {
                    arrived.lock().unwrap().entry(session.to_string()).or_insert(at);
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}/hook"))
}

pub async fn run(args: AlertsArgs, flightlog: PathBuf) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let _server = spawn(&flightlog, dir.path(), port)?;
    wait_ready(&http, &base).await?;
    let arrived = Arc::new(Mutex::new(HashMap::new()));
    let hook = receiver(arrived.clone()).await?;
    let rules = serde_json::json!({"rules": [{"name": "bench", "url": hook, "secret": "bench-secret-0123456789", "update_every_seconds": 3600}]});
    let resp = http.put(format!("{base}/v1/alerts/rules")).bearer_auth(KEY).json(&rules).send().await?;
    anyhow::ensure!(resp.status().is_success(), "setting the rule: {}", resp.text().await?);
    println!("flightlog-bench alerts: {} incidents, {} ms apart, {} background clients", args.incidents, args.gap_ms, args.background);

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut background = Vec::new();
    for c in 0..args.background {
        let (http, url, stop) = (http.clone(), format!("{base}/v1/steps"), stop.clone());
        background.push(tokio::spawn(async move {
            let mut batch = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                post(&http, &url, ordinary(c, batch)).await?;
                batch += 1;
            }
            anyhow::Ok(batch * 1_000)
        }));
    }
    let started = Instant::now();
    let mut acked = HashMap::new();
    for i in 0..args.incidents {
        let session = format!("alert-{i}");
        post(&http, &format!("{base}/v1/steps"), email(&session, 0).into_bytes()).await?;
        post(&http, &format!("{base}/v1/steps"), email(&session, 1).into_bytes()).await?;
        acked.insert(session, Instant::now());
        tokio::time::sleep(Duration::from_millis(args.gap_ms)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while arrived.lock().unwrap().len() < acked.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut ordinary_steps = 0;
    for b in background {
        ordinary_steps += b.await??;
    }
    let arrived = arrived.lock().unwrap().clone();
    let samples: Vec<f64> =
        acked.iter().filter_map(|(s, at)| arrived.get(s).map(|got| got.saturating_duration_since(*at).as_secs_f64() * 1e3)).collect();
    anyhow::ensure!(!samples.is_empty(), "no alert arrived");
    let (p50, p99, max) = percentiles(samples.clone());
    println!(
        "step acknowledged → webhook delivered, {} of {} incidents: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms \
         (with {ordinary_steps} ordinary steps posted meanwhile, {:.0} steps/s)",
        samples.len(),
        acked.len(),
        ordinary_steps as f64 / elapsed
    );
    anyhow::ensure!(samples.len() == acked.len(), "{} alerts never arrived", acked.len() - samples.len());
    Ok(())
}
