//! Golden test of the HTTP API: a fixed data set, a fixed list of requests,
//! and every answer (status, content headers, body) compared byte for byte
//! with the files in `tests/golden/responses/`.
//!
//! It guards refactors: the JSON the API answers must not change unless the
//! change is meant, in which case the golden files are rewritten and the
//! diff of them is reviewed like code.
//!
//! - Input: `tests/golden/steps.ndjson.gz`, the output of
//!   `flightlog demo --sessions 2 --seed 7` generated once (its timestamps
//!   are relative to the day it ran, so the file is fixed from then on;
//!   gzipped, 2 MB → 78 kB; the server takes gzip bodies, and the test
//!   decompresses it to post its parts).
//! - Determinism: the checkpoint signing key is a fixed seed (so public keys
//!   are stable), periodic checkpoints are off (interval of a day), steps are
//!   posted in sequence (so log positions and Merkle roots are stable), and
//!   every time window is explicit (never "the last N days").
//! - Volatile values (wall-clock times of ingestion and of signing, and the
//!   signatures over those times) are replaced by `<volatile>` at the named
//!   paths listed in [`Norm`] uses below; everything else is the raw body.
//!
//! `FLIGHTLOG_GOLDEN_WRITE=1` rewrites the golden files from the binary
//! under test (`FLIGHTLOG_BIN`) instead of comparing.

use flightlog_tests::*;
use reqwest::Method;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What replaces a volatile value.
const VOLATILE: &str = "<volatile>";
/// Ed25519 seed of the checkpoint signer: fixed, so public keys are stable.
const SIGNING_SEED: &str = "0707070707070707070707070707070707070707070707070707070707070707";
/// Steps posted before the first checkpoint; the rest come after it, so
/// there are two checkpoints to prove consistent.
const FIRST_PART: usize = 1000;
/// Every step of the demo data is a key decision, so the similar-failure
/// index holds one point per step.
const DEMO_STEPS: usize = 2042;
/// A window holding every demo step (they span 2026-11-25 to 2026-12-02).
const ALL: &str = "from=2026-11-01T00:00:00Z&to=2027-01-01T00:00:00Z";
/// The response headers recorded besides the status.
const HEADERS: [&str; 3] = ["content-type", "content-disposition", "allow"];

/// How a response body is made comparable.
#[derive(Clone, Copy)]
enum Norm {
    /// Compared as is.
    Raw,
    /// JSON whose values at these paths (dot-separated keys, `*` for every
    /// array element or object member) are volatile. The replacement is
    /// done in the raw text (`"key":value` → `"key":"<volatile>"`), so key
    /// order, spacing and number formatting stay checked byte for byte.
    Json(&'static [&'static str]),
    /// CSV whose column of this name is volatile (replaced in the raw text).
    CsvColumn(&'static str),
    /// Only the field names (sorted dotted paths), not the values: /healthz
    /// shows paths of the data folder and live counters.
    FieldNames,
}

/// GET /v1/sessions/{id}/steps: `received_at` is the wall-clock time the
/// server accepted the step.
const STEPS_PAGE: Norm = Norm::Json(&["steps.*.received_at"]);
/// A checkpoint's signing time (RFC 3339 and microseconds) is the wall
/// clock, and its Ed25519 signature covers that time. Tree size, root hash
/// and public key (fixed seed) are stable and compared.
const CHECKPOINT_LIST: Norm = Norm::Json(&["checkpoints.*.created_at", "checkpoints.*.created_us", "checkpoints.*.signature"]);
/// POST /v1/integrity/checkpoints answers the new checkpoint's time.
const NEW_CHECKPOINT: Norm = Norm::Json(&["created_at"]);
/// Verification reports name the latest checkpoint with its time.
const REPORT: Norm = Norm::Json(&["checkpoint.created_at"]);
/// An evidence bundle holds the latest checkpoint, time and signature.
const EVIDENCE: Norm = Norm::Json(&["checkpoint.created_us", "checkpoint.signature", "access_log.reads.*.at_us", "access_log.reads.*.read_id"]);

/// A request body: content type, bytes, extra headers.
type Body<'a> = (&'a str, Vec<u8>, &'a [(&'a str, &'a str)]);

struct Record {
    name: String,
    text: String,
}

struct Golden {
    server: Server,
    records: Vec<Record>,
}

impl Golden {
    /// Sends a request, records its normalised answer under `name`, and
    /// returns the raw body (for cursors and the like).
    async fn call(
        &mut self,
        name: &str,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Body<'_>>,
        norm: Norm,
    ) -> String {
        let mut req = self.server.http.request(method.clone(), format!("{}{path}", self.server.base));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some((content_type, bytes, headers)) = body {
            req = req.header("content-type", content_type).body(bytes);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{name}: {method} {path}: {e}"));
        let mut text = format!("{method} {path}\nstatus: {}\n", resp.status().as_u16());
        for h in HEADERS {
            if let Some(v) = resp.headers().get(h) {
                writeln!(text, "{h}: {}", v.to_str().unwrap_or("<not ASCII>")).unwrap();
            }
        }
        let raw = resp.text().await.unwrap_or_else(|e| panic!("{name}: body: {e}"));
        text.push('\n');
        text.push_str(&normalise(name, &raw, norm));
        text.push('\n');
        self.records.push(Record { name: name.to_string(), text });
        raw
    }

    async fn get(&mut self, name: &str, path: &str, norm: Norm) -> String {
        self.call(name, Method::GET, path, Some(ADMIN_KEY), None, norm).await
    }

    async fn post_ndjson(&mut self, name: &str, lines: &[&str], gzipped: bool) -> String {
        let body = lines.join("\n").into_bytes();
        let (bytes, headers): (Vec<u8>, &[(&str, &str)]) =
            if gzipped { (gzip(&body), &[("content-encoding", "gzip")]) } else { (body, &[]) };
        self.call(name, Method::POST, "/v1/steps", Some(ADMIN_KEY), Some(("application/x-ndjson", bytes, headers)), Norm::Raw).await
    }
}

/// Makes a body comparable (see [`Norm`]). Panics when a named volatile
/// path is not found, so the list cannot silently go stale.
fn normalise(name: &str, raw: &str, norm: Norm) -> String {
    match norm {
        Norm::Raw => raw.to_string(),
        Norm::Json(paths) => {
            let value: Value = serde_json::from_str(raw).unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {raw:.300}"));
            let mut found: Vec<(String, &Value)> = Vec::new();
            for path in paths {
                let segments: Vec<&str> = path.split('.').collect();
                collect(&value, &segments, &mut found);
            }
            assert!(!found.is_empty(), "{name}: none of the volatile paths {paths:?} is in the answer: {raw:.300}");
            // Each distinct `"key":value` token once; every occurrence in the
            // text must be one of the values found at the named paths.
            let mut tokens: Vec<(String, usize)> = Vec::new();
            for (key, v) in &found {
                let token = format!("{}:{}", serde_json::to_string(key).unwrap(), serde_json::to_string(v).unwrap());
                match tokens.iter_mut().find(|(t, _)| *t == token) {
                    Some((_, n)) => *n += 1,
                    None => tokens.push((token, 1)),
                }
            }
            let mut out = raw.to_string();
            for (token, expected) in tokens {
                let seen = out.matches(&token).count();
                assert_eq!(seen, expected, "{name}: {token} occurs {seen} times in the text, {expected} times at the volatile paths");
                let key = &token[..token.find("\":").unwrap() + 1];
                out = out.replace(&token, &format!("{key}:\"{VOLATILE}\""));
            }
            out
        }
        Norm::CsvColumn(column) => {
            let mut reader = csv::Reader::from_reader(raw.as_bytes());
            let at = reader.headers().unwrap().iter().position(|h| h == column).unwrap_or_else(|| panic!("{name}: no column {column}"));
            let mut values: Vec<(String, usize)> = Vec::new();
            for record in reader.records() {
                let v = record.unwrap_or_else(|e| panic!("{name}: bad CSV: {e}"))[at].to_string();
                match values.iter_mut().find(|(x, _)| *x == v) {
                    Some((_, n)) => *n += 1,
                    None => values.push((v, 1)),
                }
            }
            assert!(!values.is_empty(), "{name}: no rows");
            let mut out = raw.to_string();
            for (v, expected) in values {
                assert!(!v.is_empty() && !v.contains([',', '"', '\n']), "{name}: unexpected {column} value {v:?}");
                let seen = out.matches(&v).count();
                assert_eq!(seen, expected, "{name}: {v} occurs {seen} times in the text, {expected} times in column {column}");
                out = out.replace(&v, VOLATILE);
            }
            out
        }
        Norm::FieldNames => {
            let value: Value = serde_json::from_str(raw).unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {raw:.300}"));
            let mut names = Vec::new();
            field_names(&value, String::new(), &mut names);
            names.sort();
            names.join("\n")
        }
    }
}

/// The values at a dotted path, with the key each sits under. Nulls are
/// left alone (an absent checkpoint is not volatile).
fn collect<'a>(v: &'a Value, segments: &[&str], out: &mut Vec<(String, &'a Value)>) {
    match segments {
        [] => {}
        [last] => {
            if let Some(x) = v.get(*last).filter(|x| !x.is_null()) {
                out.push((last.to_string(), x));
            }
        }
        ["*", rest @ ..] => match v {
            Value::Array(items) => items.iter().for_each(|x| collect(x, rest, out)),
            Value::Object(members) => members.values().for_each(|x| collect(x, rest, out)),
            _ => {}
        },
        [first, rest @ ..] => {
            if let Some(x) = v.get(*first) {
                collect(x, rest, out);
            }
        }
    }
}

fn field_names(v: &Value, prefix: String, out: &mut Vec<String>) {
    match v {
        Value::Object(members) if !members.is_empty() => {
            for (k, x) in members {
                field_names(x, if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, out);
            }
        }
        _ => out.push(prefix),
    }
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn file_name(index: usize, name: &str) -> String {
    let slug: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    let slug = slug.split('-').filter(|s| !s.is_empty()).collect::<Vec<_>>().join("-");
    format!("{index:03}-{slug}.txt")
}

/// Where two texts first differ, readably: the line, and the bytes around
/// the first difference within it (bodies are long single lines).
fn first_difference(expected: &str, actual: &str) -> String {
    let (e_lines, a_lines): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let line = (0..e_lines.len().max(a_lines.len())).find(|&i| e_lines.get(i) != a_lines.get(i)).unwrap_or(0);
    let (e, a) = (e_lines.get(line).copied().unwrap_or("<no such line>"), a_lines.get(line).copied().unwrap_or("<no such line>"));
    let at = e.bytes().zip(a.bytes()).position(|(x, y)| x != y).unwrap_or(e.len().min(a.len()));
    let window = |s: &str| {
        let mut from = at.saturating_sub(120).min(s.len());
        while !s.is_char_boundary(from) {
            from -= 1;
        }
        let mut to = (at + 120).min(s.len());
        while !s.is_char_boundary(to) {
            to += 1;
        }
        format!("{}{}{}", if from > 0 { "…" } else { "" }, &s[from..to], if to < s.len() { "…" } else { "" })
    };
    format!(
        "  line {} (of {} expected, {} actual), byte {at} of the line ({} expected, {} actual):\n  expected: {}\n  actual:   {}",
        line + 1,
        e_lines.len(),
        a_lines.len(),
        e.len(),
        a.len(),
        window(e),
        window(a)
    )
}

fn demo_steps() -> String {
    let gz = std::fs::read(golden_dir().join("steps.ndjson.gz")).expect("tests/golden/steps.ndjson.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut text).expect("gunzip the demo steps");
    text
}

/// Waits until the session list shows `steps` steps in all.
async fn wait_visible(server: &Server, steps: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = server.get(ADMIN_KEY, &format!("/v1/sessions?{ALL}&limit=1000")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let seen: u64 = body["sessions"].as_array().unwrap().iter().map(|s| s["steps"].as_u64().unwrap()).sum();
        if seen == steps {
            return;
        }
        assert!(Instant::now() < deadline, "only {seen} of {steps} steps visible after 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn api_answers_match_the_golden_files() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("signing.key");
    std::fs::write(&key_file, SIGNING_SEED).unwrap();
    let server = Server::start_in(
        &dir.path().join("data"),
        &[
            ("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY),
            ("FLIGHTLOG_SIGNING_KEY_FILE", key_file.to_str().unwrap()),
            // No periodic checkpoint: only the two this test asks for.
            ("FLIGHTLOG_CHECKPOINT_INTERVAL", "86400"),
            ("FLIGHTLOG_NO_SEARCH", "false"),
            // So that some sessions are flagged over budget.
            ("FLIGHTLOG_SESSION_BUDGET", "0.05"),
        ],
    )
    .await;
    let mut g = Golden { server, records: Vec::new() };
    let data = demo_steps();
    let lines: Vec<&str> = data.lines().collect();
    assert_eq!(lines.len(), DEMO_STEPS);

    // Ingest in two parts with a checkpoint after each, so that there is a
    // consistency proof between two checkpoints.
    g.post_ndjson("ingest first part", &lines[..FIRST_PART], false).await;
    wait_visible(&g.server, FIRST_PART as u64).await;
    g.call("checkpoint after first part", Method::POST, "/v1/integrity/checkpoints", Some(ADMIN_KEY), None, NEW_CHECKPOINT).await;
    g.post_ndjson("ingest second part gzip", &lines[FIRST_PART..], true).await;
    wait_visible(&g.server, DEMO_STEPS as u64).await;
    g.call("checkpoint after second part", Method::POST, "/v1/integrity/checkpoints", Some(ADMIN_KEY), None, NEW_CHECKPOINT).await;
    g.call("checkpoint nothing new", Method::POST, "/v1/integrity/checkpoints", Some(ADMIN_KEY), None, Norm::Raw).await;

    // Re-posts: none of them stores anything new.
    g.post_ndjson("repost first 100 duplicates", &lines[..100], false).await;
    let conflict = lines[1].replacen("\"reasoning\":\"", "\"reasoning\":\"CHANGED ", 1);
    assert_ne!(conflict, lines[1]);
    let invalid = r#"{"session_id":"golden-invalid","step":1,"timestamp":"2026-11-30T10:00:00Z","agent_thoughts":{"confidence":1.5}}"#;
    g.post_ndjson("repost mixed duplicate conflict invalid", &[lines[0], conflict.as_str(), "not json", invalid, lines[2000]], false).await;
    g.post_ndjson("repost only a conflict", &[conflict.as_str()], false).await;
    g.post_ndjson("repost only invalid", &[invalid, "{}"], false).await;
    g.call("ingest wrong content type", Method::POST, "/v1/steps", Some(ADMIN_KEY), Some(("image/png", b"x".to_vec(), &[])), Norm::Raw).await;
    wait_visible(&g.server, DEMO_STEPS as u64).await;
    g.server.wait_indexed(DEMO_STEPS as u64, Duration::from_secs(300)).await;
    // Incidents found behind ingestion (priced runaways, near-duplicates,
    // goal drift) are in the sessions' anomalies below.
    g.server.wait_detectors_behind(Duration::from_secs(300)).await;
    // Those found on the requests' path are written just after them.
    g.server.wait_incidents_durable(Duration::from_secs(60)).await;

    g.get("healthz field names", "/healthz", Norm::FieldNames).await;

    // Sessions: filters, sorts, limits, and a followed cursor.
    g.get("sessions all", &format!("/v1/sessions?{ALL}"), Norm::Raw).await;
    g.get("sessions no window", "/v1/sessions", Norm::Raw).await;
    let page1 = g.get("sessions page 1", &format!("/v1/sessions?{ALL}&limit=4"), Norm::Raw).await;
    let cursor = serde_json::from_str::<Value>(&page1).unwrap()["next_cursor"].as_str().expect("a cursor after page 1").to_string();
    let page2 = g.get("sessions page 2", &format!("/v1/sessions?{ALL}&limit=4&cursor={cursor}"), Norm::Raw).await;
    let cursor = serde_json::from_str::<Value>(&page2).unwrap()["next_cursor"].as_str().expect("a cursor after page 2").to_string();
    g.get("sessions page 3", &format!("/v1/sessions?{ALL}&limit=4&cursor={cursor}"), Norm::Raw).await;
    let page1 = g.get("sessions by cost page 1", &format!("/v1/sessions?{ALL}&sort=cost&order=desc&limit=5"), Norm::Raw).await;
    let cursor = serde_json::from_str::<Value>(&page1).unwrap()["next_cursor"].as_str().expect("a cursor").to_string();
    g.get("sessions by cost page 2", &format!("/v1/sessions?{ALL}&sort=cost&order=desc&limit=5&cursor={cursor}"), Norm::Raw).await;
    g.get("sessions by steps asc", &format!("/v1/sessions?{ALL}&sort=steps&order=asc"), Norm::Raw).await;
    g.get("sessions by time asc window", "/v1/sessions?from=2026-11-28T00:00:00Z&to=2026-12-01T00:00:00Z&sort=time&order=asc", Norm::Raw).await;
    g.get("sessions failed", &format!("/v1/sessions?{ALL}&status=failed"), Norm::Raw).await;
    g.get("sessions ok support-bot", &format!("/v1/sessions?{ALL}&status=ok&agent=support-bot"), Norm::Raw).await;
    g.get("sessions model and user", &format!("/v1/sessions?{ALL}&model=gpt-4o&user=customer-13"), Norm::Raw).await;
    g.get("sessions min cost and steps", &format!("/v1/sessions?{ALL}&min_cost=0.04&min_steps=5"), Norm::Raw).await;
    g.get("sessions flagged", &format!("/v1/sessions?{ALL}&flagged=true"), Norm::Raw).await;
    g.get("sessions empty window", "/v1/sessions?from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z", Norm::Raw).await;

    for id in ["loan-0000", "pipeline-long", "support-dup-email", "research-loop"] {
        g.get(&format!("session {id}"), &format!("/v1/sessions/{id}"), Norm::Raw).await;
    }

    // Timelines, keyset-paged.
    g.get("steps loan-0000", "/v1/sessions/loan-0000/steps", STEPS_PAGE).await;
    let page = g.get("steps pipeline-long page 1", "/v1/sessions/pipeline-long/steps?limit=3", STEPS_PAGE).await;
    let after = serde_json::from_str::<Value>(&page).unwrap()["next_after"].as_u64().expect("next_after");
    g.get("steps pipeline-long page 2", &format!("/v1/sessions/pipeline-long/steps?limit=3&after={after}"), STEPS_PAGE).await;
    g.get("steps pipeline-long last page", "/v1/sessions/pipeline-long/steps?limit=10&after=1995", STEPS_PAGE).await;
    g.get("steps pipeline-long after the end", "/v1/sessions/pipeline-long/steps?after=5000", Norm::Raw).await;
    g.get("steps research-loop", "/v1/sessions/research-loop/steps?limit=5", STEPS_PAGE).await;

    // Costs: explicit windows only.
    for (name, query) in [
        ("costs totals", ALL.to_string()),
        ("costs by model", format!("{ALL}&group_by=model")),
        ("costs by provider", format!("{ALL}&group_by=provider")),
        ("costs by agent and model", format!("{ALL}&group_by=agent,model")),
        ("costs by day", format!("{ALL}&group_by=day")),
        ("costs by week and provider", format!("{ALL}&group_by=week,provider")),
        ("costs by month", format!("{ALL}&group_by=month")),
        ("costs by tool top 5", format!("{ALL}&group_by=tool&limit=5")),
        ("costs by session of loan-assistant", format!("{ALL}&group_by=session&agent=loan-assistant")),
        ("costs by user tag prod", format!("{ALL}&group_by=user&tags=prod")),
        ("costs by day of gpt-4o", format!("{ALL}&group_by=day&model=gpt-4o")),
        ("costs by session narrow window", "from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z&group_by=session".to_string()),
        ("costs by user of customer-13", format!("{ALL}&group_by=session,user&user=customer-13")),
    ] {
        g.get(name, &format!("/v1/costs?{query}"), Norm::Raw).await;
    }
    g.get("costs by agent csv", &format!("/v1/costs?{ALL}&group_by=agent&format=csv"), Norm::Raw).await;
    g.get("prices", "/v1/prices", Norm::Raw).await;
    g.get(
        "export steps csv",
        "/v1/export/steps?from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z&format=csv",
        Norm::CsvColumn("received_at"),
    )
    .await;

    // Integrity.
    for id in ["loan-0000", "pipeline-long"] {
        g.get(&format!("verify {id}"), &format!("/v1/sessions/{id}/verify"), REPORT).await;
    }
    for id in ["loan-0000", "support-dup-email"] {
        g.get(&format!("evidence {id}"), &format!("/v1/sessions/{id}/evidence"), EVIDENCE).await;
    }
    for id in ["loan-0000", "research-loop"] {
        g.get(&format!("reproduction {id}"), &format!("/v1/sessions/{id}/reproduction"), Norm::Raw).await;
    }
    g.call("public key", Method::GET, "/v1/integrity/public-key", None, None, Norm::Raw).await;
    g.get("checkpoints", "/v1/integrity/checkpoints", CHECKPOINT_LIST).await;
    g.get("verify everything", "/v1/integrity/verify", REPORT).await;
    g.get("consistency", &format!("/v1/integrity/consistency?from={FIRST_PART}&to={DEMO_STEPS}"), Norm::Raw).await;
    g.get("consistency same size", &format!("/v1/integrity/consistency?from={DEMO_STEPS}&to={DEMO_STEPS}"), Norm::Raw).await;

    // Similar-failure search. Only queries whose results have no equal
    // scores: the order among equal scores is the index's, not the API's.
    for (name, query) in [
        ("similar to an approval", "session_id=loan-0000&step=4&limit=8"),
        ("similar to a failed step", "session_id=loan-0001&step=2&limit=6"),
        ("similar to a loop step elsewhere", "session_id=research-loop&step=3&exclude_session=true&limit=6"),
        ("similar text", "q=credit%20bureau%20timeout&limit=6"),
        ("similar text failures", "q=deploy%20to%20production&failures=true&limit=6"),
        ("similar text of an agent", "q=search%20the%20web%20for%20sources&agent=research-agent&limit=1"),
    ] {
        let body = g.get(name, &format!("/v1/search/similar?{query}"), Norm::Raw).await;
        let scores: Vec<f64> = serde_json::from_str::<Value>(&body).unwrap()["results"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no results: {body}"))
            .iter()
            .map(|r| r["score"].as_f64().unwrap())
            .collect();
        assert!(scores.windows(2).all(|w| w[0] != w[1]), "{name}: equal scores, whose order is not the API's: {scores:?}");
    }

    // Errors.
    g.get("error sessions bad status", "/v1/sessions?status=maybe", Norm::Raw).await;
    g.get("error sessions limit 0", "/v1/sessions?limit=0", Norm::Raw).await;
    g.get("error sessions bad from", "/v1/sessions?from=yesterday", Norm::Raw).await;
    g.get("error sessions bad sort", "/v1/sessions?sort=name", Norm::Raw).await;
    g.get("error sessions bad min_cost", "/v1/sessions?min_cost=-1", Norm::Raw).await;
    g.get("error steps bad after", "/v1/sessions/loan-0000/steps?after=-1", Norm::Raw).await;
    g.get("error costs unknown dimension", &format!("/v1/costs?{ALL}&group_by=planet"), Norm::Raw).await;
    g.get("error costs three dimensions", &format!("/v1/costs?{ALL}&group_by=model,agent,user"), Norm::Raw).await;
    g.get("error costs bad limit", &format!("/v1/costs?{ALL}&limit=0"), Norm::Raw).await;
    g.get("error consistency unknown size", &format!("/v1/integrity/consistency?from=1&to={DEMO_STEPS}"), Norm::Raw).await;
    g.get("error consistency missing to", "/v1/integrity/consistency?from=1000", Norm::Raw).await;
    g.get("error consistency backwards", &format!("/v1/integrity/consistency?from={DEMO_STEPS}&to={FIRST_PART}"), Norm::Raw).await;
    g.get("error similar no query", "/v1/search/similar", Norm::Raw).await;
    g.get("error similar text and exclude", "/v1/search/similar?q=x&exclude_session=true", Norm::Raw).await;
    g.get("error similar unknown step", "/v1/search/similar?session_id=nope&step=1", Norm::Raw).await;
    for route in ["", "/steps", "/verify", "/evidence", "/reproduction"] {
        g.get(&format!("error unknown session{route}"), &format!("/v1/sessions/no-such-session{route}"), Norm::Raw).await;
    }
    g.get("error unknown route", "/v1/nothing-here", Norm::Raw).await;
    g.call("error no key", Method::GET, "/v1/sessions", None, None, Norm::Raw).await;
    g.call("error wrong key", Method::GET, "/v1/sessions", Some("fl_wrong_key"), None, Norm::Raw).await;
    let reader = g.server.create_key("default", &["read"]).await;
    g.call("error read key on admin route", Method::GET, "/v1/integrity/verify", Some(&reader), None, Norm::Raw).await;
    g.call("error read key checkpoint", Method::POST, "/v1/integrity/checkpoints", Some(&reader), None, Norm::Raw).await;
    g.call("error 405 delete sessions", Method::DELETE, "/v1/sessions", Some(ADMIN_KEY), None, Norm::Raw).await;
    g.call("error 405 get steps", Method::GET, "/v1/steps", Some(ADMIN_KEY), None, Norm::Raw).await;

    let server_time = started.elapsed();
    compare_or_write(&g.records);
    eprintln!("{} requests checked in {server_time:?}", g.records.len());
}

fn compare_or_write(records: &[Record]) {
    let dir = golden_dir().join("responses");
    let names: Vec<String> = records.iter().enumerate().map(|(i, r)| file_name(i, &r.name)).collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "two requests have the same name");

    if std::env::var("FLIGHTLOG_GOLDEN_WRITE").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "txt") {
                std::fs::remove_file(path).unwrap();
            }
        }
        for (name, r) in names.iter().zip(records) {
            std::fs::write(dir.join(name), &r.text).unwrap();
        }
        eprintln!("wrote {} golden files to {}", records.len(), dir.display());
        return;
    }

    let mut failures = Vec::new();
    for (name, r) in names.iter().zip(records) {
        match std::fs::read_to_string(dir.join(name)) {
            Err(e) => failures.push(format!("{name} ({}): no golden file: {e}", r.name)),
            Ok(expected) if expected != r.text => {
                let request = r.text.lines().next().unwrap_or_default();
                failures.push(format!("{name} ({}): {request}\n{}", r.name, first_difference(&expected, &r.text)));
            }
            Ok(_) => {}
        }
    }
    let stale: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n.ends_with(".txt") && !names.contains(n)).collect())
        .unwrap_or_default();
    for n in stale {
        failures.push(format!("{n}: a golden file no request produced (the request list changed? rewrite with FLIGHTLOG_GOLDEN_WRITE=1)"));
    }
    assert!(
        failures.is_empty(),
        "{} of {} answers differ from tests/golden/responses (if the change is meant, rewrite with FLIGHTLOG_GOLDEN_WRITE=1 and review the diff):\n\n{}",
        failures.len(),
        records.len(),
        failures.join("\n\n")
    );
}
