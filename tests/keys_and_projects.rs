//! API keys, scopes and project isolation, through the real binary.

use flightlog_tests::*;
use reqwest::Method;

#[tokio::test]
async fn requests_without_a_valid_key_are_refused() {
    let s = Server::start().await;
    let resp = s.http.get(format!("{}/v1/sessions", s.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("Authorization: Bearer"));
    assert_eq!(s.get("fl_nothing_here", "/v1/sessions").await.0, StatusCode::UNAUTHORIZED);
    // /healthz is the one open endpoint.
    assert_eq!(s.http.get(format!("{}/healthz", s.base)).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn scopes_limit_what_a_key_can_do() {
    let s = Server::start().await;
    let ingest = s.create_key("default", &["ingest"]).await;
    let read = s.create_key("default", &["read"]).await;
    assert!(ingest.starts_with("fl_"));

    assert_eq!(s.post_steps(&ingest, step("a", 0).to_string(), &[]).await.0, StatusCode::OK);
    assert_eq!(s.get(&ingest, "/v1/sessions").await.0, StatusCode::FORBIDDEN);
    assert_eq!(s.post_steps(&read, step("a", 1).to_string(), &[]).await.0, StatusCode::FORBIDDEN);
    let (status, body) = s.get(&read, "/v1/sessions").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["sessions"][0]["session_id"], "a");
    let (status, body) = s.send_json(Method::POST, &read, "/v1/keys", json!({"scopes": ["read"]})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["error"]["message"].as_str().unwrap().contains("admin"));

    let (status, body) = s.send_json(Method::POST, ADMIN_KEY, "/v1/keys", json!({"scopes": ["superuser"]})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("scopes")));
}

#[tokio::test]
async fn a_key_never_sees_or_touches_another_projects_data() {
    let s = Server::start().await;
    let alpha = s.create_key("alpha", &["ingest", "read"]).await;
    let beta = s.create_key("beta", &["ingest", "read"]).await;

    let mut a = step("shared-id", 0);
    a["agent_thoughts"] = json!({"reasoning": "alpha's secret"});
    let mut b = step("shared-id", 0);
    b["agent_thoughts"] = json!({"reasoning": "beta's secret"});
    assert_eq!(s.post_steps(&alpha, a.to_string(), &[]).await.1["accepted"], 1);
    // The same session id and step in another project is a different step,
    // not a conflict.
    assert_eq!(s.post_steps(&beta, b.to_string(), &[]).await.1["accepted"], 1);
    s.post_steps(&beta, step("beta-only", 0).to_string(), &[]).await;

    let alpha_steps = s.all_steps(&alpha, "shared-id", 10).await;
    assert_eq!(alpha_steps.len(), 1);
    assert_eq!(alpha_steps[0]["data"]["agent_thoughts"]["reasoning"], "alpha's secret");
    let (_, list) = s.get(&alpha, "/v1/sessions").await;
    let ids: Vec<&str> = list["sessions"].as_array().unwrap().iter().map(|x| x["session_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["shared-id"]);
    assert_eq!(s.get(&alpha, "/v1/sessions/beta-only").await.0, StatusCode::NOT_FOUND);
    assert_eq!(s.get(&alpha, "/v1/sessions/beta-only/steps").await.0, StatusCode::NOT_FOUND);
    // The admin key belongs to `default`, which holds neither.
    assert_eq!(s.get(ADMIN_KEY, "/v1/sessions").await.1["sessions"], json!([]));
}

#[tokio::test]
async fn a_revoked_key_stops_working_at_once() {
    let s = Server::start().await;
    let key = s.create_key("default", &["read"]).await;
    assert_eq!(s.get(&key, "/v1/sessions").await.0, StatusCode::OK);
    let (_, list) = s.get(ADMIN_KEY, "/v1/keys").await;
    let id = list["keys"].as_array().unwrap().iter().find(|k| k["scopes"] == json!(["read"])).unwrap()["key_id"].clone();
    let id = id.as_str().unwrap();
    assert!(!list.to_string().contains(&key[16..]), "secrets are never listed");
    let (status, _) = s.send_json(Method::DELETE, ADMIN_KEY, &format!("/v1/keys/{id}"), json!(null)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.get(&key, "/v1/sessions").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(s.send_json(Method::DELETE, ADMIN_KEY, "/v1/keys/nope", json!(null)).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn without_a_bootstrap_key_an_admin_key_is_generated_and_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &[]).await;
    let (status, out) = s.terminate();
    assert!(status.success());
    let key = out.lines().map(str::trim).find(|l| l.starts_with("fl_")).expect("generated key printed").to_string();

    let mut s = Server::start_in(dir.path(), &[]).await;
    assert_eq!(s.get(&key, "/v1/keys").await.0, StatusCode::OK, "the printed key is an admin key");
    let (_, out) = s.terminate();
    assert!(!out.contains("fl_"), "printed only at first start: {out}");
}
