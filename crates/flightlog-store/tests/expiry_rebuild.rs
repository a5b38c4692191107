//! An expiry forgets a session's derived rows (list entry, action counts,
//! cost rollups) and rebuilds them from the steps left. A step stored while
//! that runs can have its views' rows written after the forget and also be
//! read by the rebuild. The expiry then looks for a step counted twice and
//! rebuilds again; this holds that look to what it finds.

use flightlog_model::{Limits, step_from_json};
use flightlog_store::embedded::{Embedded, default_library_path};
use flightlog_store::{Backend, EncodedStep, LogPosition, Params, Store};
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn a_session_counted_twice_is_found_and_rebuilt_and_one_counted_once_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Embedded::open(&default_library_path(), dir.path(), 2, Default::default()).unwrap());
    let store = Store::open(engine.clone()).await.unwrap();
    // Session s0 has four steps, two of them tool runs; s1 has two steps.
    let steps: Vec<EncodedStep> = (0..6u64)
        .map(|i| {
            let session = if i < 4 { "s0" } else { "s1" };
            let mut v = json!({"session_id": session, "step": i, "timestamp": "2026-01-15T10:00:00Z",
                               "model": {"name": "gpt-4o"}, "usage": {"input_tokens": 100, "output_tokens": 10}});
            if i % 2 == 0 {
                v["tool_execution"] = json!({"name": "http_get", "params": {"url": "u"}, "status": "ok"});
            }
            EncodedStep::new("p1", &step_from_json(v, &Limits::default()).unwrap())
        })
        .collect();
    let rows: Vec<_> =
        steps.iter().enumerate().map(|(i, s)| (s, LogPosition { session_seq: i as u64, chain_hash: [0; 32], log_index: i as u64 })).collect();
    store.insert_steps(&rows, 1).await.unwrap();

    let once = store.session_derived_totals("p1", "s0").await.unwrap();
    assert_eq!((once.steps, once.summarised_steps, once.rolled_up_steps), (4, 4, 4));
    assert_eq!((once.tool_runs, once.counted_tool_runs), (2, 2));
    assert!(!store.repair_derived_rows_of("p1", "s0").await.unwrap(), "rows counted once are left alone");

    // Every derived row of s0 written a second time, as a step's views
    // writing after the forget would.
    for table in ["session_summaries", "session_actions", "cost_rollups"] {
        let sql = format!("INSERT INTO {table} SELECT * FROM {table} WHERE project = 'p1' AND session_id = 's0'");
        engine.query(&sql, Params::new()).await.unwrap();
    }
    let twice = store.session_derived_totals("p1", "s0").await.unwrap();
    assert_eq!((twice.summarised_steps, twice.counted_tool_runs, twice.rolled_up_steps), (8, 4, 8));
    assert!(twice.counts_a_step_twice());
    assert_eq!(store.session_summary("p1", "s0").await.unwrap().unwrap().steps, 8, "the session list shows the double count");

    assert!(store.repair_derived_rows_of("p1", "s0").await.unwrap(), "a double count is rebuilt");
    assert_eq!(store.session_derived_totals("p1", "s0").await.unwrap(), once);
    assert_eq!(store.session_summary("p1", "s0").await.unwrap().unwrap().steps, 4);
    let other = store.session_derived_totals("p1", "s1").await.unwrap();
    assert_eq!((other.steps, other.summarised_steps, other.rolled_up_steps), (2, 2, 2), "another session is untouched");
}

#[test]
fn fewer_derived_than_stored_is_a_view_not_yet_written_not_a_double_count() {
    use flightlog_store::expirations::DerivedTotals;
    let agree = DerivedTotals { steps: 4, tool_runs: 2, summarised_steps: 4, counted_tool_runs: 2, rolled_up_steps: 4 };
    assert!(!agree.counts_a_step_twice());
    assert!(!DerivedTotals { summarised_steps: 3, rolled_up_steps: 3, counted_tool_runs: 1, ..agree }.counts_a_step_twice());
    assert!(DerivedTotals { summarised_steps: 5, ..agree }.counts_a_step_twice());
    assert!(DerivedTotals { rolled_up_steps: 5, ..agree }.counts_a_step_twice());
    assert!(DerivedTotals { counted_tool_runs: 3, ..agree }.counts_a_step_twice());
}
