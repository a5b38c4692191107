//! The decision page of the web UI, over HTTP: sign-in and its cookie, the
//! integrity verdict, and agent text rendered as text, never as HTML.

use flightlog_tests::*;
use reqwest::Method;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn sign_in(s: &Server, key: &str) -> (StatusCode, Option<String>) {
    let resp = no_redirects().post(format!("{}/login", s.base)).form(&[("key", key)]).send().await.unwrap();
    let cookie = resp.headers().get("set-cookie").map(|c| c.to_str().unwrap().to_string());
    (resp.status(), cookie)
}

async fn page(s: &Server, cookie: &str, path: &str) -> (StatusCode, String) {
    let resp = no_redirects().get(format!("{}{path}", s.base)).header("cookie", cookie).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

#[tokio::test]
async fn the_decision_page_shows_the_why_and_its_integrity_and_escapes_agent_text() {
    let s = Server::start().await;
    let hostile = json!({"session_id": "xss", "step": 1, "timestamp": "2026-01-15T10:30:00Z",
        "agent": {"name": "loan-assistant", "version": "2.3.0"},
        "agent_thoughts": {"reasoning": "<script>alert('pwned')</script> refuse the loan", "considered_tools": ["approve", "refuse"],
                           "chosen_tool": "refuse", "confidence": 0.8},
        "tool_execution": {"name": "refuse", "params": {"id": "<b>7</b>"}, "result": {"note": "<img src=x onerror=alert(1)>"}, "status": "ok"},
        "model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06", "seed": 42, "temperature": 0.2}});
    let first = json!({"session_id": "xss", "step": 0, "timestamp": "2026-01-15T10:29:00Z",
        "prompt": {"messages": [{"role": "user", "content": "Should customer 77 get the loan?"}]}});
    s.post_steps(ADMIN_KEY, ndjson(&[first, hostile]), &[]).await;

    let resp = no_redirects().get(format!("{}/sessions/xss/steps/1", s.base)).send().await.unwrap();
    assert!(resp.status().is_redirection(), "signed out: sent to sign in");
    assert_eq!(sign_in(&s, "wrong-key").await.0, StatusCode::UNAUTHORIZED);
    let ingest_only = s.create_key("default", &["ingest"]).await;
    assert_eq!(sign_in(&s, &ingest_only).await.0, StatusCode::UNAUTHORIZED, "the read scope is needed");

    let (status, cookie) = sign_in(&s, ADMIN_KEY).await;
    assert!(status.is_redirection());
    let cookie = cookie.expect("a cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let cookie = cookie.split(';').next().unwrap().to_string();

    let (status, html) = page(&s, &cookie, "/sessions/xss/steps/1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Should customer 77 get the loan?"), "the goal is shown");
    assert!(html.contains("refuse (chosen)") && html.contains("80%"), "alternatives and confidence");
    assert!(html.contains("2024-08-06") && html.contains("42"), "exact model settings");
    assert!(html.contains("not yet sealed"), "before a checkpoint the step is not verified");
    assert!(!html.contains("<script>alert") && !html.contains("<img src=x"), "agent text never becomes HTML");
    let escaped = |text: &str| html.contains(&text.replace('<', "&lt;").replace('>', "&gt;")) || html.contains(&text.replace('<', "&#60;").replace('>', "&#62;"));
    assert!(escaped("<script>alert") && escaped("<img src=x"), "it is shown as text");

    assert_eq!(s.send_json(Method::POST, ADMIN_KEY, "/v1/integrity/checkpoints", json!(null)).await.0, StatusCode::CREATED);
    let (_, html) = page(&s, &cookie, "/sessions/xss/steps/1").await;
    assert!(html.contains("badge ok\">verified") && html.contains("sealed by the checkpoint of 2 steps"), "after sealing");

    let (status, bundle) = page(&s, &cookie, "/sessions/xss/evidence").await;
    assert_eq!(status, StatusCode::OK);
    assert!(bundle.starts_with("{\"checkpoint\":"), "the canonical bundle");
    let (status, home) = page(&s, &cookie, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains("href=\"/sessions/xss\""), "the sessions list links the session");
    let (status, timeline) = page(&s, &cookie, "/sessions/xss").await;
    assert_eq!(status, StatusCode::OK);
    assert!(timeline.contains("/sessions/xss/steps/1") && !timeline.contains("<script>alert"), "timeline links, escaped");
    assert_eq!(page(&s, &cookie, "/sessions/xss/steps/9").await.0, StatusCode::NOT_FOUND);
}
