//! `flightlog-bench guard`: the guard's answer latency with N recorded
//! actions. The actions are ingested through the API (the honest path, in
//! batches of 5,000 by 4 clients), the server is restarted so that the
//! guard rebuilds its memory from ClickHouse (timed, with the RSS after),
//! then questions are asked one at a time over HTTP: a mix of side effects
//! already done (denied, with where and when), new side effects and
//! read-only calls in existing sessions (allowed). Last, the same kind of
//! questions against the in-memory rules alone (`GuardState::ask`), in this
//! process, with as many actions observed.

use crate::ingest::{KEY, peak_rss_kib, post, serve_command, wait_ready};
use anyhow::{Context, bail};
use flightlog_model::action::{Action, ActionKey};
use flightlog_model::guard::{GuardConfig, GuardState, Question};
use flightlog_model::time::{format_timestamp, now_us};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;

#[derive(clap::Args)]
pub struct GuardArgs {
    /// Actions recorded before the questions.
    #[arg(long, default_value_t = 1_000_000)]
    actions: u64,
    /// Questions asked over HTTP (and 10× as many in memory).
    #[arg(long, default_value_t = 20_000)]
    questions: u64,
}

/// Steps per generated session.
const SESSION_STEPS: u64 = 20;
const BATCH: u64 = 5_000;
const CLIENTS: u64 = 4;

/// Action `n`: 7 in 10 a side effect (`send_email` to an order of its
/// own), the rest a search; spread over 20 agents, in sessions of 20 steps,
/// one millisecond apart ending now (all within the guard's window).
fn action_line(n: u64, total: u64, start_us: i64) -> String {
    let (tool, params) = tool_of(n);
    serde_json::json!({
        "session_id": format!("g{}", n / SESSION_STEPS), "step": n % SESSION_STEPS,
        "timestamp": format_timestamp(start_us - (total - n) as i64 * 1_000),
        "agent": {"name": format!("agent-{}", n % 20)}, "user_id": format!("customer-{}", n % 5000),
        "tool_execution": {"name": tool, "params": params, "status": "ok"},
        "cost": {"input_tokens": 300, "output_tokens": 40}
    })
    .to_string()
}

fn tool_of(n: u64) -> (&'static str, serde_json::Value) {
    if n % 10 < 7 {
        ("send_email", serde_json::json!({"order": n, "template": "refund"}))
    } else {
        ("search_web", serde_json::json!({"q": format!("order {}", n % 1000)}))
    }
}

fn spawn(flightlog: &Path, dir: &Path, port: u16) -> anyhow::Result<tokio::process::Child> {
    serve_command(flightlog, dir, port, "warn,flightlog_app::guard=info")
        .env("FLIGHTLOG_BOOTSTRAP_KEY", KEY)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("cannot start the server")
}

pub(crate) fn percentiles(mut times: Vec<f64>) -> (f64, f64, f64) {
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    (pct(0.5), pct(0.99), times[times.len() - 1])
}

pub async fn run(args: GuardArgs, flightlog: PathBuf) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut server = spawn(&flightlog, dir.path(), port)?;
    wait_ready(&http, &base).await?;
    println!("flightlog-bench guard: {} actions, {} questions over HTTP", args.actions, args.questions);

    // Record the actions through the API.
    let start_us = now_us();
    let started = Instant::now();
    let batches: Vec<u64> = (0..args.actions.div_ceil(BATCH)).collect();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let mine: Vec<u64> = batches.iter().copied().filter(|b| b % CLIENTS == c).collect();
        let (http, url, total) = (http.clone(), format!("{base}/v1/steps"), args.actions);
        tasks.push(tokio::spawn(async move {
            for b in mine {
                let lines: Vec<String> = (b * BATCH..((b + 1) * BATCH).min(total)).map(|n| action_line(n, total, start_us)).collect();
                post(&http, &url, lines.join("\n").into_bytes()).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let took = started.elapsed().as_secs_f64();
    println!("recorded {} actions through the API in {took:.1} s ({:.0} steps/s)", args.actions, args.actions as f64 / took);

    // Restart: the guard rebuilds its memory from ClickHouse.
    server.kill().await?;
    let started = Instant::now();
    let mut server = spawn(&flightlog, dir.path(), port)?;
    let stderr = server.stderr.take().context("server stderr")?;
    let (tx, rebuilt) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let mut tx = Some(tx);
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("guard memory rebuilt")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(line);
            }
        }
    });
    wait_ready(&http, &base).await?;
    let ready = started.elapsed();
    let line = tokio::time::timeout(Duration::from_secs(5), rebuilt).await.ok().and_then(Result::ok).unwrap_or_default();
    let pid = server.id().context("server pid")?;
    let rebuilt = line.split("guard memory rebuilt").nth(1).map(|s| format!("guard rebuilt:{}", plain(s)));
    println!("restart until ready: {:.2} s; {}", ready.as_secs_f64(), rebuilt.unwrap_or_else(|| "(no rebuild line seen)".into()));
    println!("server RSS after the rebuild: {} MiB (peak {} MiB)", rss_kib(pid, "VmRSS:")? / 1024, peak_rss_kib(pid)? / 1024);

    // Ask: a third already done, a third new side effects, a third read-only calls.
    // Enough agents that none of them passes the rate limit (20 a minute).
    let askers = (args.questions / 10).max(1000);
    let mut times = Vec::with_capacity(args.questions as usize);
    let mut denied = 0;
    for i in 0..args.questions {
        let question = match i % 3 {
            0 => {
                let n = (i * 7919) % args.actions;
                let n = n - n % 10; // a send_email
                let (tool, params) = tool_of(n);
                serde_json::json!({"session_id": format!("ask-{i}"), "agent": format!("asker-{}", i % askers), "tool": tool, "params": params})
            }
            1 => serde_json::json!({"session_id": format!("ask-{i}"), "agent": format!("asker-{}", i % askers),
                                    "tool": "send_email", "params": {"order": args.actions + i, "template": "refund"}}),
            _ => serde_json::json!({"session_id": format!("g{}", (i * 31) % (args.actions / SESSION_STEPS).max(1)),
                                    "agent": format!("asker-{}", i % askers), "tool": "get_order", "params": {"order": i}}),
        };
        let t = Instant::now();
        let resp = http.post(format!("{base}/v1/guard")).bearer_auth(KEY).json(&question).send().await?;
        let status = resp.status();
        let answer: serde_json::Value = resp.json().await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        if !status.is_success() {
            bail!("guard refused: {status} {answer}");
        }
        if answer["allowed"] == false {
            denied += 1;
            if i % 3 != 0 {
                bail!("question {i} denied unexpectedly: {answer}");
            }
        } else if i % 3 == 0 {
            bail!("question {i} (already done) allowed: {answer}");
        }
    }
    let (p50, p99, max) = percentiles(times);
    println!(
        "POST /v1/guard over HTTP, 1 client, {} questions ({denied} denied): p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms",
        args.questions
    );
    println!("server RSS after the questions: {} MiB (peak {} MiB)", rss_kib(pid, "VmRSS:")? / 1024, peak_rss_kib(pid)? / 1024);
    drop(server);

    in_memory(args.actions, args.questions * 10);
    Ok(())
}

/// The rules alone: `GuardState::ask` with as many actions observed.
fn in_memory(actions: u64, questions: u64) {
    let now = now_us();
    let rss_before = rss_kib(std::process::id(), "VmRSS:").unwrap_or(0);
    let mut state = GuardState::new(GuardConfig::default());
    let started = Instant::now();
    for n in 0..actions {
        let (tool, params) = tool_of(n);
        let action = Action {
            session_id: format!("g{}", n / SESSION_STEPS),
            step: n % SESSION_STEPS,
            timestamp_us: now - (actions - n) as i64 * 1_000,
            agent: format!("agent-{}", n % 20),
            user_id: format!("customer-{}", n % 5000),
            tool: tool.to_string(),
            key: ActionKey::of(tool, &params.to_string()),
            failed: false,
            tokens: 340,
            result: 0,
        };
        state.observe("bench", &action);
    }
    let grown = rss_kib(std::process::id(), "VmRSS:").unwrap_or(0).saturating_sub(rss_before);
    let (done, sessions) = state.sizes();
    println!(
        "in memory: {actions} actions observed in {:.2} s; {done} side effects remembered, {sessions} sessions; RSS grew {} MiB ({} bytes per action)",
        started.elapsed().as_secs_f64(),
        grown / 1024,
        grown * 1024 / actions.max(1)
    );
    let mut times = Vec::with_capacity(questions as usize);
    for i in 0..questions {
        let (tool, key) = match i % 3 {
            0 => {
                let n = (i * 7919) % actions;
                let (tool, params) = tool_of(n - n % 10);
                (tool, ActionKey::of(tool, &params.to_string()))
            }
            1 => ("send_email", ActionKey::of("send_email", &format!("{{\"order\":{},\"template\":\"refund\"}}", actions + i))),
            _ => ("get_order", ActionKey::of("get_order", &i.to_string())),
        };
        let session = if i % 3 == 2 { format!("g{}", (i * 31) % (actions / SESSION_STEPS).max(1)) } else { format!("ask-{i}") };
        let q = Question { session_id: session, user_id: String::new(), agent: format!("asker-{}", i % (questions / 10).max(1000)), tool: tool.into(), key };
        let t = Instant::now();
        let answer = state.ask("bench", &q, now);
        times.push(t.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(answer);
    }
    let (p50, p99, max) = percentiles(times);
    println!("GuardState::ask in memory, {questions} questions: p50 {p50:.1} µs, p99 {p99:.1} µs, max {max:.1} µs");
}

/// A log line without its terminal colours.
fn plain(s: &str) -> String {
    let mut out = String::new();
    let mut escape = false;
    for c in s.chars() {
        match (escape, c) {
            (false, '\u{1b}') => escape = true,
            (true, 'm') => escape = false,
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}

fn rss_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("{field} not found"))
}
