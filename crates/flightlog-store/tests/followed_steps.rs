//! What the detectors behind ingestion read (followed.rs): stored steps in
//! log order, and only below the log's acknowledged size. A group commit's
//! steps are visible before its INSERT has written the session summaries
//! and cost rollups; a step read then was priced without itself, and a
//! priced runaway went unseen (the api_golden flake of stops 39-40).

use flightlog_model::{Limits, step_from_json};
use flightlog_store::embedded::{Embedded, default_library_path};
use flightlog_store::{EncodedStep, LogPosition, Store};
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn followed_steps_are_read_in_log_order_and_only_below_the_acknowledged_size() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Arc::new(Embedded::open(&default_library_path(), dir.path(), 2, Default::default()).unwrap())).await.unwrap();
    // Ten steps of two sessions, whose log order is not their step order.
    let steps: Vec<EncodedStep> = (0..10u64)
        .map(|i| {
            let v = json!({"session_id": format!("s{}", i % 2), "step": 9 - i, "timestamp": "2026-01-15T10:00:00Z"});
            EncodedStep::new("p1", &step_from_json(v, &Limits::default()).unwrap())
        })
        .collect();
    let rows: Vec<_> =
        steps.iter().enumerate().map(|(i, s)| (s, LogPosition { session_seq: i as u64, chain_hash: [0; 32], log_index: i as u64 })).collect();
    store.insert_steps(&rows, 1).await.unwrap();

    let read = |from, below, limit| {
        let store = &store;
        async move { store.followed_steps_from(from, below, limit).await.unwrap().iter().map(|r| (r.log_index, r.step)).collect::<Vec<_>>() }
    };
    assert_eq!(read(2, 7, 100).await, (2..7).map(|i| (i, 9 - i)).collect::<Vec<_>>(), "positions 2 to 6, in log order");
    assert_eq!(read(0, 10, 3).await, vec![(0, 9), (1, 8), (2, 7)], "at most the limit, from the start");
    assert_eq!(read(4, 4, 100).await, vec![], "nothing at or past the acknowledged size");
    assert_eq!(read(8, 50, 100).await, vec![(8, 1), (9, 0)], "up to the last stored");
}
