//! Similar-failure search end to end: the real binary with the real model
//! (fetched by `make setup`) and the embedded qdrant-edge index.

use flightlog_tests::*;
use std::time::Duration;

const ON: (&str, &str) = ("FLIGHTLOG_NO_SEARCH", "false");
const BOOT: (&str, &str) = ("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY);
const WAIT: Duration = Duration::from_secs(120);

/// Three kinds of failure, three sessions each, written differently.
const CLASSES: [(&str, [&str; 3]); 3] = [
    ("email", [
        "recipient already received an identical email two minutes ago",
        "duplicate message: the same email was delivered to this customer again",
        "blocked: the customer was emailed this exact notice twice",
    ]),
    ("ratelimit", [
        "HTTP 429 Too Many Requests: rate limit exceeded",
        "rate limit reached for requests per minute, slow down",
        "quota exhausted: too many calls in a short period, throttled",
    ]),
    ("timeout", [
        "query timed out after 30 seconds",
        "read timeout: the server did not respond within 60 s",
        "deadline exceeded while waiting for the upstream service",
    ]),
];

fn decision(session: &str, n: u64, minute: u32, agent: &str, tool: &str, reasoning: &str, error: Option<&str>) -> Value {
    json!({
        "session_id": session, "step": n,
        "timestamp": format!("2026-03-01T10:{minute:02}:00Z"),
        "agent": {"name": agent},
        "agent_thoughts": {"reasoning": reasoning, "chosen_tool": tool, "considered_tools": [tool, "ask_human"]},
        "tool_execution": {"name": tool, "params": {"n": n}, "status": if error.is_some() { "error" } else { "ok" }, "error": error},
        "model": {"name": "gpt-4o-mini"},
    })
}

/// 9 sessions: step 1 a reasoned choice, step 2 a failure of its class,
/// step 3 no decision at all. 18 key decisions.
fn sessions() -> Vec<Value> {
    let mut out = Vec::new();
    for (c, (class, errors)) in CLASSES.iter().enumerate() {
        for (v, error) in errors.iter().enumerate() {
            let session = format!("{class}-{v}");
            let agent = if v == 2 { "support" } else { "billing" };
            let tool = match *class { "email" => "send_email", "ratelimit" => "http_get", _ => "sql_query" };
            let minute = (c * 3 + v) as u32;
            out.push(decision(&session, 1, minute, agent, "lookup_customer", "First find who the customer is.", None));
            out.push(decision(&session, 2, minute, agent, tool, &format!("Next, {tool} for the customer's request."), Some(error)));
            out.push(json!({"session_id": session, "step": 3, "timestamp": format!("2026-03-01T10:{minute:02}:30Z")}));
        }
    }
    out
}

async fn similar(server: &Server, key: &str, query: &str) -> (StatusCode, Value) {
    server.get(key, &format!("/v1/search/similar?{query}")).await
}

fn sessions_of(body: &Value) -> Vec<String> {
    body["results"].as_array().expect("results").iter().map(|r| r["session_id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn finds_the_same_kind_of_failure_by_step_or_text_with_every_filter() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &[BOOT, ON]).await;
    let (status, body) = server.post_steps(ADMIN_KEY, ndjson(&sessions()), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let health = server.wait_indexed(18, WAIT).await;
    assert_eq!(health["available"], true);
    assert_eq!(health["indexer"]["steps_behind"], 0);

    // From a failed step: failures only by default, never the step itself.
    let (status, body) = similar(&server, ADMIN_KEY, "session_id=email-0&step=2&limit=3").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["failures_only"], true);
    assert_eq!(body["origin"]["session_id"], "email-0");
    let found = sessions_of(&body);
    assert_eq!(found.len(), 3);
    assert!(body["results"].as_array().unwrap().iter().all(|r| r["failed"] == true && r["step"] == 2));
    assert!(!body["results"].as_array().unwrap().iter().any(|r| r["session_id"] == "email-0" && r["step"] == 2));
    assert!(found[0].starts_with("email-") && found[1].starts_with("email-"), "the other two email failures first: {found:?}");
    let top = &body["results"][0];
    assert!(top["score"].as_f64().unwrap() > 0.3 && top["score"].as_f64().unwrap() <= 1.0001);
    assert_eq!(top["url"], format!("/sessions/{}/steps/2", found[0]));
    assert_eq!(top["tool"], "send_email");
    assert!(top["snippet"].as_str().unwrap().contains("send_email"));
    assert!(top["timestamp"].as_str().unwrap().starts_with("2026-03-01T10:0"));

    // Free text, paraphrased.
    let (_, body) = similar(&server, ADMIN_KEY, "q=the+customer+got+the+same+email+twice&failures=true&limit=2").await;
    assert!(sessions_of(&body).iter().all(|s| s.starts_with("email-")), "{body}");
    let (_, body) = similar(&server, ADMIN_KEY, "q=too+many+requests,+throttled+by+the+API&limit=3").await;
    assert!(sessions_of(&body).iter().all(|s| s.starts_with("ratelimit-")), "{body}");
    assert_eq!(body["failures_only"], false, "a text search covers every decision unless told");

    // Filters.
    let (_, body) = similar(&server, ADMIN_KEY, "session_id=email-0&step=2&agent=support&limit=10").await;
    assert_eq!(sessions_of(&body).len(), 3, "the three failures of agent support: {body}");
    assert_eq!(sessions_of(&body)[0], "email-2");
    assert!(body["results"].as_array().unwrap().iter().all(|r| r["agent"] == "support"));
    let (_, body) = similar(&server, ADMIN_KEY, "session_id=email-0&step=2&tool=sql_query&limit=10").await;
    assert_eq!(sessions_of(&body).len(), 3);
    assert!(sessions_of(&body).iter().all(|s| s.starts_with("timeout-")));
    let (_, body) = similar(&server, ADMIN_KEY, "session_id=email-0&step=2&model=some-other-model").await;
    assert!(sessions_of(&body).is_empty());
    let (_, body) = similar(&server, ADMIN_KEY, "session_id=email-0&step=2&failures=false&limit=20").await;
    assert_eq!(sessions_of(&body).len(), 17, "all key decisions but the step itself");
    assert!(body["results"].as_array().unwrap().iter().any(|r| r["failed"] == false));
    let (_, body) = similar(&server, ADMIN_KEY, "session_id=email-0&step=2&failures=false&exclude_session=true&limit=20").await;
    assert_eq!(sessions_of(&body).len(), 16);
    assert!(!sessions_of(&body).contains(&"email-0".to_string()));
    // Minutes 0..8 by class and variant: email-* are 0..2, ratelimit-* 3..5.
    let (_, body) =
        similar(&server, ADMIN_KEY, "session_id=email-0&step=2&from=2026-03-01T10:03:00Z&to=2026-03-01T10:06:00Z&limit=20").await;
    let mut found = sessions_of(&body);
    found.sort();
    assert_eq!(found, ["ratelimit-0", "ratelimit-1", "ratelimit-2"]);

    // Another project sees none of it.
    let other = server.create_key("other", &["ingest", "read"]).await;
    let (_, body) = similar(&server, &other, "q=duplicate+email").await;
    assert!(sessions_of(&body).is_empty(), "{body}");
    let (status, _) = similar(&server, &other, "session_id=email-0&step=2").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The web page: results link to their steps; agent text is escaped.
    let (status, html) = server.page(ADMIN_KEY, "/search?session_id=email-0&step=2").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("href=\"/sessions/email-1/steps/2\"") || html.contains("href=\"/sessions/email-2/steps/2\""), "{html}");
    let (_, html) = server.page(ADMIN_KEY, "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E").await;
    assert!(html.contains("&#60;script&#62;alert(1)") && !html.contains("<script>alert(1)"), "{html}");
    let (_, html) = server.page(ADMIN_KEY, "/sessions/email-0").await;
    assert!(html.contains("/search?session_id=email-0&amp;step=2"), "find similar on the timeline");
}

#[tokio::test]
async fn bad_searches_get_a_4xx_naming_the_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &[BOOT, ON]).await;
    server.post_steps(ADMIN_KEY, ndjson(&sessions()), &[]).await;
    let long = "x".repeat(2001);
    for (query, status, field) in [
        ("", 400, "q"),
        ("q=a&session_id=s&step=1", 400, "q"),
        ("session_id=email-0", 400, "step"),
        ("step=2", 400, "session_id"),
        ("session_id=email-0&step=two", 400, "step"),
        ("q=x&limit=0", 400, "limit"),
        ("q=x&limit=101", 400, "limit"),
        ("q=x&failures=maybe", 400, "failures"),
        ("q=x&from=yesterday", 400, "from"),
        ("q=x&exclude_session=true", 400, "exclude_session"),
        (&format!("q={long}"), 400, "q"),
        (&format!("q=x&agent={}", "a".repeat(300)), 400, "agent"),
        ("session_id=email-0&step=3", 400, "step"),
    ] {
        let (got, body) = similar(&server, ADMIN_KEY, query).await;
        assert_eq!(got.as_u16(), status, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    let (got, body) = similar(&server, ADMIN_KEY, "session_id=nope&step=1").await;
    assert_eq!(got, StatusCode::NOT_FOUND, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("nope"));
    let resp = server.http.get(format!("{}/v1/search/similar?q=x", server.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

/// Key decisions with distinct texts (no embedding is reused).
fn many_decisions(sessions: usize) -> Vec<Value> {
    (0..sessions)
        .flat_map(|i| {
            let s = format!("bulk-{i:04}");
            [
                decision(&s, 1, (i % 60) as u32, "billing", "lookup", &format!("Look up invoice {i} before answering customer {i}."), None),
                decision(&s, 2, (i % 60) as u32, "billing", "charge", &format!("Charge card ending {i:04}."), Some(&format!("card {i} declined by issuer"))),
            ]
        })
        .collect()
}

#[tokio::test]
async fn an_indexer_killed_mid_stream_resumes_with_nothing_missing_or_doubled() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[BOOT, ON]).await;
    let steps = many_decisions(400);
    for chunk in steps.chunks(200) {
        let (status, body) = server.post_steps(ADMIN_KEY, ndjson(chunk), &[]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Kill -9 while the indexer is part-way.
    let deadline = std::time::Instant::now() + WAIT;
    let before = loop {
        let points = server.health().await["search"]["points"].as_u64().unwrap_or(0);
        if points > 0 {
            break points;
        }
        assert!(std::time::Instant::now() < deadline, "the indexer never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    server.kill9();
    assert!(before < 800, "killed part-way ({before} of 800 indexed)");

    let server = Server::start_in(dir.path(), &[ON]).await;
    let s = server.wait_indexed(800, WAIT).await;
    assert_eq!(s["points"], 800, "each key decision once: nothing missing, nothing doubled");
    // Re-sending everything changes nothing: a new decision sent after it
    // is indexed as the 801st point, so the indexer has read past the
    // re-sent steps and indexed none of them again (more points would
    // never be exactly 801).
    let (status, body) = server.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["duplicates"], 800);
    let after = [decision("bulk-0400", 1, 0, "billing", "lookup", "Look up invoice 400 before answering customer 400.", None)];
    let (status, body) = server.post_steps(ADMIN_KEY, ndjson(&after), &[]).await;
    assert_eq!((status, body["accepted"].as_u64()), (StatusCode::OK, Some(1)), "{body}");
    assert_eq!(server.wait_indexed(801, WAIT).await["points"], 801);
    let (_, body) = similar(&server, ADMIN_KEY, "session_id=bulk-0399&step=2&limit=1").await;
    assert_eq!(body["results"][0]["failed"], true, "{body}");
}

#[tokio::test]
async fn without_the_model_everything_else_works_and_the_index_catches_up_once_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let no_model = ("FLIGHTLOG_MODEL_DIR", empty.path().to_str().unwrap());
    let mut server = Server::start_in(dir.path(), &[BOOT, ON, no_model]).await;
    let s = server.health().await["search"].clone();
    assert_eq!(s["available"], false);
    assert!(s["reason"].as_str().unwrap().contains("model.onnx"), "{s}");
    let (status, body) = server.post_steps(ADMIN_KEY, ndjson(&sessions()), &[]).await;
    assert_eq!(status, StatusCode::OK, "ingestion does not need search: {body}");
    let (status, body) = similar(&server, ADMIN_KEY, "q=email").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "search_unavailable");
    assert!(body["error"]["message"].as_str().unwrap().contains("model.onnx"));
    let (_, html) = server.page(ADMIN_KEY, "/search").await;
    assert!(html.contains("search is off") && html.contains("model.onnx"));
    let (status, _) = server.page(ADMIN_KEY, "/sessions/email-0").await;
    assert_eq!(status, StatusCode::OK);
    server.terminate();

    // The model is back: everything accepted meanwhile gets indexed.
    let mut server = Server::start_in(dir.path(), &[ON]).await;
    server.wait_indexed(18, WAIT).await;
    server.kill9();

    // The index folder is lost: rebuilt from the store at start-up.
    std::fs::remove_dir_all(dir.path().join("index/edge")).unwrap();
    let server = Server::start_in(dir.path(), &[ON]).await;
    server.wait_indexed(18, WAIT).await;
    let (status, body) = similar(&server, ADMIN_KEY, "session_id=timeout-1&step=2&limit=1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(sessions_of(&body)[0].starts_with("timeout-"), "{body}");
}

#[tokio::test]
async fn reindex_rebuilds_from_the_store_and_erasure_removes_points() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[BOOT, ON]).await;
    server.post_steps(ADMIN_KEY, ndjson(&sessions()), &[]).await;
    server.wait_indexed(18, WAIT).await;
    let (status, body) =
        server.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/erasures", json!({"session_id": "email-1"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(server.health().await["search"]["points"], 16, "the erased session's decisions left the index");
    let (_, body) = similar(&server, ADMIN_KEY, "q=identical+email&failures=false&limit=20").await;
    assert!(!sessions_of(&body).contains(&"email-1".to_string()));
    server.terminate();

    // The indexer's mark is in the store (shared by every process on it),
    // not in a file beside the index.
    let out = flightlog_sql(dir.path(), "SELECT index_name, next_log_index FROM indexer_marks FINAL");
    let marks = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && marks.contains("\"index_name\":\"edge "), "{marks}");
    let mark: Value = serde_json::from_str(marks.lines().next().unwrap()).unwrap();
    assert!(mark["next_log_index"].as_u64().unwrap() > 0, "{mark}");
    assert!(!dir.path().join("index/edge.progress.json").exists(), "no mark file is written any more");

    let out = std::process::Command::new(binary())
        .args(["reindex", "--data-dir"])
        .arg(dir.path())
        .envs(store_env(dir.path()))
        .env("FLIGHTLOG_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("reindexed 18 key decisions"), "{stdout}");
    // Rebuilt from the store, the erased steps are back, without their
    // erased parameters (the reasoning and error are not personal content).
    let server = Server::start_in(dir.path(), &[ON]).await;
    let s = server.health().await["search"].clone();
    assert_eq!(s["points"], 18, "{s}");
    let (_, body) = similar(&server, ADMIN_KEY, "session_id=email-0&step=2&limit=3").await;
    let erased = body["results"].as_array().unwrap().iter().find(|r| r["session_id"] == "email-1").expect("email-1 found again");
    assert!(!erased["snippet"].as_str().unwrap().contains("n=2"), "no erased parameter in the index: {erased}");

    let empty = tempfile::tempdir().unwrap();
    drop(server);
    let out = std::process::Command::new(binary())
        .args(["reindex", "--data-dir"])
        .arg(dir.path())
        .env("FLIGHTLOG_MODEL_DIR", empty.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("model.onnx") && stderr.contains("FLIGHTLOG_MODEL_DIR"), "{stderr}");
}

/// Server mode: runs only against a real Qdrant server, given as
/// FLIGHTLOG_TEST_QDRANT_URL (gRPC, e.g. http://127.0.0.1:6334); none can
/// be installed from the registries these machines reach.
#[tokio::test]
async fn a_qdrant_server_backend_indexes_and_searches_the_same_way() {
    let Ok(url) = std::env::var("FLIGHTLOG_TEST_QDRANT_URL") else {
        eprintln!("skipped: set FLIGHTLOG_TEST_QDRANT_URL to a Qdrant server to run this test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let collection = format!("flightlog_test_{}", std::process::id());
    let server = Server::start_in(
        dir.path(),
        &[BOOT, ON, ("FLIGHTLOG_QDRANT_URL", &url), ("FLIGHTLOG_QDRANT_COLLECTION", &collection)],
    )
    .await;
    server.post_steps(ADMIN_KEY, ndjson(&sessions()), &[]).await;
    let s = server.wait_indexed(18, WAIT).await;
    assert!(s["index"].as_str().unwrap().contains("Qdrant server"), "{s}");
    let (_, body) = similar(&server, ADMIN_KEY, "session_id=email-0&step=2&limit=2").await;
    assert!(sessions_of(&body).iter().all(|s| s.starts_with("email-")), "{body}");
}

#[tokio::test]
async fn an_index_made_by_an_older_reading_of_decisions_is_rebuilt_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[BOOT, ON]).await;
    server.post_steps(ADMIN_KEY, ndjson(&sessions()), &[]).await;
    let s = server.wait_indexed(18, WAIT).await;
    let reading = s["indexer"]["model"].as_str().unwrap().to_string();
    assert!(reading.contains("word table"), "the mark names how decisions are read: {reading}");
    server.terminate();

    // Same reading: nothing to redo.
    let mut server = Server::start_in(dir.path(), &[ON]).await;
    let s = server.wait_indexed(18, WAIT).await;
    assert_eq!(s["indexer"]["indexed"], 0, "{s}");
    server.terminate();

    // A mark written by a build that read whole texts with the sentence
    // model (it named the model folder alone): every point is made again.
    let old = reading.split(" (").next().unwrap();
    let out = flightlog_tests::flightlog_sql(
        dir.path(),
        &format!(
            "INSERT INTO indexer_marks SELECT index_name, next_log_index, '{old}', dimension, saved_us + 1 \
             FROM indexer_marks FINAL"
        ),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let server = Server::start_in(dir.path(), &[ON]).await;
    let s = server.wait_indexed(18, WAIT).await;
    assert_eq!(s["indexer"]["indexed"], 18, "rebuilt: {s}");
    assert_eq!(s["indexer"]["model"], reading.as_str());
    let (status, body) = similar(&server, ADMIN_KEY, "session_id=ratelimit-0&step=2&limit=2").await;
    assert_eq!(status, StatusCode::OK);
    assert!(sessions_of(&body).iter().all(|s| s.starts_with("ratelimit-")), "{body}");
}
