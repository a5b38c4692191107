//! Server mode, a ClickHouse server that goes away and comes back, for
//! real: the server process is stopped (SIGSTOP, a hung server) for 30 s,
//! or killed (SIGKILL, a crash: connections refused) and restarted, in the
//! middle of an ingest by clients that retry. While it is away, ingestion
//! answers 503 with Retry-After and /healthz is degraded; nothing is
//! acknowledged that is not stored; when it is back everything resumes by
//! itself, every step is stored exactly once and the record verifies.
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

fn outage_step(client: u64, n: u64) -> Value {
    let mut v = step(&format!("outage-{client}"), n);
    v["agent_thoughts"] = json!({"reasoning": format!("client {client} step {n}: {}", "because ".repeat(20))});
    v
}

fn skipped() -> bool {
    if !server_mode() {
        eprintln!("skipped: runs with FLIGHTLOG_TEST_BACKEND=server (a ClickHouse server to stop)");
        return true;
    }
    if real_clickhouse().is_some() {
        eprintln!("skipped: FLIGHTLOG_TEST_CLICKHOUSE_URL names a real server, which this test will not stop");
        return true;
    }
    false
}

/// What the retrying clients saw.
#[derive(Default)]
struct Seen {
    unavailable: AtomicU64,
    without_retry_after: AtomicU64,
}

/// Clients that send their batches in order, each until a 200 says it is
/// stored (a 503 or no answer: wait and send it again).
fn start_clients(base: &str, seen: &Arc<Seen>) -> Vec<tokio::task::JoinHandle<()>> {
    (0..CLIENTS)
        .map(|c| {
            let (base, seen) = (base.to_string(), seen.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
                for batch in 0..BATCHES {
                    let body = ndjson(&(batch * BATCH..(batch + 1) * BATCH).map(|n| outage_step(c, n)).collect::<Vec<_>>());
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
                                seen.unavailable.fetch_add(1, Ordering::Relaxed);
                                if r.headers().get("retry-after").is_none() {
                                    seen.without_retry_after.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            Ok(r) => panic!("unexpected answer {}: {}", r.status(), r.text().await.unwrap_or_default()),
                            Err(_) => {} // no answer in time: send it again
                        }
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                }
            })
        })
        .collect()
}

/// Polls /healthz for `during`; whether it was ever degraded.
async fn degraded_within(server: &Server, during: Duration) -> bool {
    let since = Instant::now();
    let mut degraded = false;
    while since.elapsed() < during {
        let health = server.http.get(format!("{}/healthz", server.base)).timeout(Duration::from_secs(5)).send().await;
        if let Ok(r) = health
            && r.status() == StatusCode::SERVICE_UNAVAILABLE
        {
            let body: Value = r.json().await.unwrap_or_default();
            degraded |= body["status"] == "degraded";
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    degraded
}

/// After the outage: the clients finish, the server is healthy again by
/// itself, every step is stored exactly once and the record verifies.
async fn all_stored_once(server: &Server, clients: Vec<tokio::task::JoinHandle<()>>, seen: &Seen, started: Instant) {
    for c in clients {
        tokio::time::timeout(Duration::from_secs(180), c).await.expect("clients finish once the server is back").unwrap();
    }
    eprintln!(
        "{} answers were 503 while the server was away; all {} steps stored after {:.1} s",
        seen.unavailable.load(Ordering::Relaxed),
        CLIENTS * BATCHES * BATCH,
        started.elapsed().as_secs_f64()
    );
    assert!(seen.unavailable.load(Ordering::Relaxed) > 0, "while the server was away, ingestion answered 503");
    assert_eq!(seen.without_retry_after.load(Ordering::Relaxed), 0, "every 503 says when to retry");
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

/// A server on a fresh folder, with the retrying clients already
/// ingesting into it for a moment.
struct Run {
    dir: tempfile::TempDir,
    server: Server,
    seen: Arc<Seen>,
    started: Instant,
    clients: Vec<tokio::task::JoinHandle<()>>,
}

async fn ingesting() -> Run {
    let dir = tempfile::tempdir().unwrap();
    // Statements give up after 3 s, so a hung server is noticed fast.
    let env = [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), ("FLIGHTLOG_CLICKHOUSE_TIMEOUT", "3")];
    let server = Server::start_in(dir.path(), &env).await;
    let (seen, started) = (Arc::new(Seen::default()), Instant::now());
    let clients = start_clients(&server.base, &seen);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    Run { dir, server, seen, started, clients }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hung_server_for_30_s_loses_nothing_and_duplicates_nothing() {
    if skipped() {
        return;
    }
    let run = ingesting().await;
    pause_clickhouse(run.dir.path(), true);
    let degraded = degraded_within(&run.server, Duration::from_secs(30)).await;
    pause_clickhouse(run.dir.path(), false);
    assert!(degraded, "/healthz was degraded while the server was stopped");
    all_stored_once(&run.server, run.clients, &run.seen, run.started).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crashed_and_restarted_server_loses_nothing_and_duplicates_nothing() {
    if skipped() {
        return;
    }
    let run = ingesting().await;
    kill_clickhouse(run.dir.path());
    let degraded = degraded_within(&run.server, Duration::from_secs(10)).await;
    restart_clickhouse(run.dir.path());
    assert!(degraded, "/healthz was degraded while the server was down");
    all_stored_once(&run.server, run.clients, &run.seen, run.started).await;
}

/// A server that hangs while nothing is ingested is still seen: /healthz
/// asks it, and says `degraded` with why, on a process that has nothing to
/// write as well. Every process said `ok` (its writer had failed nothing)
/// while the requests that came were refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hung_server_makes_healthz_degraded_with_no_ingest_under_way() {
    if skipped() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)]).await;
    assert_eq!(server.health().await["status"], "ok");
    pause_clickhouse(dir.path(), true);
    let health = async || -> (StatusCode, Value) {
        let r = server.http.get(format!("{}/healthz", server.base)).timeout(Duration::from_secs(10)).send().await.unwrap();
        (r.status(), r.json().await.unwrap())
    };
    // The answer stands for a second (/healthz needs no key): asked again.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut status, mut body) = health().await;
    while status == StatusCode::OK && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        (status, body) = health().await;
    }
    pause_clickhouse(dir.path(), false);
    assert_eq!((status, &body["status"]), (StatusCode::SERVICE_UNAVAILABLE, &json!("degraded")), "{body}");
    assert!(body["reason"].as_str().unwrap().contains("ClickHouse server did not answer"), "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while health().await.1["status"] != "ok" {
        assert!(Instant::now() < deadline, "ok again once the server answers");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
