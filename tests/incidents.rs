//! The detectors (issue 14): each fires on its injected pattern at the
//! right step, none fires on a few thousand generated normal sessions, the
//! incidents are listed and filtered by `GET /v1/incidents`, named in the
//! session's anomalies, acknowledged by an admin, and an incident found
//! before a kill -9 is there after it, once, and goes on growing.

use flightlog_model::time::{format_timestamp, now_us};
use flightlog_tests::*;
use reqwest::Method;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const S: i64 = 1_000_000;

/// A step at `at_us`, calling `tool` (None: no tool) with `params`, which
/// returned `result` (`status` ok or error).
fn call(session: &str, n: u64, at_us: i64, agent: &str, tool: Option<(&str, Value, &str, &str)>) -> Value {
    let mut v = json!({"session_id": session, "step": n, "timestamp": format_timestamp(at_us), "user_id": "customer-7",
                       "agent": {"name": agent}, "reasoning": {"text": format!("step {n} of {session}")}});
    if let Some((name, params, result, status)) = tool {
        v["tool_execution"] = json!({"name": name, "params": params, "result": result, "status": status});
    }
    v
}

/// A small deterministic generator (xorshift), so the normal sessions are
/// the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `count` normal sessions of a support agent and a research agent, one
/// starting every 90 s over the last days: a plan, a few searches with
/// distinct queries, an order looked up (sometimes twice, with a fresh
/// answer), an occasional failure or two that a retry gets past, and one
/// reply to the session's own customer.
fn normal_sessions(count: u64, start_us: i64) -> Vec<Value> {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut out = Vec::new();
    for i in 0..count {
        let session = format!("normal-{i:05}");
        let agent = if i % 3 == 0 { "researcher" } else { "support-bot" };
        let mut at = start_us + i as i64 * 90 * S;
        let mut n = 0u64;
        let mut push = |out: &mut Vec<Value>, tool: Option<(&str, Value, &str, &str)>, at: &mut i64| {
            out.push(call(&session, n, *at, agent, tool));
            n += 1;
            *at += (2 + (i % 7) as i64) * S;
        };
        push(&mut out, None, &mut at);
        for q in 0..1 + rng.below(3) {
            let query = json!({"q": format!("order status {i} variant {q}")});
            push(&mut out, Some(("search_web", query, &format!("results for {i}/{q}"), "ok")), &mut at);
        }
        let order = json!({"order": 10_000 + i});
        push(&mut out, Some(("get_order", order.clone(), &format!("order {i}: shipped"), "ok")), &mut at);
        if rng.below(4) == 0 {
            push(&mut out, Some(("get_order", order, &format!("order {i}: delivered"), "ok")), &mut at);
        }
        let failures = match rng.below(10) {
            0 => 2,
            1 | 2 => 1,
            _ => 0,
        };
        for f in 0..failures {
            push(&mut out, Some(("crm.lookup", json!({"customer": i, "try": f}), "", "error")), &mut at);
        }
        if failures > 0 {
            push(&mut out, Some(("crm.lookup", json!({"customer": i, "try": failures}), "found", "ok")), &mut at);
        }
        let reply = json!({"to": format!("customer{i}@example.com"), "body": format!("Your order {i} is on its way.")});
        push(&mut out, Some(("send_email", reply, "sent", "ok")), &mut at);
    }
    out
}

async fn post_all(s: &Server, key: &str, steps: &[Value]) {
    for chunk in steps.chunks(1_000) {
        let (status, body) = s.post_steps(key, ndjson(chunk), &[("content-type", "application/x-ndjson")]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["accepted"].as_u64(), Some(chunk.len() as u64), "{body}");
    }
}

/// Every incident of the project (all pages), once `want` are listed.
async fn incidents_when(s: &Server, key: &str, want: usize, within: Duration) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let mut all = Vec::new();
        let mut path = "/v1/incidents?limit=500".to_string();
        loop {
            let (status, page) = s.get(key, &path).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            all.extend(page["incidents"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => path = format!("/v1/incidents?limit=500&cursor={c}"),
                None => break,
            }
        }
        if all.len() >= want || Instant::now() >= deadline {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn steps_of(incident: &Value) -> (u64, u64) {
    (incident["first"]["step"].as_u64().unwrap(), incident["last"]["step"].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_detector_fires_on_its_pattern_at_the_right_step_and_not_on_normal_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)]).await;
    let agent = s.create_key("default", &["ingest"]).await;
    let reader = s.create_key("default", &["read"]).await;

    // Thresholds are the project's own: a runaway past 30 steps here.
    let (status, bad) = s.send_json(Method::PUT, ADMIN_KEY, "/v1/policies/detection", json!({"repeat_side_effect": 1})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    assert!(bad.to_string().contains("repeat_side_effect"), "{bad}");
    let (status, set) = s.send_json(Method::PUT, ADMIN_KEY, "/v1/policies/detection", json!({"runaway_steps": 30})).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!((set["runaway_steps"].as_u64(), set["repeat_side_effect"].as_u64()), (Some(30), Some(2)), "{set}");

    let normal = normal_sessions(3_000, now_us() - 4 * 86_400 * S);
    post_all(&s, &agent, &normal).await;

    let t = now_us() - 3_600 * S;
    let email = || Some(("send_email", json!({"to": "jane@example.com", "body": "Your refund is on its way"}), "sent", "ok"));
    let mut injected = Vec::new();
    // The same email sent again at step 7 (after it was sent at step 3).
    for n in 0..9 {
        let tool = if n == 3 || n == 7 { email() } else { Some(("lookup", json!({"n": n}), "x", "ok")) };
        injected.push(call("inj-email", n, t + n as i64 * S, "support-bot", tool));
    }
    // Two sessions refunding order 991.
    injected.push(call("inj-refund-1", 2, t, "support-bot", Some(("refund", json!({"order": 991}), "done", "ok"))));
    injected.push(call("inj-refund-2", 5, t + 600 * S, "support-bot", Some(("refund", json!({"order": 991}), "done", "ok"))));
    // A→B→A→B→A→B with the same results, after two steps of progress.
    for n in 0..8u64 {
        let tool = match n {
            0 | 1 => ("get_page", json!({"page": n}), "new", "ok"),
            n if n % 2 == 0 => ("get_ticket", json!({"id": 4}), "open", "ok"),
            _ => ("check_status", json!({"id": 4}), "pending", "ok"),
        };
        injected.push(call("inj-loop", n, t + n as i64 * S, "support-bot", Some(tool)));
    }
    // 25 searches in 50 s by the research agent, over five sessions.
    for n in 0..25u64 {
        let q = json!({"q": format!("topic {n}")});
        injected.push(call(&format!("inj-burst-{}", n / 5), n % 5, t + 7_200 * S + n as i64 * 2 * S, "crawler", Some(("search_api", q, &format!("hits {n}"), "ok"))));
    }
    // One success, then four failures in a row.
    for n in 0..5u64 {
        let status = if n == 0 { "ok" } else { "error" };
        injected.push(call("inj-cascade", n, t + n as i64 * S, "support-bot", Some(("payments.charge_status", json!({"try": n}), "", status))));
    }
    // 32 steps of thinking: a runaway from the 30th.
    for n in 0..32u64 {
        injected.push(call("inj-runaway", n, t + n as i64 * S, "support-bot", None));
    }
    post_all(&s, &agent, &injected).await;

    let found = incidents_when(&s, &reader, 6, Duration::from_secs(20)).await;
    let mut by_kind: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for i in &found {
        by_kind.entry(i["kind"].as_str().unwrap().to_string()).or_default().push(i);
    }
    let on_normal: Vec<&Value> =
        found.iter().filter(|i| i["sessions"].as_array().unwrap().iter().any(|s| s.as_str().unwrap().starts_with("normal-"))).collect();
    let normal_sessions = 3_000;
    println!(
        "false positives: {} incidents over {normal_sessions} normal sessions ({} steps): {:.2}%",
        on_normal.len(),
        normal.len(),
        100.0 * on_normal.len() as f64 / normal_sessions as f64
    );
    assert!(on_normal.is_empty(), "incidents on normal sessions: {on_normal:#?}");

    let one = |kind: &str| -> &Value {
        let list = by_kind.get(kind).unwrap_or_else(|| panic!("no {kind} incident in {found:#?}"));
        assert_eq!(list.len(), 1, "{kind}: {list:#?}");
        list[0]
    };
    let email = one("repeated_side_effect");
    assert_eq!((email["sessions"].clone(), steps_of(email), email["count"].as_u64()), (json!(["inj-email"]), (3, 7), Some(2)));
    assert_eq!(email["tool"], "send_email");
    let refund = one("side_effect_across_sessions");
    assert_eq!(refund["sessions"], json!(["inj-refund-1", "inj-refund-2"]));
    assert_eq!((refund["first"]["session_id"].clone(), steps_of(refund)), (json!("inj-refund-1"), (2, 5)));
    let looping = one("loop");
    assert_eq!((looping["sessions"].clone(), steps_of(looping)), (json!(["inj-loop"]), (2, 7)), "{looping}");
    let burst = one("burst");
    assert_eq!(burst["agent"], "crawler");
    assert_eq!((burst["first"]["session_id"].clone(), burst["first"]["step"].clone()), (json!("inj-burst-4"), json!(0)), "the 21st call");
    assert_eq!(burst["count"], 25, "{burst}");
    let cascade = one("cascading_failure");
    assert_eq!((steps_of(cascade), cascade["count"].as_u64()), ((1, 4), Some(4)));
    let runaway = one("runaway");
    assert_eq!((runaway["sessions"].clone(), steps_of(runaway), runaway["count"].as_u64()), (json!(["inj-runaway"]), (29, 31), Some(32)));
    assert_eq!(found.len(), 6, "{found:#?}");

    // Filters.
    let (_, loops) = s.get(&reader, "/v1/incidents?kind=loop").await;
    assert_eq!(loops["incidents"].as_array().unwrap().len(), 1);
    let (_, of_session) = s.get(&reader, "/v1/incidents?session_id=inj-refund-2").await;
    assert_eq!(of_session["incidents"][0]["kind"], "side_effect_across_sessions");
    let (status, bad) = s.get(&reader, "/v1/incidents?kind=meltdown").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(bad["error"]["field"], "kind", "{bad}");

    // The session's anomalies name it.
    let (_, summary) = s.get(&reader, "/v1/sessions/inj-loop").await;
    let anomalies = summary["anomalies"].as_array().unwrap_or_else(|| panic!("{summary}"));
    assert!(anomalies.iter().any(|a| a["kind"] == "incident" && a["incident"] == "loop" && a["id"] == looping["id"]), "{summary}");

    // An admin acknowledges; a reader may not.
    let path = format!("/v1/incidents/{}/state", email["id"].as_str().unwrap());
    let (status, _) = s.send_json(Method::POST, &reader, &path, json!({"state": "acknowledged"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, acked) = s.send_json(Method::POST, ADMIN_KEY, &path, json!({"state": "acknowledged"})).await;
    assert_eq!(status, StatusCode::OK, "{acked}");
    assert_eq!(acked["state"], "acknowledged");
    let (_, acked_list) = s.get(&reader, "/v1/incidents?state=acknowledged").await;
    assert_eq!(acked_list["incidents"].as_array().unwrap().len(), 1);
    let (_, open) = s.get(&reader, "/v1/incidents?state=open").await;
    assert_eq!(open["incidents"].as_array().unwrap().len(), 5);
    let (status, _) = s.get(&reader, "/v1/incidents/inc_00000000000000000000").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_found_before_a_kill_9_is_there_after_it_once_and_keeps_growing() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)];
    let mut s = Server::start_in(dir.path(), &env).await;
    let agent = s.create_key("default", &["ingest"]).await;
    let t = now_us() - 60 * S;
    let email = |n: u64| call("sess-1", n, t + n as i64 * S, "mailer", Some(("send_email", json!({"to": "a@example.com"}), "sent", "ok")));
    post_all(&s, &agent, &[email(0), email(1)]).await;
    // Killed at once: the incident may not have been written yet.
    s.kill9();
    let s = Server::start_in(dir.path(), &env).await;
    let found = incidents_when(&s, ADMIN_KEY, 1, Duration::from_secs(20)).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["count"], 2);
    let id = found[0]["id"].clone();
    post_all(&s, &agent, &[email(2)]).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = incidents_when(&s, ADMIN_KEY, 1, Duration::from_secs(5)).await;
        assert_eq!(found.len(), 1, "one incident: {found:#?}");
        assert_eq!(found[0]["id"], id, "the same incident");
        if found[0]["count"] == 3 {
            assert_eq!(steps_of(&found[0]), (0, 2));
            break;
        }
        assert!(Instant::now() < deadline, "not grown: {found:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn flightlog(server: &Server, key: &str, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(binary())
        .args(args)
        .env("FLIGHTLOG_URL", &server.base)
        .env("FLIGHTLOG_KEY", key)
        .env("FLIGHTLOG_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run flightlog");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_and_acknowledges_incidents_and_sets_thresholds_and_alert_rules() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)]).await;
    let out = flightlog(&s, ADMIN_KEY, &["incidents", "set-thresholds", "-"], r#"{"repeat_side_effect": 3}"#);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = flightlog(&s, ADMIN_KEY, &["incidents", "thresholds"], "");
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["repeat_side_effect"], 3);

    let t = now_us() - 60 * S;
    let email = |n: u64| call("cli-1", n, t + n as i64 * S, "mailer", Some(("send_email", json!({"to": "a@example.com"}), "sent", "ok")));
    post_all(&s, ADMIN_KEY, &[email(0), email(1)]).await;
    s.wait_incidents_durable(Duration::from_secs(20)).await;
    assert!(incidents_when(&s, ADMIN_KEY, 0, Duration::ZERO).await.is_empty(), "twice is under the project's threshold of 3");
    post_all(&s, ADMIN_KEY, &[email(2)]).await;
    let found = incidents_when(&s, ADMIN_KEY, 1, Duration::from_secs(20)).await;
    let id = found[0]["id"].as_str().unwrap().to_string();

    let out = flightlog(&s, ADMIN_KEY, &["incidents", "list"], "");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && listed.contains(&id) && listed.contains("repeated_side_effect") && listed.contains("open"), "{listed}");
    let out = flightlog(&s, ADMIN_KEY, &["incidents", "ack", &id], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = flightlog(&s, ADMIN_KEY, &["incidents", "list", "--state", "acknowledged"], "");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&id));
    let out = flightlog(&s, ADMIN_KEY, &["incidents", "list", "--kind", "nonsense"], "");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("kind"));

    let rules = r#"{"rules": [{"name": "ops", "url": "https://hooks.example/flightlog", "secret": "a-webhook-secret-of-some-length"}]}"#;
    let out = flightlog(&s, ADMIN_KEY, &["alerts", "set", "-"], rules);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = flightlog(&s, ADMIN_KEY, &["alerts", "show"], "");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("\"ops\"") && !shown.contains("a-webhook-secret"), "{shown}");
}

/// `serve --detectors off` turns the detectors off, as its help says (the
/// flag took no value: `--detectors off` was refused at start).
#[tokio::test]
async fn the_detectors_can_be_turned_off_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)], &["--detectors", "off"]).await;
    let now = now_us();
    let mails: Vec<Value> = (0..6).map(|n| call("quiet", n, now, "mailer", Some(("send_email", json!({"to": "a@b.c"}), "sent", "ok")))).collect();
    post_all(&s, ADMIN_KEY, &mails).await;
    // The same steps open an incident on a server with the detectors on;
    // by then, the server with them off has written none.
    let on = Server::start().await;
    post_all(&on, ADMIN_KEY, &mails).await;
    assert_eq!(incidents_when(&on, ADMIN_KEY, 1, Duration::from_secs(30)).await.len(), 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (status, found) = s.get(ADMIN_KEY, "/v1/incidents").await;
    assert_eq!((status, found["incidents"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{found}");
}
