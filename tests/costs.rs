//! Costs computed at query time, checked against an independent
//! calculation from the published prices (schema/prices.csv) done here.

use flightlog_tests::*;

/// (model, timestamp, input, cache_read, cache_write, output, reasoning)
type Call = (&'static str, &'static str, u64, u64, u64, u64, u64);

const CALLS: [Call; 8] = [
    ("gpt-4o-2024-05-13", "2024-09-01T12:00:00Z", 10_000, 0, 0, 1_000, 0),       // launch price 5 / 15
    ("openai/gpt-4o", "2025-01-01T12:00:00Z", 10_000, 4_000, 0, 1_000, 0),       // 2.50 / 10, cache read 1.25
    ("claude-sonnet-4-20250514", "2025-07-01T12:00:00Z", 100_000, 20_000, 5_000, 2_000, 0), // under the tier
    ("claude-sonnet-4", "2025-07-01T13:00:00Z", 250_000, 0, 0, 3_000, 0),        // over 200k: 6 / 22.50
    ("o3", "2025-05-01T12:00:00Z", 1_000, 0, 0, 5_000, 4_000),                   // before the cut: 10 / 40
    ("o3", "2025-07-01T12:00:00Z", 1_000, 0, 0, 5_000, 4_000),                   // after: 2 / 8
    ("mystery-model-1", "2025-07-02T12:00:00Z", 5_000, 0, 0, 500, 0),            // no price: unpriced
    ("", "2025-07-02T13:00:00Z", 0, 0, 0, 0, 0),                                 // a tool call, no tokens
];

/// The expected cost of one call, by hand: (input, cache read, cache write,
/// output) prices per 1M tokens as published.
fn expected(c: &Call) -> Option<f64> {
    let (model, ts, input, cr, cw, out, _) = *c;
    let p: (f64, f64, f64, f64) = match (model, ts) {
        ("gpt-4o-2024-05-13", _) => (5.0, 0.0, 0.0, 15.0),
        ("openai/gpt-4o", _) => (2.5, 1.25, 0.0, 10.0),
        (m, _) if m.starts_with("claude-sonnet-4") && input > 200_000 => (6.0, 0.60, 3.75, 22.5),
        (m, _) if m.starts_with("claude-sonnet-4") => (3.0, 0.30, 3.75, 15.0),
        ("o3", t) if t < "2025-06-10" => (10.0, 2.5, 0.0, 40.0),
        ("o3", _) => (2.0, 0.5, 0.0, 8.0),
        ("", _) => return Some(0.0),
        _ => return None,
    };
    let uncached = (input - cr - cw) as f64;
    // Reasoning tokens are part of the output tokens: billed once, as output.
    Some((uncached * p.0 + cr as f64 * p.1 + cw as f64 * p.2 + out as f64 * p.3) / 1e6)
}

fn step_of(i: usize, c: &Call) -> Value {
    let (model, ts, input, cr, cw, out, reasoning) = *c;
    let mut v = json!({"session_id": format!("s{}", i % 3), "step": i, "timestamp": ts, "agent": {"name": if i.is_multiple_of(2) { "even" } else { "odd" }},
                       "cost": {"input_tokens": input, "cache_read_tokens": cr, "cache_write_tokens": cw, "output_tokens": out,
                                "reasoning_tokens": reasoning, "estimated_cost": 0.01}});
    if model.is_empty() {
        // The tool call failed: its session (s1) is not a successful one.
        v["tool_execution"] = json!({"name": "send_email", "status": "error"});
    } else {
        v["model"] = json!({"name": model});
    }
    v
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test]
async fn costs_match_an_independent_calculation() {
    let s = Server::start().await;
    let steps: Vec<Value> = CALLS.iter().enumerate().map(|(i, c)| step_of(i, c)).collect();
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.1["accepted"], CALLS.len());

    let (status, all) = s.get(ADMIN_KEY, "/v1/costs").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let total: f64 = CALLS.iter().filter_map(expected).sum();
    assert!(close(all["totals"]["cost"].as_f64().unwrap(), total), "total {} vs {total}", all["totals"]["cost"]);
    assert_eq!(all["totals"]["steps"], CALLS.len());
    assert_eq!(all["totals"]["unpriced_steps"], 1, "the tool call is not unpriced, the mystery model is");
    assert!(close(all["totals"]["reported_cost"].as_f64().unwrap(), 0.08), "the clients' own estimates are kept apart");
    assert_eq!(all["totals"]["estimate_differs"], true, "$0.08 reported against {total}");
    assert_eq!(all["unpriced_models"], json!([{"model": "mystery-model-1", "unpriced_steps": 1, "input_tokens": 5000, "output_tokens": 500}]));

    // Sessions s0, s1, s2 take calls i % 3; s1 holds the failed tool call.
    let successful: f64 = CALLS.iter().enumerate().filter(|(i, _)| i % 3 != 1).filter_map(|(_, c)| expected(c)).sum();
    assert_eq!(all["successful_sessions"], 2);
    assert!(close(all["cost_per_successful_session"].as_f64().unwrap(), successful / 2.0), "{all}");

    // By model: every spelling of a model lands in one group.
    let (_, by_model) = s.get(ADMIN_KEY, "/v1/costs?group_by=model").await;
    let group = |rows: &Value, key: &str, value: &str| -> Value {
        rows["groups"].as_array().unwrap().iter().find(|g| g[key] == value).cloned().unwrap_or(Value::Null)
    };
    for (model, spellings) in [("gpt-4o", &CALLS[0..2]), ("claude-sonnet-4", &CALLS[2..4]), ("o3", &CALLS[4..6])] {
        let want: f64 = spellings.iter().filter_map(expected).sum();
        let g = group(&by_model, "model", model);
        assert!(close(g["cost"].as_f64().unwrap(), want), "{model}: {} vs {want}", g["cost"]);
        assert_eq!(g["steps"], 2);
    }
    assert_eq!(group(&by_model, "model", "mystery-model-1")["cost"], 0.0);

    // Two dimensions at once, and filters.
    let (_, by_day_model) = s.get(ADMIN_KEY, "/v1/costs?group_by=day,model").await;
    let row = by_day_model["groups"].as_array().unwrap().iter().find(|g| g["day"] == "2025-07-01" && g["model"] == "claude-sonnet-4").unwrap();
    assert!(close(row["cost"].as_f64().unwrap(), expected(&CALLS[2]).unwrap() + expected(&CALLS[3]).unwrap()));
    let (_, july) = s.get(ADMIN_KEY, "/v1/costs?from=2025-07-01T00:00:00Z&to=2025-07-02T00:00:00Z&model=o3").await;
    assert!(close(july["totals"]["cost"].as_f64().unwrap(), expected(&CALLS[5]).unwrap()), "{july}");
    let (_, even) = s.get(ADMIN_KEY, "/v1/costs?group_by=agent&agent=even").await;
    let want: f64 = CALLS.iter().enumerate().filter(|(i, _)| i % 2 == 0).filter_map(|(_, c)| expected(c)).sum();
    assert!(close(even["totals"]["cost"].as_f64().unwrap(), want));

    for (query, field) in [("group_by=colour", "group_by"), ("group_by=day,model,user", "group_by"), ("from=soon", "from"), ("limit=0", "limit")] {
        let (status, body) = s.get(ADMIN_KEY, &format!("/v1/costs?{query}")).await;
        assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{query}");
    }
}

#[tokio::test]
async fn a_project_price_override_applies_retroactively_for_its_period_only() {
    let s = Server::start().await;
    let other = s.create_key("other", &["ingest", "read"]).await;
    let steps: Vec<Value> = CALLS[..2].iter().enumerate().map(|(i, c)| step_of(i, c)).collect();
    s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await;
    s.post_steps(&other, ndjson(&steps), &[]).await;

    // A negotiated gpt-4o rate from 2024-12-01, set after the steps arrived.
    let rate = json!({"model_key": "GPT-4o-2024-08-06", "effective_from": "2024-12-01T00:00:00Z", "input": 1.0, "output": 4.0,
                      "cache_read": 0.5, "source": "contract #12"});
    let (status, body) = s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/prices/overrides", rate).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["model_key"], "gpt-4o");

    let (_, costs) = s.get(ADMIN_KEY, "/v1/costs?group_by=day").await;
    let day = |d: &str| costs["groups"].as_array().unwrap().iter().find(|g| g["day"] == d).unwrap()["cost"].as_f64().unwrap();
    assert!(close(day("2024-09-01"), expected(&CALLS[0]).unwrap()), "before the override: list price");
    let overridden = (6_000.0 * 1.0 + 4_000.0 * 0.5 + 1_000.0 * 4.0) / 1e6;
    assert!(close(day("2025-01-01"), overridden), "from the override on: {}", day("2025-01-01"));

    let (_, theirs) = s.get(&other, "/v1/costs").await;
    let list: f64 = CALLS[..2].iter().filter_map(expected).sum();
    assert!(close(theirs["totals"]["cost"].as_f64().unwrap(), list), "other projects keep the list prices");
    let (_, prices) = s.get(ADMIN_KEY, "/v1/prices").await;
    assert_eq!(prices["overrides"][0]["source"], "contract #12");
    assert!(prices["prices"].as_array().unwrap().len() >= 20);
    let bad = json!({"model_key": "gpt-4o", "effective_from": "2024-12-01T00:00:00Z", "input": -1.0, "output": 4.0});
    assert_eq!(s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/prices/overrides", bad).await.0, StatusCode::BAD_REQUEST);
    // A name that is all prefix (found by schemathesis): refused, not
    // stored as a price for the empty model key.
    let nameless = json!({"model_key": "openai/", "effective_from": "2024-12-01T00:00:00Z", "input": 1.0, "output": 4.0});
    let (status, body) = s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/prices/overrides", nameless).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("model_key")), "{body}");
    let (_, prices) = s.get(ADMIN_KEY, "/v1/prices").await;
    assert!(prices["overrides"].as_array().unwrap().iter().all(|p| p["model_key"] != ""), "{prices}");
    assert!(prices["prices"][0]["effective_from"].as_str().unwrap().ends_with('Z'), "RFC 3339: {}", prices["prices"][0]);
    let read_only = s.create_key("default", &["read"]).await;
    let any = json!({"model_key": "gpt-4o", "effective_from": "2024-12-01T00:00:00Z", "input": 1.0, "output": 4.0});
    assert_eq!(s.send_json(reqwest::Method::POST, &read_only, "/v1/prices/overrides", any).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn sessions_over_their_budget_are_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)], &["--session-budget", "0.05", "--agent-budget", "frugal=0.001"]).await;
    // gpt-4o after 2024-10-02: 10,000 input + 1,000 output = 0.025 + 0.01 = $0.035 per call.
    let call = |session: &str, n: u64, agent: &str| json!({"session_id": session, "step": n, "timestamp": "2025-01-01T12:00:00Z",
        "agent": {"name": agent}, "model": {"name": "gpt-4o"}, "cost": {"input_tokens": 10_000, "output_tokens": 1_000}});
    let steps = vec![call("cheap", 0, "bot"), call("dear", 0, "bot"), call("dear", 1, "bot"), call("frugal-run", 0, "frugal")];
    s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await;
    let (_, list) = s.get(ADMIN_KEY, "/v1/sessions?limit=10").await;
    let flag = |id: &str| -> (f64, Value) {
        let row = list["sessions"].as_array().unwrap().iter().find(|r| r["session_id"] == id).unwrap();
        (row["cost"].as_f64().unwrap(), row["over_budget"].clone())
    };
    assert_eq!(flag("cheap"), (0.035, json!(false)));
    assert_eq!(flag("dear"), (0.07, json!(true)), "two calls: over the $0.05 session budget");
    assert_eq!(flag("frugal-run").1, json!(true), "one call, over its agent's $0.001 budget");
    let (_, html) = s.page(ADMIN_KEY, "/sessions").await;
    assert_eq!(html.matches("over budget</span>").count(), 2, "the list shows the badge");
    assert!(list["sessions"].as_array().unwrap().iter().all(|r| r.get("unpriced_steps").is_none()), "every step priced: {list}");
}

/// A session on a model with no price is not shown as costing $0 exactly:
/// its unpriced steps are counted beside the cost (API, MCP's shared view,
/// the web's list and page), as the cost report counts them.
#[tokio::test]
async fn a_session_on_an_unpriced_model_says_so_beside_its_cost() {
    let s = Server::start().await;
    let call = |n: u64, model: &str| json!({"session_id": "private", "step": n, "timestamp": "2025-01-01T12:00:00Z",
        "model": {"name": model}, "cost": {"input_tokens": 5_000_000, "output_tokens": 100_000}});
    let steps = [call(0, "my-private-llm"), call(1, "gpt-4o"), call(2, "my-private-llm")];
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.1["accepted"], 3);
    let (_, one) = s.get(ADMIN_KEY, "/v1/sessions/private").await;
    // gpt-4o: 5M input + 100k output = 12.5 + 1.0.
    assert_eq!((one["cost"].as_f64(), one["unpriced_steps"].as_u64()), (Some(13.5), Some(2)), "{one}");
    let (_, list) = s.get(ADMIN_KEY, "/v1/sessions").await;
    assert_eq!(list["sessions"][0]["unpriced_steps"], 2, "{list}");
    let (_, costs) = s.get(ADMIN_KEY, "/v1/costs?group_by=session").await;
    assert_eq!(costs["groups"][0]["unpriced_steps"], 2, "as the cost report counts them: {costs}");
    let (_, html) = s.page(ADMIN_KEY, "/sessions").await;
    assert!(html.contains("$13.5000 + 2 unpriced steps"), "the list");
    let (_, html) = s.page(ADMIN_KEY, "/sessions/private").await;
    assert!(html.contains("$13.5000 + 2 unpriced steps (the client estimated"), "the page");
}

/// A dimension asked for twice is one column of the engine's row; the
/// answer groups by it once (it was a 503 while cost rows became typed).
#[tokio::test]
async fn a_dimension_named_twice_groups_once() {
    let s = Server::start().await;
    let steps: Vec<Value> = CALLS.iter().enumerate().map(|(i, c)| step_of(i, c)).collect();
    s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await;
    let (status, twice) = s.get(ADMIN_KEY, "/v1/costs?group_by=model,model").await;
    assert_eq!(status, StatusCode::OK, "{twice}");
    let (_, once) = s.get(ADMIN_KEY, "/v1/costs?group_by=model").await;
    assert_eq!(twice["groups"], once["groups"]);
    assert!(!once["groups"].as_array().unwrap().is_empty());
    let file = s.http.get(format!("{}/v1/costs?group_by=model,model&format=csv", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    let csv = file.text().await.unwrap();
    assert!(csv.starts_with("model,model,steps,"), "{csv}");
}

/// An override that gives no cache prices bills cached tokens as input (no
/// discount), as a provider without one does: they were priced at 0, so
/// 900k cached of 1M input tokens cost nothing (found by a hostile probe
/// of the costs). One that gives them is priced by them, 0 included.
#[tokio::test]
async fn an_override_without_cache_prices_bills_cached_tokens_as_input() {
    let s = Server::start().await;
    let step = |session: &str| json!({"session_id": session, "step": 0, "timestamp": "2025-06-01T00:00:00Z", "model": {"name": "gpt-4o-mini"},
                                       "cost": {"input_tokens": 1_000_000, "cache_read_tokens": 900_000, "cache_write_tokens": 100_000}});
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&[step("s")]), &[]).await.1["accepted"], 1);
    let cost = || async { s.get(ADMIN_KEY, "/v1/costs").await.1["totals"]["cost"].as_f64().unwrap() };
    let rate = json!({"model_key": "gpt-4o-mini", "effective_from": "2025-01-01T00:00:00Z", "input": 10.0, "output": 10.0});
    assert_eq!(s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/prices/overrides", rate).await.0, StatusCode::CREATED);
    assert!(close(cost().await, 10.0), "every input token at $10 per 1M: {}", cost().await);
    let (_, prices) = s.get(ADMIN_KEY, "/v1/prices").await;
    let listed = &prices["overrides"][0];
    assert_eq!((listed["cache_read"].as_f64(), listed["cache_write"].as_f64()), (Some(10.0), Some(10.0)), "listed as applied: {listed}");
    let free_reads = json!({"model_key": "gpt-4o-mini", "effective_from": "2025-02-01T00:00:00Z", "input": 10.0, "output": 10.0,
                            "cache_read": 0.0, "cache_write": 20.0});
    assert_eq!(s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/prices/overrides", free_reads).await.0, StatusCode::CREATED);
    // The cache's reads and writes are parts of the input: uncached 0,
    // 900k read at 0, 100k written at $20.
    assert!(close(cost().await, 2.0), "{}", cost().await);
    // Above a tier threshold, the cache prices left out are the tier's
    // input price (the base one would be a discount there).
    let tiered = json!({"model_key": "o3", "effective_from": "2025-01-01T00:00:00Z", "input": 2.0, "output": 8.0,
                        "tier_threshold": 200_000, "tier_input": 4.0});
    assert_eq!(s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/prices/overrides", tiered).await.0, StatusCode::CREATED);
    let (_, prices) = s.get(ADMIN_KEY, "/v1/prices").await;
    let o3 = prices["overrides"].as_array().unwrap().iter().find(|p| p["model_key"] == "o3").unwrap().clone();
    let listed = ["cache_read", "cache_write", "tier_cache_read", "tier_cache_write"].map(|k| o3[k].as_f64());
    assert_eq!(listed, [Some(2.0), Some(2.0), Some(4.0), Some(4.0)], "{o3}");
}

/// Days, weeks and months are the steps' own however late or early they
/// are dated: a step of 2199-12-31 (the last day a step may have) was
/// filed under 2020-07-26 by day and 2149-06-06 by week and month (the
/// engine's Date ends in 2149), and the week of 1970-01-01 began that day,
/// not on the Monday before (found by a hostile probe of the costs).
#[tokio::test]
async fn a_step_dated_at_either_end_of_the_range_is_costed_under_its_own_day_week_and_month() {
    let s = Server::start().await;
    let step = |session: &str, ts: &str| json!({"session_id": session, "step": 0, "timestamp": ts, "model": {"name": "gpt-4o"},
                                                "cost": {"input_tokens": 1_000_000}});
    let steps = [step("last", "2199-12-31T23:59:59Z"), step("first", "1970-01-01T00:00:00Z")];
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.1["accepted"], 2);
    for (dimension, wanted) in [("day", ["1970-01-01", "2199-12-31"]), ("week", ["1969-12-29", "2199-12-30"]), ("month", ["1970-01-01", "2199-12-01"])] {
        let (status, costs) = s.get(ADMIN_KEY, &format!("/v1/costs?group_by=session,{dimension}")).await;
        assert_eq!(status, StatusCode::OK, "{costs}");
        let mut found: Vec<(String, String)> = costs["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["session"].as_str().unwrap().to_string(), g[dimension].as_str().unwrap().to_string()))
            .collect();
        found.sort_by(|a, b| a.1.cmp(&b.1));
        assert_eq!(found, [("first".to_string(), wanted[0].to_string()), ("last".to_string(), wanted[1].to_string())], "{dimension}: {costs}");
    }
    // A range may end at the end of time, which the last step is before
    // (it was refused as outside the range a timestamp may have).
    let (status, costs) = s.get(ADMIN_KEY, "/v1/costs?from=2199-12-31T00:00:00Z&to=2200-01-01T00:00:00Z").await;
    assert_eq!((status, costs["totals"]["steps"].as_u64()), (StatusCode::OK, Some(1)), "{costs}");
}

/// An override posted again for the same model and date supersedes the one
/// before it: every read prices with the later one, the totals agree with
/// their groups, and the project's price list shows one override there.
/// (Both rows were kept and the engine picked either, differently from one
/// read to the next: a total of 144 beside a group of 192.)
#[tokio::test]
async fn an_override_posted_again_for_its_date_supersedes_the_one_before() {
    let s = Server::start().await;
    // 48 calls of 1M input tokens, one an hour over two days.
    let steps: Vec<Value> = (0..48)
        .map(|i| json!({"session_id": format!("s{}", i % 6), "step": i / 6, "timestamp": format!("2026-11-{:02}T{:02}:00:00Z", 10 + i / 24, i % 24),
                        "model": {"name": "gpt-4o"}, "cost": {"input_tokens": 1_000_000}}))
        .collect();
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.1["accepted"], 48);
    for input in [3.0, 4.0] {
        let rate = json!({"model_key": "gpt-4o", "effective_from": "2026-11-01T00:00:00Z", "input": input, "output": 10.0, "source": format!("rate {input}")});
        assert_eq!(s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/prices/overrides", rate).await.0, StatusCode::CREATED);
    }
    for round in 0..5 {
        for (query, calls) in [("", 48.0), ("?group_by=session", 48.0), ("?group_by=model,day", 48.0), ("?from=2026-11-10T00:00:00Z&to=2026-11-11T00:00:00Z", 24.0)] {
            let (status, costs) = s.get(ADMIN_KEY, &format!("/v1/costs{query}")).await;
            assert_eq!(status, StatusCode::OK, "{costs}");
            let total = costs["totals"]["cost"].as_f64().unwrap();
            let groups: f64 = costs["groups"].as_array().unwrap().iter().map(|g| g["cost"].as_f64().unwrap()).sum();
            assert!(close(total, calls * 4.0) && close(groups, total), "read {round} of /v1/costs{query}: total {total}, groups {groups}");
        }
    }
    let (_, prices) = s.get(ADMIN_KEY, "/v1/prices").await;
    let overrides = prices["overrides"].as_array().unwrap();
    assert_eq!((overrides.len(), overrides[0]["input"].as_f64(), overrides[0]["source"].as_str()), (1, Some(4.0), Some("rate 4")), "{prices}");
}

/// A price override's mistakes are refused, each naming its field: a price
/// out of range, a tier price without the threshold that makes it apply,
/// a misspelt field (which was taken as a price of 0), and a price that
/// cannot be kept exactly.
#[tokio::test]
async fn a_bad_price_override_is_refused_naming_its_field() {
    let s = Server::start().await;
    let with = |extra: Value| {
        let mut rate = json!({"model_key": "gpt-4o", "effective_from": "2026-11-01T00:00:00Z", "input": 1.0, "output": 4.0});
        rate.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        rate
    };
    for (extra, field) in [
        (json!({"output": 1e7}), "output"),
        (json!({"reasoning": -2.0}), "reasoning"),
        (json!({"tier_output": 2e6, "tier_threshold": 200000}), "tier_output"),
        (json!({"tier_input": 6.0}), "tier_input"),
        (json!({"effective_from": "2026-11-01T00:00:00.1234567Z"}), "effective_from"),
    ] {
        let (status, body) = s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/prices/overrides", with(extra.clone())).await;
        assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{extra}: {body}");
    }
    let (status, body) = s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/prices/overrides", with(json!({"cachewrite": 5.0}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("cachewrite"), "{body}");
    // A price a double does not hold is refused, not kept as another
    // (serde read 1e-400 as 0: the model's calls became free).
    for (literal, field) in [("1e-400", "input"), ("1.0000000000000000001", "input"), ("123456789012345678901234", "input")] {
        let body = format!(r#"{{"model_key":"gpt-4o","effective_from":"2026-11-01T00:00:00Z","input":{literal},"output":4.0}}"#);
        let resp = s.http.post(format!("{}/v1/prices/overrides", s.base)).bearer_auth(ADMIN_KEY).body(body).send().await.unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{literal}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("cannot be stored exactly"), "{literal}: {body}");
    }
    let (_, prices) = s.get(ADMIN_KEY, "/v1/prices").await;
    assert_eq!(prices["overrides"], json!([]), "nothing refused was kept");
    // A misspelt filter of the costs is refused too, not ignored (the
    // answer was the whole project's).
    // It names the parameter as its field, as the lists' refusals do (it
    // said so only in its message: found by a hostile probe of the costs).
    let (status, body) = s.get(ADMIN_KEY, "/v1/costs?user_id=cust-1").await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("user_id")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("no such parameter"), "{body}");
}

/// The sessions over their budget are found by their computed cost, and a
/// session's own summary carries that cost: a session whose client sent no
/// estimate was missed among a hundred with larger estimates, and its
/// summary said only the estimate, $0. One over its agent's smaller budget
/// is found too, however many sessions cost more (under the budget for
/// every session) and however little its agent's own steps cost: it was
/// looked for among the 100 dearest only (found by a hostile probe of the
/// costs). An agent's budget given twice keeps the smaller.
#[tokio::test]
async fn the_sessions_over_budget_are_found_by_their_computed_cost() {
    let dir = tempfile::tempdir().unwrap();
    let budgets = ["--session-budget", "5", "--agent-budget", "bot=2", "--agent-budget", "bot=9"];
    let s = Server::start_with(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)], &budgets).await;
    // 120 sessions whose clients estimate $0.50 for calls of 1.6M gpt-4o
    // input tokens ($4, under the session budget), one of 10M ($25) with
    // no estimate; 110 of the bot's at $0.50, and one where the bot's
    // step costs $0.01 and a helper's $3 ($3.01: over the bot's $2).
    let call = |session: String, n: u64, agent: &str, tokens: u64| {
        json!({"session_id": session, "step": n, "timestamp": "2026-11-10T10:00:00Z", "model": {"name": "gpt-4o"},
               "agent": {"name": agent}, "cost": {"input_tokens": tokens, "estimated_cost": 0.5}})
    };
    let mut steps: Vec<Value> = (0..120).map(|i| call(format!("cheap-{i}"), 0, "x", 1_600_000)).collect();
    steps.extend((0..110).map(|i| call(format!("bot-{i}"), 0, "bot", 200_000)));
    steps.push(json!({"session_id": "dear", "step": 0, "timestamp": "2026-11-10T11:00:00Z", "model": {"name": "gpt-4o"},
                      "cost": {"input_tokens": 10_000_000}}));
    steps.extend([call("bot-run".into(), 0, "bot", 4_000), call("bot-run".into(), 1, "helper", 1_200_000)]);
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.1["accepted"], 233);
    let (_, html) = s.page(ADMIN_KEY, "/costs").await;
    let over = html.split_once("Over budget</h2>").and_then(|(_, rest)| rest.split_once("</table>")).map(|(list, _)| list).unwrap_or_default();
    assert!(over.contains(r#"<a href="/sessions/dear">dear</a>"#), "the costs page lists it over budget: {over}");
    assert!(over.contains(r#"<a href="/sessions/bot-run">bot-run</a>"#), "and the bot's, over its own budget: {over}");
    assert_eq!(over.matches("<tr>").count(), 2, "and only those: {over}");
    assert!(over.find("dear").unwrap() < over.find("bot-run").unwrap(), "dearest first: {over}");
    let (_, bot) = s.get(ADMIN_KEY, "/v1/sessions/bot-run").await;
    assert_eq!((bot["cost"].as_f64(), bot["over_budget"].as_bool()), (Some(3.01), Some(true)), "the smaller of the bot's two budgets: {bot}");
    let (_, header) = s.get(ADMIN_KEY, "/v1/sessions/dear").await;
    assert_eq!((header["cost"].as_f64(), header["over_budget"].as_bool(), header["estimated_cost"].as_f64()), (Some(25.0), Some(true), Some(0.0)), "{header}");
    let (_, html) = s.page(ADMIN_KEY, "/sessions/dear").await;
    assert!(html.contains("$25.0000 (the client estimated $0.0000)"), "the session page says both");
}

/// A long-context call's cache writes are priced at the tier's cache write
/// price where the list has one (claude-sonnet-4 over 200k input tokens:
/// $7.50 per 1M, twice the base); they were priced at the base, 19% under
/// the bill for this call. An override can set it too.
#[tokio::test]
async fn long_context_cache_writes_are_priced_at_the_tiers_rate() {
    let s = Server::start().await;
    let call = |session: &str, input: u64, cache_write: u64| json!({"session_id": session, "step": 0, "timestamp": "2025-09-01T12:00:00Z",
        "model": {"name": "claude-sonnet-4"}, "cost": {"input_tokens": input, "cache_write_tokens": cache_write}});
    let steps = [call("long", 300_000, 100_000), call("short", 150_000, 100_000)];
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.1["accepted"], 2);
    let cost_of = |costs: &Value, session: &str| costs["groups"].as_array().unwrap().iter().find(|g| g["session"] == session).unwrap()["cost"].as_f64().unwrap();
    let (_, costs) = s.get(ADMIN_KEY, "/v1/costs?group_by=session").await;
    // 200k uncached at $6.00 and 100k written at $7.50; below the threshold,
    // 50k at $3.00 and 100k at $3.75.
    assert!(close(cost_of(&costs, "long"), 200_000.0 * 6.0 / 1e6 + 100_000.0 * 7.5 / 1e6), "{costs}");
    assert!(close(cost_of(&costs, "short"), 50_000.0 * 3.0 / 1e6 + 100_000.0 * 3.75 / 1e6), "{costs}");
    let rate = json!({"model_key": "claude-sonnet-4", "effective_from": "2025-01-01T00:00:00Z", "input": 3.0, "output": 15.0, "cache_write": 3.75,
                      "tier_threshold": 200000, "tier_input": 6.0, "tier_cache_write": 10.0});
    assert_eq!(s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/prices/overrides", rate).await.0, StatusCode::CREATED);
    let (_, costs) = s.get(ADMIN_KEY, "/v1/costs?group_by=session").await;
    assert!(close(cost_of(&costs, "long"), 200_000.0 * 6.0 / 1e6 + 100_000.0 * 10.0 / 1e6), "{costs}");
}

#[tokio::test]
async fn a_session_without_an_estimate_is_not_one_whose_estimate_differs() {
    let s = Server::start().await;
    let step = |session: &str, estimate: Option<f64>| {
        let mut v = json!({"session_id": session, "step": 0, "timestamp": "2026-11-02T10:00:00Z", "model": {"name": "gpt-4o"},
                           "cost": {"input_tokens": 100000, "output_tokens": 10000}});
        if let Some(e) = estimate {
            v["cost"]["estimated_cost"] = json!(e);
        }
        v
    };
    let steps = [step("no-estimate", None), step("wrong-estimate", Some(5.0)), step("right-estimate", Some(0.35))];
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.1["accepted"], 3);
    let (status, by_session) = s.get(ADMIN_KEY, "/v1/costs?group_by=session&from=2026-11-01T00:00:00Z&to=2026-11-03T00:00:00Z").await;
    assert_eq!(status, StatusCode::OK, "{by_session}");
    let differs = |session: &str| {
        let row = by_session["groups"].as_array().unwrap().iter().find(|g| g["session"] == session).unwrap_or_else(|| panic!("{session}: {by_session}"));
        assert!(close(row["cost"].as_f64().unwrap(), 0.35), "gpt-4o at $2.50/$10 per 1M: {row}");
        row["estimate_differs"].clone()
    };
    assert_eq!(differs("no-estimate"), false, "no estimate was sent: {by_session}");
    assert_eq!(differs("wrong-estimate"), true);
    assert_eq!(differs("right-estimate"), false);
}

/// A cost query names what a step could have, as ingestion takes it: an
/// agent longer than any id or more tags than a step may carry are
/// refused, naming the parameter (each was answered 200). (A dimension
/// named twice groups once: `a_dimension_named_twice_groups_once`.)
#[tokio::test]
async fn a_cost_query_naming_what_no_step_could_have_is_refused() {
    let s = Server::start().await;
    let tags = (0..300).map(|i| format!("t{i}")).collect::<Vec<_>>().join(",");
    let long = "a".repeat(257);
    for (query, field) in [(&*format!("agent={long}"), "agent"), (&*format!("tags={tags}"), "tags")] {
        let (status, answer) = s.get(ADMIN_KEY, &format!("/v1/costs?{query}")).await;
        assert_eq!((status, answer["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{query}: {answer}");
    }
    let (status, answer) = s.get(ADMIN_KEY, &format!("/v1/costs?agent={}&tags=a,b", "a".repeat(256))).await;
    assert_eq!(status, StatusCode::OK, "the longest id is looked up: {answer}");
}
