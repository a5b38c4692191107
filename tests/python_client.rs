//! The Python client (clients/python, `flightlog_client`) loses nothing:
//! steps an agent records while Flightlog is down, while it answers 503,
//! and across a SIGKILL of the agent itself all arrive, each exactly once.
//!
//! The agent reaches Flightlog through the harness's [`Proxy`], so that its
//! URL stays the same while Flightlog is down, answers 503, and comes back
//! on another port.

use flightlog_tests::*;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

fn python() -> String {
    std::env::var("FLIGHTLOG_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn agent(url: &str, spool: &Path, session: &str, first: u64, last: u64) -> tokio::process::Child {
    let client = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/python");
    tokio::process::Command::new(python())
        .arg(client.join("tests/agent_1000.py"))
        .args([url, ADMIN_KEY])
        .arg(spool)
        .args([session, &first.to_string(), &last.to_string(), "40"])
        .env("PYTHONPATH", &client)
        .env("PYTHONUNBUFFERED", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start the Python agent")
}

/// The next line the agent prints (30 s at most).
async fn next_line(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.expect("the agent went silent").expect("agent stdout")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_spools_through_an_outage_and_an_agent_crash() {
    let started = Instant::now();
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let spool = work.path().join("spool");
    let session = "python-client-run";

    // 1. Flightlog on its folder, then killed: it is down.
    let mut server = Server::start_in(data.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)]).await;
    server.kill9();
    drop(server);
    let proxy = Proxy::start(Mode::Down).await;

    // 2. The agent records while Flightlog is down and is SIGKILLed
    //    after ~500 steps.
    let mut first_run = agent(&proxy.url, &spool, session, 0, 1000);
    let mut out = BufReader::new(first_run.stdout.take().unwrap()).lines();
    let mut last_printed = None;
    while let Some(line) = next_line(&mut out).await {
        if let Some(n) = line.strip_prefix("recorded ").and_then(|n| n.parse::<u64>().ok()) {
            last_printed = Some(n);
            if n >= 500 {
                break;
            }
        }
    }
    first_run.start_kill().expect("SIGKILL the agent");
    // Whatever it printed before it died was recorded (fsynced) too.
    while let Ok(Some(line)) = out.next_line().await {
        if let Some(n) = line.strip_prefix("recorded ").and_then(|n| n.parse::<u64>().ok()) {
            last_printed = Some(n);
        }
    }
    let status = first_run.wait().await.unwrap();
    assert!(!status.success(), "the first agent was killed: {status:?}");
    let resume = last_printed.expect("the first agent recorded steps") + 1;
    assert!(resume <= 1000 && resume > 500, "killed after step {resume}");
    assert!(proxy.closed.load(Ordering::Relaxed) > 0, "the first agent tried to send while Flightlog was down");
    eprintln!("[{:?}] first agent killed after step {}", started.elapsed(), resume - 1);

    // 3. Flightlog "answers 503" while the agent, restarted on the same
    //    spool, records the rest.
    proxy.set(Mode::Unavailable);
    let mut second_run = agent(&proxy.url, &spool, session, resume, 1000);
    let mut out = BufReader::new(second_run.stdout.take().unwrap()).lines();
    while let Some(line) = next_line(&mut out).await {
        if line == "recorded all" {
            break;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while proxy.unavailable.load(Ordering::Relaxed) < 2 {
        assert!(Instant::now() < deadline, "the second agent sent nothing while Flightlog answered 503");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("[{:?}] second agent recorded up to 999, now in close()", started.elapsed());

    // 4. Flightlog comes back on the same folder; the agent's close()
    //    delivers everything.
    let server = Server::start_in(data.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)]).await;
    proxy.set(Mode::Forward(server.port()));
    let mut rest = Vec::new();
    while let Some(line) = next_line(&mut out).await {
        rest.push(line);
    }
    let status = tokio::time::timeout(Duration::from_secs(45), second_run.wait()).await.expect("the agent exits").unwrap();
    assert!(status.success(), "the second agent did not deliver everything: {status:?} {rest:?}");
    assert!(rest.iter().any(|l| l.starts_with("closed ok=True")), "{rest:?}");
    eprintln!("[{:?}] second agent closed: {rest:?}", started.elapsed());

    // Every step 0..999 is stored once, in order.
    let steps = server.all_steps(ADMIN_KEY, session, 1000).await;
    let numbers: Vec<u64> = steps.iter().map(|s| s["step"].as_u64().unwrap()).collect();
    assert_eq!(numbers, (0..1000).collect::<Vec<_>>());
    let (status, summary) = server.get(ADMIN_KEY, &format!("/v1/sessions/{session}")).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["steps"], 1000, "{summary}");

    // What the context managers filled in arrived as recorded.
    let ok = &steps[3]["data"]["tool_execution"];
    assert_eq!(ok["status"], "ok", "{}", steps[3]);
    assert_eq!(ok["result"], json!({"square": 9}));
    assert!(ok["duration_ms"].is_u64(), "{ok}");
    let failed = &steps[30]["data"]["tool_execution"];
    assert_eq!(failed["status"], "error", "{}", steps[30]);
    assert!(failed["error"].as_str().unwrap_or_default().contains("no record 30"), "{failed}");
    assert_eq!(steps[1]["data"]["metadata"], json!({"kind": "thought", "n": 1}), "{}", steps[1]);
    assert!(steps.iter().all(|s| s["data"]["timestamp"].as_str().is_some_and(|t| t.ends_with('Z') && t.len() == 27)), "timestamps are RFC 3339 UTC with microseconds");

    // The spool is drained: one (empty or sent) segment, the cursor at its end.
    let segments: Vec<_> = std::fs::read_dir(&spool)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("segment-"))
        .collect();
    assert_eq!(segments.len(), 1, "{segments:?}");
    let cursor: Value = serde_json::from_str(&std::fs::read_to_string(spool.join("cursor.json")).unwrap()).unwrap();
    let size = std::fs::metadata(spool.join(&segments[0])).unwrap().len();
    assert_eq!(cursor["offset"], size, "{cursor}");
    eprintln!("[{:?}] all 1000 steps stored once", started.elapsed());
}
