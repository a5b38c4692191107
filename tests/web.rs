//! The web UI over HTTP: sign-in and its server-side session, sign-out,
//! forgery protection, security headers, links to ids of any text, and the
//! decision page (integrity verdict, agent text rendered as text, never as
//! HTML).

use flightlog_tests::*;
use reqwest::Method;

/// Signs in through the real form; returns the status and the session's
/// whole Set-Cookie header, if one was set.
async fn sign_in(s: &Server, key: &str) -> (StatusCode, Option<String>) {
    let (_, resp) = s.web_sign_in_exchange(key, &[]).await;
    let cookie = set_cookies(resp.headers()).into_iter().find(|c| c.starts_with("flightlog_session="));
    (resp.status(), cookie)
}

async fn page(s: &Server, cookie: &str, path: &str) -> (StatusCode, String) {
    let resp = no_redirects().get(format!("{}{path}", s.base)).header("cookie", cookie).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// Where a signed-in GET ends: the page, or a redirect to /login.
async fn signed_in(s: &Server, cookie: &str) -> bool {
    let resp = no_redirects().get(format!("{}/sessions", s.base)).header("cookie", cookie).send().await.unwrap();
    match resp.status() {
        StatusCode::OK => true,
        status if status.is_redirection() => {
            assert_eq!(resp.headers()["location"], "/login");
            false
        }
        other => panic!("unexpected {other}"),
    }
}

/// POSTs the sign-out form of a page, as the page's own form does.
async fn sign_out(s: &Server, cookie: &str) -> reqwest::Response {
    let (_, html) = page(s, cookie, "/sessions").await;
    let token = form_token(&html).expect("the page has a sign-out form with its token");
    no_redirects()
        .post(format!("{}/logout", s.base))
        .header("cookie", cookie)
        .header("origin", &s.base)
        .form(&[("csrf", token)])
        .send()
        .await
        .unwrap()
}

fn key_id(key: &str) -> &str {
    key.split('_').nth(1).unwrap()
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
    assert!(bundle.starts_with("{\"access_log\":") && bundle.contains("\"checkpoint\":"), "the canonical bundle, keys sorted");
    let (status, home) = page(&s, &cookie, "/sessions").await;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains("href=\"/sessions/xss\""), "the sessions list links the session");
    let (status, timeline) = page(&s, &cookie, "/sessions/xss").await;
    assert_eq!(status, StatusCode::OK);
    assert!(timeline.contains("/sessions/xss/steps/1") && !timeline.contains("<script>alert"), "timeline links, escaped");
    assert_eq!(page(&s, &cookie, "/sessions/xss/steps/9").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_session_cookie_holds_no_api_key_and_is_http_only_and_strict() {
    let s = Server::start().await;
    let reader = s.create_key("default", &["read"]).await;
    for key in [ADMIN_KEY, reader.as_str()] {
        let (form_cookies, resp) = s.web_sign_in_exchange(key, &[("x-forwarded-proto", "https")]).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let cookies = [form_cookies, set_cookies(resp.headers())].concat();
        let hex_key: String = key.bytes().map(|b| format!("{b:02x}")).collect();
        for c in &cookies {
            assert!(!c.contains(key) && !c.to_lowercase().contains(&hex_key), "no API key in {c}");
            assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict"), "{c}");
        }
        let session = cookies.iter().find(|c| c.starts_with("flightlog_session=")).expect("a session cookie");
        assert!(session.contains("Path=/") && session.contains("Secure"), "Secure behind TLS: {session}");
        let token = session.split(';').next().unwrap().trim_start_matches("flightlog_session=");
        assert_eq!(token.len(), 64, "a 256-bit token: {token}");
    }
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server() {
    let s = Server::start().await;
    let cookie = s.web_sign_in(ADMIN_KEY).await.unwrap();
    assert!(signed_in(&s, &cookie).await);

    let forged = no_redirects()
        .post(format!("{}/logout", s.base))
        .header("cookie", &cookie)
        .header("origin", &s.base)
        .form(&[("csrf", "0".repeat(64))])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN, "a sign-out without the page's token");
    assert!(signed_in(&s, &cookie).await, "and it changed nothing");

    let out = sign_out(&s, &cookie).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(out.headers()["location"], "/login");
    assert!(!signed_in(&s, &cookie).await, "the old cookie value is refused after sign-out");
}

#[tokio::test]
async fn revoking_the_api_key_ends_its_web_sessions() {
    let s = Server::start().await;
    let reader = s.create_key("default", &["read"]).await;
    let cookie = s.web_sign_in(&reader).await.unwrap();
    let admin = s.web_sign_in(ADMIN_KEY).await.unwrap();
    assert!(signed_in(&s, &cookie).await);

    let (status, body) = s.send_json(Method::DELETE, ADMIN_KEY, &format!("/v1/keys/{}", key_id(&reader)), json!(null)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!signed_in(&s, &cookie).await, "the revoked key's session ended");
    assert!(signed_in(&s, &admin).await, "other keys' sessions go on");
    assert_eq!(sign_in(&s, &reader).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_web_session_survives_a_restart_and_a_sign_out_too() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)];
    let mut s = Server::start_in(dir.path(), &env).await;
    let kept = s.web_sign_in(ADMIN_KEY).await.unwrap();
    let ended = s.web_sign_in(ADMIN_KEY).await.unwrap();
    assert_eq!(sign_out(&s, &ended).await.status(), StatusCode::SEE_OTHER);
    s.kill9();

    let s = Server::start_in(dir.path(), &env).await;
    assert!(signed_in(&s, &kept).await, "still signed in after a crash and restart");
    assert!(!signed_in(&s, &ended).await, "still signed out after a restart");
}

#[tokio::test]
async fn a_sign_in_from_another_site_or_without_the_form_token_is_refused() {
    let s = Server::start().await;
    let client = no_redirects();
    let form = client.get(format!("{}/login", s.base)).send().await.unwrap();
    let pre_session = cookie_pair(form.headers(), "flightlog_signin").unwrap();
    let token = form_token(&form.text().await.unwrap()).unwrap();
    let post = |origin: Option<&str>, referer: Option<&str>, csrf: &str, cookie: &str| {
        let mut req = client.post(format!("{}/login", s.base)).header("cookie", cookie.to_string());
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(r) = referer {
            req = req.header("referer", r);
        }
        req.form(&[("key", ADMIN_KEY), ("csrf", csrf)]).send()
    };

    let foreign = post(Some("https://evil.example"), None, &token, &pre_session).await.unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    assert!(cookie_pair(foreign.headers(), "flightlog_session").is_none());
    assert!(foreign.text().await.unwrap().contains("not sent from a Flightlog page"), "a clear message");
    assert_eq!(post(None, None, &token, &pre_session).await.unwrap().status(), StatusCode::FORBIDDEN, "no Origin, no Referer");
    assert_eq!(post(None, Some("https://evil.example/x"), &token, &pre_session).await.unwrap().status(), StatusCode::FORBIDDEN);

    let missing = post(Some(s.base.as_str()), None, "", &pre_session).await.unwrap();
    assert_eq!(missing.status(), StatusCode::FORBIDDEN, "no CSRF token");
    assert!(missing.text().await.unwrap().contains("Reload the sign-in page"));
    let other_form = client.get(format!("{}/login", s.base)).send().await.unwrap();
    let other_cookie = cookie_pair(other_form.headers(), "flightlog_signin").unwrap();
    assert_eq!(post(Some(s.base.as_str()), None, &token, &other_cookie).await.unwrap().status(), StatusCode::FORBIDDEN, "a token of another form");
    assert_eq!(post(Some(s.base.as_str()), None, &token, "").await.unwrap().status(), StatusCode::FORBIDDEN, "no pre-session cookie");

    let ok = post(Some(s.base.as_str()), None, &token, &pre_session).await.unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let cookie = cookie_pair(ok.headers(), "flightlog_session").expect("signed in");
    let referer_only = post(None, Some(format!("{}/login", s.base).as_str()), &token, &pre_session).await.unwrap();
    assert_eq!(referer_only.status(), StatusCode::SEE_OTHER, "a same-site Referer stands in for Origin");

    let (_, html) = page(&s, &cookie, "/sessions").await;
    let logout = client
        .post(format!("{}/logout", s.base))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .form(&[("csrf", form_token(&html).unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::FORBIDDEN, "sign-out from another site");
    assert!(signed_in(&s, &cookie).await);
}

#[tokio::test]
async fn every_page_carries_a_strict_content_security_policy_and_the_other_headers() {
    let s = Server::start().await;
    s.post_steps(ADMIN_KEY, step("s1", 0).to_string(), &[]).await;
    let cookie = s.web_sign_in(ADMIN_KEY).await.unwrap();
    let pages = ["/login", "/", "/sessions", "/sessions/s1", "/sessions/s1/steps/0", "/costs", "/search", "/static/app.css", "/static/print.js"];
    for path in pages {
        let resp = no_redirects().get(format!("{}{path}", s.base)).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let h = resp.headers().clone();
        let csp = h["content-security-policy"].to_str().unwrap();
        for directive in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"] {
            assert!(csp.contains(directive), "{path}: {directive} in {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{path}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        let body = resp.text().await.unwrap();
        if path.starts_with("/static/") {
            continue;
        }
        assert_eq!(h["cache-control"], "no-store", "{path}: agent data is not cached");
        assert!(h["content-type"].to_str().unwrap().starts_with("text/html"), "{path}");
        // The policy would block inline style and script: the pages must
        // not need any, or they would look (or work) broken.
        for inline in ["<style", " style=\"", " onclick=", "<script>"] {
            assert!(!body.contains(inline), "{path} has inline {inline}");
        }
        assert!(body.contains("<link rel=\"stylesheet\" href=\"/static/app.css\">"), "{path}");
    }
    let css = no_redirects().get(format!("{}/static/app.css", s.base)).send().await.unwrap();
    assert!(css.headers()["content-type"].to_str().unwrap().starts_with("text/css"));
    assert!(css.text().await.unwrap().contains(".badge"), "the stylesheet is served without signing in");
    let (_, decision) = page(&s, &cookie, "/sessions/s1/steps/0").await;
    assert!(decision.contains("<script src=\"/static/print.js\" defer></script>") && decision.contains("class=\"print\""));
    // Answers no page gives carry them too: an unknown path, an API answer,
    // a request over its limit. (Over its record count, not its bytes: a
    // body cut short by the 413 can fail the client's write instead.)
    let too_many = no_redirects().post(format!("{}/v1/steps", s.base)).bearer_auth(ADMIN_KEY).body("{}\n".repeat(10_001));
    let answers = [
        no_redirects().get(format!("{}/sesions", s.base)).header("cookie", &cookie),
        no_redirects().get(format!("{}/static/x.css", s.base)),
        no_redirects().get(format!("{}/v1/sessions", s.base)).bearer_auth(ADMIN_KEY),
        too_many,
    ];
    for (request, status) in answers.into_iter().zip([404, 404, 200, 413]) {
        let resp = request.send().await.unwrap();
        let url = resp.url().clone();
        assert_eq!(resp.status().as_u16(), status, "{url}");
        let h = resp.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{url}");
        assert_eq!(h["x-frame-options"], "DENY", "{url}");
        assert!(h["content-security-policy"].to_str().unwrap().contains("default-src 'none'"), "{url}");
    }
}

#[tokio::test]
async fn ids_with_a_slash_link_to_their_own_session() {
    let s = Server::start().await;
    let with_reason = |session: &str, reasoning: &str| {
        json!({"session_id": session, "step": 0, "timestamp": "2026-01-15T10:30:00Z",
               "agent_thoughts": {"reasoning": reasoning, "considered_tools": ["a", "b"], "chosen_tool": "a"},
               "tool_execution": {"name": "a", "status": "ok"}})
    };
    let (status, body) = s.post_steps(ADMIN_KEY, ndjson(&[with_reason("victim", "the victim session's own step"),
        with_reason("victim/steps/0", "the slashed session's step")]), &[]).await;
    assert!(status.is_success(), "{body}");

    let (_, list) = s.page(ADMIN_KEY, "/sessions").await;
    assert!(list.contains("href=\"/sessions/victim%2Fsteps%2F0\""), "the id is one encoded segment");
    assert!(!list.contains("href=\"/sessions/victim/steps/0\""));
    let (status, timeline) = s.page(ADMIN_KEY, "/sessions/victim%2Fsteps%2F0").await;
    assert_eq!(status, StatusCode::OK);
    assert!(timeline.contains("the slashed session&#39;s step") || timeline.contains("the slashed session&#x27;s step"), "its own timeline");
    assert!(!timeline.contains("victim session"));
    for link in ["/sessions/victim%2Fsteps%2F0/steps/0\"", "/sessions/victim%2Fsteps%2F0/evidence\"", "/search?session_id=victim%2Fsteps%2F0&amp;step=0\""] {
        assert!(timeline.contains(link), "timeline links {link}");
    }
    let (status, decision) = s.page(ADMIN_KEY, "/sessions/victim%2Fsteps%2F0/steps/0").await;
    assert_eq!(status, StatusCode::OK);
    assert!(decision.contains("slashed session") && !decision.contains("victim session"), "the decision of that session's step");
    assert!(decision.contains("href=\"/sessions/victim%2Fsteps%2F0\">timeline</a>"));
}

/// The waterfall draws tool names and statuses inside SVG: script and
/// attribute payloads there stay text, and a bad zoom range is a 400.
#[tokio::test]
async fn the_waterfall_shows_hostile_tool_names_as_text() {
    let s = Server::start().await;
    let payloads = ["<script>alert(1)</script>", "\" onmouseover=\"alert(2)", "</title><svg onload=alert(3)>"];
    let steps: Vec<Value> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({"session_id": "wf-xss", "step": i, "timestamp": format!("2026-01-15T10:30:0{i}Z"),
                   "tool_execution": {"name": p, "params": {"q": p}, "status": p, "duration_ms": 500}})
        })
        .collect();
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.0, StatusCode::OK);
    let cookie = s.web_sign_in(ADMIN_KEY).await.expect("signed in");
    let (status, html) = page(&s, &cookie, "/sessions/wf-xss").await;
    assert_eq!(status, StatusCode::OK);
    let start = html.find("id=\"waterfall\"").expect("the page has a waterfall");
    let end = start + html[start..].find("</section>").expect("the waterfall ends");
    let waterfall = &html[start..end];
    assert_eq!(waterfall.matches("data-step=").count(), 3, "one bar per step");
    for p in payloads {
        assert!(!waterfall.contains(p), "the payload {p:?} is not in the markup as sent");
    }
    assert!(waterfall.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "a tool name is shown escaped: {waterfall}");
    assert!(!waterfall.contains("onmouseover=\"alert") && !waterfall.contains("<svg onload"), "no attribute or element injected");

    let (status, _) = page(&s, &cookie, "/sessions/wf-xss?from=10&to=5").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a range that ends before it starts");
    let (status, _) = page(&s, &cookie, "/sessions/wf-xss?from=soon").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Bounds past the times a step can have were subtracted unchecked: the
    // page panicked and the connection closed without an answer.
    for (query, named) in [("from=-1&to=9223372036854775807", "from"), ("to=9223372036854775807", "to"), ("from=-9223372036854775808", "from")] {
        let (status, body) = page(&s, &cookie, &format!("/sessions/wf-xss?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(body.contains(named) && body.contains("2200-01-01"), "{query}: {body}");
    }
    let (status, _) = page(&s, &cookie, "/sessions/wf-xss?from=0&to=7258118400000000").await;
    assert_eq!(status, StatusCode::OK, "the widest range is drawn");
}

/// A decision deep in a session whose steps start at 3 and skip some
/// numbers: the page shows the goal from the session's first step (not from
/// the first step it lists) and the steps just before it, and nothing after.
#[tokio::test]
async fn a_decision_deep_in_a_session_shows_its_goal_and_the_steps_before_it() {
    let s = Server::start().await;
    let step = |n: u64, message: &str| {
        json!({"session_id": "deep", "step": n, "timestamp": format!("2026-01-15T10:{:02}:00Z", n),
               "prompt": {"messages": [{"role": "user", "content": message}]},
               "agent_thoughts": {"reasoning": format!("reason number {n}.")}})
    };
    let mut steps = vec![step(3, "Find the invoice of ACME")];
    steps.extend((4..=40).filter(|n| n % 7 != 0).map(|n| step(n, &format!("continue after {n}"))));
    s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await;
    let (_, cookie) = sign_in(&s, ADMIN_KEY).await;
    let cookie = cookie.expect("a cookie").split(';').next().unwrap().to_string();

    let (status, html) = page(&s, &cookie, "/sessions/deep/steps/25").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Find the invoice of ACME"), "the goal is the first step's");
    let listed: Vec<u64> = (0..=40).filter(|n| html.contains(&format!("reason number {n}."))).collect();
    assert_eq!(listed, vec![13, 15, 16, 17, 18, 19, 20, 22, 23, 24, 25], "the ten steps before it, counted (14 and 21 were never sent), and itself");

    let (_, html) = page(&s, &cookie, "/sessions/deep/steps/5").await;
    assert!(html.contains("Find the invoice of ACME"));
    let listed: Vec<u64> = (0..=40).filter(|n| html.contains(&format!("reason number {n}."))).collect();
    assert_eq!(listed, vec![3, 4, 5]);
    assert_eq!(page(&s, &cookie, "/sessions/deep/steps/21").await.0, StatusCode::NOT_FOUND, "a step never sent");
}

/// The session list's form: a time as its inputs send it (no zone) is UTC,
/// one with a zone is read as it is, and a mistake is a 400 that quotes
/// what was sent, with the form still on the page.
#[tokio::test]
async fn the_session_list_reads_times_with_or_without_a_zone_and_refuses_mistakes_with_400() {
    let s = Server::start().await;
    let at = |session: &str, time: &str| json!({"session_id": session, "step": 0, "timestamp": time});
    let steps = [at("early", "2026-01-01T04:30:00Z"), at("late", "2026-01-01T05:30:00Z")];
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.0, StatusCode::OK);
    let listed = |html: &str| (html.contains("href=\"/sessions/early\""), html.contains("href=\"/sessions/late\""));
    for (query, want) in [
        ("from=2026-01-01T00:00:00-05:00", (false, true)),
        ("from=2026-01-01T05:00", (false, true)),
        ("to=2026-01-01T05:00:00", (true, false)),
        ("from=2026-01-01T04:00:00.5&to=2026-01-01T06:00:00%2B01:00", (true, false)),
    ] {
        let (status, html) = s.page(ADMIN_KEY, &format!("/sessions?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}");
        assert_eq!(listed(&html), want, "{query}");
    }
    for (query, quoted) in [("from=garbage", "garbage"), ("sort=bogus", "bogus"), ("to=2026-13-01T00:00", "2026-13-01T00:00")] {
        let (status, html) = s.page(ADMIN_KEY, &format!("/sessions?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {html}");
        assert!(html.contains(quoted) && !html.contains(&format!("{quoted}Z")), "{query}: the error quotes what was sent: {html}");
        assert!(html.contains("name=\"from\""), "{query}: the form is still there");
    }
}

/// A page is bounded by what was stored, not by how it is drawn: params
/// nested deep are shown compact (indented they grew 110 times), and the
/// timeline clips long fields, which the step's own page shows whole.
#[tokio::test]
async fn deep_or_long_fields_do_not_blow_up_the_pages() {
    let s = Server::start().await;
    let deep = format!("{}{}{}", "[".repeat(110), vec!["0"; 20_000].join(","), "]".repeat(110));
    let long = "word ".repeat(40_000);
    let steps: Vec<Value> = (0..5)
        .map(|i| {
            let params: Value = serde_json::from_str(&format!("{{\"p\": {deep}}}")).unwrap();
            json!({"session_id": "big", "step": i, "timestamp": format!("2026-01-15T10:30:0{i}Z"),
                   "agent_thoughts": {"reasoning": long},
                   "tool_execution": {"name": "t", "params": params, "result": long, "error": long}})
        })
        .collect();
    let sent: usize = steps.iter().map(|s| s.to_string().len()).sum();
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.0, StatusCode::OK);
    let (status, timeline) = s.page(ADMIN_KEY, "/sessions/big").await;
    assert_eq!(status, StatusCode::OK);
    assert!(timeline.len() < 200_000, "the timeline of 5 steps of {} bytes is {} bytes", sent / 5, timeline.len());
    assert!(timeline.contains("word word") && timeline.contains("…"), "each long field is clipped, and says so");
    let (status, decision) = s.page(ADMIN_KEY, "/sessions/big/steps/3").await;
    assert_eq!(status, StatusCode::OK);
    assert!(decision.len() < 2 * sent / 5, "the decision page is {} bytes for a step of {}", decision.len(), sent / 5);
    assert!(decision.contains(&"[".repeat(110)), "the deep params shown compact, whole");
    assert!(decision.matches(&long).count() >= 3, "reasoning, result and error shown whole");
}

/// Ids shown inline beside Flightlog's own words are isolated (`<bdi>`):
/// a right-to-left id (or one stored before ids refused formatting
/// characters) orders only itself, not the step number or label beside it.
#[tokio::test]
async fn ids_shown_inline_are_isolated_from_the_text_beside_them() {
    let s = Server::start().await;
    let step = json!({"session_id": "שלום-1", "step": 0, "timestamp": "2026-01-15T10:30:00Z", "agent": {"name": "وكيل"}});
    assert_eq!(s.post_steps(ADMIN_KEY, step.to_string(), &[]).await.0, StatusCode::OK);
    let (status, timeline) = s.page(ADMIN_KEY, "/sessions/%D7%A9%D7%9C%D7%95%D7%9D-1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(timeline.contains("<h1>Session <bdi>שלום-1</bdi></h1>"), "{timeline}");
    let (status, decision) = s.page(ADMIN_KEY, "/sessions/%D7%A9%D7%9C%D7%95%D7%9D-1/steps/0").await;
    assert_eq!(status, StatusCode::OK);
    assert!(decision.contains("<bdi>שלום-1</bdi></strong>, step 0") && decision.contains("agent <bdi>وكيل</bdi>"), "{decision}");
}

/// The overview counts a session once in its total, however many days it
/// ran on (it summed each day's sessions: one over midnight counted twice).
#[tokio::test]
async fn the_overview_counts_a_session_over_midnight_once() {
    use flightlog_model::time::{format_timestamp, now_us};
    let s = Server::start().await;
    const DAY_US: i64 = 86_400_000_000;
    let midnight = now_us() - now_us().rem_euclid(DAY_US) - DAY_US;
    let steps: Vec<Value> = [-60_000_000, 60_000_000]
        .iter()
        .enumerate()
        .map(|(n, offset)| json!({"session_id": "late-night", "step": n, "timestamp": format_timestamp(midnight + offset)}))
        .collect();
    assert_eq!(s.post_steps(ADMIN_KEY, ndjson(&steps), &[]).await.1["accepted"], 2);
    let (status, html) = s.page(ADMIN_KEY, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("sessions <span class=\"muted\">· 1 in all</span>"), "{}", html.split("in all").next().unwrap_or_default());
    assert!(html.contains("steps <span class=\"muted\">· 2 in all</span>"));
}
