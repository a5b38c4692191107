//! What a hostile client found, each as a regression test through the real
//! binary: parameters mean exactly what was sent (a property test over
//! awkward ids), costs with nothing to average, step numbers past the
//! range, numbers and keys that would be silently changed, and client
//! mistakes that were reported as server failures.

use flightlog_tests::*;
use reqwest::Method;
use std::collections::BTreeSet;

/// A path segment, percent-encoded as a segment (`/` included).
fn seg(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The same, for a query value.
fn q(s: &str) -> String {
    seg(s)
}

/// Deterministic awkward strings: backslashes, `\N`, quotes, percent
/// signs, slashes, unicode; never control characters (ids refuse them).
fn awkward_ids(count: usize) -> Vec<String> {
    const PIECES: [&str; 22] = [
        "\\", "\\N", "N", "'", "\"", "%", "/", "?", "#", "&", "=", "+", " ", "é", "😀", "[", "]", "{", "}", ":", "a", "\\\\",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out: BTreeSet<String> = [r"\N", r"a\b", r"a\\b", r"x\", r"\", "N", "it's", "victim/steps/0", "%41", " lead"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    while out.len() < count {
        let len = 1 + (next() % 6) as usize;
        let id: String = (0..len).map(|_| PIECES[(next() % PIECES.len() as u64) as usize]).collect();
        out.insert(id);
    }
    out.into_iter().collect()
}

fn step_of(session: &str, user: &str, n: u64) -> Value {
    json!({"session_id": session, "step": n, "timestamp": format!("2026-02-01T10:00:0{n}Z"),
           "agent": {"name": session}, "user_id": user,
           "agent_thoughts": {"reasoning": format!("decide for {session}"), "chosen_tool": "lookup"},
           "tool_execution": {"name": "lookup", "params": {"who": session}, "status": if n == 1 { "error" } else { "ok" },
                              "error": if n == 1 { json!("lookup failed") } else { Value::Null }},
           "prompt": {"system": "be exact", "completion": format!("done {session}")},
           "model": {"name": "gpt-4o"}, "cost": {"input_tokens": 100, "output_tokens": 10}})
}

#[tokio::test]
async fn every_parameter_means_exactly_the_id_that_was_sent() {
    let s = Server::start().await;
    let ids = awkward_ids(40);
    // Each id is a session, a user and an agent of its own.
    let all: Vec<Value> = ids.iter().flat_map(|id| [step_of(id, id, 0), step_of(id, id, 1)]).collect();
    let (status, body) = s.post_steps(ADMIN_KEY, ndjson(&all), &[]).await;
    assert_eq!((status, body["accepted"].as_u64()), (StatusCode::OK, Some(all.len() as u64)), "{body}");

    for id in &ids {
        // Read: the timeline and the summary of exactly this session.
        let (status, tl) = s.get(ADMIN_KEY, &format!("/v1/sessions/{}/steps", seg(id))).await;
        assert_eq!(status, StatusCode::OK, "{id:?}: {tl}");
        assert_eq!(tl["session_id"], json!(id));
        assert_eq!(tl["steps"].as_array().unwrap().len(), 2, "{id:?}");
        for st in tl["steps"].as_array().unwrap() {
            assert_eq!(st["data"]["session_id"], json!(id));
        }
        let (status, one) = s.get(ADMIN_KEY, &format!("/v1/sessions/{}", seg(id))).await;
        assert_eq!((status, &one["session_id"]), (StatusCode::OK, &json!(id)), "{one}");
        let (status, page) = s.get(ADMIN_KEY, &format!("/v1/sessions/{}/steps?after=0", seg(id))).await;
        assert_eq!((status, page["steps"][0]["step"].as_u64()), (StatusCode::OK, Some(1)), "{page}");

        // Filter: by user and by agent, only this session.
        for filter in ["user", "agent"] {
            let (status, list) = s.get(ADMIN_KEY, &format!("/v1/sessions?{filter}={}", q(id))).await;
            assert_eq!(status, StatusCode::OK, "{filter}={id:?}: {list}");
            let found: Vec<&Value> = list["sessions"].as_array().unwrap().iter().map(|x| &x["session_id"]).collect();
            assert_eq!(found, [&json!(id)], "{filter}={id:?}");
        }
        let (status, costs) = s.get(ADMIN_KEY, &format!("/v1/costs?group_by=session&user={}", q(id))).await;
        assert_eq!(status, StatusCode::OK, "{costs}");
        assert_eq!(costs["groups"].as_array().unwrap().len(), 1, "{id:?}: {costs}");
        assert_eq!(costs["groups"][0]["session"], json!(id));

        // Verify: this session's two steps, intact.
        let (status, report) = s.get(ADMIN_KEY, &format!("/v1/sessions/{}/verify", seg(id))).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(report["steps_checked"].as_u64(), Some(2), "{id:?}: {report}");
        assert_ne!(report["status"], "failed", "{report}");
        let (status, repro) = s.get(ADMIN_KEY, &format!("/v1/sessions/{}/reproduction", seg(id))).await;
        assert_eq!(status, StatusCode::OK, "{repro}");
    }

    // Export: every session comes back under its own id, twice.
    let resp = s.http.get(format!("{}/v1/export/steps?format=csv", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let col = reader.headers().unwrap().iter().position(|h| h == "session_id").unwrap();
    let mut exported = std::collections::BTreeMap::<String, u32>::new();
    for row in reader.records() {
        *exported.entry(row.unwrap()[col].to_string()).or_default() += 1;
    }
    assert_eq!(exported.len(), ids.len());
    assert!(ids.iter().all(|id| exported.get(id) == Some(&2)), "{exported:?}");

    // Erase: by user, then by session; each takes exactly its own steps.
    let (half_by_user, half_by_session) = ids.split_at(ids.len() / 2);
    for id in half_by_user.iter().take(8) {
        let (status, done) = s.send_json(Method::POST, ADMIN_KEY, "/v1/erasures", json!({"user_id": id})).await;
        assert_eq!(status, StatusCode::OK, "{done}");
        assert_eq!((done["steps_erased"].as_u64(), &done["sessions"]), (Some(2), &json!([id])), "user {id:?}");
    }
    for id in half_by_session.iter().take(8) {
        let (status, done) = s.send_json(Method::POST, ADMIN_KEY, "/v1/erasures", json!({"session_id": id})).await;
        assert_eq!(status, StatusCode::OK, "{done}");
        assert_eq!((done["steps_erased"].as_u64(), &done["sessions"]), (Some(2), &json!([id])), "session {id:?}");
    }
    let erased: BTreeSet<&String> = half_by_user.iter().take(8).chain(half_by_session.iter().take(8)).collect();
    for id in &ids {
        let (_, tl) = s.get(ADMIN_KEY, &format!("/v1/sessions/{}/steps", seg(id))).await;
        let completion = &tl["steps"][0]["data"]["prompt"]["completion"];
        if erased.contains(id) {
            assert_eq!(completion, &Value::Null, "{id:?} was erased");
        } else {
            assert_eq!(completion, &json!(format!("done {id}")), "{id:?} must be untouched");
        }
    }
}

#[tokio::test]
async fn an_erasure_of_session_backslash_n_erases_only_that_session() {
    let s = Server::start().await;
    let steps = [step_of("alice-1", "alice", 0), step_of("bob-1", "bob", 0), step_of(r"\N", r"a\b", 0), step_of("x", r"a\\b", 0)];
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.1["accepted"], 4);
    let (status, done) = s.send_json(Method::POST, ADMIN_KEY, "/v1/erasures", json!({"session_id": r"\N"})).await;
    assert_eq!((status, done["steps_erased"].as_u64(), &done["sessions"]), (StatusCode::OK, Some(1), &json!([r"\N"])), "{done}");
    let (status, done) = s.send_json(Method::POST, ADMIN_KEY, "/v1/erasures", json!({"user_id": r"a\\b"})).await;
    assert_eq!((status, &done["sessions"]), (StatusCode::OK, &json!(["x"])), "user a\\\\b is the one in session x: {done}");
    let (status, done) = s.send_json(Method::POST, ADMIN_KEY, "/v1/erasures", json!({"user_id": r"x\"})).await;
    assert_eq!((status, done["steps_erased"].as_u64()), (StatusCode::OK, Some(0)), "{done}");
    let (_, alice) = s.get(ADMIN_KEY, "/v1/sessions/alice-1/steps").await;
    assert_eq!(alice["steps"][0]["data"]["prompt"]["completion"], "done alice-1", "alice is untouched");
}

/// Identifiers refuse the characters that reorder text (a session
/// `refund-7` + U+202E shown before ` #12` read `refund-721#`), and a legal
/// hold refuses an id no step could have, as it would hold nothing.
#[tokio::test]
async fn identifiers_that_would_reorder_the_text_around_them_are_refused() {
    let s = Server::start().await;
    let base = json!({"session_id": "ok", "step": 0, "timestamp": "2026-01-15T10:30:00Z", "agent": {"name": "billing"}, "user_id": "u"});
    for (field, path, value) in [
        ("session_id", "/session_id", "refund-7\u{202e}"),
        ("user_id", "/user_id", "\u{2066}customer"),
        ("agent.name", "/agent/name", "billing\u{202a}"),
        ("agent.name", "/agent/name", "billing\u{061c}"),
    ] {
        let mut step = base.clone();
        *step.pointer_mut(path).unwrap() = json!(value);
        let (status, answer) = s.post_steps(ADMIN_KEY, step.to_string(), &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {answer}");
        assert_eq!(answer["rejected"][0]["field"], field, "{answer}");
        assert!(answer["rejected"][0]["reason"].as_str().unwrap().contains("bidirectional"), "{answer}");
    }
    let (_, stored) = s.post_steps(ADMIN_KEY, base.to_string(), &[]).await;
    assert_eq!(stored["accepted"], 1, "the same step with plain ids is stored: {stored}");
    let (status, answer) = s.send_json(Method::POST, ADMIN_KEY, "/v1/legal-holds", json!({"subject": "user", "id": "a\u{0}b"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer.to_string().contains("\"id\""), "the refusal names id: {answer}");
    // Stored before ids refused them, such ids can still be held.
    let (status, answer) = s.send_json(Method::POST, ADMIN_KEY, "/v1/legal-holds", json!({"subject": "user", "id": "x\u{202e}y"})).await;
    assert!(status.is_success(), "{answer}");
}

/// An empty user beside a session is refused, naming it: read as "not
/// given" it erased every user's steps in the session.
#[tokio::test]
async fn an_erasure_naming_an_empty_user_or_session_is_refused() {
    let s = Server::start().await;
    let steps = [step_of("shared", "", 0), step_of("shared", "zed", 1)];
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.1["accepted"], 2);
    for body in [json!({"session_id": "shared", "user_id": ""}), json!({"session_id": "", "user_id": "zed"})] {
        let (status, answer) = s.send_json(Method::POST, ADMIN_KEY, "/v1/erasures", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let field = if body["user_id"] == "" { "user_id" } else { "session_id" };
        assert!(answer.to_string().contains(&format!("{field} is empty")), "{body}: {answer}");
    }
    let (_, shared) = s.get(ADMIN_KEY, "/v1/sessions/shared/steps").await;
    assert_eq!(shared["steps"][1]["data"]["prompt"]["completion"], "done shared", "zed is untouched: {shared}");
    let (status, done) = s.send_json(Method::POST, ADMIN_KEY, "/v1/erasures", json!({"session_id": "shared", "user_id": "zed"})).await;
    assert_eq!((status, done["steps_erased"].as_u64()), (StatusCode::OK, Some(1)), "{done}");
}

#[tokio::test]
async fn odd_characters_in_filters_are_answered_not_failed() {
    let s = Server::start().await;
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&[step_of("s", "u", 0)]), &[]).await.0, StatusCode::OK);
    for value in ["a\\", "\\", "\\N", "tab\there", "new\nline", "'; DROP TABLE steps; --", "%00"] {
        for path in [
            format!("/v1/sessions?agent={}", q(value)),
            format!("/v1/sessions?user={}&model={}", q(value), q(value)),
            format!("/v1/sessions/{}/steps", seg(value)),
            format!("/v1/costs?agent={}&user={}&tags={}", q(value), q(value), q(value)),
        ] {
            let (status, body) = s.get(ADMIN_KEY, &path).await;
            assert!(status == StatusCode::OK || status == StatusCode::NOT_FOUND, "{path}: {status} {body}");
        }
    }
}

#[tokio::test]
async fn costs_answer_when_no_session_succeeded() {
    let s = Server::start().await;
    let (status, empty) = s.get(ADMIN_KEY, "/v1/costs").await;
    assert_eq!(status, StatusCode::OK, "an empty project: {empty}");
    assert_eq!(empty["cost_per_successful_session"], Value::Null);
    let failed = step_of("only-failed", "u", 1);
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&[failed]), &[]).await.0, StatusCode::OK);
    for path in ["/v1/costs", "/v1/costs?agent=nobody", "/v1/costs?group_by=session"] {
        let (status, body) = s.get(ADMIN_KEY, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body["successful_sessions"], 0, "{path}: {body}");
    }
}

#[tokio::test]
async fn step_numbers_past_two_to_the_63_are_refused_and_the_largest_pages_and_exports() {
    let s = Server::start().await;
    let (status, body) = s.post_steps(ADMIN_KEY, json!({"session_id": "big", "step": 9_223_372_036_854_775_808u64, "timestamp": "2026-01-15T10:30:00Z"}).to_string(), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["rejected"][0]["field"], "step");
    assert!(body["rejected"][0]["reason"].as_str().unwrap().contains("9223372036854775807"), "{body}");

    let top = i64::MAX as u64;
    let steps: Vec<Value> = (0..5).map(|i| json!({"session_id": "big", "step": top - i, "timestamp": "2026-01-15T10:30:00Z"})).collect();
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.1["accepted"], 5);
    let all = s.all_steps(ADMIN_KEY, "big", 2).await;
    let numbers: Vec<u64> = all.iter().map(|x| x["step"].as_u64().unwrap()).collect();
    assert_eq!(numbers, (0..5).rev().map(|i| top - i).collect::<Vec<_>>(), "pages end, in order, with no repeats");
    let resp = s.http.get(format!("{}/v1/export/steps?format=csv", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    let text = resp.text().await.unwrap();
    assert_eq!(text.lines().count(), 6, "a header and five rows:\n{text}");
    let (status, _) = s.get(ADMIN_KEY, "/v1/sessions/big/verify").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn numbers_are_stored_exactly_or_refused_naming_the_field() {
    let s = Server::start().await;
    for (literal, field) in [
        ("123456789012345678901234567890", "tool_execution.result.id"),
        ("18446744073709551616", "tool_execution.result.id"),
        ("1.000000000000000000001", "tool_execution.result.id"),
    ] {
        let body = format!(r#"{{"session_id":"n","step":1,"timestamp":"2026-01-15T10:30:00Z","tool_execution":{{"result":{{"id":{literal}}}}}}}"#);
        let (status, answer) = s.post_steps(ADMIN_KEY, body, &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{literal}: {answer}");
        assert_eq!(answer["rejected"][0]["field"], field, "{answer}");
        assert!(answer["rejected"][0]["reason"].as_str().unwrap().contains("exactly"), "{answer}");
    }
    // What a double holds exactly is stored with the same value.
    let body = r#"{"session_id":"n","step":2,"timestamp":"2026-01-15T10:30:00Z","metadata":{"a":18446744073709551615,"b":-9223372036854775808,"c":0.1,"d":2.5e-3}}"#;
    let (status, answer) = s.post_steps(ADMIN_KEY, body, &[]).await;
    assert_eq!((status, answer["accepted"].as_u64()), (StatusCode::OK, Some(1)), "{answer}");
    let (_, tl) = s.get(ADMIN_KEY, "/v1/sessions/n/steps").await;
    let text = tl["steps"][0]["data"]["metadata"].to_string();
    assert_eq!(text, r#"{"a":18446744073709551615,"b":-9223372036854775808,"c":0.1,"d":0.0025}"#);
}

#[tokio::test]
async fn duplicate_keys_are_refused_naming_the_key() {
    let s = Server::start().await;
    let body = r#"{"session_id":"a","session_id":"b","step":0,"timestamp":"2026-01-15T10:30:00Z"}"#;
    let (status, answer) = s.post_steps(ADMIN_KEY, body, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["rejected"][0]["field"], "session_id");
    let body = "{\"session_id\":\"a\",\"step\":0,\"step\":1,\"timestamp\":\"2026-01-15T10:30:00Z\"}\n\
                {\"session_id\":\"a\",\"step\":2,\"timestamp\":\"2026-01-15T10:30:00Z\",\"model\":{\"name\":\"x\",\"name\":\"y\"}}\n\
                {\"session_id\":\"a\",\"step\":3,\"timestamp\":\"2026-01-15T10:30:00Z\"}";
    let (status, answer) = s.post_steps(ADMIN_KEY, body, &[]).await;
    assert_eq!((status, answer["accepted"].as_u64()), (StatusCode::OK, Some(1)), "the clean record is stored: {answer}");
    let fields: Vec<&Value> = answer["rejected"].as_array().unwrap().iter().map(|r| &r["field"]).collect();
    assert_eq!(fields, [&json!("step"), &json!("model.name")], "{answer}");
    let (status, _) = s.get(ADMIN_KEY, "/v1/sessions/b/steps").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was stored under the second spelling");
}

#[tokio::test]
async fn client_mistakes_in_parameters_are_400s_naming_the_parameter() {
    let s = Server::start().await;
    let steps: Vec<Value> = (0..3).map(|n| step_of(&format!("s{n}"), "u", 0)).collect();
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.0, StatusCode::OK);
    use base64::Engine as _;
    let cursor = |k: &str, o: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(r#"{{"k":{k},"s":"s1","o":"{o}"}}"#));
    // A cursor really made for the steps sort, then used with another.
    let (_, page) = s.get(ADMIN_KEY, "/v1/sessions?limit=1&sort=steps").await;
    let steps_cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (status, _) = s.get(ADMIN_KEY, &format!("/v1/sessions?limit=1&sort=steps&cursor={steps_cursor}")).await;
    assert_eq!(status, StatusCode::OK);
    for (path, field) in [
        (format!("/v1/sessions?limit=1&cursor={}", cursor("1e308", "time")), "cursor"),
        (format!("/v1/sessions?limit=1&sort=steps&cursor={}", cursor("-1", "steps")), "cursor"),
        (format!("/v1/sessions?limit=1&sort=cost&cursor={}", cursor("\"x\"", "cost")), "cursor"),
        (format!("/v1/sessions?limit=1&sort=time&cursor={steps_cursor}"), "cursor"),
        ("/v1/sessions?cursor=%%%".to_string(), "cursor"),
        ("/v1/sessions?min_cost=NaN".to_string(), "min_cost"),
        ("/v1/sessions?min_cost=inf".to_string(), "min_cost"),
        ("/v1/sessions?min_cost=1e400".to_string(), "min_cost"),
        ("/v1/sessions?from=9999-01-01T00:00:00Z".to_string(), "from"),
        ("/v1/sessions?to=0001-01-01T00:00:00Z".to_string(), "to"),
        ("/v1/costs?from=9999-01-01T00:00:00Z".to_string(), "from"),
        ("/v1/sessions/s1/steps?after=-1".to_string(), "after"),
        ("/v1/sessions/s1/steps?limit=0".to_string(), "limit"),
        ("/v1/export/steps?format=csv&from=9999-01-01T00:00:00Z".to_string(), "from"),
        ("/v1/export/steps".to_string(), "format"),
    ] {
        let (status, body) = s.get(ADMIN_KEY, &path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["field"], field, "{path}: {body}");
    }
    // Parameters axum itself cannot read are JSON 400s too.
    for path in ["/v1/sessions?limit=1&limit=2&sort=", "/v1/integrity/consistency?from=x&to=1", "/v1/sessions/%FF/steps"] {
        let (status, body) = s.get(ADMIN_KEY, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{path}: {body}");
    }
}

#[tokio::test]
async fn similar_search_takes_any_session_id_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &[("FLIGHTLOG_NO_SEARCH", "false"), ("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)]).await;
    let ids = [r"\", r"\N", r"a\b", "victim/steps/0", "it's", "%41"];
    // Step 1 of each session is a failed key decision (see step_of).
    let all: Vec<Value> = ids.iter().flat_map(|id| [step_of(id, id, 0), step_of(id, id, 1)]).collect();
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&all), &[]).await.1["accepted"], all.len());
    // Every step is a key decision (a reason and a tool): a point each.
    s.wait_indexed(all.len() as u64, std::time::Duration::from_secs(120)).await;
    for id in ids {
        let path = format!("/v1/search/similar?session_id={}&step=1&limit=50", q(id));
        let (status, body) = s.get(ADMIN_KEY, &path).await;
        assert_eq!(status, StatusCode::OK, "{id:?}: {body}");
        let hits = body["results"].as_array().unwrap_or_else(|| panic!("{id:?}: {body}"));
        assert!(!hits.is_empty(), "{id:?}: the other sessions' failures are alike: {body}");
        assert!(
            hits.iter().all(|h| !(h["session_id"] == json!(id) && h["step"] == 1)),
            "{id:?}: a search from a step never returns that step: {body}"
        );
        let (status, body) = s.get(ADMIN_KEY, &format!("/v1/search/similar?session_id={}&step=1&exclude_session=true", q(id))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["results"].as_array().unwrap().iter().all(|h| h["session_id"] != json!(id)), "{id:?}: {body}");
    }
    for text in ["\\", "\\N", "tab\there", "a'b\"c"] {
        let (status, body) = s.get(ADMIN_KEY, &format!("/v1/search/similar?q={}", q(text))).await;
        assert_eq!(status, StatusCode::OK, "{text:?}: {body}");
    }
    let (status, body) = s.get(ADMIN_KEY, &format!("/v1/search/similar?session_id={}&step=1", q("no such\\"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn amounts_that_would_break_sums_are_refused_and_unknown_routes_answer_json() {
    let s = Server::start().await;
    for (body, field) in [
        (r#"{"session_id":"c","step":1,"timestamp":"2026-01-15T10:30:00Z","cost":{"estimated_cost":1e308}}"#, "cost.estimated_cost"),
        (r#"{"session_id":"c","step":1,"timestamp":"2026-01-15T10:30:00Z","cost":{"input_tokens":18446744073709551615}}"#, "cost.input_tokens"),
    ] {
        let (status, answer) = s.post_steps(ADMIN_KEY, body, &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["rejected"][0]["field"], field, "{answer}");
    }
    // The largest accepted amounts still sum and read back.
    let steps: Vec<Value> = (0..3)
        .map(|n| json!({"session_id": "c", "step": n, "timestamp": "2026-01-15T10:30:00Z",
                        "cost": {"input_tokens": 1_000_000_000u64, "estimated_cost": 1_000_000.0}}))
        .collect();
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.1["accepted"], 3);
    let (status, one) = s.get(ADMIN_KEY, "/v1/sessions/c").await;
    assert_eq!((status, one["input_tokens"].as_u64()), (StatusCode::OK, Some(3_000_000_000)), "{one}");
    let (status, list) = s.get(ADMIN_KEY, "/v1/sessions?sort=cost").await;
    assert_eq!(status, StatusCode::OK, "{list}");

    let (status, body) = s.get(ADMIN_KEY, "/v1/nope").await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{body}");
    let resp = s.http.get(format!("{}/v1/steps", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], "method_not_allowed");
    // A page's: said in a line, with the pages' headers (it was empty).
    let resp = s.http.get(format!("{}/logout", s.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(resp.headers().contains_key("content-security-policy"), "{:?}", resp.headers());
    assert!(resp.text().await.unwrap().contains("does not take that method"));
    let (status, body) = s.get(ADMIN_KEY, "/v1/integrity/consistency?from=1").await;
    assert_eq!((status, &body["error"]["field"]), (StatusCode::BAD_REQUEST, &json!("to")), "{body}");
    let (status, body) = s.get(ADMIN_KEY, "/v1/integrity/consistency?from=1&to=99999999999999999999").await;
    assert_eq!((status, &body["error"]["field"]), (StatusCode::BAD_REQUEST, &json!("to")), "{body}");
}

/// A range whose end comes before its start answered 200 with nothing, as
/// if nothing had happened then; the costs page already refused it. Every
/// front end's range is read by one rule now, which refuses it naming `to`.
#[tokio::test]
async fn a_time_range_that_ends_before_it_starts_is_refused_everywhere() {
    let s = Server::start().await;
    let inverted = "from=2027-01-01T00:00:00Z&to=2020-01-01T00:00:00Z";
    for path in ["/v1/sessions", "/v1/costs", "/v1/export/steps?format=csv", "/v1/access-log", "/v1/search/similar?q=timeout"] {
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, body) = s.get(ADMIN_KEY, &format!("{path}{sep}{inverted}")).await;
        assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("to")), "{path}: {body}");
    }
    let (status, body) = s.get(ADMIN_KEY, "/v1/sessions?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z").await;
    assert_eq!(status, StatusCode::OK, "a range in order is read: {body}");
}

/// A misspelled filter is refused, naming it, on every list: the session
/// list, similar-decision search, incidents and the access log answered
/// the whole unfiltered list (as if it matched), where the costs, the
/// steps and the exports refused it.
#[tokio::test]
async fn a_list_refuses_a_parameter_it_does_not_take_naming_it() {
    let s = Server::start().await;
    for (path, wrong) in [
        ("/v1/sessions?user_id=customer-19&limit=1", "user_id"),
        ("/v1/search/similar?q=refund&failures_only=true", "failures_only"),
        ("/v1/incidents?session=research-loop", "session"),
        ("/v1/access-log?user=nobody", "user"),
    ] {
        let (status, body) = s.get(ADMIN_KEY, path).await;
        assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some(wrong)), "{path}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("no such parameter"), "{path}: {body}");
    }
    // What they take is still taken.
    for path in ["/v1/sessions?user=customer-19&limit=1", "/v1/incidents?session_id=research-loop", "/v1/access-log?user_id=nobody"] {
        let (status, body) = s.get(ADMIN_KEY, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
}

/// A JSON body serde refuses names its field in `field`, as every other
/// refusal does (it was only in the message); and one sent as `curl -d`
/// sends it (a form's content type, or none) is read as the JSON it is,
/// as ingestion and the guard read theirs (it was a 400).
#[tokio::test]
async fn a_body_refused_by_its_shape_names_the_field() {
    let s = Server::start().await;
    for (body, field) in [
        (json!({"subject": "session", "id": "s-1", "reason": "r", "colour": "red"}), "colour"),
        (json!({"subject": 5, "id": "s-1"}), "subject"),
        (json!({"subject": "session"}), "id"),
    ] {
        let (status, answer) = s.send_json(Method::POST, ADMIN_KEY, "/v1/legal-holds", body.clone()).await;
        assert_eq!((status, answer["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{body}: {answer}");
    }
    let (_, holds) = s.get(ADMIN_KEY, "/v1/legal-holds").await;
    assert_eq!(holds["holds"], json!([]), "nothing refused was placed: {holds}");
    for (id, content_type) in [("s-1", None), ("s-2", Some("application/x-www-form-urlencoded"))] {
        let mut req = s.http.post(format!("{}/v1/legal-holds", s.base)).bearer_auth(ADMIN_KEY);
        if let Some(t) = content_type {
            req = req.header("content-type", t);
        }
        let resp = req.body(format!(r#"{{"subject":"session","id":"{id}","reason":"case 7"}}"#)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED, "{content_type:?}: {}", resp.text().await.unwrap());
    }
    let (_, holds) = s.get(ADMIN_KEY, "/v1/legal-holds").await;
    assert_eq!(holds["holds"].as_array().map(Vec::len), Some(2), "{holds}");
    // Trailing text after the object is refused, not ignored.
    let resp = s.http.post(format!("{}/v1/legal-holds", s.base)).bearer_auth(ADMIN_KEY).body(r#"{"subject":"session","id":"s-3"} x"#).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}
