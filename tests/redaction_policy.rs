//! A project's own redaction policy (issue 13): set through the API or the
//! CLI, checked before it is in force, applied to the steps that arrive
//! after it, and to that project only. The CLI also sets retention (with
//! its warning) and legal holds.

use flightlog_tests::*;
use std::process::Command;

fn flightlog(server: &Server, key: &str, args: &[&str]) -> std::process::Output {
    Command::new(binary()).args(args).env("FLIGHTLOG_URL", &server.base).env("FLIGHTLOG_KEY", key).env("FLIGHTLOG_LOG", "warn").output().expect("run flightlog")
}

async fn put_policy(s: &Server, key: &str, body: Value) -> (StatusCode, Value) {
    s.send_json(reqwest::Method::PUT, key, "/v1/policies/redaction", body).await
}

fn leaky(session: &str) -> Value {
    json!({"session_id": session, "step": 0, "timestamp": "2026-11-30T10:00:00Z",
        "agent_thoughts": {"reasoning": "mail jane@example.com about ORD-123456, card 4111 1111 1111 1111"},
        "tool_execution": {"name": "send_email", "params": {"to": "jane@example.com"}, "result": {"body": "the whole reply"}}})
}

#[tokio::test]
async fn a_project_policy_is_checked_then_applies_to_that_project_only() {
    let s = Server::start().await;
    let (status, default) = s.get(ADMIN_KEY, "/v1/policies/redaction").await;
    assert_eq!(status, StatusCode::OK, "{default}");
    assert_eq!((default["source"].as_str(), default["policy"]["replacement"].as_str()), (Some("server_default"), Some("pseudonym")));
    assert_eq!(default["policy"]["kinds"].as_array().map(Vec::len), Some(7), "every built-in kind: {default}");

    let reader = s.create_key("default", &["read", "ingest"]).await;
    let (status, _) = s.get(&reader, "/v1/policies/redaction").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "admin only");
    let (status, _) = put_policy(&s, &reader, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Refused, naming what is wrong, and nothing changes.
    for (body, field) in [
        (json!({"custom": [{"name": "order", "regex": "ORD-[0-9"}]}), "custom"),
        (json!({"custom": [{"name": "any", "regex": "x*"}]}), "custom"),
        (json!({"drop_paths": ["tool_execution/result"]}), "drop_paths"),
        // A session's identity, step numbers, times and numbers are kept as
        // sent: a drop of one, or of what holds one, would merge sessions or
        // refuse steps; so would a drop of an object or list of the schema.
        (json!({"drop_paths": ["/session_id"]}), "drop_paths"),
        (json!({"drop_paths": ["/tool_execution/result", "/step"]}), "drop_paths"),
        (json!({"drop_paths": ["/timestamp"]}), "drop_paths"),
        (json!({"drop_paths": ["/model"]}), "drop_paths"),
        (json!({"drop_paths": ["/model/temperature"]}), "drop_paths"),
        (json!({"drop_paths": ["/tags"]}), "drop_paths"),
        (json!({"drop_paths": ["/*"]}), "drop_paths"),
        (json!({"drop_paths": ["/prompt"]}), "drop_paths"),
        (json!({"drop_paths": ["/metadata"]}), "drop_paths"),
        // Identifiers, names and statuses too, as the README promises: a
        // user erased by id must be found by it, a failed step stay failed.
        (json!({"drop_paths": ["/user_id"]}), "drop_paths"),
        (json!({"drop_paths": ["/tool_execution/status"]}), "drop_paths"),
        (json!({"drop_paths": ["/tags/0"]}), "drop_paths"),
    ] {
        let (status, refused) = put_policy(&s, ADMIN_KEY, body.clone()).await;
        assert_eq!((status, refused["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{body}: {refused}");
    }
    let (_, refused) = put_policy(&s, ADMIN_KEY, json!({"drop_paths": ["/model"]})).await;
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("`/model`") && message.contains("needs as sent"), "names the path and why: {refused}");
    let (status, refused) = put_policy(&s, ADMIN_KEY, json!({"kinds": ["email", "passport"]})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let (status, refused) = put_policy(&s, ADMIN_KEY, json!({"replacement": "pseudonym", "secret": "mine"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the pseudonym key is Flightlog's: {refused}");
    let (_, still) = s.get(ADMIN_KEY, "/v1/policies/redaction").await;
    assert_eq!(still["source"], "server_default");

    let policy = json!({"kinds": ["email"], "custom": [{"name": "order", "regex": "ORD-[0-9]{6}"}],
        "drop_paths": ["/tool_execution/result"], "keep_paths": [], "replacement": "mask"});
    let (status, set) = put_policy(&s, ADMIN_KEY, policy.clone()).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!((set["source"].as_str(), &set["policy"]), (Some("project"), &policy), "{set}");
    assert!(set["set_at"].is_string() && set["set_by"].is_string(), "{set}");

    let (_, report) = s.post_steps(&reader, leaky("masked").to_string(), &[]).await;
    assert_eq!(report["accepted"], 1, "{report}");
    let step = &s.all_steps(ADMIN_KEY, "masked", 10).await[0]["data"];
    assert_eq!(step["agent_thoughts"]["reasoning"], "mail [EMAIL] about [CUSTOM:order], card 4111 1111 1111 1111", "cards are off here");
    assert_eq!(step["tool_execution"]["params"]["to"], "[EMAIL]");
    assert_eq!(step["tool_execution"]["result"], "[DROPPED]");

    // Another project keeps the server's default.
    let other = s.create_key("other", &["ingest", "read"]).await;
    s.post_steps(&other, leaky("default-policy").to_string(), &[]).await;
    let step = &s.all_steps(&other, "default-policy", 10).await[0]["data"];
    let reasoning = step["agent_thoughts"]["reasoning"].as_str().unwrap();
    assert!(reasoning.contains("[EMAIL:") && reasoning.contains("[CARD:") && reasoning.contains("ORD-123456"), "{reasoning}");
    assert_eq!(step["tool_execution"]["result"], json!({"body": "the whole reply"}));

    // Everything off: stored as sent.
    let (status, _) = put_policy(&s, ADMIN_KEY, json!({"kinds": []})).await;
    assert_eq!(status, StatusCode::OK);
    s.post_steps(&reader, leaky("off").to_string(), &[]).await;
    let step = &s.all_steps(ADMIN_KEY, "off", 10).await[0]["data"];
    assert_eq!(step["tool_execution"]["params"]["to"], "jane@example.com");
    assert!(step.get("redacted").is_none(), "{step}");

    // Inside the content, anything may be dropped.
    let (status, set) = put_policy(&s, ADMIN_KEY, json!({"kinds": [], "drop_paths": ["/prompt/messages", "/metadata/ssn"]})).await;
    assert_eq!(status, StatusCode::OK, "{set}");
}

#[tokio::test]
async fn the_cli_shows_and_sets_policies_and_holds() {
    let s = Server::start().await;
    let policy_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(policy_file.path(), r#"{"kinds": ["email", "secret"], "replacement": "mask"}"#).unwrap();
    let out = flightlog(&s, ADMIN_KEY, &["policy", "redaction", policy_file.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let set: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(set["policy"]["kinds"], json!(["email", "secret"]));

    let out = flightlog(&s, ADMIN_KEY, &["policy", "retention", "--content-days", "30", "--steps-days", "forever"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("warning: content_days is 30 days, under six months"), "{stderr}");
    let out = flightlog(&s, ADMIN_KEY, &["policy", "show"]);
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["retention"]["policy"], json!({"content_days": 30, "steps_days": null}), "{shown}");
    assert_eq!(shown["redaction"]["source"], "project");
    let out = flightlog(&s, ADMIN_KEY, &["policy", "retention", "--content-days", "400", "--steps-days", "30"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("content cannot outlive its steps"), "{}", String::from_utf8_lossy(&out.stderr));

    let out = flightlog(&s, ADMIN_KEY, &["hold", "place", "--user", "jane doe/1", "--reason", "litigation 7"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = flightlog(&s, ADMIN_KEY, &["hold", "list"]);
    let holds: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(holds["holds"][0]["id"], "jane doe/1");
    assert_eq!(holds["holds"][0]["subject"], "user");
    assert_eq!(holds["holds"][0]["reason"], "litigation 7");
    let out = flightlog(&s, ADMIN_KEY, &["hold", "release", "--user", "jane doe/1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (_, holds) = s.get(ADMIN_KEY, "/v1/legal-holds").await;
    assert_eq!(holds["holds"], json!([]));
    let out = flightlog(&s, ADMIN_KEY, &["hold", "release", "--user", "jane doe/1"]);
    assert!(!out.status.success(), "nothing to release");
}
