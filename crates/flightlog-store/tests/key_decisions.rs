//! The key-decision rule (schema/0010_key_decision.sql) through the real
//! embedded engine: what the similar-failure indexer reads as key decisions
//! (and counts as its lag) is exactly what the timeline and the decision
//! lookup mark as key, and "blank" means what Rust's `str::trim` means, so
//! a tool name of `" "` is no tool on either side.

use flightlog_model::{Limits, step_from_json};
use flightlog_store::embedded::{Embedded, default_library_path};
use flightlog_store::{EncodedStep, LogPosition, Store};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;

/// (chosen tool, reasoning, failed)
const CASES: &[(&str, &str, bool)] = &[
    ("search_db", "need the invoice", false),
    ("", "", true),
    (" ", "", true),
    ("search_db", "", false),
    ("", "thinking", false),
    ("  ", " ", false),
    // The regression: a blank tool name with a reason used to be a key
    // decision for the indexer's SQL and not for the page's Rust.
    (" ", "need the invoice", false),
    ("\u{a0}", "need the invoice", false),
    ("search_db", "\u{3000}\n", false),
    ("search_db", "\u{85}", false),
    ("search_db", "\u{a0}\u{2028}\u{b}\u{c}\r", false),
    ("\u{2003}", "reason", false),
    // Not whitespace, so not blank: a zero-width space; characters whose
    // UTF-8 holds the byte 0x85 (Å is C3 85) or 0xA0 (à is C3 A0).
    ("search_db", "\u{200b}", false),
    ("Å", "à", false),
    ("search_db", " … ", false),
    (" search_db ", "\treason\n", false),
];

fn expected_key(tool: &str, reasoning: &str, failed: bool) -> bool {
    failed || (!tool.trim().is_empty() && !reasoning.trim().is_empty())
}

#[tokio::test]
async fn the_indexer_and_the_pages_agree_on_key_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Arc::new(Embedded::open(&default_library_path(), dir.path(), 2, Default::default()).unwrap())).await.unwrap();
    let steps: Vec<EncodedStep> = CASES
        .iter()
        .enumerate()
        .map(|(n, (tool, reasoning, failed))| {
            let mut v = json!({
                "session_id": "k", "step": n, "timestamp": "2026-01-15T10:00:00Z",
                "agent_thoughts": {"chosen_tool": tool, "reasoning": reasoning},
            });
            if *failed {
                v["tool_execution"] = json!({"name": "http_get", "status": "error", "error": "timeout"});
            }
            let step = step_from_json(v, &Limits::default()).unwrap();
            assert_eq!((step.chosen_tool.as_str(), step.reasoning.as_str(), step.failed()), (*tool, *reasoning, *failed));
            EncodedStep::new("p1", &step)
        })
        .collect();
    let rows: Vec<_> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s, LogPosition { session_seq: i as u64, chain_hash: [0; 32], log_index: i as u64 }))
        .collect();
    store.insert_steps(&rows, 1).await.unwrap();

    let expected: BTreeSet<u64> =
        CASES.iter().enumerate().filter(|(_, (t, r, f))| expected_key(t, r, *f)).map(|(n, _)| n as u64).collect();
    assert_eq!(expected.len(), 7, "the cases cover both verdicts");

    // What the indexer embeds, and what it counts as still to do.
    let indexed: BTreeSet<u64> = store.key_decisions_from(0, 100).await.unwrap().iter().map(|r| r.step).collect();
    assert_eq!(indexed, expected, "the indexer's key decisions");
    assert_eq!(store.key_decision_lag(0).await.unwrap().steps_behind, expected.len() as u64);
    assert_eq!(store.key_decision_lag(CASES.len() as u64).await.unwrap().steps_behind, 0);

    // What the timeline offers "similar decisions" for.
    let timeline = store.session_timeline("p1", "k", None, 100).await.unwrap();
    assert_eq!(timeline.len(), CASES.len());
    let marked: BTreeSet<u64> = timeline.iter().filter(|s| s.key_decision).map(|s| s.step).collect();
    assert_eq!(marked, expected, "the timeline's key decisions");

    // One step's decision, key or not.
    for (n, (tool, reasoning, failed)) in CASES.iter().enumerate() {
        let row = store.decision_of_step("p1", "k", n as u64).await.unwrap().unwrap();
        assert_eq!(row.key_decision, expected_key(tool, reasoning, *failed), "step {n}: {tool:?} / {reasoning:?}");
    }
}
