//! POST /v1/steps through the real binary: input forms, per-record errors,
//! idempotency, conflicts and limits.

use flightlog_tests::*;

#[tokio::test]
async fn every_input_form_is_accepted() {
    let s = Server::start().await;
    let (status, body) = s.post_steps(ADMIN_KEY, step("one", 0).to_string(), &[("content-type", "application/json")]).await;
    assert_eq!((status, body["accepted"].as_u64()), (StatusCode::OK, Some(1)), "{body}");

    let array = json!([step("arr", 0), step("arr", 1)]).to_string();
    let (status, body) = s.post_steps(ADMIN_KEY, array, &[]).await;
    assert_eq!((status, body["accepted"].as_u64()), (StatusCode::OK, Some(2)), "{body}");

    let lines = ndjson(&[step("nd", 0), step("nd", 1), step("nd", 2)]);
    let (status, body) = s.post_steps(ADMIN_KEY, lines, &[("content-type", "application/x-ndjson")]).await;
    assert_eq!((status, body["accepted"].as_u64()), (StatusCode::OK, Some(3)), "{body}");

    let gz = gzip(ndjson(&[step("gz", 0), step("gz", 1)]).as_bytes());
    let (status, body) = s.post_steps(ADMIN_KEY, gz, &[("content-encoding", "gzip")]).await;
    assert_eq!((status, body["accepted"].as_u64()), (StatusCode::OK, Some(2)), "{body}");

    // JSON by its other names is JSON (a 415 before).
    for (n, content_type) in ["text/json", "application/x-json", "application/ld+json; charset=utf-8", "application/ndjson"].iter().enumerate() {
        let (status, body) = s.post_steps(ADMIN_KEY, step("named", n as u64).to_string(), &[("content-type", content_type)]).await;
        assert_eq!((status, body["accepted"].as_u64()), (StatusCode::OK, Some(1)), "{content_type}: {body}");
    }

    for (session, n) in [("one", 1), ("arr", 2), ("nd", 3), ("gz", 2), ("named", 4)] {
        assert_eq!(s.all_steps(ADMIN_KEY, session, 100).await.len(), n, "session {session}");
    }
}

#[tokio::test]
async fn the_product_example_is_stored_with_all_its_fields() {
    let s = Server::start().await;
    let example = json!({
      "session_id": "sess_123", "step": 5, "timestamp": "2026-01-15T10:30:00Z",
      "agent": {"name": "loan-assistant", "version": "2.3.0"},
      "agent_thoughts": {"reasoning": "The client asked for an analysis of the report...",
                         "considered_tools": ["analyze_financials", "fetch_historical_data"], "chosen_tool": "analyze_financials", "confidence": 0.8},
      "tool_execution": {"name": "analyze_financials", "params": {"report_id": 456}, "result": {"profit_margin": 0.15, "risk_score": 0.3},
                         "status": "ok", "error": null, "duration_ms": 1200},
      "model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06", "temperature": 0.2, "top_p": 1.0, "seed": 42, "max_tokens": 1024},
      "prompt": {"system": "...", "messages": [], "completion": "..."},
      "cost": {"input_tokens": 1250, "output_tokens": 340, "cache_read_tokens": 0, "reasoning_tokens": 0, "estimated_cost": 0.012},
      "user_id": "customer-77", "tags": ["prod"], "metadata": {}, "a_field_we_do_not_know": [1, 2, 3]
    });
    let (status, body) = s.post_steps(ADMIN_KEY, example.to_string(), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let steps = s.all_steps(ADMIN_KEY, "sess_123", 10).await;
    assert_eq!(steps[0]["data"], example, "the stored step is the sent step, unknown fields included");
    assert_eq!(steps[0]["step_hash"].as_str().unwrap().len(), 64);
    let (_, summary) = s.get(ADMIN_KEY, "/v1/sessions/sess_123").await;
    assert_eq!(summary["input_tokens"], 1250);
    assert_eq!(summary["models"], json!(["gpt-4o"]));
    assert_eq!(summary["users"], json!(["customer-77"]));
}

#[tokio::test]
async fn bad_records_are_named_and_good_ones_in_the_batch_are_kept() {
    let s = Server::start().await;
    let mut bad_conf = step("mix", 1);
    bad_conf["agent_thoughts"] = json!({"confidence": "high"});
    let body = ndjson(&[step("mix", 0), json!({"step": 2, "timestamp": "2026-01-15T10:30:00Z"}), bad_conf])
        + "\n{this is not json\n"
        + &step("mix", 3).to_string();
    let (status, answer) = s.post_steps(ADMIN_KEY, body, &[]).await;
    assert_eq!(status, StatusCode::OK, "partial success: {answer}");
    assert_eq!(answer["accepted"], 2);
    let rejected = answer["rejected"].as_array().unwrap();
    let summary: Vec<(u64, &str)> =
        rejected.iter().map(|r| (r["index"].as_u64().unwrap(), r["field"].as_str().unwrap())).collect();
    assert_eq!(summary, [(1, "session_id"), (2, "agent_thoughts.confidence"), (3, "(record)")]);
    assert_eq!(rejected[1]["session_id"], "mix");
    assert_eq!(rejected[1]["step"], 1);
    assert!(rejected[1]["reason"].as_str().unwrap().contains("must be a number"));
    assert!(rejected[2]["reason"].as_str().unwrap().contains("line 4"));
    let stored: Vec<u64> = s.all_steps(ADMIN_KEY, "mix", 10).await.iter().map(|x| x["step"].as_u64().unwrap()).collect();
    assert_eq!(stored, [0, 3]);

    let (status, answer) = s.post_steps(ADMIN_KEY, json!({"session_id": "x", "step": -4}).to_string(), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "all records invalid: {answer}");
}

#[tokio::test]
async fn retried_batch_creates_no_duplicates_and_a_changed_resend_is_refused() {
    let s = Server::start().await;
    let batch = ndjson(&(0..20).map(|n| step("retry", n)).collect::<Vec<_>>());
    let (_, first) = s.post_steps(ADMIN_KEY, batch.clone(), &[]).await;
    assert_eq!((first["accepted"].as_u64(), first["duplicates"].as_u64()), (Some(20), Some(0)));
    // Same content, different key order and spacing: still the same step.
    let reordered: String = (0..20)
        .map(|n| format!("{{ \"timestamp\": \"2026-01-15T10:30:00Z\",  \"step\": {n}, \"session_id\": \"retry\" }}\n"))
        .collect();
    for body in [batch, reordered] {
        let (status, again) = s.post_steps(ADMIN_KEY, body, &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!((again["accepted"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(20)), "{again}");
    }
    assert_eq!(s.all_steps(ADMIN_KEY, "retry", 1000).await.len(), 20);

    let mut changed = step("retry", 3);
    changed["agent_thoughts"] = json!({"reasoning": "rewritten history"});
    let (status, answer) = s.post_steps(ADMIN_KEY, changed.to_string(), &[]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["rejected"][0]["code"], "conflict");
    let stored = s.all_steps(ADMIN_KEY, "retry", 1000).await;
    assert_eq!(stored[3]["data"], step("retry", 3), "the first version is kept");
}

#[tokio::test]
async fn limits_are_enforced_and_named() {
    let s = Server::start().await;
    let too_many = ndjson(&(0..10_001).map(|n| step("lim", n)).collect::<Vec<_>>());
    let (status, answer) = s.post_steps(ADMIN_KEY, too_many, &[]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(answer["error"]["message"].as_str().unwrap().contains("limit is 10000 records"), "{answer}");

    let huge = vec![b' '; 33 << 20];
    let (status, answer) = s.post_steps(ADMIN_KEY, huge, &[]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(answer["error"]["message"].as_str().unwrap().contains("limit of 33554432 bytes"), "{answer}");

    let bomb = gzip(&vec![b' '; 200 << 20]);
    let (status, answer) = s.post_steps(ADMIN_KEY, bomb, &[("content-encoding", "gzip")]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("decompressed"), "{answer}");

    let mut long = step("lim", 0);
    long["agent_thoughts"] = json!({"reasoning": "x".repeat((1 << 20) + 1)});
    let (status, answer) = s.post_steps(ADMIN_KEY, ndjson(&[long, step("lim", 1)]), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["rejected"][0]["field"], "agent_thoughts.reasoning");
    assert!(answer["rejected"][0]["reason"].as_str().unwrap().contains("limit is 1048576 bytes"));
    assert_eq!(answer["accepted"], 1);
}

#[tokio::test]
async fn malformed_bodies_get_a_clear_4xx() {
    let s = Server::start().await;
    // (body, headers, status, what the error says)
    type Case<'a> = (&'a [u8], &'a [(&'a str, &'a str)], StatusCode, &'a str);
    let cases: [Case; 5] = [
        (b"[{\"session_id\": ", &[], StatusCode::BAD_REQUEST, "not valid JSON"),
        (b"not gzip at all", &[("content-encoding", "gzip")], StatusCode::BAD_REQUEST, "not valid gzip"),
        (b"{}", &[("content-encoding", "br")], StatusCode::BAD_REQUEST, "Content-Encoding"),
        (b"a,b\n1,2", &[("content-type", "text/csv")], StatusCode::UNSUPPORTED_MEDIA_TYPE, "text/csv"),
        (b"   ", &[], StatusCode::BAD_REQUEST, "empty"),
    ];
    for (body, headers, want, says) in cases {
        let (status, answer) = s.post_steps(ADMIN_KEY, body.to_vec(), headers).await;
        assert_eq!(status, want, "{answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(says), "{answer}");
    }
    // A pretty-printed step with a trailing comma was read line by line, as
    // NDJSON is; its nested object, alone on its line, was stored as a step
    // nobody sent (found by a hostile probe). It is one broken value.
    let pretty = "{\n  \"session_id\": \"outer\",\n  \"step\": 0,\n  \"timestamp\": \"2026-01-15T10:30:00Z\",\n  \"tool_execution\": {\"params\":\n    {\"session_id\":\"inner\",\"step\":7,\"timestamp\":\"2026-01-15T10:30:00Z\"}\n  },\n}\n";
    let (status, answer) = s.post_steps(ADMIN_KEY, pretty.as_bytes().to_vec(), &[("content-type", "application/json")]).await;
    assert_eq!((status, &answer["error"]["code"]), (StatusCode::BAD_REQUEST, &json!("invalid_body")), "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("the first line opens a value the body does not close"), "{answer}");
    let resp = s.http.get(format!("{}/v1/sessions/inner", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND, "no step of the nested object is stored");
    // NDJSON whose first line is an array: the line is refused alone.
    let body = format!("[1,2]\n{}\n", step("first-array", 0));
    let (status, answer) = s.post_steps(ADMIN_KEY, body.into_bytes(), &[]).await;
    assert_eq!((status, &answer["accepted"], &answer["rejected"][0]["index"]), (StatusCode::OK, &json!(1), &json!(0)), "{answer}");
}

/// Each piece of content is stored once, in its typed column; `raw` keeps
/// the rest. Every read still returns the step as sent, and it verifies.
#[tokio::test]
async fn content_is_stored_once_and_read_back_as_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)]).await;
    let long = "the conversation so far, é \"quoted\" \\ and\nnew lines ".repeat(40);
    let t = "2026-01-15T10:30:00Z";
    let sent = [
        json!({"session_id": "once", "step": 0, "timestamp": t,
               "agent_thoughts": {"reasoning": "why 0", "confidence": 1.0},
               "tool_execution": {"name": "t", "params": {"b": [1, 2.5e-7, null], "a": "x"}, "result": "a plain string", "error": "boom"},
               "prompt": {"system": "be brief", "messages": [{"role": "user", "content": long}], "completion": "done 0"},
               "metadata": {"z": {"y": 1}}, "unknown": {"kept": [true]}}),
        // What no column can say alone stays in raw: empty strings, nulls,
        // JSON where text is allowed.
        json!({"session_id": "once", "step": 1, "timestamp": t,
               "agent_thoughts": {"reasoning": ""},
               "tool_execution": {"params": null, "result": "", "error": {"code": 429}},
               "prompt": {"system": ["part one", "part two"], "completion": {"text": "structured"}, "messages": []},
               "metadata": {}}),
        json!({"session_id": "once", "step": 2, "timestamp": t, "prompt": {"completion": "only this"}, "agent_thoughts": {}}),
        json!({"session_id": "once", "step": 3, "timestamp": t}),
    ];
    let (status, body) = s.post_steps(ADMIN_KEY, ndjson(&sent), &[]).await;
    assert_eq!((status, body["accepted"].as_u64()), (StatusCode::OK, Some(4)), "{body}");
    let read = s.all_steps(ADMIN_KEY, "once", 100).await;
    for (got, want) in read.iter().zip(&sent) {
        assert_eq!(&got["data"], want, "step {} reads back as sent", want["step"]);
    }
    assert_eq!(read.len(), 4);
    // The content put back is the content hashed: the session verifies.
    assert_eq!(s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/integrity/checkpoints", json!(null)).await.0, StatusCode::CREATED);
    let (_, report) = s.get(ADMIN_KEY, "/v1/sessions/once/verify").await;
    assert_eq!(report["status"], "verified", "{report:#}");
    assert!(s.terminate().0.success());

    let out = flightlog_sql(
        dir.path(),
        "SELECT step, length(raw), position(raw, 'conversation so far') > 0, length(message_refs), \
         position(raw, 'why 0') + position(raw, 'done 0') + position(raw, 'a plain string') + position(raw, '\"y\":1') > 0, \
         position(raw, 'structured') > 0 AND position(raw, 'part two') > 0 AND position(raw, '429') > 0 \
         FROM steps WHERE session_id = 'once' ORDER BY step FORMAT TSV",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Vec<String>> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('\t').map(str::to_string).collect()).collect();
    assert_eq!(rows.len(), 4, "{rows:?}");
    let (stored_len, in_raw, refs, texts_in_raw) = (rows[0][1].parse::<usize>().unwrap(), &rows[0][2], &rows[0][3], &rows[0][4]);
    // Its one message is long: stored once per session, by reference.
    assert_eq!((in_raw.as_str(), refs.as_str(), texts_in_raw.as_str()), ("0", "1", "0"), "step 0 keeps its content once: {rows:?}");
    let held = flightlog_sql(dir.path(), "SELECT count() FROM step_contents WHERE position(body, 'conversation so far') > 0 FORMAT TSV");
    assert_eq!(String::from_utf8_lossy(&held.stdout), "1\n");
    assert!(stored_len < 400, "raw keeps only the rest: {stored_len} bytes");
    assert_eq!(rows[1][5], "1", "JSON given for text stays in raw: {rows:?}");
}

/// The steps of a few sessions sent all at once, each step twice, so that
/// a session's steps and their copies land in several group commits, in
/// any order: every step is stored once, each session's chain is whole,
/// and the sealed log verifies. (It caught both mistakes of a writer that
/// decided a commit while the one before was still being written, tried
/// in stop 48: a copy accepted twice, and a chain position used twice.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn steps_sent_at_once_in_several_commits_are_chained_and_stored_once() {
    const SESSIONS: u64 = 6;
    const STEPS: u64 = 40;
    let s = Server::start().await;
    let commits = |health: Value| health["ingest"]["group_commits"].as_u64().unwrap();
    // A writer that finds them all waiting can take a round in one or two
    // commits (each takes up to 1,000 steps): then another round, on new
    // sessions, up to three, until one spans more.
    let mut rounds = 0;
    loop {
        let before = commits(s.health().await);
        let mut sends = tokio::task::JoinSet::new();
        for n in 0..STEPS {
            for session in 0..SESSIONS {
                for _copy in 0..2 {
                    let (http, base) = (s.http.clone(), s.base.clone());
                    let body = step(&format!("at-once-{rounds}-{session}"), n).to_string();
                    sends.spawn(async move {
                        let answer = http.post(format!("{base}/v1/steps")).bearer_auth(ADMIN_KEY).body(body).send().await.unwrap();
                        assert_eq!(answer.status(), StatusCode::OK);
                        answer.json::<Value>().await.unwrap()
                    });
                }
            }
        }
        let (mut accepted, mut duplicates) = (0, 0);
        while let Some(answer) = sends.join_next().await {
            let answer = answer.unwrap();
            assert_eq!(answer["rejected"], json!([]), "{answer}");
            accepted += answer["accepted"].as_u64().unwrap();
            duplicates += answer["duplicates"].as_u64().unwrap();
        }
        assert_eq!((accepted, duplicates), (SESSIONS * STEPS, SESSIONS * STEPS), "each step accepted once, its copy a duplicate");
        for session in 0..SESSIONS {
            let stored = s.all_steps(ADMIN_KEY, &format!("at-once-{rounds}-{session}"), 100).await;
            let mut numbers: Vec<u64> = stored.iter().map(|x| x["step"].as_u64().unwrap()).collect();
            numbers.sort_unstable();
            assert_eq!(numbers, (0..STEPS).collect::<Vec<_>>(), "round {rounds}, session {session}: each step stored once");
        }
        rounds += 1;
        let health = s.health().await;
        if commits(health.clone()) - before > 2 {
            break;
        }
        assert!(rounds < 3, "three rounds came in two group commits or fewer each: the steps never crossed commits: {health}");
    }
    let steps = rounds * SESSIONS * STEPS;
    assert_eq!(s.health().await["ingest"]["log_size"].as_u64(), Some(steps));
    let (status, sealed) = s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/integrity/checkpoints", json!({})).await;
    assert!(status.is_success(), "{status} {sealed}");
    let (_, all) = s.get(ADMIN_KEY, "/v1/integrity/verify").await;
    let expected = (Some("verified"), Some(steps), Some(steps), Some(0));
    assert_eq!((all["status"].as_str(), all["steps_checked"].as_u64(), all["sealed"].as_u64(), all["problem_count"].as_u64()), expected, "{all:#}");
}
