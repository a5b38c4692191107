//! The web UI in real headless Chromium: sign in, filter sessions, open a
//! session, jump to its first failure, read the decision page, find
//! similar failures from it and by free text, see the cost
//! chart and download what it shows. Screenshots
//! go to tests/artifacts/. `make test` installs Chromium (Debian) and
//! playwright-core (npm, tests/browser) first.

use flightlog_tests::*;
use reqwest::Method;
use std::process::Command;

#[tokio::test]
async fn a_reader_signs_in_filters_opens_a_session_and_reads_a_decision() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), ("FLIGHTLOG_NO_SEARCH", "false")], &["--demo"])
        .await;
    s.wait_caught_up(std::time::Duration::from_secs(240)).await;
    assert_eq!(s.send_json(Method::POST, ADMIN_KEY, "/v1/integrity/checkpoints", json!(null)).await.0, StatusCode::CREATED);
    let root = env!("CARGO_MANIFEST_DIR");
    let artifacts = format!("{root}/tests/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let out = Command::new("node")
        .arg(format!("{root}/tests/browser/ui.spec.js"))
        .env("BASE_URL", &s.base)
        .env("KEY", ADMIN_KEY)
        .env("ARTIFACTS", &artifacts)
        .env("NODE_PATH", format!("{root}/tests/browser/node_modules"))
        .output()
        .expect("node runs (make test installs the browser tools)");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "browser test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("decision page verified"), "{stdout}");
    for shot in ["0-overview", "1-sessions", "2-sessions-filtered", "2b-sessions-flagged", "3-timeline", "3a-waterfall-slices", "3b-waterfall-zoomed", "3c-waterfall-repeated", "4-decision", "5-costs", "6-similar", "7-similar-text"] {
        assert!(std::path::Path::new(&format!("{artifacts}/{shot}.png")).exists(), "screenshot {shot}");
    }
}
