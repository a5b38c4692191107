//! The policies page (`/policies`) and redaction tokens in the web UI: an
//! admin sets the project's retention (and is warned under six months),
//! its redaction and its legal holds through forms, a refused form comes
//! back with the field named, other keys are refused; and on a step's
//! pages, what redaction replaced is marked as such.

use flightlog_tests::*;

#[tokio::test]
async fn an_admin_sets_retention_and_is_warned_under_six_months() {
    let s = Server::start().await;
    let admin = Browser::sign_in(&s, ADMIN_KEY).await;
    let (status, page) = admin.get("/policies").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Not set: everything is kept."), "{page}");

    let (status, to, _) = admin.post("/policies/retention", &[("content_days", "30"), ("steps_days", "400")]).await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/policies?saved=retention"));
    let (_, page) = admin.get(&to).await;
    assert!(page.contains("Retention policy saved"), "{page}");
    assert!(page.contains("name=\"content_days\"") && page.contains("value=\"30\"") && page.contains("value=\"400\""), "{page}");
    let warning = page.split("class=\"warning\"").nth(1).expect("a warning is shown");
    assert!(warning.contains("content_days is 30 days, under six months"), "{warning}");
    assert_eq!(page.matches("class=\"warning\"").count(), 1, "400 days is over six months");
    let (_, in_force) = s.get(ADMIN_KEY, "/v1/policies/retention").await;
    assert_eq!(in_force["policy"], json!({"content_days": 30, "steps_days": 400}));

    // Refused: the page again (400), the field named, what was sent kept,
    // and the policy in force unchanged.
    let (status, _, page) = admin.post("/policies/retention", &[("content_days", "500"), ("steps_days", "400")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("id=\"retention-problem\""), "{page}");
    assert!(page.contains("content_days: is 500 days, longer than steps_days (400)"), "{page}");
    assert!(page.contains("value=\"500\""), "what was sent is kept: {page}");
    let (status, _, page) = admin.post("/policies/retention", &[("content_days", ""), ("steps_days", "a year")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("steps_days: must be a whole number of days"), "{page}");
    assert_eq!(s.get(ADMIN_KEY, "/v1/policies/retention").await.1["policy"], json!({"content_days": 30, "steps_days": 400}));

    // Emptied: kept forever, no warning.
    let (status, _, _) = admin.post("/policies/retention", &[("content_days", ""), ("steps_days", "")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = admin.get("/policies").await;
    assert!(!page.contains("class=\"warning\""), "{page}");
    assert_eq!(s.get(ADMIN_KEY, "/v1/policies/retention").await.1["policy"], json!({"content_days": null, "steps_days": null}));
}

#[tokio::test]
async fn an_admin_places_and_releases_legal_holds() {
    let s = Server::start().await;
    let admin = Browser::sign_in(&s, ADMIN_KEY).await;
    // An id with spaces around it is refused, not trimmed: " cust-a " and
    // "cust-a" are two sessions, and a hold on the wrong one leaves the
    // other erasable.
    let (status, _, page) =
        admin.post("/policies/holds", &[("subject", "session"), ("id", " cust-a "), ("reason", "litigation <case 114>")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("id: &#34; cust-a &#34; has spaces around it"), "{page}");
    assert!(s.get(ADMIN_KEY, "/v1/legal-holds").await.1["holds"].as_array().unwrap().is_empty(), "nothing held");
    let (status, to, _) =
        admin.post("/policies/holds", &[("subject", "session"), ("id", "cust-a"), ("reason", "litigation <case 114>")]).await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/policies?saved=hold-placed"));
    assert_eq!(admin.post("/policies/holds", &[("subject", "user"), ("id", "customer-9"), ("reason", "")]).await.0, StatusCode::SEE_OTHER);

    let (_, holds) = s.get(ADMIN_KEY, "/v1/legal-holds").await;
    let mut held: Vec<(String, String)> =
        holds["holds"].as_array().unwrap().iter().map(|h| (h["subject"].as_str().unwrap().into(), h["id"].as_str().unwrap().into())).collect();
    held.sort();
    assert_eq!(held, [("session".to_string(), "cust-a".to_string()), ("user".into(), "customer-9".into())]);
    let (_, page) = admin.get("/policies").await;
    assert_eq!(page.matches("<tr class=\"hold\">").count(), 2, "{page}");
    // Named once in the header, not also as a link to itself.
    assert!(page.contains("<strong>Policies</strong>") && !page.contains("<a href=\"/policies\""), "{page}");
    assert!(page.contains("<a href=\"/access-log\""), "{page}");
    assert!(page.contains("litigation &#60;case 114&#62;"), "escaped: {page}");
    assert!(page.contains("href=\"/sessions/cust-a\"") && page.contains("href=\"/sessions?user=customer-9\""), "{page}");

    let (status, to, _) = admin.post("/policies/holds/release", &[("subject", "session"), ("id", "cust-a")]).await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/policies?saved=hold-released"));
    let (_, holds) = s.get(ADMIN_KEY, "/v1/legal-holds").await;
    assert_eq!(holds["holds"].as_array().unwrap().len(), 1, "{holds}");
    let (_, page) = admin.get("/policies?saved=hold-released").await;
    assert!(page.contains("Legal hold released") && page.matches("<tr class=\"hold\">").count() == 1, "{page}");

    // Refused: a hold that is not there (404), a hold without an id (400).
    let (status, _, page) = admin.post("/policies/holds/release", &[("subject", "session"), ("id", "cust-a")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("id=\"holds-problem\"") && page.contains("no legal hold on session"), "{page}");
    let (status, _, page) = admin.post("/policies/holds", &[("subject", "user"), ("id", "  "), ("reason", "keep me")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("id: is required"), "{page}");
    assert!(page.contains("value=\"keep me\""), "what was sent is kept: {page}");
}

#[tokio::test]
async fn only_admin_keys_see_or_change_policies_and_only_from_their_own_page() {
    let s = Server::start().await;
    let reader_key = s.create_key("default", &["read"]).await;
    let reader = Browser::sign_in(&s, &reader_key).await;
    let (status, body) = reader.get("/policies").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("admin scope"), "{body}");
    // Nor is it offered them: the header's admin links are an admin's
    // (every page linked to it and to the access log, each a 403).
    let step = json!({"session_id": "links", "step": 0, "timestamp": "2026-03-03T10:00:00Z"});
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&[step]), &[]).await.1["accepted"], 1);
    for page in ["/", "/sessions", "/costs", "/incidents", "/search", "/sessions/links", "/sessions/links/steps/0"] {
        let (status, body) = reader.get(page).await;
        assert_eq!(status, StatusCode::OK, "{page}: {body}");
        assert!(body.contains("Sign out") && !body.contains("href=\"/policies\"") && !body.contains("href=\"/access-log\""), "{page}: {body}");
    }
    let (status, _, _) = reader.post("/policies/retention", &[("content_days", "1")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(s.get(ADMIN_KEY, "/v1/policies/retention").await.1["set_at"].is_null(), "nothing was set");

    // Signed out: to the sign-in form.
    let (status, to, _) = Browser { s: &s, cookie: String::new(), http: no_redirects() }.post_as_is("/policies/retention", &[]).await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/login"));

    // An admin's form without the session's token, or from another site.
    let admin = Browser::sign_in(&s, ADMIN_KEY).await;
    let (_, body) = admin.get("/sessions").await;
    assert!(body.contains("href=\"/policies\"") && body.contains("href=\"/access-log\""), "an admin is offered both: {body}");
    let (status, _, _) = admin.post_as_is("/policies/retention", &[("content_days", "1"), ("csrf", "forged")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let token = admin.token().await;
    let resp = admin
        .http
        .post(format!("{}/policies/holds", s.base))
        .header("cookie", &admin.cookie)
        .header("origin", "https://evil.example")
        .form(&[("subject", "session"), ("id", "x"), ("csrf", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(s.get(ADMIN_KEY, "/v1/legal-holds").await.1["holds"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn an_admin_sets_redaction_and_what_it_replaced_is_marked_on_the_timeline() {
    let s = Server::start().await;
    let admin = Browser::sign_in(&s, ADMIN_KEY).await;
    let (_, page) = admin.get("/policies").await;
    assert!(page.contains("The server&#39;s default") || page.contains("The server's default"), "{page}");
    assert_eq!(page.matches("name=\"kinds\"").count(), 7, "{page}");

    // The server's default: pseudonyms.
    let step = json!({"session_id": "red-1", "step": 0, "timestamp": "2026-03-01T10:00:00Z",
        "agent_thoughts": {"reasoning": "<script>alert(1)</script> wrote to jane.doe@example.com about ORD-123456"},
        // Text that only looks like a token: not marked as Flightlog's.
        "tool_execution": {"name": "wire", "params": {"to": "[IBAN:1a2b3c]"}}});
    assert_eq!(s.post_steps(ADMIN_KEY, step.to_string(), &[]).await.0, StatusCode::OK);
    let (status, timeline) = admin.get("/sessions/red-1").await;
    assert_eq!(status, StatusCode::OK, "{timeline}");
    assert!(!timeline.contains("jane.doe"), "{timeline}");
    assert!(!timeline.contains("<script>alert"), "escaped as before: {timeline}");
    assert!(timeline.contains("&#60;script&#62;alert(1)&#60;/script&#62; wrote to <mark class=\"redacted\" title=\"email address redacted at ingestion"), "{timeline}");
    assert_eq!(timeline.matches("<mark class=\"redacted\"").count(), 1, "{timeline}");
    let token = timeline.split("\">[EMAIL:").nth(1).and_then(|t| t.split("]</mark>").next()).expect("a marked pseudonym");
    assert!(token.len() == 6 && token.chars().all(|c| c.is_ascii_hexdigit()), "{token}");
    let (_, decision) = admin.get("/sessions/red-1/steps/0").await;
    assert!(decision.contains("\">[EMAIL:") && decision.contains("<mark class=\"redacted\""), "{decision}");
    // The email twice (the goal is this first step's reasoning), the
    // look-alike not at all.
    assert_eq!(decision.matches("<mark class=\"redacted\"").count(), 2, "{decision}");
    assert!(decision.contains("&#34;[IBAN:1a2b3c]&#34;") && !decision.contains("[IBAN:1a2b3c]</mark>"), "{decision}");

    // Refused: a pattern that is not a regular expression, named; the form as sent.
    let form = |custom: &'static str| {
        vec![("kinds", "email"), ("kinds", "card"), ("replacement", "mask"), ("custom", custom), ("drop_paths", ""), ("keep_paths", "")]
    };
    let (status, _, page) = admin.post("/policies/redaction", &form("order_ref=ORD-[0-9")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("id=\"redaction-problem\"") && page.contains("custom: custom pattern `order_ref` is not a valid regular expression"), "{page}");
    assert!(page.contains("order_ref=ORD-[0-9</textarea>"), "what was sent is kept: {page}");
    assert!(page.contains("value=\"mask\" checked"), "{page}");
    assert!(page.contains("value=\"phone\">"), "phone was not ticked: {page}");

    let (status, to, _) = admin.post("/policies/redaction", &form("order_ref=ORD-[0-9]{6}")).await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/policies?saved=redaction"));
    let (_, in_force) = s.get(ADMIN_KEY, "/v1/policies/redaction").await;
    assert_eq!(in_force["source"], "project", "{in_force}");
    assert_eq!(in_force["policy"]["kinds"], json!(["email", "card"]), "{in_force}");
    assert_eq!(in_force["policy"]["custom"], json!([{"name": "order_ref", "regex": "ORD-[0-9]{6}"}]), "{in_force}");
    let (_, page) = admin.get("/policies").await;
    assert!(page.contains("This project&#39;s own policy") || page.contains("This project's own policy"), "{page}");
    assert!(page.contains("order_ref=ORD-[0-9]{6}</textarea>"), "{page}");

    let step = json!({"session_id": "red-2", "step": 0, "timestamp": "2026-03-01T10:00:00Z",
        "tool_execution": {"name": "send_email", "params": {"to": "jane.doe@example.com", "about": "ORD-123456"}}});
    assert_eq!(s.post_steps(ADMIN_KEY, step.to_string(), &[]).await.0, StatusCode::OK);
    let (_, timeline) = admin.get("/sessions/red-2").await;
    assert!(timeline.contains("\">[EMAIL]</mark>") && timeline.contains("\">[CUSTOM:order_ref]</mark>"), "{timeline}");
    assert!(timeline.contains("title=\"matched the project&#39;s pattern order_ref") || timeline.contains("title=\"matched the project's pattern order_ref"), "{timeline}");
}
