//! OpenTelemetry ingestion: real clients from PyPI against the real server,
//! and the ways an export can be wrong.

use flightlog_tests::*;
use std::process::Command;

/// Runs tests/python/otlp_clients.py MODE against the server.
fn run_client(server: &Server, mode: &str, key: &str, session: &str) {
    let python = std::env::var("FLIGHTLOG_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/otlp_clients.py");
    let out = Command::new(python).args([script, mode, &server.base, key, session]).output().expect("python runs");
    assert!(
        out.status.success(),
        "{mode} client failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The steps of the one session a project holds (waits briefly: exporters
/// flush before exiting, but some report the answer before reading it).
async fn only_session(server: &Server, key: &str) -> (String, Vec<Value>) {
    for _ in 0..300 {
        let (_, list) = server.get(key, "/v1/sessions?limit=10").await;
        if let Some([one]) = list["sessions"].as_array().map(Vec::as_slice) {
            let id = one["session_id"].as_str().unwrap().to_string();
            let steps = server.all_steps(key, &id, 1000).await.into_iter().map(|s| s["data"].clone()).collect();
            return (id, steps);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no single session arrived");
}

fn find<'a>(steps: &'a [Value], what: &str, pred: impl Fn(&Value) -> bool) -> &'a Value {
    steps.iter().find(|s| pred(s)).unwrap_or_else(|| panic!("no {what} step in {}", serde_json::to_string_pretty(steps).unwrap()))
}

#[tokio::test]
async fn the_opentelemetry_sdk_with_gen_ai_spans_in_protobuf_and_json() {
    let server = Server::start().await;
    for mode in ["sdk-proto", "sdk-json"] {
        let key = server.create_key(&format!("otel-{mode}"), &["ingest", "read"]).await;
        run_client(&server, mode, &key, &format!("{mode}-session"));
        let (session, steps) = only_session(&server, &key).await;
        assert_eq!(session, format!("{mode}-session"), "gen_ai.conversation.id is the session");
        assert_eq!(steps.len(), 3, "agent, chat and tool spans; the plain HTTP span is skipped: {steps:#?}");
        let numbers: Vec<u64> = steps.iter().map(|s| s["step"].as_u64().unwrap()).collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(steps[0]["otel"]["name"], "invoke_agent loan-assistant", "ordered by start time");

        let chat = find(&steps, "chat", |s| s["otel"]["name"] == "chat gpt-4o");
        assert_eq!(chat["model"]["name"], "gpt-4o-2024-08-06", "the response model wins");
        assert_eq!(chat["model"]["provider"], "openai");
        assert_eq!(chat["model"]["temperature"], 0.2);
        assert_eq!(chat["model"]["top_p"], 0.9);
        assert_eq!(chat["model"]["seed"], 42);
        assert_eq!(chat["model"]["max_tokens"], 512);
        assert_eq!(chat["cost"]["input_tokens"], 1000);
        assert_eq!(chat["cost"]["output_tokens"], 200);
        assert_eq!(chat["cost"]["cache_read_tokens"], 300);
        assert_eq!(chat["cost"]["reasoning_tokens"], 50);
        assert_eq!(chat["agent"]["name"], "loan-assistant");
        assert_eq!(chat["agent"]["version"], "2.3.0");
        assert_eq!(chat["user_id"], "customer-7");
        assert_eq!(chat["agent_thoughts"]["chosen_tool"], "check_credit");
        assert_eq!(chat["agent_thoughts"]["considered_tools"], json!(["check_credit", "refuse_loan"]));
        assert_eq!(chat["agent_thoughts"]["reasoning"], "Risk cannot be judged without a credit check.");
        assert_eq!(chat["prompt"]["system"], "You are a careful loan assistant.");
        assert_eq!(chat["prompt"]["messages"][0]["parts"][0]["content"], "Should loan 42 be approved?");
        assert_eq!(chat["tool_execution"]["status"], "ok");
        assert_eq!(chat["otel"]["attributes"]["gen_ai.usage.input_tokens"], 1000, "the span's attributes are kept");
        assert_eq!(chat["otel"]["resource"]["service.name"], "loan-service");

        let tool = find(&steps, "tool", |s| s["tool_execution"]["name"] == "check_credit");
        assert_eq!(tool["tool_execution"]["status"], "error");
        let error = tool["tool_execution"]["error"].as_str().unwrap();
        assert!(error.contains("TimeoutError") && error.contains("credit bureau"), "{error}");
        assert_eq!(tool["tool_execution"]["params"], json!({"customer": "customer-7"}));
        let agent = &steps[0];
        assert_eq!(agent["agent"]["name"], "loan-assistant");
        let (_, summary) = server.get(&key, &format!("/v1/sessions/{session}")).await;
        assert_eq!(summary["failed_steps"], 1, "{summary}");
    }
}

#[tokio::test]
async fn openinference_and_openllmetry_instrumenting_the_openai_client() {
    let server = Server::start().await;
    for mode in ["openinference", "openllmetry"] {
        let key = server.create_key(&format!("otel-{mode}"), &["ingest", "read"]).await;
        run_client(&server, mode, &key, &format!("{mode}-session"));
        let (session, steps) = only_session(&server, &key).await;
        if mode == "openinference" {
            assert_eq!(session, "openinference-session", "session.id from using_attributes");
        } else {
            assert_eq!(session.len(), 32, "no session attribute: the trace id");
        }
        let llm = find(&steps, "LLM", |s| s["cost"]["input_tokens"].is_number());
        assert!(llm["model"]["name"].as_str().unwrap().starts_with("gpt-4o-mini"), "{llm:#}");
        assert_eq!(llm["model"]["provider"], "openai", "{mode}: {llm:#}");
        assert_eq!(llm["model"]["temperature"], 0.3, "{mode}");
        assert_eq!(llm["cost"]["input_tokens"], 120);
        assert_eq!(llm["cost"]["output_tokens"], 30);
        assert_eq!(llm["cost"]["cache_read_tokens"], 20, "{mode}: {llm:#}");
        assert_eq!(llm["cost"]["reasoning_tokens"], 5, "{mode}: {llm:#}");
        assert_eq!(llm["agent_thoughts"]["chosen_tool"], "check_credit", "{mode}: {llm:#}");
        assert_eq!(llm["agent_thoughts"]["considered_tools"], json!(["check_credit", "refuse_loan"]), "{mode}: {llm:#}");
        assert_eq!(llm["tool_execution"]["status"], "ok");
        assert_eq!(llm["agent"]["name"], "loan-service", "no agent attribute: the service name");
        if mode == "openinference" {
            assert_eq!(llm["model"]["seed"], 7);
            assert_eq!(llm["model"]["max_tokens"], 256);
            assert_eq!(llm["user_id"], "customer-7");
        }
    }
}

#[tokio::test]
async fn the_langfuse_sdk_switches_by_changing_its_host() {
    let server = Server::start().await;
    let key = server.create_key("otel-langfuse", &["ingest", "read"]).await;
    run_client(&server, "langfuse", &key, "langfuse-session");
    let (session, steps) = only_session(&server, &key).await;
    assert_eq!(session, "langfuse-session");
    let generation = find(&steps, "generation", |s| s["otel"]["attributes"]["langfuse.observation.type"] == "generation");
    assert_eq!(generation["model"]["name"], "claude-sonnet-4");
    assert_eq!(generation["model"]["temperature"], 0.1);
    assert_eq!(generation["model"]["max_tokens"], 300);
    assert_eq!(generation["cost"]["input_tokens"], 400);
    assert_eq!(generation["cost"]["output_tokens"], 60);
    assert_eq!(generation["user_id"], "customer-9");
    assert_eq!(generation["prompt"]["completion"], "Refuse: the risk score is too high.");
    let tool = find(&steps, "tool", |s| s["tool_execution"]["name"] == "refuse_loan");
    assert_eq!(tool["tool_execution"]["params"], json!({"loan": 9}));
    assert_eq!(tool["tool_execution"]["result"], json!({"recorded": true}));
    assert_eq!(tool["tool_execution"]["status"], "ok");
    assert!(tool.get("prompt").is_none(), "a tool's input and output are its params and result, not a prompt: {tool:#}");
}

/// Span ids 1000, 2000, 3000 and 4000 end alike (mod 1000): started in the
/// same microsecond, their spans are given the same step number. The later
/// to arrive take the next numbers free (past a step sent natively too);
/// every retry finds its own.
#[tokio::test]
async fn spans_of_a_session_given_the_same_number_are_all_stored_and_retries_stay_duplicates() {
    let server = Server::start().await;
    let span = |id: u64, model: &str| {
        json!({"traceId": "9b8efff798038103d269b633813fc60c", "spanId": format!("{id:016x}"), "name": model,
               "startTimeUnixNano": "1780000000000000000",
               "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                              {"key": "gen_ai.conversation.id", "value": {"stringValue": "same-microsecond"}},
                              {"key": "gen_ai.request.model", "value": {"stringValue": model}}]})
    };
    let send = |spans: Vec<Value>| {
        let body = serde_json::to_vec(&json!({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]})).unwrap();
        post_traces(&server, ADMIN_KEY, "/v1/traces", "application/json", body, false)
    };
    let first = 1_780_000_000_000_000 * 1000;
    // A span that is not a step comes first: positions in the export and
    // records for the writer differ.
    let plain = json!({"traceId": "9b8efff798038103d269b633813fc60c", "spanId": "00000000000003e7", "name": "GET /",
                       "startTimeUnixNano": "1780000000000000000", "attributes": [{"key": "http.method", "value": {"stringValue": "GET"}}]});
    let (status, h, answer) = send(vec![plain, span(1000, "m-1000"), span(2000, "m-2000"), span(3000, "m-3000")]).await;
    assert_eq!(status, StatusCode::OK);
    let counts = |h: &reqwest::header::HeaderMap| ["accepted", "duplicates", "rejected"].map(|n| header(h, &format!("x-flightlog-{n}")));
    assert_eq!(counts(&h), [3, 0, 0], "{}", String::from_utf8_lossy(&answer));
    // A step sent natively holds the next number.
    let native = json!({"session_id": "same-microsecond", "step": first + 3, "timestamp": "2026-05-28T20:26:40Z", "agent": {"name": "native"}});
    let (status, answer) = server.post_steps(ADMIN_KEY, native.to_string(), &[]).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, h, answer) = send(vec![span(4000, "m-4000")]).await;
    assert_eq!(counts(&h), [1, 0, 0], "{}", String::from_utf8_lossy(&answer));

    let steps: Vec<Value> = server.all_steps(ADMIN_KEY, "same-microsecond", 100).await.into_iter().map(|s| s["data"].clone()).collect();
    let numbers: Vec<u64> = steps.iter().map(|s| s["step"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [first, first + 1, first + 2, first + 3, first + 4]);
    let names: Vec<&str> = steps.iter().map(|s| s["otel"]["name"].as_str().unwrap_or("native")).collect();
    assert_eq!(names, ["m-1000", "m-2000", "m-3000", "native", "m-4000"], "each span stored, in the order they came");
    for s in steps.iter().filter(|s| s.get("otel").is_some()) {
        assert_eq!(s["otel"]["name"], s["model"]["name"], "each step is its own span's: {s:#}");
    }

    // Sent again, in another order: every span finds its own number.
    let (_, h, answer) = send(vec![span(4000, "m-4000"), span(3000, "m-3000"), span(2000, "m-2000"), span(1000, "m-1000")]).await;
    assert_eq!(counts(&h), [0, 4, 0], "{}", String::from_utf8_lossy(&answer));
    // A span sent again changed is still a conflict, named at its number.
    let (_, h, answer) = send(vec![span(3000, "m-changed")]).await;
    assert_eq!(counts(&h), [0, 0, 1]);
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    let message = answer["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(message.contains("0000000000000bb8") && message.contains("already stored with different content"), "{message}");
    assert!(message.contains(&format!("step {}", first + 2)), "named at its own number: {message}");
    assert_eq!(server.all_steps(ADMIN_KEY, "same-microsecond", 100).await.len(), 5);
    let (status, verified) = server.get(ADMIN_KEY, "/v1/sessions/same-microsecond/verify").await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    assert_eq!(verified["problems"].as_array().map(Vec::len), Some(0), "{verified}");
}

/// An export in the OTLP JSON mapping: one chat span, one tool span, one
/// span that is not GenAI.
fn export(session: &str) -> Value {
    let attr = |k: &str, v: Value| json!({"key": k, "value": v});
    json!({"resourceSpans": [{
        "resource": {"attributes": [attr("service.name", json!({"stringValue": "svc"}))]},
        "scopeSpans": [{"scope": {"name": "test"}, "spans": [
            {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "chat",
             "startTimeUnixNano": "1767225600000000000", "endTimeUnixNano": "1767225601500000000", "kind": 3,
             "attributes": [attr("gen_ai.operation.name", json!({"stringValue": "chat"})),
                            attr("gen_ai.conversation.id", json!({"stringValue": session})),
                            attr("gen_ai.request.model", json!({"stringValue": "gpt-4o"})),
                            attr("gen_ai.usage.input_tokens", json!({"intValue": "1200"})),
                            attr("gen_ai.usage.output_tokens", json!({"intValue": 80}))]},
            {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b175", "name": "execute_tool send_email",
             "startTimeUnixNano": "1767225602000000000", "endTimeUnixNano": "1767225602250000000",
             "status": {"code": 2, "message": "SMTP 550"},
             "attributes": [attr("gen_ai.operation.name", json!({"stringValue": "execute_tool"})),
                            attr("gen_ai.conversation.id", json!({"stringValue": session})),
                            attr("gen_ai.tool.name", json!({"stringValue": "send_email"}))]},
            {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b176", "name": "SELECT users",
             "startTimeUnixNano": "1767225602000000000", "attributes": [attr("db.system", json!({"stringValue": "postgresql"}))]}
        ]}]
    }]})
}

/// An OTLP/JSON export with its fields named as in the protos
/// (`resource_spans`, `string_value`), as protobuf's JSON printers may write.
fn proto_names(export: Value) -> Value {
    match export {
        Value::Array(items) => Value::Array(items.into_iter().map(proto_names).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(key, value)| {
                    let snake = key.chars().flat_map(|c| match c.is_ascii_uppercase() {
                        true => vec!['_', c.to_ascii_lowercase()],
                        false => vec![c],
                    });
                    (snake.collect(), proto_names(value))
                })
                .collect(),
        ),
        other => other,
    }
}

async fn post_traces(server: &Server, key: &str, path: &str, content_type: &str, body: Vec<u8>, gzip: bool) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = server.http.post(format!("{}{path}", server.base)).bearer_auth(key).header("content-type", content_type);
    if gzip {
        req = req.header("content-encoding", "gzip");
    }
    let resp = req.body(body).send().await.unwrap();
    (resp.status(), resp.headers().clone(), resp.bytes().await.unwrap().to_vec())
}

fn header(h: &reqwest::header::HeaderMap, name: &str) -> u64 {
    h.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(u64::MAX)
}

#[tokio::test]
async fn re_sent_spans_are_duplicates_gzip_works_and_each_bad_span_is_named() {
    let server = Server::start().await;
    let body = serde_json::to_vec(&export("json-session")).unwrap();
    let (status, h, answer) = post_traces(&server, ADMIN_KEY, "/v1/traces", "application/json", body.clone(), false).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer));
    assert_eq!(answer, b"{}", "an empty ExportTraceServiceResponse: all taken");
    assert_eq!((header(&h, "x-flightlog-accepted"), header(&h, "x-flightlog-skipped")), (2, 1));
    // The same export again, gzip-compressed, on the Langfuse path.
    let (status, h, _) =
        post_traces(&server, ADMIN_KEY, "/api/public/otel/v1/traces", "application/json", gzip(&body), true).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((header(&h, "x-flightlog-accepted"), header(&h, "x-flightlog-duplicates")), (0, 2));
    // Again with protobuf's field names, as the Collector reads them: the
    // same spans (it was answered taken, with nothing read).
    let (status, h, answer) = post_traces(&server, ADMIN_KEY, "/v1/traces", "application/json", serde_json::to_vec(&proto_names(export("json-session"))).unwrap(), false).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer));
    assert_eq!((header(&h, "x-flightlog-accepted"), header(&h, "x-flightlog-duplicates"), header(&h, "x-flightlog-skipped")), (0, 2, 1));
    let steps = server.all_steps(ADMIN_KEY, "json-session", 100).await;
    assert_eq!(steps.len(), 2, "never stored twice");
    let tool = &steps[1]["data"];
    assert_eq!(tool["tool_execution"]["error"], "SMTP 550");
    assert_eq!(tool["tool_execution"]["duration_ms"], 250);
    assert_eq!(steps[0]["data"]["cost"]["input_tokens"], 1200, "64-bit integers as strings or numbers");

    // One span with a bad id and one with an oversized user id: the rest is stored.
    let mut bad = export("partial-session");
    let spans = bad["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array_mut().unwrap();
    spans[0]["spanId"] = json!("");
    spans[1]["attributes"].as_array_mut().unwrap().push(json!({"key": "user.id", "value": {"stringValue": "u".repeat(300)}}));
    spans.push(json!({"traceId": "5b8efff798038103d269b633813fc60d", "spanId": "aaa19b7ec3c1b174", "name": "ok",
                      "startTimeUnixNano": "1767225609000000000",
                      "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                                     {"key": "gen_ai.conversation.id", "value": {"stringValue": "partial-session"}}]}));
    let (status, h, answer) =
        post_traces(&server, ADMIN_KEY, "/v1/traces", "application/json", serde_json::to_vec(&bad).unwrap(), false).await;
    assert_eq!(status, StatusCode::OK);
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["partialSuccess"]["rejectedSpans"], 2, "{answer}");
    let message = answer["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(message.contains("spanId must be 8 bytes"), "{message}");
    assert!(message.contains("eee19b7ec3c1b175") && message.contains("user_id"), "{message}");
    assert_eq!(header(&h, "x-flightlog-accepted"), 1);
    assert_eq!(server.all_steps(ADMIN_KEY, "partial-session", 100).await.len(), 1);
}

/// An export of one span carrying `events` empty events, as protobuf
/// written by hand (a request, its resource spans, scope spans, span).
fn event_flood(events: usize) -> Vec<u8> {
    fn framed(field: u8, inner: Vec<u8>) -> Vec<u8> {
        let (mut out, mut n) = (vec![field], inner.len());
        while n >= 0x80 {
            out.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
        out.extend(inner);
        out
    }
    let span: Vec<u8> = [0x2a, 0x01, b'x'].into_iter().chain(std::iter::repeat_n([0x5a, 0x00], events).flatten()).collect();
    framed(0x0a, framed(0x12, framed(0x12, span)))
}

/// The same as OTLP JSON.
fn event_flood_json(events: usize) -> Vec<u8> {
    let flood = vec!["{}"; events].join(",");
    format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"name":"x","events":[{flood}]}}]}}]}}]}}"#).into_bytes()
}

#[tokio::test]
async fn malformed_bodies_wrong_types_and_oversized_exports_get_a_4xx() {
    let server = Server::start().await;
    let json_body = serde_json::to_vec(&export("s")).unwrap();
    // (what, content type, body, gzipped, status, error code)
    type Case<'a> = (&'a str, &'a str, Vec<u8>, bool, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("malformed protobuf", "application/x-protobuf", vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01], false, 400, "invalid_body"),
        ("malformed JSON", "application/json", b"{\"resourceSpans\": [".to_vec(), false, 400, "invalid_body"),
        ("JSON of the wrong shape", "application/json", b"{\"resourceSpans\": 7}".to_vec(), false, 400, "invalid_body"),
        ("wrong content type", "text/plain", json_body.clone(), false, 415, "unsupported_media_type"),
        ("not gzip", "application/json", json_body.clone(), true, 400, "invalid_body"),
        ("oversized", "application/x-protobuf", vec![0u8; 33 << 20], false, 413, "too_large"),
        ("gzip bomb", "application/x-protobuf", gzip(&vec![0u8; 130 << 20]), true, 413, "too_large"),
        // Millions of empty events: a few KB gzipped, gigabytes decoded.
        ("a flood of events", "application/x-protobuf", gzip(&event_flood(2_500_000)), true, 413, "too_large"),
        ("a flood of events as JSON", "application/json", gzip(&event_flood_json(2_500_000)), true, 413, "too_large"),
    ];
    for (what, ct, body, gz, status, code) in cases {
        let (got, _, answer) = post_traces(&server, ADMIN_KEY, "/v1/traces", ct, body, gz).await;
        let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        assert_eq!(got.as_u16(), status, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{what}: {answer}");
    }
    let resp = server.http.post(format!("{}/v1/traces", server.base)).header("content-type", "application/json").body("{}").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let reader = server.create_key("default", &["read"]).await;
    let (got, _, _) = post_traces(&server, &reader, "/v1/traces", "application/json", json_body.clone(), false).await;
    assert_eq!(got, StatusCode::FORBIDDEN);
    // Basic auth, the key as the password (what the Langfuse SDK sends).
    let resp = server
        .http
        .post(format!("{}/api/public/otel/v1/traces", server.base))
        .basic_auth("pk-lf-anything", Some(ADMIN_KEY))
        .header("content-type", "application/json")
        .body(json_body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // Still serving: nothing above panicked.
    assert_eq!(server.health().await["status"], "ok");
}

/// OTLP attributes are kept exactly, or their span is refused naming them
/// (a hostile probe found values dropped or overwritten with a 200):
/// - a token count that is not a whole number >= 0 refuses its span, as
///   `POST /v1/steps` refuses it (costs would count the step as free);
/// - a key sent twice (some SDKs send a key again when it is set again)
///   maps its last value and keeps the earlier under `otel`;
/// - a model parameter that is not a usable number (`"hot"`, a seed of
///   1.5, LangChain's `max_tokens: -1`) is left out of `model` and kept
///   as sent under `otel`: nothing is changed, and no cost depends on it.
#[tokio::test]
async fn otlp_attributes_are_kept_exactly_or_their_span_is_refused_naming_them() {
    let server = Server::start().await;
    let span = |id: &str, attributes: Value| {
        let mut all = vec![json!({"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}),
                           json!({"key": "gen_ai.conversation.id", "value": {"stringValue": "exact-otlp"}})];
        all.extend(attributes.as_array().unwrap().iter().cloned());
        json!({"traceId": "5b8efff798038103d269b633813fc60d", "spanId": id, "name": "chat",
               "startTimeUnixNano": format!("17672256{}000000000", &id[15..]), "attributes": all})
    };
    let spans = vec![
        span("00000000000000a1", json!([{"key": "user.id", "value": {"stringValue": "alice"}}, {"key": "user.id", "value": {"stringValue": "bob"}}])),
        span("00000000000000a2", json!([{"key": "gen_ai.usage.input_tokens", "value": {"intValue": "-5"}}])),
        span("00000000000000a3", json!([{"key": "gen_ai.request.temperature", "value": {"stringValue": "hot"}},
                                        {"key": "gen_ai.request.top_p", "value": {"doubleValue": 1.5}},
                                        {"key": "llm.invocation_parameters", "value": {"stringValue": "{\"max_tokens\": -1, \"seed\": 1.5}"}}])),
        span("00000000000000a5", json!([{"key": "gen_ai.request.temperature", "value": {"stringValue": "0.5"}},
                                        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}}])),
    ];
    let body = json!({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]});
    let (status, h, answer) = post_traces(&server, ADMIN_KEY, "/v1/traces", "application/json", serde_json::to_vec(&body).unwrap(), false).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer));
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["partialSuccess"]["rejectedSpans"], 1, "{answer}");
    let message = answer["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(message.contains("gen_ai.usage.input_tokens: must be a whole number >= 0, got -5"), "{message}");
    assert_eq!(header(&h, "x-flightlog-accepted"), 3);
    let stored: Vec<Value> = server.all_steps(ADMIN_KEY, "exact-otlp", 10).await.into_iter().map(|s| s["data"].clone()).collect();
    let by_span = |id: &str| stored.iter().find(|s| s["otel"]["span_id"] == id).unwrap_or_else(|| panic!("{id}: {stored:#?}"));
    let twice = by_span("00000000000000a1");
    assert_eq!(twice["user_id"], "bob", "the last value is the one in force");
    assert_eq!(twice["otel"]["replaced_attributes"], json!([{"key": "user.id", "value": "alice"}]), "the earlier is kept");
    let unusable = by_span("00000000000000a3");
    for parameter in ["temperature", "top_p", "max_tokens", "seed"] {
        assert!(unusable["model"].get(parameter).is_none(), "{parameter} left out: {unusable}");
    }
    assert_eq!(unusable["otel"]["attributes"]["gen_ai.request.temperature"], "hot", "kept as sent");
    let good = by_span("00000000000000a5");
    assert_eq!((good["model"]["temperature"].as_f64(), good["cost"]["input_tokens"].as_u64()), (Some(0.5), Some(12)));
}

/// A span's attributes hold what its mapped fields hold (the conversation,
/// the reply, a tool's arguments and result), and its step keeps them
/// under `otel`: an erasure takes them too, the span's ids, name and
/// resource stay, and the proofs still verify, online and offline.
#[tokio::test]
async fn erasure_takes_what_a_span_carried_in_its_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)]).await;
    let mut body = export("erased-span");
    let said = json!({"stringValue": r#"[{"role":"user","parts":[{"type":"text","content":"I am Ada Quill of Harrow Lane"}]}]"#});
    let replied = json!({"stringValue": r#"[{"role":"assistant","parts":[{"type":"text","content":"Noted, Ada Quill"}]}]"#});
    let spans = body["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array_mut().unwrap();
    let chat = spans[0]["attributes"].as_array_mut().unwrap();
    chat.push(json!({"key": "gen_ai.input.messages", "value": said}));
    chat.push(json!({"key": "gen_ai.output.messages", "value": replied}));
    // Sent twice: the first value is kept under otel.replaced_attributes.
    chat.push(json!({"key": "gen_ai.input.messages", "value": said}));
    let tool = spans[1]["attributes"].as_array_mut().unwrap();
    tool.push(json!({"key": "gen_ai.tool.call.arguments", "value": {"stringValue": r#"{"to":"Ada Quill"}"#}}));
    let (status, _, answer) = post_traces(&s, ADMIN_KEY, "/v1/traces", "application/json", serde_json::to_vec(&body).unwrap(), false).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer));
    let sent = s.all_steps(ADMIN_KEY, "erased-span", 10).await;
    assert_eq!(sent.len(), 2);
    assert!(sent[0]["data"]["otel"]["replaced_attributes"].is_array(), "{}", sent[0]["data"]);
    assert!(serde_json::to_string(&sent[0]["data"]["otel"]["attributes"]).unwrap().contains("Ada Quill"));
    assert_eq!(s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/integrity/checkpoints", json!(null)).await.0, StatusCode::CREATED);

    let (status, done) = s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/erasures", json!({"session_id": "erased-span"})).await;
    assert_eq!((status, done["steps_erased"].as_u64()), (StatusCode::OK, Some(2)), "{done}");
    let stored = s.all_steps(ADMIN_KEY, "erased-span", 10).await;
    assert!(!serde_json::to_string(&stored).unwrap().contains("Ada Quill"), "{stored:#?}");
    for (got, before) in stored.iter().zip(&sent) {
        let (otel, was) = (&got["data"]["otel"], &before["data"]["otel"]);
        assert_eq!(otel["attributes"], Value::Null, "{otel}");
        for kept in ["trace_id", "span_id", "name", "resource", "start_time_unix_nano"] {
            assert_eq!(otel[kept], was[kept], "{kept}");
        }
        assert_eq!(got["data"]["model"], before["data"]["model"]);
        assert_eq!(got["data"]["cost"], before["data"]["cost"]);
    }
    assert_eq!(stored[0]["data"]["otel"]["replaced_attributes"], Value::Null);
    assert_eq!(stored[1]["data"]["tool_execution"]["name"], "send_email");

    let (status, report) = s.get(ADMIN_KEY, "/v1/sessions/erased-span/verify").await;
    assert_eq!((status, report["status"].as_str()), (StatusCode::OK, Some("verified")), "{report:#}");
    let erased: Vec<(u64, &str)> =
        report["erased"].as_array().unwrap().iter().map(|e| (e["step"].as_u64().unwrap(), e["field"].as_str().unwrap())).collect();
    let (chat_step, tool_step) = (sent[0]["step"].as_u64().unwrap(), sent[1]["step"].as_u64().unwrap());
    for want in [
        (chat_step, r#"["otel","attributes"]"#),
        (chat_step, r#"["otel","replaced_attributes"]"#),
        (chat_step, r#"["prompt","messages"]"#),
        (tool_step, r#"["otel","attributes"]"#),
        (tool_step, r#"["tool_execution","params"]"#),
    ] {
        assert!(erased.contains(&want), "{want:?} not in {erased:?}");
    }
    let bundle = s.http.get(format!("{}/v1/sessions/erased-span/evidence", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    let path = dir.path().join("erased-span-bundle.json");
    std::fs::write(&path, bundle.bytes().await.unwrap()).unwrap();
    let out = Command::new(binary()).arg("verify-bundle").arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(s.terminate().0.success());

    // Nothing of it is left in the store's rows either.
    let out = flightlog_sql(
        dir.path(),
        "SELECT countIf(position(concat(raw, prompt_messages, completion, tool_params, tool_result), 'Quill') > 0) FROM steps \
         UNION ALL SELECT countIf(position(body, 'Quill') > 0) FROM step_contents FORMAT TSV",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).split_whitespace().collect::<Vec<_>>(), ["0", "0"]);
}

/// A step erased before erasures took a span's attributes kept them: the
/// writer erases such steps again when it starts, those steps only, and
/// the hashes kept the first time still prove them. A session on legal
/// hold keeps them until its hold is released.
#[tokio::test]
async fn attributes_an_earlier_erasure_left_are_erased_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)]).await;
    for session in ["old-erasure", "held-erasure"] {
        let mut body = export(session);
        let tool = body["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["attributes"].as_array_mut().unwrap();
        tool.push(json!({"key": "gen_ai.tool.call.arguments", "value": {"stringValue": r#"{"to":"Ada Quill"}"#}}));
        let (status, _, answer) = post_traces(&s, ADMIN_KEY, "/v1/traces", "application/json", serde_json::to_vec(&body).unwrap(), false).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer));
    }
    let sent = s.all_steps(ADMIN_KEY, "old-erasure", 10).await;
    let hold = json!({"subject": "session", "id": "held-erasure", "reason": "case 42"});
    assert_eq!(s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/legal-holds", hold).await.0, StatusCode::CREATED);
    assert_eq!(s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/integrity/checkpoints", json!(null)).await.0, StatusCode::CREATED);
    assert!(s.terminate().0.success());

    // What an erasure of the tool step's params did before: the field's
    // hash kept, its column blanked, null in raw; the span's attributes
    // left in raw.
    let sql = |statement: &str| {
        let out = flightlog_sql(dir.path(), statement);
        assert!(out.status.success(), "{statement}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    sql("ALTER TABLE steps UPDATE \
         erased = map('[\"tool_execution\",\"params\"]', SHA256(concat('flightlog/field/v1', char(0), '[\"tool_execution\",\"params\"]', char(0), tool_params))), \
         raw = replaceOne(raw, '\"tool_execution\":{', '\"tool_execution\":{\"params\":null,'), tool_params = '' \
         WHERE tool_name = 'send_email' SETTINGS mutations_sync = 2");
    assert_eq!(sql("SELECT countIf(position(raw, 'Ada Quill') > 0), countIf(length(erased) > 0) FROM steps FORMAT TSV"), "2\t2");
    // And its record, as that version kept it: once the content was
    // blanked, with no log position, signed by the instance.
    let seed = std::fs::read_to_string(dir.path().join("integrity/signing.key")).unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&hex::decode(seed.trim()).unwrap().try_into().unwrap());
    for (at_us, session) in [("1", "old-erasure"), ("2", "held-erasure")] {
        // schema/0027's message: the domain, then each field as
        // <byte length>:<value>.
        let fields = ["default", at_us, session, "", "asked", "admin", "1", "1"];
        let message: String = std::iter::once("flightlog/erasure/v1\n".to_string()).chain(fields.iter().map(|f| format!("{}:{f}\n", f.len()))).collect();
        let signature = hex::encode(ed25519_dalek::Signer::sign(&key, message.as_bytes()).to_bytes());
        sql(&format!(
            "INSERT INTO erasures (project, at_us, session_id, user_id, reason, by_key, steps_erased, fields_erased, signature, log_through) \
             VALUES ('default', {at_us}, '{session}', '', 'asked', 'admin', 1, 1, '{signature}', -1)"
        ));
    }
    let offline = |session: &str| {
        let out = std::process::Command::new(binary())
            .args(["verify", "--project", "default", "--session", session, "--data-dir"])
            .arg(dir.path())
            .envs(store_env(dir.path()))
            .output()
            .unwrap();
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap_or_else(|_| panic!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let fields = |report: &Value| -> Vec<String> { report["erased"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap().to_string()).collect() };
    // The offline verifier reads the store: the folder's embedded engine,
    // or the server its --clickhouse-url names (store_env).
    let before = offline("old-erasure");
    assert_eq!((before["status"].as_str(), fields(&before)), (Some("verified"), vec![r#"["tool_execution","params"]"#.to_string()]), "{before:#}");

    // Runs of the retention job, which does it, every second.
    let s = Server::start_in(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), ("FLIGHTLOG_EXPIRY_INTERVAL", "1")]).await;
    let mut stored = Vec::new();
    for _ in 0..100 {
        stored = s.all_steps(ADMIN_KEY, "old-erasure", 10).await;
        if stored[1]["data"]["otel"]["attributes"].is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(stored[1]["data"]["otel"]["attributes"], Value::Null, "{:#}", stored[1]);
    assert_eq!(stored[1]["data"]["otel"]["name"], sent[1]["data"]["otel"]["name"]);
    assert_eq!(stored[0], sent[0], "the step no erasure took is left as it was");
    let (status, report) = s.get(ADMIN_KEY, "/v1/sessions/old-erasure/verify").await;
    assert_eq!((status, report["status"].as_str()), (StatusCode::OK, Some("verified")), "{report:#}");
    assert_eq!(fields(&report), [r#"["otel","attributes"]"#, r#"["tool_execution","params"]"#], "{report:#}");

    // The held session keeps them through more runs, until its hold goes.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let attributes = |steps: &[Value]| steps[1]["data"]["otel"]["attributes"].clone();
    assert!(attributes(&s.all_steps(ADMIN_KEY, "held-erasure", 10).await).is_object());
    let resp = s.http.delete(format!("{}/v1/legal-holds/session/held-erasure", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let mut held = Value::Null;
    for _ in 0..100 {
        held = attributes(&s.all_steps(ADMIN_KEY, "held-erasure", 10).await);
        if held.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(held, Value::Null, "erased once the hold is released");
    let (_, report) = s.get(ADMIN_KEY, "/v1/sessions/held-erasure/verify").await;
    assert_eq!(report["status"], "verified", "{report:#}");
    let mut s = s;
    assert!(s.terminate().0.success());
    assert_eq!(sql("SELECT countIf(position(raw, 'Ada Quill') > 0) FROM steps FORMAT TSV"), "0");
}

/// Tool arguments nested deeper than a step may be (127 levels, under
/// `tool_execution.params`) are kept as the text they came as, and every
/// reader reads the step: MCP answered its data as null, and its
/// reproduction as unreadable (503), for good.
#[tokio::test]
async fn arguments_nested_deeper_than_a_step_may_be_are_kept_as_text_and_read_everywhere() {
    let s = Server::start().await;
    let mut body = export("deep-args");
    let deep = format!("{}1{}", "[".repeat(127), "]".repeat(127));
    let spans = body["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array_mut().unwrap();
    spans[1]["attributes"].as_array_mut().unwrap().push(json!({"key": "gen_ai.tool.call.arguments", "value": {"stringValue": deep}}));
    let (status, _, answer) = post_traces(&s, ADMIN_KEY, "/v1/traces", "application/json", serde_json::to_vec(&body).unwrap(), false).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer));
    let steps = s.all_steps(ADMIN_KEY, "deep-args", 10).await;
    assert_eq!(steps[1]["data"]["tool_execution"]["params"], json!(deep), "kept exactly, as text");

    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "session_timeline", "arguments": {"session_id": "deep-args"}}});
    let resp = s.http.post(format!("{}/mcp", s.base)).bearer_auth(ADMIN_KEY).header("accept", "application/json, text/event-stream").json(&call).send().await.unwrap();
    let answer: Value = resp.json().await.unwrap();
    let timeline: Value = serde_json::from_str(answer["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(timeline["steps"][1]["data"]["tool_execution"]["params"], json!(deep), "{timeline}");
    let (status, _) = s.get(ADMIN_KEY, "/v1/sessions/deep-args/reproduction").await;
    assert_eq!(status, StatusCode::OK);
}
