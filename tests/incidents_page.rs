//! What the web UI shows of the detectors (issue 14): the incidents page
//! lists what they found, filtered by kind, and lets an admin acknowledge
//! an incident (a read-only key sees no buttons and is refused); a
//! session's timeline marks the step that repeats an action and
//! highlights a loop; the alert rules form refuses a short secret naming
//! the field and never shows a secret; the search page shows identical
//! decisions once. Agent text is escaped everywhere.

use flightlog_tests::*;
use std::time::{Duration, Instant};

/// A tool call that succeeded, by the support agent.
fn call(session: &str, n: u64, tool: &str, params: Value, result: &str) -> Value {
    json!({
        "session_id": session, "step": n,
        "timestamp": format!("2026-01-15T10:30:{n:02}Z"),
        "agent": {"name": "support-bot"},
        "agent_thoughts": {"reasoning": format!("step {n} of {session}")},
        "tool_execution": {"name": tool, "params": params, "result": result, "status": "ok"},
    })
}

/// The email sent twice, a loop A→B→A→B→A→B with the same results each
/// turn, and a side effect repeated by a tool whose name is markup.
fn sessions() -> Vec<Value> {
    let email = json!({"to": "customer@example.com", "subject": "Your refund"});
    let mut out = vec![call("mail-1", 0, "send_email", email.clone(), "sent"), call("mail-1", 1, "send_email", email, "sent")];
    for n in 0..6 {
        let (tool, params) = if n % 2 == 0 { ("get_ticket", json!({"id": 7})) } else { ("check_queue", json!({})) };
        out.push(call("loop-1", n, tool, params, "unchanged"));
    }
    for n in 0..2 {
        out.push(call("xss-1", n, "send_<script>alert(1)</script>", json!({"to": "x"}), "ok"));
    }
    out
}

/// Polls `GET /v1/incidents` until an incident of each (kind, session)
/// is listed; returns the incidents.
async fn incidents_of(s: &Server, want: &[(&str, &str)]) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, page) = s.get(ADMIN_KEY, "/v1/incidents?limit=100").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let found = page["incidents"].as_array().cloned().unwrap_or_default();
        let listed = |(kind, session): &(&str, &str)| found.iter().any(|i| i["kind"] == *kind && i["sessions"][0] == *session);
        if want.iter().all(listed) {
            return found;
        }
        assert!(Instant::now() < deadline, "incidents {want:?} not listed within 60 s: {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn of<'a>(found: &'a [Value], kind: &str, session: &str) -> &'a Value {
    found.iter().find(|i| i["kind"] == kind && i["sessions"][0] == session).expect("listed")
}

/// Text as askama escapes it into a page.
fn html(text: &str) -> String {
    text.replace('&', "&#38;").replace('<', "&#60;").replace('>', "&#62;").replace('"', "&#34;").replace('\'', "&#39;")
}

/// The HTML of one element, from its `id="…"` to the next row or card.
fn element<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id} in {page}"));
    let rest = &page[start..];
    let end = rest[1..].find(" id=\"").map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

#[tokio::test]
async fn the_incidents_page_lists_filters_and_acknowledges_what_the_detectors_found() {
    let s = Server::start().await;
    let (status, body) = s.post_steps(ADMIN_KEY, ndjson(&sessions()), &[("content-type", "application/x-ndjson")]).await;
    assert!(status.is_success(), "{body}");
    let found = incidents_of(&s, &[("repeated_side_effect", "mail-1"), ("loop", "loop-1"), ("repeated_side_effect", "xss-1")]).await;
    let email = of(&found, "repeated_side_effect", "mail-1");
    let looped = of(&found, "loop", "loop-1");
    let (email_id, email_message) = (email["id"].as_str().unwrap(), email["message"].as_str().unwrap());
    let loop_message = looped["message"].as_str().unwrap();

    // Any reader sees both, with their messages, first steps linked to
    // their decision pages, sessions to their timelines; no buttons.
    let reader_key = s.create_key("default", &["read"]).await;
    let reader = Browser::sign_in(&s, &reader_key).await;
    let (status, page) = reader.get("/incidents").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(&html(email_message)) && page.contains(&html(loop_message)), "{page}");
    let email_row = element(&page, &format!("incident-{email_id}"));
    assert!(email_row.contains("repeated side effect") && email_row.contains("×2"), "{email_row}");
    assert!(email_row.contains("href=\"/sessions/mail-1/steps/0\"") && email_row.contains("href=\"/sessions/mail-1/steps/1\""), "{email_row}");
    assert!(email_row.contains("href=\"/sessions/mail-1\""), "{email_row}");
    assert!(email_row.contains(">open<"), "{email_row}");
    assert!(!page.contains("/state\"") && !page.contains("Acknowledge"), "a read-only key gets no buttons: {page}");
    assert!(element(&page, "kind-counts").contains("data-kind=\"loop\">loop</a> <span class=\"count\">1"), "{page}");

    // Agent text is escaped.
    assert!(page.contains("send_&#60;script&#62;alert(1)&#60;/script&#62;") && !page.contains("<script>alert(1)"), "{page}");

    // By kind.
    let (_, loops) = reader.get("/incidents?kind=loop").await;
    assert!(loops.contains(&html(loop_message)) && !loops.contains(&html(email_message)), "{loops}");
    assert_eq!(loops.matches("<tr class=\"incident ").count(), 1, "{loops}");
    // By session.
    let (_, of_mail) = reader.get("/incidents?session_id=mail-1").await;
    assert!(of_mail.contains(&html(email_message)) && !of_mail.contains(&html(loop_message)), "{of_mail}");
    assert!(of_mail.contains("name=\"session_id\" value=\"mail-1\""), "the filter stays in the form: {of_mail}");
    let (status, bad) = reader.get("/incidents?kind=meltdown").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("kind: must be one of"), "{bad}");

    // A read-only key cannot change a state, even with its own form token.
    let state_path = format!("/incidents/{email_id}/state");
    let (status, _, body) = reader.post(&state_path, &[("to", "acknowledged")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(s.get(ADMIN_KEY, &format!("/v1/incidents/{email_id}")).await.1["state"], "open");

    // An admin acknowledges it from the list filtered by kind, and comes back to that list.
    let admin = Browser::sign_in(&s, ADMIN_KEY).await;
    let (_, page) = admin.get("/incidents?kind=repeated_side_effect").await;
    let row = element(&page, &format!("incident-{email_id}"));
    assert!(row.contains(&format!("action=\"{state_path}\"")) && row.contains("Acknowledge") && row.contains("Resolve"), "{row}");
    let (status, to, _) = admin.post(&state_path, &[("to", "acknowledged"), ("kind", "repeated_side_effect")]).await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, format!("/incidents?kind=repeated_side_effect#incident-{email_id}").as_str()));
    assert_eq!(s.get(ADMIN_KEY, &format!("/v1/incidents/{email_id}")).await.1["state"], "acknowledged");
    let (_, page) = admin.get("/incidents?state=acknowledged").await;
    let row = element(&page, &format!("incident-{email_id}"));
    assert!(row.contains(">acknowledged<") && row.contains("Reopen") && !row.contains("Acknowledge"), "{row}");
    assert_eq!(page.matches("<tr class=\"incident ").count(), 1, "only the acknowledged one: {page}");
    let (status, _, _) = admin.post(&state_path, &[("to", "forgotten")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = admin.post("/incidents/inc_00000000000000000000/state", &[("to", "resolved")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_timeline_marks_the_repeated_step_and_highlights_the_loop() {
    let s = Server::start().await;
    s.post_steps(ADMIN_KEY, ndjson(&sessions()), &[("content-type", "application/x-ndjson")]).await;
    let found = incidents_of(&s, &[("repeated_side_effect", "mail-1"), ("loop", "loop-1")]).await;
    let email_id = of(&found, "repeated_side_effect", "mail-1")["id"].as_str().unwrap().to_string();

    let (status, page) = s.page(ADMIN_KEY, "/sessions/mail-1").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let (first, second) = (element(&page, "step-0"), element(&page, "step-1"));
    assert!(second.contains("same action as step 0, 2nd time"), "{second}");
    assert!(page.contains("class=\"card step repeated\" id=\"step-1\""), "{page}");
    assert!(!first.contains("same action"), "the first time is no repeat: {first}");
    // The session's incidents, each a badge leading to the incidents page.
    let badges = element(&page, "session-incidents");
    assert!(badges.contains("repeated side effect ×2"), "{badges}");
    assert!(badges.contains(&format!("href=\"/incidents?session_id=mail-1#incident-{email_id}\"")), "{badges}");

    // Every step of the loop is highlighted; its calls of each tool are
    // repeats from the 2nd on.
    let (_, page) = s.page(ADMIN_KEY, "/sessions/loop-1").await;
    for n in 0..6 {
        let card = element(&page, &format!("step-{n}"));
        assert!(card.contains("loop, steps 0–5"), "step {n}: {card}");
    }
    assert!(page.contains("class=\"card step in-loop\" id=\"step-0\""), "{page}");
    assert!(element(&page, "step-4").contains("same action as step 0, 3rd time"), "{page}");

    // The sessions list: the incident badge leads to the session's incidents.
    let (_, list) = s.page(ADMIN_KEY, "/sessions").await;
    assert!(list.contains(&format!("href=\"/incidents?session_id=mail-1#incident-{email_id}\"")), "{list}");
}

#[tokio::test]
async fn an_admin_sets_alert_rules_through_the_form_and_secrets_are_never_shown() {
    let s = Server::start().await;
    let admin = Browser::sign_in(&s, ADMIN_KEY).await;
    let (status, page) = admin.get("/incidents/alerts").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"no-rules\""), "{page}");
    let rule = |secret: &'static str, every: &'static str| {
        [
            ("name", "pager"),
            ("url", "https://hooks.example/flightlog"),
            ("secret", secret),
            ("kinds", "loop"),
            ("kinds", "burst"),
            ("format", "slack"),
            ("update_every_seconds", every),
        ]
    };

    // A short secret: refused, the field named, nothing stored, the secret not echoed.
    let (status, _, page) = admin.post("/incidents/alerts", &rule("hunter2", "60")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let problem = element(&page, "rule-problem");
    assert!(problem.contains("<strong>secret</strong>: is 7 bytes; it must be 16 to 256"), "{problem}");
    assert!(page.contains("name=\"secret\" type=\"password\" value=\"\" autocomplete=\"new-password\" aria-invalid=\"true\""), "{page}");
    assert!(!page.contains("hunter2"), "{page}");
    assert!(page.contains("value=\"https://hooks.example/flightlog\"") && page.contains("value=\"burst\" checked"), "what was sent is kept: {page}");
    assert_eq!(s.get(ADMIN_KEY, "/v1/alerts/rules").await.1, json!({"rules": []}));
    let (status, _, page) = admin.post("/incidents/alerts", &rule("a-secret-of-24-bytes-abc", "soon")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(element(&page, "rule-problem").contains("<strong>update_every_seconds</strong>: must be a whole number"), "{page}");

    // Accepted: listed, its secret only said to be set.
    let (status, to, _) = admin.post("/incidents/alerts", &rule("a-secret-of-24-bytes-abc", "60")).await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/incidents/alerts?saved=rule"));
    let (_, page) = admin.get(&to).await;
    assert!(page.contains("id=\"saved\"") && page.contains("<tr class=\"rule\">"), "{page}");
    let listed = element(&page, "rule-list");
    assert!(listed.contains("<code>pager</code>") && listed.contains("https://hooks.example/flightlog"), "{listed}");
    assert!(listed.contains("loop, burst of calls") && listed.contains("Slack") && listed.contains(">set<"), "{listed}");
    assert!(!page.contains("a-secret-of-24-bytes-abc"), "the secret is never shown: {page}");
    let (_, rules) = s.get(ADMIN_KEY, "/v1/alerts/rules").await;
    assert_eq!(rules["rules"][0]["has_secret"], true, "{rules}");
    assert_eq!(rules["rules"][0]["kinds"], json!(["loop", "burst"]), "{rules}");

    // Replaced without a secret: the old one is kept.
    let (status, _, page) = admin.post("/incidents/alerts", &rule("", "300")).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let (_, rules) = s.get(ADMIN_KEY, "/v1/alerts/rules").await;
    assert_eq!((rules["rules"][0]["update_every_seconds"].as_u64(), rules["rules"][0]["has_secret"].as_bool()), (Some(300), Some(true)), "{rules}");
    let (_, page) = admin.get("/incidents/alerts?edit=pager").await;
    assert!(page.contains("value=\"300\"") && page.contains("leave empty to keep the current one"), "{page}");

    // Only admin keys see or change the rules.
    let reader = Browser::sign_in(&s, &s.create_key("default", &["read"]).await).await;
    assert_eq!(reader.get("/incidents/alerts").await.0, StatusCode::FORBIDDEN);
    assert_eq!(reader.post("/incidents/alerts/remove", &[("name", "pager")]).await.0, StatusCode::FORBIDDEN);
    assert!(!reader.get("/incidents").await.1.contains("/incidents/alerts"), "no link for a reader");

    // Removed.
    let (status, to, _) = admin.post("/incidents/alerts/remove", &[("name", "pager")]).await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/incidents/alerts?saved=removed"));
    assert_eq!(s.get(ADMIN_KEY, "/v1/alerts/rules").await.1, json!({"rules": []}));
    let (status, _, page) = admin.post("/incidents/alerts/remove", &[("name", "pager")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(element(&page, "remove-problem").contains("no alert rule named"), "{page}");
}

#[tokio::test]
async fn the_search_page_shows_identical_decisions_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), ("FLIGHTLOG_NO_SEARCH", "false")]).await;
    // Five sessions made the same failed decision; one made another.
    let decision = |session: &str, reasoning: &str, error: &str| {
        json!({"session_id": session, "step": 0, "timestamp": "2026-03-01T10:00:00Z", "agent": {"name": "support"},
               "agent_thoughts": {"reasoning": reasoning, "chosen_tool": "send_email"},
               "tool_execution": {"name": "send_email", "params": {"to": "c@example.com"}, "status": "error", "error": error}})
    };
    let mut steps: Vec<Value> =
        (0..5).map(|i| decision(&format!("dup-{i}"), "Email the customer their refund.", "duplicate: already sent")).collect();
    steps.push(decision("other-0", "Tell the customer the order shipped.", "mailbox full"));
    s.post_steps(ADMIN_KEY, ndjson(&steps), &[("content-type", "application/x-ndjson")]).await;
    s.wait_indexed(6, Duration::from_secs(120)).await;

    let (status, page) = s.page(ADMIN_KEY, "/search?q=the+refund+email+was+a+duplicate").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page.matches("<tr class=\"result").count(), 2, "five copies are one line: {page}");
    assert!(page.contains("6 most similar") && page.contains("2 distinct"), "{page}");
    let line = page.split("<tr class=\"result identical\">").nth(1).expect("the grouped line");
    assert!(line.contains("×5") && line.contains("4 more identical"), "{line}");
    for i in 0..5 {
        assert!(line.contains(&format!("href=\"/sessions/dup-{i}/steps/0\"")), "every copy is linked: {line}");
    }
}
