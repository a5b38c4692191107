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

/// `steps` model calls, each asked "again" and answered "answer N", all at
/// one time (llm_step's own times are valid for steps 0 to 9 only).
fn long_recording(steps: u64) -> Vec<Value> {
    (0..steps)
        .map(|n| {
            let mut step = llm_step(n, "again", &format!("answer {n}"));
            step["timestamp"] = json!("2026-01-15T10:30:00Z");
            step
        })
        .collect()
}

/// `flightlog replay` of session agent-run recorded in `s`, once it answers;
/// its base URL.
async fn start_replay(s: &Server, stderr: Stdio) -> (Reaped, String) {
    start_replay_from(&s.base, &s.http, stderr).await
}

/// `flightlog replay` reading its recording from `server` (a URL).
async fn start_replay_from(server: &str, http: &reqwest::Client, stderr: Stdio) -> (Reaped, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let replay = Reaped(Command::new(binary())
        .args(["replay", "--session", "agent-run", "--listen", &format!("127.0.0.1:{port}")])
        .env("FLIGHTLOG_URL", server)
        .env("FLIGHTLOG_KEY", ADMIN_KEY)
        .stderr(stderr)
        .spawn()
        .unwrap());
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if http.get(format!("{base}/replay/divergence")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (replay, base)
}

/// One session may hold millions of steps: the recipe comes a page at a
/// time (at most 1,000 steps), and the pages together are the whole.
#[tokio::test]
async fn the_reproduction_export_comes_a_page_at_a_time() {
    let s = Server::start().await;
    let steps: Vec<Value> = (0..25).map(|n| json!({"session_id": "paged", "step": n, "timestamp": "2026-01-15T10:30:00Z",
        "model": {"name": "gpt-4o", "seed": n}, "prompt": {"completion": format!("answer {n}")}})).collect();
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.1["accepted"], 25);
    let (status, whole) = s.get(ADMIN_KEY, "/v1/sessions/paged/reproduction").await;
    assert_eq!((status, whole["steps"].as_array().map(Vec::len)), (StatusCode::OK, Some(25)));
    assert!(whole.get("next_after").is_none(), "one page holds it: {whole}");

    let (mut pages, mut after, mut read) = (Vec::new(), String::new(), Vec::new());
    loop {
        let (status, page) = s.get(ADMIN_KEY, &format!("/v1/sessions/paged/reproduction?limit=10{after}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages.push(page["steps"].as_array().unwrap().len());
        read.extend(page["steps"].as_array().unwrap().iter().cloned());
        match page["next_after"].as_u64() {
            Some(next) => after = format!("&after={next}"),
            None => break,
        }
    }
    assert_eq!(pages, [10, 10, 5]);
    assert_eq!(Value::Array(read), whole["steps"], "the pages are the whole recipe, in order");

    let (status, past) = s.get(ADMIN_KEY, "/v1/sessions/paged/reproduction?after=24").await;
    assert_eq!((status, past["steps"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{past}");
    let (status, refused) = s.get(ADMIN_KEY, "/v1/sessions/paged/reproduction?limit=1001").await;
    assert_eq!((status, refused["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("limit")), "{refused}");
}

/// `flightlog replay` reads a recipe longer than one page a page at a time,
/// as the re-run reaches it: it listens once the first page is read, and
/// answers every call of the next page, in order, then says it is done.
#[tokio::test]
async fn replay_reads_every_page_of_a_long_recipe_as_it_is_reached() {
    let s = Server::start().await;
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&long_recording(1_002)), &[]).await.1["accepted"], 1_002);
    let (_replay, base) = start_replay(&s, Stdio::null()).await;
    let report: Value = s.http.get(format!("{base}/replay/divergence")).send().await.unwrap().json().await.unwrap();
    assert_eq!((report["recorded_read"].as_u64(), report["all_read"].as_bool()), (Some(1_000), Some(false)), "{report}");
    let call = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "again"}]});
    let mut answers = Vec::new();
    for _ in 0..1_003 {
        let resp = s.http.post(format!("{base}/v1/chat/completions")).json(&call).send().await.unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        answers.push((status, body["choices"][0]["message"]["content"].as_str().map(str::to_string)));
    }
    // Every call once, in order, the second page's read when reached.
    for (i, answer) in answers[..1_002].iter().enumerate() {
        assert_eq!(answer, &(StatusCode::OK, Some(format!("answer {i}"))));
    }
    assert_eq!(answers[1_002].0, StatusCode::GONE, "past the last call");
    let report: Value = s.http.get(format!("{base}/replay/divergence")).send().await.unwrap().json().await.unwrap();
    assert_eq!((report["recorded_read"].as_u64(), report["all_read"].as_bool(), report["served"].as_u64()), (Some(1_002), Some(true), Some(1_002)));
}

/// A page of the recipe that the server cannot give (it was killed) is a
/// 502 for the call that reaches it, and nothing is served in its place;
/// once the server is back (restarted on its folder, on another port behind
/// the same URL), the same call is answered with the next recorded step.
#[tokio::test]
async fn a_page_the_server_cannot_give_is_a_502_and_is_read_once_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)];
    let mut s = Server::start_in(dir.path(), &env).await;
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&long_recording(1_002)), &[]).await.1["accepted"], 1_002);
    let proxy = Proxy::start(Mode::Forward(s.port())).await;
    let (_replay, base) = start_replay_from(&proxy.url, &s.http, Stdio::null()).await;
    let http = reqwest::Client::new();
    let call = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "again"}]});
    let next = || async {
        let resp = http.post(format!("{base}/v1/chat/completions")).json(&call).send().await.unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        (status, body["choices"][0]["message"]["content"].as_str().map(str::to_string), body["error"]["type"].as_str().map(str::to_string))
    };
    for n in 0..1_000 {
        assert_eq!(next().await, (StatusCode::OK, Some(format!("answer {n}")), None));
    }
    s.kill9();
    // Closed at once, as a dead server's port would be (the port itself
    // may be taken by another test's server meanwhile).
    proxy.set(Mode::Down);
    for _ in 0..2 {
        assert_eq!(next().await, (StatusCode::BAD_GATEWAY, None, Some("replay_unavailable".into())), "the second page cannot be read");
    }
    let report: Value = http.get(format!("{base}/replay/divergence")).send().await.unwrap().json().await.unwrap();
    assert_eq!((report["served"].as_u64(), report["recorded_read"].as_u64(), report["all_read"].as_bool()), (Some(1_000), Some(1_000), Some(false)), "{report}");
    let back = Server::start_in(dir.path(), &env).await;
    proxy.set(Mode::Forward(back.port()));
    assert_eq!(next().await, (StatusCode::OK, Some("answer 1000".into()), None), "the call the server failed is answered once it is back");
    assert_eq!(next().await, (StatusCode::OK, Some("answer 1001".into()), None));
    assert_eq!(next().await.0, StatusCode::GONE, "past the last call");
}

#[tokio::test]
async fn replay_answers_with_recorded_completions_and_reports_the_first_divergence() {
    let s = Server::start().await;
    let recorded = [llm_step(0, "hello", "Hi, how can I help?"), llm_step(1, "analyse report 456", "Risk is low."), llm_step(2, "decide", "Approve.")];
    s.post_steps(ADMIN_KEY, ndjson(&recorded), &[]).await;

    let (mut replay, base) = start_replay(&s, Stdio::piped()).await;

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

/// A body that is not JSON is refused in JSON, as the API replay stands in
/// for refuses it (it was axum's plain text), and a port in use is the only
/// thing said (it first said it was replaying there).
#[tokio::test]
async fn replay_refuses_in_json_and_says_nothing_of_a_port_it_cannot_have() {
    let s = Server::start().await;
    s.post_steps(ADMIN_KEY, ndjson(&[llm_step(0, "hello", "hi")]), &[]).await;
    let (_replay, base) = start_replay(&s, Stdio::null()).await;
    let resp = s.http.post(format!("{base}/v1/chat/completions")).header("content-type", "application/json").body("{not json").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let answer: Value = resp.json().await.expect("a JSON error");
    assert_eq!(answer["error"]["type"], "invalid_request_error", "{answer}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let out = Command::new(binary())
        .args(["replay", "--session", "agent-run", "--listen", &taken.local_addr().unwrap().to_string()])
        .env("FLIGHTLOG_URL", &s.base)
        .env("FLIGHTLOG_KEY", ADMIN_KEY)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("cannot listen on") && !said.contains("replaying"), "{said}");
}
