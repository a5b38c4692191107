//! The OpenAPI description at /openapi.json: it lists every route the
//! server answers, and `schemathesis` (PyPI), generating requests from it
//! against the real server with the demo data and search on, finds no 5xx
//! and no response that breaks the description.

use flightlog_tests::*;
use reqwest::Method;
use std::process::Command;

#[tokio::test]
async fn every_described_operation_is_served_and_the_readme_routes_are_described() {
    let dir = tempfile::tempdir().unwrap();
    // Every operation is called without a key; the failure limit would
    // soon answer 429 instead of 401.
    let env = [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), ("FLIGHTLOG_AUTH_FAILURES_PER_ADDRESS", "0"), ("FLIGHTLOG_AUTH_FAILURES_PER_KEY", "0")];
    let s = Server::start_in(dir.path(), &env).await;
    let (status, doc) = s.get("", "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");

    // The routes the README's HTTP API table promises, each described.
    for (method, path) in [
        ("post", "/v1/steps"),
        ("post", "/v1/traces"),
        ("get", "/v1/sessions"),
        ("get", "/v1/sessions/{id}/steps"),
        ("get", "/v1/costs"),
        ("get", "/v1/search/similar"),
        ("get", "/v1/sessions/{id}/evidence"),
        ("post", "/v1/integrity/checkpoints"),
        ("get", "/v1/integrity/checkpoints"),
        ("delete", "/v1/keys/{key_id}"),
        ("get", "/openapi.json"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} is not described");
    }

    // Each described operation is served: without a key it is refused
    // (401) when it declares a security requirement, and answered
    // otherwise; never the router's "no such route" or 405.
    let mut operations = 0;
    for (path, item) in paths {
        let concrete = path.replace("{id}", "nope").replace("{key_id}", "nope");
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = s.http.request(method.clone(), format!("{}{concrete}", s.base)).send().await.unwrap();
            let status = response.status();
            let body = response.text().await.unwrap();
            let secured = op.get("security").is_some_and(|s| !s.as_array().unwrap().is_empty());
            if secured {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} without a key");
            } else {
                assert!(status.is_success(), "{method} {path} is public and answers, got {status}");
            }
            // Each status is listed by itself (there is no catch-all).
            assert!(op["responses"].get(status.as_str()).is_some(), "{method} {path}: {status} is not described");
            if secured {
                let error: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {body}"));
                assert_eq!(error["error"]["code"], "unauthorized", "{method} {path}: {body}");
            }
        }
    }
    assert!(operations >= 26, "only {operations} operations described");
    let described = |path: &str, method: &str, status: &str| paths[path][method]["responses"].get(status).is_some();
    assert!(described("/v1/sessions/{id}", "get", "404") && described("/v1/steps", "post", "413") && described("/v1/keys", "get", "403"));
    assert!(!described("/healthz", "get", "401") && !described("/v1/keys", "get", "404"), "only what can happen");
    // What a stalled body (408) and a log rewritten below its newest
    // checkpoint (409) are answered.
    assert!(described("/v1/steps", "post", "408") && described("/v1/traces", "post", "408"));
    assert!(described("/v1/integrity/checkpoints", "post", "409"));
    // Every `limit` is a count, typed as one, with its bounds.
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            for param in op["parameters"].as_array().into_iter().flatten().filter(|p| p["name"] == "limit") {
                let schema = &param["schema"];
                assert!(
                    schema["type"] == "integer" && schema["minimum"] == 1 && schema["maximum"].as_u64().is_some(),
                    "{method} {path}: limit is {schema}"
                );
            }
        }
    }
    let (_, error) = s.get(ADMIN_KEY, "/v1/no-such-route").await;
    assert_eq!(error["error"]["code"], "not_found");
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_every_response_matches_the_description() {
    let dir = tempfile::tempdir().unwrap();
    // The per-address failure limit would answer schemathesis's requests
    // with wrong keys by 429; it has its own tests (tests/auth.rs).
    let env = [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), ("FLIGHTLOG_NO_SEARCH", "false"), ("FLIGHTLOG_AUTH_FAILURES_PER_ADDRESS", "0"), ("FLIGHTLOG_AUTH_FAILURES_PER_KEY", "0")];
    let s = Server::start_with(dir.path(), &env, &["--demo"]).await;
    s.wait_caught_up(std::time::Duration::from_secs(240)).await;
    assert_eq!(s.send_json(Method::POST, ADMIN_KEY, "/v1/integrity/checkpoints", json!(null)).await.0, StatusCode::CREATED);

    let python = std::env::var("FLIGHTLOG_PYTHON").unwrap_or_else(|_| "python3".into());
    let schemathesis = std::path::Path::new(&python).with_file_name("schemathesis");
    let seed = std::env::var("FLIGHTLOG_SCHEMATHESIS_SEED").unwrap_or_else(|_| "20261202".into());
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(&schemathesis)
        .current_dir(work.path())
        .args(["run", &format!("{}/openapi.json", s.base), "--header", &format!("Authorization: Bearer {ADMIN_KEY}")])
        .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance"])
        .args(["--max-examples", "15", "--seed", &seed, "--workers", "1", "--request-timeout", "30", "--no-color"])
        .args(["--report", "junit", "--report-dir", work.path().to_str().unwrap()])
        .output()
        .unwrap_or_else(|e| panic!("{} runs: {e}", schemathesis.display()));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schemathesis found failures (seed {seed}):\n{stdout}\n{stderr}");

    // It really ran: every operation, and many requests.
    let report = std::fs::read_dir(work.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.path().extension().is_some_and(|x| x == "xml"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .unwrap_or_else(|| panic!("no JUnit report in {:?}:\n{stdout}", work.path()));
    // Every described operation was tested (schemathesis leaves out the
    // description's own path).
    let (_, doc) = s.get("", "/openapi.json").await;
    for (path, item) in doc["paths"].as_object().unwrap().iter().filter(|(p, _)| *p != "/openapi.json") {
        for method in item.as_object().unwrap().keys() {
            let name = format!("<testcase name=\"{} {path}\"", method.to_uppercase());
            assert!(report.contains(&name), "{name} is not in the report:\n{stdout}");
        }
    }
    // The summary's "N generated, N passed".
    let generated: u64 = stdout.lines().find_map(|l| l.trim().split_once(" generated, ")?.0.parse().ok()).unwrap_or(0);
    assert!(generated >= 300, "only {generated} requests generated:\n{stdout}");
    eprintln!("{}", stdout.lines().rev().take(22).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n"));
}
