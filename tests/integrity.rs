//! Tamper evidence, tested by really tampering: rows are changed, deleted,
//! inserted and reordered directly in ClickHouse (`flightlog sql`) while the
//! server is stopped, and the log is truncated. Each time verification
//! fails and names the place, and untouched sessions still verify.

use flightlog_model::canonical::to_canonical_json;
use flightlog_model::integrity::{chain_next, chain_seed, field_hash, path_of};
use flightlog_model::merkle::{hash_from_hex, leaf_hash, root, verify_consistency};
use flightlog_tests::*;
use reqwest::Method;
use std::path::Path;
use std::process::Command;

const ENV: [(&str, &str); 1] = [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)];

fn victim_step(n: u64) -> Value {
    json!({"session_id": "victim", "step": n, "timestamp": format!("2026-01-15T10:30:{n:02}Z"),
           "agent_thoughts": {"reasoning": format!("original reasoning {n}"), "chosen_tool": "refund"},
           "tool_execution": {"name": "refund", "params": {"order": n}, "result": {"ok": true}, "status": "ok"},
           "prompt": {"system": "be careful", "completion": format!("completion {n}")},
           "model": {"name": "gpt-4o", "top_p": 1.0, "temperature": 0.2}})
}

/// victim (8 steps) and bystander (6) sealed by a first checkpoint, then
/// other (4) sealed by a second; the server is stopped cleanly.
async fn recorded_instance(dir: &Path) {
    let mut s = Server::start_in(dir, &ENV).await;
    let mut first = (0..8).map(victim_step).collect::<Vec<_>>();
    first.extend((0..6).map(|n| step("bystander", n)));
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&first), &[]).await.1["accepted"], 14);
    assert_eq!(s.send_json(Method::POST, ADMIN_KEY, "/v1/integrity/checkpoints", json!(null)).await.0, StatusCode::CREATED);
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&(0..4).map(|n| step("other", n)).collect::<Vec<_>>()), &[]).await.1["accepted"], 4);
    let (status, _) = s.terminate();
    assert!(status.success(), "a clean stop signs the last checkpoint");
}

fn sql(dir: &Path, statement: &str) {
    let out = flightlog_sql(dir, statement);
    assert!(out.status.success(), "{statement}: {}", String::from_utf8_lossy(&out.stderr));
}

async fn verify(s: &Server, session: &str) -> Value {
    let (status, report) = s.get(ADMIN_KEY, &format!("/v1/sessions/{session}/verify")).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    report
}

fn problems(report: &Value) -> Vec<(String, Option<u64>)> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["kind"].as_str().unwrap().to_string(), p["step"].as_u64()))
        .collect()
}

/// The report failed, with a problem of `kind` at `step`, and the other
/// sessions still verify.
async fn assert_caught(s: &Server, kind: &str, step: Option<u64>) {
    let report = verify(s, "victim").await;
    assert_eq!(report["status"], "failed", "{report:#}");
    assert!(problems(&report).contains(&(kind.to_string(), step)), "wanted {kind} at {step:?}: {report:#}");
    for untouched in ["bystander", "other"] {
        let r = verify(s, untouched).await;
        assert_eq!(r["status"], "verified", "{untouched} is untouched: {r:#}");
    }
    let (_, all) = s.get(ADMIN_KEY, "/v1/integrity/verify").await;
    assert_eq!(all["status"], "failed");
}

/// A step's decision page says its verification failed, and why; returns
/// the page.
async fn assert_page_fails(s: &Server, session: &str, step: u64, why: &str) -> String {
    let (_, page) = s.page(ADMIN_KEY, &format!("/sessions/{session}/steps/{step}")).await;
    assert!(page.contains("verification failed") && page.contains(why), "{page}");
    page
}

#[tokio::test]
async fn an_untampered_record_verifies_and_only_sealed_steps_count() {
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    let s = Server::start_in(dir.path(), &ENV).await;
    for session in ["victim", "bystander", "other"] {
        let r = verify(&s, session).await;
        assert_eq!((r["status"].as_str(), r["problem_count"].as_u64()), (Some("verified"), Some(0)), "{r:#}");
    }
    let (_, all) = s.get(ADMIN_KEY, "/v1/integrity/verify").await;
    assert_eq!((all["status"].as_str(), all["steps_checked"].as_u64(), all["sealed"].as_u64()), (Some("verified"), Some(18), Some(18)));
    let (_, cps) = s.get(ADMIN_KEY, "/v1/integrity/checkpoints").await;
    let sizes: Vec<u64> = cps["checkpoints"].as_array().unwrap().iter().map(|c| c["tree_size"].as_u64().unwrap()).collect();
    assert_eq!(sizes, [14, 18]);

    // The published consistency proof between them checks out on its own.
    let (status, c) = s.get(ADMIN_KEY, "/v1/integrity/consistency?from=14&to=18").await;
    assert_eq!(status, StatusCode::OK, "{c}");
    let hash = |v: &Value| -> [u8; 32] { hash_from_hex(v.as_str().unwrap()).unwrap() };
    let proof: Vec<[u8; 32]> = c["proof"].as_array().unwrap().iter().map(hash).collect();
    let roots: Vec<[u8; 32]> = cps["checkpoints"].as_array().unwrap().iter().map(|x| hash(&x["root_hash"])).collect();
    assert!(verify_consistency(14, 18, &roots[0], &roots[1], &proof));
    assert!(!verify_consistency(14, 18, &roots[1], &roots[0], &proof), "the proof is specific to these roots");
    assert_eq!(s.get(ADMIN_KEY, "/v1/integrity/consistency?from=15&to=18").await.0, StatusCode::BAD_REQUEST);

    // A step accepted after the last checkpoint is not verified, only intact.
    s.post_steps(ADMIN_KEY, step("other", 4).to_string(), &[]).await;
    let r = verify(&s, "other").await;
    assert_eq!((r["status"].as_str(), r["not_yet_sealed"].as_u64()), (Some("intact_not_yet_sealed"), Some(1)), "{r:#}");
}

#[tokio::test]
async fn a_modified_field_is_caught_and_named() {
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    // The reasoning is stored once, in its column (raw keeps the rest): a
    // changed column is changed content. The temperature is kept in raw.
    sql(dir.path(), "ALTER TABLE steps UPDATE reasoning = replaceOne(reasoning, 'original reasoning 3', 'better reasoning 3') \
                     WHERE session_id = 'victim' AND step = 3 SETTINGS mutations_sync = 2");
    sql(dir.path(), "ALTER TABLE steps UPDATE raw = replaceOne(raw, '\"temperature\":0.2', '\"temperature\":0.9') \
                     WHERE session_id = 'victim' AND step = 5 SETTINGS mutations_sync = 2");
    let s = Server::start_in(dir.path(), &ENV).await;
    assert_caught(&s, "modified", Some(3)).await;
    assert_caught(&s, "modified", Some(5)).await;
    // The decision pages say so too, step by step.
    assert_page_fails(&s, "victim", 3, "its content was changed").await;
    let (_, intact) = s.page(ADMIN_KEY, "/sessions/victim/steps/2").await;
    assert!(intact.contains("badge ok\">verified"), "{intact}");
}

#[tokio::test]
async fn a_changed_column_is_caught_and_named() {
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    sql(dir.path(), "ALTER TABLE steps UPDATE chosen_tool = 'nothing to see' WHERE session_id = 'victim' AND step = 2 \
                     SETTINGS mutations_sync = 2");
    let s = Server::start_in(dir.path(), &ENV).await;
    assert_caught(&s, "column_changed", Some(2)).await;
    let report = verify(&s, "victim").await;
    assert!(report.to_string().contains("column chosen_tool of step 2"), "{report:#}");
}

/// Every column read from the content is checked against it: time, lists,
/// the derived price key and failure flag, and the rest.
#[tokio::test]
async fn every_typed_column_is_checked_against_the_content() {
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    sql(dir.path(), "ALTER TABLE steps UPDATE \
        ts = if(step = 0, ts + toIntervalMicrosecond(1), ts), failed = if(step = 1, true, failed), \
        tags = if(step = 2, ['vip'], tags), agent_version = if(step = 3, 'v9', agent_version), \
        metadata = if(step = 4, '{\"a\":1}', metadata), model_key = if(step = 5, 'gpt-3.5', model_key), \
        confidence = if(step = 6, 0.5, confidence), considered_tools = if(step = 7, ['wire'], considered_tools) \
        WHERE session_id = 'victim' SETTINGS mutations_sync = 2");
    let s = Server::start_in(dir.path(), &ENV).await;
    assert_caught(&s, "column_changed", Some(0)).await;
    let report = verify(&s, "victim").await;
    let found = problems(&report);
    for (step, column) in
        [(0, "ts"), (1, "failed"), (2, "tags"), (3, "agent_version"), (5, "model_key"), (6, "confidence"), (7, "considered_tools")]
    {
        assert!(found.contains(&("column_changed".to_string(), Some(step))), "step {step}: {report:#}");
        assert!(report.to_string().contains(&format!("column {column} of step {step}")), "{column}: {report:#}");
    }
    // The metadata is content, stored once in its column
    // (flightlog_model::stored): metadata added there is content added.
    assert!(found.contains(&("modified".to_string(), Some(4))), "step 4: {report:#}");
    assert_eq!(found.len(), 8, "one problem per changed step: {report:#}");
}

/// Columns are compared with the content exactly, and bytes that are not
/// text name their row instead of stopping verification: each change here
/// used to pass (the first three) or fail the whole run (the last two).
#[tokio::test]
async fn columns_are_compared_exactly_and_bytes_that_are_not_text_are_named() {
    const SEED: i64 = (1 << 60) + 1;
    let dir = tempfile::tempdir().unwrap();
    let exact = |n: u64, model: Value| {
        json!({"session_id": "exact", "step": n, "timestamp": format!("2026-01-15T10:30:{n:02}Z"),
               "model": model, "prompt": {"completion": format!("completion {n}")}})
    };
    let steps = [
        exact(0, json!({"name": "m", "seed": SEED})),
        exact(1, json!({"name": "m"})),
        exact(2, json!({"name": "m", "temperature": -0.0})),
        exact(3, json!({"name": "m"})),
        exact(4, json!({"name": "m"})),
        exact(5, json!({"name": "m", "seed": SEED, "temperature": -0.0})),
        // An empty completion stays in raw: its column is only a copy.
        json!({"session_id": "exact", "step": 6, "timestamp": "2026-01-15T10:30:06Z", "prompt": {"completion": ""}}),
    ];
    let mut s = Server::start_in(dir.path(), &ENV).await;
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.1["accepted"], 7);
    assert_eq!(s.send_json(Method::POST, ADMIN_KEY, "/v1/integrity/checkpoints", json!(null)).await.0, StatusCode::CREATED);
    let before = verify(&s, "exact").await;
    assert_eq!(before["status"], "verified", "the exact values as stored verify: {before:#}");
    assert!(s.terminate().0.success());

    // A seed one less (the same float: 2^60), a NaN where there is no
    // top_p, a zero of the other sign, a completion and a content that are
    // not UTF-8.
    sql(dir.path(), &format!(
        "ALTER TABLE steps UPDATE seed = if(step = 0, {}, seed), top_p = if(step = 1, nan, top_p), \
         temperature = if(step = 2, toFloat64(0), temperature), completion = if(step IN (3, 6), unhex('C328'), completion), \
         chosen_tool = if(step = 3, 'forged', chosen_tool), \
         raw = if(step = 4, concat(raw, unhex('FF')), raw) WHERE session_id = 'exact' SETTINGS mutations_sync = 2",
        SEED - 1
    ));
    let s = Server::start_in(dir.path(), &ENV).await;
    let report = verify(&s, "exact").await;
    assert_eq!(report["status"], "failed", "{report:#}");
    let found = problems(&report);
    for (kind, step, detail) in [
        ("column_changed", 0, "column seed of step 0"),
        ("column_changed", 1, "column top_p of step 1"),
        ("column_changed", 2, "column temperature of step 2"),
        // The completion is stored once, in its column: its content changed.
        ("modified", 3, "not UTF-8 text any more: column completion of step 3"),
        // and its other columns are still compared.
        ("column_changed", 3, "column chosen_tool of step 3"),
        ("modified", 4, "not UTF-8"),
        // Where raw kept the completion, its column is a copy that changed.
        ("column_changed", 6, "column completion of step 6"),
    ] {
        assert!(found.contains(&(kind.to_string(), Some(step))), "wanted {kind} at {step}: {report:#}");
        assert!(report.to_string().contains(detail), "wanted {detail:?}: {report:#}");
    }
    assert_eq!(found.len(), 7, "step 5 is untouched and nothing else is reported: {report:#}");
    let (status, all) = s.get(ADMIN_KEY, "/v1/integrity/verify").await;
    assert_eq!((status, all["status"].as_str(), all["problem_count"].as_u64()), (StatusCode::OK, Some("failed"), Some(7)), "{all:#}");
    // A completion that is not text still reads, shown with replacement
    // characters (a page with step 4, whose raw is not text, answers 503).
    let (status, page) = s.get(ADMIN_KEY, "/v1/sessions/exact/steps?limit=4").await;
    assert_eq!(status, StatusCode::OK, "{page:#}");
    assert_eq!(page["steps"][3]["data"]["prompt"]["completion"], "\u{FFFD}(", "{page:#}");
}

/// A session id that is not UTF-8 text at the end of a page of 6,000 rows
/// cannot be continued from (read with replacement characters, it sorts
/// elsewhere: the next page would restart or skip): the whole verification
/// stops with an error instead of a verdict on a table read wrongly.
#[tokio::test]
async fn verify_all_does_not_page_past_a_session_id_that_is_not_text() {
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    // Rows a-0000 … a-5998, then a-5999 and a byte 0xFF: the 6,000th row.
    sql(dir.path(), "INSERT INTO steps SELECT s.* REPLACE (concat('a-', leftPad(toString(n.number), 4, '0')) AS session_id) \
                     FROM (SELECT * FROM steps WHERE session_id = 'victim' AND step = 0) AS s CROSS JOIN numbers(5999) AS n");
    sql(dir.path(), "INSERT INTO steps SELECT * REPLACE (concat('a-5999', unhex('FF')) AS session_id) \
                     FROM (SELECT * FROM steps WHERE session_id = 'victim' AND step = 0)");
    let s = Server::start_in(dir.path(), &ENV).await;
    let (status, all) = s.get(ADMIN_KEY, "/v1/integrity/verify").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "no verdict on a table it cannot page through: {all:#}");
    let r = verify(&s, "bystander").await;
    assert_eq!(r["status"], "verified", "sessions are still verified one by one: {r:#}");
}

#[tokio::test]
async fn a_deleted_step_is_caught_and_named() {
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    sql(dir.path(), "ALTER TABLE steps DELETE WHERE session_id = 'victim' AND step = 4 SETTINGS mutations_sync = 2");
    let s = Server::start_in(dir.path(), &ENV).await;
    assert_caught(&s, "deleted", Some(4)).await;
}

#[tokio::test]
async fn an_inserted_step_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    // A forged step 8, copied from step 7 with its text changed, placed at
    // the end of the log.
    sql(dir.path(), "INSERT INTO steps SELECT * REPLACE (8 AS step, 18 AS log_index, 8 AS session_seq, \
                     replaceOne(raw, '\"step\":7', '\"step\":8') AS raw, replaceOne(reasoning, 'original', 'forged') AS reasoning) \
                     FROM (SELECT * FROM steps WHERE session_id = 'victim' AND step = 7)");
    let s = Server::start_in(dir.path(), &ENV).await;
    assert_caught(&s, "modified", Some(8)).await;
    assert!(problems(&verify(&s, "victim").await).contains(&("chain_broken".to_string(), Some(8))));
}

#[tokio::test]
async fn reordered_steps_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    // Steps 2 and 5 swap places: each row now claims the other's number.
    sql(dir.path(), "CREATE TABLE swapped AS steps");
    // (The filter sits in a subquery: in ClickHouse, WHERE sees the
    // REPLACE alias, not the stored column.)
    sql(dir.path(), "INSERT INTO swapped SELECT * REPLACE (if(step = 2, 5, 2) AS step) \
                     FROM (SELECT * FROM steps WHERE session_id = 'victim' AND step IN (2, 5))");
    sql(dir.path(), "ALTER TABLE steps DELETE WHERE session_id = 'victim' AND step IN (2, 5) SETTINGS mutations_sync = 2");
    sql(dir.path(), "INSERT INTO steps SELECT * FROM swapped");
    let s = Server::start_in(dir.path(), &ENV).await;
    let stored: Vec<u64> = s.all_steps(ADMIN_KEY, "victim", 100).await.iter().map(|x| x["step"].as_u64().unwrap()).collect();
    assert_eq!(stored, (0..8).collect::<Vec<_>>(), "the swap kept every step number");
    assert_caught(&s, "moved", Some(5)).await;
    assert!(problems(&verify(&s, "victim").await).contains(&("moved".to_string(), Some(2))));
    // The decision page of a moved step says so, from the log's entry.
    assert_page_fails(&s, "victim", 5, "reordered").await;
}

#[tokio::test]
async fn a_truncated_session_tail_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    sql(dir.path(), "ALTER TABLE steps DELETE WHERE session_id = 'victim' AND step >= 6 SETTINGS mutations_sync = 2");
    let s = Server::start_in(dir.path(), &ENV).await;
    assert_caught(&s, "deleted", Some(6)).await;
    assert!(problems(&verify(&s, "victim").await).contains(&("deleted".to_string(), Some(7))));
}

#[tokio::test]
async fn a_truncated_log_is_caught_and_earlier_checkpoints_still_prove_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    // The last three entries (other's steps 1-3) removed from the log of
    // record and from the steps, after the second checkpoint covered them.
    sql(dir.path(), "ALTER TABLE steps DELETE WHERE log_index >= 15 SETTINGS mutations_sync = 2");
    sql(dir.path(), "ALTER TABLE log_entries DELETE WHERE log_index >= 15 SETTINGS mutations_sync = 2");
    let s = Server::start_in(dir.path(), &ENV).await;
    let (_, all) = s.get(ADMIN_KEY, "/v1/integrity/verify").await;
    assert_eq!(all["status"], "failed");
    let truncated = all["problems"].as_array().unwrap().iter().find(|p| p["kind"] == "log_truncated").expect("named");
    assert_eq!(truncated["log_index"], 15, "{all:#}");
    for untouched in ["victim", "bystander"] {
        assert_eq!(verify(&s, untouched).await["status"], "verified", "{untouched} is proven by the first checkpoint");
    }
    let other = verify(&s, "other").await;
    assert_ne!(other["status"], "verified", "{other:#}");
    // A page of a step the truncated checkpoint covers cannot prove it.
    assert_page_fails(&s, "other", 0, "lost or gained entries").await;
}

#[tokio::test]
async fn a_forged_checkpoint_signature_fails_the_decision_pages() {
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    sql(dir.path(), "ALTER TABLE checkpoints UPDATE signature = reverse(signature) \
                     WHERE tree_size = (SELECT max(tree_size) FROM checkpoints) SETTINGS mutations_sync = 2");
    let s = Server::start_in(dir.path(), &ENV).await;
    let page = assert_page_fails(&s, "victim", 2, "signature does not verify").await;
    assert!(!page.contains("badge ok\">verified"), "{page}");
    // A session's verification cannot prove against the latest checkpoint:
    // it checks the whole log, lists the bad signature as the log's, and
    // proves the session by the first checkpoint (14 entries).
    let r = verify(&s, "victim").await;
    assert_eq!((r["status"].as_str(), r["sealed"].as_u64()), (Some("verified"), Some(8)), "{r:#}");
    assert_eq!(r["checkpoint"]["tree_size"], 14, "{r:#}");
    assert!(r["log_problems"].to_string().contains("bad_signature"), "{r:#}");
}

/// A session proves from the stored Merkle nodes against the latest
/// checkpoint without reading the whole log: a bad older checkpoint, which
/// only the whole log's check looks at, is not in its report, while
/// `verify --all` still names it.
#[tokio::test]
async fn a_session_proves_against_the_latest_checkpoint_without_the_whole_log() {
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    sql(dir.path(), "INSERT INTO checkpoints SELECT 5, root_hash, created_us, public_key, 'deadbeef' FROM checkpoints WHERE tree_size = 14");
    let s = Server::start_in(dir.path(), &ENV).await;
    for session in ["victim", "bystander", "other"] {
        let r = verify(&s, session).await;
        assert_eq!(r["status"], "verified", "{r:#}");
        assert_eq!(r["checkpoint"]["tree_size"], 18, "{r:#}");
        assert!(r.get("log_problems").is_none(), "the whole log was not read: {r:#}");
    }
    let (_, all) = s.get(ADMIN_KEY, "/v1/integrity/verify").await;
    assert!(all["problems"].to_string().contains("bad_signature"), "{all:#}");
}

/// A log rewritten below the last checkpoint (an entry's hash changed, the
/// Merkle nodes, a mere cache, deleted so they are built again from it) is
/// refused a new checkpoint: signed, it would pass every check made
/// against the newest checkpoint. The last genuine checkpoint stays the
/// newest, and still catches the rewrite.
#[tokio::test]
async fn a_log_rewritten_below_the_last_checkpoint_is_refused_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    sql(dir.path(), "ALTER TABLE log_entries UPDATE step_hash = reverse(step_hash) WHERE log_index = 3 SETTINGS mutations_sync = 2");
    sql(dir.path(), "TRUNCATE TABLE merkle_nodes");
    let s = Server::start_in(dir.path(), &ENV).await;
    let (status, answer) = seal_one_more_step(&s, 0).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(answer.to_string().contains("no longer match the checkpoint"), "{answer}");
    let (_, checkpoints) = s.get(ADMIN_KEY, "/v1/integrity/checkpoints").await;
    let sizes: Vec<u64> = checkpoints["checkpoints"].as_array().unwrap().iter().map(|c| c["tree_size"].as_u64().unwrap()).collect();
    assert_eq!(sizes.iter().max(), Some(&18), "nothing was signed over the rewrite: {checkpoints}");
    let (_, all) = s.get(ADMIN_KEY, "/v1/integrity/verify").await;
    assert_eq!(all["status"], "failed", "{all:#}");
}

/// The same rewrite in a log longer than one seal brings the stored Merkle
/// nodes up to date (2^20 leaves): with the nodes gone, they cannot prove
/// the new head consistent with the last checkpoint, and the log as the
/// writer read it at start-up decides (it was signed unchecked before).
/// The filler entries have no steps: only the seal is asked here.
#[tokio::test]
async fn a_rewrite_below_a_checkpoint_longer_than_the_stored_nodes_reach_is_refused() {
    const FILLER: u64 = (1 << 20) + 100;
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    sql(
        dir.path(),
        &format!("INSERT INTO log_entries SELECT 18 + number, 'default', 'filler', number, SHA256(toString(number)) FROM numbers({FILLER})"),
    );
    let mut s = Server::start_in(dir.path(), &ENV).await;
    let (status, answer) = seal(&s).await;
    assert_eq!((status, answer["tree_size"].as_u64()), (StatusCode::CREATED, Some(18 + FILLER)), "{answer}");
    assert!(s.terminate().0.success());

    // The nodes gone alone: the log still extends the checkpoint, and is signed.
    sql(dir.path(), "TRUNCATE TABLE merkle_nodes");
    let mut s = Server::start_in(dir.path(), &ENV).await;
    let (status, answer) = seal_one_more_step(&s, 0).await;
    assert_eq!((status, answer["tree_size"].as_u64()), (StatusCode::CREATED, Some(19 + FILLER)), "{answer}");
    assert!(s.terminate().0.success());

    // An entry below that checkpoint rewritten, and the nodes gone again.
    sql(dir.path(), "ALTER TABLE log_entries UPDATE step_hash = reverse(step_hash) WHERE log_index = 3 SETTINGS mutations_sync = 2");
    sql(dir.path(), "TRUNCATE TABLE merkle_nodes");
    let s = Server::start_in(dir.path(), &ENV).await;
    let (status, answer) = seal_one_more_step(&s, 1).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(answer.to_string().contains("no longer match the checkpoint"), "{answer}");
    let (_, checkpoints) = s.get(ADMIN_KEY, "/v1/integrity/checkpoints").await;
    let newest = checkpoints["checkpoints"].as_array().unwrap().iter().filter_map(|c| c["tree_size"].as_u64()).max();
    assert_eq!(newest, Some(19 + FILLER), "nothing was signed over the rewrite: {checkpoints}");
}

/// The rewrite again, with a checkpoint row of the forged log's own root
/// added behind Flightlog's back under the instance's public key (with any
/// signature but its own): the log extends that row, which must not be
/// what it is checked against.
#[tokio::test]
async fn a_newest_checkpoint_not_signed_by_the_instance_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    sql(dir.path(), "ALTER TABLE log_entries UPDATE step_hash = reverse(step_hash) WHERE log_index = 3 SETTINGS mutations_sync = 2");
    let out = flightlog_sql(dir.path(), "SELECT lower(hex(step_hash)) FROM log_entries ORDER BY log_index FORMAT TSV");
    let leaves: Vec<_> = String::from_utf8_lossy(&out.stdout).lines().map(|h| leaf_hash(&hash_from_hex(h).unwrap())).collect();
    assert_eq!(leaves.len(), 18);
    let forged_root = hex::encode(root(&leaves));
    sql(
        dir.path(),
        &format!(
            "INSERT INTO checkpoints SELECT 18, unhex('{forged_root}'), created_us + 1, public_key, repeat('ab', 64) FROM checkpoints \
             WHERE tree_size = 18 LIMIT 1"
        ),
    );
    let s = Server::start_in(dir.path(), &ENV).await;
    let (status, answer) = seal_one_more_step(&s, 0).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(answer.to_string().contains("no longer match the checkpoint"), "{answer}");
}

/// A checkpoint row over more entries than the log holds, added behind
/// Flightlog's back under a key of its own, does not stop the signing
/// unseen: it is not one the instance signed, so the log goes on being
/// sealed against the newest one that is.
#[tokio::test]
async fn a_newer_checkpoint_row_not_signed_here_does_not_stop_the_signing() {
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    sql(dir.path(), &format!("INSERT INTO checkpoints SELECT 1000000, root_hash, created_us + 1, '{}', repeat('ab', 64) FROM checkpoints WHERE tree_size = 18 LIMIT 1", "cd".repeat(32)));
    let s = Server::start_in(dir.path(), &ENV).await;
    let (status, answer) = seal_one_more_step(&s, 0).await;
    assert_eq!((status, answer["tree_size"].as_u64()), (StatusCode::CREATED, Some(19)), "{answer}");
}

/// A thousand rows at the newest checkpoint's size added under the
/// instance's key, none signed by it: the one that is, among them, is still
/// what bundles prove steps by and what the log is sealed on from.
#[tokio::test]
async fn rows_at_the_newest_checkpoints_size_do_not_hide_it() {
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    sql(dir.path(), "INSERT INTO checkpoints SELECT c.tree_size, c.root_hash, c.created_us + n.number + 1, c.public_key, repeat('ab', 64) \
                     FROM (SELECT * FROM checkpoints WHERE tree_size = 18) AS c CROSS JOIN numbers(1000) AS n");
    let s = Server::start_in(dir.path(), &ENV).await;
    let bundle = bundle_of(&s, "other").await;
    assert_eq!(bundle["checkpoint"]["tree_size"], 18, "the checkpoint signed at 18, not the one at 14");
    let (status, answer) = seal_one_more_step(&s, 0).await;
    assert_eq!((status, answer["tree_size"].as_u64()), (StatusCode::CREATED, Some(19)), "{answer}");
}

/// A signing key replaced on purpose (its old checkpoints' mark removed
/// with it) starts afresh: the checkpoints of the key before are not what
/// the log is checked against, and are not taken for forgeries.
#[tokio::test]
async fn a_replaced_signing_key_signs_again() {
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    std::fs::remove_file(dir.path().join("integrity/signing.key")).unwrap();
    std::fs::remove_file(dir.path().join("integrity/last-checkpoint")).unwrap();
    let s = Server::start_in(dir.path(), &ENV).await;
    let (status, answer) = seal_one_more_step(&s, 0).await;
    assert_eq!((status, answer["tree_size"].as_u64()), (StatusCode::CREATED, Some(19)), "{answer}");
}

/// A step rewritten with every hash of it made to agree (its row and the
/// log's entry), and a checkpoint row over the rewritten log signed with a
/// key of the forger's own, the newest row of all: the step's page does
/// not take it for sealed, and the session's bundle carries the
/// instance's own newest checkpoint, not the forger's.
#[tokio::test]
async fn a_checkpoint_signed_with_another_key_seals_nothing() {
    use ed25519_dalek::Signer as _;
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    let s = Server::start_in(dir.path(), &ENV).await;
    let bundle = bundle_of(&s, "victim").await;
    let (_, key) = s.get(ADMIN_KEY, "/v1/integrity/public-key").await;
    drop(s);

    let mut content = bundle["steps"][5]["content"].clone();
    content["agent_thoughts"]["reasoning"] = json!("forged reasoning 5");
    let forged = hex::encode(flightlog_model::integrity::stored_step_hash(&content, &Default::default()));
    sql(dir.path(), &format!("ALTER TABLE steps UPDATE reasoning = 'forged reasoning 5', step_hash = unhex('{forged}') \
                              WHERE session_id = 'victim' AND step = 5 SETTINGS mutations_sync = 2"));
    sql(dir.path(), &format!("ALTER TABLE log_entries UPDATE step_hash = unhex('{forged}') \
                              WHERE session_id = 'victim' AND step = 5 SETTINGS mutations_sync = 2"));
    // One entry more than the instance signed, so that the forger's row is
    // the newest.
    sql(dir.path(), &format!("INSERT INTO log_entries VALUES (18, 'default', 'other', 4, unhex('{}'))", "ee".repeat(32)));
    let out = flightlog_sql(dir.path(), "SELECT lower(hex(step_hash)) FROM log_entries ORDER BY log_index FORMAT TSV");
    let leaves: Vec<_> = String::from_utf8_lossy(&out.stdout).lines().map(|h| leaf_hash(&hash_from_hex(h).unwrap())).collect();
    assert_eq!(leaves.len(), 19);
    let forger = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let (forged_root, created) = (hex::encode(root(&leaves)), 1_800_000_000_000_000i64);
    let signature = forger.sign(format!("flightlog/checkpoint/v1\n19\n{forged_root}\n{created}\n").as_bytes());
    let forger_key = hex::encode(forger.verifying_key().to_bytes());
    sql(dir.path(), &format!("INSERT INTO checkpoints VALUES (19, unhex('{forged_root}'), {created}, '{forger_key}', '{}')",
                             hex::encode(signature.to_bytes())));

    let s = Server::start_in(dir.path(), &ENV).await;
    let page = assert_page_fails(&s, "victim", 5, "not signed by this instance").await;
    assert!(page.contains("forged reasoning 5"), "{page}");
    let again = bundle_of(&s, "victim").await;
    assert_eq!((&again["checkpoint"]["tree_size"], &again["checkpoint"]["public_key"]), (&json!(18), &key["public_key"]));
}

/// The session's evidence bundle as an admin downloads it.
async fn bundle_of(s: &Server, session: &str) -> Value {
    let resp = s.http.get(format!("{}/v1/sessions/{session}/evidence", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap()
}

async fn seal(s: &Server) -> (StatusCode, Value) {
    s.send_json(Method::POST, ADMIN_KEY, "/v1/integrity/checkpoints", json!(null)).await
}

/// Stores step `n` of session "later", then asks for a checkpoint.
async fn seal_one_more_step(s: &Server, n: u64) -> (StatusCode, Value) {
    assert_eq!(s.post_steps(ADMIN_KEY, step("later", n).to_string(), &[]).await.1["accepted"], 1);
    seal(s).await
}

/// A wrong stored node (a cache) with a sound log does not stop the
/// signing: the log's own entries show it still extends the checkpoint.
#[tokio::test]
async fn a_wrong_cached_node_over_a_sound_log_does_not_stop_the_signing() {
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    sql(dir.path(), "ALTER TABLE merkle_nodes UPDATE hash = unhex(repeat('00', 32)) WHERE height = 4 AND idx = 0 SETTINGS mutations_sync = 2");
    let s = Server::start_in(dir.path(), &ENV).await;
    let (status, answer) = seal_one_more_step(&s, 0).await;
    assert_eq!((status, answer["tree_size"].as_u64()), (StatusCode::CREATED, Some(19)), "{answer}");
}

/// The newest checkpoint deleted with the log's tail, as if neither had
/// been: the database alone cannot tell, the mark the instance keeps
/// outside it can, and no checkpoint is signed over the positions handed
/// out again.
#[tokio::test]
async fn a_log_rolled_back_with_its_newest_checkpoint_is_refused_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    sql(dir.path(), "ALTER TABLE checkpoints DELETE WHERE tree_size = 18 SETTINGS mutations_sync = 2");
    sql(dir.path(), "ALTER TABLE steps DELETE WHERE log_index >= 14 SETTINGS mutations_sync = 2");
    sql(dir.path(), "ALTER TABLE log_entries DELETE WHERE log_index >= 14 SETTINGS mutations_sync = 2");
    sql(dir.path(), "TRUNCATE TABLE merkle_nodes");
    let s = Server::start_in(dir.path(), &ENV).await;
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&(0..5).map(|n| step("later", n)).collect::<Vec<_>>()), &[]).await.1["accepted"], 5);
    let (status, answer) = s.send_json(Method::POST, ADMIN_KEY, "/v1/integrity/checkpoints", json!(null)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(answer.to_string().contains("rolled back"), "{answer}");
    let (_, checkpoints) = s.get(ADMIN_KEY, "/v1/integrity/checkpoints").await;
    let sizes: Vec<u64> = checkpoints["checkpoints"].as_array().unwrap().iter().map(|c| c["tree_size"].as_u64().unwrap()).collect();
    assert_eq!(sizes, [14], "nothing was signed over the positions handed out again: {checkpoints}");
}

#[tokio::test]
async fn evidence_bundles_verify_offline_and_any_edit_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    let s = Server::start_in(dir.path(), &ENV).await;
    let resp = s.http.get(format!("{}/v1/sessions/victim/evidence", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bundle = resp.bytes().await.unwrap().to_vec();
    let (_, key) = s.get(ADMIN_KEY, "/v1/integrity/public-key").await;
    let key = key["public_key"].as_str().unwrap().to_string();
    drop(s); // offline from here on

    let files = tempfile::tempdir().unwrap();
    let check = |bytes: &[u8], pin: Option<&str>| {
        let path = files.path().join("bundle.json");
        std::fs::write(&path, bytes).unwrap();
        let mut cmd = Command::new(binary());
        cmd.arg("verify-bundle").arg(&path);
        if let Some(k) = pin {
            cmd.args(["--public-key", k]);
        }
        let out = cmd.output().unwrap();
        (out.status.success(), serde_json::from_slice::<Value>(&out.stdout).unwrap())
    };
    let (ok, report) = check(&bundle, Some(&key));
    assert!(ok, "{report:#}");
    assert_eq!((report["sealed"].as_u64(), report["status"].as_str()), (Some(8), Some("verified")));

    // One byte changed inside the recorded content, in the signature, in
    // white space: each is caught.
    let text = String::from_utf8(bundle.clone()).unwrap();
    let edits = [
        text.replacen("original reasoning 5", "original reasoning 6", 1),
        text.replacen("\"signature\":\"", "\"signature\":\"0", 1).replacen("\"signature\":\"0", "\"signature\":\"", 0),
        text.replacen(",", ", ", 1),
    ];
    for (i, edited) in edits.iter().enumerate() {
        assert_ne!(edited.as_bytes(), &bundle[..], "edit {i} changes the file");
        let (ok, report) = check(edited.as_bytes(), Some(&key));
        assert!(!ok && report["status"] == "failed", "edit {i} must be caught: {report:#}");
    }
    let mut flipped = bundle.clone();
    let at = text.find("\"signature\":\"").unwrap() + 13;
    flipped[at] = if flipped[at] == b'a' { b'b' } else { b'a' };
    assert!(!check(&flipped, Some(&key)).0, "a flipped signature byte is caught");
    assert!(!check(&bundle, Some(&"ab".repeat(32))).0, "a bundle signed by another key is refused when the key is pinned");

    // Edits that keep the file canonical and every hash and link in it
    // consistent, the session's chain computed again as anyone can.
    let original: Value = serde_json::from_slice(&bundle).unwrap();
    let rechained = |mut b: Value| -> Vec<u8> {
        let mut link = chain_seed(b["project"].as_str().unwrap(), "victim");
        if let Some(steps) = b["steps"].as_array_mut() {
            for (i, s) in steps.iter_mut().enumerate() {
                s["session_seq"] = json!(i);
                link = chain_next(&link, &hash_from_hex(s["step_hash"].as_str().unwrap()).unwrap());
                s["chain_hash"] = json!(hex::encode(link));
            }
        }
        to_canonical_json(&b).into_bytes()
    };
    assert_eq!(rechained(original.clone()), bundle.strip_suffix(b"\n").unwrap_or(&bundle), "computing the chain again changes nothing in a genuine bundle");
    let erase_as_if_lawful = |b: &mut Value, step: usize, keys: &[&str], forged: Value| {
        let path = path_of(keys);
        let content = &mut b["steps"][step]["content"];
        let real = field_hash(&path, content.pointer(&format!("/{}", keys.join("/"))).unwrap());
        *content.pointer_mut(&format!("/{}", keys.join("/"))).unwrap() = forged;
        b["steps"][step]["erased"] = json!({path: hex::encode(real)});
    };
    let mut swapped = original.clone();
    swapped["steps"].as_array_mut().unwrap().swap(1, 2);
    let mut repeated = original.clone();
    let again = repeated["steps"][1].clone();
    repeated["steps"].as_array_mut().unwrap().insert(2, again);
    let mut reasoning_blanked = original.clone();
    erase_as_if_lawful(&mut reasoning_blanked, 2, &["agent_thoughts", "reasoning"], Value::Null);
    let mut completion_forged = original.clone();
    erase_as_if_lawful(&mut completion_forged, 3, &["prompt", "completion"], json!("FORGED: approved"));
    // An erasable field blanked, its real hash kept, as an erasure does:
    // no signed record in the bundle covers it (one written into the
    // bundle is not signed by the checkpoint's key).
    let mut blanked_unrecorded = original.clone();
    erase_as_if_lawful(&mut blanked_unrecorded, 3, &["prompt", "completion"], Value::Null);
    let mut record_forged = blanked_unrecorded.clone();
    record_forged["erasures"] = json!([{"at_us": 1, "by_key": "k", "fields_erased": 1, "log_through": -1, "project": original["project"],
        "reason": "asked", "session_id": "victim", "signature": "00", "steps_erased": 1, "user_id": ""}]);
    let mut not_a_list = original.clone();
    not_a_list["steps"] = json!("not a list");
    let mut unsealed = original.clone();
    unsealed["checkpoint"] = Value::Null;
    let forgeries = [
        ("steps reordered", swapped, "repeated_position"),
        ("a step repeated", repeated, "repeated_position"),
        ("a reasoning blanked as if erased", reasoning_blanked, "modified"),
        ("an erased field's content forged", completion_forged, "restored_after_erasure"),
        ("an erasable field blanked with no erasure record", blanked_unrecorded, "erased_without_record"),
        ("an erasure record not signed by the instance", record_forged.clone(), "bad_signature"),
        ("an erasure record not signed by the instance", record_forged, "erased_without_record"),
        ("steps that are not a list", not_a_list, "unreadable"),
        ("no checkpoint, with the key pinned", unsealed.clone(), "wrong_key"),
    ];
    for (what, forged, kind) in forgeries {
        let (ok, report) = check(&rechained(forged), Some(&key));
        assert!(!ok && report["status"] == "failed", "{what} must be caught: {report:#}");
        assert!(report["problems"].to_string().contains(kind), "{what}: a {kind} problem: {report:#}");
    }
    let (_, report) = check(&rechained(unsealed), None);
    assert_eq!(report["status"], "intact_not_yet_sealed", "without a key or a checkpoint nothing is proven: {report:#}");
}

/// A session longer than two of the pages its bundle is written in (5,000
/// steps), its steps sent out of number order: the bundle lists them in
/// the order of its chain, each once, checks with the key pinned, says how
/// long it is, and is what `flightlog evidence` writes. Copies of rows
/// inserted behind Flightlog's back are in it once each, where their place
/// in the chain puts them: one at the same place as the last row of the
/// first page, and two of an early step filed in later pages.
#[tokio::test]
async fn a_bundle_longer_than_a_page_lists_the_chain_in_order_each_row_once() {
    const STEPS: u64 = 12_000;
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &ENV).await;
    // 7 is prime to 12,000: every number once, none next to the one before.
    let sent: Vec<u64> = (0..STEPS).map(|i| i * 7 % STEPS).collect();
    for batch in sent.chunks(4_000) {
        let steps: Vec<Value> = batch.iter().map(|&n| step("long", n)).collect();
        assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.1["accepted"], 4_000);
    }
    assert_eq!(s.send_json(Method::POST, ADMIN_KEY, "/v1/integrity/checkpoints", json!(null)).await.0, StatusCode::CREATED);
    // A reader's bundle lists no reads, so two of them are alike.
    let reader = s.create_key("default", &["read"]).await;
    let resp = s.http.get(format!("{}/v1/sessions/long/evidence", s.base)).bearer_auth(&reader).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let length = resp.content_length();
    let bundle = resp.bytes().await.unwrap().to_vec();
    assert_eq!(length, Some(bundle.len() as u64), "the answer says how long the file is");
    let parsed: Value = serde_json::from_slice(&bundle).unwrap();
    let listed = |b: &Value, field: &str| -> Vec<u64> {
        b["steps"].as_array().unwrap().iter().map(|x| x[field].as_u64().unwrap()).collect()
    };
    assert_eq!(listed(&parsed, "step"), sent, "in the order the steps were sent, which is the chain's");
    assert_eq!(listed(&parsed, "session_seq"), (0..STEPS).collect::<Vec<_>>());
    let (_, key) = s.get(ADMIN_KEY, "/v1/integrity/public-key").await;
    let key = key["public_key"].as_str().unwrap().to_string();
    let files = tempfile::tempdir().unwrap();
    let check = |path: &Path| {
        let out = Command::new(binary()).arg("verify-bundle").arg(path).args(["--public-key", &key]).output().unwrap();
        (out.status.success(), serde_json::from_slice::<Value>(&out.stdout).unwrap())
    };
    let downloaded = files.path().join("long.json");
    let out = Command::new(binary())
        .args(["evidence", "--session", "long", "-o"])
        .arg(&downloaded)
        .env("FLIGHTLOG_URL", &s.base)
        .env("FLIGHTLOG_KEY", &reader)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read(&downloaded).unwrap() == bundle, "the command writes the file the server answers");
    let (ok, report) = check(&downloaded);
    assert!(ok, "{report:#}");
    assert_eq!((report["sealed"].as_u64(), report["status"].as_str()), (Some(STEPS), Some("verified")));
    let (status, _) = s.terminate();
    assert!(status.success());

    // An exact copy of the row at the end of the first page, and copies of
    // step 7 (chain place 1) filed in the second page and after the last
    // row.
    sql(dir.path(), "INSERT INTO steps SELECT * FROM steps WHERE session_id = 'long' AND session_seq = 4999");
    for (seq, index) in [(6000, 100_000), (STEPS, 100_001)] {
        sql(dir.path(), &format!("INSERT INTO steps SELECT * REPLACE ({seq} AS session_seq, {index} AS log_index) \
                                  FROM (SELECT * FROM steps WHERE session_id = 'long' AND step = 7 AND session_seq = 1)"));
    }
    let s = Server::start_in(dir.path(), &ENV).await;
    let resp = s.http.get(format!("{}/v1/sessions/long/evidence", s.base)).bearer_auth(&reader).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let file = resp.bytes().await.unwrap();
    let tampered: Value = serde_json::from_slice(&file).unwrap();
    let expected: Vec<u64> = (0..5000).chain([4999]).chain(5000..=6000).chain([6000]).chain(6001..=STEPS).collect();
    assert_eq!(listed(&tampered, "session_seq"), expected, "every row once, in the chain's order");
    assert_eq!(listed(&tampered, "step").iter().filter(|&&n| n == 7).count(), 3);
    std::fs::write(&downloaded, &file).unwrap();
    let (ok, report) = check(&downloaded);
    assert!(!ok && report["status"] == "failed", "{report:#}");
}

/// A session longer than `verify --all` holds at once (20,000 rows) is
/// checked apart, a page at a time in its chain's order, and the pages of
/// the whole table skip the rest of it (34,000 rows: more than the page
/// already read ahead) and go on after it: whole, it and the sessions
/// before and after it verify, every step counted once; with a step
/// rewritten in the part skipped, one deleted early, and a step of the
/// session after it deleted, each is named, and nothing else, by the
/// whole verification and by the session's own.
#[tokio::test]
async fn a_session_longer_than_verification_holds_is_checked_in_pages() {
    const STEPS: u64 = 34_000;
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &ENV).await;
    let long_step = |n: u64| json!({"session_id": "long", "step": n, "timestamp": "2026-01-15T10:30:00Z",
                                    "agent_thoughts": {"reasoning": format!("reasoning {n}")}});
    // Out of number order, so that the chain's order is not the table's.
    let sent: Vec<u64> = (0..STEPS).map(|i| i * 7 % STEPS).collect();
    for batch in sent.chunks(5_000) {
        let mut steps: Vec<Value> = batch.iter().map(|&n| long_step(n)).collect();
        steps.extend((0..3).map(|n| step("then", batch[0] + n)));
        assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.1["accepted"], batch.len() + 3);
    }
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&(0..5).map(|n| step("before", n)).collect::<Vec<_>>()), &[]).await.1["accepted"], 5);
    assert_eq!(s.send_json(Method::POST, ADMIN_KEY, "/v1/integrity/checkpoints", json!(null)).await.0, StatusCode::CREATED);
    let (status, all) = s.get(ADMIN_KEY, "/v1/integrity/verify").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((all["status"].as_str(), all["steps_checked"].as_u64()), (Some("verified"), Some(STEPS + 26)), "{all:#}");
    let (status, _) = s.terminate();
    assert!(status.success());

    sql(dir.path(), "ALTER TABLE steps UPDATE reasoning = 'forged' WHERE session_id = 'long' AND step = 33000 SETTINGS mutations_sync = 2");
    sql(dir.path(), "ALTER TABLE steps DELETE WHERE session_id = 'long' AND step = 3 SETTINGS mutations_sync = 2");
    sql(dir.path(), "ALTER TABLE steps DELETE WHERE session_id = 'then' AND step = 1 SETTINGS mutations_sync = 2");
    let s = Server::start_in(dir.path(), &ENV).await;
    let (status, all) = s.get(ADMIN_KEY, "/v1/integrity/verify").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((all["status"].as_str(), all["steps_checked"].as_u64()), (Some("failed"), Some(STEPS + 24)), "{all:#}");
    let named: Vec<(String, String, u64)> = all["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["kind"].as_str().unwrap().to_string(), p["session_id"].as_str().unwrap_or("").to_string(), p["step"].as_u64().unwrap_or(u64::MAX)))
        .collect();
    let mut wanted = vec![("modified", "long", 33000), ("deleted", "long", 3), ("missing_in_session", "long", 10)];
    wanted.extend([("deleted", "then", 1), ("missing_in_session", "then", 2), ("chain_broken", "long", 10), ("chain_broken", "then", 2)]);
    let mut wanted: Vec<(String, String, u64)> = wanted.into_iter().map(|(k, s, n)| (k.into(), s.into(), n)).collect();
    let mut named = named;
    wanted.sort();
    named.sort();
    assert_eq!(named, wanted, "those problems and no others: {all:#}");
    let own = verify(&s, "long").await;
    assert_eq!((own["status"].as_str(), own["steps_checked"].as_u64()), (Some("failed"), Some(STEPS - 1)), "{own:#}");
    let problems = problems(&own);
    for wanted in [("modified", 33000), ("deleted", 3), ("missing_in_session", 10)] {
        assert!(problems.contains(&(wanted.0.to_string(), Some(wanted.1))), "{wanted:?} in {problems:?}");
    }
}

#[tokio::test]
async fn erasure_removes_personal_content_and_keeps_every_proof_valid() {
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    let s = Server::start_in(dir.path(), &ENV).await;
    let out = Command::new(binary())
        .args(["erase", "--session", "victim"])
        .env("FLIGHTLOG_URL", &s.base)
        .env("FLIGHTLOG_KEY", ADMIN_KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((done["steps_erased"].as_u64(), done["fields_erased"].as_u64()), (Some(8), Some(32)), "{done}");

    let stored = s.all_steps(ADMIN_KEY, "victim", 100).await;
    let text = serde_json::to_string(&stored).unwrap();
    assert!(!text.contains("completion 3") && !text.contains("be careful"), "the content is gone");
    assert_eq!(stored[3]["data"]["prompt"]["completion"], Value::Null);
    assert_eq!(stored[3]["data"]["agent_thoughts"]["reasoning"], "original reasoning 3", "only personal content goes");

    let report = verify(&s, "victim").await;
    assert_eq!(report["status"], "verified", "{report:#}");
    let erased: Vec<&str> = report["erased"].as_array().unwrap().iter().filter(|e| e["step"] == 3).map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(erased.len(), 4, "{report:#}");
    assert!(erased.contains(&r#"["prompt","completion"]"#));

    // The bundle of an erased session still verifies offline.
    let bundle = s.http.get(format!("{}/v1/sessions/victim/evidence", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap().bytes().await.unwrap();
    let path = dir.path().join("erased-bundle.json");
    std::fs::write(&path, &bundle).unwrap();
    let out = Command::new(binary()).arg("verify-bundle").arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));

    // The agent retrying the original step is recognised, not refused.
    let (status, again) = s.post_steps(ADMIN_KEY, victim_step(3).to_string(), &[]).await;
    assert_eq!((status, again["duplicates"].as_u64()), (StatusCode::OK, Some(1)), "{again}");
    let (status, _) = s.send_json(Method::POST, ADMIN_KEY, "/v1/erasures", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A misspelled field would erase less than was asked: refused, named.
    let (status, refused) = s.send_json(Method::POST, ADMIN_KEY, "/v1/erasures", json!({"session_id": "s1", "userid": "jane"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(refused.to_string().contains("userid"), "{refused}");
}

/// Copies of an early step, inserted behind Flightlog's back, fill the
/// decision page's read of the steps before a later one: that step is still
/// found and shown (its page reads it on its own), not answered "no step".
#[tokio::test]
async fn repeated_rows_of_an_early_step_do_not_hide_a_later_decision() {
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    for _ in 0..4 {
        sql(dir.path(), "INSERT INTO steps SELECT * FROM steps WHERE session_id = 'victim' AND step = 1");
    }
    let s = Server::start_in(dir.path(), &ENV).await;
    let (status, page) = s.page(ADMIN_KEY, "/sessions/victim/steps/7").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("original reasoning 7"), "{page}");
}

/// A session's last step removed from both the steps and the log of
/// record, far from its other entries: its chain stays whole and its other
/// entries still prove from the stored nodes, but the log has lost a
/// position the checkpoint covers, so the session is not reported verified.
#[tokio::test]
async fn a_sessions_last_step_removed_from_both_tables_is_not_verified() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &ENV).await;
    // tail: log positions 0-3 and 20; filler: 4-19 and 21-39.
    let mut steps: Vec<Value> = (0..4).map(|n| step("tail", n)).collect();
    steps.extend((0..16).map(|n| step("filler", n)));
    steps.push(step("tail", 4));
    steps.extend((16..35).map(|n| step("filler", n)));
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.1["accepted"], 40);
    assert_eq!(s.send_json(Method::POST, ADMIN_KEY, "/v1/integrity/checkpoints", json!(null)).await.0, StatusCode::CREATED);
    assert_eq!(verify(&s, "tail").await["status"], "verified");
    let (status, _) = s.terminate();
    assert!(status.success());
    sql(dir.path(), "ALTER TABLE steps DELETE WHERE session_id = 'tail' AND step = 4 SETTINGS mutations_sync = 2");
    sql(dir.path(), "ALTER TABLE log_entries DELETE WHERE log_index = 20 SETTINGS mutations_sync = 2");
    let s = Server::start_in(dir.path(), &ENV).await;
    let r = verify(&s, "tail").await;
    assert_ne!(r["status"], "verified", "{r:#}");
    assert!(r["log_problems"].to_string().contains("log_gap"), "{r:#}");
}

/// A step nested as deep as ingestion takes has a bundle that verifies
/// offline. It sits two levels deeper in the bundle (the list of steps,
/// `content`), past serde_json's limit of 128: such a genuine bundle read
/// as "not JSON" while the server called the session verified.
#[tokio::test]
async fn a_step_nested_as_deep_as_ingestion_takes_has_a_bundle_that_verifies_offline() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)]).await;
    let nested = |levels: usize| (0..levels).fold(json!("bottom"), |v, _| json!([v]));
    // The deepest metadata ingestion takes, found by asking.
    let mut deepest = None;
    for levels in (100..=140).rev() {
        let mut v = step("deep", 0);
        v["metadata"] = json!({"m": nested(levels)});
        let (status, answer) = s.post_steps(ADMIN_KEY, v.to_string(), &[]).await;
        if status == StatusCode::OK && answer["accepted"] == 1 {
            deepest = Some(levels);
            break;
        }
    }
    let deepest = deepest.expect("some depth is taken");
    assert!(deepest >= 120, "ingestion takes {deepest} levels");
    assert_eq!(seal(&s).await.0, StatusCode::CREATED);
    assert_eq!(verify(&s, "deep").await["status"], "verified");
    let resp = s.http.get(format!("{}/v1/sessions/deep/evidence", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    let path = dir.path().join("deep-bundle.json");
    std::fs::write(&path, resp.bytes().await.unwrap()).unwrap();
    let out = Command::new(binary()).arg("verify-bundle").arg(&path).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success() && report["status"] == "verified", "{deepest} levels: {report:#}");
}

/// A checkpoint consistent with the log but signed with another key than
/// the instance's (a replica with a key of its own, or anyone who can
/// write to the store) seals nothing: the steps past the instance's own
/// checkpoint read as not yet sealed, where the whole log read verified.
#[tokio::test]
async fn a_consistent_checkpoint_under_another_key_does_not_make_the_log_verified() {
    use ed25519_dalek::Signer as _;
    let dir = tempfile::tempdir().unwrap();
    recorded_instance(dir.path()).await;
    let s = Server::start_in(dir.path(), &ENV).await;
    assert_eq!(s.post_steps(ADMIN_KEY, step("later", 0).to_string(), &[]).await.1["accepted"], 1);
    assert_eq!(verify_all(&s).await["status"], "intact_not_yet_sealed", "a step past the checkpoint");
    drop(s);

    let out = flightlog_sql(dir.path(), "SELECT lower(hex(step_hash)) FROM log_entries ORDER BY log_index FORMAT TSV");
    let leaves: Vec<_> = String::from_utf8_lossy(&out.stdout).lines().map(|h| leaf_hash(&hash_from_hex(h).unwrap())).collect();
    let other = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let (size, root_hex, created) = (leaves.len(), hex::encode(root(&leaves)), 1_800_000_000_000_000i64);
    let signature = other.sign(format!("flightlog/checkpoint/v1\n{size}\n{root_hex}\n{created}\n").as_bytes());
    sql(dir.path(), &format!("INSERT INTO checkpoints VALUES ({size}, unhex('{root_hex}'), {created}, '{}', '{}')",
                             hex::encode(other.verifying_key().to_bytes()), hex::encode(signature.to_bytes())));

    let s = Server::start_in(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), ("FLIGHTLOG_CHECKPOINT_INTERVAL", "3600")]).await;
    let report = verify_all(&s).await;
    assert_eq!(report["status"], "intact_not_yet_sealed", "{report:#}");
    assert_eq!(report["problems"].as_array().map(Vec::len), Some(0), "{report:#}");
}

async fn verify_all(s: &Server) -> Value {
    let (status, report) = s.get(ADMIN_KEY, "/v1/integrity/verify").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    report
}

/// `flightlog serve` with `args`, which must refuse to start: what it said
/// (killed after 60 s if it served instead).
/// Run in `cwd`.
fn serve_refused(data_dir: &Path, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new("timeout")
        .arg("60")
        .arg(binary())
        .args(["serve", "--data-dir", data_dir.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .env("FLIGHTLOG_NO_SEARCH", "true")
        .current_dir(cwd)
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success() && out.status.code() != Some(124), "serve should have refused to start: {said}");
    said
}

/// `--signing-key` takes a file's path. Given the key itself, or a path
/// with no file for a store whose checkpoints another key signed (a typo,
/// a secret not mounted), the server refuses to start, rather than signing
/// and deriving pseudonyms with a key of its own, and leaves no new file.
#[tokio::test]
async fn a_signing_key_given_wrong_is_refused_at_start() {
    if server_mode() {
        eprintln!("skipped in server mode: the refusal is the same on both backends, and this test starts serve on the embedded store");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let said = serve_refused(dir.path(), cwd.path(), &["--signing-key", &"11".repeat(32)], &ENV);
    assert!(said.contains("takes the path of a file that holds the key"), "{said}");
    assert!(std::fs::read_dir(cwd.path()).unwrap().next().is_none(), "no file named after the key is written");

    // A store with a checkpoint signed by the data folder's own key.
    let mut s = Server::start_in(dir.path(), &ENV).await;
    assert_eq!(s.post_steps(ADMIN_KEY, step("signed", 0).to_string(), &[]).await.1["accepted"], 1);
    assert_eq!(s.send_json(Method::POST, ADMIN_KEY, "/v1/integrity/checkpoints", json!(null)).await.0, StatusCode::CREATED);
    s.kill9();
    let typo = cwd.path().join("secrets/signing.kye");
    let said = serve_refused(dir.path(), cwd.path(), &[], &[ENV[0], ("FLIGHTLOG_SIGNING_KEY_FILE", typo.to_str().unwrap())]);
    assert!(said.contains("this store's checkpoints are signed by key"), "{said}");
    assert!(!typo.exists(), "the key generated at the wrong path is removed again");
    // Its own key still starts it, and the record verifies.
    let s = Server::start_in(dir.path(), &ENV).await;
    assert_eq!(verify_all(&s).await["status"], "verified");
}

/// The checkpoints deleted from the database: the instance, which keeps a
/// mark of the newest one it signed outside the database, refuses to sign
/// over the log again, and verification says so (the API's and the offline
/// verifier's of the whole log fail; a session's lists it with the log's
/// problems), where they reported nothing wrong, only steps not yet sealed.
#[tokio::test]
async fn deleted_checkpoints_fail_verification() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &ENV).await;
    assert_eq!(s.post_steps(ADMIN_KEY, step("sealed", 0).to_string(), &[]).await.1["accepted"], 1);
    assert_eq!(s.send_json(Method::POST, ADMIN_KEY, "/v1/integrity/checkpoints", json!(null)).await.0, StatusCode::CREATED);
    s.terminate();
    let out = flightlog_sql(dir.path(), "ALTER TABLE checkpoints DELETE WHERE 1 SETTINGS mutations_sync = 2");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let s = Server::start_in(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), ("FLIGHTLOG_CHECKPOINT_INTERVAL", "3600")]).await;
    let kinds = |report: &Value| report["problems"].as_array().unwrap().iter().map(|p| p["kind"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let report = verify_all(&s).await;
    assert_eq!((report["status"].as_str(), kinds(&report)), (Some("failed"), vec!["checkpoint_deleted".to_string()]), "{report:#}");
    // A session's steps are still proven; the log's problem is listed
    // beside, as every problem of the log elsewhere is.
    let (_, session) = s.get(ADMIN_KEY, "/v1/sessions/sealed/verify").await;
    assert!(session["log_problems"].to_string().contains("checkpoint_deleted"), "{session:#}");
    drop(s);
    let out = Command::new(binary()).args(["verify", "--all", "--data-dir"]).arg(dir.path()).envs(store_env(dir.path())).output().unwrap();
    let offline: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert!(!out.status.success(), "{offline:#}");
    assert_eq!((offline["status"].as_str(), kinds(&offline)), (Some("failed"), vec!["checkpoint_deleted".to_string()]), "{offline:#}");
}
