//! Redaction at ingestion (issue 13): personal data and secrets in a step,
//! wherever they sit in it, are replaced before the step is stored, and
//! the step says what was replaced where. Checked on what the API, the
//! export and the proofs give back, through the native API and OTLP.

use flightlog_tests::*;

const SECRETS: [&str; 7] = ["jane.doe", "4111 1111 1111", "203.0.113.7", "sk-proj-", "7946 0958", "AKIAIOSFODNN7", "NL91ABNA0417164300"];

fn leaky(session: &str, n: u64, to: &str) -> Value {
    json!({"session_id": session, "step": n, "timestamp": "2026-11-30T10:00:00Z",
        "agent_thoughts": {"reasoning": "Refund card 4111 1111 1111 1111 and tell jane.doe@example.com; IBAN NL91ABNA0417164300"},
        "tool_execution": {"name": "send_email", "params": {"to": to, "client_ip": "203.0.113.7"}, "result": {"ok": true}},
        "prompt": {"messages": [{"role": "user", "content": "my key is sk-proj-abc123DEF456ghi789JKL012mno345"}]},
        "metadata": {"callback": "+44 20 7946 0958"},
        "debug": {"aws": "AKIAIOSFODNN7EXAMPLE"}})
}

fn pseudonym(v: &Value) -> String {
    let s = v.as_str().unwrap_or_default().to_string();
    let token = s.strip_prefix("[EMAIL:").and_then(|t| t.strip_suffix(']')).unwrap_or_default();
    assert!(token.len() == 6 && token.chars().all(|c| c.is_ascii_hexdigit()), "a keyed pseudonym, got {s:?}");
    s
}

#[tokio::test]
async fn personal_data_is_replaced_before_it_is_stored_and_each_step_says_where() {
    let s = Server::start().await;
    let batch = vec![leaky("pii", 0, "jane.doe@example.com"), leaky("pii", 1, "Jane.Doe@Example.com"), leaky("pii", 2, "bob@example.org")];
    let (status, report) = s.post_steps(ADMIN_KEY, ndjson(&batch), &[]).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["accepted"], 3);
    assert!(report["redacted"].as_u64().unwrap() >= 3 * 7, "the client is told: {report}");

    let steps = s.all_steps(ADMIN_KEY, "pii", 100).await;
    let stored = Value::Array(steps.clone()).to_string();
    for secret in SECRETS {
        assert!(!stored.contains(secret), "{secret:?} was stored: {stored}");
    }
    let to = |n: usize| pseudonym(&steps[n]["data"]["tool_execution"]["params"]["to"]);
    assert_eq!(to(0), to(1), "one address, one token (case does not matter)");
    assert_ne!(to(0), to(2), "another address, another token");
    let first = &steps[0]["data"];
    assert!(first["agent_thoughts"]["reasoning"].as_str().unwrap().contains("[CARD:"), "{first}");
    assert!(first["debug"]["aws"].as_str().unwrap().starts_with("[SECRET:"), "unknown fields too: {first}");
    assert_eq!(first["tool_execution"]["result"], json!({"ok": true}), "clean values stay as sent");
    let listed = first["redacted"].as_array().expect("the step lists its redactions");
    assert!(listed.contains(&json!({"path": "/tool_execution/params/to", "kind": "email", "count": 1})), "{listed:?}");
    assert!(listed.iter().any(|r| r["path"] == "/prompt/messages/0/content" && r["kind"] == "secret"), "{listed:?}");
    assert!(!Value::Array(listed.clone()).to_string().contains("example.com"), "never the original");

    // The export, a re-send, the proofs.
    let csv = s.http.get(format!("{}/v1/export/steps?format=csv", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap().text().await.unwrap();
    assert!(csv.contains("[EMAIL:") && SECRETS.iter().all(|x| !csv.contains(x)), "{csv}");
    let (_, again) = s.post_steps(ADMIN_KEY, ndjson(&batch), &[]).await;
    assert_eq!((again["accepted"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(3)), "redacted alike, so a duplicate: {again}");
    let (_, verified) = s.get(ADMIN_KEY, "/v1/sessions/pii/verify").await;
    assert_eq!(verified["problem_count"], 0, "{verified}");

    // Counted where operators look.
    let health = s.health().await;
    assert!(health["ingest"]["redactions"]["email"].as_u64().unwrap() >= 6, "{health}");
    let metrics = s.http.get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("flightlog_redactions_total{kind=\"card\"} 3"), "{metrics}");

    // The record of redactions is Flightlog's: a client cannot send one.
    let mut forged = leaky("pii", 3, "x@example.com");
    forged["redacted"] = json!([]);
    let (status, refused) = s.post_steps(ADMIN_KEY, forged.to_string(), &[]).await;
    assert_eq!((status, refused["rejected"][0]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("redacted")), "{refused}");
}

#[tokio::test]
async fn identifiers_and_numbers_are_kept_as_sent() {
    let s = Server::start().await;
    let step = json!({"session_id": "jane@example.com", "step": 0, "timestamp": "2026-11-30T10:00:00Z", "user_id": "jane@example.com",
        "model": {"name": "gpt-4o", "seed": 4111111111111111u64}, "agent_thoughts": {"reasoning": "write to jane@example.com"}});
    let (status, report) = s.post_steps(ADMIN_KEY, step.to_string(), &[]).await;
    assert_eq!((status, report["redacted"].as_u64()), (StatusCode::OK, Some(1)), "{report}");
    // Found by its id; the user's steps are found (and erasable) by theirs.
    let (status, summary) = s.get(ADMIN_KEY, "/v1/sessions/jane@example.com").await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["users"], json!(["jane@example.com"]));
    let steps = s.all_steps(ADMIN_KEY, "jane@example.com", 10).await;
    assert_eq!(steps[0]["data"]["model"]["seed"], 4111111111111111u64, "a number stays a number");
    assert!(steps[0]["data"]["agent_thoughts"]["reasoning"].as_str().unwrap().starts_with("write to [EMAIL:"));
}

#[tokio::test]
async fn otlp_spans_are_redacted_on_the_same_path() {
    let s = Server::start().await;
    let attr = |k: &str, v: &str| json!({"key": k, "value": {"stringValue": v}});
    let export = json!({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "chat",
         "startTimeUnixNano": "1767225600000000000", "endTimeUnixNano": "1767225601500000000",
         "attributes": [attr("gen_ai.operation.name", "chat"), attr("gen_ai.conversation.id", "otlp-pii"),
                        attr("gen_ai.request.model", "gpt-4o"), attr("user.email", "jane.doe@example.com")]}]}]}]});
    let resp = s.http.post(format!("{}/v1/traces", s.base)).bearer_auth(ADMIN_KEY).json(&export).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let steps = s.all_steps(ADMIN_KEY, "otlp-pii", 10).await;
    assert_eq!(steps.len(), 1);
    let stored = steps[0]["data"].to_string();
    assert!(!stored.contains("jane.doe") && stored.contains("[EMAIL:"), "{stored}");
}

#[tokio::test]
async fn with_redaction_off_values_are_stored_as_sent() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), ("FLIGHTLOG_REDACTION", "off")]).await;
    let (_, report) = s.post_steps(ADMIN_KEY, leaky("raw", 0, "jane.doe@example.com").to_string(), &[]).await;
    assert_eq!((report["accepted"].as_u64(), report["redacted"].as_u64()), (Some(1), Some(0)), "{report}");
    let steps = s.all_steps(ADMIN_KEY, "raw", 10).await;
    assert_eq!(steps[0]["data"]["tool_execution"]["params"]["to"], "jane.doe@example.com");
    assert!(steps[0]["data"].get("redacted").is_none());
}

/// Every file under `dir` (recursively) but the engine's own folder.
fn files_outside_clickhouse(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "clickhouse") {
                out.extend(files_outside_clickhouse(&path));
            }
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn nothing_original_is_left_in_storage_the_index_or_search_results() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), ("FLIGHTLOG_NO_SEARCH", "false")]).await;
    let mut batch: Vec<Value> = (0..3).map(|n| leaky("pii-search", n, "jane.doe@example.com")).collect();
    for (n, step) in batch.iter_mut().enumerate() {
        step["tool_execution"]["status"] = json!(if n == 2 { "error" } else { "success" });
        step["tool_execution"]["error"] = json!("bounced: mailbox jane.doe@example.com full, card 4111 1111 1111 1111 declined");
    }
    let (status, report) = s.post_steps(ADMIN_KEY, ndjson(&batch), &[]).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    s.wait_indexed(3, std::time::Duration::from_secs(240)).await;

    // Search finds the decisions, shows them only redacted.
    let (status, found) = s.get(ADMIN_KEY, "/v1/search/similar?q=refund+the+card+and+email+the+customer&failures=false&limit=5").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let results = found["results"].as_array().unwrap();
    assert!(!results.is_empty(), "{found}");
    let shown = found.to_string();
    assert!(shown.contains("[CARD:") || shown.contains("[EMAIL:"), "the snippets are the redacted text: {shown}");
    for secret in SECRETS {
        assert!(!shown.contains(secret), "{secret:?} in search results: {shown}");
    }

    // Nothing anywhere: every column of every table, and the index's files.
    s.terminate();
    let tables = flightlog_sql(dir.path(), "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree%' ORDER BY name FORMAT TSV");
    assert!(tables.status.success(), "{}", String::from_utf8_lossy(&tables.stderr));
    let tables = String::from_utf8_lossy(&tables.stdout).lines().map(str::to_string).collect::<Vec<_>>();
    assert!(tables.contains(&"steps".to_string()) && tables.len() > 10, "{tables:?}");
    for secret in SECRETS {
        let per_table: Vec<String> =
            tables.iter().map(|t| format!("SELECT '{t}', count() FROM {t} WHERE position(toString(tuple(*)), '{secret}') > 0")).collect();
        let out = flightlog_sql(dir.path(), &format!("{} FORMAT TSV", per_table.join(" UNION ALL ")));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let counts = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(counts.lines().count() == tables.len() && counts.lines().all(|l| l.ends_with("\t0")), "{secret:?} is stored: {counts}");
    }
    let index_files = files_outside_clickhouse(dir.path());
    assert!(index_files.iter().any(|f| f.to_string_lossy().contains("/index/edge/")), "the index is on disk: {index_files:?}");
    for file in index_files {
        let bytes = std::fs::read(&file).unwrap();
        for secret in SECRETS {
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret:?} in {}", file.display());
        }
    }
}
