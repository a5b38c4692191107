//! A full disk, for real: the data folder lives on a small tmpfs this test
//! mounts, a ballast file fills it to a chosen headroom, and steps are sent
//! until storage refuses them. While the disk is full nothing may be
//! acknowledged that is not in the log, and /healthz says so; once space is
//! freed the writer resumes by itself, re-sent batches and new steps are
//! stored exactly once, and the whole record verifies, also after a restart.
//! The guard knows every stored side effect, including those of a commit
//! that failed after its steps reached disk.
//!
//! Mounting needs root (CI runs as root); elsewhere the test says it is
//! skipped.

use flightlog_model::time::{format_timestamp, now_us};
use flightlog_tests::*;
use reqwest::Method;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const ENV: [(&str, &str); 1] = [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)];

/// A tmpfs mounted for the test's lifetime.
struct SmallDisk {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(megabytes: u64) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Self { path, _dir: dir })
    }

    fn free_bytes(&self) -> u64 {
        let st = nix::sys::statvfs::statvfs(&self.path).expect("statvfs");
        st.blocks_available() as u64 * st.fragment_size() as u64
    }

    /// Writes a ballast file so that about `headroom` bytes stay free.
    fn fill_leaving(&self, headroom: u64) -> PathBuf {
        let ballast = self.path.join("ballast");
        let mut f = std::fs::File::create(&ballast).unwrap();
        let chunk = vec![0u8; 256 << 10];
        while self.free_bytes() > headroom + chunk.len() as u64 {
            if f.write_all(&chunk).is_err() {
                break;
            }
        }
        f.sync_all().ok();
        ballast
    }

    /// Grows the ballast until the file system has no byte left. Not used
    /// by the test: filling the last bytes while a background merge writes
    /// made chDB 26.7.3 commit a merged part with an empty marks file (1 run
    /// in 4), after which every read of `steps` fails with CORRUPTED_DATA;
    /// the writer then stays degraded, naming it. Kept for reproducing that.
    #[allow(dead_code)]
    fn top_up(&self, ballast: &PathBuf) {
        let mut f = std::fs::OpenOptions::new().append(true).open(ballast).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() && self.free_bytes() > 0 {}
        let _ = f.write_all(&[0u8; 1]);
        f.sync_all().ok();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// A step of about 1.3 KB that sent an email (a side effect the guard
/// remembers), now.
fn big_step(session: &str, n: u64) -> Value {
    json!({"session_id": session, "step": n, "timestamp": format_timestamp(now_us()),
           "agent": {"name": "filler"},
           "agent_thoughts": {"reasoning": format!("step {n} {}", "reasoning text ".repeat(60)), "chosen_tool": "send_email"},
           "tool_execution": {"name": "send_email", "params": {"session": session, "n": n}, "result": {"text": "x".repeat(300)}, "status": "ok"}})
}

/// Asks the guard about sending each email of `batch` again: every one
/// was stored, so every one must be denied as already done.
async fn assert_denied_again(s: &Server, batch: &[Value]) {
    for step in batch {
        let question = json!({"session_id": "another", "agent": "filler", "tool": "send_email",
                              "params": step["tool_execution"]["params"]});
        let (status, answer) = s.send_json(Method::POST, ADMIN_KEY, "/v1/guard", question).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["reason"], "already_done", "step {} of {} is stored, yet the guard does not know it was done: {answer}",
                   step["step"], step["session_id"]);
    }
}

struct Ledger {
    /// (session, step) acknowledged with 200.
    acknowledged: BTreeSet<(String, u64)>,
    /// Batches answered with anything but 200: to be sent again.
    refused: Vec<Vec<Value>>,
}

/// Sends batches of `session`, three at a time from three clients (so the
/// disk runs out while several requests wait on one group commit), until
/// three rounds in a row had a batch refused (or `max_rounds` were sent);
/// returns how many batches were refused.
async fn ingest_until_refused(s: &Server, ledger: &mut Ledger, session: &str, start: u64, max_rounds: u64) -> u64 {
    let mut in_a_row = 0;
    let mut refused = 0;
    for r in 0..max_rounds {
        let batch = |c: u64| -> Vec<Value> { (0..100).map(|i| big_step(session, start + r * 300 + c * 100 + i)).collect() };
        let batches = [batch(0), batch(1), batch(2)];
        let (a, b, c) = tokio::join!(
            s.post_steps(ADMIN_KEY, ndjson(&batches[0]), &[]),
            s.post_steps(ADMIN_KEY, ndjson(&batches[1]), &[]),
            s.post_steps(ADMIN_KEY, ndjson(&batches[2]), &[])
        );
        let mut any_refused = false;
        for ((status, body), batch) in [a, b, c].into_iter().zip(batches) {
            if status == StatusCode::OK {
                assert_eq!(body["rejected"], json!([]), "{body}");
                for v in &batch {
                    ledger.acknowledged.insert((session.to_string(), v["step"].as_u64().unwrap()));
                }
            } else {
                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "a full disk is a 503, nothing else: {body}");
                ledger.refused.push(batch);
                refused += 1;
                any_refused = true;
            }
        }
        in_a_row = if any_refused { in_a_row + 1 } else { 0 };
        if in_a_row >= 3 {
            break;
        }
    }
    refused
}

async fn wait_until(s: &Server, status: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let h = s.health().await;
        if h["status"] == status {
            return h;
        }
        assert!(Instant::now() < deadline, "/healthz never became {status}: {h}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every acknowledged step is stored exactly once, and the whole record
/// (every step, the log of record, every checkpoint) verifies.
async fn assert_whole_and_verified(s: &Server, ledger: &Ledger, sessions: &[String]) {
    let mut stored = BTreeSet::new();
    for session in sessions {
        for step in s.all_steps(ADMIN_KEY, session, 1000).await {
            let n = step["step"].as_u64().unwrap();
            assert!(stored.insert((session.clone(), n)), "step {n} of {session} is stored twice");
        }
    }
    let missing: Vec<_> = ledger.acknowledged.difference(&stored).collect();
    assert!(missing.is_empty(), "acknowledged but not stored: {missing:?}");
    // 201 signs a new checkpoint; 200 says the last one already covers all.
    let (status, body) = s.send_json(Method::POST, ADMIN_KEY, "/v1/integrity/checkpoints", json!(null)).await;
    assert!(status == StatusCode::CREATED || status == StatusCode::OK, "{status} {body}");
    let (status, report) = s.get(ADMIN_KEY, "/v1/integrity/verify").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["status"], "verified", "{report:#}");
    assert_eq!(report["steps_checked"].as_u64(), Some(stored.len() as u64), "{report:#}");
}

#[tokio::test]
async fn a_full_disk_refuses_steps_cleanly_and_the_record_still_verifies_after_space_returns() {
    if real_clickhouse().is_some() {
        eprintln!("SKIPPED: the store is a real ClickHouse server, whose disk this test cannot fill");
        return;
    }
    // In server mode the fixture keeps its data in the data folder too, so
    // the small disk fills under the ClickHouse server.
    let Some(disk) = SmallDisk::mount(96) else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root); the full-disk test did not run");
        return;
    };
    let data = disk.path.join("data");
    let mut s = Server::start_in(&data, &ENV).await;
    let mut ledger = Ledger { acknowledged: BTreeSet::new(), refused: Vec::new() };
    let mut sessions = Vec::new();
    let mut stored_by_a_failed_commit = 0;

    // Several fill points: the disk runs out at a different moment of the
    // write path each time (steps part, log part, summaries, merges).
    for (round, headroom_kib) in [256u64, 1024, 3072].into_iter().enumerate() {
        let session = format!("round-{round}");
        sessions.push(session.clone());
        let ballast = disk.fill_leaving(headroom_kib << 10);
        eprintln!("round {round}: {} KiB free", disk.free_bytes() >> 10);
        let refused = ingest_until_refused(&s, &mut ledger, &session, 0, 200).await;
        assert!(refused > 0, "round {round}: the disk never filled ({} KiB free)", disk.free_bytes() >> 10);
        let (status, body) = s.post_steps(ADMIN_KEY, ndjson(&[big_step(&session, 1_000_000)]), &[]).await;
        if headroom_kib < 1024 {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "nothing is acknowledged while nothing fits: {body}");
        } else if status == StatusCode::OK {
            // With more room than a write reserves, one small step may fit
            // once the writer's probe has: acknowledged, so it must be kept.
            assert_eq!(body["accepted"], 1, "{body}");
            ledger.acknowledged.insert((session.clone(), 1_000_000));
        } else {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "a full disk is a 503, nothing else: {body}");
        }
        if headroom_kib < 1024 {
            // Less room than any write reserves (ClickHouse reserves at
            // least 1 MiB), so the writer's recovery probe fails too:
            // /healthz must say degraded, and keep saying it (reads alone
            // do not make the writer healthy). With more room, a probe may
            // fit where a group commit with its views did not, and the
            // writer rightly goes back to trying. Not filled to the last
            // byte on purpose: see `top_up`.
            for _ in 0..5 {
                let h = s.health().await;
                assert_eq!(h["status"], "degraded", "round {round}: writes fail, so /healthz must say so: {h}");
                assert!(h["reason"].as_str().is_some_and(|r| !r.is_empty()), "{h}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }

        // Space comes back: the writer resumes by itself.
        std::fs::remove_file(&ballast).unwrap();
        eprintln!("round {round}: ballast removed, {} KiB free", disk.free_bytes() >> 10);
        wait_until(&s, "ok", Duration::from_secs(60)).await;
        for batch in std::mem::take(&mut ledger.refused) {
            let (status, body) = s.post_steps(ADMIN_KEY, ndjson(&batch), &[]).await;
            assert_eq!(status, StatusCode::OK, "round {round}: a re-sent batch: {body}");
            assert_eq!(body["rejected"], json!([]), "{body}");
            let stored = body["accepted"].as_u64().unwrap() + body["duplicates"].as_u64().unwrap();
            assert_eq!(stored, batch.len() as u64, "{body}");
            // Duplicates: steps a refused commit stored after all.
            stored_by_a_failed_commit += body["duplicates"].as_u64().unwrap();
            assert_denied_again(&s, &batch).await;
            for v in &batch {
                ledger.acknowledged.insert((session.clone(), v["step"].as_u64().unwrap()));
            }
        }
        let fresh: Vec<Value> = (0..10).map(|i| big_step(&format!("after-{round}"), i)).collect();
        let (status, body) = s.post_steps(ADMIN_KEY, ndjson(&fresh), &[]).await;
        assert_eq!((status, body["accepted"].as_u64()), (StatusCode::OK, Some(10)), "{body}");
        for i in 0..10 {
            ledger.acknowledged.insert((format!("after-{round}"), i));
        }
        sessions.push(format!("after-{round}"));
        assert_whole_and_verified(&s, &ledger, &sessions).await;
    }

    eprintln!("steps stored by commits that failed, found again as duplicates: {stored_by_a_failed_commit}");
    assert!(stored_by_a_failed_commit > 0, "no failed commit stored any of its steps: the guard's case was not reached");

    // And after a restart, from disk alone.
    s.kill9();
    let s = Server::start_in(&data, &ENV).await;
    assert_whole_and_verified(&s, &ledger, &sessions).await;
    // The server (SIGKILLed on drop) goes before the disk is unmounted.
    drop(s);
}

/// An evidence bundle larger than the room its temporary file has
/// (`TMPDIR` on a 1 MB tmpfs) is refused with a 503 that says so, not cut
/// off in a 200; the file it left is gone, so a smaller bundle is then
/// written in the same room.
#[tokio::test]
async fn a_bundle_with_no_room_for_its_file_is_refused_whole() {
    let Some(disk) = SmallDisk::mount(1) else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root); the bundle's full-disk test did not run");
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let tmp = disk.path.to_str().unwrap().to_string();
    let s = Server::start_in(data.path(), &[ENV[0], ("TMPDIR", &tmp)]).await;
    let steps: Vec<Value> = (0..1_000).map(|n| big_step("big", n)).collect();
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.1["accepted"], 1_000);
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&[step("small", 0)]), &[]).await.1["accepted"], 1);
    for round in 0..2 {
        let (status, refused) = s.get(ADMIN_KEY, "/v1/sessions/big/evidence").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "round {round}: {refused}");
        assert!(refused.to_string().contains("cannot write the evidence bundle"), "{refused}");
        let resp = s.http.get(format!("{}/v1/sessions/small/evidence", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let bundle: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
        assert_eq!(bundle["steps"].as_array().map(Vec::len), Some(1));
    }
    assert!(disk.free_bytes() > 900 << 10, "no temporary file is left behind");
}
