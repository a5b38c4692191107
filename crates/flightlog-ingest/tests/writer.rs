//! The writer against real embedded ClickHouse.

use flightlog_ingest::{Ingestor, Outcome};
use flightlog_model::{Limits, step_from_json};
use flightlog_store::embedded::{Embedded, default_library_path};
use flightlog_store::{EncodedStep, Store};
use serde_json::json;
use std::sync::Arc;

fn step(session: &str, n: u64, text: &str) -> EncodedStep {
    let v = json!({"session_id": session, "step": n, "timestamp": "2026-01-15T10:30:00Z",
                   "agent_thoughts": {"reasoning": text}});
    EncodedStep::new("p", &step_from_json(v, &Limits::default()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_of_one_step_are_accepted_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Arc::new(Embedded::open(&default_library_path(), dir.path(), 2).unwrap())).await.unwrap();
    let (ingestor, writer) = Ingestor::start(store.clone()).await.unwrap();

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let ingestor = ingestor.clone();
            tokio::spawn(async move { ingestor.submit("p".into(), (0..50).map(|n| step("s", n, "same")).collect()).await })
        })
        .collect();
    let mut accepted = 0;
    for t in tasks {
        for o in t.await.unwrap().unwrap() {
            assert_ne!(o, Outcome::Conflict);
            accepted += (o == Outcome::Accepted) as usize;
        }
    }
    assert_eq!(accepted, 50, "each of the 50 steps is accepted by exactly one of the 8 senders");
    assert_eq!(store.session_summary("p", "s").await.unwrap().unwrap().steps, 50);

    let log: Vec<u64> = store.session_timeline("p", "s", None, 100).await.unwrap().iter().map(|s| s.log_index).collect();
    let mut sorted = log.clone();
    sorted.sort();
    assert_eq!(sorted, (0..50).collect::<Vec<_>>(), "log indexes are dense and unique");

    drop(ingestor);
    writer.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_resend_is_a_conflict_and_the_first_version_stays() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Arc::new(Embedded::open(&default_library_path(), dir.path(), 2).unwrap())).await.unwrap();
    let (ingestor, _writer) = Ingestor::start(store.clone()).await.unwrap();

    let first = ingestor.submit("p".into(), vec![step("s", 1, "original"), step("s", 1, "edited in the same batch")]).await;
    assert_eq!(first.unwrap(), [Outcome::Accepted, Outcome::Conflict]);
    let again = ingestor.submit("p".into(), vec![step("s", 1, "edited later"), step("s", 1, "original")]).await;
    assert_eq!(again.unwrap(), [Outcome::Conflict, Outcome::Duplicate]);
    // Another project may use the same session and step numbers.
    let other = EncodedStep::new("q", &step_from_json(json!({"session_id": "s", "step": 1, "timestamp": "2026-01-15T10:30:00Z"}), &Limits::default()).unwrap());
    assert_eq!(ingestor.submit("q".into(), vec![other]).await.unwrap(), [Outcome::Accepted]);

    let stored = store.session_timeline("p", "s", None, 10).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].raw.contains("original"));
}
