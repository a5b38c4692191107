//! OTLP over gRPC, with real clients: the OpenTelemetry Python SDK's gRPC
//! exporter (gzip, `authorization` metadata) and the raw TraceService stub
//! of the official Python protos (grpcio), against `flightlog serve` with
//! its gRPC listener on. The same mapping, limits, auth and durable
//! acknowledgement as OTLP/HTTP.

use flightlog_tests::*;
use std::process::Command;

/// A server with OTLP/gRPC on a port of its own; returns it and the
/// gRPC endpoint.
async fn with_grpc() -> (Server, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let env = [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), ("FLIGHTLOG_NO_OTLP_GRPC", "false"), ("FLIGHTLOG_OTLP_GRPC_LISTEN", listen.as_str())];
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &env).await;
    server.keep_dir(dir);
    (server, format!("http://{listen}"))
}

fn python(args: &[&str]) -> String {
    let python = std::env::var("FLIGHTLOG_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/otlp_clients.py");
    let out = Command::new(python).arg(script).args(args).output().expect("python runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "client failed:\n{stdout}\n{stderr}");
    stdout
}

#[tokio::test]
async fn the_sdk_grpc_exporter_with_gzip_stores_the_same_steps_as_http() {
    let (server, grpc) = with_grpc().await;
    python(&["sdk-grpc", &grpc, ADMIN_KEY, "grpc-session"]);
    let steps: Vec<Value> = server.all_steps(ADMIN_KEY, "grpc-session", 100).await.into_iter().map(|s| s["data"].clone()).collect();
    assert_eq!(steps.len(), 3, "agent, chat and tool spans; the plain HTTP span is skipped: {steps:#?}");
    let chat = steps.iter().find(|s| s["otel"]["name"] == "chat gpt-4o").expect("the chat span");
    assert_eq!(chat["model"]["name"], "gpt-4o-2024-08-06");
    assert_eq!(chat["cost"]["input_tokens"], 1000);
    assert_eq!(chat["agent_thoughts"]["chosen_tool"], "check_credit");
    assert_eq!(chat["otel"]["resource"]["service.name"], "loan-service");
    let tool = steps.iter().find(|s| s["tool_execution"]["name"] == "check_credit").expect("the tool span");
    assert_eq!(tool["tool_execution"]["status"], "error");
}

#[tokio::test]
async fn re_sent_spans_are_duplicates_bad_spans_are_named_and_keys_and_limits_hold() {
    let (server, grpc) = with_grpc().await;
    let limit = "10000"; // Limits::default().max_records
    let out: Value = serde_json::from_str(python(&["grpc-edges", &grpc, ADMIN_KEY, "edges", limit]).trim()).unwrap();
    assert_eq!(out["first"]["rejected"], 0, "{out}");
    assert_eq!(out["again"]["rejected"], 0, "a re-sent export is answered, not refused: {out}");
    assert_eq!(out["bad"]["rejected"], 1, "{out}");
    let message = out["bad"]["message"].as_str().unwrap();
    assert!(message.contains("user_id"), "the refused span and its field are named: {message}");
    assert_eq!(out["wrong_key"], "UNAUTHENTICATED");
    assert_eq!(out["no_key"], "UNAUTHENTICATED");
    assert_eq!(out["too_many"], "RESOURCE_EXHAUSTED");
    assert_eq!(out["too_large"], "RESOURCE_EXHAUSTED", "not OUT_OF_RANGE, which exporters retry: {out}");
    // Spans 0..4 once (the second send was all duplicates) and span 6.
    let steps = server.all_steps(ADMIN_KEY, "edges", 100).await;
    assert_eq!(steps.len(), 6, "{steps:#?}");
    let (_, summary) = server.get(ADMIN_KEY, "/v1/sessions/edges").await;
    assert_eq!(summary["steps"], 6);
}

/// Key guesses over gRPC count with those over HTTP, from the same address:
/// 20 failures a minute (the default), then UNAVAILABLE (which exporters
/// retry, as they retry HTTP's 429) for every call, even one with the right
/// key, and 429 over HTTP too.
#[tokio::test]
async fn key_guesses_over_grpc_are_limited_like_those_over_http() {
    let (server, grpc) = with_grpc().await;
    let out: Vec<String> = serde_json::from_str(python(&["grpc-guesses", &grpc, ADMIN_KEY, "22"]).trim()).unwrap();
    assert_eq!(out.len(), 23);
    assert!(out[..20].iter().all(|s| s == "UNAUTHENTICATED"), "{out:?}");
    assert!(out[20..].iter().all(|s| s == "UNAVAILABLE"), "blocked, the right key too: {out:?}");
    let (status, body) = server.get(ADMIN_KEY, "/v1/sessions").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the same address over HTTP: {body}");
}
