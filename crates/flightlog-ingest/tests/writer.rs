//! The writer against real embedded ClickHouse.

use flightlog_ingest::{Ingestor, Outcome, WriterLease};
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
    let store = Store::open(Arc::new(Embedded::open(&default_library_path(), dir.path(), 2, Default::default()).unwrap())).await.unwrap();
    let (ingestor, writer) = Ingestor::start(store.clone(), WriterLease::sole()).await.unwrap();

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
    let store = Store::open(Arc::new(Embedded::open(&default_library_path(), dir.path(), 2, Default::default()).unwrap())).await.unwrap();
    let (ingestor, _writer) = Ingestor::start(store.clone(), WriterLease::sole()).await.unwrap();

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chains_and_the_log_head_match_what_is_stored_across_restarts() {
    use flightlog_model::integrity::{chain_next, chain_seed};
    use flightlog_model::merkle::{leaf_hash, root};
    let dir = tempfile::tempdir().unwrap();
    let open = || async { Store::open(Arc::new(Embedded::open(&default_library_path(), dir.path(), 2, Default::default()).unwrap())).await.unwrap() };

    let store = open().await;
    let (ingestor, writer) = Ingestor::start(store.clone(), WriterLease::sole()).await.unwrap();
    // Two sessions interleaved across groups, one step out of order.
    ingestor.submit("p".into(), vec![step("a", 0, "x"), step("b", 0, "y"), step("a", 2, "z")]).await.unwrap();
    ingestor.submit("p".into(), vec![step("a", 1, "w")]).await.unwrap();
    let (size, head) = ingestor.log_head();
    drop(ingestor);
    writer.await.unwrap();
    drop(store);

    let store = open().await;
    let (ingestor, _writer) = Ingestor::start(store.clone(), WriterLease::sole()).await.unwrap();
    assert_eq!(ingestor.log_head(), (size, head), "the log head is rebuilt from disk");
    ingestor.submit("p".into(), vec![step("a", 3, "v")]).await.unwrap();

    // Session a's head is now known to the writer from its own commit:
    // what is stored of these step numbers is read without it.
    let outcomes = ingestor.submit("p".into(), vec![step("a", 4, "u"), step("a", 1, "w"), step("a", 2, "changed")]).await.unwrap();
    assert_eq!(outcomes, [Outcome::Accepted, Outcome::Duplicate, Outcome::Conflict]);

    let leaves: Vec<_> = store.log_step_hashes().await.unwrap().iter().map(leaf_hash).collect();
    assert_eq!(leaves.len(), 6);
    assert_eq!(ingestor.log_head(), (6, root(&leaves)));

    // Session a's chain, in order of acceptance: steps 0, 2, 1, 3, 4.
    let heads: std::collections::HashMap<_, _> =
        store.session_states("p", &["a", "b"], &[]).await.unwrap().into_iter().map(|(s, st)| (s, st.head)).collect();
    let mut link = chain_seed("p", "a");
    for (n, text) in [(0, "x"), (2, "z"), (1, "w"), (3, "v"), (4, "u")] {
        link = chain_next(&link, &step("a", n, text).step_hash);
    }
    assert_eq!(heads["a"].seq, 4);
    assert_eq!(heads["a"].head, link);
    assert_eq!(heads["b"].head, chain_next(&chain_seed("p", "b"), &step("b", 0, "y").step_hash));
}
