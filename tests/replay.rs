//! Reproduction: the export of what a re-run needs, and `flightlog replay`
//! driven by the official `openai` Python client.

use flightlog_tests::*;
use std::process::{Command, Stdio};
use std::time::Duration;

fn llm_step(n: u64, user_says: &str, answer: &str) -> Value {
    json!({"session_id": "agent-run", "step": n, "timestamp": format!("2026-01-15T10:30:0{n}Z"),
           "model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06", "temperature": 0.2, "top_p": 1.0, "seed": 42, "max_tokens": 256},
           "prompt": {"system": "You are a loan assistant.", "messages": [{"role": "user", "content": user_says}], "completion": answer},
           "tool_execution": {"name": "analyze", "params": {"n": n}, "result": {"risk": 0.3}, "status": "ok"}})
}

fn python() -> String {
    std::env::var("FLIGHTLOG_PYTHON")
        .expect("FLIGHTLOG_PYTHON is unset: `make test` installs the Python clients (tests/python) and sets it")
}

#[tokio::test]
async fn the_reproduction_export_has_model_settings_prompts_and_tool_results() {
    let s = Server::start().await;
    s.post_steps(ADMIN_KEY, ndjson(&[llm_step(0, "hello", "hi"), llm_step(1, "analyse", "done")]), &[]).await;
    let (status, repro) = s.get(ADMIN_KEY, "/v1/sessions/agent-run/reproduction").await;
    assert_eq!(status, StatusCode::OK);
    let first = &repro["steps"][0];
    assert_eq!(first["model"], json!({"provider": "openai", "name": "gpt-4o", "version": "2024-08-06",
                                      "temperature": 0.2, "top_p": 1.0, "seed": 42, "max_tokens": 256}));
    assert_eq!(first["prompt"]["messages"], json!([{"role": "user", "content": "hello"}]));
    assert_eq!(first["completion"], "hi");
    assert_eq!(repro["steps"][1]["tool"]["result"], json!({"risk": 0.3}));
    assert_eq!(s.get(ADMIN_KEY, "/v1/sessions/nope/reproduction").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn replay_answers_with_recorded_completions_and_reports_the_first_divergence() {
    let s = Server::start().await;
    let recorded = [llm_step(0, "hello", "Hi, how can I help?"), llm_step(1, "analyse report 456", "Risk is low."), llm_step(2, "decide", "Approve.")];
    s.post_steps(ADMIN_KEY, ndjson(&recorded), &[]).await;

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut replay = Reaped(Command::new(binary())
        .args(["replay", "--session", "agent-run", "--listen", &format!("127.0.0.1:{port}")])
        .env("FLIGHTLOG_URL", &s.base)
        .env("FLIGHTLOG_KEY", ADMIN_KEY)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap());
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if s.http.get(format!("{base}/replay/divergence")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let request = |user: &str, temperature: f64| {
        json!({"model": "gpt-4o", "temperature": temperature, "top_p": 1.0, "seed": 42, "max_tokens": 256,
               "messages": [{"role": "system", "content": "You are a loan assistant."}, {"role": "user", "content": user}]})
    };
    // The re-run matches the recording twice, then changes its temperature.
    let plan = json!([request("hello", 0.2), request("analyse report 456", 0.2), request("decide", 0.9)]);
    let out = Command::new(python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/replay_client.py"))
        .arg(&base)
        .arg(plan.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answers: Value = serde_json::from_slice(&out.stdout).unwrap();
    let contents: Vec<&str> = answers.as_array().unwrap().iter().map(|a| a["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["Hi, how can I help?", "Risk is low.", "Approve."]);
    assert_eq!(answers[0]["model"], "gpt-4o");
    assert_eq!((answers[1]["divergence"].clone(), answers[2]["divergence"].clone()), (Value::Null, json!("temperature")));

    let report: Value = s.http.get(format!("{base}/replay/divergence")).send().await.unwrap().json().await.unwrap();
    assert_eq!(report["first_divergence"], json!({"request": 3, "step": 2, "field": "temperature", "expected": 0.2, "got": 0.9}));
    assert_eq!(report["served"], 3);

    // Past the end of the recording, the replay refuses (410).
    let plan = json!([request("something else", 0.2)]);
    let out = Command::new(python()).arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/replay_client.py")).arg(&base).arg(plan.to_string()).output().unwrap();
    assert!(!out.status.success(), "the recording is exhausted after 3 calls");
    replay.0.kill().unwrap();
    let stderr = {
        use std::io::Read;
        let mut text = String::new();
        replay.0.stderr.take().unwrap().read_to_string(&mut text).unwrap();
        text
    };
    assert!(stderr.contains("replay diverged at request 3 (recorded step 2): temperature"), "{stderr}");
}

/// A child process killed and waited for when the test ends, passed or
/// failed: a failed assertion must not leave the replay server running.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
