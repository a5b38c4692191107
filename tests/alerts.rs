//! Alerts (issue 14): incidents are POSTed to the webhooks of a project's
//! rules, signed with HMAC-SHA256, retried after the receiver fails, one
//! alert per incident (updated as it grows), and none is lost across a
//! kill -9 of Flightlog. The receiver is a real HTTP server the test runs.

use flightlog_model::time::{format_timestamp, now_us};
use flightlog_tests::*;
use hmac::{Hmac, Mac};
use reqwest::Method;
use sha2::Sha256;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "a-webhook-secret-of-some-length";
/// The receivers here listen on 127.0.0.1, which only an operator allows.
const PRIVATE_RECEIVERS: (&str, &str) = ("FLIGHTLOG_ALERT_PRIVATE_RECEIVERS", "true");

/// One request the receiver got, and what it answered.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    timestamp: String,
    signature: String,
    delivery: String,
    /// The Authorization header (basic credentials from the address).
    authorization: String,
    body: Vec<u8>,
    answered: u16,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn signed_with(&self, secret: &str) -> bool {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(self.timestamp.as_bytes());
        mac.update(b".");
        mac.update(&self.body);
        self.signature == format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }
}

/// A webhook receiver: answers 500 to the next `fail` requests (or to all
/// while `down`), 200 after; `slow_ms` after it logged the request.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    fail: Arc<AtomicU32>,
    down: Arc<std::sync::atomic::AtomicBool>,
    slow_ms: Arc<AtomicU64>,
}

impl Receiver {
    async fn start(&self) -> String {
        let me = self.clone();
        let app = axum::Router::new().route(
            "/{*path}",
            axum::routing::post(move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let me = me.clone();
                async move {
                    let failing = me.down.load(Ordering::SeqCst)
                        || me.fail.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
                    let answered = if failing { 500 } else { 200 };
                    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                    me.got.lock().unwrap().push(Received {
                        path: uri.path().to_string(),
                        timestamp: header("x-flightlog-timestamp"),
                        signature: header("x-flightlog-signature"),
                        delivery: header("x-flightlog-delivery"),
                        authorization: header("authorization"),
                        body: body.to_vec(),
                        answered,
                    });
                    tokio::time::sleep(Duration::from_millis(me.slow_ms.load(Ordering::SeqCst))).await;
                    axum::http::StatusCode::from_u16(answered).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    fn got(&self, path: &str) -> Vec<Received> {
        self.got.lock().unwrap().iter().filter(|r| r.path == path).cloned().collect()
    }

    /// Waits until a request to `path` that was taken (200) satisfies `done`.
    async fn wait_for(&self, path: &str, within: Duration, done: impl Fn(&Received) -> bool) -> Received {
        let deadline = Instant::now() + within;
        loop {
            if let Some(r) = self.got(path).into_iter().find(|r| r.answered == 200 && done(r)) {
                return r;
            }
            assert!(Instant::now() < deadline, "nothing delivered to {path} within {within:?}: {:#?}", self.got(path));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn email(session: &str, n: u64) -> Value {
    json!({"session_id": session, "step": n, "timestamp": format_timestamp(now_us()), "agent": {"name": "mailer"},
           "tool_execution": {"name": "send_email", "params": {"to": "jane@example.com"}, "result": "sent", "status": "ok"}})
}

async fn set_rules(s: &Server, rules: Value) -> (StatusCode, Value) {
    s.send_json(Method::PUT, ADMIN_KEY, "/v1/alerts/rules", json!({ "rules": rules })).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_signed_retried_after_failures_and_one_per_incident() {
    let receiver = Receiver::default();
    let base = receiver.start().await;
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), PRIVATE_RECEIVERS]).await;
    let agent = s.create_key("default", &["ingest"]).await;

    let (status, bad) = set_rules(&s, json!([{"name": "ops", "url": format!("{base}/hook"), "secret": "short"}])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    assert_eq!(bad["error"]["field"], "rules[0].secret", "{bad}");
    let (status, bad) = set_rules(&s, json!([{"name": "ops", "url": "file:///etc/passwd", "secret": SECRET}])).await;
    assert_eq!((status, bad["error"]["field"].clone()), (StatusCode::BAD_REQUEST, json!("rules[0].url")), "{bad}");
    let rules = json!([
        {"name": "ops", "url": format!("{base}/hook"), "secret": SECRET, "update_every_seconds": 1},
        {"name": "chat", "url": format!("{base}/slack"), "secret": SECRET, "format": "slack", "kinds": ["loop"]},
    ]);
    let (status, set) = set_rules(&s, rules).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    let (_, shown) = s.get(ADMIN_KEY, "/v1/alerts/rules").await;
    assert_eq!(shown["rules"][0]["has_secret"], true);
    assert!(!shown.to_string().contains(SECRET), "a secret is never answered: {shown}");

    // The receiver fails twice; then five identical emails are one incident.
    receiver.fail.store(2, Ordering::SeqCst);
    for n in 0..5 {
        assert_eq!(s.post_steps(&agent, email("sess-mail", n).to_string(), &[]).await.0, StatusCode::OK);
    }
    let last = receiver.wait_for("/hook", Duration::from_secs(30), |r| r.json()["incident"]["count"] == 5).await;
    let hook = receiver.got("/hook");
    assert!(hook.iter().filter(|r| r.answered == 500).count() >= 2, "retried after failures: {hook:#?}");
    for r in &hook {
        assert!(r.signed_with(SECRET), "signature of {r:#?}");
        assert!(!r.signed_with("another-secret-of-some-length"));
        assert_eq!(r.json()["incident"]["id"], last.json()["incident"]["id"], "one incident, one alert: {hook:#?}");
    }
    let taken: Vec<&Received> = hook.iter().filter(|r| r.answered == 200).collect();
    assert!(taken.len() <= 4, "five emails, not five alerts: {taken:#?}");
    assert_eq!(taken[0].json()["event"], "incident.opened");
    assert_eq!(last.json()["incident"]["kind"], "repeated_side_effect");
    assert_eq!(last.json()["incident"]["sessions"], json!(["sess-mail"]));
    assert_eq!(last.delivery, format!("{}:5", last.json()["incident"]["id"].as_str().unwrap()));
    assert!(receiver.got("/slack").is_empty(), "the chat rule sends loops only");

    // A loop goes to the chat rule as a Slack message.
    for n in 0..6u64 {
        let tool = if n % 2 == 0 { "get_ticket" } else { "check_status" };
        let step = json!({"session_id": "sess-loop", "step": n, "timestamp": format_timestamp(now_us()), "agent": {"name": "mailer"},
                          "tool_execution": {"name": tool, "params": {"id": 4}, "result": "same", "status": "ok"}});
        assert_eq!(s.post_steps(&agent, step.to_string(), &[]).await.0, StatusCode::OK);
    }
    let chat = receiver.wait_for("/slack", Duration::from_secs(30), |_| true).await;
    let text = chat.json()["text"].as_str().unwrap().to_string();
    assert!(text.contains("loop") && text.contains("sess-loop"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_alert_is_lost_across_a_kill_9_and_none_is_sent_twice() {
    let receiver = Receiver::default();
    receiver.down.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let env = [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), PRIVATE_RECEIVERS];
    // It was tried (and failed) at least once, then Flightlog dies.
    let (mut s, agent) = incident_under_way(&receiver, dir.path()).await;
    s.kill9();
    receiver.down.store(false, Ordering::SeqCst);
    let mut s = Server::start_in(dir.path(), &env).await;
    let taken = receiver.wait_for("/hook", Duration::from_secs(40), |r| r.json()["incident"]["count"] == 2).await;
    assert!(taken.signed_with(SECRET));

    // Taken once: another restart sends it no more.
    let (status, _) = s.terminate();
    assert!(status.success());
    let s = Server::start_in(dir.path(), &env).await;
    sent_after_a_restart_only_what_is_new(&s, &agent, &receiver).await;
    let delivered: Vec<Received> = receiver.got("/hook").into_iter().filter(|r| r.answered == 200 && r.json()["incident"]["sessions"] == json!(["sess-1"])).collect();
    assert_eq!(delivered.len(), 1, "{delivered:#?}");
    drop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orderly_stop_finishes_the_delivery_under_way() {
    let receiver = Receiver::default();
    receiver.slow_ms.store(2_000, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let env = [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), PRIVATE_RECEIVERS];
    // The receiver has the alert and takes 2 s to answer: Flightlog is
    // stopped (SIGTERM) in between, and waits for the answer to record it.
    let (mut s, agent) = incident_under_way(&receiver, dir.path()).await;
    let (status, _) = s.terminate();
    assert!(status.success());
    receiver.slow_ms.store(0, Ordering::SeqCst);
    let s = Server::start_in(dir.path(), &env).await;
    sent_after_a_restart_only_what_is_new(&s, &agent, &receiver).await;
    let got: Vec<Received> = receiver.got("/hook").into_iter().filter(|r| r.json()["incident"]["sessions"] == json!(["sess-1"])).collect();
    assert_eq!(got.len(), 1, "sent once, not again after the restart: {got:#?}");
    assert_eq!(got[0].json()["incident"]["count"], 2);
    drop(s);
}

/// An alert says the state people gave the incident: one acknowledged,
/// then grown, is sent as acknowledged (it was sent as open, which would
/// page again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_for_an_acknowledged_incident_says_so() {
    let receiver = Receiver::default();
    let base = receiver.start().await;
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), PRIVATE_RECEIVERS]).await;
    let (status, set) = set_rules(&s, json!([{"name": "ops", "url": format!("{base}/hook"), "secret": SECRET, "update_every_seconds": 1}])).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    for n in 0..5 {
        assert_eq!(s.post_steps(ADMIN_KEY, email("sess-ack", n).to_string(), &[]).await.0, StatusCode::OK);
    }
    let opened = receiver.wait_for("/hook", Duration::from_secs(30), |r| r.json()["incident"]["count"] == 5).await;
    assert_eq!(opened.json()["incident"]["state"], "open");
    let id = opened.json()["incident"]["id"].as_str().unwrap().to_string();
    let (status, acked) = s.send_json(Method::POST, ADMIN_KEY, &format!("/v1/incidents/{id}/state"), json!({"state": "acknowledged"})).await;
    assert_eq!(status, StatusCode::OK, "{acked}");
    assert_eq!(s.post_steps(ADMIN_KEY, email("sess-ack", 5).to_string(), &[]).await.0, StatusCode::OK);
    let grown = receiver.wait_for("/hook", Duration::from_secs(30), |r| r.json()["incident"]["count"] == 6).await;
    assert_eq!(grown.json()["incident"]["state"], "acknowledged", "{}", grown.json());
}

/// A password in a rule's address is a secret too: answered hidden, and a
/// rule sent back as answered keeps the stored password (alerts still carry
/// it to the receiver).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_in_a_rules_address_is_never_answered() {
    let receiver = Receiver::default();
    let base = receiver.start().await;
    let with_password = base.replacen("http://", "http://pager:topsecretpw@", 1);
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), PRIVATE_RECEIVERS]).await;
    let (status, set) = set_rules(&s, json!([{"name": "ops", "url": format!("{with_password}/hook"), "secret": SECRET}])).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert!(!set.to_string().contains("topsecretpw"), "{set}");
    let (_, shown) = s.get(ADMIN_KEY, "/v1/alerts/rules").await;
    assert!(!shown.to_string().contains("topsecretpw") && shown.to_string().contains("pager:hidden@"), "{shown}");
    // Sent back as answered (no secret, the hidden password): both kept.
    let mut back = shown["rules"].clone();
    back[0].as_object_mut().unwrap().remove("has_secret");
    // Under another name the hidden password matches no stored rule: it is
    // refused, not stored as the password.
    let mut renamed = back.clone();
    renamed[0]["name"] = json!("renamed");
    renamed[0]["secret"] = json!(SECRET);
    let (status, refused) = set_rules(&s, renamed).await;
    assert_eq!((status, refused["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("rules[0].url")), "{refused}");
    let (status, again) = set_rules(&s, back).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    for n in 0..5 {
        assert_eq!(s.post_steps(ADMIN_KEY, email("sess-pw", n).to_string(), &[]).await.0, StatusCode::OK);
    }
    let got = receiver.wait_for("/hook", Duration::from_secs(30), |_| true).await;
    use base64::Engine;
    assert_eq!(got.authorization, format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("pager:topsecretpw")));
    assert!(got.signed_with(SECRET));
}

/// A receiver that hangs until the send times out holds up no other
/// delivery: another project's alert goes out meanwhile (deliveries went
/// in rounds, each waiting for its slowest: about 10 s here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_holds_up_no_other_projects_alerts() {
    let (hanging, quick) = (Receiver::default(), Receiver::default());
    hanging.slow_ms.store(30_000, Ordering::SeqCst);
    let (hanging_base, quick_base) = (hanging.start().await, quick.start().await);
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), PRIVATE_RECEIVERS]).await;
    let other = s.create_key("other", &["admin", "ingest"]).await;
    let (status, _) = set_rules(&s, json!([{"name": "ops", "url": format!("{hanging_base}/hook"), "secret": SECRET}])).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s.send_json(Method::PUT, &other, "/v1/alerts/rules", json!({"rules": [{"name": "ops", "url": format!("{quick_base}/hook"), "secret": SECRET}]})).await;
    assert_eq!(status, StatusCode::OK);
    for n in 0..5 {
        assert_eq!(s.post_steps(ADMIN_KEY, email("stuck", n).to_string(), &[]).await.0, StatusCode::OK);
    }
    // The hanging receiver has the request (and holds it).
    let deadline = Instant::now() + Duration::from_secs(30);
    while hanging.got("/hook").is_empty() {
        assert!(Instant::now() < deadline, "the first alert never reached its receiver");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let held_since = Instant::now();
    for n in 0..5 {
        assert_eq!(s.post_steps(&other, email("free", n).to_string(), &[]).await.0, StatusCode::OK);
    }
    quick.wait_for("/hook", Duration::from_secs(30), |_| true).await;
    let waited = held_since.elapsed();
    assert!(waited < Duration::from_secs(7), "the other project's alert waited {waited:?} behind the hanging receiver (its send times out at 10 s)");
}

/// Starts Flightlog in `dir` with one rule sending to the receiver's
/// `/hook`, makes an incident (two identical emails in sess-1), and waits
/// until the receiver has its first attempt. Answers the server and the
/// agent's key.
async fn incident_under_way(receiver: &Receiver, dir: &std::path::Path) -> (Server, String) {
    let base = receiver.start().await;
    let s = Server::start_in(dir, &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), PRIVATE_RECEIVERS]).await;
    let agent = s.create_key("default", &["ingest"]).await;
    let (status, set) = set_rules(&s, json!([{"name": "ops", "url": format!("{base}/hook"), "secret": SECRET}])).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    for n in 0..2 {
        assert_eq!(s.post_steps(&agent, email("sess-1", n).to_string(), &[]).await.0, StatusCode::OK);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.got("/hook").is_empty() {
        assert!(Instant::now() < deadline, "no attempt within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (s, agent)
}

/// After a restart, a new incident (another recipient's emails, in
/// sess-2) is made and waited for: the outbox is read and sent at start-up,
/// before it, so a repeat of an old delivery would have come by then.
async fn sent_after_a_restart_only_what_is_new(s: &Server, agent: &str, receiver: &Receiver) {
    for n in 0..2 {
        let step = json!({"session_id": "sess-2", "step": n, "timestamp": format_timestamp(now_us()), "agent": {"name": "mailer"},
                          "tool_execution": {"name": "send_email", "params": {"to": "john@example.com"}, "result": "sent", "status": "ok"}});
        assert_eq!(s.post_steps(agent, step.to_string(), &[]).await.0, StatusCode::OK);
    }
    receiver.wait_for("/hook", Duration::from_secs(40), |r| r.json()["incident"]["sessions"] == json!(["sess-2"])).await;
    // A repeat sent in the same round as sess-2's alert (the round's sends
    // go out at once) may reach the receiver just after it: give it time.
    tokio::time::sleep(Duration::from_secs(2)).await;
}

/// By default a rule may not send into the server's own machine or network
/// (a project's admin would otherwise make the server post to its loopback
/// or to the cloud's metadata address): refused when set, naming the URL.
#[tokio::test]
async fn receivers_inside_the_servers_network_are_refused_unless_the_operator_allows_them() {
    let s = Server::start().await;
    for url in ["http://127.0.0.1:9/hook", "http://0x7f000001:9/", "http://localhost:9/", "http://169.254.169.254/latest/meta-data/",
                "http://[::1]:9/", "http://10.0.0.5/hook"] {
        let (status, refused) = set_rules(&s, json!([{"name": "ops", "url": url, "secret": SECRET}])).await;
        assert_eq!((status, refused["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("rules[0].url")), "{url}: {refused}");
        assert!(refused.to_string().contains("--alert-private-receivers"), "says how to allow it: {refused}");
    }
    let (status, set) = set_rules(&s, json!([{"name": "ops", "url": "https://hooks.example/flightlog", "secret": SECRET}])).await;
    assert_eq!(status, StatusCode::OK, "a public receiver: {set}");
}

/// Steps dated an hour ago (an agent's backlog, an import): the incident
/// is found now, after the rule was set, and its alert fails until a
/// restart. The detectors replaying stored steps at start-up used to date
/// it by its last step, before the rule, and so it was never sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_not_sent_before_a_restart_is_sent_after_it_whatever_its_steps_dates() {
    let receiver = Receiver::default();
    receiver.down.store(true, Ordering::SeqCst);
    let base = receiver.start().await;
    let dir = tempfile::tempdir().unwrap();
    let env = [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), PRIVATE_RECEIVERS, ("FLIGHTLOG_PUBLIC_URL", "https://flightlog.example/")];
    let mut s = Server::start_in(dir.path(), &env).await;
    let (status, set) = set_rules(&s, json!([{"name": "ops", "url": format!("{base}/hook"), "secret": SECRET}])).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    let hour_ago = now_us() - 3_600_000_000;
    for n in 0..2u64 {
        let step = json!({"session_id": "backlog", "step": n, "timestamp": format_timestamp(hour_ago + n as i64 * 1_000_000), "agent": {"name": "mailer"},
                          "tool_execution": {"name": "send_email", "params": {"to": "jane@example.com"}, "result": "sent", "status": "ok"}});
        assert_eq!(s.post_steps(ADMIN_KEY, step.to_string(), &[]).await.0, StatusCode::OK);
    }
    // Tried (and refused by the receiver) at least once, then a restart.
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.got("/hook").is_empty() {
        assert!(Instant::now() < deadline, "no attempt within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _) = s.terminate();
    assert!(status.success());
    receiver.down.store(false, Ordering::SeqCst);
    let s = Server::start_in(dir.path(), &env).await;
    let taken = receiver.wait_for("/hook", Duration::from_secs(40), |r| r.answered == 200 && r.json()["incident"]["sessions"] == json!(["backlog"])).await;
    assert!(taken.signed_with(SECRET));
    // With --public-url, the link leads to the page from anywhere.
    let link = taken.json()["link"].as_str().unwrap().to_string();
    assert!(link.starts_with("https://flightlog.example/") && !link.starts_with("https://flightlog.example//"), "{link}");
    drop(s);
}
