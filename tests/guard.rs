//! The guard (issue 14): an agent asks `POST /v1/guard` before it acts,
//! and is denied a side effect that already succeeded (with where and
//! when), a call over the tool's rate, a session in a loop or over budget.
//! Its memory survives a restart, and every answer is recorded.

use flightlog_model::time::{format_timestamp, now_us};
use flightlog_tests::*;
use reqwest::Method;
use std::time::Duration;

async fn ask(s: &Server, key: &str, question: Value) -> (StatusCode, Value) {
    s.send_json(Method::POST, key, "/v1/guard", question).await
}

fn question(session: &str, tool: &str, params: Value) -> Value {
    json!({"session_id": session, "user_id": "customer-7", "agent": "support-bot", "tool": tool, "params": params})
}

/// A step that called `tool` just now.
fn tool_step(session: &str, n: u64, tool: &str, params: Value, status: &str) -> Value {
    json!({"session_id": session, "step": n, "timestamp": format_timestamp(now_us()), "user_id": "customer-7",
           "agent": {"name": "support-bot"},
           "tool_execution": {"name": tool, "params": params, "status": status}})
}

fn reason(answer: &Value) -> &str {
    answer["reason"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_side_effect_that_succeeded_is_denied_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)];
    let mut s = Server::start_in(dir.path(), &env).await;
    let agent = s.create_key("default", &["ingest"]).await;
    let email = json!({"to": "jane.doe@example.com", "subject": "Your refund", "order": 991});

    // The agent asks, is allowed, sends the email and reports the step.
    let (status, first) = ask(&s, &agent, question("sess-1", "send_email", email.clone())).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["allowed"], true, "{first}");
    assert_eq!(first["previous"], json!([]));
    let sent = tool_step("sess-1", 4, "send_email", email.clone(), "ok");
    assert_eq!(s.post_steps(&agent, sent.to_string(), &[]).await.0, StatusCode::OK);

    // A crash (once the answer is recorded: those of a crash's last moments
    // may be lost), then the retry (another session, keys in another order).
    s.wait_guard_recorded(1, Duration::from_secs(30)).await;
    s.kill9();
    let s = Server::start_in(dir.path(), &env).await;
    let retry = json!({"order": 991, "subject": "Your refund", "to": "jane.doe@example.com"});
    let (status, denied) = ask(&s, &agent, question("sess-2", "send_email", retry)).await;
    assert_eq!(status, StatusCode::OK, "{denied}");
    assert_eq!(denied["allowed"], false, "{denied}");
    assert_eq!(reason(&denied), "already_done");
    assert!(denied["message"].as_str().unwrap().contains("sess-1"), "{denied}");
    let previous = denied["previous"].as_array().unwrap();
    assert_eq!(previous.len(), 1, "{denied}");
    assert_eq!(previous[0]["session_id"], "sess-1");
    assert_eq!(previous[0]["step"], 4);
    assert_eq!(previous[0]["timestamp"], sent["timestamp"]);

    // Other parameters are another action.
    let other = json!({"to": "john@example.com", "subject": "Your refund", "order": 991});
    assert_eq!(ask(&s, &agent, question("sess-2", "send_email", other)).await.1["allowed"], true);

    // A failed attempt is not done.
    let bounced = json!({"to": "nobody@example.com"});
    let failed = tool_step("sess-3", 0, "send_email", bounced.clone(), "error");
    assert_eq!(s.post_steps(&agent, failed.to_string(), &[]).await.0, StatusCode::OK);
    assert_eq!(ask(&s, &agent, question("sess-3", "send_email", bounced)).await.1["allowed"], true);

    // A read-only tool may be repeated.
    let lookup = json!({"order": 991});
    let looked = tool_step("sess-3", 1, "get_order", lookup.clone(), "ok");
    assert_eq!(s.post_steps(&agent, looked.to_string(), &[]).await.0, StatusCode::OK);
    assert_eq!(ask(&s, &agent, question("sess-3", "get_order", lookup)).await.1["allowed"], true);

    // Another project never sees this one's actions.
    let elsewhere = s.create_key("other", &["ingest"]).await;
    assert_eq!(ask(&s, &elsewhere, question("sess-2", "send_email", email)).await.1["allowed"], true);

    // Every answer is recorded (the recorder writes shortly after answering):
    // five since the restart.
    s.wait_guard_recorded(5, Duration::from_secs(30)).await;
    let mut s = s;
    s.kill9();
    let out = flightlog_sql(
        dir.path(),
        "SELECT project, session_id, tool_name, allowed, reason, previous FROM guard_answers ORDER BY at_us FORMAT JSONEachRow",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let summary: Vec<(String, bool, String)> = rows
        .iter()
        .map(|r| (r["session_id"].as_str().unwrap().to_string(), r["allowed"].as_bool().unwrap(), r["reason"].as_str().unwrap().to_string()))
        .collect();
    let expected = [
        ("sess-1", true, ""),
        ("sess-2", false, "already_done"),
        ("sess-2", true, ""),
        ("sess-3", true, ""),
        ("sess-3", true, ""),
        ("sess-2", true, ""),
    ];
    let expected: Vec<(String, bool, String)> = expected.iter().map(|(s, a, r)| (s.to_string(), *a, r.to_string())).collect();
    assert_eq!(summary, expected, "{rows:?}");
    assert_eq!(rows[5]["project"], "other");
    let named: Value = serde_json::from_str(rows[1]["previous"].as_str().unwrap()).unwrap();
    assert_eq!(named[0]["session_id"], "sess-1");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("jane.doe"), "no parameters are kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rates_loops_and_budgets_are_denied() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)];
    let s = Server::start_with(dir.path(), &env, &["--guard-session-steps", "8"]).await;

    // 20 searches a minute are allowed, the 21st is not.
    for i in 0..20 {
        let (status, answer) = ask(&s, ADMIN_KEY, question("research", "search_web", json!({"q": i}))).await;
        assert_eq!((status, &answer["allowed"]), (StatusCode::OK, &json!(true)), "call {i}: {answer}");
    }
    let (_, answer) = ask(&s, ADMIN_KEY, question("research", "search_web", json!({"q": 20}))).await;
    assert_eq!(answer["allowed"], false, "{answer}");
    assert_eq!(reason(&answer), "rate_limited");
    // The window survives a crash: the allowed answers are read back (those
    // of a crash's last moments may be lost: waited for here).
    s.wait_guard_recorded(21, Duration::from_secs(30)).await;
    let mut s = s;
    s.kill9();
    let s = Server::start_with(dir.path(), &env, &["--guard-session-steps", "8"]).await;
    let (_, answer) = ask(&s, ADMIN_KEY, question("research", "search_web", json!({"q": 21}))).await;
    assert_eq!(reason(&answer), "rate_limited", "after a restart: {answer}");
    // Another tool of the same agent has its own rate.
    assert_eq!(ask(&s, ADMIN_KEY, question("research", "fetch_page", json!({"u": 1}))).await.1["allowed"], true);

    // A→B→A→B→A reported; a sixth call B would make three turns.
    let calls: Vec<Value> = ["get_a", "get_b", "get_a", "get_b", "get_a"]
        .iter()
        .enumerate()
        .map(|(n, tool)| tool_step("looping", n as u64, tool, json!({"id": 1}), "ok"))
        .collect();
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&calls), &[]).await.0, StatusCode::OK);
    let (_, answer) = ask(&s, ADMIN_KEY, question("looping", "get_b", json!({"id": 1}))).await;
    assert_eq!(reason(&answer), "in_a_loop", "{answer}");
    assert_eq!(ask(&s, ADMIN_KEY, question("looping", "get_c", json!({"id": 1}))).await.1["allowed"], true);

    // A session with 8 steps is over its budget of 8.
    let steps: Vec<Value> = (0..8).map(|n| tool_step("long", n, &format!("tool_{n}"), json!({}), "ok")).collect();
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.0, StatusCode::OK);
    let (_, answer) = ask(&s, ADMIN_KEY, question("long", "tool_9", json!({}))).await;
    assert_eq!(reason(&answer), "over_budget", "{answer}");
}

#[tokio::test]
async fn bad_questions_are_refused_naming_the_field_and_readers_cannot_ask() {
    let s = Server::start().await;
    let cases = [
        (json!({"tool": "send_email"}), "session_id"),
        (json!({"session_id": "s"}), "tool"),
        (json!({"session_id": "s", "tool": ""}), "tool"),
        (json!({"session_id": "s", "tool": 7}), "tool"),
        (json!({"session_id": "x".repeat(300), "tool": "t"}), "session_id"),
        (json!({"session_id": "s", "tool": "t", "agent": "a".repeat(300)}), "agent"),
        (json!({"session_id": "s", "tool": "t", "user_id": ["u"]}), "user_id"),
        (json!({"session_id": "s", "tool": "t", "params": "p".repeat(1_100_000)}), "params"),
        (json!({"session_id": "s", "tool": "t", "tools": "typo"}), "tools"),
    ];
    for (body, field) in cases {
        let (status, answer) = ask(&s, ADMIN_KEY, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    let resp = s.http.post(format!("{}/v1/guard", s.base)).bearer_auth(ADMIN_KEY).body("{not json").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let dup = r#"{"session_id":"s","tool":"t","params":{"to":"a","to":"b"}}"#;
    let resp = s.http.post(format!("{}/v1/guard", s.base)).bearer_auth(ADMIN_KEY).body(dup).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let answer: Value = resp.json().await.unwrap();
    assert!(answer["error"]["field"].as_str().unwrap().contains("params"), "{answer}");

    let reader = s.create_key("default", &["read"]).await;
    let (status, _) = ask(&s, &reader, question("s", "send_email", json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = ask(&s, "fl_wrong_key", question("s", "send_email", json!({}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// The README's SafeAgent (clients/python/examples/safe_agent.py) against
/// the real server: the email is sent once, the dangerous refund waits for
/// a person, the 21st search in a minute is held back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_safe_agent_of_the_readme_sends_once_asks_a_person_and_keeps_to_the_rate() {
    let s = Server::start().await;
    let spool = tempfile::tempdir().unwrap();
    let client = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/python");
    let python = std::env::var("FLIGHTLOG_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = tokio::process::Command::new(python)
        .arg(client.join("examples/safe_agent.py"))
        .args([&s.base, ADMIN_KEY])
        .arg(spool.path())
        .env("PYTHONPATH", &client)
        .output()
        .await
        .expect("run python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0], json!({"sent": true}));
    assert_eq!(lines[1]["skipped"], "already_done", "{lines:?}");
    assert_eq!(lines[1]["previous"][0]["session_id"], "safe-1");
    assert_eq!(lines[2], json!({"skipped": "not_confirmed"}));
    assert_eq!(lines[3]["skipped"], "rate_limited", "{lines:?}");
}

/// Two processes on one ClickHouse (server mode only): a question through
/// either is answered from the writer's memory, and when the writer dies
/// the process that takes its lease over rebuilds the memory before it
/// answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_process_answers_from_the_writers_memory_and_a_new_writer_rebuilds_it() {
    if !server_mode() {
        eprintln!("skipped: runs with FLIGHTLOG_TEST_BACKEND=server (processes sharing one ClickHouse server)");
        return;
    }
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let key_file = dir_a.path().join("shared-signing.key");
    let env = [
        ("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY),
        ("FLIGHTLOG_WRITER_LEASE_TTL", "3"),
        ("FLIGHTLOG_SIGNING_KEY_FILE", key_file.to_str().unwrap()),
    ];
    let mut a = Server::start_sharing(dir_a.path(), dir_a.path(), &env, &[]).await;
    let b = Server::start_sharing(dir_b.path(), dir_a.path(), &env, &[]).await;
    assert_eq!(a.health().await["ingest"]["lease"]["role"], "writer");
    let refund = json!({"order": 991});
    // Reported through the writer, asked through the other process.
    let done = tool_step("shared-1", 0, "refund_order", refund.clone(), "ok");
    assert_eq!(a.post_steps(ADMIN_KEY, done.to_string(), &[]).await.0, StatusCode::OK);
    let (status, answer) = ask(&b, ADMIN_KEY, question("shared-2", "refund_order", refund.clone())).await;
    assert_eq!((status, reason(&answer)), (StatusCode::OK, "already_done"), "{answer}");

    a.kill9();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while b.health().await["ingest"]["lease"]["role"] != "writer" {
        assert!(std::time::Instant::now() < deadline, "the other process takes the lease over within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, answer) = ask(&b, ADMIN_KEY, question("shared-3", "refund_order", refund)).await;
    assert_eq!((status, reason(&answer)), (StatusCode::OK, "already_done"), "{answer}");
    assert_eq!(answer["previous"][0]["session_id"], "shared-1");
}

/// An equal number is the same action however it was written: a Python
/// recorder's `100.0` and a JavaScript agent's `100` (it was allowed, a
/// second invoice), after a restart too; a different amount is not.
#[tokio::test]
async fn an_equal_number_written_another_way_is_the_same_action() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)]).await;
    let sent = tool_step("inv-1", 0, "send_invoice", serde_json::from_str(r#"{"amount": 100.0, "lines": [2.0]}"#).unwrap(), "ok");
    assert_eq!(s.post_steps(ADMIN_KEY, sent.to_string(), &[]).await.0, StatusCode::OK);
    for round in ["live", "after a restart"] {
        let (status, answer) = ask(&s, ADMIN_KEY, question("inv-2", "send_invoice", json!({"amount": 100, "lines": [2]}))).await;
        assert_eq!((status, answer["allowed"].as_bool(), answer["reason"].as_str()), (StatusCode::OK, Some(false), Some("already_done")), "{round}: {answer}");
        let (_, other) = ask(&s, ADMIN_KEY, question("inv-2", "send_invoice", json!({"amount": 100.5, "lines": [2]}))).await;
        assert_eq!(other["allowed"], true, "{round}: another amount: {other}");
        s.kill9();
        s = Server::start_in(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)]).await;
    }
}

/// A side effect whose step was erased (GDPR) is still done after a
/// restart: the guard rebuilds its memory from storage, where the erased
/// parameters are blank, and what the step did was kept apart before the
/// erasure (a refund to an erased user was allowed again after a restart).
#[tokio::test]
async fn a_side_effect_whose_step_was_erased_is_still_done_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)]).await;
    let mut refund = tool_step("paid", 0, "refund_payment", json!({"order": 42, "amount": 10}), "ok");
    refund["user_id"] = json!("eraseme");
    assert_eq!(s.post_steps(ADMIN_KEY, refund.to_string(), &[]).await.0, StatusCode::OK);
    let (status, erased) = s.send_json(Method::POST, ADMIN_KEY, "/v1/erasures", json!({"user_id": "eraseme"})).await;
    assert_eq!((status, erased["steps_erased"].as_u64()), (StatusCode::OK, Some(1)), "{erased}");
    let again = || {
        let mut q = question("paid-again", "refund_payment", json!({"order": 42, "amount": 10}));
        q["user_id"] = json!("eraseme");
        q
    };
    for round in ["before a restart", "after a kill -9 and a restart"] {
        let (status, answer) = ask(&s, ADMIN_KEY, again()).await;
        assert_eq!((status, answer["reason"].as_str()), (StatusCode::OK, Some("already_done")), "{round}: {answer}");
        s.kill9();
        s = Server::start_in(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)]).await;
    }
    let (_, other) = ask(&s, ADMIN_KEY, question("paid-again", "refund_payment", json!({"order": 43, "amount": 10}))).await;
    assert_eq!(other["allowed"], true, "another order: {other}");
}

/// Sends `body` to POST /v1/steps over a raw connection and closes it
/// `after` the body is sent, answered or not: a client that gave up (a
/// timeout, a gRPC deadline) while its steps may be being committed.
/// Returns whether the answer had come.
async fn send_and_go_away(s: &Server, body: &str, after: Duration) -> bool {
    use tokio::io::AsyncWriteExt;
    let addr = s.base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/steps HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {ADMIN_KEY}\r\ncontent-type: application/x-ndjson\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(body.as_bytes()).await.unwrap();
    conn.flush().await.unwrap();
    tokio::time::sleep(after).await;
    // Whether any of the answer came before the client went away.
    let answered = conn.try_read(&mut [0u8; 64]).is_ok_and(|n| n > 0);
    drop(conn);
    answered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_side_effect_stored_after_its_client_went_away_is_still_denied() {
    let s = Server::start().await;
    // Clients that go away sooner or later while a request is decoded and
    // committed: each refund that got stored must be known to the guard,
    // however late its client left (closing mid-commit dropped the
    // handler, and with it the guard's taking in of the steps).
    let (mut stored, mut unanswered_but_stored) = (0, 0);
    for attempt in 0..20u64 {
        let session = format!("gone-{attempt}");
        let refund = json!({"order": attempt, "amount": 120});
        let mut steps: Vec<Value> = (0..1500).map(|n| tool_step(&session, n, "lookup_order", json!({"n": n}), "ok")).collect();
        steps.push(tool_step(&session, 1500, "refund_payment", refund.clone(), "ok"));
        let answered = send_and_go_away(&s, &ndjson(&steps), Duration::from_millis(attempt * 20)).await;
        // Stored or not: a commit under way finishes within seconds.
        let path = format!("/v1/sessions/{session}/steps?after=1499");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut here = false;
        while !here && std::time::Instant::now() < deadline {
            here = s.get(ADMIN_KEY, &path).await.1["steps"].as_array().is_some_and(|a| !a.is_empty());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        match here {
            true => {
                stored += 1;
                unanswered_but_stored += usize::from(!answered);
                // A step reads back once its part is written, a moment before
                // its commit ends (the log of record, then the guard's taking
                // in): asked again for up to 3 s. Never taken in (the defect)
                // never turns.
                // Asked as an agent of its own, whose rate window the asks fill.
                let mut q = question("another", "refund_payment", refund.clone());
                q["agent"] = json!(format!("poller-{attempt}"));
                let deadline = std::time::Instant::now() + Duration::from_secs(3);
                let answer = loop {
                    let (status, answer) = ask(&s, ADMIN_KEY, q.clone()).await;
                    assert_eq!(status, StatusCode::OK, "{answer}");
                    if reason(&answer) == "already_done" || std::time::Instant::now() > deadline {
                        break answer;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                };
                assert_eq!(reason(&answer), "already_done", "attempt {attempt}: the stored refund is known to the guard: {answer}");
            }
            false => {
                let (status, answer) = ask(&s, ADMIN_KEY, question("another", "refund_payment", refund)).await;
                assert_eq!(status, StatusCode::OK, "{answer}");
                // Nothing stored, nothing done; but a commit slower than the
                // wait (a loaded machine) can land between the last look and
                // the ask, and a refund the guard then knows must be stored.
                if answer["allowed"] != true {
                    let stored_since = s.get(ADMIN_KEY, &path).await.1["steps"].as_array().is_some_and(|a| !a.is_empty());
                    assert!(reason(&answer) == "already_done" && stored_since, "attempt {attempt}: nothing stored, nothing done: {answer}");
                }
            }
        }
    }
    eprintln!("{stored} of 20 stored, {unanswered_but_stored} of them after their client went away");
    assert!(unanswered_but_stored > 0, "some client went away mid-commit (what this test is about)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_dated_in_the_future_do_not_rate_limit_a_tool_for_as_long() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)];
    let args = ["--guard-rate-limit", "3/2"];
    let mut s = Server::start_with(dir.path(), &env, &args).await;
    let mut steps: Vec<Value> = (0..3).map(|n| tool_step("future", n, "lookup_order", json!({"n": n}), "ok")).collect();
    for step in &mut steps {
        step["timestamp"] = json!("2199-12-31T00:00:00Z");
    }
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.0, StatusCode::OK);
    let look = question("future-2", "lookup_order", json!({"n": 9}));
    assert_eq!(reason(&ask(&s, ADMIN_KEY, look.clone()).await.1), "rate_limited", "three calls just stored");
    // Two seconds after they were stored they left the window, live and
    // after a restart (which reads them back from the store).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, answer) = ask(&s, ADMIN_KEY, look.clone()).await;
    assert_eq!(answer["allowed"], true, "{answer}");
    s.kill9();
    let s = Server::start_with(dir.path(), &env, &args).await;
    let (_, answer) = ask(&s, ADMIN_KEY, look).await;
    assert_eq!(answer["allowed"], true, "{answer}");
}
