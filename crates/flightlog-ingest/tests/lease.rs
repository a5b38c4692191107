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
    run_of(store, name, "1", TTL)
}

/// Run `run` of the process named `name`, with time to live `ttl`.
fn run_of(store: &Store, name: &str, run: &str, ttl: Duration) -> (WriterLease, tokio::task::JoinHandle<()>) {
    let options = LeaseOptions::new(name, run, format!("http://{name}-{run}"), ttl);
    WriterLease::shared(store.clone(), options)
}

async fn open_store(dir: &std::path::Path) -> Store {
    Store::open(Arc::new(Embedded::open(&default_library_path(), dir, 2, Default::default()).unwrap())).await.unwrap()
}

/// Watches two leases for `how_long`: true if both could write at once.
async fn both_wrote(a: &WriterLease, b: &WriterLease, how_long: Duration) -> bool {
    let until = Instant::now() + how_long;
    while Instant::now() < until {
        if a.writable().is_some() && b.writable().is_some() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// A standby started with a shorter time to live than the holder's waits
/// the holder's: it took the lease while the holder still wrote (a holder
/// renewing every 3 s, a standby waiting 1 s), and both numbered the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_waits_out_the_holders_time_to_live_not_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path()).await;
    let (a, _keeper_a) = run_of(&store, "a", "1", Duration::from_secs(15));
    assert!(matches!(settled(&a).await, Role::Writer { .. }));
    let (b, _keeper_b) = run_of(&store, "b", "1", Duration::from_secs(1));
    assert!(!both_wrote(&a, &b, Duration::from_secs(5)).await, "the standby took over from a holder that still writes");
    assert!(a.writable().is_some() && b.writable().is_none());
}

/// Two processes under one name (a data folder copied while its process
/// ran) never both write: the lease is held by a run, and the copy, seeing
/// the other renew, waits as any standby. A run that finds the lease under
/// its name and not renewed (the run before a restart) takes it back
/// before the whole time to live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_a_process_never_writes_beside_it_and_a_restart_takes_its_lease_back_soon() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path()).await;
    let (first, keeper_first) = run_of(&store, "a", "1", TTL);
    assert!(matches!(settled(&first).await, Role::Writer { .. }));
    let (copy, keeper_copy) = run_of(&store, "a", "2", TTL);
    assert!(!both_wrote(&first, &copy, TTL * 2).await, "a copy under the same name wrote beside the holder");
    assert!(first.writable().is_some(), "the holder keeps the lease");
    keeper_copy.abort();

    // The holder stops renewing without giving the lease up (dies, or
    // stalls); its next run takes the lease back once the holder's own
    // deadline has passed, before the whole time to live, and never while
    // the holder may still write.
    keeper_first.abort();
    let died = Instant::now();
    let (restarted, _keeper) = run_of(&store, "a", "3", TTL);
    while restarted.writable().is_none() {
        assert!(died.elapsed() < TTL * 3, "the restarted run takes the lease back");
        assert!(first.writable().is_none() || restarted.writable().is_none(), "both runs could write");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(first.writable().is_none(), "the earlier run stopped writing first");
    assert!(died.elapsed() < TTL, "taken back in {:?}, before the whole time to live", died.elapsed());
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
    assert_eq!(settled(&b).await, Role::Standby { writer: Some("http://a-1".into()) });

    let (writer_a, _) = Ingestor::start(store.clone(), a.clone()).await.unwrap();
    let (writer_b, _) = Ingestor::start(store.clone(), b.clone()).await.unwrap();
    assert_eq!(writer_a.submit("p".into(), vec![step(0), step(1)]).await.unwrap(), vec![Outcome::Accepted; 2]);
    match writer_b.submit("p".into(), vec![step(2)]).await {
        Err(IngestError::NotWriter { writer }) => assert_eq!(writer.as_deref(), Some("http://a-1")),
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

/// A standby that finds the lease held by its own run (its claim landed
/// and the answer was lost) takes it back at once: it waited the whole
/// time to live, forwarding ingestion to itself, while no one wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_finds_itself_holding_the_lease_takes_it_back_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path()).await;
    let (held, keeper) = run_of(&store, "a", "1", TTL);
    assert!(matches!(settled(&held).await, Role::Writer { .. }));
    keeper.abort();
    // The same run's keeper, as a standby that does not know it holds it.
    let started = Instant::now();
    let (again, _keeper) = run_of(&store, "a", "1", TTL);
    assert!(matches!(settled(&again).await, Role::Writer { .. }));
    assert!(started.elapsed() < TTL / 2, "taken back in {:?}", started.elapsed());
}
