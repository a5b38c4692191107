//! The durability promise, tested for real: clients ingest while the server
//! is killed with SIGKILL mid-stream; after a restart every acknowledged
//! step is there exactly once, and retrying everything creates nothing twice.

use flightlog_tests::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CLIENTS: u64 = 4;
const BATCH: u64 = 200;

/// A step with enough content to make inserts take real time.
fn payload_step(client: u64, n: u64) -> Value {
    let mut v = step(&format!("crash-{client}"), n);
    v["agent_thoughts"] = json!({"reasoning": format!("client {client} step {n}: {}", "why ".repeat(50))});
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_steps_survive_sigkill_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)];
    let mut server = Server::start_in(dir.path(), &env).await;
    let acked: Arc<Mutex<HashMap<u64, u64>>> = Arc::default(); // client → steps acknowledged

    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (http, base, acked) = (server.http.clone(), server.base.clone(), acked.clone());
            tokio::spawn(async move {
                for batch in 0.. {
                    let body = ndjson(&(batch * BATCH..(batch + 1) * BATCH).map(|n| payload_step(c, n)).collect::<Vec<_>>());
                    let sent = http.post(format!("{base}/v1/steps")).bearer_auth(ADMIN_KEY).body(body).send().await;
                    match sent {
                        Ok(r) if r.status() == StatusCode::OK => {
                            let answer: Value = r.json().await.unwrap();
                            assert_eq!(answer["accepted"].as_u64(), Some(BATCH), "{answer}");
                            acked.lock().unwrap().insert(c, (batch + 1) * BATCH);
                        }
                        _ => return, // the server is gone
                    }
                }
            })
        })
        .collect();

    // Let ingestion run (2.5 s, and as many steps acknowledged as a batch
    // per client), then
    // kill the server while requests are in flight.
    let total = || acked.lock().unwrap().values().sum::<u64>();
    server.kill9_mid_stream(total, CLIENTS * BATCH, Duration::from_millis(2500), tasks).await;
    let acked = acked.lock().unwrap().clone();
    let total_acked: u64 = acked.values().sum();
    assert!(total_acked >= CLIENTS * BATCH, "the test must kill mid-stream, after some acknowledgements");

    let server = Server::start_in(dir.path(), &env).await;
    let mut stored_total = 0;
    for c in 0..CLIENTS {
        let stored = server.all_steps(ADMIN_KEY, &format!("crash-{c}"), 1000).await;
        let numbers: Vec<u64> = stored.iter().map(|x| x["step"].as_u64().unwrap()).collect();
        let mut unique = numbers.clone();
        unique.dedup();
        assert_eq!(unique.len(), numbers.len(), "client {c}: no step stored twice");
        let acked_c = acked.get(&c).copied().unwrap_or(0);
        assert!(numbers.len() as u64 >= acked_c, "client {c}: {} stored < {acked_c} acknowledged", numbers.len());
        assert_eq!(&numbers[..acked_c as usize], &(0..acked_c).collect::<Vec<_>>()[..], "client {c}: acknowledged steps all present");
        stored_total += numbers.len() as u64;
    }

    // The clients retry everything they sent, acknowledged or not: nothing
    // conflicts, nothing doubles, and what was lost unacknowledged arrives.
    let mut resent = 0;
    for c in 0..CLIENTS {
        let sent_until = acked.get(&c).copied().unwrap_or(0) + BATCH;
        for start in (0..sent_until).step_by(BATCH as usize) {
            let body = ndjson(&(start..start + BATCH).map(|n| payload_step(c, n)).collect::<Vec<_>>());
            let (status, answer) = server.post_steps(ADMIN_KEY, body, &[]).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            assert_eq!(answer["rejected"], json!([]), "a retry never conflicts: {answer}");
        }
        resent += sent_until;
    }
    let mut after_retry = 0;
    for c in 0..CLIENTS {
        after_retry += server.all_steps(ADMIN_KEY, &format!("crash-{c}"), 1000).await.len() as u64;
    }
    assert_eq!(after_retry, resent, "after retries each step is stored exactly once");
    assert!(stored_total <= after_retry);
    eprintln!("acknowledged {total_acked}, stored after the crash {stored_total}, after retries {after_retry}");
    let (_, list) = server.get(ADMIN_KEY, "/v1/sessions?limit=100").await;
    let summarised: u64 = list["sessions"].as_array().unwrap().iter().map(|s| s["steps"].as_u64().unwrap()).sum();
    assert_eq!(summarised, after_retry, "session summaries agree with the stored steps");
    let (_, costs) = server.get(ADMIN_KEY, "/v1/costs").await;
    assert_eq!(costs["totals"]["steps"].as_u64(), Some(after_retry), "the cost rollups agree with the stored steps: {costs}");
}

#[tokio::test]
async fn sigterm_drains_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)];
    let mut server = Server::start_in(dir.path(), &env).await;
    let (status, _) = server.post_steps(ADMIN_KEY, ndjson(&(0..100).map(|n| step("graceful", n)).collect::<Vec<_>>()), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let (exit, _) = server.terminate();
    assert!(exit.success(), "clean exit on SIGTERM: {exit:?}");
    let server = Server::start_in(dir.path(), &env).await;
    assert_eq!(server.all_steps(ADMIN_KEY, "graceful", 1000).await.len(), 100);
}
