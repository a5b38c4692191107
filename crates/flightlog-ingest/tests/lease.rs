//! The writer lease between two processes' worth of writers sharing one
//! store (real embedded ClickHouse; the end-to-end suite runs it between
//! real processes on a server in `tests/replicas.rs`).

use flightlog_ingest::{IngestError, Ingestor, LeaseOptions, Outcome, Role, WriterLease};
use flightlog_model::{Limits, step_from_json};
use flightlog_store::embedded::{Embedded, default_library_path};
use flightlog_store::{EncodedStep, Store};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

// Renewals fsync; on a busy 2-core machine one can take most of a second.
const TTL: Duration = Duration::from_secs(3);

fn step(n: u64) -> EncodedStep {
    let v = json!({"session_id": "s", "step": n, "timestamp": "2026-01-15T10:30:00Z"});
    EncodedStep::new("p", &step_from_json(v, &Limits::default()).unwrap())
}

fn lease(store: &Store, name: &str) -> (WriterLease, tokio::task::JoinHandle<()>) {
    WriterLease::shared(store.clone(), LeaseOptions { holder: name.into(), address: format!("http://{name}"), ttl: TTL })
}

async fn settled(lease: &WriterLease) -> Role {
    let deadline = Instant::now() + TTL * 3;
    loop {
        let role = lease.role();
        if role != (Role::Standby { writer: None }) || Instant::now() > deadline {
            return role;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_holder_writes_the_other_refuses_and_takes_over_when_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Arc::new(Embedded::open(&default_library_path(), dir.path(), 2, Default::default()).unwrap())).await.unwrap();
    let (a, keeper_a) = lease(&store, "a");
    assert!(matches!(settled(&a).await, Role::Writer { .. }), "the first process takes the lease");
    let (b, keeper_b) = lease(&store, "b");
    assert_eq!(settled(&b).await, Role::Standby { writer: Some("http://a".into()) });

    let (writer_a, _) = Ingestor::start(store.clone(), a.clone()).await.unwrap();
    let (writer_b, _) = Ingestor::start(store.clone(), b.clone()).await.unwrap();
    assert_eq!(writer_a.submit("p".into(), vec![step(0), step(1)]).await.unwrap(), vec![Outcome::Accepted; 2]);
    match writer_b.submit("p".into(), vec![step(2)]).await {
        Err(IngestError::NotWriter { writer }) => assert_eq!(writer.as_deref(), Some("http://a")),
        other => panic!("a standby refuses to write: {other:?}"),
    }

    // The holder stops renewing (its process hangs): it stops writing
    // before the standby may take over, and the standby takes over.
    keeper_a.abort();
    let stopped = Instant::now();
    while a.writable().is_some() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stopped_writing = stopped.elapsed();
    while b.writable().is_none() {
        assert!(stopped.elapsed() < TTL * 4, "the standby takes over");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took_over = stopped.elapsed();
    assert!(stopped_writing < took_over, "the old holder stopped writing ({stopped_writing:?}) before the new one started ({took_over:?})");
    assert!(writer_a.submit("p".into(), vec![step(2)]).await.is_err(), "the old holder refuses");

    // The new writer reads where the log stands before it numbers anything.
    let outcomes = writer_b.submit("p".into(), vec![step(1), step(2)]).await.unwrap();
    assert_eq!(outcomes, vec![Outcome::Duplicate, Outcome::Accepted]);
    let log: Vec<u64> = store.session_timeline("p", "s", None, 10).await.unwrap().iter().map(|s| s.log_index).collect();
    assert_eq!(log, vec![0, 1, 2], "one log, dense, across the two writers");

    keeper_b.abort();
    b.release(&store).await.unwrap();
    assert_eq!(store.writer_lease().await.unwrap().map(|l| l.holder), Some(String::new()), "a clean stop gives the lease up");
}
