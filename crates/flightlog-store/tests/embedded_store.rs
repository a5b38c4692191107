//! The store's SQL, proven against the embedded engine (real chDB).

use flightlog_model::{Limits, step_from_json};
use flightlog_store::embedded::{Embedded, default_library_path};
use flightlog_store::{EncodedStep, LogPosition, SessionFilter, SessionSort, Store};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

async fn open(dir: &Path) -> Store {
    Store::open(Arc::new(Embedded::open(&default_library_path(), dir, 2, Default::default()).unwrap())).await.unwrap()
}

/// Inserts steps at log positions from `first`, and their log entries, as
/// the writer does; the chain fields are the writer's business and are
/// tested with it.
async fn insert(store: &Store, steps: &[EncodedStep], first: u64) {
    let rows: Vec<_> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s, LogPosition { session_seq: i as u64, chain_hash: [0; 32], log_index: first + i as u64 }))
        .collect();
    store.insert_steps(&rows, 1).await.unwrap();
    let entries: Vec<_> = rows.iter().map(|(s, p)| ("p1", *s, p.log_index)).collect();
    store.insert_log_entries(&entries).await.unwrap();
}

fn step(session: &str, n: u64, extra: serde_json::Value) -> EncodedStep {
    let mut v = json!({"session_id": session, "step": n, "timestamp": format!("2026-01-15T10:{:02}:00Z", n % 60)});
    if let serde_json::Value::Object(m) = extra {
        v.as_object_mut().unwrap().extend(m);
    }
    EncodedStep::new("p1", &step_from_json(v, &Limits::default()).unwrap())
}

#[tokio::test]
async fn steps_round_trip_and_sessions_summarise_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    assert_eq!(store.next_log_index().await.unwrap(), 0);

    let a: Vec<EncodedStep> = (0..5)
        .map(|n| step("a", n, json!({"agent": {"name": "bot"}, "cost": {"input_tokens": 10, "estimated_cost": 0.5}})))
        .collect();
    let b = [step("b", 0, json!({"tool_execution": {"status": "error"}, "user_id": "u1", "model": {"name": "gpt-4o"}}))];
    insert(&store, &a, 0).await;
    insert(&store, &b, 5).await;
    assert_eq!(store.next_log_index().await.unwrap(), 6);

    let found = store.session_states("p1", &["a", "b", "c"], &[0, 1, 9]).await.unwrap();
    assert_eq!(found.len(), 2, "session c has no step: {found:?}");
    assert_eq!(found["a"].existing.len(), 2, "steps 0 and 1 of a; 9 is not stored");
    assert_eq!(found["a"].existing[&1], a[1].step_hash);
    assert_eq!(found["a"].head.seq, 4, "a's chain is at its fifth link");
    assert_eq!(found["b"].existing.len(), 1);
    assert!(store.session_states("other", &["a"], &[1]).await.unwrap().is_empty(), "projects are separate");
    // The same step numbers without the chain heads, as the writer reads
    // them for sessions whose heads it knows.
    let existing = store.existing_steps("p1", &["a", "b", "c"], &[0, 1, 9]).await.unwrap();
    assert_eq!(existing.len(), 2, "{existing:?}");
    assert_eq!((&existing["a"], &existing["b"]), (&found["a"].existing, &found["b"].existing));
    assert!(store.existing_steps("p1", &["a"], &[7, 9]).await.unwrap().is_empty(), "none of those numbers is stored");
    assert!(store.existing_steps("other", &["a"], &[1]).await.unwrap().is_empty(), "projects are separate");

    let page = store.session_timeline("p1", "a", Some(1), 2).await.unwrap();
    assert_eq!(page.iter().map(|s| s.step).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(page[0].log_index, 2);
    assert!(page[0].raw.contains(r#""session_id":"a""#));

    let summary = store.session_summary("p1", "a").await.unwrap().unwrap();
    assert_eq!((summary.steps, summary.failed_steps, summary.input_tokens), (5, 0, 50));
    assert!((summary.estimated_cost - 2.5).abs() < 1e-9);
    assert_eq!(summary.agents, ["bot"]);

    let failed = store
        .list_sessions("p1", &SessionFilter { failed: Some(true), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(failed.sessions.iter().map(|s| s.session_id.as_str()).collect::<Vec<_>>(), ["b"]);
    assert_eq!(failed.sessions[0].users, ["u1"]);

    let by_steps = SessionFilter { sort: SessionSort::Steps, limit: 1, ..Default::default() };
    let first = store.list_sessions("p1", &by_steps).await.unwrap();
    assert_eq!(first.sessions[0].session_id, "a");
    let second = store
        .list_sessions("p1", &SessionFilter { cursor: first.next_cursor.clone(), ..by_steps.clone() })
        .await
        .unwrap();
    assert_eq!(second.sessions[0].session_id, "b");
}

#[tokio::test]
async fn reopening_keeps_data_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path()).await;
        let s = [step("a", 0, json!({}))];
        insert(&store, &s, 0).await;
    }
    let store = open(dir.path()).await;
    assert_eq!(store.next_log_index().await.unwrap(), 1);
}

/// A store migrated by a newer Flightlog may hold rows this one would read
/// wrongly: it is refused, naming the migration, instead of served.
#[tokio::test]
async fn a_store_migrated_by_a_newer_flightlog_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path()).await;
        let newer = "INSERT INTO schema_migrations (version, name, checksum) SELECT 9999, 'from_the_future', 'x'";
        store.backend().query(newer, flightlog_store::Params::new()).await.unwrap();
    }
    let refused = Store::open(Arc::new(Embedded::open(&default_library_path(), dir.path(), 2, Default::default()).unwrap())).await;
    let message = refused.err().expect("a newer store is refused").to_string();
    assert!(message.contains("schema migration 9999") && message.contains("newer Flightlog"), "{message}");
}

#[tokio::test]
async fn summaries_are_rebuilt_when_they_disagree_with_steps() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let s: Vec<EncodedStep> = (0..3).map(|n| step("a", n, json!({}))).collect();
    insert(&store, &s, 0).await;
    // What a crash between the steps part and the view's part would leave.
    store.backend().query("TRUNCATE TABLE session_summaries", flightlog_store::Params::new()).await.unwrap();
    assert!(store.session_summary("p1", "a").await.unwrap().is_none());
    drop(store);
    let store = open(dir.path()).await;
    assert_eq!(store.session_summary("p1", "a").await.unwrap().unwrap().steps, 3);
}

#[tokio::test]
async fn one_claim_of_a_writer_lease_generation_wins_and_its_holder_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    assert_eq!(store.writer_lease().await.unwrap(), None, "no lease was ever taken");

    let won = store.claim_writer_lease(1, "a", "http://a", 10, 30_000).await.unwrap();
    assert_eq!((won.holder.as_str(), won.address.as_str()), ("a", "http://a"));
    // A second claimant of the same generation is dropped by the engine and
    // reads back the winner; the winner retrying its claim still holds it.
    let lost = store.claim_writer_lease(1, "b", "http://b", 11, 2_000).await.unwrap();
    assert_eq!((lost.holder.as_str(), lost.ttl_ms), ("a", 30_000), "the first claim of a generation wins, with its time to live");
    assert_eq!(store.claim_writer_lease(1, "a", "http://a", 12, 30_000).await.unwrap().holder, "a");
    let next = store.claim_writer_lease(2, "b", "http://b", 13, 2_000).await.unwrap();
    assert_eq!(next.holder, "b", "a new generation can be claimed");
    assert_eq!(store.writer_lease().await.unwrap().map(|l| (l.generation, l.holder)), Some((2, "b".to_string())));
}

/// Verification pages through every stored row by a (project, session,
/// step) cursor: across projects and sessions, and with a row whose key
/// is repeated (a copy inserted by tampering) at a page's edge, every row
/// comes exactly once.
#[tokio::test]
async fn integrity_pages_cover_every_row_once_across_projects_and_repeated_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let mut rows = Vec::new();
    for (i, (project, session, n)) in
        [("p1", "a", 0), ("p1", "a", 1), ("p1", "a", 2), ("p1", "b", 0), ("p1", "c", 0), ("p2", "a", 0), ("p2", "a", 1)]
            .into_iter()
            .enumerate()
    {
        let v = json!({"session_id": session, "step": n, "timestamp": "2026-01-15T10:00:00Z"});
        let s = EncodedStep::new(project, &step_from_json(v, &Limits::default()).unwrap());
        rows.push((s, LogPosition { session_seq: n, chain_hash: [0; 32], log_index: i as u64 }));
    }
    let refs: Vec<_> = rows.iter().map(|(s, p)| (s, *p)).collect();
    store.insert_steps(&refs, 1).await.unwrap();
    // A second row for p1/b/0: pages of 2 end on the first copy.
    store
        .backend()
        .query("INSERT INTO steps SELECT * FROM steps WHERE project = 'p1' AND session_id = 'b'", flightlog_store::Params::new())
        .await
        .unwrap();
    let mut seen: Vec<(String, String, u64)> = Vec::new();
    let mut cursor: Option<(String, String, u64)> = None;
    loop {
        let page = store.integrity_rows_after(cursor.as_ref().map(|(p, s, n)| (p.as_str(), s.as_str(), *n)), 2).await.unwrap();
        seen.extend(page.iter().map(|r| (r.project.clone(), r.session_id.clone(), r.step)));
        if page.len() < 2 {
            break;
        }
        let last = page.last().unwrap();
        cursor = Some((last.project.clone(), last.session_id.clone(), last.step));
    }
    let key = |p: &str, s: &str, n: u64| (p.to_string(), s.to_string(), n);
    assert_eq!(
        seen,
        [key("p1", "a", 0), key("p1", "a", 1), key("p1", "a", 2), key("p1", "b", 0), key("p1", "b", 0), key("p1", "c", 0), key("p2", "a", 0), key("p2", "a", 1)]
    );
}

/// Stored Merkle nodes are read for every height at once: exactly the keys
/// asked for come back, not the other pairs of their heights and indexes
/// (height 4 index 1 and height 8 index 0 exist, but were not asked for).
#[tokio::test]
async fn merkle_nodes_come_back_exactly_as_asked_across_heights() {
    use flightlog_model::merkle_nodes::NodeKey;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let key = |height, index| NodeKey { height, index };
    let hash = |b: u8| [b; 32];
    let stored = [(key(4, 0), hash(1)), (key(4, 1), hash(2)), (key(8, 0), hash(3)), (key(8, 1), hash(4)), (key(12, 7), hash(5))];
    store.put_merkle_nodes(&stored).await.unwrap();
    let asked = [key(4, 0), key(8, 1), key(12, 7), key(12, 0)].into_iter().collect();
    let found = store.merkle_nodes_at(&asked).await.unwrap();
    let expected = [(key(4, 0), hash(1)), (key(8, 1), hash(4)), (key(12, 7), hash(5))].into_iter().collect();
    assert_eq!(found, expected, "a missing key is left out, and no other stored node is added");
    assert!(store.merkle_nodes_at(&Default::default()).await.unwrap().is_empty());

    // More keys than one read takes (10,000), over two heights.
    let many: Vec<(NodeKey, [u8; 32])> = (0..12_500u64).flat_map(|i| [(key(16, i), hash(i as u8)), (key(20, i), hash(!(i as u8)))]).collect();
    store.put_merkle_nodes(&many).await.unwrap();
    let asked = many.iter().map(|(k, _)| *k).filter(|k| k.index % 2 == 0).collect();
    let found = store.merkle_nodes_at(&asked).await.unwrap();
    assert_eq!(found, many.iter().filter(|(k, _)| k.index % 2 == 0).copied().collect(), "every read's keys, and only them");
}

/// Reads run without the engine's JIT (embedded.rs, NO_JIT): compiling a
/// query shape the fourth time it is seen added 50-100 ms to that read.
#[tokio::test]
async fn reads_are_not_compiled_to_machine_code() {
    use flightlog_store::{Backend, Params};
    let dir = tempfile::tempdir().unwrap();
    let engine = Embedded::open(&default_library_path(), dir.path(), 2, Default::default()).unwrap();
    let sql = "SELECT getSetting('compile_expressions') AS e, getSetting('compile_aggregate_expressions') AS a, \
               getSetting('compile_sort_description') AS s";
    // Every read connection (two, taken in turn).
    for _ in 0..2 {
        let out = String::from_utf8(engine.query(sql, Params::new()).await.unwrap()).unwrap();
        assert_eq!(out.trim(), r#"{"e":false,"a":false,"s":false}"#);
    }
}

/// An erasure never blanks what a legal hold keeps, even a step that
/// arrived after the holds were checked against the request (the erasure
/// reads its steps later than that check): the held session's step and the
/// held user's step keep their content, the rest of the user's go. An
/// erasure of listed steps (a session's content expiring) blanks only
/// those, not a step that arrived since.
#[tokio::test]
async fn an_erasure_spares_what_is_held_and_listed_steps_are_the_only_ones_erased() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let said = |s: &str, n: u64, user: &str| step(s, n, json!({"user_id": user, "prompt": {"completion": format!("secret {s} {n}")}}));
    let steps = [said("own", 0, "ann"), said("own", 1, "ann"), said("held", 0, "bob"), said("held", 1, "ann"), said("other", 0, "held-user"), said("other", 1, "ann")];
    insert(&store, &steps, 0).await;
    let completion = |s: &str, n: u64| {
        let store = store.clone();
        let s = s.to_string();
        async move {
            let found = store.session_timeline("p1", &s, n.checked_sub(1), 1).await.unwrap();
            let content: serde_json::Value = serde_json::from_str(&found[0].raw).unwrap();
            content["prompt"]["completion"].as_str().map(str::to_string)
        }
    };
    let held = flightlog_store::Held { sessions: vec!["held".into()], users: vec!["held-user".into()] };
    let done = store.erase("p1", "", "ann", &held).await.unwrap();
    assert_eq!(done.steps_erased, 3, "ann's steps but the one in the held session");
    assert_eq!(completion("held", 1).await.as_deref(), Some("secret held 1"), "the held session's step of ann");
    for (s, n) in [("own", 0), ("own", 1), ("other", 1)] {
        assert_eq!(completion(s, n).await, None, "{s} {n} erased");
    }
    // The session `other` expires up to the position of its step 1 (log
    // position 5) while held-user's step is held; a step 2, logged past it
    // (it arrived since), is not touched.
    insert(&store, &[said("other", 2, "cid")], 6).await;
    let done = store.erase_session_through("p1", "other", 5, &held).await.unwrap();
    assert_eq!(done.steps_erased, 0, "step 1 was erased before, step 0 is held");
    assert_eq!(completion("other", 0).await.as_deref(), Some("secret other 0"));
    assert_eq!(completion("other", 2).await.as_deref(), Some("secret other 2"), "logged past the record");
    let done = store.erase_session_through("p1", "other", 5, &Default::default()).await.unwrap();
    assert_eq!((done.steps_erased, completion("other", 0).await, completion("other", 2).await.as_deref()), (1, None, Some("secret other 2")));
    // Listed steps (an older erasure finished) take their step numbers.
    let done = store.erase_steps("p1", "other", &[2], &Default::default()).await.unwrap();
    assert_eq!((done.steps_erased, completion("other", 2).await), (1, None));
}
