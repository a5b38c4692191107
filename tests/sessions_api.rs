//! Session reads through the real binary: the list's filters, sorting and
//! cursors, and the timeline of a 10,000-step session.

use flightlog_tests::*;
use std::collections::HashSet;

#[tokio::test]
async fn a_10k_step_session_pages_completely_and_in_order() {
    let s = Server::start().await;
    // Sent out of order, in batches of 1,000, to prove the read order is the
    // step order and not the arrival order.
    let mut steps: Vec<u64> = (0..10_000).collect();
    steps.reverse();
    for chunk in steps.chunks(1000) {
        let body = ndjson(&chunk.iter().map(|n| step("big", *n)).collect::<Vec<_>>());
        let (status, answer) = s.post_steps(ADMIN_KEY, body, &[]).await;
        assert_eq!((status, answer["accepted"].as_u64()), (StatusCode::OK, Some(1000)), "{answer}");
    }
    for page in [1000, 137] {
        let all = s.all_steps(ADMIN_KEY, "big", page).await;
        let numbers: Vec<u64> = all.iter().map(|x| x["step"].as_u64().unwrap()).collect();
        assert_eq!(numbers, (0..10_000).collect::<Vec<_>>(), "page size {page}");
    }
    let (_, deep) = s.get(ADMIN_KEY, "/v1/sessions/big/steps?after=9994&limit=10").await;
    let numbers: Vec<u64> = deep["steps"].as_array().unwrap().iter().map(|x| x["step"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [9995, 9996, 9997, 9998, 9999]);
    assert!(deep.get("next_after").is_none(), "the last page has no cursor");
    // Past the last step: an empty page of a session; of no session, a 404
    // (with `after` too), the timeline's and the reproduction's alike.
    let (status, past) = s.get(ADMIN_KEY, "/v1/sessions/big/steps?after=9999").await;
    assert_eq!((status, past["steps"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{past}");
    for path in ["/v1/sessions/nope/steps?after=0", "/v1/sessions/nope/reproduction?after=0"] {
        assert_eq!(s.get(ADMIN_KEY, path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    let log: HashSet<u64> = s.all_steps(ADMIN_KEY, "big", 1000).await.iter().map(|x| x["log_index"].as_u64().unwrap()).collect();
    assert_eq!(log.len(), 10_000, "every accepted step has its own log position");
    let (_, summary) = s.get(ADMIN_KEY, "/v1/sessions/big").await;
    assert_eq!(summary["steps"], 10_000);

    let (status, bad) = s.get(ADMIN_KEY, "/v1/sessions/big/steps?limit=5000").await;
    assert_eq!((status, bad["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("limit")));
}

fn session_step(id: &str, n: u64, day: u32, agent: &str, user: &str, cost: f64, status: &str) -> Value {
    json!({"session_id": id, "step": n, "timestamp": format!("2026-03-{day:02}T12:00:{n:02}Z"),
           "agent": {"name": agent}, "user_id": user, "model": {"name": "gpt-4o"},
           "tool_execution": {"status": status}, "cost": {"estimated_cost": cost}})
}

#[tokio::test]
async fn the_session_list_filters_sorts_and_pages() {
    let s = Server::start().await;
    let mut steps = Vec::new();
    // 30 sessions: day d, (d % 3) + 1 steps, every 4th with a failure.
    for d in 1..=30u32 {
        let id = format!("s{d:02}");
        let agent = if d % 2 == 0 { "even-bot" } else { "odd-bot" };
        let user = format!("u{}", d % 5);
        for n in 0..(d % 3 + 1) as u64 {
            let status = if d % 4 == 0 && n == 0 { "error" } else { "ok" };
            steps.push(session_step(&id, n, d, agent, &user, d as f64 / 100.0, status));
        }
    }
    let (_, answer) = s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await;
    assert_eq!(answer["accepted"].as_u64(), Some(steps.len() as u64), "{answer}");

    let ids = |v: &Value| -> Vec<String> {
        v["sessions"].as_array().unwrap().iter().map(|x| x["session_id"].as_str().unwrap().to_string()).collect()
    };
    let (_, newest) = s.get(ADMIN_KEY, "/v1/sessions?limit=3").await;
    assert_eq!(ids(&newest), ["s30", "s29", "s28"], "newest first by default");

    let (_, failed) = s.get(ADMIN_KEY, "/v1/sessions?status=failed&limit=100").await;
    assert_eq!(ids(&failed).len(), 7);
    assert!(failed["sessions"].as_array().unwrap().iter().all(|x| x["status"] == "failed" && x["failed_steps"] == 1));

    let (_, even) = s.get(ADMIN_KEY, "/v1/sessions?agent=even-bot&user=u0&limit=100").await;
    assert_eq!(ids(&even), ["s30", "s20", "s10"]);
    // The web's list filters by the ids as typed: " u0" is no user here.
    let (_, page) = s.page(ADMIN_KEY, "/sessions?agent=even-bot&user=u0").await;
    assert!(page.contains("href=\"/sessions/s30\""), "{page}");
    let (_, page) = s.page(ADMIN_KEY, "/sessions?agent=even-bot&user=%20u0").await;
    assert!(!page.contains("href=\"/sessions/s30\""), "{page}");

    let (_, expensive) = s.get(ADMIN_KEY, "/v1/sessions?sort=cost&min_cost=0.5&min_steps=3&limit=100").await;
    // cost per session = steps × d/100; sessions with 3 steps are d % 3 == 2.
    let want: Vec<String> = (1..=30u32)
        .filter(|d| d % 3 == 2 && 3.0 * *d as f64 / 100.0 >= 0.5)
        .rev()
        .map(|d| format!("s{d:02}"))
        .collect();
    assert_eq!(ids(&expensive), want);

    let (_, window) = s.get(ADMIN_KEY, "/v1/sessions?from=2026-03-10T00:00:00Z&to=2026-03-12T00:00:00Z&order=asc").await;
    assert_eq!(ids(&window), ["s10", "s11"]);

    for sort in ["time", "cost", "steps"] {
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let (status, page) = s.get(ADMIN_KEY, &format!("/v1/sessions?sort={sort}&limit=7{cursor}")).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            seen.extend(ids(&page));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen.len(), 30, "sort={sort}: every session once");
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 30, "sort={sort}: no repeats");
    }
    // A cursor is for the sort and the order it was made for: read the
    // other way, it would list the first page's sessions again.
    let (_, first) = s.get(ADMIN_KEY, "/v1/sessions?sort=steps&limit=7").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    for other in ["sort=steps&order=asc", "sort=cost"] {
        let (status, body) = s.get(ADMIN_KEY, &format!("/v1/sessions?{other}&limit=7&cursor={cursor}")).await;
        assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("cursor")), "{other}: {body}");
    }
    let (_, asc) = s.get(ADMIN_KEY, "/v1/sessions?sort=steps&order=asc&limit=7").await;
    let asc_cursor = asc["next_cursor"].as_str().unwrap();
    let (status, next) = s.get(ADMIN_KEY, &format!("/v1/sessions?sort=steps&order=asc&limit=7&cursor={asc_cursor}")).await;
    assert_eq!(status, StatusCode::OK, "{next}");
    assert!(ids(&next).iter().all(|id| !ids(&asc).contains(id)), "the next page, none of the first again");

    for (query, field) in [("sort=size", "sort"), ("status=maybe", "status"), ("from=yesterday", "from"), ("cursor=abc", "cursor"), ("min_cost=lots", "min_cost")] {
        let (status, body) = s.get(ADMIN_KEY, &format!("/v1/sessions?{query}")).await;
        assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{query}: {body}");
    }
    assert_eq!(s.get(ADMIN_KEY, "/v1/sessions/nope").await.0, StatusCode::NOT_FOUND);
}

/// Anomaly badges and the flagged filter: the same tool with the same
/// parameters three times is a repeated side effect; twice is not, nor the
/// same tool with other parameters; 1,000 steps make a runaway.
#[tokio::test]
async fn repeated_side_effects_and_runaways_are_flagged() {
    let s = Server::start().await;
    let send = |session: &str, n: u64, to: &str| {
        json!({"session_id": session, "step": n, "timestamp": "2026-01-15T10:30:00Z",
               "tool_execution": {"name": "send_email", "params": {"to": to, "subject": "Your refund"}, "status": "ok"}})
    };
    let mut steps = vec![send("thrice", 0, "a@x.io"), send("thrice", 1, "a@x.io"), send("thrice", 2, "a@x.io")];
    steps.extend([send("twice", 0, "a@x.io"), send("twice", 1, "a@x.io")]);
    steps.extend((0..4).map(|n| send("varied", n, &format!("{n}@x.io"))));
    steps.extend((0..1000).map(|n| step("long", n)));
    // Sent in two batches: the counts add up across inserts.
    let (status, body) = s.post_steps(ADMIN_KEY, ndjson(&steps[..4]), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.post_steps(ADMIN_KEY, ndjson(&steps[4..]), &[]).await;

    let (_, all) = s.get(ADMIN_KEY, "/v1/sessions?limit=10").await;
    // The badges counted from the stored actions; the detectors' incidents
    // (written a moment later, tested in tests/incidents.rs) are left out.
    let anomalies = |page: &Value, id: &str| {
        page["sessions"].as_array().unwrap().iter().find(|x| x["session_id"] == id).map(|x| {
            Value::Array(x["anomalies"].as_array().unwrap().iter().filter(|a| a["kind"] != "incident").cloned().collect())
        })
    };
    assert_eq!(anomalies(&all, "thrice"), Some(json!([{"kind": "repeated_action", "tool": "send_email", "times": 3}])));
    assert_eq!(anomalies(&all, "twice"), Some(json!([])));
    assert_eq!(anomalies(&all, "varied"), Some(json!([])));
    assert_eq!(anomalies(&all, "long"), Some(json!([{"kind": "runaway", "steps": 1000}])));

    let (_, flagged) = s.get(ADMIN_KEY, "/v1/sessions?flagged=true&limit=10").await;
    let mut ids: Vec<&str> = flagged["sessions"].as_array().unwrap().iter().map(|x| x["session_id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, ["long", "thrice"]);
    let (_, one) = s.get(ADMIN_KEY, "/v1/sessions/thrice").await;
    assert_eq!(one["anomalies"][0]["times"], 3);
    let (status, bad) = s.get(ADMIN_KEY, "/v1/sessions?flagged=maybe").await;
    assert_eq!((status, bad["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("flagged")));

    let (_, html) = s.page(ADMIN_KEY, "/sessions?flagged=true").await;
    assert!(html.contains("send_email ×3") && html.contains("runaway: 1000 steps"), "badges on the page");
    assert!(!html.contains(">twice<"));
}
