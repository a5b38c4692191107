//! Retention per project (issue 13): with a policy of one day for content
//! and a few days for steps, the expiry job blanks old sessions' content,
//! then removes old sessions' steps; every proof still verifies, and the
//! verification report names what expired under which policy. Legal holds
//! keep their sessions intact; a restart in the middle of expiry loses or
//! doubles nothing; an expiry record forged behind Flightlog's back is
//! named, not trusted.

use flightlog_model::time::{format_timestamp, now_us};
use flightlog_tests::*;
use std::time::{Duration, Instant};

const DAY_US: i64 = 86_400_000_000;

fn days_ago(days: i64, plus_us: i64) -> String {
    format_timestamp(now_us() - days * DAY_US + plus_us)
}

/// A session of `n` steps whose last step is `age` days old, with content
/// (a prompt, tool params and a result) that expiry blanks. Its messages
/// are long enough to be stored once per session, by reference.
fn session(id: &str, age: i64, n: u64, user: &str) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"session_id": id, "step": i, "timestamp": days_ago(age, i as i64), "user_id": user,
                "agent_thoughts": {"reasoning": format!("step {i} of {id}")},
                "tool_execution": {"name": "lookup_order", "params": {"order": 990 + i}, "result": {"status": "shipped"}},
                "prompt": {"messages": [{"role": "system", "content": "answer from the order book only. ".repeat(40)},
                                       {"role": "user", "content": format!("where is order {}", 990 + i)}]}})
        })
        .collect()
}

async fn serve(dir: &std::path::Path, batch: &str) -> Server {
    Server::start_with(dir, &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)], &["--expiry-interval", "1", "--expiry-batch", batch]).await
}

async fn put(s: &Server, path: &str, body: Value) -> (StatusCode, Value) {
    s.send_json(reqwest::Method::PUT, ADMIN_KEY, path, body).await
}

async fn steps_of(s: &Server, session: &str) -> (StatusCode, Vec<Value>) {
    let (status, page) = s.get(ADMIN_KEY, &format!("/v1/sessions/{session}/steps?limit=100")).await;
    (status, page["steps"].as_array().cloned().unwrap_or_default())
}

/// Waits until `done` holds of the answer to GET `path`; expiry works
/// behind the API, so what a test reads of it comes in time.
async fn wait_for(s: &Server, path: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (status, answer) = s.get(ADMIN_KEY, path).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        if done(&answer) {
            return answer;
        }
        assert!(Instant::now() < deadline, "GET {path} did not come to it within {within:?}: {answer}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits until `done` holds of the full verification report.
async fn wait_verified(s: &Server, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
    wait_for(s, "/v1/integrity/verify", within, done).await
}

fn expired_of<'a>(report: &'a Value, session: &str, kind: &str) -> Vec<&'a Value> {
    report["expired"].as_array().into_iter().flatten().filter(|e| e["session_id"] == session && e["kind"] == kind).collect()
}

#[tokio::test]
async fn content_then_steps_expire_and_every_proof_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(dir.path(), "100").await;
    let mut batch = session("old", 10, 3, "u-1");
    batch.extend(session("mid", 3, 2, "u-1"));
    batch.extend(session("new", 0, 2, "u-1"));
    batch.extend(session("held", 10, 2, "u-1"));
    batch.extend(session("held-by-user", 10, 2, "u-held"));
    let (status, report) = s.post_steps(ADMIN_KEY, ndjson(&batch), &[]).await;
    assert_eq!((status, report["accepted"].as_u64()), (StatusCode::OK, Some(11)), "{report}");

    // Holds first, then the policy: nothing held may ever expire.
    for (subject, id) in [("session", "held"), ("user", "u-held")] {
        let (status, hold) = s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/legal-holds", json!({"subject": subject, "id": id, "reason": "case 42"})).await;
        assert_eq!(status, StatusCode::CREATED, "{hold}");
    }
    let (_, holds) = s.get(ADMIN_KEY, "/v1/legal-holds").await;
    assert_eq!(holds["holds"].as_array().map(Vec::len), Some(2), "{holds}");

    let (status, refused) = put(&s, "/v1/policies/retention", json!({"content_days": 9, "steps_days": 5})).await;
    assert_eq!((status, refused["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("content_days")), "{refused}");
    let (status, set) = put(&s, "/v1/policies/retention", json!({"content_days": 1, "steps_days": 5})).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    let warnings = set["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 2, "both are under six months: {set}");
    assert!(warnings[0].as_str().unwrap().contains("six months"), "{set}");
    let (_, keys) = s.get(ADMIN_KEY, "/v1/keys").await;
    assert_eq!(set["set_by"], keys["keys"][0]["key_id"], "set by the admin key: {set}");

    let report = wait_verified(&s, Duration::from_secs(60), |r| {
        !expired_of(r, "old", "steps").is_empty() && !expired_of(r, "mid", "content").is_empty()
    })
    .await;
    assert_eq!(report["problem_count"], 0, "expiry is not tampering: {report}");
    let old = expired_of(&report, "old", "steps");
    assert_eq!((old.len(), old[0]["steps"].as_u64()), (1, Some(3)), "{report}");
    assert_eq!(old[0]["policy"], json!({"content_days": 1, "steps_days": 5}), "under which policy");
    assert_eq!(old[0]["log_to"].as_u64().unwrap() - old[0]["log_from"].as_u64().unwrap(), 2, "{report}");
    for (session, kind) in [("new", "content"), ("new", "steps"), ("mid", "steps"), ("held", "content"), ("held", "steps"), ("held-by-user", "content")] {
        assert!(expired_of(&report, session, kind).is_empty(), "{session} {kind} must not expire: {report}");
    }

    // The signed record is written before the steps go (so a crash between
    // them is finished, never lost); the removal ends with the session's
    // cost rollups, so once costs forget "old" its expiry is whole.
    wait_for(&s, "/v1/costs?group_by=session", Duration::from_secs(60), |costs| {
        !costs["groups"].as_array().unwrap().iter().any(|g| g["session"] == "old")
    })
    .await;

    // What a reader sees: old is gone, mid's content is blanked, the rest intact.
    let (status, _) = steps_of(&s, "old").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, sessions) = s.get(ADMIN_KEY, "/v1/sessions?limit=50").await;
    let listed: Vec<&str> = sessions["sessions"].as_array().unwrap().iter().filter_map(|x| x["session_id"].as_str()).collect();
    assert!(!listed.contains(&"old") && listed.contains(&"mid"), "{listed:?}");
    // Costs read the hourly rollups, which forget the expired steps too.
    let (_, costs) = s.get(ADMIN_KEY, "/v1/costs?group_by=session").await;
    let counted: Vec<(&str, u64)> =
        costs["groups"].as_array().unwrap().iter().map(|g| (g["session"].as_str().unwrap(), g["steps"].as_u64().unwrap())).collect();
    assert!(!counted.iter().any(|(id, _)| *id == "old") && counted.iter().map(|(_, n)| n).sum::<u64>() == 8, "{costs}");
    let (_, mid) = steps_of(&s, "mid").await;
    assert_eq!(mid.len(), 2);
    assert_eq!(mid[0]["data"]["tool_execution"]["params"], Value::Null, "{}", mid[0]);
    assert_eq!(mid[0]["data"]["prompt"]["messages"], Value::Null, "{}", mid[0]);
    assert_eq!(mid[0]["data"]["agent_thoughts"]["reasoning"], "step 0 of mid", "the decision record stays");
    // A step of mid that arrives late, dated before its content expired, has
    // its content blanked too (a second hostile probe found it kept).
    let late = json!({"session_id": "mid", "step": 2, "timestamp": days_ago(3, 5), "user_id": "u-1",
                      "tool_execution": {"name": "lookup_order", "params": {"order": 992}, "result": {"status": "shipped"}}});
    assert_eq!(s.post_steps(ADMIN_KEY, late.to_string(), &[]).await.0, StatusCode::OK);
    wait_for(&s, "/v1/sessions/mid/steps?limit=100", Duration::from_secs(60), |page| {
        page["steps"].as_array().is_some_and(|steps| steps.len() == 3 && steps.iter().all(|x| x["data"]["tool_execution"]["params"].is_null()))
    })
    .await;
    for kept in ["new", "held", "held-by-user"] {
        let (_, steps) = steps_of(&s, kept).await;
        assert_eq!(steps.len(), 2, "{kept}");
        assert_eq!(steps[0]["data"]["tool_execution"]["params"], json!({"order": 990}), "{kept} keeps its content");
    }
    let (_, verified) = s.get(ADMIN_KEY, "/v1/sessions/old/verify").await;
    assert_eq!((verified["problem_count"].as_u64(), expired_of(&verified, "old", "steps").len()), (Some(0), 1), "{verified}");

    // Released, a hold no longer protects: the session expires.
    let resp = s.http.delete(format!("{}/v1/legal-holds/session/held", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = s.http.delete(format!("{}/v1/legal-holds/session/held", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND, "released already");
    let report = wait_verified(&s, Duration::from_secs(60), |r| !expired_of(r, "held", "steps").is_empty()).await;
    assert_eq!(report["problem_count"], 0, "{report}");
    let (_, steps) = steps_of(&s, "held-by-user").await;
    assert_eq!(steps.len(), 2, "the user's hold still stands");

    // Expiry records written behind Flightlog's back. A control signed with
    // the instance's own key (read from its folder, as an intruder with the
    // disk could not without it) is accepted: the format below is right.
    s.terminate();
    // The messages of expired content and steps are gone with them; the
    // sessions that keep their content keep theirs.
    let holding = flightlog_sql(dir.path(), "SELECT DISTINCT session_id FROM step_contents ORDER BY session_id FORMAT TSV");
    assert_eq!(String::from_utf8_lossy(&holding.stdout), "held-by-user\nnew\n");
    let seed = std::fs::read_to_string(dir.path().join("integrity/signing.key")).unwrap();
    let own = signing_key(seed.trim());
    let foreign = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let positions = |session: &str| -> Vec<u64> {
        let out = flightlog_sql(dir.path(), &format!("SELECT log_index FROM log_entries WHERE session_id = '{session}' ORDER BY log_index FORMAT TSV"));
        String::from_utf8_lossy(&out.stdout).lines().map(|l| l.parse().unwrap()).collect()
    };
    // A foreign key, made to look trusted by a checkpoint it signed over
    // the real root.
    let real = flightlog_sql(dir.path(), "SELECT tree_size, lower(hex(root_hash)), created_us FROM checkpoints ORDER BY tree_size DESC LIMIT 1 FORMAT TSV");
    let real = String::from_utf8_lossy(&real.stdout).trim().split('\t').map(str::to_string).collect::<Vec<_>>();
    let created = real[2].parse::<i64>().unwrap() + 1;
    let signed = ed25519_dalek::Signer::sign(&foreign, format!("flightlog/checkpoint/v1\n{}\n{}\n{created}\n", real[0], real[1]).as_bytes());
    let forged_checkpoint = format!(
        "INSERT INTO checkpoints SELECT {}, unhex('{}'), {created}, '{}', '{}'",
        real[0], real[1], hex(foreign.verifying_key().as_bytes()), hex(&signed.to_bytes())
    );
    let statements = [
        forged_checkpoint,
        expiry_row(&foreign, "new", &positions("new")),
        expiry_row(&own, "mid", &positions("held-by-user")),
        expiry_row(&own, "held-by-user", &positions("held-by-user")),
        "ALTER TABLE steps DELETE WHERE session_id IN ('new', 'held-by-user') SETTINGS mutations_sync = 2".to_string(),
    ];
    for statement in statements {
        let out = flightlog_sql(dir.path(), &statement);
        assert!(out.status.success(), "{statement}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let s = serve(dir.path(), "100").await;
    let (_, report) = s.get(ADMIN_KEY, "/v1/integrity/verify").await;
    let mut kinds: Vec<(&str, &str)> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["kind"].as_str().unwrap(), p["session_id"].as_str().unwrap_or_default()))
        .collect();
    kinds.dedup();
    assert_eq!(kinds, [("expiry_mismatch", "mid"), ("bad_signature", "new"), ("deleted", "new")], "{report}");
    assert_eq!(expired_of(&report, "held-by-user", "steps").len(), 1, "the control is accepted: {report}");
}

/// A step re-sent after its session's steps expired is taken as new and
/// starts the session's chain again, as it would in an empty store: what
/// the writer knew of that chain from its own commits went with the steps
/// (flightlog-ingest's known_heads.rs).
#[tokio::test]
async fn a_step_re_sent_after_its_sessions_steps_expired_starts_its_chain_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(dir.path(), "100").await;
    let (status, report) = s.post_steps(ADMIN_KEY, ndjson(&session("gone", 10, 3, "u-1")), &[]).await;
    assert_eq!((status, report["accepted"].as_u64()), (StatusCode::OK, Some(3)), "{report}");
    assert_eq!(put(&s, "/v1/policies/retention", json!({"content_days": 1, "steps_days": 5})).await.0, StatusCode::OK);
    wait_for(&s, "/v1/costs?group_by=session", Duration::from_secs(60), |costs| {
        !costs["groups"].as_array().unwrap().iter().any(|g| g["session"] == "gone")
    })
    .await;
    // Dated now, so that it does not expire in turn.
    let again = session("gone", 0, 1, "u-1");
    let (status, report) = s.post_steps(ADMIN_KEY, ndjson(&again), &[]).await;
    assert_eq!((status, report["accepted"].as_u64()), (StatusCode::OK, Some(1)), "taken as new: {report}");
    let (status, page) = steps_of(&s, "gone").await;
    assert_eq!((status, page.len()), (StatusCode::OK, 1));
    let (_, report) = s.get(ADMIN_KEY, "/v1/integrity/verify").await;
    assert_eq!(report["problem_count"], 0, "{report}");
    s.terminate();
    let out = flightlog_sql(dir.path(), "SELECT step, session_seq FROM steps WHERE session_id = 'gone' FORMAT TSV");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0\t0\n", "the chain starts again: {}", String::from_utf8_lossy(&out.stderr));
}

/// A step re-sent after its session's steps expired, dated past the
/// content's days, has its content expire at a later run like any late
/// step (it kept its content until its steps expired: the session's
/// earlier content record, whose steps are gone, counted as covering it).
#[tokio::test]
async fn content_re_sent_after_its_sessions_steps_expired_expires_again() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), "100").await;
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&session("twice", 10, 4, "u-1")), &[]).await.1["accepted"], 4);
    assert_eq!(put(&s, "/v1/policies/retention", json!({"content_days": 1, "steps_days": 5})).await.0, StatusCode::OK);
    wait_verified(&s, Duration::from_secs(60), |r| !expired_of(r, "twice", "steps").is_empty()).await;
    // Past the content's day, within the steps' five.
    let again: Vec<Value> = session("twice", 2, 1, "u-1").into_iter().map(|mut step| {
        step["step"] = json!(10);
        step
    }).collect();
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&again), &[]).await.1["accepted"], 1);
    let report = wait_verified(&s, Duration::from_secs(60), |r| expired_of(r, "twice", "content").len() == 2).await;
    assert_eq!(report["problem_count"], 0, "{report}");
    let (_, page) = steps_of(&s, "twice").await;
    assert_eq!(page.len(), 1);
    assert_eq!((page[0]["step"].as_u64(), page[0]["data"]["tool_execution"]["params"].clone()), (Some(10), Value::Null), "its content expired: {}", page[0]);
}

/// One hold per session or user: a second is refused (409, naming the one
/// that stands) and changes nothing (before, it replaced the first's reason
/// and date, and one release lifted both). Its release is kept with why,
/// and the history lists both.
#[tokio::test]
async fn a_second_hold_on_what_is_held_is_refused_and_the_first_stands() {
    let s = Server::start().await;
    let place = |reason: &str| s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/legal-holds", json!({"subject": "user", "id": "alice", "reason": reason}));
    assert_eq!(place("case 1").await.0, StatusCode::CREATED);
    let (status, again) = place("case 1").await;
    assert_eq!((status, again["reason"].as_str()), (StatusCode::CREATED, Some("case 1")), "the same hold sent again: {again}");
    let (status, refused) = place("case 2").await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("already_held")), "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("case 1"), "{refused}");
    let (_, holds) = s.get(ADMIN_KEY, "/v1/legal-holds").await;
    let reasons: Vec<&str> = holds["holds"].as_array().unwrap().iter().filter_map(|h| h["reason"].as_str()).collect();
    assert_eq!(reasons, ["case 1"], "{holds}");

    // A release is kept with who released it and why, beside the placement.
    let release = |reason: &str| s.http.delete(format!("{}/v1/legal-holds/user/alice?reason={reason}", s.base)).bearer_auth(ADMIN_KEY).send();
    assert_eq!(release(&"x".repeat(1001)).await.unwrap().status(), StatusCode::BAD_REQUEST, "a reason over 1,000 bytes");
    assert_eq!(release("case%20closed").await.unwrap().status(), StatusCode::NO_CONTENT);
    let (_, history) = s.get(ADMIN_KEY, "/v1/legal-holds/history").await;
    let changes: Vec<(&str, &str)> =
        history["changes"].as_array().unwrap().iter().map(|c| (c["action"].as_str().unwrap(), c["reason"].as_str().unwrap())).collect();
    assert_eq!(changes, [("released", "case closed"), ("placed", "case 1")], "{history}");
    assert!(history["changes"][0]["by"].as_str().is_some_and(|k| !k.is_empty()), "{history}");
    let (_, html) = s.page(ADMIN_KEY, "/policies").await;
    assert!(html.contains("<td>released</td><td>user</td><td>alice</td><td>case closed</td>"), "the policies page lists it");
}

/// An erasure naming what no step could be, or a session the project does
/// not have, is refused (a mistyped GDPR erasure was confirmed with 200),
/// each naming its field.
#[tokio::test]
async fn an_erasure_naming_nothing_is_refused_naming_its_field() {
    let s = Server::start().await;
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&session("real", 0, 2, "u-1")), &[]).await.1["accepted"], 2);
    let erase = |body: Value| s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/erasures", body);
    let (status, body) = erase(json!({"session_id": "nope"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = erase(json!({"session_id": "real", "user_id": "someone-else"})).await;
    assert_eq!((status, body["steps_erased"].as_u64()), (StatusCode::OK, Some(0)), "the session is there, with no step of that user: {body}");
    for (body, field) in [(json!({"session_id": "a\u{0}b"}), "session_id"), (json!({"user_id": "u".repeat(257)}), "user_id")] {
        let (status, answer) = erase(body.clone()).await;
        assert_eq!((status, answer["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{body}: {answer}");
    }
    let (status, body) = erase(json!({"user_id": "u-1"})).await;
    assert_eq!((status, body["steps_erased"].as_u64()), (StatusCode::OK, Some(2)), "{body}");
    let (status, body) = erase(json!({"session_id": "real"})).await;
    assert_eq!((status, body["steps_erased"].as_u64()), (StatusCode::OK, Some(0)), "erased already, still there: {body}");
}

/// Each erasure is kept with who asked for it, when, why and what it
/// blanked, signed by the instance; one written behind its back is listed
/// as not signed, and so is a hold's row in the holds' history (and in
/// the holds in force: a hold's placement fails closed).
#[tokio::test]
async fn each_erasure_is_kept_with_who_asked_when_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(dir.path(), "100").await;
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&session("asked", 0, 3, "u-9")), &[]).await.1["accepted"], 3);
    let erase = |body: Value| s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/erasures", body);
    let (status, refused) = erase(json!({"user_id": "u-9", "reason": "x".repeat(1001)})).await;
    assert_eq!((status, refused["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("reason")), "{refused}");
    let (status, done) = erase(json!({"user_id": "u-9", "reason": "ticket 77: the data subject asked"})).await;
    assert_eq!((status, done["steps_erased"].as_u64()), (StatusCode::OK, Some(3)), "{done}");
    let (_, list) = s.get(ADMIN_KEY, "/v1/erasures").await;
    let e = &list["erasures"][0];
    assert_eq!(
        (e["user_id"].as_str(), e["reason"].as_str(), e["steps_erased"].as_u64(), e["signed"].as_bool(), e.get("session_id")),
        (Some("u-9"), Some("ticket 77: the data subject asked"), Some(3), Some(true), None),
        "{list}"
    );
    assert!(e["by"].as_str().is_some_and(|k| !k.is_empty()) && e["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{list}");
    assert_eq!(e["finished"].as_bool(), Some(true), "answered once all its content is blanked: {list}");
    assert_eq!(list["erasures"].as_array().unwrap().len(), 1, "nothing refused was recorded: {list}");
    let (_, html) = s.page(ADMIN_KEY, "/policies").await;
    assert!(html.contains("ticket 77: the data subject asked"), "the policies page lists it");

    s.terminate();
    let forged = "INSERT INTO erasures (project, at_us, session_id, user_id, reason, by_key, steps_erased, fields_erased, signature) \
                  VALUES ('default', 1, '', 'u-9', 'asked by the CEO', 'someone', 3, 3, '00')";
    let out = flightlog_sql(dir.path(), forged);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let forged_hold = "INSERT INTO legal_holds (project, subject, id, held, reason, at_us, by_key, signature) \
                       VALUES ('default', 'user', 'u-9', true, 'placed behind its back', 2, 'someone', '00')";
    let out = flightlog_sql(dir.path(), forged_hold);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = serve(dir.path(), "100").await;
    let (_, history) = s.get(ADMIN_KEY, "/v1/legal-holds/history").await;
    assert_eq!((history["changes"][0]["reason"].as_str(), history["changes"][0]["signed"].as_bool()), (Some("placed behind its back"), Some(false)), "{history}");
    let (_, list) = s.get(ADMIN_KEY, "/v1/erasures").await;
    let signed: Vec<(&str, bool)> = list["erasures"].as_array().unwrap().iter().map(|e| (e["reason"].as_str().unwrap(), e["signed"].as_bool().unwrap())).collect();
    assert_eq!(signed, [("ticket 77: the data subject asked", true), ("asked by the CEO", false)], "{list}");

    // A hold fails closed: the placement it did not sign holds, shown as
    // such, until an admin releases it (a release it did not sign would
    // not). Ignored, every hold would be lost with the signing key.
    let (_, holds) = s.get(ADMIN_KEY, "/v1/legal-holds").await;
    assert_eq!((holds["holds"][0]["id"].as_str(), holds["holds"][0]["signed"].as_bool()), (Some("u-9"), Some(false)), "{holds}");
    let (_, html) = s.page(ADMIN_KEY, "/policies").await;
    assert!(html.contains("not signed by this instance: holds until released"), "the policies page says so");
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&session("asked-again", 0, 1, "u-9")), &[]).await.1["accepted"], 1);
    let (status, refused) = s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/erasures", json!({"user_id": "u-9"})).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("legal_hold")), "{refused}");
    // Placed again by an admin, it is signed, in one step (no moment unheld).
    let (status, placed) = s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/legal-holds", json!({"subject": "user", "id": "u-9", "reason": "case 9"})).await;
    assert_eq!((status, placed["signed"].as_bool()), (StatusCode::CREATED, Some(true)), "{placed}");
    let (_, holds) = s.get(ADMIN_KEY, "/v1/legal-holds").await;
    assert_eq!((holds["holds"].as_array().map(Vec::len), holds["holds"][0]["signed"].as_bool()), (Some(1), Some(true)), "{holds}");
    let resp = s.http.delete(format!("{}/v1/legal-holds/user/u-9", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (status, done) = s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/erasures", json!({"user_id": "u-9"})).await;
    assert_eq!((status, done["steps_erased"].as_u64()), (StatusCode::OK, Some(1)), "released, the user's new step is erased: {done}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn signing_key(seed_hex: &str) -> ed25519_dalek::SigningKey {
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&seed_hex[2 * i..2 * i + 2], 16).unwrap();
    }
    ed25519_dalek::SigningKey::from_bytes(&seed)
}

/// An INSERT of a steps-expiry record of `session` listing `positions`,
/// signed by `key` over the message the schema documents.
fn expiry_row(key: &ed25519_dalek::SigningKey, session: &str, positions: &[u64]) -> String {
    let listed = positions.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let policy = r#"{"steps_days":1}"#;
    let fields = ["default", session, "steps", &listed, "", "0", policy, "1"];
    let mut message = String::from("flightlog/expiry/v1\n");
    for f in fields {
        message.push_str(&format!("{}:{f}\n", f.len()));
    }
    let signature = ed25519_dalek::Signer::sign(key, message.as_bytes());
    format!(
        "INSERT INTO expirations (project, session_id, kind, log_indexes, last_link, next_seq, policy, expired_us, public_key, signature) \
         VALUES ('default', '{session}', 'steps', [{listed}], '', 0, '{policy}', 1, '{}', '{}')",
        hex(key.verifying_key().as_bytes()),
        hex(&signature.to_bytes())
    )
}

#[tokio::test]
async fn a_restart_in_the_middle_of_expiry_loses_or_doubles_nothing() {
    const SESSIONS: usize = 30;
    const STEPS: u64 = 4;
    let dir = tempfile::tempdir().unwrap();
    // Three sessions per run and kind, one run a second: expiry takes a
    // while, and the kill lands in the middle of it.
    let mut s = serve(dir.path(), "3").await;
    let batch: Vec<Value> = (0..SESSIONS).flat_map(|i| session(&format!("s{i:02}"), 20, STEPS, "u")).collect();
    let (status, report) = s.post_steps(ADMIN_KEY, ndjson(&batch), &[]).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let kept = session("kept", 0, STEPS, "u");
    s.post_steps(ADMIN_KEY, ndjson(&kept), &[]).await;
    let (status, set) = put(&s, "/v1/policies/retention", json!({"content_days": 2, "steps_days": 2})).await;
    assert_eq!(status, StatusCode::OK, "{set}");

    let listed = |v: &Value| v["sessions"].as_array().map_or(0, Vec::len);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, page) = s.get(ADMIN_KEY, "/v1/sessions?limit=100").await;
        let left = listed(&page);
        if left <= SESSIONS - 4 {
            assert!(left > 1, "expiry ended before the kill; the batch is too large for this test");
            break;
        }
        assert!(Instant::now() < deadline, "expiry did not start: {page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.kill9();
    // The kill lands between a session's steps going and its messages
    // going only by chance; what it leaves then is made here for one
    // session expired before it (s00, the first due): a message of its own
    // that no step refers to.
    let left_behind = "INSERT INTO step_contents SELECT any(project), 's00', toFixedString(unhex(repeat('ab', 32)), 32), 'left behind' \
                       FROM steps WHERE session_id = 'kept'";
    let out = flightlog_sql(dir.path(), left_behind);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let s = serve(dir.path(), "100").await;
    // In server mode each session's expiry takes 2–3 s on a busy 2-core
    // machine (its verification and the engine's round trips): the whole
    // took 81–86 s of the 90 it had in full runs, and over it once.
    let report = wait_verified(&s, Duration::from_secs(180), |r| {
        (0..SESSIONS).all(|i| !expired_of(r, &format!("s{i:02}"), "steps").is_empty())
    })
    .await;
    assert_eq!(report["problem_count"], 0, "{report}");
    let records = report["expired"].as_array().unwrap();
    for kind in ["content", "steps"] {
        let of_kind: Vec<&Value> = records.iter().filter(|e| e["kind"] == kind).collect();
        assert_eq!(of_kind.len(), SESSIONS, "one {kind} record per session, none doubled: {report}");
        let mut sessions: Vec<&str> = of_kind.iter().map(|e| e["session_id"].as_str().unwrap()).collect();
        sessions.dedup();
        assert_eq!(sessions.len(), SESSIONS);
        assert!(of_kind.iter().all(|e| e["steps"] == STEPS), "every step of each session: {report}");
    }
    // Each record is written before its session's steps and list entry go:
    // the last removals may still be under way.
    let page = wait_for(&s, "/v1/sessions?limit=100", Duration::from_secs(60), |page| listed(page) == 1).await;
    assert_eq!(page["sessions"][0]["session_id"], "kept", "only the recent session is left: {page}");
    let (_, steps) = steps_of(&s, "kept").await;
    assert_eq!(steps.len() as u64, STEPS);
    assert_eq!(steps[0]["data"]["tool_execution"]["params"], json!({"order": 990}), "nothing recent lost");
    // Nor is any message of the expired sessions left, not even one whose
    // removal the kill cut short between its steps and its messages (the
    // start-up check then rebuilds the list without that session; each run
    // first finishes the newest removals, so the run that emptied the list
    // had).
    let mut s = s;
    s.terminate();
    let holding = flightlog_sql(dir.path(), "SELECT DISTINCT session_id FROM step_contents FORMAT TSV");
    assert_eq!(String::from_utf8_lossy(&holding.stdout), "kept\n", "{}", String::from_utf8_lossy(&holding.stderr));
}

/// A legal hold keeps what it holds from erasure too (GDPR Art. 17(3)(e)):
/// an erasure that would reach a held session, or a held user's steps, is
/// refused whole with the holds named, and erases nothing; what it does not
/// reach is erased as before; once the hold is released, it goes through.
#[tokio::test]
async fn an_erasure_reaching_anything_held_is_refused_whole() {
    let s = Server::start().await;
    let mut batch = session("case", 1, 2, "alice");
    batch.extend(session("mixed", 1, 2, "bob"));
    batch[3]["user_id"] = json!("carol"); // mixed's step 1 is carol's
    batch.extend(session("carols", 1, 1, "carol"));
    let (status, report) = s.post_steps(ADMIN_KEY, ndjson(&batch), &[]).await;
    assert_eq!((status, report["accepted"].as_u64()), (StatusCode::OK, Some(5)), "{report}");
    for (subject, id) in [("session", "case"), ("user", "carol")] {
        let (status, hold) = s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/legal-holds", json!({"subject": subject, "id": id, "reason": "case 42"})).await;
        assert_eq!(status, StatusCode::CREATED, "{hold}");
    }
    let erase = |body: Value| s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/erasures", body);
    let refusals = [
        (json!({"session_id": "case"}), vec!["session \"case\""]),
        // Alice is not held, but her steps are in a held session.
        (json!({"user_id": "alice"}), vec!["session \"case\""]),
        // Mixed is not held, but one of its steps is a held user's.
        (json!({"session_id": "mixed"}), vec!["user \"carol\""]),
        (json!({"user_id": "carol"}), vec!["user \"carol\""]),
        (json!({"session_id": "carols", "user_id": "carol"}), vec!["user \"carol\""]),
        // Naming a held session is refused, whatever the user.
        (json!({"session_id": "case", "user_id": "carol"}), vec!["session \"case\"", "user \"carol\""]),
    ];
    for (request, named) in refusals {
        let (status, refused) = erase(request.clone()).await;
        assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("legal_hold")), "{request}: {refused}");
        let message = refused["error"]["message"].as_str().unwrap();
        for name in named {
            assert!(message.contains(name), "{request}: names {name}: {refused}");
        }
    }
    for session in ["case", "mixed", "carols"] {
        let (_, steps) = steps_of(&s, session).await;
        assert!(steps.iter().all(|x| x["data"]["tool_execution"]["params"]["order"].is_number()), "{session} keeps its content: {steps:?}");
    }

    // What reaches nothing held is erased as before: bob's step of mixed.
    let (status, done) = erase(json!({"user_id": "bob"})).await;
    assert_eq!((status, done["steps_erased"].as_u64()), (StatusCode::OK, Some(1)), "{done}");
    let (status, done) = erase(json!({"session_id": "mixed", "user_id": "alice"})).await;
    assert_eq!((status, done["steps_erased"].as_u64()), (StatusCode::OK, Some(0)), "only alice's steps of mixed (none), not carol's: {done}");
    let (_, mixed) = steps_of(&s, "mixed").await;
    assert_eq!((mixed[0]["data"]["tool_execution"]["params"].is_null(), mixed[1]["data"]["tool_execution"]["params"]["order"].as_u64()), (true, Some(991)));

    // Released, the hold no longer keeps carol's steps.
    let resp = s.http.delete(format!("{}/v1/legal-holds/user/carol", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (status, done) = erase(json!({"user_id": "carol"})).await;
    assert_eq!((status, done["steps_erased"].as_u64()), (StatusCode::OK, Some(2)), "{done}");
    let (status, refused) = erase(json!({"user_id": "alice"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "the session hold still stands: {refused}");
    let (_, all) = s.get(ADMIN_KEY, "/v1/integrity/verify").await;
    assert_eq!((all["problem_count"].as_u64(), all["erased"].as_array().map(|e| !e.is_empty())), (Some(0), Some(true)), "{all:#}");
}

/// A hold placed while an erasure runs is placed once the erasure has
/// finished, not between its look at the holds and its work (which would
/// let it erase what the hold, already acknowledged, keeps); an erasure
/// sent after the hold is refused.
#[tokio::test]
async fn a_hold_placed_during_an_erasure_waits_for_it() {
    let s = Server::start().await;
    let batch: Vec<Value> = (0..6).flat_map(|u| session(&format!("big-{u}"), 1, 400, "dora")).collect();
    let (status, report) = s.post_steps(ADMIN_KEY, ndjson(&batch), &[]).await;
    assert_eq!((status, report["accepted"].as_u64()), (StatusCode::OK, Some(2400)), "{report}");
    let started = Instant::now();
    let erasure = async {
        let answer = s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/erasures", json!({"user_id": "dora"})).await;
        (answer, started.elapsed())
    };
    let hold = async {
        // Sent while the erasure of 2,400 steps in six sessions is under way.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let answer = s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/legal-holds", json!({"subject": "user", "id": "dora", "reason": "case 7"})).await;
        (answer, started.elapsed())
    };
    let (((erased_status, erased), erased_at), ((hold_status, hold), held_at)) = tokio::join!(erasure, hold);
    assert_eq!(hold_status, StatusCode::CREATED, "{hold}");
    match erased_status {
        // The erasure looked at the holds before the hold was sent: the
        // hold was placed after it had finished.
        StatusCode::OK => {
            assert_eq!(erased["steps_erased"], 2400, "{erased}");
            // Its answer can overtake the erasure's on the way back, but
            // not by the better part of a second (without the turns, it
            // came about 1 s before).
            assert!(held_at + Duration::from_millis(250) >= erased_at, "hold placed at {held_at:?}, before the erasure ended at {erased_at:?}");
        }
        // A machine slow enough that the erasure had not begun.
        StatusCode::CONFLICT => assert_eq!(erased["error"]["code"], "legal_hold", "{erased}"),
        other => panic!("{other}: {erased}"),
    }
    eprintln!("erasure answered at {erased_at:?} ({erased_status}), the hold at {held_at:?}");
    let (status, refused) = s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/erasures", json!({"session_id": "big-0"})).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("legal_hold")), "{refused}");
}

/// A session made to look due by moving its timestamps back, behind
/// Flightlog's back, does not expire: its steps no longer verify, and
/// expiring it would blank, remove and sign for them as a lawful expiry,
/// hiding the tampering from every later verification.
#[tokio::test]
async fn a_session_backdated_behind_flightlogs_back_does_not_expire() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(dir.path(), "100").await;
    let mut batch = session("backdated", 0, 3, "u-1");
    batch.extend(session("due", 10, 2, "u-1"));
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&batch), &[]).await.1["accepted"], 5);
    assert_eq!(put(&s, "/v1/policies/retention", json!({"content_days": 1, "steps_days": 2})).await.0, StatusCode::OK);
    wait_verified(&s, Duration::from_secs(60), |r| !expired_of(r, "due", "steps").is_empty()).await;
    s.terminate();
    for table in ["steps", "session_summaries"] {
        let shift = if table == "steps" { "ts = ts - INTERVAL 30 DAY" } else { "first_ts = first_ts - INTERVAL 30 DAY, last_ts = last_ts - INTERVAL 30 DAY" };
        let out = flightlog_sql(dir.path(), &format!("ALTER TABLE {table} UPDATE {shift} WHERE session_id = 'backdated' SETTINGS mutations_sync = 2"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let s = serve(dir.path(), "100").await;
    // A session due now: once a run has expired it, a run has looked at the
    // backdated one (older, so earlier in the same batch) and passed it over.
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&session("due-after", 10, 2, "u-1")), &[]).await.1["accepted"], 2);
    let report = wait_verified(&s, Duration::from_secs(60), |r| !expired_of(r, "due-after", "steps").is_empty()).await;
    let (status, steps) = steps_of(&s, "backdated").await;
    assert_eq!((status, steps.len()), (StatusCode::OK, 3), "still stored");
    assert_eq!(steps[0]["data"]["tool_execution"]["params"], json!({"order": 990}), "its content is not blanked");
    assert!(expired_of(&report, "backdated", "content").is_empty() && expired_of(&report, "backdated", "steps").is_empty(), "{report}");
    assert_eq!(report["status"], "failed", "the tampering stays visible: {report}");
    let problems: Vec<(&str, &str)> = report["problems"].as_array().unwrap().iter().map(|p| (p["kind"].as_str().unwrap(), p["session_id"].as_str().unwrap_or(""))).collect();
    assert_eq!(problems, [("column_changed", "backdated"); 3], "each step's ts: {report}");
}

/// The kinds of the problems a verification report names, and for which
/// session each.
fn problems_of(report: &Value) -> Vec<(String, String)> {
    let named = report["problems"].as_array().into_iter().flatten();
    named.map(|p| (p["kind"].as_str().unwrap_or("").to_string(), p["session_id"].as_str().unwrap_or("").to_string())).collect()
}

/// An erased field is lawful only under a record: a signed erasure record
/// covering its session or user (or a content expiry listing it). Blanked
/// behind Flightlog's back, with its field hash put in `erased` (anyone
/// can compute it), or with its erasure's record removed or forged, it is
/// named by verification; before, it read as a lawful erasure.
#[tokio::test]
async fn an_erased_field_no_signed_record_covers_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(dir.path(), "100").await;
    let mut batch = session("erased", 0, 2, "u-1");
    batch.extend(session("record-removed", 0, 3, "u-2"));
    batch.extend(session("kept", 0, 2, "u-3"));
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&batch), &[]).await.1["accepted"], 7);
    for (body, steps) in [(json!({"session_id": "erased", "reason": "asked"}), 2), (json!({"user_id": "u-2", "reason": "asked"}), 3)] {
        let (status, done) = s.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/erasures", body).await;
        assert_eq!((status, done["steps_erased"].as_u64()), (StatusCode::OK, Some(steps)), "{done}");
    }
    let (_, report) = s.get(ADMIN_KEY, "/v1/integrity/verify").await;
    assert_eq!((report["status"].as_str(), problems_of(&report)), (Some("intact_not_yet_sealed"), vec![]), "lawful erasures verify: {report}");
    // A step of the erased session logged after its erasure.
    let late = session("erased", 0, 3, "u-1").pop().unwrap();
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&[late]), &[]).await.1["accepted"], 1);
    s.terminate();

    // The record of u-2's erasure removed, and one not signed by the
    // instance written in its place; and the late step's params blanked
    // as an erasure blanks them (its field hash kept), which the session's
    // record, signed with the log position it reached, does not cover.
    for statement in [
        "ALTER TABLE erasures DELETE WHERE user_id = 'u-2' SETTINGS mutations_sync = 2",
        "ALTER TABLE steps UPDATE \
         erased = map('[\"tool_execution\",\"params\"]', SHA256(concat('flightlog/field/v1', char(0), '[\"tool_execution\",\"params\"]', char(0), tool_params))), \
         raw = replaceOne(raw, '\"tool_execution\":{', '\"tool_execution\":{\"params\":null,'), tool_params = '' \
         WHERE session_id = 'erased' AND step = 2 SETTINGS mutations_sync = 2",
        "INSERT INTO erasures (project, at_us, session_id, user_id, reason, by_key, steps_erased, fields_erased, signature, log_through) \
         VALUES ('default', 1, '', 'u-2', 'asked', 'someone', 3, 3, '00', -1)",
    ] {
        let out = flightlog_sql(dir.path(), statement);
        assert!(out.status.success(), "{statement}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let mut s = serve(dir.path(), "100").await;
    let (_, report) = s.get(ADMIN_KEY, "/v1/integrity/verify").await;
    assert_eq!(report["status"], "failed", "{report}");
    let unrecorded = |session: &str| ("erased_without_record".to_string(), session.to_string());
    let mut wanted = vec![unrecorded("erased")];
    wanted.extend(vec![unrecorded("record-removed"); 3]);
    assert_eq!(problems_of(&report), wanted, "the late step, and each of u-2's: {report}");
    assert!(report["problems"][0]["detail"].as_str().unwrap().contains("no signed erasure"), "{report}");
    let (_, one) = s.get(ADMIN_KEY, "/v1/sessions/record-removed/verify").await;
    assert_eq!((one["status"].as_str(), problems_of(&one).len()), (Some("failed"), 3), "{one}");
    let (_, other) = s.get(ADMIN_KEY, "/v1/sessions/erased/verify").await;
    let steps: Vec<u64> = other["problems"].as_array().unwrap().iter().map(|p| p["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, [2], "the steps its record covers still verify; the late one does not: {other}");
    // The decision page's check of one step says it too.
    let (_, page) = s.page(ADMIN_KEY, "/sessions/record-removed/steps/1").await;
    assert!(page.contains("erased_without_record") || page.contains("no signed erasure"), "the decision page names it");
    // And its evidence bundle, checked offline with the instance's key.
    let (_, key) = s.get(ADMIN_KEY, "/v1/integrity/public-key").await;
    let key = key["public_key"].as_str().unwrap().to_string();
    for (session, lawful) in [("kept", true), ("record-removed", false)] {
        let resp = s.http.get(format!("{}/v1/sessions/{session}/evidence", s.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
        let path = dir.path().join(format!("{session}.json"));
        std::fs::write(&path, resp.bytes().await.unwrap()).unwrap();
        let out = std::process::Command::new(binary()).arg("verify-bundle").arg(&path).args(["--public-key", &key]).output().unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let kinds: Vec<String> = problems_of(&report).into_iter().map(|(k, _)| k).collect();
        match lawful {
            true => assert!(out.status.success() && kinds.is_empty(), "{session}: {report:#}"),
            false => assert_eq!((out.status.success(), kinds), (false, vec!["erased_without_record".to_string(); 3]), "{report:#}"),
        }
    }
    s.terminate();

    // The offline verifier of the folder, with the instance's key.
    let out = std::process::Command::new(binary())
        .args(["verify", "--all", "--data-dir"])
        .arg(dir.path())
        .envs(store_env(dir.path()))
        .output()
        .unwrap();
    let offline: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(!out.status.success(), "{offline}");
    assert_eq!(problems_of(&offline), wanted, "{offline}");
}

/// An erasure is recorded before anything is blanked, so a kill -9 in the
/// middle of one leaves a record whose erasure the restarted writer
/// finishes: every step it covers erased, none left half done, and the
/// record of who asked and why kept once.
#[tokio::test]
async fn an_erasure_cut_short_by_kill_9_is_finished_at_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(dir.path(), "100").await;
    const STEPS: u64 = 4000;
    for first in (0..STEPS).step_by(1000) {
        let batch: Vec<Value> = session("big", 0, STEPS, "u-big").into_iter().skip(first as usize).take(1000).collect();
        assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&batch), &[]).await.1["accepted"], 1000);
    }
    // Steps logged after the erasure are not covered by it: they keep
    // their content at the restart.
    let erase = {
        let (http, url) = (s.http.clone(), format!("{}/v1/erasures", s.base));
        tokio::spawn(async move {
            http.post(url).bearer_auth(ADMIN_KEY).json(&json!({"user_id": "u-big", "reason": "ticket 12"})).send().await.map(|r| r.status())
        })
    };
    // Killed as soon as its record is kept.
    let deadline = Instant::now() + Duration::from_secs(60);
    let kept = loop {
        let (_, list) = s.get(ADMIN_KEY, "/v1/erasures").await;
        if list["erasures"].as_array().is_some_and(|e| !e.is_empty()) {
            break list;
        }
        assert!(Instant::now() < deadline && !erase.is_finished(), "the erasure's record was not kept first: {list}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    s.kill9();
    assert!(erase.await.unwrap().is_err(), "the erasure was not answered: it was cut short");
    let unerased = |dir: &std::path::Path| {
        let out = flightlog_sql(dir, "SELECT count() FROM steps WHERE session_id = 'big' AND empty(erased) FORMAT TSV");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let printed = String::from_utf8_lossy(&out.stdout);
        printed.trim().parse::<u64>().unwrap_or_else(|e| panic!("{e}: {printed:?} {}", String::from_utf8_lossy(&out.stderr)))
    };
    let left = unerased(dir.path());
    assert!(left > 0, "the kill came before the erasure ended ({left} of {STEPS} steps left)");
    // Read before the kill, so before the erasure ended: in progress.
    assert_eq!(kept["erasures"][0]["finished"].as_bool(), Some(false), "{kept}");

    let mut s = serve(dir.path(), "100").await;
    // The late step is logged after the record: its content stays.
    let late = json!({"session_id": "big", "step": STEPS, "timestamp": days_ago(0, 0), "user_id": "u-big",
                      "tool_execution": {"name": "lookup_order", "params": {"order": 1}, "result": {"status": "late"}}});
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&[late]), &[]).await.1["accepted"], 1);
    // Its last step is blanked last.
    let page = wait_for(&s, &format!("/v1/sessions/big/steps?limit=2&after={}", STEPS - 2), Duration::from_secs(120), |p| {
        p["steps"][0]["data"]["tool_execution"]["params"].is_null()
    })
    .await;
    assert_eq!(page["steps"][1]["data"]["tool_execution"]["result"], json!({"status": "late"}), "logged after the erasure: {page}");
    // Marked finished once its last step is blanked.
    let list = wait_for(&s, "/v1/erasures", Duration::from_secs(30), |l| l["erasures"][0]["finished"] == true).await;
    let records = list["erasures"].as_array().unwrap();
    assert_eq!((records.len(), records[0]["reason"].as_str(), records[0]["signed"].as_bool()), (1, Some("ticket 12"), Some(true)), "{list}");
    let report = wait_verified(&s, Duration::from_secs(30), |r| r["status"] != "failed").await;
    assert_eq!(problems_of(&report), vec![], "{report}");
    s.terminate();
    assert_eq!(unerased(dir.path()), 1, "every step it covers is erased, and only the late one is not");
}

/// A content expiry cut short between the blanking and its record (the
/// record deleted here, which is what a crash between them leaves) is
/// finished by a later run: the session is still due, its only problems
/// are the fields blanked without a record, and the expiry signs for them.
/// It was passed over for good instead, its record never written, once
/// verification began to require one.
#[tokio::test]
async fn a_content_expiry_cut_short_before_its_record_is_finished() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(dir.path(), "100").await;
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&session("cut", 10, 3, "u-1")), &[]).await.1["accepted"], 3);
    assert_eq!(put(&s, "/v1/policies/retention", json!({"content_days": 1, "steps_days": 30})).await.0, StatusCode::OK);
    wait_verified(&s, Duration::from_secs(60), |r| !expired_of(r, "cut", "content").is_empty()).await;
    s.terminate();
    let out = flightlog_sql(dir.path(), "ALTER TABLE expirations DELETE WHERE session_id = 'cut' SETTINGS mutations_sync = 2");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let s = serve(dir.path(), "100").await;
    let report = wait_verified(&s, Duration::from_secs(60), |r| !expired_of(r, "cut", "content").is_empty()).await;
    assert_eq!((report["status"].as_str(), problems_of(&report)), (Some("verified"), vec![]), "{report}");
    let (_, steps) = steps_of(&s, "cut").await;
    assert!(steps.iter().all(|st| st["data"]["tool_execution"]["params"].is_null()), "still blanked: {steps:?}");
}
