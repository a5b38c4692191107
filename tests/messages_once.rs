//! Content stored once (issue 15): an agent sends the whole conversation
//! so far with every step, and a step's long messages are stored once per
//! session, by reference (`flightlog_model::by_reference`). Clients never
//! see it: every read returns each step exactly as sent. Erasure drops a
//! message only where no unerased step still needs it, and a message
//! changed or removed behind Flightlog's back is caught by verification.

use flightlog_tests::*;
use reqwest::Method;
use std::path::Path;
use std::process::Command;

const ENV: [(&str, &str); 1] = [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)];

/// A message of about 300 bytes, named by `tag` (unique words to look for).
fn message(role: &str, tag: &str) -> Value {
    json!({"role": role, "content": format!("{tag}: {}", "the order shipped late and the customer asked again ".repeat(5))})
}

/// Step `n` of a conversation: every message so far (`messages[..=n]`).
fn turn(session: &str, user: &str, n: usize, messages: &[Value]) -> Value {
    json!({"session_id": session, "step": n, "timestamp": format!("2026-01-15T10:{:02}:{:02}Z", n / 60, n % 60), "user_id": user,
           "agent_thoughts": {"reasoning": format!("answering turn {n}")},
           "model": {"name": "gpt-4o", "temperature": 0.2},
           "prompt": {"system": "be helpful", "messages": messages[..=n].to_vec(), "completion": format!("reply {n}")}})
}

fn conversation(session: &str, user: &str, tag: &str, turns: usize) -> Vec<Value> {
    let messages: Vec<Value> = (0..turns).map(|i| message(if i % 2 == 0 { "user" } else { "assistant" }, &format!("{tag}-{i}"))).collect();
    (0..turns).map(|n| turn(session, user, n, &messages)).collect()
}

/// Rows of a query run on the stopped server's store, as TSV fields.
fn query(dir: &Path, statement: &str) -> Vec<Vec<String>> {
    let out = flightlog_sql(dir, &format!("{statement} FORMAT TSV"));
    assert!(out.status.success(), "{statement}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('\t').map(str::to_string).collect()).collect()
}

fn sql(dir: &Path, statement: &str) {
    let out = flightlog_sql(dir, statement);
    assert!(out.status.success(), "{statement}: {}", String::from_utf8_lossy(&out.stderr));
}

async fn seal(s: &Server) {
    assert_eq!(s.send_json(Method::POST, ADMIN_KEY, "/v1/integrity/checkpoints", json!(null)).await.0, StatusCode::CREATED);
}

async fn verify(s: &Server, session: &str) -> Value {
    let (status, report) = s.get(ADMIN_KEY, &format!("/v1/sessions/{session}/verify")).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    report
}

/// Each stored step's content is exactly the step sent.
async fn assert_read_as_sent(s: &Server, session: &str, sent: &[Value]) {
    let stored = s.all_steps(ADMIN_KEY, session, 5).await;
    assert_eq!(stored.len(), sent.len(), "{session}");
    for (got, want) in stored.iter().zip(sent) {
        assert_eq!(&got["data"], want, "{session} step {}", want["step"]);
    }
}

/// The offline check of a session's evidence bundle passes.
async fn assert_bundle_verifies(s: &Server, dir: &Path, session: &str) {
    let resp = s.http.get(format!("{}/v1/sessions/{session}/evidence", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let path = dir.join(format!("{session}-bundle.json"));
    std::fs::write(&path, resp.bytes().await.unwrap()).unwrap();
    let out = Command::new(binary()).arg("verify-bundle").arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[tokio::test]
async fn long_messages_are_stored_once_per_session_and_read_back_as_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &ENV).await;
    let talk = conversation("talk", "ann", "talk", 12);
    let echo = conversation("echo", "ann", "talk", 12); // the same words, another session
    let mut batch = talk.clone();
    batch.extend(echo.iter().cloned());
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&batch), &[]).await.1["accepted"], 24);
    // A client that retries stores nothing twice.
    let (status, again) = s.post_steps(ADMIN_KEY, ndjson(&talk), &[]).await;
    assert_eq!((status, again["duplicates"].as_u64()), (StatusCode::OK, Some(12)), "{again}");
    seal(&s).await;

    assert_read_as_sent(&s, "talk", &talk).await;
    assert_read_as_sent(&s, "echo", &echo).await;
    let (_, step) = s.get(ADMIN_KEY, "/v1/sessions/talk/steps?limit=1&after=10").await;
    assert_eq!(step["steps"][0]["data"], talk[11]);
    // So does the web's copy of a step, and the goal the decision page
    // shows is read from a first step stored by reference.
    let (_, page) = s.page(ADMIN_KEY, "/sessions/talk/steps/11/json").await;
    assert_eq!(serde_json::from_str::<Value>(&page).unwrap()["data"], talk[11], "{page}");
    let mut long_first = conversation("long-first", "ann", "goal", 8);
    long_first.drain(..6);
    long_first.iter_mut().enumerate().for_each(|(i, t)| t["step"] = json!(i));
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&long_first), &[]).await.1["accepted"], 2);
    seal(&s).await;
    let (_, page) = s.page(ADMIN_KEY, "/sessions/long-first/steps/1").await;
    assert!(page.contains("goal-0: the order shipped late"), "{page}");
    assert_eq!(verify(&s, "talk").await["status"], "verified");
    let (_, all) = s.get(ADMIN_KEY, "/v1/integrity/verify").await;
    assert_eq!(all["status"], "verified", "{all:#}");
    assert_bundle_verifies(&s, dir.path(), "talk").await;

    // An export carries the messages as sent, column by column.
    let resp = s.http.get(format!("{}/v1/export/steps?format=csv", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let csv_text = resp.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let [session_at, step_at, messages_at] = ["session_id", "step", "prompt_messages"].map(|c| header.iter().position(|h| h == c).unwrap());
    let mut exported = 0;
    for record in reader.records() {
        let record = record.unwrap();
        let (session, n) = (&record[session_at], record[step_at].parse::<usize>().unwrap());
        let sent = match session {
            "talk" => &talk[n],
            "echo" => &echo[n],
            _ => &long_first[n],
        };
        let got: Value = serde_json::from_str(&record[messages_at]).unwrap();
        assert_eq!(got, sent["prompt"]["messages"], "{session} step {n}");
        exported += 1;
    }
    assert_eq!(exported, 26);
    assert!(s.terminate().0.success());

    // Stored: each session holds each of its 12 messages once, and the
    // steps whose messages are long refer to them instead of holding them.
    let held = query(dir.path(), "SELECT session_id, count(), uniqExact(hash), sum(length(body)) FROM step_contents \
                                  WHERE session_id != 'long-first' GROUP BY session_id ORDER BY session_id");
    let message_bytes: usize = (0..12).map(|i| serde_json::to_string(&message(if i % 2 == 0 { "user" } else { "assistant" }, &format!("talk-{i}"))).unwrap().len()).sum();
    for (row, session) in held.iter().zip(["echo", "talk"]) {
        assert_eq!(row, &[session.to_string(), "12".into(), "12".into(), message_bytes.to_string()], "{held:?}");
    }
    assert_eq!(held.len(), 2);
    let steps = query(dir.path(), "SELECT step, length(message_refs), prompt_messages = '' FROM steps WHERE session_id = 'talk' ORDER BY step");
    let by_reference: Vec<&Vec<String>> = steps.iter().filter(|r| r[1] != "0").collect();
    assert!(by_reference.len() >= 8, "the longer steps are stored by reference: {steps:?}");
    for row in &steps {
        let n: usize = row[0].parse().unwrap();
        match row[1].as_str() {
            "0" => assert_eq!(row[2], "0", "a short list stays in its row: {row:?}"),
            refs => assert_eq!((refs, row[2].as_str()), ((n + 1).to_string().as_str(), "1"), "{row:?}"),
        }
    }
}

#[tokio::test]
async fn erasure_drops_a_message_only_where_no_unerased_step_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &ENV).await;
    // One session, two users: bob's conversation opens with the same first
    // message as ann's; the rest of each is their own.
    let ann = conversation("shared", "ann", "ann", 6);
    let mut bob_messages: Vec<Value> = vec![message("user", "ann-0")];
    bob_messages.extend((1..6).map(|i| message(if i % 2 == 0 { "user" } else { "assistant" }, &format!("bob-{i}"))));
    let bob: Vec<Value> = (0..6)
        .map(|n| {
            let mut t = turn("shared", "bob", n, &bob_messages);
            t["step"] = json!(n + 6);
            t
        })
        .collect();
    let mut batch = ann.clone();
    batch.extend(bob.iter().cloned());
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&batch), &[]).await.1["accepted"], 12);
    seal(&s).await;

    let (status, done) = s.send_json(Method::POST, ADMIN_KEY, "/v1/erasures", json!({"session_id": "shared", "user_id": "ann"})).await;
    assert_eq!((status, done["steps_erased"].as_u64()), (StatusCode::OK, Some(6)), "{done}");
    let stored = s.all_steps(ADMIN_KEY, "shared", 100).await;
    for step in &stored[..6] {
        assert_eq!(step["data"]["prompt"]["messages"], Value::Null, "{step}");
        assert_eq!(step["data"]["agent_thoughts"]["reasoning"], format!("answering turn {}", step["step"]));
    }
    for (got, want) in stored[6..].iter().zip(&bob) {
        assert_eq!(&got["data"], want, "bob's steps are untouched");
    }
    let report = verify(&s, "shared").await;
    assert_eq!(report["status"], "verified", "{report:#}");
    assert_bundle_verifies(&s, dir.path(), "shared").await;
    // The agent retrying ann's steps is told they are stored, and her
    // messages are not stored again.
    let (status, retried) = s.post_steps(ADMIN_KEY, ndjson(&ann), &[]).await;
    assert_eq!((status, retried["duplicates"].as_u64()), (StatusCode::OK, Some(6)), "{retried}");
    // Erasing again finds nothing new, and changes nothing.
    let (status, again) = s.send_json(Method::POST, ADMIN_KEY, "/v1/erasures", json!({"session_id": "shared", "user_id": "ann"})).await;
    assert_eq!((status, again["steps_erased"].as_u64()), (StatusCode::OK, Some(0)), "{again}");
    assert!(s.terminate().0.success());

    // The message bob's steps still need is kept; ann's own are gone, from
    // the messages and from the erased steps' references.
    let held = query(dir.path(), "SELECT countIf(position(body, 'ann-0:') > 0), countIf(position(body, 'ann-') > 0), countIf(position(body, 'bob-') > 0) FROM step_contents");
    assert_eq!(held, [["1", "1", "5"]], "{held:?}");
    let refs = query(dir.path(), "SELECT user_id, sum(length(message_refs)) FROM steps WHERE session_id = 'shared' GROUP BY user_id ORDER BY user_id");
    assert_eq!(refs[0][..], ["ann".to_string(), "0".into()], "{refs:?}");
}

#[tokio::test]
async fn a_stored_message_changed_or_removed_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &ENV).await;
    let mut batch = conversation("victim", "ann", "victim", 10);
    batch.extend(conversation("bystander", "ann", "bystander", 10));
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&batch), &[]).await.1["accepted"], 20);
    seal(&s).await;
    assert!(s.terminate().0.success());

    // Message 7 is in steps 7, 8 and 9, all stored by reference.
    sql(dir.path(), "ALTER TABLE step_contents UPDATE body = replaceOne(body, 'shipped late', 'shipped early') \
                     WHERE session_id = 'victim' AND position(body, 'victim-7:') > 0 SETTINGS mutations_sync = 2");
    let s = Server::start_in(dir.path(), &ENV).await;
    let report = verify(&s, "victim").await;
    assert_eq!(report["status"], "failed", "{report:#}");
    let modified: Vec<u64> = report["problems"].as_array().unwrap().iter().filter(|p| p["kind"] == "modified").filter_map(|p| p["step"].as_u64()).collect();
    assert_eq!(modified, [7, 8, 9], "{report:#}");
    assert_eq!(verify(&s, "bystander").await["status"], "verified");
    let (_, all) = s.get(ADMIN_KEY, "/v1/integrity/verify").await;
    assert_eq!(all["status"], "failed");
    let mut s = s;
    assert!(s.terminate().0.success());

    // A copy of the original message inserted beside the changed one does
    // not hide the change; a message removed fails the steps that need it.
    sql(dir.path(), "INSERT INTO step_contents SELECT project, session_id, hash, replaceOne(body, 'shipped early', 'shipped late') \
                     FROM step_contents WHERE session_id = 'victim' AND position(body, 'victim-7:') > 0");
    sql(dir.path(), "ALTER TABLE step_contents DELETE WHERE session_id = 'bystander' AND position(body, 'bystander-8:') > 0 \
                     SETTINGS mutations_sync = 2");
    assert_eq!(query(dir.path(), "SELECT count() FROM step_contents WHERE position(body, 'victim-7:') > 0"), [["2"]]);
    let s = Server::start_in(dir.path(), &ENV).await;
    let report = verify(&s, "victim").await;
    let modified: Vec<u64> = report["problems"].as_array().unwrap().iter().filter(|p| p["kind"] == "modified").filter_map(|p| p["step"].as_u64()).collect();
    assert_eq!(modified, [7, 8, 9], "{report:#}");
    let report = verify(&s, "bystander").await;
    assert_eq!(report["status"], "failed", "{report:#}");
    let failed: Vec<u64> = report["problems"].as_array().unwrap().iter().filter_map(|p| p["step"].as_u64()).collect();
    assert_eq!(failed, [8, 9], "{report:#}");
    let mut s = s;
    assert!(s.terminate().0.success());

    // A message whose bytes are no longer UTF-8 still reads, with a
    // replacement character, and its steps verify as changed.
    sql(dir.path(), "ALTER TABLE step_contents UPDATE body = replaceOne(body, 'shipped late', concat('shipped ', unhex('FF'), 'late')) \
                     WHERE session_id = 'bystander' AND position(body, 'bystander-5:') > 0 SETTINGS mutations_sync = 2");
    let s = Server::start_in(dir.path(), &ENV).await;
    let (status, page) = s.get(ADMIN_KEY, "/v1/sessions/bystander/steps?limit=7").await;
    assert_eq!(status, StatusCode::OK, "{page:#}");
    assert!(page["steps"][5]["data"]["prompt"]["messages"][5]["content"].as_str().unwrap().contains("shipped \u{FFFD}late"), "{page:#}");
    let report = verify(&s, "bystander").await;
    let failed: Vec<u64> = report["problems"].as_array().unwrap().iter().filter_map(|p| p["step"].as_u64()).collect();
    assert_eq!(failed, [5, 6, 7, 8, 9], "{report:#}");
}

/// A system prompt of about 1.6 KB, named by `tag`.
fn system_prompt(tag: &str) -> String {
    format!("{tag}: you are the support agent of a parcel service. {}", "Answer politely, check the tracking number first. ".repeat(30))
}

/// A long system prompt, which every step of a session repeats, is stored
/// once per session too (`by_reference::Place::Column`): reads, exports,
/// verification and the bundle see it as sent; a copy changed behind
/// Flightlog's back is caught; an erasure drops it where no unerased step
/// needs it.
#[tokio::test]
async fn a_long_system_prompt_is_stored_once_per_session_and_read_back_as_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &ENV).await;
    let with_system = |mut steps: Vec<Value>, system: &dyn Fn(usize) -> String| {
        steps.iter_mut().enumerate().for_each(|(n, t)| t["prompt"]["system"] = json!(system(n)));
        steps
    };
    // sys-a changes its prompt at step 4; sys-b keeps one; sys-short's is short.
    let a = with_system(conversation("sys-a", "ann", "sa", 6), &|n| system_prompt(if n < 4 { "first" } else { "second" }));
    let mut b = with_system(conversation("sys-b", "bob", "sb", 6), &|_| system_prompt("first"));
    b[3..].iter_mut().for_each(|t| t["user_id"] = json!("dan"));
    let short = conversation("sys-short", "cy", "ss", 3);
    let batch: Vec<Value> = a.iter().chain(&b).chain(&short).cloned().collect();
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&batch), &[]).await.1["accepted"], 15);
    let (status, again) = s.post_steps(ADMIN_KEY, ndjson(&a), &[]).await;
    assert_eq!((status, again["duplicates"].as_u64()), (StatusCode::OK, Some(6)), "{again}");
    seal(&s).await;
    for (session, sent) in [("sys-a", &a), ("sys-b", &b), ("sys-short", &short)] {
        assert_read_as_sent(&s, session, sent).await;
    }
    let (_, page) = s.page(ADMIN_KEY, "/sessions/sys-a/steps/5/json").await;
    assert_eq!(serde_json::from_str::<Value>(&page).unwrap()["data"], a[5], "{page}");
    let (_, all) = s.get(ADMIN_KEY, "/v1/integrity/verify").await;
    assert_eq!(all["status"], "verified", "{all:#}");
    assert_bundle_verifies(&s, dir.path(), "sys-a").await;
    // An export carries the prompt as sent.
    let resp = s.http.get(format!("{}/v1/export/steps?format=csv", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    let csv_text = resp.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let [session_at, step_at, system_at] = ["session_id", "step", "prompt_system"].map(|c| header.iter().position(|h| h == c).unwrap());
    let mut exported = 0;
    for record in reader.records().map(Result::unwrap) {
        let sent = match &record[session_at] {
            "sys-a" => &a,
            "sys-b" => &b,
            _ => &short,
        };
        assert_eq!(record[system_at], sent[record[step_at].parse::<usize>().unwrap()]["prompt"]["system"], "{record:?}");
        exported += 1;
    }
    assert_eq!(exported, 15);
    assert!(s.terminate().0.success());

    // Stored: each session holds each of its prompts once, and its steps
    // refer to it with an empty column; the short prompt stays in its row.
    let held = query(dir.path(), "SELECT session_id, countIf(position(body, 'first: you are') = 1), countIf(position(body, 'second: you are') = 1) \
                                  FROM step_contents WHERE session_id LIKE 'sys-%' GROUP BY session_id ORDER BY session_id");
    assert_eq!(held, [["sys-a", "1", "1"], ["sys-b", "1", "0"]], "{held:?}");
    let refs = query(dir.path(), "SELECT session_id, countIf(prompt_system = '' AND length(text_refs['column:prompt_system']) = 32), count() \
                                  FROM steps WHERE session_id LIKE 'sys-%' GROUP BY session_id ORDER BY session_id");
    assert_eq!(refs, [["sys-a", "6", "6"], ["sys-b", "6", "6"], ["sys-short", "0", "3"]], "{refs:?}");

    // sys-a's second prompt changed behind Flightlog's back changes the
    // steps that refer to it (4 and 5), and is what they show.
    sql(dir.path(), "ALTER TABLE step_contents UPDATE body = replaceOne(body, 'Answer politely', 'Answer rudely') \
                     WHERE session_id = 'sys-a' AND position(body, 'second: you are') = 1 SETTINGS mutations_sync = 2");
    let mut s = Server::start_in(dir.path(), &ENV).await;
    let report = verify(&s, "sys-a").await;
    let modified: Vec<u64> = report["problems"].as_array().unwrap().iter().filter(|p| p["kind"] == "modified").filter_map(|p| p["step"].as_u64()).collect();
    assert_eq!(modified, [4, 5], "{report:#}");
    let shown = s.all_steps(ADMIN_KEY, "sys-a", 10).await;
    assert!(shown[5]["data"]["prompt"]["system"].as_str().unwrap().contains("Answer rudely"));

    // Erasing bob's steps of sys-b takes their prompt but keeps its stored
    // copy, which dan's steps still need; erasing dan's drops it. sys-a's
    // copy of the same words is another session's, and stays.
    let (status, done) = s.send_json(Method::POST, ADMIN_KEY, "/v1/erasures", json!({"user_id": "bob"})).await;
    assert_eq!((status, done["steps_erased"].as_u64()), (StatusCode::OK, Some(3)), "{done}");
    let stored = s.all_steps(ADMIN_KEY, "sys-b", 10).await;
    assert!(stored[..3].iter().all(|st| st["data"]["prompt"]["system"].is_null()));
    for (got, want) in stored[3..].iter().zip(&b[3..]) {
        assert_eq!(&got["data"], want, "dan's steps are untouched");
    }
    assert_eq!(verify(&s, "sys-b").await["status"], "verified");
    let (status, done) = s.send_json(Method::POST, ADMIN_KEY, "/v1/erasures", json!({"user_id": "dan"})).await;
    assert_eq!((status, done["steps_erased"].as_u64()), (StatusCode::OK, Some(3)), "{done}");
    let report = verify(&s, "sys-b").await;
    assert_eq!(report["status"], "verified", "{report:#}");
    assert!(s.terminate().0.success());
    let left = query(dir.path(), "SELECT session_id, count() FROM step_contents WHERE position(body, 'first: you are') = 1 GROUP BY session_id");
    assert_eq!(left, [["sys-a", "1"]], "{left:?}");
    let refs = query(dir.path(), "SELECT sum(length(text_refs)) FROM steps WHERE session_id = 'sys-b'");
    assert_eq!(refs, [["0"]]);
}

/// An OpenInference LLM span (OTLP/HTTP JSON) of `session` carrying its
/// first `n` messages, one attribute per message as OpenInference writes
/// them (`llm.input_messages.N.message.content`).
fn openinference_span(session: &str, n: usize, texts: &[String]) -> Value {
    let attr = |k: String, v: &str| json!({"key": k, "value": {"stringValue": v}});
    let mut attributes = vec![
        attr("openinference.span.kind".into(), "LLM"),
        attr("session.id".into(), session),
        attr("llm.model_name".into(), "gpt-4o"),
    ];
    for (i, text) in texts[..n].iter().enumerate() {
        attributes.push(attr(format!("llm.input_messages.{i}.message.role"), if i % 2 == 0 { "user" } else { "assistant" }));
        attributes.push(attr(format!("llm.input_messages.{i}.message.content"), text));
    }
    json!({"traceId": "6b8efff798038103d269b633813fc60c", "spanId": format!("aee19b7ec3c1b17{n}"), "name": "ChatCompletion",
           "startTimeUnixNano": format!("17672256{n:02}000000000"), "endTimeUnixNano": format!("17672256{n:02}500000000"), "kind": 1,
           "attributes": attributes})
}

/// OpenInference spans carry each message as an attribute of its own, a
/// plain text: span k+1 repeats span k's. Each long one is stored once per
/// session whole (`by_reference::Place::Attribute`), and the span reads
/// back exactly.
#[tokio::test]
async fn an_openinference_spans_messages_are_stored_once_and_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &ENV).await;
    let texts: Vec<String> = (0..4).map(|i| format!("oi-{i}: {}", "my parcel never arrived, what now? ".repeat(40))).collect();
    let spans: Vec<Value> = (1..=4).map(|n| openinference_span("oi-talk", n, &texts)).collect();
    let export = json!({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}]}]});
    let post = || s.http.post(format!("{}/v1/traces", s.base)).bearer_auth(ADMIN_KEY).json(&export).send();
    let resp = post().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{}", resp.text().await.unwrap());
    assert_eq!(post().await.unwrap().status(), StatusCode::OK, "a retried export stores nothing twice");
    let stored = s.all_steps(ADMIN_KEY, "oi-talk", 10).await;
    assert_eq!(stored.len(), 4);
    for (k, step) in stored.iter().enumerate() {
        let attributes = &step["data"]["otel"]["attributes"];
        for (i, text) in texts.iter().enumerate() {
            assert_eq!(attributes[format!("llm.input_messages.{i}.message.content")].as_str(), (i <= k).then_some(text.as_str()), "step {k}");
        }
    }
    seal(&s).await;
    assert_eq!(verify(&s, "oi-talk").await["status"], "verified");
    assert_bundle_verifies(&s, dir.path(), "oi-talk").await;
    assert!(s.terminate().0.success());
    // Four texts stored once each (and the four messages the span's step
    // maps them to, also once); each step refers to its own, and `raw`
    // holds none of them.
    let held = query(dir.path(), "SELECT countIf(startsWith(body, 'oi-')), countIf(position(body, 'oi-0:') = 1), countIf(startsWith(body, '{')) \
                                  FROM step_contents WHERE session_id = 'oi-talk'");
    assert_eq!(held, [["4", "1", "4"]], "{held:?}");
    let refs = query(dir.path(), "SELECT groupArray(length(text_refs)), groupArray(position(raw, 'my parcel') > 0) \
                                  FROM (SELECT * FROM steps WHERE session_id = 'oi-talk' ORDER BY step)");
    assert_eq!(refs, [["[1,2,3,4]", "[0,0,0,0]"]], "{refs:?}");
}

/// Chat span `n` of `session` (OTLP/HTTP JSON) in trace `trace` (32 hex
/// digits), its span id `span` (15 hex digits) and `n`, carrying the
/// conversation so far as the text of `gen_ai.input.messages`.
fn chat_span(trace: &str, span: &str, n: usize, session: &str, conversation: &str) -> Value {
    let attr = |k: &str, v: &str| json!({"key": k, "value": {"stringValue": v}});
    json!({"traceId": trace, "spanId": format!("{span}{n}"), "name": "chat",
           "startTimeUnixNano": format!("17672256{n:02}000000000"), "endTimeUnixNano": format!("17672256{n:02}500000000"), "kind": 3,
           "attributes": [attr("gen_ai.operation.name", "chat"), attr("gen_ai.conversation.id", session),
                          attr("gen_ai.request.model", "gpt-4o"), attr("gen_ai.input.messages", conversation)]})
}

/// OpenTelemetry's chat spans carry the conversation in
/// `gen_ai.input.messages`: the same store takes it.
#[tokio::test]
async fn an_otlp_conversation_is_stored_once_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &ENV).await;
    // Written as canonical JSON (keys sorted, no spaces), as an
    // instrumentation may: the attribute's pieces are then the messages
    // mapped from it, stored once for both. (Written by hand: how
    // `Value::to_string` orders keys depends on serde_json's features,
    // which differ between a build of this crate and of the workspace.)
    let texts: Vec<String> = (0..6)
        .map(|i| {
            let role = if i % 2 == 0 { "user" } else { "assistant" };
            format!(r#"{{"parts":[{{"content":"otlp-{i}: {}","type":"text"}}],"role":"{role}"}}"#, "where is my parcel ".repeat(12))
        })
        .collect();
    let messages: Vec<Value> = texts.iter().map(|t| serde_json::from_str(t).unwrap()).collect();
    let span = |n: usize| {
        let conversation = format!("[{}]", texts[..2 * n + 2].join(","));
        chat_span("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b17", n, "otlp-talk", &conversation)
    };
    let export = json!({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "test"}, "spans": [span(0), span(1), span(2)]}]}]});
    let resp = s.http.post(format!("{}/v1/traces", s.base)).bearer_auth(ADMIN_KEY).json(&export).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{}", resp.text().await.unwrap());
    let stored = s.all_steps(ADMIN_KEY, "otlp-talk", 10).await;
    let read: Vec<&Value> = stored.iter().map(|st| &st["data"]["prompt"]["messages"]).collect();
    assert_eq!(read, [&json!(messages[..2]), &json!(messages[..4]), &json!(messages[..6])]);
    seal(&s).await;
    assert_eq!(verify(&s, "otlp-talk").await["status"], "verified");
    assert!(s.terminate().0.success());
    // The two longer steps refer to their messages, and their attributes
    // to the same six pieces: six, stored once.
    let held = query(dir.path(), "SELECT count(), countIf(position(body, 'otlp-0:') > 0) FROM step_contents WHERE session_id = 'otlp-talk'");
    let refs = query(dir.path(), "SELECT groupArray(length(message_refs)), groupArray(length(attribute_refs['gen_ai.input.messages'])) \
                                  FROM (SELECT * FROM steps WHERE session_id = 'otlp-talk' ORDER BY step)");
    assert_eq!((held, refs), (vec![vec!["6".to_string(), "1".into()]], vec![vec!["[0,4,6]".to_string(), "[0,4,6]".into()]]));
}

/// A chat span's `gen_ai.input.messages` is kept with the span under
/// `otel.attributes` too, as the instrumentation wrote it (here spaced as
/// Python's `json.dumps` spaces it): it is stored once per session as
/// well, in pieces, and every read gives the attribute back byte for byte;
/// a piece changed behind Flightlog's back is caught, and an erasure
/// takes the attribute (the session still verifies) and drops the pieces.
#[tokio::test]
async fn a_spans_conversation_attribute_is_stored_once_and_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &ENV).await;
    let messages: Vec<String> = (0..8)
        .map(|i| {
            let role = if i % 2 == 0 { "user" } else { "assistant" };
            format!(r#"{{"role": "{role}", "parts": [{{"type": "text", "content": "spaced-{i}: {}"}}]}}"#, "where is my parcel ".repeat(12))
        })
        .collect();
    let conversation = |n: usize| format!("[{}]", messages[..2 * n + 2].join(", "));
    let span = |session: &str, trace: char, n: usize| {
        chat_span(&format!("5b8efff798038103d269b633813fc60{trace}"), "fee19b7ec3c1b17", n, session, &conversation(n))
    };
    let export = |session: &str, trace: char| {
        let spans: Vec<Value> = (0..4).map(|n| span(session, trace, n)).collect();
        json!({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}]}]})
    };
    let (talk, clean) = (export("spans-talk", 'd'), export("spans-clean", 'e'));
    let post = |s: &Server, export: &Value| s.http.post(format!("{}/v1/traces", s.base)).bearer_auth(ADMIN_KEY).json(export).send();
    for export in [&talk, &clean] {
        let resp = post(&s, export).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{}", resp.text().await.unwrap());
    }
    let stored = s.all_steps(ADMIN_KEY, "spans-talk", 10).await;
    let read: Vec<&str> = stored.iter().map(|st| st["data"]["otel"]["attributes"]["gen_ai.input.messages"].as_str().unwrap()).collect();
    assert_eq!(read, (0..4).map(conversation).collect::<Vec<_>>(), "each attribute reads back as sent");
    // A retried export stores nothing twice.
    assert_eq!(post(&s, &talk).await.unwrap().status(), StatusCode::OK);
    assert_eq!(s.all_steps(ADMIN_KEY, "spans-talk", 10).await.len(), 4);
    seal(&s).await;
    assert_eq!(verify(&s, "spans-talk").await["status"], "verified");
    assert_bundle_verifies(&s, dir.path(), "spans-talk").await;
    assert!(s.terminate().0.success());

    // The three longer steps keep no copy of the conversation in `raw`;
    // each of the eight messages is stored once as the attribute spaced it.
    let refs = query(dir.path(), "SELECT groupArray(length(attribute_refs['gen_ai.input.messages'])), groupArray(position(raw, 'spaced-0:') > 0) \
                                  FROM (SELECT * FROM steps WHERE session_id = 'spans-talk' ORDER BY step)");
    assert_eq!(refs, [["[0,4,6,8]", "[1,0,0,0]"]], "{refs:?}");
    let pieces = query(dir.path(), "SELECT count(), countIf(position(body, 'spaced-5:') > 0) FROM step_contents \
                                    WHERE session_id = 'spans-talk' AND startsWith(body, ' {')");
    assert_eq!(pieces, [["7", "1"]], "the pieces after the first start with the attribute's space: {pieces:?}");

    // A piece changed behind Flightlog's back changes the steps whose
    // attribute holds it (message 5: steps 2 and 3), and is shown.
    sql(dir.path(), "ALTER TABLE step_contents UPDATE body = replaceOne(body, 'spaced-5:', 'forged-5:') \
                     WHERE session_id = 'spans-talk' AND startsWith(body, ' {') AND position(body, 'spaced-5:') > 0 SETTINGS mutations_sync = 2");
    let mut s = Server::start_in(dir.path(), &ENV).await;
    let report = verify(&s, "spans-talk").await;
    let modified: Vec<u64> = report["problems"].as_array().unwrap().iter().filter(|p| p["kind"] == "modified").filter_map(|p| p["step"].as_u64()).collect();
    let steps: Vec<u64> = stored.iter().map(|st| st["step"].as_u64().unwrap()).collect();
    assert_eq!(modified, steps[2..], "{report:#}");
    let shown = s.all_steps(ADMIN_KEY, "spans-talk", 10).await;
    assert!(shown[3]["data"]["otel"]["attributes"]["gen_ai.input.messages"].as_str().unwrap().contains("forged-5:"));

    // An erasure takes the attribute, and its pieces with it; the
    // untouched session still verifies once erased, its attributes' hashes
    // kept.
    for session in ["spans-talk", "spans-clean"] {
        let (status, done) = s.send_json(Method::POST, ADMIN_KEY, "/v1/erasures", json!({"session_id": session})).await;
        assert_eq!((status, done["steps_erased"].as_u64()), (StatusCode::OK, Some(4)), "{done}");
    }
    let report = verify(&s, "spans-clean").await;
    assert_eq!(report["status"], "verified", "{report:#}");
    let erased = report["erased"].as_array().unwrap().iter().filter(|e| e["field"] == r#"["otel","attributes"]"#).count();
    assert_eq!(erased, 4, "{report:#}");
    assert!(s.terminate().0.success());
    let left = query(dir.path(), "SELECT (SELECT count() FROM step_contents WHERE session_id LIKE 'spans-%'), \
                                  (SELECT sum(length(attribute_refs)) FROM steps WHERE session_id LIKE 'spans-%'), \
                                  (SELECT countIf(position(raw, 'where is my parcel') > 0) FROM steps WHERE session_id LIKE 'spans-%')");
    assert_eq!(left, [["0", "0", "0"]], "{left:?}");
}

/// One group commit can name tens of thousands of distinct messages (here
/// 100 steps of 200 short messages each, 20,000 keys, 1.3 MB of them as
/// hex): the look-up of which its sessions hold and the reads that put
/// them back carry them all as query parameters (to a ClickHouse server,
/// the `clickhouse` crate sends those in the request's body, not its URL,
/// which ClickHouse caps at 1 MiB).
#[tokio::test]
async fn a_commit_naming_twenty_thousand_messages_is_stored_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &ENV).await;
    let steps: Vec<Value> = (0..100)
        .map(|n| {
            let messages: Vec<Value> = (0..200).map(|i| json!({"role": "user", "content": format!("many-{n}-{i}: a short message of about eighty bytes")})).collect();
            json!({"session_id": format!("many-{}", n % 10), "step": n, "timestamp": "2026-01-15T10:00:00Z", "prompt": {"messages": messages}})
        })
        .collect();
    let (status, body) = s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await;
    assert_eq!((status, body["accepted"].as_u64()), (StatusCode::OK, Some(100)), "{body}");
    let stored = s.all_steps(ADMIN_KEY, "many-3", 100).await;
    let sent: Vec<&Value> = steps.iter().filter(|st| st["session_id"] == "many-3").collect();
    assert_eq!(stored.len(), sent.len());
    for (got, want) in stored.iter().zip(sent) {
        assert_eq!(&got["data"], want);
    }
    seal(&s).await;
    let (_, all) = s.get(ADMIN_KEY, "/v1/integrity/verify").await;
    assert_eq!(all["status"], "verified", "{all:#}");
    let mut s = s;
    assert!(s.terminate().0.success());
    let held = query(dir.path(), "SELECT count() FROM step_contents WHERE session_id LIKE 'many-%'");
    assert_eq!(held, [["20000"]]);
}

/// kill -9 while agents report one conversation step per request: every
/// step stored after the restart reads back exactly as sent (its messages
/// were on disk before it), and re-sending everything stores nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kill_mid_conversation_leaves_no_step_without_its_messages() {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    const CLIENTS: usize = 4;
    const TURNS: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &ENV).await;
    let talks: Vec<Vec<Value>> = (0..CLIENTS).map(|c| conversation(&format!("kill-{c}"), "ann", &format!("kill-{c}"), TURNS)).collect();
    let acked: Arc<Mutex<Vec<usize>>> = Arc::new(Mutex::new(vec![0; CLIENTS]));
    let tasks: Vec<_> = talks
        .iter()
        .cloned()
        .enumerate()
        .map(|(c, talk)| {
            let (http, base, acked) = (server.http.clone(), server.base.clone(), acked.clone());
            tokio::spawn(async move {
                for (n, step) in talk.iter().enumerate() {
                    match http.post(format!("{base}/v1/steps")).bearer_auth(ADMIN_KEY).json(step).send().await {
                        Ok(r) if r.status() == StatusCode::OK => acked.lock().unwrap()[c] = n + 1,
                        _ => return, // the server is gone
                    }
                }
            })
        })
        .collect();
    let total = || acked.lock().unwrap().iter().sum::<usize>() as u64;
    server.kill9_mid_stream(total, 40, Duration::from_millis(1500), tasks).await;
    let acked = acked.lock().unwrap().clone();

    let s = Server::start_in(dir.path(), &ENV).await;
    for (c, talk) in talks.iter().enumerate() {
        let stored = s.all_steps(ADMIN_KEY, &format!("kill-{c}"), 50).await;
        assert!(stored.len() >= acked[c], "client {c}: {} stored, {} acknowledged", stored.len(), acked[c]);
        for (got, want) in stored.iter().zip(talk) {
            assert_eq!(&got["data"], want, "client {c} step {}", want["step"]);
        }
        let report = verify(&s, &format!("kill-{c}")).await;
        assert_eq!(report["problem_count"], 0, "{report:#}");
        // Everything sent again, the rest of the conversation too.
        let (status, again) = s.post_steps(ADMIN_KEY, ndjson(talk), &[]).await;
        assert_eq!((status, again["duplicates"].as_u64(), again["accepted"].as_u64()), (StatusCode::OK, Some(stored.len() as u64), Some((TURNS - stored.len()) as u64)), "{again}");
    }
    assert!(acked.iter().sum::<usize>() < CLIENTS * TURNS, "the kill came mid-stream");
}
