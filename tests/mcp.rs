//! The MCP server at /mcp with the official MCP Python SDK (`mcp` from
//! PyPI) as the client, against a real server with the demo data and
//! similar-failure search on: every tool is called and its answer checked
//! against the REST API's own.

use flightlog_tests::*;
use reqwest::Method;
use std::process::Command;

#[tokio::test]
async fn an_mcp_client_calls_every_tool_and_gets_the_apis_answers() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), ("FLIGHTLOG_NO_SEARCH", "false")], &["--demo"]).await;
    s.wait_caught_up(std::time::Duration::from_secs(240)).await;
    assert_eq!(s.send_json(Method::POST, ADMIN_KEY, "/v1/integrity/checkpoints", json!(null)).await.0, StatusCode::CREATED);
    let reader = s.create_key("default", &["read"]).await;
    // Another project's agent: its email step leaves the demo's figures alone.
    let agent = s.create_key("agents", &["ingest"]).await;

    let python = std::env::var("FLIGHTLOG_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/mcp_client.py");
    let out = Command::new(python).args([script, &format!("{}/mcp", s.base), &reader, "pipeline-long", "1337", &agent]).output().expect("python runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the MCP client failed:\n{stdout}\n{stderr}");
    let out: Value = serde_json::from_str(stdout.trim()).expect("one line of JSON");
    let text = |tool: &str| -> Value {
        assert_eq!(out[tool]["error"], false, "{tool}: {}", out[tool]);
        serde_json::from_str(out[tool]["text"].as_str().unwrap()).unwrap_or_else(|e| panic!("{tool}: {e}: {}", out[tool]))
    };

    assert_eq!(
        out["tools"],
        json!(["cost_report", "explain_decision", "find_sessions", "guard", "session_timeline", "similar_failures", "verify_session"])
    );
    let found = text("find_sessions");
    let (_, api) = s.get(&reader, "/v1/sessions?flagged=true&sort=steps").await;
    let ids = |v: &Value| v["sessions"].as_array().unwrap().iter().map(|x| x["session_id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&found), ids(&api), "the same sessions as the API, in its order");
    assert_eq!(found["sessions"][0]["session_id"], "pipeline-long");
    assert!(found["sessions"][0]["anomalies"].to_string().contains("runaway"), "{found}");

    let timeline = text("session_timeline");
    assert_eq!(timeline["steps"].as_array().unwrap().len(), 5);
    assert_eq!(timeline["steps"][0]["step"], 0);
    assert_eq!(timeline["next_after"], 4);

    let why = text("explain_decision");
    assert_eq!(why["step"]["step"], 1337);
    assert_eq!(why["step"]["failed"], true);
    assert!(why.to_string().contains("constraint violation"), "{why}");
    assert_eq!(why["integrity"]["status"], "verified", "{why}");
    // The ten steps before it, oldest first, and the session's goal from
    // its first step, as the API's timeline has them.
    let (_, before) = s.get(&reader, "/v1/sessions/pipeline-long/steps?after=1326&limit=10").await;
    let numbers = |steps: &Value, key: &str| steps.as_array().unwrap().iter().map(|x| x[key].clone()).collect::<Vec<_>>();
    assert_eq!(numbers(&why["earlier_steps"], "step"), (1327..1337).map(Value::from).collect::<Vec<_>>(), "{why}");
    assert_eq!(numbers(&why["earlier_steps"], "step_hash"), numbers(&before["steps"], "step_hash"));
    let (_, first) = s.get(&reader, "/v1/sessions/pipeline-long/steps?limit=1").await;
    let first = first["steps"][0].to_string();
    let goal = why["goal"].as_str().unwrap();
    assert!(!goal.is_empty() && first.contains(&serde_json::to_string(goal).unwrap()), "the goal {goal:?} is the first step's: {first}");

    let similar = text("similar_failures");
    assert!(!similar["hits"].as_array().unwrap().is_empty(), "{similar}");
    assert_eq!(similar["origin"]["step"], 1337);

    let costs = text("cost_report");
    let (_, api) = s.get(&reader, "/v1/costs?group_by=model&from=2020-01-01T00:00:00Z").await;
    assert_eq!(costs["totals"]["steps"], api["totals"]["steps"], "{costs}");
    assert_eq!(costs["totals"]["cost"], api["totals"]["cost"], "exact costs, as the API computes them");
    assert!(costs["groups"].to_string().contains("gpt-4o-mini"));
    // Filtered by tag (any of them), as the API filters.
    for (tool, tags) in [("cost_report_other_tag", "staging,dev"), ("cost_report_prod", "dev,prod")] {
        let (_, api) = s.get(&reader, &format!("/v1/costs?group_by=model&from=2020-01-01T00:00:00Z&tags={tags}")).await;
        assert_eq!(text(tool)["totals"], api["totals"], "{tool}: {}", text(tool));
        assert_eq!(text(tool)["groups"], api["groups"], "{tool}");
    }
    assert_eq!(text("cost_report_prod")["totals"]["steps"], costs["totals"]["steps"], "every demo step is tagged prod");
    assert_ne!(text("cost_report_other_tag")["totals"], costs["totals"], "no demo step is tagged staging or dev");

    let verified = text("verify_session");
    assert_eq!(verified["status"], "verified", "{verified}");
    assert_eq!(verified["steps_checked"], 2000);

    assert_eq!(out["unknown_session"]["error"], true);
    assert!(out["unknown_session"]["text"].as_str().unwrap().contains("not found"), "{}", out["unknown_session"]);
    assert_eq!(out["bad_argument"]["error"], true);
    assert!(out["bad_argument"]["text"].as_str().unwrap().contains("sort"), "{}", out["bad_argument"]);
    // Refused out of range as the API refuses it, not clamped.
    assert_eq!(out["timeline_limit_zero"]["error"], true, "{}", out["timeline_limit_zero"]);
    assert!(out["timeline_limit_zero"]["text"].as_str().unwrap().contains("limit: must be between 1 and 200, got 0"), "{}", out["timeline_limit_zero"]);
    assert!(out["wrong_key"].as_str().unwrap().starts_with("refused"), "{}", out["wrong_key"]);
    // Pages follow the cursor, as the API's do; an unknown argument is
    // refused, naming it, rather than ignored.
    let (_, api_one) = s.get(&reader, "/v1/sessions?sort=steps&limit=2").await;
    let (_, api_two) = s.get(&reader, &format!("/v1/sessions?sort=steps&limit=2&cursor={}", api_one["next_cursor"].as_str().unwrap())).await;
    assert_eq!((ids(&text("page_one")), ids(&text("page_two"))), (ids(&api_one), ids(&api_two)), "the API's first two pages");
    // Field for field: times, status, computed cost, budget, anomalies.
    assert_eq!(text("page_one")["sessions"], api_one["sessions"], "the API's sessions");
    assert_ne!(ids(&text("page_one")), ids(&text("page_two")));
    assert!(out["unknown_argument"].to_string().contains("bogus_arg"), "{}", out["unknown_argument"]);
    // A refusal names the tool's own argument (`text`), not the API's `q`.
    let nothing = out["similar_nothing_asked"]["text"].as_str().unwrap();
    assert!(nothing.contains("text: give either text (free text) or session_id and step"), "{nothing}");

    // The guard, asked by an agent's ingest key: allowed before the email,
    // denied after it (in another session), with where it was sent.
    let before = text("guard_before");
    assert_eq!((&before["allowed"], &before["reason"]), (&json!(true), &Value::Null), "{before}");
    assert_eq!(out["posted"], 200);
    let after = text("guard_after");
    assert_eq!((&after["allowed"], &after["reason"]), (&json!(false), &json!("already_done")), "{after}");
    assert_eq!((&after["previous"][0]["session_id"], &after["previous"][0]["step"]), (&json!("mcp-guarded"), &json!(0)), "{after}");
    assert_eq!(out["guard_bad"]["error"], true);
    assert!(out["guard_bad"]["text"].as_str().unwrap().contains("params"), "names the field: {}", out["guard_bad"]);
    // A whole number past 2^53 reaches Flightlog as a double: refused,
    // naming it, lest two different ids match.
    assert_eq!(out["guard_big_number"]["error"], true, "{}", out["guard_big_number"]);
    assert!(out["guard_big_number"]["text"].as_str().unwrap().contains("params.account"), "{}", out["guard_big_number"]);
    assert!(out["agent_reads"].as_str().unwrap().contains("lacks the read scope"), "{}", out["agent_reads"]);
    assert!(out["reader_guards"].as_str().unwrap().contains("lacks the ingest scope"), "{}", out["reader_guards"]);
    // Every answer is recorded, as REST's are (shortly after answering): the
    // two given (the bad question and the reader's were refused).
    s.wait_guard_recorded(2, std::time::Duration::from_secs(30)).await;
    let mut s = s;
    s.kill9();
    let sql = "SELECT session_id, allowed, reason FROM guard_answers WHERE session_id LIKE 'mcp-%' ORDER BY at_us FORMAT CSV";
    let recorded = flightlog_sql(dir.path(), sql);
    assert_eq!(String::from_utf8_lossy(&recorded.stdout), "\"mcp-guarded\",true,\"\"\n\"mcp-other\",false,\"already_done\"\n");
}

/// What the MCP transport refuses is refused as every other route refuses:
/// JSON naming the problem (rmcp answered plain text), and a body that is
/// not JSON is a 400, not 415 Unsupported Media Type.
#[tokio::test]
async fn the_mcp_routes_refusals_are_json() {
    let s = Server::start().await;
    let both = "application/json, text/event-stream";
    let send = |method: reqwest::Method, content_type: &str, accept: &str, body: &str| {
        s.http
            .request(method, format!("{}/mcp", s.base))
            .bearer_auth(ADMIN_KEY)
            .header("content-type", content_type)
            .header("accept", accept)
            .body(body.to_string())
            .send()
    };
    let too_large = "a".repeat((4 << 20) + 1);
    for (method, content_type, accept, body, status, code) in [
        (reqwest::Method::POST, "application/json", both, "{bad", StatusCode::BAD_REQUEST, "invalid_json"),
        (reqwest::Method::POST, "application/json", both, too_large.as_str(), StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        (reqwest::Method::POST, "text/plain", both, "{}", StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        (reqwest::Method::POST, "application/json", "application/json", "{}", StatusCode::NOT_ACCEPTABLE, "not_acceptable"),
        (reqwest::Method::DELETE, "application/json", both, "", StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
    ] {
        let resp = send(method.clone(), content_type, accept, body).await.unwrap();
        let got = resp.status();
        let text = resp.text().await.unwrap();
        let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {content_type} {body:?}: {e}: {text}"));
        assert_eq!((got, answer["error"]["code"].as_str()), (status, Some(code)), "{method} {content_type} {body:?}: {answer}");
        assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{answer}");
    }
    // A JSON-RPC error is the protocol's own answer, left as it is.
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"no_such_method"}"#;
    let resp = send(reqwest::Method::POST, "application/json", both, call).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["error"]["code"], -32601, "{answer}");
}
