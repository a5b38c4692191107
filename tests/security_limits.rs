//! What one client may cost the server: failed authentications are rate
//! limited per address and per key prefix, and slow clients are cut off.
//!
//! Requests from other client addresses come from 127.0.0.2 and 127.0.0.3
//! (Linux routes all of 127/8 to loopback), so the tests can tell an
//! address block from a prefix block.

use flightlog_tests::{ADMIN_KEY, Server, StatusCode, Value};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder().local_address(address.parse::<IpAddr>().unwrap()).build().unwrap()
}

/// GET `path` with `key` as Bearer; status, Retry-After and JSON body.
async fn get(client: &reqwest::Client, s: &Server, key: Option<&str>, path: &str) -> (StatusCode, Option<u64>, Value) {
    let mut request = client.get(format!("{}{path}", s.base));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let resp = request.send().await.unwrap();
    let retry_after = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().parse().expect("Retry-After in seconds"));
    (resp.status(), retry_after, resp.json().await.unwrap_or(Value::Null))
}

fn assert_too_many(status: StatusCode, retry_after: Option<u64>, body: &Value) {
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let seconds = retry_after.expect("a Retry-After header");
    assert!((1..=60).contains(&seconds), "Retry-After {seconds}");
    assert_eq!(body["error"]["code"], "too_many_failures", "{body}");
}

#[tokio::test]
async fn failures_from_one_address_block_that_address_but_not_others() {
    let s = Server::start().await;
    let client = reqwest::Client::new();
    for n in 0..25 {
        // Each wrong key has its own prefix: only the address limit (20) applies.
        let (status, retry_after, body) = get(&client, &s, Some(&format!("{n:04}-wrong-key-guess")), "/v1/sessions").await;
        if n < 20 {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "failure {n}: {body}");
        } else {
            assert_too_many(status, retry_after, &body);
        }
    }
    let (status, retry_after, body) = get(&client, &s, None, "/v1/sessions").await;
    assert_too_many(status, retry_after, &body);

    // A blocked address learns nothing more, not even that a guess is right.
    let (status, retry_after, body) = get(&client, &s, Some(ADMIN_KEY), "/v1/sessions").await;
    assert_too_many(status, retry_after, &body);

    let (status, _, body) = get(&client_from("127.0.0.2"), &s, Some("another-wrong-key"), "/v1/sessions").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "another address is not blocked: {body}");
    let (status, _, body) = get(&client_from("127.0.0.3"), &s, Some(ADMIN_KEY), "/v1/sessions").await;
    assert_eq!(status, StatusCode::OK, "nor is the key's owner elsewhere: {body}");
}

/// Behind a proxy every client shares the proxy's address: with
/// `--trusted-proxy` the limit counts the client the proxy names in
/// `X-Forwarded-For`, so one guesser no longer locks every agent out.
/// Without it the header is ignored, or a guesser would rotate it. The
/// proxies are an address and a range (127.0.0.4/30: second proxies,
/// 127.0.0.5 and 127.0.0.6, append their hops within it).
#[tokio::test]
async fn behind_a_trusted_proxy_failures_count_against_the_client_it_names() {
    let temp = tempfile::tempdir().unwrap();
    let s = Server::start_with(temp.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)], &["--trusted-proxy", "127.0.0.1,127.0.0.4/30"]).await;
    let client = reqwest::Client::new();
    let through_proxy = |forwarded: &'static str, key: String| {
        client.get(format!("{}/v1/sessions", s.base)).bearer_auth(key).header("x-forwarded-for", forwarded).send()
    };
    for n in 0..21 {
        // The guesser writes an address of its own first; the proxy appends the real one.
        let resp = through_proxy("192.0.2.1, 203.0.113.7", format!("{n:04}-wrong-key-guess")).await.unwrap();
        let expected = if n < 20 { StatusCode::UNAUTHORIZED } else { StatusCode::TOO_MANY_REQUESTS };
        assert_eq!(resp.status(), expected, "failure {n}");
    }
    let resp = through_proxy("203.0.113.7", ADMIN_KEY.to_string()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "the guesser is blocked, even with the right key");
    let resp = through_proxy("203.0.113.7, 127.0.0.6", ADMIN_KEY.to_string()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "and through a second proxy of the range");
    for other in ["192.0.2.1", "198.51.100.2, 127.0.0.5"] {
        let resp = client.get(format!("{}/v1/sessions", s.base)).bearer_auth(ADMIN_KEY).header("x-forwarded-for", other).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "another client through the same proxy ({other}) is not");
    }

    let plain = Server::start().await;
    for n in 0..21 {
        let resp = client
            .get(format!("{}/v1/sessions", plain.base))
            .bearer_auth(format!("{n:04}-wrong-key-guess"))
            .header("x-forwarded-for", format!("203.0.113.{n}"))
            .send()
            .await
            .unwrap();
        let expected = if n < 20 { StatusCode::UNAUTHORIZED } else { StatusCode::TOO_MANY_REQUESTS };
        assert_eq!(resp.status(), expected, "untrusted, the header changes nothing: failure {n}");
    }
}

#[tokio::test]
async fn failures_against_one_key_prefix_are_blocked_from_any_address_and_path() {
    let s = Server::start().await;
    let (a, b) = (client_from("127.0.0.2"), client_from("127.0.0.3"));
    let paths = ["/v1/sessions", "/v1/costs", "/v1/keys", "/v1/integrity/checkpoints"];
    for n in 0..10 {
        let client = if n % 2 == 0 { &a } else { &b };
        let key = format!("fl_0123456789ab_guess{n}");
        let (status, _, body) = get(client, &s, Some(&key), paths[n % paths.len()]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "failure {n}: {body}");
    }
    // Five failures per address so far: the block is the prefix's.
    let fresh = client_from("127.0.0.4");
    let (status, retry_after, body) = get(&fresh, &s, Some("fl_0123456789ab_another"), "/v1/prices").await;
    assert_too_many(status, retry_after, &body);
    let resp = fresh.post(format!("{}/v1/steps", s.base)).header("x-api-key", "fl_0123456789ab_x").body("{}").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "x-api-key carries the prefix too");

    let (status, _, body) = get(&a, &s, Some("fl_ba9876543210_guess"), "/v1/sessions").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "another prefix is not blocked: {body}");
    let (status, _, body) = get(&a, &s, Some(ADMIN_KEY), "/v1/sessions").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A real key whose public id is being guessed against keeps working.
    let real = s.create_key("default", &["read"]).await;
    let id = &real[..15]; // fl_ + 12 hex
    for n in 0..12 {
        let (status, _, _) = get(&b, &s, Some(&format!("{id}_wrong{n}")), "/v1/sessions").await;
        assert!(status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS);
    }
    let (status, retry_after, body) = get(&b, &s, Some(&format!("{id}_wrong")), "/v1/sessions").await;
    assert_too_many(status, retry_after, &body);
    let (status, _, body) = get(&fresh, &s, Some(&real), "/v1/sessions").await;
    assert_eq!(status, StatusCode::OK, "the owner is not locked out by guesses at its id: {body}");
}

/// Whatever the sign-in page asks a browser to send back besides the key
/// (hidden fields, cookies: a CSRF token, for instance).
async fn sign_in_form(client: &reqwest::Client, s: &Server) -> (Vec<(String, String)>, Option<String>) {
    let resp = client.get(format!("{}/login", s.base)).send().await.unwrap();
    let cookies: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_string))
        .collect();
    let html = resp.text().await.unwrap();
    let attr = |tag: &str, name: &str| {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        Some(tag[start..].split('"').next()?.to_string())
    };
    let hidden = html
        .split("<input")
        .skip(1)
        .filter(|tag| tag.contains("type=\"hidden\""))
        .filter_map(|tag| Some((attr(tag, "name")?, attr(tag, "value").unwrap_or_default())))
        .collect();
    (hidden, (!cookies.is_empty()).then(|| cookies.join("; ")))
}

#[tokio::test]
async fn the_web_sign_in_form_is_limited_too() {
    let s = Server::start().await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for n in 0..22 {
        let (mut fields, cookie) = sign_in_form(&client, &s).await;
        fields.push(("key".into(), format!("{n:04}-wrong-key-guess")));
        let mut request = client.post(format!("{}/login", s.base)).header("origin", &s.base).form(&fields);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let resp = request.send().await.unwrap();
        let expected = if n < 20 { StatusCode::UNAUTHORIZED } else { StatusCode::TOO_MANY_REQUESTS };
        assert_eq!(resp.status(), expected, "sign-in attempt {n}");
        if n >= 20 {
            assert!(resp.headers().contains_key("retry-after"));
            // The guard answers before any front end: its refusal carries
            // the security headers all the same.
            assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
            assert!(resp.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
        }
    }
}

/// Reads until the server closes the connection; what it sent, and when.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, Instant) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), Instant::now()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the connection was still open after {within:?}; got {:?}", String::from_utf8_lossy(&got)),
        }
    }
}

#[tokio::test]
async fn connections_that_never_finish_their_headers_are_closed() {
    let temp = tempfile::tempdir().unwrap();
    let s = Server::start_with(temp.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)], &["--header-timeout", "2"]).await;
    let address = s.base.trim_start_matches("http://").to_string();
    let opened = Instant::now();
    let mut slow = Vec::new();
    for n in 0..50 {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        // Half send a partial request line, half stop inside the headers.
        let partial: &[u8] = if n % 2 == 0 { b"GET /v1/sess" } else { b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " };
        stream.write_all(partial).await.unwrap();
        slow.push(stream);
    }
    let (status, _, _) = get(&reqwest::Client::new(), &s, Some(ADMIN_KEY), "/v1/sessions").await;
    assert_eq!(status, StatusCode::OK, "normal requests are served meanwhile");

    for stream in &mut slow {
        read_until_closed(stream, Duration::from_secs(12)).await;
    }
    let took = opened.elapsed();
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(10), "all 50 closed after {took:?}");

    // A kept-alive connection that sends nothing more is closed as well.
    let mut idle = TcpStream::connect(&address).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let sent = Instant::now();
    let (response, closed) = read_until_closed(&mut idle, Duration::from_secs(12)).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(closed - sent < Duration::from_secs(8), "idle for {:?}", closed - sent);
}

#[tokio::test]
async fn a_stalled_request_body_is_answered_408() {
    let temp = tempfile::tempdir().unwrap();
    let s = Server::start_with(temp.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)], &["--body-timeout", "2"]).await;
    let mut stream = TcpStream::connect(s.base.trim_start_matches("http://")).await.unwrap();
    let head = format!(
        "POST /v1/steps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_KEY}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(b"[{\"session").await.unwrap();
    let sent = Instant::now();
    let (response, closed) = read_until_closed(&mut stream, Duration::from_secs(12)).await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("body_timeout"), "{response}");
    let took = closed - sent;
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(8), "answered after {took:?}");

    let (status, _, _) = get(&reqwest::Client::new(), &s, Some(ADMIN_KEY), "/v1/sessions").await;
    assert_eq!(status, StatusCode::OK);
}

/// A body over the limit of a route that keeps axum's (an erasure, a
/// policy) is a 413 naming the limit (it was a 400, "Failed to buffer the
/// request body").
#[tokio::test]
async fn a_body_over_a_routes_limit_is_answered_413_naming_it() {
    let temp = tempfile::tempdir().unwrap();
    let s = Server::start_in(temp.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)]).await;
    for route in ["POST /v1/erasures", "PUT /v1/policies/retention"] {
        let mut stream = TcpStream::connect(s.base.trim_start_matches("http://")).await.unwrap();
        let head = format!(
            "{route} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            3 << 20
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // A little more than the limit of the body announced: the server
        // reads past the limit and answers; nothing is left unread to reset
        // the connection before the answer is read.
        stream.write_all(&vec![b' '; (2 << 20) + 4096]).await.unwrap();
        let (response, _) = read_until_closed(&mut stream, Duration::from_secs(12)).await;
        assert!(response.starts_with("HTTP/1.1 413"), "{route}: {response}");
        assert!(response.contains("body_too_large") && response.contains("2097152 bytes"), "{route}: {response}");
    }
}

/// A body that must be an object is refused when it is an array: serde
/// would read `[100, 200]` as a retention policy of 100 and 200 days, by
/// the fields' order, which no client means.
#[tokio::test]
async fn an_array_where_an_object_is_expected_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let s = Server::start_in(temp.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)]).await;
    let (_, before) = s.get(ADMIN_KEY, "/v1/policies/retention").await;
    let refused = [
        (reqwest::Method::PUT, "/v1/policies/retention", serde_json::json!([200, 400])),
        (reqwest::Method::POST, "/v1/legal-holds", serde_json::json!(["session", "s1", "litigation"])),
        (reqwest::Method::POST, "/v1/keys", serde_json::json!(["reader", ["read"]])),
    ];
    for (method, path, body) in refused {
        let (status, answer) = s.send_json(method, ADMIN_KEY, path, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
        assert!(answer.to_string().contains("expected a JSON object"), "{path}: {answer}");
    }
    assert_eq!(s.get(ADMIN_KEY, "/v1/policies/retention").await.1, before, "nothing was changed");
    let (status, answer) = s.send_json(reqwest::Method::PUT, ADMIN_KEY, "/v1/policies/retention", serde_json::json!({"content_days": 200, "steps_days": 400})).await;
    assert_eq!(status, StatusCode::OK, "an object is read as before: {answer}");
}

/// A session id a read names is no longer than any session's can be: a
/// longer one is refused naming `session_id` (it was looked up and echoed
/// back, megabytes of it), through the API and MCP alike.
#[tokio::test]
async fn a_read_naming_a_session_id_longer_than_any_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let s = Server::start_in(temp.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)]).await;
    let long = "s".repeat(257);
    for path in [format!("/v1/sessions/{long}"), format!("/v1/sessions/{long}/steps"), format!("/v1/sessions/{long}/verify")] {
        let (status, body) = s.get(ADMIN_KEY, &path).await;
        assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("session_id")), "{path}: {body}");
    }
    let (status, _) = s.get(ADMIN_KEY, &format!("/v1/sessions/{}", "s".repeat(256))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an id of the longest length is looked up");
    let call = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "session_timeline", "arguments": {"session_id": "s".repeat(100_000)}}});
    let resp = s.http.post(format!("{}/mcp", s.base)).bearer_auth(ADMIN_KEY).header("accept", "application/json, text/event-stream").json(&call).send().await.unwrap();
    let answer: Value = resp.json().await.unwrap();
    let text = answer.to_string();
    assert!(answer["result"]["isError"] == true && text.contains("session_id") && text.len() < 2_000, "{}", &text[..text.len().min(500)]);
}
