//! Several Flightlog processes on one ClickHouse server, for real: two
//! `flightlog serve` processes, each with its own data folder, share the
//! fixture's store. One holds the writer lease; the other forwards
//! ingestion to it. Clients send the same sessions to both at once, then
//! the writer is killed with SIGKILL mid-ingest and the other takes over.
//! Every step must be stored exactly once and the whole record verify.
//!
//! Server mode only (`FLIGHTLOG_TEST_BACKEND=server`): in embedded mode one
//! process owns its store, and the test says it was skipped.

use flightlog_tests::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SESSIONS: u64 = 4;
const BATCHES: u64 = 24;
const BATCH: u64 = 25;
/// Short, so that a takeover fits in a test: a killed writer's lease runs
/// out after this many seconds.
const LEASE_TTL: &str = "3";

fn skipped() -> bool {
    if !server_mode() {
        eprintln!("skipped: runs with FLIGHTLOG_TEST_BACKEND=server (processes sharing one ClickHouse server)");
        return true;
    }
    false
}

fn replica_step(session: u64, n: u64) -> Value {
    let mut v = step(&format!("shared-{session}"), n);
    v["agent_thoughts"] = json!({"reasoning": format!("session {session} step {n}")});
    v
}

/// Where processes sharing a store keep their one signing key: in the
/// first one's folder.
fn signing_key_file(dir: &tempfile::TempDir) -> String {
    dir.path().join("shared-signing.key").to_str().unwrap().to_string()
}

/// What processes sharing a store start with: the bootstrap key, a lease of
/// `ttl` seconds, and one signing key (docs/scale-out.md says to share it).
fn shared_env<'a>(key_file: &'a str, ttl: &'a str) -> [(&'static str, &'a str); 3] {
    [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), ("FLIGHTLOG_WRITER_LEASE_TTL", ttl), ("FLIGHTLOG_SIGNING_KEY_FILE", key_file)]
}

/// Two processes on the store of the first one's folder.
async fn two_processes() -> (tempfile::TempDir, Server, tempfile::TempDir, Server) {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let key_file = signing_key_file(&dir_a);
    let env = shared_env(&key_file, LEASE_TTL);
    let a = Server::start_sharing(dir_a.path(), dir_a.path(), &env, &[]).await;
    let b = Server::start_sharing(dir_b.path(), dir_a.path(), &env, &[]).await;
    (dir_a, a, dir_b, b)
}

async fn role(server: &Server) -> Value {
    server.health().await["ingest"]["lease"].clone()
}

/// Waits (at most 30 s) until `server`'s lease role is `wanted`.
async fn becomes(server: &Server, wanted: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while role(server).await["role"] != wanted {
        assert!(Instant::now() < deadline, "{what} within 30 s: {}", role(server).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Default)]
struct Seen {
    unavailable: AtomicU64,
    no_answer: AtomicU64,
    accepted: AtomicU64,
}

/// One client per session, sending each batch until a 200 says it is
/// stored. Every batch goes to both processes at once (the same steps
/// racing through the writer and through the forwarder), and a failed
/// send is retried on the other process.
fn start_clients(bases: [String; 2], seen: &Arc<Seen>) -> Vec<tokio::task::JoinHandle<()>> {
    (0..SESSIONS)
        .map(|session| {
            let (bases, seen) = (bases.clone(), seen.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
                for batch in 0..BATCHES {
                    let body = ndjson(&(batch * BATCH..(batch + 1) * BATCH).map(|n| replica_step(session, n)).collect::<Vec<_>>());
                    let mut attempt = 0usize;
                    loop {
                        let sends = [0, 1].map(|i| {
                            let base = &bases[(i + attempt) % 2];
                            http.post(format!("{base}/v1/steps")).bearer_auth(ADMIN_KEY).body(body.clone()).send()
                        });
                        let answers = futures_join(sends).await;
                        let mut stored = false;
                        for answer in answers {
                            match answer {
                                Ok(r) if r.status() == StatusCode::OK => {
                                    let v: Value = r.json().await.unwrap();
                                    let counted = v["accepted"].as_u64().unwrap() + v["duplicates"].as_u64().unwrap();
                                    assert_eq!(counted, BATCH, "a 200 stores the whole batch: {v}");
                                    seen.accepted.fetch_add(v["accepted"].as_u64().unwrap(), Ordering::Relaxed);
                                    stored = true;
                                }
                                Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => {
                                    assert!(r.headers().get("retry-after").is_some(), "a 503 says when to retry");
                                    seen.unavailable.fetch_add(1, Ordering::Relaxed);
                                }
                                Ok(r) => panic!("unexpected answer {}: {}", r.status(), r.text().await.unwrap_or_default()),
                                Err(_) => {
                                    seen.no_answer.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                        if stored {
                            break;
                        }
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            })
        })
        .collect()
}

/// Both requests at once, answers in order.
async fn futures_join<F: std::future::Future>(futures: [F; 2]) -> [F::Output; 2] {
    let [a, b] = futures;
    let (a, b) = tokio::join!(a, b);
    [a, b]
}

/// Every step of every session once, in order, and the whole record
/// (chains, log, checkpoints) verifies.
async fn all_stored_once(server: &Server) {
    for session in 0..SESSIONS {
        let stored = server.all_steps(ADMIN_KEY, &format!("shared-{session}"), 1000).await;
        let numbers: Vec<u64> = stored.iter().map(|s| s["step"].as_u64().unwrap()).collect();
        assert_eq!(numbers, (0..BATCHES * BATCH).collect::<Vec<_>>(), "session {session}: every step once, in order");
    }
    let (status, sealed) = server.send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/integrity/checkpoints", json!({})).await;
    assert!(status.is_success(), "a checkpoint is signed through either process: {status} {sealed}");
    let (status, report) = server.get(ADMIN_KEY, "/v1/integrity/verify").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["status"], "verified", "{report}");
    assert_eq!(report["steps_checked"].as_u64(), Some(SESSIONS * BATCHES * BATCH), "{report}");
    assert_eq!(report["problems"].as_array().map(Vec::len), Some(0), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_take_the_same_sessions_at_once_and_the_record_verifies() {
    if skipped() {
        return;
    }
    let (_dir_a, a, _dir_b, b) = two_processes().await;
    let roles = [role(&a).await, role(&b).await];
    let writers = roles.iter().filter(|r| r["role"] == "writer").count();
    assert_eq!(writers, 1, "exactly one process writes: {roles:?}");
    let standby = roles.iter().find(|r| r["role"] == "standby").expect("the other is a standby");
    assert!(standby["writer"].as_str().is_some_and(|w| w == a.base || w == b.base), "the standby knows the writer: {roles:?}");
    // A standby whose writer answers is ok (its /healthz asks the writer's).
    for s in [&a, &b] {
        assert_eq!(s.health().await["status"], "ok", "{}", s.health().await);
    }

    let seen = Arc::new(Seen::default());
    let clients = start_clients([a.base.clone(), b.base.clone()], &seen);
    for c in clients {
        tokio::time::timeout(Duration::from_secs(120), c).await.expect("clients finish").unwrap();
    }
    eprintln!("503s: {}, sends without an answer: {}", seen.unavailable.load(Ordering::Relaxed), seen.no_answer.load(Ordering::Relaxed));
    // Each step was sent twice at once, through both processes: one send
    // was accepted, the other found it a duplicate.
    assert_eq!(seen.accepted.load(Ordering::Relaxed), SESSIONS * BATCHES * BATCH, "each step accepted once, by one process");
    all_stored_once(&a).await;
    all_stored_once(&b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_the_writer_is_killed_mid_ingest_the_other_process_takes_over() {
    if skipped() {
        return;
    }
    let (_dir_a, a, _dir_b, b) = two_processes().await;
    let (mut writer, standby) = if role(&a).await["role"] == "writer" { (a, b) } else { (b, a) };
    assert_eq!(role(&standby).await["role"], "standby");

    let seen = Arc::new(Seen::default());
    let clients = start_clients([writer.base.clone(), standby.base.clone()], &seen);
    // Some steps in (1.5 s at least), then the writer dies mid-ingest.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) || seen.accepted.load(Ordering::Relaxed) == 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "no step accepted within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let accepted_before = seen.accepted.load(Ordering::Relaxed);
    writer.kill9();
    let killed = Instant::now();
    becomes(&standby, "writer", "the standby took the lease").await;
    let took_over = killed.elapsed();
    for c in clients {
        tokio::time::timeout(Duration::from_secs(120), c).await.expect("clients finish on the survivor").unwrap();
    }
    eprintln!(
        "writer killed after {accepted_before} steps; the other process wrote {:.1} s later; 503s: {}, sends without an answer: {}",
        took_over.as_secs_f64(),
        seen.unavailable.load(Ordering::Relaxed),
        seen.no_answer.load(Ordering::Relaxed)
    );
    assert!(accepted_before > 0 && accepted_before < SESSIONS * BATCHES * BATCH, "killed mid-ingest ({accepted_before} steps in)");
    // A commit the killed writer made but could not answer is found a
    // duplicate when retried: never accepted twice.
    assert!(seen.accepted.load(Ordering::Relaxed) <= SESSIONS * BATCHES * BATCH);
    all_stored_once(&standby).await;
    assert_eq!(standby.health().await["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_standby_whose_writer_cannot_be_reached_says_so_on_healthz() {
    if skipped() {
        return;
    }
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let key_file = signing_key_file(&dir_a);
    let env = shared_env(&key_file, LEASE_TTL);
    // The writer advertises an address nothing listens on (port 9).
    let nowhere = "http://127.0.0.1:9";
    let a = Server::start_sharing(dir_a.path(), dir_a.path(), &env, &["--advertise-url", nowhere]).await;
    becomes(&a, "writer", "the first process writes").await;
    let b = Server::start_sharing(dir_b.path(), dir_a.path(), &env, &[]).await;
    assert_eq!(role(&b).await, json!({"role": "standby", "writer": nowhere}));

    // Not at once: a writer that died is replaced within a lease's time to
    // live, and meanwhile a standby still serves reads. Past two of them
    // the writer still holds the lease and is out of reach: degraded.
    let asked = Instant::now();
    assert_eq!(b.health().await["status"], "ok", "within the lease's time to live");
    let health = loop {
        let answer = b.http.get(format!("{}/healthz", b.base)).send().await.unwrap();
        let status = answer.status();
        let health: Value = answer.json().await.unwrap();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break health;
        }
        assert!(asked.elapsed() < Duration::from_secs(30), "degraded within 30 s: {health}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(asked.elapsed() >= Duration::from_secs(5), "not before two times to live (3 s each): {:?}", asked.elapsed());
    assert_eq!(health["status"], "degraded");
    assert!(health["reason"].as_str().unwrap().contains("the writer at http://127.0.0.1:9"), "{health}");
    let sent = b.http.post(format!("{}/v1/steps", b.base)).bearer_auth(ADMIN_KEY).body(ndjson(&[replica_step(0, 0)])).send().await.unwrap();
    assert_eq!(sent.status(), StatusCode::SERVICE_UNAVAILABLE, "what /healthz said: ingestion through it fails");
    // The writer itself is fine (a standby that reaches its writer is ok:
    // two_processes_take_the_same_sessions_at_once_and_the_record_verifies).
    assert_eq!(a.health().await["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_writer_paused_past_its_lease_steps_down_when_it_wakes() {
    if skipped() {
        return;
    }
    let (_dir_a, a, _dir_b, b) = two_processes().await;
    let (writer, standby) = if role(&a).await["role"] == "writer" { (a, b) } else { (b, a) };
    let seen = Arc::new(Seen::default());
    let clients = start_clients([writer.base.clone(), standby.base.clone()], &seen);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // A process that believes it writes but is frozen (a long GC pause, a
    // stalled VM): requests queue up in its sockets meanwhile.
    let pid = nix::unistd::Pid::from_raw(writer.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    becomes(&standby, "writer", "the standby took the lease from the frozen writer").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    // Woken, it finds its lease gone: it must not commit what queued up.
    becomes(&writer, "standby", "the woken writer stepped down").await;
    for c in clients {
        tokio::time::timeout(Duration::from_secs(120), c).await.expect("clients finish").unwrap();
    }
    eprintln!("503s: {}, sends without an answer: {}", seen.unavailable.load(Ordering::Relaxed), seen.no_answer.load(Ordering::Relaxed));
    assert!(seen.accepted.load(Ordering::Relaxed) <= SESSIONS * BATCHES * BATCH);
    all_stored_once(&standby).await;
    all_stored_once(&writer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn behind_a_load_balancer_a_sign_in_form_from_one_process_is_accepted_by_the_other() {
    if skipped() {
        return;
    }
    let (_dir_a, a, _dir_b, b) = two_processes().await;
    let client = no_redirects();
    // The first process has read the sessions table already (a sign-in of
    // its own): it must still see sign-ins and sign-outs made elsewhere.
    let own = a.web_sign_in(ADMIN_KEY).await.expect("a sign-in on the first process");
    assert_eq!(client.get(format!("{}/sessions", a.base)).header("cookie", &own).send().await.unwrap().status(), StatusCode::OK);
    let form = client.get(format!("{}/login", a.base)).send().await.unwrap();
    let pre_session = cookie_pair(form.headers(), "flightlog_signin").expect("the form's cookie");
    let token = form_token(&form.text().await.unwrap()).expect("the form's token");
    // The POST lands on the other process (round robin).
    let signed_in = client
        .post(format!("{}/login", b.base))
        .header("cookie", pre_session)
        .header("origin", &b.base)
        .form(&[("key", ADMIN_KEY), ("csrf", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER, "{}", signed_in.text().await.unwrap_or_default());
    let session = cookie_pair(signed_in.headers(), "flightlog_session").expect("a web session");
    // And the next page comes from the first process again.
    let page = client.get(format!("{}/sessions", a.base)).header("cookie", &session).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "the web session is shared through the store");
    // Signed out on the second process, the cookie stops working on the
    // first within a second (what it read of the session is trusted no
    // longer than that).
    let html = client.get(format!("{}/sessions", b.base)).header("cookie", &session).send().await.unwrap().text().await.unwrap();
    let csrf = form_token(&html).expect("the page's sign-out form");
    let out = client.post(format!("{}/logout", b.base)).header("cookie", &session).header("origin", &b.base).form(&[("csrf", csrf)]).send().await.unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let page = client.get(format!("{}/sessions", a.base)).header("cookie", &session).send().await.unwrap();
    assert_eq!((page.status(), page.headers().get("location").map(|l| l.to_str().unwrap().to_string())), (StatusCode::SEE_OTHER, Some("/login".to_string())));
    assert_eq!(client.get(format!("{}/sessions", a.base)).header("cookie", &own).send().await.unwrap().status(), StatusCode::OK, "the other sign-in stands");
    let keys = [a.get(ADMIN_KEY, "/v1/integrity/public-key").await.1, b.get(ADMIN_KEY, "/v1/integrity/public-key").await.1];
    assert_eq!(keys[0], keys[1], "one signing key for every checkpoint");
}

/// Samples both processes' roles for `how_long`: how many times both said
/// they were the writer.
async fn both_writers(a: &Server, b: &Server, how_long: Duration) -> u64 {
    let (until, mut both) = (Instant::now() + how_long, 0);
    while Instant::now() < until {
        let (ra, rb) = tokio::join!(role(a), role(b));
        both += u64::from(ra["role"] == "writer" && rb["role"] == "writer");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    both
}

/// A second process whose data folder is a copy of the writer's (the same
/// replica name) never writes beside it: it waits as any standby does, and
/// the record verifies after both took the same sessions. Before, both
/// took the lease under the one name, again and again, and the log had
/// positions used twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_copy_of_the_writers_data_folder_never_writes_beside_it() {
    if skipped() {
        return;
    }
    let (dir_a, dir_c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let key_file = signing_key_file(&dir_a);
    let env = shared_env(&key_file, LEASE_TTL);
    let a = Server::start_sharing(dir_a.path(), dir_a.path(), &env, &[]).await;
    becomes(&a, "writer", "the first process writes").await;
    // What makes a copy a copy: the replica's name, kept in its folder.
    std::fs::copy(dir_a.path().join("replica-name"), dir_c.path().join("replica-name")).unwrap();
    let c = Server::start_sharing(dir_c.path(), dir_a.path(), &env, &[]).await;

    let seen = Arc::new(Seen::default());
    let clients = start_clients([a.base.clone(), c.base.clone()], &seen);
    let both = both_writers(&a, &c, Duration::from_secs(8)).await;
    for client in clients {
        tokio::time::timeout(Duration::from_secs(120), client).await.expect("clients finish").unwrap();
    }
    assert_eq!(both, 0, "both processes said they wrote");
    assert_eq!(role(&c).await["role"], "standby", "the copy waits while the writer lives");
    all_stored_once(&a).await;
}

/// A standby started with a shorter lease than the writer's waits out the
/// writer's: it took the lease from a writer that still renewed (every
/// 2.4 s, against the standby's 2 s), and both wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_standby_with_a_shorter_lease_waits_out_the_writers() {
    if skipped() {
        return;
    }
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let key_file = signing_key_file(&dir_a);
    let env = |ttl| shared_env(&key_file, ttl);
    let a = Server::start_sharing(dir_a.path(), dir_a.path(), &env("12"), &[]).await;
    becomes(&a, "writer", "the first process writes").await;
    let b = Server::start_sharing(dir_b.path(), dir_a.path(), &env("2"), &[]).await;
    assert_eq!(both_writers(&a, &b, Duration::from_secs(7)).await, 0, "both processes said they wrote");
    assert_eq!(role(&b).await["role"], "standby");
}
