//! A query over its memory budget is a clear 503 `over_memory_budget`
//! (the API and the pages), never an out-of-memory kill: the server goes on
//! accepting steps, and the same data answers under a normal budget. On
//! both backends (the budget is ClickHouse's own `max_memory_usage`, sent
//! with every statement).

use flightlog_tests::*;

/// Far too little for a read of the steps table (its column buffers alone
/// are more), enough for everything the server does at start-up.
const TINY: &str = "8MiB";
const STEPS: u64 = 300;
const JANUARY: &str = "from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z";

fn priced_step(n: u64) -> Value {
    json!({"session_id": format!("budget-{}", n % 30), "step": n / 30, "timestamp": "2026-01-15T10:30:00Z",
           "model": {"name": "gpt-4o-mini"}, "cost": {"input_tokens": 1000 + n, "output_tokens": 100}})
}

#[tokio::test]
async fn a_query_over_its_memory_budget_is_refused_clearly_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), ("FLIGHTLOG_QUERY_MEMORY", TINY)];
    let mut s = Server::start_in(dir.path(), &env).await;

    // Ingest is not a query: it is acknowledged as ever.
    let steps: Vec<Value> = (0..STEPS).map(priced_step).collect();
    let (status, body) = s.post_steps(ADMIN_KEY, ndjson(&steps), &[("content-type", "application/x-ndjson")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], STEPS, "{body}");

    // The cost query is too big for 8 MiB: 503, what to do, no Retry-After
    // (the same question would need the same memory).
    let resp = s
        .http
        .get(format!("{}/v1/costs?group_by=session&{JANUARY}", s.base))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().get("retry-after").is_none());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "over_memory_budget", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("8 MiB") && message.contains("--query-memory") && message.contains("narrow"), "{message}");
    assert!(!message.contains("DB::Exception"), "engine internals leaked: {message}");

    // The costs page says the same instead of a generic failure.
    let (status, html) = s.page(ADMIN_KEY, &format!("/costs?{JANUARY}")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(html.contains("needs more memory than one query may use (8 MiB"), "{html}");

    // Still accepting steps after the refusals.
    let (status, body) = s.post_steps(ADMIN_KEY, priced_step(STEPS).to_string(), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The same data under the default budget: everything is there.
    s.terminate();
    let s = Server::start_in(dir.path(), &env[..1]).await;
    let (status, costs) = s.get(ADMIN_KEY, &format!("/v1/costs?{JANUARY}")).await;
    assert_eq!(status, StatusCode::OK, "{costs}");
    assert_eq!(costs["totals"]["steps"], STEPS + 1, "{costs}");
}
