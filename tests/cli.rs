//! The command line against a real server: import (NDJSON and CSV, with
//! re-runs), demo piped into import, and key management.

use flightlog_tests::*;
use std::process::Command;

fn flightlog(server: &Server, key: &str, args: &[&str]) -> std::process::Output {
    Command::new(binary())
        .args(args)
        .env("FLIGHTLOG_URL", &server.base)
        .env("FLIGHTLOG_KEY", key)
        .env("FLIGHTLOG_LOG", "warn")
        .output()
        .expect("run flightlog")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn import_of_ndjson_is_idempotent_on_rerun() {
    let s = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("steps.ndjson");
    let lines = ndjson(&(0..2500).map(|n| step(&format!("imp-{}", n / 500), n % 500)).collect::<Vec<_>>());
    std::fs::write(&file, lines + "\n\n").unwrap();

    let first = flightlog(&s, ADMIN_KEY, &["import", file.to_str().unwrap()]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(stdout(&first).contains("2500 accepted, 0 already stored, 0 rejected"), "{}", stdout(&first));
    let again = flightlog(&s, ADMIN_KEY, &["import", file.to_str().unwrap()]);
    assert!(stdout(&again).contains("0 accepted, 2500 already stored, 0 rejected"), "{}", stdout(&again));
    assert_eq!(s.all_steps(ADMIN_KEY, "imp-3", 1000).await.len(), 500);
}

/// One bad record never stops an import: a line that is not UTF-8, a line
/// larger than a request may be, a CSV cell that does not parse are each
/// reported by their line, and every other record is sent. Before, each
/// ended the import there, without a summary (the steps already sent were
/// stored all the same), and a file of large valid records failed whole
/// (batches of 1,000 over the server's 32 MiB).
#[tokio::test]
async fn an_import_reports_each_bad_record_by_its_line_and_sends_the_rest() {
    let s = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mixed.ndjson");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    let big = "x".repeat(60_000);
    for n in 0..1200u64 {
        let line = match n {
            500 => b"{\"session_id\":\"mixed\",\"step\":500,\"note\":\"\xff\xfe\"}".to_vec(),
            // Opening a batch (the second, at the default 1,000): the server
            // would have read the whole batch as one JSON array.
            1000 => b"[1, 2]".to_vec(),
            700 => format!("{{\"session_id\":\"mixed\",\"step\":700,\"pad\":\"{}\"}}", "y".repeat(40 << 20)).into_bytes(),
            _ => {
                let mut v = step("mixed", n);
                v["metadata"] = json!({"pad": big});
                v.to_string().into_bytes()
            }
        };
        bytes.extend_from_slice(&line);
        bytes.extend_from_slice(b"\r\n");
    }
    std::fs::write(&file, &bytes).unwrap();
    let out = flightlog(&s, ADMIN_KEY, &["import", file.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(!out.status.success(), "rejected lines make the import fail: {text}");
    assert!(text.contains("1197 accepted, 0 already stored, 3 rejected"), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("line 1001: (record) is not a JSON object"), "{text}");
    assert!(text.contains("line 501: (record) is not valid JSON"), "the file's line, not the request's: {text}");
    assert!(text.contains("line 701: the record is too large to send"), "{text}");
    assert_eq!(s.all_steps(ADMIN_KEY, "mixed", 1000).await.len(), 1197, "the byte-order mark's line and those after the bad ones are stored");

    let csv = dir.path().join("mixed.csv");
    let mut rows = String::from("session_id,step,timestamp,confidence\n");
    for n in 0..3000 {
        match n {
            // Ragged: refused here, while the batch is read.
            20 => rows += "csv-mixed,20,2026-01-15T10:30:00Z\n",
            // Refused by the server, once the batch is sent.
            10 => rows += "csv-mixed,10,2026-01-15T10:30:00Z,1.5\n",
            2500 => rows += "csv-mixed,2500,2026-01-15T10:30:00Z,abc\n",
            _ => rows += &format!("csv-mixed,{n},2026-01-15T10:30:00Z,0.5\n"),
        }
    }
    rows += "csv-mixed,3000,2026-01-15T10:30:00Z\n";
    std::fs::write(&csv, rows).unwrap();
    let out = flightlog(&s, ADMIN_KEY, &["import", csv.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(text.contains("2997 accepted, 0 already stored, 4 rejected"), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("line 2502: column confidence"), "{text}");
    assert!(text.contains("line 3002: "), "a ragged row: {text}");
    assert!(text.contains("line 12: agent_thoughts.confidence must be between 0 and 1"), "{text}");
    // Listed in the file's order, wherever each was found (line 22 was
    // listed before line 12, refused later by the server).
    let lines: Vec<&str> = text.lines().filter_map(|l| l.trim().strip_prefix("line ")?.split(':').next()).collect();
    assert_eq!(lines, ["12", "22", "2502", "3002"], "{text}");
    assert_eq!(s.all_steps(ADMIN_KEY, "csv-mixed", 1000).await.len(), 2997);
}

#[tokio::test]
async fn import_of_csv_maps_columns_and_reports_bad_lines() {
    let s = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("steps.csv");
    std::fs::write(
        &file,
        "session_id,step,timestamp,agent_name,chosen_tool,tool_params,input_tokens,tags\n\
         csv-1,0,2026-01-15T10:30:00Z,bot,send_email,\"{\"\"to\"\":\"\"a@b.c\"\"}\",120,prod;eu\n\
         csv-1,1,not-a-time,bot,,,,\n\
         csv-1,2,2026-01-15T10:31:00Z,bot,,,,\n",
    )
    .unwrap();
    let out = flightlog(&s, ADMIN_KEY, &["import", file.to_str().unwrap()]);
    assert!(!out.status.success(), "a rejected line makes the import fail");
    let text = stdout(&out);
    assert!(text.contains("2 accepted, 0 already stored, 1 rejected"), "{text}");
    assert!(text.contains("line 3: timestamp"), "the file's line is named: {text}");
    let steps = s.all_steps(ADMIN_KEY, "csv-1", 10).await;
    assert_eq!(steps[0]["data"]["tool_execution"], json!({"params": {"to": "a@b.c"}}));
    assert_eq!(steps[0]["data"]["agent_thoughts"]["chosen_tool"], "send_email");
    assert_eq!(steps[0]["data"]["cost"]["input_tokens"], 120);
    assert_eq!(steps[0]["data"]["tags"], json!(["prod", "eu"]));
}

#[tokio::test]
async fn demo_output_imports_cleanly_and_has_the_failure_patterns() {
    let s = Server::start().await;
    let demo = Command::new(binary()).args(["demo", "--sessions", "2"]).output().unwrap();
    assert!(demo.status.success());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.ndjson");
    std::fs::write(&file, &demo.stdout).unwrap();
    let out = flightlog(&s, ADMIN_KEY, &["import", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    let (_, failed) = s.get(ADMIN_KEY, "/v1/sessions?status=failed&limit=100").await;
    assert!(!failed["sessions"].as_array().unwrap().is_empty());
    let emails = s.all_steps(ADMIN_KEY, "support-dup-email", 100).await;
    assert_eq!(emails.len(), 5);
    assert!(emails.iter().all(|e| e["data"]["tool_execution"]["params"] == emails[0]["data"]["tool_execution"]["params"]));
    assert_eq!(s.all_steps(ADMIN_KEY, "pipeline-long", 1000).await.len(), 2000);
}

#[tokio::test]
async fn keys_can_be_created_listed_and_revoked_from_the_cli() {
    let s = Server::start().await;
    let out = flightlog(&s, ADMIN_KEY, &["keys", "create", "--project", "team-a", "--scopes", "ingest,read", "--name", "ci"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = created["key"].as_str().unwrap();
    assert_eq!(s.post_steps(key, step("team", 0).to_string(), &[]).await.0, StatusCode::OK);

    let listed: Value = serde_json::from_slice(&flightlog(&s, ADMIN_KEY, &["keys", "list"]).stdout).unwrap();
    assert!(listed["keys"].as_array().unwrap().iter().any(|k| k["project"] == "team-a" && k["name"] == "ci"));

    let id = created["key_id"].as_str().unwrap();
    assert!(flightlog(&s, ADMIN_KEY, &["keys", "revoke", id]).status.success());
    assert_eq!(s.post_steps(key, step("team", 1).to_string(), &[]).await.0, StatusCode::UNAUTHORIZED);

    let refused = flightlog(&s, key, &["keys", "list"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"));
}

/// Session ids are free text: the commands that name one in a URL path
/// (`verify`, `evidence`, `replay`) send it as one encoded segment, so
/// `a/b` is not a route and `x?y#z` is not session `x`.
#[tokio::test]
async fn commands_that_name_a_session_reach_that_session_whatever_its_id() {
    let s = Server::start().await;
    let ids = ["a/b", "x?y#z", "%2F", "x"];
    s.post_steps(ADMIN_KEY, ndjson(&ids.iter().map(|id| step(id, 0)).collect::<Vec<_>>()), &[]).await;
    let dir = tempfile::tempdir().unwrap();
    for id in ids {
        let out = flightlog(&s, ADMIN_KEY, &["verify", "--session", id]);
        assert!(out.status.success(), "verify {id}: {} {}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        let report: Value = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
        assert_eq!(report["steps_checked"], 1, "verify {id}: {report}");
        let file = dir.path().join("bundle.json");
        let out = flightlog(&s, ADMIN_KEY, &["evidence", "--session", id, "-o", file.to_str().unwrap()]);
        assert!(out.status.success(), "evidence {id}: {}", String::from_utf8_lossy(&out.stderr));
        let bundle: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(bundle["session_id"], id, "the bundle of {id}");
    }
    // Without -o, the file is named as the server names it: `a/b` is not a
    // folder.
    let out = Command::new(binary())
        .args(["evidence", "--session", "a/b"])
        .current_dir(dir.path())
        .env("FLIGHTLOG_URL", &s.base)
        .env("FLIGHTLOG_KEY", ADMIN_KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("evidence-a_b.json").is_file());
}

/// A download is written to a pipe as it comes (`-o /dev/stdout`); one the
/// server refuses leaves an earlier file where it was, and no part of it
/// beside it.
#[tokio::test]
async fn a_download_goes_to_a_pipe_and_a_refused_one_keeps_the_earlier_file() {
    let s = Server::start().await;
    s.post_steps(ADMIN_KEY, ndjson(&[step("piped", 0), step("piped", 1)]), &[]).await;
    let out = flightlog(&s, ADMIN_KEY, &["evidence", "--session", "piped", "-o", "/dev/stdout"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bundle: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    assert_eq!((bundle["session_id"].as_str(), bundle["steps"].as_array().map(Vec::len)), (Some("piped"), Some(2)));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bundle.json");
    std::fs::write(&file, "the earlier bundle").unwrap();
    let refused = flightlog(&s, ADMIN_KEY, &["evidence", "--session", "nobody", "-o", file.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("404"), "{}", String::from_utf8_lossy(&refused.stderr));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "the earlier bundle");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, [std::ffi::OsString::from("bundle.json")]);
}

/// Verifying a folder that holds no store is an error, not a pass on an
/// empty store made for the occasion (a server-mode replica's folder, or a
/// mistyped path, read "verified: 0 steps checked"), and the folder is
/// left as it was.
#[tokio::test]
async fn verifying_a_folder_with_no_store_is_an_error() {
    let s = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-folder");
    let out = flightlog(&s, ADMIN_KEY, &["verify", "--all", "--data-dir", missing.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("holds no embedded store") && said.contains("--clickhouse-url"), "{said}");
    assert!(!missing.exists(), "nothing was created");

    // A ClickHouse server's database that holds no store: the same.
    let url = clickhouse_for(dir.path());
    let out = flightlog(&s, ADMIN_KEY, &["verify", "--all", "--data-dir", dir.path().to_str().unwrap(), "--clickhouse-url", &url, "--clickhouse-database", "no_such_db"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("holds no Flightlog store"), "{said}");
    // A wrong password is said as such, not as a database with no store.
    let out = flightlog(&s, ADMIN_KEY, &["verify", "--all", "--data-dir", dir.path().to_str().unwrap(), "--clickhouse-url", &url, "--clickhouse-password", "wrong"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("AUTHENTICATION_FAILED") && !said.contains("holds no"), "{said}");
}

/// A reader that stops reading (`flightlog schema … | head`) ends the
/// command quietly: it panicked on the broken pipe, with a backtrace.
#[test]
fn output_cut_short_ends_the_command_quietly() {
    let mut child = Command::new(binary())
        .args(["schema", "--cluster", "flightlog"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run flightlog");
    // The reading end closed before anything is written: the first write
    // meets a broken pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !stderr.contains("panicked"), "{:?}: {stderr}", out.status);
}

/// A command that takes one of two arguments names both when given
/// neither (it named only the first, as if it alone were required); and
/// `reindex --no-search`, which would embed every decision for an index
/// that is turned off, is refused before it opens the store.
#[test]
fn a_command_given_too_little_says_what_it_takes() {
    let dir = tempfile::tempdir().unwrap();
    for (args, wanted) in [(&["erase"][..], ["--session", "--user"]), (&["verify"][..], ["--session", "--all"])] {
        let out = Command::new(binary()).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && wanted.iter().all(|w| stderr.contains(w)), "{args:?}: {stderr}");
    }
    let out = Command::new(binary()).args(["reindex", "--no-search", "--data-dir"]).arg(dir.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("--no-search") && stderr.contains("nothing to do"), "{stderr}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the folder is left as it was");
}

/// A budget that is no amount is refused at the start: `--session-budget
/// NaN` flagged no session and `-1` every one, even those that cost
/// nothing (found by a hostile probe of the costs).
#[test]
fn a_budget_that_is_no_amount_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for budget in ["NaN", "-1", "1e400", "inf"] {
        // Under a timeout: a build that takes the budget serves until killed.
        let out = Command::new("timeout")
            .arg("20")
            .arg(binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--no-otlp-grpc", "--data-dir"])
            .arg(dir.path())
            .arg(format!("--session-budget={budget}"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.code() == Some(2) && stderr.contains("--session-budget") && stderr.contains("an amount of USD >= 0"), "{budget}: {stderr}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "refused before the folder is touched");
}
