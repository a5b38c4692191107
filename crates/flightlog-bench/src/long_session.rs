//! `flightlog-bench long-session`: an agent that reports each step as it
//! happens, one step per request, into a session that already holds many
//! (a long-running agent under one session id), against the same agent in
//! a short session, on one real server.
//!
//! Each step must be checked against what its session already holds (a
//! retry is a duplicate, a changed resend a conflict) and chained to the
//! session's last step; what that costs as the session grows is what this
//! prints.

use crate::ingest::{KEY, batch_body, post, step_line, wait_ready};
use std::time::Instant;

#[derive(clap::Args)]
pub struct LongSessionArgs {
    /// Steps stored in the long session before the appends are timed (sent
    /// in batches of 1,000).
    #[arg(long, default_value_t = 200_000)]
    steps: u64,
    /// Requests of one step timed in each session.
    #[arg(long, default_value_t = 200)]
    appends: u64,
}

pub async fn run(args: LongSessionArgs, flightlog: std::path::PathBuf) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = crate::ingest::serve_command(&flightlog, dir.path(), port, "warn").env("FLIGHTLOG_BOOTSTRAP_KEY", KEY).spawn()?;
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await?;
    let url = format!("{base}/v1/steps");
    let batch = |session: &str, steps: std::ops::Range<u64>| batch_body(steps.map(|n| step_line(session, n)));

    let started = Instant::now();
    for from in (0..args.steps).step_by(1000) {
        post(&http, &url, batch("long", from..(from + 1000).min(args.steps))).await?;
    }
    let filled = started.elapsed().as_secs_f64();
    println!("the long session: {} steps stored in {filled:.1} s ({:.0} steps/s, batches of 1,000)", args.steps, args.steps as f64 / filled);
    post(&http, &url, batch("short", 0..10)).await?;

    // In turn, request by request, so that the merges the fill left
    // running slow both alike.
    let sessions = [("short", 10), ("long", args.steps)];
    let mut times = [Vec::new(), Vec::new()];
    for i in 0..args.appends {
        for ((session, held), times) in sessions.iter().zip(&mut times) {
            let started = Instant::now();
            post(&http, &url, batch(session, held + i..held + i + 1)).await?;
            times.push(crate::ingest::ms(started.elapsed()));
        }
    }
    for ((_, held), times) in sessions.into_iter().zip(times) {
        let total: f64 = times.iter().sum();
        let (p50, p99, _) = crate::guard::percentiles(times);
        println!(
            "one step per request into a session of {held} steps ({} requests): p50 {p50:.1} ms, p99 {p99:.1} ms, {:.0} steps/s",
            args.appends,
            args.appends as f64 / (total / 1000.0)
        );
    }
    server.start_kill()?;
    server.wait().await?;
    Ok(())
}
