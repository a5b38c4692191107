//! The Merkle log's interior nodes are stored as checkpoints are signed,
//! and proofs are made from them instead of the whole log: the evidence
//! bundle and the consistency proof are byte for byte those made from every
//! leaf, a forged node is caught by the bundle's offline check (the nodes
//! are a cache, not evidence), and without the nodes proofs still come,
//! from the whole log.

use flightlog_model::merkle::{hash_from_hex, verify_consistency};
use flightlog_tests::*;
use reqwest::Method;
use std::path::Path;
use std::process::Command;

const ENV: [(&str, &str); 1] = [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)];
/// Steps per batch, each batch then sealed: 3 checkpoints, 300 leaves.
const BATCH: u64 = 100;

fn sql(dir: &Path, statement: &str) -> String {
    let out = flightlog_sql(dir, statement);
    assert!(out.status.success(), "{statement}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The session's bundle and the consistency proof 100 → 300, as served.
async fn proofs(s: &Server) -> (Vec<u8>, Value) {
    let resp = s.http.get(format!("{}/v1/sessions/s3/evidence", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bundle = resp.bytes().await.unwrap().to_vec();
    let (status, consistency) = s.get(ADMIN_KEY, "/v1/integrity/consistency?from=100&to=300").await;
    assert_eq!(status, StatusCode::OK, "{consistency}");
    (bundle, consistency["proof"].clone())
}

fn bundle_verifies(bundle: &[u8]) -> (bool, Value) {
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("bundle.json");
    std::fs::write(&path, bundle).unwrap();
    let out = Command::new(binary()).arg("verify-bundle").arg(&path).output().unwrap();
    (out.status.success(), serde_json::from_slice(&out.stdout).unwrap())
}

#[tokio::test]
async fn proofs_come_from_stored_nodes_and_are_those_of_the_whole_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &ENV).await;
    for batch in 0..3 {
        let steps: Vec<Value> = (0..BATCH).map(|i| step(&format!("s{}", i % 7), batch * BATCH + i)).collect();
        assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.1["accepted"], BATCH);
        let (status, _) = s.send_json(Method::POST, ADMIN_KEY, "/v1/integrity/checkpoints", json!(null)).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (from_nodes, consistency) = proofs(&s).await;
    let (_, cps) = s.get(ADMIN_KEY, "/v1/integrity/checkpoints").await;
    s.terminate();

    // 300 leaves: 18 whole blocks of 16 at height 4, one of 256 at height
    // 8, stored over three seals that each went on from the last.
    assert_eq!(sql(dir.path(), "SELECT height, count() AS n FROM merkle_nodes GROUP BY height ORDER BY height").trim(),
               "{\"height\":4,\"n\":18}\n{\"height\":8,\"n\":1}");
    let (ok, report) = bundle_verifies(&from_nodes);
    assert!(ok, "{report:#}");
    // s3 holds the steps i % 7 == 3 of each batch of 100: 14 a batch.
    assert_eq!(report["sealed"], 42, "{report:#}");
    let hash = |v: &Value| hash_from_hex(v.as_str().unwrap()).unwrap();
    let roots: Vec<[u8; 32]> = cps["checkpoints"].as_array().unwrap().iter().map(|c| hash(&c["root_hash"])).collect();
    let proof: Vec<[u8; 32]> = consistency.as_array().unwrap().iter().map(hash).collect();
    assert!(verify_consistency(100, 300, &roots[0], &roots[2], &proof));

    // A forged node: the bundle made from it fails its offline check.
    sql(dir.path(), "ALTER TABLE merkle_nodes UPDATE hash = unhex(repeat('00', 32)) WHERE height = 4 AND idx = 2 SETTINGS mutations_sync = 2");
    let s = Server::start_in(dir.path(), &ENV).await;
    let (forged, _) = proofs(&s).await;
    drop(s);
    let (ok, report) = bundle_verifies(&forged);
    assert!(!ok && report["status"] == "failed", "a forged node must be caught: {report:#}");

    // No nodes at all (an instance that has not sealed since its upgrade):
    // the proofs come from every leaf, and are the same bytes.
    sql(dir.path(), "TRUNCATE TABLE merkle_nodes");
    let s = Server::start_in(dir.path(), &ENV).await;
    let (from_leaves, consistency_from_leaves) = proofs(&s).await;
    // The same steps, proofs and checkpoint (the admin's bundle also lists
    // its own earlier reads, which grew meanwhile).
    let proven = |bundle: &[u8]| -> (Value, Value) {
        let v: Value = serde_json::from_slice(bundle).unwrap();
        (v["steps"].clone(), v["checkpoint"].clone())
    };
    assert!(proven(&from_leaves) == proven(&from_nodes), "the proofs from every leaf differ from those from the nodes");
    assert!(bundle_verifies(&from_leaves).0);
    assert_eq!(consistency_from_leaves, consistency);
}
