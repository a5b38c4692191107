//! Server mode, a ClickHouse server that goes away and comes back: the
//! server process is stopped (SIGSTOP) for 30 s in the middle of an ingest
//! by clients that retry. While it is down, ingestion answers 503 with
//! Retry-After and /healthz is degraded; nothing is acknowledged that is
//! not stored; when it is back everything resumes by itself, every step is
//! stored exactly once and the tamper-evident record verifies.
//!
//! Runs in server mode only (`FLIGHTLOG_TEST_BACKEND=server`, as the
//! README's test command runs the end-to-end suite a second time); in
//! embedded mode there is no separate server to stop, and it says so.

use flightlog_tests::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CLIENTS: u64 = 3;
const BATCHES: u64 = 30;
const BATCH: u64 = 50;
const OUTAGE: Duration = Duration::from_secs(30);

fn outage_step(client: u64, n: u64) -> Value {
    let mut v = step(&format!("outage-{client}"), n);
    v["agent_thoughts"] = json!({"reasoning": format!("client {client} step {n}: {}", "because ".repeat(20))});
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_outage_loses_nothing_and_duplicates_nothing() {
    if !server_mode() {
        eprintln!("skipped: runs with FLIGHTLOG_TEST_BACKEND=server (a ClickHouse server to stop)");
        return;
    }
    if real_clickhouse().is_some() {
        eprintln!("skipped: FLIGHTLOG_TEST_CLICKHOUSE_URL names a real server, which this test will not stop");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Statements give up after 3 s, so a stopped server is noticed fast.
    let env = [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), ("FLIGHTLOG_CLICKHOUSE_TIMEOUT", "3")];
    let server = Server::start_in(dir.path(), &env).await;
    let unavailable = Arc::new(AtomicU64::new(0));
    let without_retry_after = Arc::new(AtomicU64::new(0));
    let started = Instant::now();

    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (base, unavailable, without_retry_after) = (server.base.clone(), unavailable.clone(), without_retry_after.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
                for batch in 0..BATCHES {
                    let body = ndjson(&(batch * BATCH..(batch + 1) * BATCH).map(|n| outage_step(c, n)).collect::<Vec<_>>());
                    // A client that retries until it is told the batch is stored.
                    loop {
                        let sent = http.post(format!("{base}/v1/steps")).bearer_auth(ADMIN_KEY).body(body.clone()).send().await;
                        match sent {
                            Ok(r) if r.status() == StatusCode::OK => {
                                let answer: Value = r.json().await.unwrap();
                                let stored = answer["accepted"].as_u64().unwrap() + answer["duplicates"].as_u64().unwrap();
                                assert_eq!(stored, BATCH, "a 200 stores the whole batch: {answer}");
                                break;
                            }
                            Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => {
                                unavailable.fetch_add(1, Ordering::Relaxed);
                                if r.headers().get("retry-after").is_none() {
                                    without_retry_after.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            Ok(r) => panic!("unexpected answer {}: {}", r.status(), r.text().await.unwrap_or_default()),
                            Err(_) => {} // timed out waiting: retry
                        }
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                }
            })
        })
        .collect();

    // Let ingestion run, then stop the ClickHouse server mid-stream.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    pause_clickhouse(dir.path(), true);
    let paused_at = Instant::now();
    let mut degraded_seen = false;
    while paused_at.elapsed() < OUTAGE {
        let health = server.http.get(format!("{}/healthz", server.base)).timeout(Duration::from_secs(2)).send().await;
        if let Ok(r) = health {
            if r.status() == StatusCode::SERVICE_UNAVAILABLE {
                let body: Value = r.json().await.unwrap_or_default();
                degraded_seen |= body["status"] == "degraded";
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    pause_clickhouse(dir.path(), false);
    for c in clients {
        tokio::time::timeout(Duration::from_secs(180), c).await.expect("clients finish once the server is back").unwrap();
    }
    eprintln!(
        "outage of {OUTAGE:?}: {} answers were 503 while it lasted; all {} steps stored after {:.1} s",
        unavailable.load(Ordering::Relaxed),
        CLIENTS * BATCHES * BATCH,
        started.elapsed().as_secs_f64()
    );
    assert!(unavailable.load(Ordering::Relaxed) > 0, "while the server was stopped, ingestion answered 503");
    assert_eq!(without_retry_after.load(Ordering::Relaxed), 0, "every 503 says when to retry");
    assert!(degraded_seen, "/healthz was degraded while the server was stopped");

    // Resumed by itself: healthy, every step exactly once, the record verifies.
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.health().await["status"] != "ok" {
        assert!(Instant::now() < deadline, "healthy again after the outage: {}", server.health().await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for c in 0..CLIENTS {
        let stored = server.all_steps(ADMIN_KEY, &format!("outage-{c}"), 1000).await;
        let numbers: Vec<u64> = stored.iter().map(|s| s["step"].as_u64().unwrap()).collect();
        assert_eq!(numbers, (0..BATCHES * BATCH).collect::<Vec<_>>(), "client {c}: every step once, in order");
    }
    let (status, report) = server.get(ADMIN_KEY, "/v1/integrity/verify").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert!(report["status"] == "verified" || report["status"] == "intact_not_yet_sealed", "{report}");
    assert_eq!(report["problems"].as_array().map(Vec::len), Some(0), "{report}");
}
