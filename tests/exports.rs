//! Exports read by a real data tool: polars reads the CSV, Arrow IPC and
//! Parquet files Flightlog streams, with the right types and row counts;
//! and a CSV export of steps imports into another instance field for field.

use flightlog_tests::*;
use std::process::Command;

fn python() -> String {
    std::env::var("FLIGHTLOG_PYTHON").expect("FLIGHTLOG_PYTHON is unset: `make test` installs the Python clients")
}

async fn download(s: &Server, path: &str, file: &std::path::Path) {
    let resp = s.http.get(format!("{}{path}", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    std::fs::write(file, resp.bytes().await.unwrap()).unwrap();
}

#[tokio::test]
async fn polars_reads_every_export_with_the_right_types() {
    let s = Server::start().await;
    // 25,000 steps: more than one export page (10,000), so streaming is exercised.
    let steps: Vec<Value> = (0..25_000u64)
        .map(|n| json!({"session_id": format!("s{:03}", n / 100), "step": n % 100, "timestamp": format!("2025-07-{:02}T10:00:00Z", 1 + n % 28),
                        "model": {"name": if n % 2 == 0 { "gpt-4o" } else { "claude-sonnet-4" }, "temperature": 0.2},
                        "agent_thoughts": {"reasoning": format!("why, \"quoted\", line\nbreak {n}"), "considered_tools": ["a", "b"]},
                        "cost": {"input_tokens": 1000, "output_tokens": 100, "estimated_cost": 0.01}, "tags": ["prod"]}))
        .collect();
    for chunk in steps.chunks(5000) {
        assert_eq!(s.post_steps(ADMIN_KEY, ndjson(chunk), &[]).await.1["accepted"], 5000);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for format in ["csv", "arrow", "parquet"] {
        let steps_file = dir.path().join(format!("steps.{format}"));
        download(&s, &format!("/v1/export/steps?format={format}"), &steps_file).await;
        let costs_file = dir.path().join(format!("costs.{format}"));
        download(&s, &format!("/v1/costs?group_by=day,model&format={format}"), &costs_file).await;
        files.push(steps_file);
        files.push(costs_file);
    }
    let out = Command::new(python()).arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/read_exports.py")).args(&files).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let read: Value = serde_json::from_slice(&out.stdout).unwrap();
    for format in ["csv", "arrow", "parquet"] {
        let st = &read[dir.path().join(format!("steps.{format}")).to_str().unwrap()];
        assert_eq!(st["rows"], 25_000, "{format}");
        // A step number is unsigned, as stored; CSV carries no types, and
        // polars reads its whole numbers as Int64.
        assert_eq!(st["schema"]["step"], if format == "csv" { "Int64" } else { "UInt64" }, "{format}");
        if format != "csv" {
            assert_eq!((&st["schema"]["seed"], &st["schema"]["input_tokens"]), (&json!("Int64"), &json!("UInt64")), "{format}: a seed is signed");
        }
        assert_eq!(st["schema"]["temperature"], "Float64", "{format}");
        assert_eq!(st["schema"]["session_id"], "String", "{format}");
        assert_eq!(st["first"]["reasoning"], "why, \"quoted\", line\nbreak 0", "{format}: text survives quoting");
        let co = &read[dir.path().join(format!("costs.{format}")).to_str().unwrap()];
        // Day 1 + n % 28 and model n % 2 share their parity: one model a day.
        assert_eq!(co["rows"], 28, "{format}: 28 days, one model each");
        assert_eq!(co["schema"]["cost"], "Float64", "{format}");
        assert_eq!(co["schema"]["steps"], "Int64", "{format}");
    }

    // The CLI writes the same file.
    let cli_file = dir.path().join("cli-costs.parquet");
    let out = Command::new(binary())
        .args(["export", "costs", "--format", "parquet", "--group-by", "day,model", "--out", cli_file.to_str().unwrap()])
        .env("FLIGHTLOG_URL", &s.base)
        .env("FLIGHTLOG_KEY", ADMIN_KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&cli_file).unwrap(), std::fs::read(dir.path().join("costs.parquet")).unwrap());

    // A steps export in CSV is an import file: into a fresh instance, field for field.
    let fresh = Server::start().await;
    let out = Command::new(binary())
        .args(["import", dir.path().join("steps.csv").to_str().unwrap()])
        .env("FLIGHTLOG_URL", &fresh.base)
        .env("FLIGHTLOG_KEY", ADMIN_KEY)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("25000 accepted"), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let original = s.all_steps(ADMIN_KEY, "s007", 100).await;
    let imported = fresh.all_steps(ADMIN_KEY, "s007", 100).await;
    assert_eq!(original[5]["data"]["agent_thoughts"], imported[5]["data"]["agent_thoughts"]);
    assert_eq!(original[5]["data"]["cost"]["input_tokens"], imported[5]["data"]["cost"]["input_tokens"]);
    for recorded in flightlog_model::columns::RECORD {
        assert!(imported[5]["data"].get(recorded).is_none(), "what the export recorded of a step is not one of its fields: {recorded}");
    }
}

/// A cost file holds at most `limit` groups, the most expensive; when more
/// matched it says so (a header the CLI turns into an error), where
/// `flightlog export costs` used to write the first 1,000 and exit 0.
#[tokio::test]
async fn a_cost_file_cut_at_its_limit_says_so() {
    let s = Server::start().await;
    let steps: Vec<Value> = (0..30)
        .map(|i| json!({"session_id": format!("c{i:02}"), "step": 0, "timestamp": "2026-11-02T10:00:00Z", "model": {"name": "gpt-4o"},
                        "cost": {"input_tokens": 1000 * (i + 1), "output_tokens": 10}}))
        .collect();
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.1["accepted"], 30);
    let (_, json) = s.get(ADMIN_KEY, "/v1/costs?group_by=session&limit=29").await;
    assert_eq!((json["groups"].as_array().unwrap().len(), &json["more_groups"]), (29, &json!(true)), "{json}");
    assert_eq!(json["groups"][0]["session"], "c29", "the most expensive first");
    let (_, json) = s.get(ADMIN_KEY, "/v1/costs?group_by=session&limit=30").await;
    assert_eq!((json["groups"].as_array().unwrap().len(), &json["more_groups"]), (30, &json!(false)));

    let dir = tempfile::tempdir().unwrap();
    let export = |limit: &str| {
        let file = dir.path().join(format!("costs-{limit}.csv"));
        let out = Command::new(binary())
            .args(["export", "costs", "--group-by", "session", "--limit", limit, "--out", file.to_str().unwrap()])
            .env("FLIGHTLOG_URL", &s.base)
            .env("FLIGHTLOG_KEY", ADMIN_KEY)
            .output()
            .unwrap();
        let rows = std::fs::read_to_string(&file).unwrap().lines().count() - 1;
        (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string(), rows)
    };
    let (ok, said, rows) = export("10");
    assert!(!ok && said.contains("only the 10 most expensive groups: more matched"), "{said}");
    assert_eq!(rows, 10, "the file holds the first 10");
    let (ok, said, rows) = export("30");
    assert!(ok, "{said}");
    assert_eq!(rows, 30);
}

/// A range bound finer than a microsecond keeps exactly the steps at or
/// after `from` and before `to` (stored times are microseconds): a `from`
/// one nanosecond past a step's time took that step. A leap second is
/// refused, naming the field, rather than filed under the next day.
#[tokio::test]
async fn time_bounds_are_exact_to_the_nanosecond_and_a_leap_second_is_refused() {
    let s = Server::start().await;
    let at = |n: u64, ts: &str| json!({"session_id": "t", "step": n, "timestamp": ts});
    let steps = [at(0, "2026-03-01T10:00:00Z"), at(1, "2026-03-01T10:00:00.000001Z"), at(2, "2026-03-01T10:00:01Z")];
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.1["accepted"], 3);
    assert_eq!(exported(&s, "2026-03-01T10:00:00.000000001Z", "2026-03-01T10:00:02Z").await, ["1", "2"], "after step 0's time");
    assert_eq!(exported(&s, "2026-03-01T10:00:00Z", "2026-03-01T10:00:00.000000001Z").await, ["0"], "before step 1's time");
    assert!(exported(&s, "2026-03-01T10:00:00.0000001Z", "2026-03-01T10:00:00.0000009Z").await.is_empty(), "a range with no microsecond in it");

    let (status, answer) = s.post_steps(ADMIN_KEY, at(3, "2026-03-01T23:59:60Z").to_string(), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let rejected = &answer["rejected"][0];
    assert!(rejected["field"] == "timestamp" && rejected["reason"].as_str().unwrap().contains("leap second"), "{answer}");
}

/// The step numbers of a CSV export of the range.
async fn exported(s: &Server, from: &str, to: &str) -> Vec<String> {
    let path = format!("/v1/export/steps?format=csv&from={from}&to={to}");
    let resp = s.http.get(format!("{}{path}", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{path}: {text}");
    let step_at = text.lines().next().unwrap().split(',').position(|c| c == "step").unwrap();
    text.lines().skip(1).map(|l| l.split(',').nth(step_at).unwrap().to_string()).collect()
}
