//! Fuzzing through the real binary: a few hundred generated bodies (broken
//! JSON, wrong types, duplicate keys, huge numbers, truncated gzip, random
//! protobuf and OTLP JSON) sent to `/v1/steps` and `/v1/traces`. Every
//! answer is a 200 or a 4xx that names the problem, never a 5xx; the server
//! stays healthy and every step it acknowledged is still there afterwards.
//!
//! Deterministic: the seed is `FLIGHTLOG_FUZZ_SEED` (default below) and the
//! number of bodies `FLIGHTLOG_FUZZ_HTTP_CASES` (default 400). A failure
//! prints the seed, the case number and the body, so it can be replayed.

use flate2::Compression;
use flate2::write::GzEncoder;
use flightlog_tests::*;
use std::io::Write;

const DEFAULT_SEED: u64 = 0x5eed_f11e_0000_0001;

/// SplitMix64: small, fast, and the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// True with probability `percent` in 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const HUGE_NUMBERS: &[&str] = &[
    "123456789012345678901234567890",
    "-123456789012345678901234567890",
    "1.000000000000000000001",
    "18446744073709551616",
    "9223372036854775808",
    "1e400",
    "-1",
    "1.5",
    "-0",
    "0.1",
];

const ODD_STRINGS: &[&str] = &["", "\u{0}", "\u{1b}[31m", "é€😀", "\u{feff}", "\u{2028}", "a\"b", "\\", "line\nbreak"];

/// A JSON value of any type, as text: what a wrong-typed field holds.
fn any_value(rng: &mut Rng, depth: u32) -> String {
    match rng.below(if depth > 2 { 4 } else { 7 }) {
        0 => "null".into(),
        1 => rng.pick(&["true", "false"]).to_string(),
        2 => rng.pick(HUGE_NUMBERS).to_string(),
        3 => serde_json::to_string(*rng.pick(ODD_STRINGS)).unwrap(),
        4 => format!("{}", rng.next() % 1000),
        5 => format!("[{}]", (0..rng.below(4)).map(|_| any_value(rng, depth + 1)).collect::<Vec<_>>().join(",")),
        _ => {
            let fields: Vec<String> =
                (0..rng.below(4)).map(|_| format!("\"{}\":{}", rng.pick(&["a", "b", "a", "id"]), any_value(rng, depth + 1))).collect();
            format!("{{{}}}", fields.join(","))
        }
    }
}

/// A step record as text: a valid template whose fields are sometimes given
/// the wrong type, a huge number, odd strings, or repeated.
fn step_record(rng: &mut Rng, session: &str, step: u64) -> String {
    let mut fields: Vec<(String, String)> = vec![
        ("session_id".into(), serde_json::to_string(session).unwrap()),
        ("step".into(), step.to_string()),
        ("timestamp".into(), "\"2026-01-15T10:30:00Z\"".into()),
        ("agent".into(), r#"{"name":"fuzz-bot","version":"1.0"}"#.into()),
        ("agent_thoughts".into(), r#"{"reasoning":"why","considered_tools":["a","b"],"chosen_tool":"a","confidence":0.5}"#.into()),
        ("tool_execution".into(), r#"{"name":"a","params":{"id":4},"result":{"ok":true},"status":"ok","duration_ms":12}"#.into()),
        ("model".into(), r#"{"provider":"openai","name":"gpt-4o","temperature":0.2,"seed":42,"max_tokens":512}"#.into()),
        ("cost".into(), r#"{"input_tokens":100,"output_tokens":20,"estimated_cost":0.01}"#.into()),
        ("tags".into(), r#"["fuzz"]"#.into()),
        ("metadata".into(), r#"{"k":"v"}"#.into()),
    ];
    for _ in 0..rng.below(3) {
        let i = rng.below(fields.len());
        match rng.below(5) {
            0 => fields[i].1 = any_value(rng, 0),
            1 => fields[i].1 = rng.pick(HUGE_NUMBERS).to_string(),
            2 => fields[i].1 = serde_json::to_string(*rng.pick(ODD_STRINGS)).unwrap(),
            3 => {
                let dup = (fields[i].0.clone(), any_value(rng, 0));
                fields.push(dup);
            }
            _ => {
                fields.remove(i);
            }
        }
    }
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{{}}}", body.join(","))
}

/// Cuts, flips or splices bytes.
fn mutate(rng: &mut Rng, mut bytes: Vec<u8>) -> Vec<u8> {
    for _ in 0..1 + rng.below(3) {
        let len = bytes.len();
        match rng.below(4) {
            0 => {
                let at = rng.below(len + 1);
                bytes.truncate(at);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                bytes[i] ^= 1 + rng.below(255) as u8;
            }
            2 => {
                let i = rng.below(len + 1);
                let s = *rng.pick(&["\"", "{", "}", ",", ":", "\\u", "\n", "123456789012345678901234567890"]);
                bytes.splice(i..i, s.bytes());
            }
            _ => {
                let i = rng.below(len + 1);
                bytes.insert(i, rng.next() as u8);
            }
        }
    }
    bytes
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A `/v1/steps` body: records framed as one object, an array or NDJSON,
/// sometimes broken, sometimes gzip (valid, truncated or corrupted).
fn steps_body(rng: &mut Rng, case: usize) -> (Vec<u8>, Vec<(&'static str, &'static str)>) {
    let n = 1 + rng.below(4);
    let records: Vec<String> = (0..n).map(|i| step_record(rng, &format!("fuzz-{case}"), i as u64)).collect();
    let mut body = match rng.below(3) {
        0 => records[0].clone(),
        1 => format!("[{}]", records.join(",")),
        _ => records.join("\n"),
    }
    .into_bytes();
    if rng.chance(30) {
        body = mutate(rng, body);
    }
    if rng.chance(25) {
        let mut gz = gzip(&body);
        match rng.below(3) {
            0 => {}
            1 => {
                let at = rng.below(gz.len());
                gz.truncate(at);
            }
            _ => gz = mutate(rng, gz),
        }
        return (gz, vec![("content-encoding", "gzip"), ("content-type", "application/json")]);
    }
    (body, vec![("content-type", "application/x-ndjson")])
}

// A minimal protobuf writer: enough for near-valid ExportTraceServiceRequest
// messages without a protobuf dependency in this crate.
fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn len_field(out: &mut Vec<u8>, field: u64, data: &[u8]) {
    varint(out, field << 3 | 2);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

fn attribute(rng: &mut Rng) -> Vec<u8> {
    let key = *rng.pick(&[
        "gen_ai.request.model",
        "gen_ai.conversation.id",
        "gen_ai.usage.input_tokens",
        "gen_ai.request.temperature",
        "gen_ai.tool.call.arguments",
        "llm.invocation_parameters",
        "openinference.span.kind",
        "http.method",
    ]);
    let mut value = Vec::new();
    match rng.below(3) {
        0 => len_field(&mut value, 1, any_value(rng, 0).as_bytes()),
        1 => {
            varint(&mut value, 3 << 3);
            varint(&mut value, rng.next());
        }
        _ => {
            varint(&mut value, 4 << 3 | 1);
            value.extend_from_slice(&rng.next().to_le_bytes());
        }
    }
    let mut kv = Vec::new();
    len_field(&mut kv, 1, key.as_bytes());
    len_field(&mut kv, 2, &value);
    kv
}

/// ExportTraceServiceRequest { resource_spans { scope_spans { spans } } }.
fn protobuf_export(rng: &mut Rng) -> Vec<u8> {
    let mut spans = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let mut span = Vec::new();
        let (trace_len, span_len) = (if rng.chance(90) { 16 } else { rng.below(20) }, if rng.chance(90) { 8 } else { rng.below(20) });
        let trace = rng.bytes(trace_len);
        let span_id = rng.bytes(span_len);
        len_field(&mut span, 1, &trace);
        len_field(&mut span, 2, &span_id);
        len_field(&mut span, 5, b"chat");
        varint(&mut span, 7 << 3 | 1);
        let start = if rng.chance(80) { 1_768_473_000_000_000_000 + rng.next() % 1_000_000_000 } else { rng.next() };
        span.extend_from_slice(&start.to_le_bytes());
        for _ in 0..rng.below(5) {
            len_field(&mut span, 9, &attribute(rng));
        }
        len_field(&mut spans, 2, &span);
    }
    let mut resource_spans = Vec::new();
    len_field(&mut resource_spans, 2, &spans);
    let mut request = Vec::new();
    len_field(&mut request, 1, &resource_spans);
    request
}

/// OTLP JSON with random values where ids, times and attributes go.
fn json_export(rng: &mut Rng) -> Vec<u8> {
    let hex = |rng: &mut Rng, n: usize| rng.bytes(n).iter().map(|b| format!("{b:02x}")).collect::<String>();
    let spans: Vec<String> = (0..1 + rng.below(3))
        .map(|_| {
            let start = if rng.chance(70) { "\"1768473000000000000\"".to_string() } else { any_value(rng, 0) };
            let value = match rng.below(3) {
                0 => format!("{{\"stringValue\":{}}}", serde_json::to_string(&any_value(rng, 0)).unwrap()),
                1 => format!("{{\"intValue\":{}}}", rng.pick(HUGE_NUMBERS)),
                _ => any_value(rng, 0),
            };
            let dup = if rng.chance(20) { ",\"spanId\":\"0102030405060708\"" } else { "" };
            format!(
                "{{\"traceId\":\"{}\",\"spanId\":\"{}\"{dup},\"name\":\"chat\",\"startTimeUnixNano\":{start},\
                 \"attributes\":[{{\"key\":\"gen_ai.request.model\",\"value\":{value}}}]}}",
                hex(rng, 16),
                hex(rng, 8)
            )
        })
        .collect();
    format!("{{\"resourceSpans\":[{{\"scopeSpans\":[{{\"spans\":[{}]}}]}}]}}", spans.join(",")).into_bytes()
}

/// A 4xx JSON answer names the problem: `error.message`, or for a refused
/// batch each `rejected[]` entry's field and reason.
fn assert_names_the_problem(what: &str, status: StatusCode, body: &Value) {
    assert!(status.is_client_error(), "{what}: {status} {body}");
    if let Some(message) = body["error"]["message"].as_str() {
        assert!(!message.trim().is_empty(), "{what}: empty error message: {body}");
        return;
    }
    let rejected = body["rejected"].as_array().unwrap_or_else(|| panic!("{what}: {status} without a reason: {body}"));
    assert!(!rejected.is_empty(), "{what}: {status} without a rejected record: {body}");
    assert_rejections_are_named(what, rejected);
}

fn assert_rejections_are_named(what: &str, rejected: &[Value]) {
    for r in rejected {
        let field = r["field"].as_str().unwrap_or("");
        let reason = r["reason"].as_str().unwrap_or("");
        assert!(!field.is_empty() && !reason.is_empty(), "{what}: a rejection without field or reason: {r}");
    }
}

async fn post_traces(server: &Server, body: Vec<u8>, content_type: &str, gzipped: bool) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = server
        .http
        .post(format!("{}/v1/traces", server.base))
        .bearer_auth(ADMIN_KEY)
        .header("content-type", content_type)
        .body(body);
    if gzipped {
        req = req.header("content-encoding", "gzip");
    }
    let resp = req.send().await.expect("POST /v1/traces");
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.bytes().await.expect("answer body").to_vec())
}

fn valid_step(session: &str, step: u64) -> Value {
    json!({"session_id": session, "step": step, "timestamp": "2026-01-15T10:30:00Z",
           "agent_thoughts": {"reasoning": format!("checkpoint {step}")}, "tool_execution": {"name": "t", "status": "ok"}})
}

#[tokio::test]
async fn generated_bad_bodies_get_named_4xx_answers_and_stored_steps_survive() {
    let seed = std::env::var("FLIGHTLOG_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_SEED);
    let cases: usize = std::env::var("FLIGHTLOG_FUZZ_HTTP_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(400);
    let mut rng = Rng(seed);
    let server = Server::start().await;

    // Steps stored before the storm, and one more every 50 bodies during it.
    let baseline: Vec<Value> = (0..20).map(|i| valid_step("fuzz-baseline", i)).collect();
    let (status, answer) = server.post_steps(ADMIN_KEY, Value::Array(baseline.clone()).to_string(), &[]).await;
    assert_eq!((status, answer["accepted"].as_u64()), (StatusCode::OK, Some(20)), "{answer}");
    let mut checkpoints = Vec::new();

    for case in 0..cases {
        let what = |kind: &str, body: &[u8]| {
            format!("seed {seed} case {case} ({kind}), body {:?}", String::from_utf8_lossy(&body[..body.len().min(600)]))
        };
        match rng.below(10) {
            // /v1/steps: near-valid records, broken JSON, gzip.
            0..=4 => {
                let (body, headers) = if rng.chance(10) {
                    // Overwrite attempts: same keys as the baseline, other content.
                    let i = rng.below(20) as u64;
                    (step_record(&mut rng, "fuzz-baseline", i).into_bytes(), vec![])
                } else {
                    steps_body(&mut rng, case)
                };
                let what = what("steps", &body);
                let (status, answer) = server.post_steps(ADMIN_KEY, body, &headers).await;
                if status == StatusCode::OK {
                    assert!(answer["accepted"].is_u64(), "{what}: {answer}");
                    assert_rejections_are_named(&what, answer["rejected"].as_array().map_or(&[][..], Vec::as_slice));
                } else {
                    assert_names_the_problem(&what, status, &answer);
                }
            }
            // Random bytes to /v1/steps.
            5 => {
                let len = rng.below(300);
                let body = rng.bytes(len);
                let what = what("random steps", &body);
                let (status, answer) = server.post_steps(ADMIN_KEY, body, &[]).await;
                if status != StatusCode::OK {
                    assert_names_the_problem(&what, status, &answer);
                }
            }
            // /v1/traces: protobuf (near-valid, mutated or random) and JSON.
            _ => {
                let protobuf = rng.chance(50);
                let mut body = match (protobuf, rng.below(4)) {
                    (true, 0) => {
                        let len = rng.below(300);
                        rng.bytes(len)
                    }
                    (true, _) => protobuf_export(&mut rng),
                    (false, 0) => any_value(&mut rng, 0).into_bytes(),
                    (false, _) => json_export(&mut rng),
                };
                if rng.chance(40) {
                    body = mutate(&mut rng, body);
                }
                let gzipped = rng.chance(15);
                if gzipped {
                    body = gzip(&body);
                    if rng.chance(50) {
                        let at = rng.below(body.len());
                        body.truncate(at);
                    }
                }
                let what = what(if protobuf { "otlp protobuf" } else { "otlp json" }, &body);
                let content_type = if protobuf { "application/x-protobuf" } else { "application/json" };
                let (status, headers, answer) = post_traces(&server, body, content_type, gzipped).await;
                if status == StatusCode::OK {
                    let rejected: u64 = headers["x-flightlog-rejected"].to_str().unwrap().parse().unwrap();
                    if !protobuf {
                        let answer: Value = serde_json::from_slice(&answer).unwrap_or_else(|e| panic!("{what}: answer is not JSON: {e}"));
                        if rejected > 0 {
                            assert_eq!(answer["partialSuccess"]["rejectedSpans"].as_u64(), Some(rejected), "{what}: {answer}");
                            assert!(!answer["partialSuccess"]["errorMessage"].as_str().unwrap_or("").is_empty(), "{what}: {answer}");
                        }
                    } else if rejected > 0 {
                        assert!(!answer.is_empty(), "{what}: {rejected} spans rejected and no partial_success");
                    }
                } else {
                    let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
                    assert_names_the_problem(&what, status, &answer);
                }
            }
        }
        if case % 50 == 49 {
            let step = valid_step("fuzz-checkpoints", checkpoints.len() as u64);
            let (status, answer) = server.post_steps(ADMIN_KEY, step.to_string(), &[]).await;
            assert_eq!((status, answer["accepted"].as_u64()), (StatusCode::OK, Some(1)), "checkpoint after case {case}: {answer}");
            checkpoints.push(step);
        }
    }

    assert_eq!(server.health().await["status"], "ok", "the server is healthy after {cases} bad bodies");
    for (session, sent) in [("fuzz-baseline", &baseline), ("fuzz-checkpoints", &checkpoints)] {
        let stored: Vec<Value> = server.all_steps(ADMIN_KEY, session, 100).await.into_iter().map(|s| s["data"].clone()).collect();
        assert_eq!(stored.len(), sent.len(), "every acknowledged step of {session} is still there");
        for (stored, sent) in stored.iter().zip(sent.iter()) {
            assert_eq!(stored["step"], sent["step"]);
            assert_eq!(stored["agent_thoughts"], sent["agent_thoughts"], "{session} step {} kept its content", sent["step"]);
        }
    }
}
