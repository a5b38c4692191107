//! The access log (issue 13): every read of step content, through the API,
//! the web UI and MCP, is recorded with the key, the route and the session
//! before it is answered; admins read it (`GET /v1/access-log`, the
//! `/access-log` page), readers cannot, and no route changes it. A read
//! whose record cannot be written is refused.

use flightlog_tests::*;
use reqwest::Method;
use std::time::Duration;

/// Steps of customer-7 (session cust-a) and customer-9 (cust-b).
fn customer_steps() -> Vec<Value> {
    let step = |session: &str, n: u64, user: &str| {
        json!({"session_id": session, "step": n, "timestamp": format!("2026-03-01T10:0{n}:00Z"), "user_id": user,
               "agent_thoughts": {"reasoning": format!("look up the order of {user}"), "chosen_tool": "lookup_order"},
               "tool_execution": {"name": "lookup_order", "params": {"n": n}, "status": "ok"}})
    };
    vec![step("cust-a", 0, "customer-7"), step("cust-a", 1, "customer-7"), step("cust-b", 0, "customer-9")]
}

/// The key id of a key made by `create_key` (`fl_<id>_<secret>`).
fn key_id(key: &str) -> String {
    key.split('_').nth(1).expect("fl_<id>_<secret>").to_string()
}

async fn admin_key_id(s: &Server) -> String {
    let (_, keys) = s.get(ADMIN_KEY, "/v1/keys").await;
    let admin = keys["keys"].as_array().unwrap().iter().find(|k| k["name"] == "bootstrap").expect("the bootstrap key");
    admin["key_id"].as_str().unwrap().to_string()
}

/// Every read listed for a filter (all pages, small ones, to walk the cursor).
async fn reads(s: &Server, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = s.get(ADMIN_KEY, &format!("/v1/access-log?limit=3&{query}{cursor}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        out.extend(page["reads"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
}

/// The one read through `front_end` at `route`, by `key`.
fn find<'a>(log: &'a [Value], key: &str, front_end: &str, route: &str) -> &'a Value {
    let found: Vec<&Value> = log.iter().filter(|r| r["key_id"] == key && r["front_end"] == front_end && r["route"] == route).collect();
    assert_eq!(found.len(), 1, "one {front_end} read of {route} by {key}, in {log:#?}");
    found[0]
}

/// A tool call on the MCP server, as plain JSON-RPC over HTTP.
async fn mcp_call(s: &Server, key: &str, tool: &str, arguments: Value) -> Value {
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}});
    let resp = s
        .http
        .post(format!("{}/mcp", s.base))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let answer: Value = resp.json().await.expect("a JSON-RPC answer");
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    answer["result"].clone()
}

#[tokio::test]
async fn every_content_read_is_recorded_with_its_key_route_and_session() {
    let s = Server::start().await;
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&customer_steps()), &[]).await.0, StatusCode::OK);
    let reader = s.create_key("default", &["read"]).await;
    let (rid, aid) = (key_id(&reader), admin_key_id(&s).await);

    // The API.
    for path in ["/v1/sessions/cust-a/steps", "/v1/sessions/cust-a/reproduction"] {
        assert_eq!(s.get(&reader, path).await.0, StatusCode::OK, "{path}");
    }
    let reader_bundle = s.http.get(format!("{}/v1/sessions/cust-a/evidence", s.base)).bearer_auth(&reader).send().await.unwrap();
    assert_eq!(reader_bundle.status(), StatusCode::OK);
    let reader_bundle = reader_bundle.bytes().await.unwrap();
    let export = s.http.get(format!("{}/v1/export/steps?format=csv&from=2026-01-01T00:00:00Z", s.base)).bearer_auth(&reader).send().await.unwrap();
    assert_eq!(export.status(), StatusCode::OK);
    assert!(export.text().await.unwrap().contains("customer-9"));
    // The web UI.
    for path in ["/sessions/cust-a", "/sessions/cust-a/steps/1", "/sessions/cust-a/steps/1/json"] {
        assert_eq!(s.page(&reader, path).await.0, StatusCode::OK, "{path}");
    }
    let (status, web_bundle) = s.page(&reader, "/sessions/cust-a/evidence").await;
    assert_eq!(status, StatusCode::OK);
    // MCP.
    let timeline = mcp_call(&s, &reader, "session_timeline", json!({"session_id": "cust-a"})).await;
    assert!(timeline.to_string().contains("customer-7"), "{timeline}");
    mcp_call(&s, &reader, "explain_decision", json!({"session_id": "cust-a", "step": 1})).await;
    // Reads that return no step content are not recorded.
    for path in ["/v1/sessions", "/v1/sessions/cust-a", "/v1/sessions/cust-a/verify"] {
        assert_eq!(s.get(&reader, path).await.0, StatusCode::OK, "{path}");
    }
    assert_eq!(s.get(&reader, "/v1/sessions/nobody/steps").await.0, StatusCode::NOT_FOUND);

    let nobody = reads(&s, "session_id=nobody").await;
    assert!(nobody.iter().all(|r| r["whole_project"] == true), "a session not found returned nothing (only the export may hold it): {nobody:#?}");
    let log = reads(&s, "session_id=cust-a").await;
    assert_eq!(log.len(), 10, "9 reads of cust-a and the export, which may hold any session: {log:#?}");
    for (front_end, route, items) in [
        ("api", "GET /v1/sessions/{id}/steps", 2),
        ("api", "GET /v1/sessions/{id}/reproduction", 2),
        ("api", "GET /v1/sessions/{id}/evidence", 2),
        ("web", "GET /sessions/{id}", 2),
        ("web", "GET /sessions/{id}/steps/{step}", 2),
        ("web", "GET /sessions/{id}/steps/{step}/json", 1),
        ("web", "GET /sessions/{id}/evidence", 2),
        ("mcp", "session_timeline", 2),
        ("mcp", "explain_decision", 2),
    ] {
        let read = find(&log, &rid, front_end, route);
        assert_eq!((read["session_id"].as_str(), read["items"].as_u64()), (Some("cust-a"), Some(items)), "{read}");
        assert_eq!(read["sessions"], json!(["cust-a"]), "{read}");
        // Whose data was read: evidence bundles and reproductions too (they
        // named no user before stop 59).
        assert_eq!(read["user_ids"], json!(["customer-7"]), "{read}");
    }
    let steps = find(&log, &rid, "api", "GET /v1/sessions/{id}/steps");
    assert_eq!(steps["user_ids"], json!(["customer-7"]), "whose data was read: {steps}");
    let export = find(&log, &rid, "api", "GET /v1/export/steps");
    assert_eq!((export["whole_project"].as_bool(), export.get("session_id")), (Some(true), None), "{export}");
    assert!(export["filter"].as_str().unwrap().contains("2026-01-01T00:00:00Z"), "the range asked for: {export}");
    let times: Vec<i64> = log.iter().map(|r| r["at_us"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    assert!(log.iter().all(|r| r["key_id"] == rid.as_str()), "the admin's own reads of the log are not reads of content");

    // "Who looked at customer-7's data?" and "what did this key read?"
    let of_user = reads(&s, "user_id=customer-7").await;
    assert_eq!(of_user, log, "customer-7's only session is cust-a: its reads, evidence bundles included, and the export");
    assert!(reads(&s, &format!("key_id={aid}")).await.is_empty(), "the admin read no content");
    let of_b = reads(&s, "session_id=cust-b").await;
    assert_eq!(of_b.len(), 1, "cust-b was read only by the export: {of_b:#?}");

    // A read-scope key's evidence bundle (API or web) lists no reads: the
    // log names other readers' keys, filters and users. It still verifies,
    // and the check says no reads are listed (not that there were none).
    for (front_end, bundle) in [("api", reader_bundle.to_vec()), ("web", web_bundle.into_bytes())] {
        let parsed: Value = serde_json::from_slice(&bundle).unwrap();
        assert!(parsed.get("access_log").is_none(), "{front_end}: {:#}", parsed["access_log"]);
        assert!(!String::from_utf8_lossy(&bundle).contains(&rid), "{front_end}: no reader's key is named");
        assert_eq!(parsed["steps"].as_array().map(Vec::len), Some(2), "{front_end}: the steps are all there");
        let path = s.data_dir.join(format!("reader-bundle-{front_end}.json"));
        std::fs::write(&path, &bundle).unwrap();
        let out = std::process::Command::new(binary()).arg("verify-bundle").arg(&path).output().unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(out.status.success(), "{front_end}: {report:#}");
        assert_eq!(report["access_log"], Value::Null, "{front_end}: {report:#}");
    }

    // An admin's evidence bundle carries the session's reads; it still
    // verifies, and the check says the reads are listed, not proven.
    let bundle = s.http.get(format!("{}/v1/sessions/cust-a/evidence", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap().bytes().await.unwrap();
    let parsed: Value = serde_json::from_slice(&bundle).unwrap();
    let listed = parsed["access_log"]["reads"].as_array().unwrap();
    assert_eq!((listed.len(), parsed["access_log"]["complete"].as_bool()), (10, Some(true)), "{:#}", parsed["access_log"]);
    assert!(listed.windows(2).all(|w| w[0]["at_us"].as_i64() <= w[1]["at_us"].as_i64()), "oldest first");
    assert!(listed.iter().any(|r| r["route"] == "GET /v1/sessions/{id}/steps" && r["key_id"] == rid.as_str()));
    let path = s.data_dir.join("bundle.json");
    std::fs::write(&path, &bundle).unwrap();
    let out = std::process::Command::new(binary()).arg("verify-bundle").arg(&path).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{report:#}");
    assert_eq!(report["access_log"], json!({"reads": 10, "proven": false}), "{report:#}");
    // That export was a read too, by the admin.
    assert_eq!(find(&reads(&s, &format!("key_id={aid}")).await, &aid, "api", "GET /v1/sessions/{id}/evidence")["session_id"], "cust-a");
}

#[tokio::test]
async fn only_admins_read_the_access_log_and_nothing_can_change_it() {
    let s = Server::start().await;
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&customer_steps()), &[]).await.0, StatusCode::OK);
    let reader = s.create_key("default", &["read"]).await;
    assert_eq!(s.get(&reader, "/v1/sessions/cust-a/steps").await.0, StatusCode::OK);

    let (status, body) = s.get(&reader, "/v1/access-log").await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{body}");
    let (status, page) = s.page(&reader, "/access-log").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    let (status, page) = s.page(ADMIN_KEY, "/access-log?session_id=cust-a").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("GET /v1/sessions/{id}/steps") && page.contains(&key_id(&reader)), "{page}");
    // The filter is the id as given: " cust-a" is another session (it was
    // trimmed, and so showed cust-a's reads).
    let (status, page) = s.page(ADMIN_KEY, "/access-log?session_id=%20cust-a").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("GET /v1/sessions/{id}/steps"), "{page}");

    for method in [Method::DELETE, Method::PUT, Method::POST, Method::PATCH] {
        let (status, _) = s.send_json(method.clone(), ADMIN_KEY, "/v1/access-log", json!({})).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
    let (_, still) = s.get(ADMIN_KEY, "/v1/access-log").await;
    assert_eq!(still["reads"].as_array().unwrap().len(), 1, "{still}");

    // Another project's admin sees none of this project's reads.
    let other = s.create_key("other", &["admin"]).await;
    let (status, theirs) = s.get(&other, "/v1/access-log").await;
    assert_eq!((status, theirs["reads"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{theirs}");

    for (query, field) in [("limit=0", "limit"), ("limit=1001", "limit"), ("cursor=nope", "cursor"), ("from=yesterday", "from")] {
        let (status, body) = s.get(ADMIN_KEY, &format!("/v1/access-log?{query}")).await;
        assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{query}: {body}");
    }
}

#[tokio::test]
async fn a_read_that_cannot_be_recorded_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)];
    let mut s = Server::start_in(dir.path(), &env).await;
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&customer_steps()), &[]).await.0, StatusCode::OK);
    s.kill9();
    // The access log goes away behind Flightlog's back.
    let out = flightlog_sql(dir.path(), "RENAME TABLE access_log TO access_log_away");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = Server::start_in(dir.path(), &env).await;

    let resp = s.http.get(format!("{}/v1/sessions/cust-a/steps", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = resp.text().await.unwrap();
    assert!(body.contains("access log") && !body.contains("customer-7"), "no content unrecorded: {body}");
    let (status, page) = s.page(ADMIN_KEY, "/sessions/cust-a").await;
    assert!(status == StatusCode::SERVICE_UNAVAILABLE && !page.contains("customer-7"), "{status}: {page}");
    let (status, _) = s.get(ADMIN_KEY, "/v1/sessions/cust-a/evidence").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let export = s.http.get(format!("{}/v1/export/steps?format=csv", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(export.status(), StatusCode::SERVICE_UNAVAILABLE, "refused before the first byte");
    // MCP's timeline, whose record is written while its content is put back.
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "session_timeline", "arguments": {"session_id": "cust-a"}}});
    let resp = s.http.post(format!("{}/mcp", s.base)).bearer_auth(ADMIN_KEY).header("accept", "application/json, text/event-stream").json(&call);
    let answer: Value = resp.send().await.unwrap().json().await.unwrap();
    assert!(answer["result"]["isError"] == true && !answer.to_string().contains("customer-7"), "{answer}");
    assert!(answer.to_string().contains("access log"), "{answer}");
    // Reads of no content still work.
    assert_eq!(s.get(ADMIN_KEY, "/v1/sessions").await.0, StatusCode::OK);
}

#[tokio::test]
async fn search_hits_record_the_sessions_they_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), ("FLIGHTLOG_NO_SEARCH", "false")]).await;
    let failing = |session: &str, error: &str| {
        json!({"session_id": session, "step": 1, "timestamp": "2026-03-01T10:00:00Z", "user_id": "customer-7",
               "agent_thoughts": {"reasoning": "email the customer", "chosen_tool": "send_email"},
               "tool_execution": {"name": "send_email", "status": "error", "error": error}})
    };
    let batch = [failing("mail-1", "duplicate email to the customer"), failing("mail-2", "the same email was sent twice")];
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&batch), &[]).await.0, StatusCode::OK);
    s.wait_indexed(2, Duration::from_secs(120)).await;
    let reader = s.create_key("default", &["read"]).await;
    let rid = key_id(&reader);

    let (status, found) = s.get(&reader, "/v1/search/similar?session_id=mail-1&step=1").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    // Search text is redacted before it is recorded: the access log keeps
    // no address that redaction, retention and erasure would not reach.
    assert_eq!(s.page(&reader, "/search?q=duplicate+email+to+jane.doe%40example.com").await.0, StatusCode::OK);
    mcp_call(&s, &reader, "similar_failures", json!({"text": "duplicate email to jane.doe@example.com"})).await;

    let log = reads(&s, "session_id=mail-2").await;
    let api = find(&log, &rid, "api", "GET /v1/search/similar");
    assert_eq!(api["sessions"], json!(["mail-1", "mail-2"]), "the decision searched from, then the hits: {api}");
    assert!(api["filter"].as_str().unwrap().contains("mail-1") && api.get("session_id").is_none(), "{api}");
    // Whose data each search returned is named when it is read: the index's
    // points carry no user, and the sessions may be gone when someone asks.
    assert_eq!(api["user_ids"], json!(["customer-7"]), "{api}");
    for front_end in ["web", "mcp"] {
        let route = if front_end == "web" { "GET /search" } else { "similar_failures" };
        let searched = find(&log, &rid, front_end, route);
        assert_eq!(searched["user_ids"], json!(["customer-7"]), "{front_end}: {searched}");
        let filter = searched["filter"].as_str().unwrap();
        assert!(filter.contains("duplicate email to [EMAIL:") && !filter.contains("jane.doe"), "{front_end}: {searched}");
    }
    let everything = s.http.get(format!("{}/v1/access-log?limit=1000", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(everything.status(), StatusCode::OK);
    let everything = everything.text().await.unwrap();
    assert!(everything.contains("[EMAIL:"), "{everything}");
    assert!(!everything.contains("jane.doe") && !everything.contains("example.com"), "the address is nowhere in the log: {everything}");
    let (_, page) = s.page(ADMIN_KEY, "/access-log").await;
    assert!(page.contains("[EMAIL:") && !page.contains("jane.doe"), "{page}");
}

/// An explained decision returns its session's goal, read from the first
/// step: that step's user is named in the record, through the web page and
/// MCP alike (only the step's and the ten before it were).
#[tokio::test]
async fn an_explained_decision_names_the_user_whose_goal_it_returns() {
    let s = Server::start().await;
    let steps: Vec<Value> = (0..20u64)
        .map(|n| {
            let user = if n == 0 { "victim-user" } else { "other-user" };
            json!({"session_id": "mixu", "step": n, "timestamp": "2026-01-15T10:30:00Z", "user_id": user,
                   "prompt": {"messages": [{"role": "user", "content": format!("goal text of step {n}")}]}})
        })
        .collect();
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.1["accepted"], 20);
    let (status, html) = s.page(ADMIN_KEY, "/sessions/mixu/steps/19").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("goal text of step 0"), "the page shows the goal");
    let explained = mcp_call(&s, ADMIN_KEY, "explain_decision", json!({"session_id": "mixu", "step": 19})).await;
    assert!(explained.to_string().contains("goal text of step 0"), "{explained}");
    let key = admin_key_id(&s).await;
    let log = reads(&s, "session_id=mixu").await;
    for (front_end, route) in [("web", "GET /sessions/{id}/steps/{step}"), ("mcp", "explain_decision")] {
        let read = find(&log, &key, front_end, route);
        let mut users: Vec<&str> = read["user_ids"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        users.sort();
        assert_eq!(users, ["other-user", "victim-user"], "{front_end}: {read}");
    }
}

/// An explained decision comes with the ten steps before it however the
/// session numbers its steps (0, 7, 14, …: it took the steps numbered in
/// the ten before it, one here), and records each of them.
#[tokio::test]
async fn an_explained_decision_has_the_ten_steps_before_it_whatever_the_numbering() {
    let s = Server::start().await;
    let steps: Vec<Value> = (0..30u64)
        .map(|i| json!({"session_id": "gaps", "step": i * 7, "timestamp": "2026-01-15T10:30:00Z", "user_id": format!("u{i}"),
                        "agent_thoughts": {"reasoning": format!("thought {i}")}}))
        .collect();
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.1["accepted"], 30);
    let explained = mcp_call(&s, ADMIN_KEY, "explain_decision", json!({"session_id": "gaps", "step": 203})).await;
    let text = explained["content"][0]["text"].as_str().unwrap();
    let answer: Value = serde_json::from_str(text).unwrap();
    let earlier: Vec<u64> = answer["earlier_steps"].as_array().unwrap().iter().map(|s| s["step"].as_u64().unwrap()).collect();
    assert_eq!(earlier, (19..29u64).map(|i| i * 7).collect::<Vec<_>>(), "{answer}");
    let log = reads(&s, "session_id=gaps").await;
    let read = find(&log, &admin_key_id(&s).await, "mcp", "explain_decision");
    assert_eq!(read["items"], 12, "the step, the ten before it and the first step (the goal): {read}");
}
