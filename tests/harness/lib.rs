//! The end-to-end harness: starts the real `flightlog` binary on a data
//! folder, waits until it answers, and talks to it over HTTP. Tests can kill
//! it with SIGKILL and start it again on the same folder.
//!
//! The binary is `$FLIGHTLOG_BIN` (the Makefile sets it), else the
//! `flightlog` next to this test's own build output.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod proxy;
pub use proxy::{Mode, Proxy};
pub use reqwest::StatusCode;
pub use serde_json::{Value, json};

pub const ADMIN_KEY: &str = "test-admin-key";

pub fn binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("FLIGHTLOG_BIN") {
        return bin.into();
    }
    // target/<profile>/deps/<test> → target/<profile>/flightlog
    let exe = std::env::current_exe().expect("test executable path");
    let bin = exe.parent().and_then(Path::parent).expect("target dir").join("flightlog");
    assert!(bin.exists(), "{} is missing: run `cargo build --bin flightlog` (make test does)", bin.display());
    bin
}

/// Which ClickHouse the servers under test use: the embedded engine
/// (default) or, with `FLIGHTLOG_TEST_BACKEND=server`, a ClickHouse server
/// (the `flightlog-chdb-http` fixture, one per data folder, started on
/// first use and kept across restarts of Flightlog on that folder, as a
/// real server would be). The same tests run in both modes.
pub fn server_mode() -> bool {
    std::env::var("FLIGHTLOG_TEST_BACKEND").is_ok_and(|b| b == "server")
}

/// The environment that points a `flightlog` command at the store of a
/// data folder: nothing in embedded mode, the folder's ClickHouse server in
/// server mode.
///
/// With `FLIGHTLOG_TEST_CLICKHOUSE_URL` (and `_USER`, `_PASSWORD`, and
/// `_CLUSTER` for a replicated cluster) set, server mode uses that real
/// server instead of the fixture, one database per data folder; tests that
/// need to stop the server say they were skipped.
pub fn store_env(data_dir: &Path) -> Vec<(String, String)> {
    if !server_mode() {
        return Vec::new();
    }
    if let Some(url) = real_clickhouse() {
        let database = format!("flightlog_test_{:016x}", {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            data_dir.hash(&mut h);
            h.finish()
        });
        let mut env = vec![("FLIGHTLOG_CLICKHOUSE_URL".to_string(), url), ("FLIGHTLOG_CLICKHOUSE_DATABASE".to_string(), database)];
        let real = [
            ("FLIGHTLOG_TEST_CLICKHOUSE_USER", "FLIGHTLOG_CLICKHOUSE_USER"),
            ("FLIGHTLOG_TEST_CLICKHOUSE_PASSWORD", "FLIGHTLOG_CLICKHOUSE_PASSWORD"),
            ("FLIGHTLOG_TEST_CLICKHOUSE_CLUSTER", "FLIGHTLOG_CLICKHOUSE_CLUSTER"),
        ];
        for (from, to) in real {
            if let Ok(v) = std::env::var(from) {
                env.push((to.to_string(), v));
            }
        }
        return env;
    }
    vec![("FLIGHTLOG_CLICKHOUSE_URL".into(), clickhouse_for(data_dir))]
}

/// A real ClickHouse server to test against (`FLIGHTLOG_TEST_CLICKHOUSE_URL`).
pub fn real_clickhouse() -> Option<String> {
    std::env::var("FLIGHTLOG_TEST_CLICKHOUSE_URL").ok().filter(|u| !u.is_empty())
}

struct Fixture {
    child: Child,
    url: String,
    /// Kept open: the fixture may still write to it.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

static FIXTURES: std::sync::Mutex<Vec<(PathBuf, Fixture)>> = std::sync::Mutex::new(Vec::new());

/// The URL of the ClickHouse server holding `data_dir`'s data, started when
/// it is not running (its data lives in DATA_DIR/clickhouse-server).
pub fn clickhouse_for(data_dir: &Path) -> String {
    let mut fixtures = FIXTURES.lock().unwrap_or_else(|p| p.into_inner());
    fixtures.retain_mut(|(_, f)| matches!(f.child.try_wait(), Ok(None)));
    if let Some((_, f)) = fixtures.iter().find(|(dir, _)| dir == data_dir) {
        return f.url.clone();
    }
    let fixture = spawn_fixture(data_dir, "127.0.0.1:0");
    let url = fixture.url.clone();
    fixtures.push((data_dir.to_owned(), fixture));
    url
}

fn spawn_fixture(data_dir: &Path, listen: &str) -> Fixture {
    let bin = binary().with_file_name("flightlog-chdb-http");
    let mut cmd = Command::new(&bin);
    cmd.arg("--data-dir")
        .arg(data_dir.join("clickhouse-server"))
        .args(["--listen", listen])
        .env("FLIGHTLOG_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // The fixture dies with the test that started it.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).expect("the fixture says where it listens");
    let addr = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    Fixture { child, url: format!("http://{addr}"), _stdout: stdout }
}

/// Kills the ClickHouse server of `data_dir` with SIGKILL (server mode),
/// like a crash: connections are refused until [`restart_clickhouse`].
pub fn kill_clickhouse(data_dir: &Path) {
    let mut fixtures = FIXTURES.lock().unwrap_or_else(|p| p.into_inner());
    let (_, f) = fixtures.iter_mut().find(|(dir, _)| dir == data_dir).expect("a ClickHouse server for this folder");
    f.child.kill().expect("SIGKILL the fixture");
    f.child.wait().expect("reap the fixture");
}

/// Starts the killed ClickHouse server of `data_dir` again, on the same
/// address and data.
pub fn restart_clickhouse(data_dir: &Path) {
    let mut fixtures = FIXTURES.lock().unwrap_or_else(|p| p.into_inner());
    let (_, f) = fixtures.iter_mut().find(|(dir, _)| dir == data_dir).expect("a ClickHouse server for this folder");
    let listen = f.url.trim_start_matches("http://").to_string();
    *f = spawn_fixture(data_dir, &listen);
}

/// Runs `flightlog sql` on the store of a stopped instance's folder (its
/// ClickHouse server in server mode).
pub fn flightlog_sql(data_dir: &Path, statement: &str) -> std::process::Output {
    Command::new(binary()).args(["sql", "--data-dir"]).arg(data_dir).envs(store_env(data_dir)).arg(statement).output().expect("run flightlog sql")
}

/// Stops the ClickHouse server of `data_dir` (server mode): SIGSTOP
/// (`pause`) or SIGCONT (resume), for tests of a backend that goes away.
pub fn pause_clickhouse(data_dir: &Path, pause: bool) {
    let fixtures = FIXTURES.lock().unwrap_or_else(|p| p.into_inner());
    let (_, f) = fixtures.iter().find(|(dir, _)| dir == data_dir).expect("a ClickHouse server for this folder");
    let signal = if pause { nix::sys::signal::Signal::SIGSTOP } else { nix::sys::signal::Signal::SIGCONT };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(f.child.id() as i32), signal).expect("signal the fixture");
}

pub struct Server {
    child: Option<Child>,
    /// What the server printed on stdout, read as it comes (the address it
    /// listens on is taken from it).
    printed: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
    listening: std::sync::mpsc::Receiver<String>,
    pub base: String,
    pub data_dir: PathBuf,
    /// Keeps a temporary data folder alive for the server's lifetime.
    _temp: Option<tempfile::TempDir>,
    pub http: reqwest::Client,
    /// Web session cookies by API key, so `page` signs in once per key.
    web_cookies: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl Server {
    /// A server on a fresh temporary data folder, bootstrapped with
    /// [`ADMIN_KEY`] as the admin key of project `default`.
    pub async fn start() -> Self {
        let temp = tempfile::tempdir().expect("temp dir");
        let mut s = Self::start_in(temp.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)]).await;
        s._temp = Some(temp);
        s
    }

    /// Keeps a temporary data folder for as long as the server lives.
    pub fn keep_dir(&mut self, dir: tempfile::TempDir) {
        self._temp = Some(dir);
    }

    pub async fn start_in(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_with(data_dir, env, &[]).await
    }

    /// Like `start_in`, with extra `serve` arguments (e.g. `--demo`).
    pub async fn start_with(data_dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Self {
        Self::start_sharing(data_dir, data_dir, env, args).await
    }

    /// A server on its own `data_dir` whose store is that of `store_of`
    /// (server mode: another process's ClickHouse server, shared).
    pub async fn start_sharing(data_dir: &Path, store_of: &Path, env: &[(&str, &str)], args: &[&str]) -> Self {
        // The server binds a port of the kernel's choosing and says which:
        // no other test's server can answer in its place.
        for _ in 0..4 {
            let mut server = Self::spawn(data_dir, store_of, env, args);
            if server.wait_ready().await {
                return server;
            }
            server.child.take();
        }
        panic!("flightlog serve kept exiting at start-up (see its log above)");
    }

    fn spawn(data_dir: &Path, store_of: &Path, env: &[(&str, &str)], args: &[&str]) -> Self {
        let mut cmd = Command::new(binary());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .envs(store_env(store_of))
            .env("FLIGHTLOG_LOG", "warn")
            // Similar-failure search loads a model and runs an indexer:
            // only the tests about it turn it on (FLIGHTLOG_NO_SEARCH=false).
            .env("FLIGHTLOG_NO_SEARCH", "true")
            // Parallel tests cannot all listen on 4317: only the tests
            // about OTLP/gRPC turn it on, on a port of their own.
            .env("FLIGHTLOG_NO_OTLP_GRPC", "true")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start flightlog serve");
        let stdout = child.stdout.take().expect("stdout");
        let printed = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (said, listening) = std::sync::mpsc::channel();
        let reader = std::thread::spawn({
            let printed = printed.clone();
            move || {
                for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
                    let Ok(line) = line else { break };
                    if let Some(url) = line.strip_prefix("Flightlog listening on ") {
                        let _ = said.send(url.trim().to_string());
                    }
                    let mut all = printed.lock().unwrap_or_else(|p| p.into_inner());
                    all.push_str(&line);
                    all.push('\n');
                }
            }
        });
        Self {
            child: Some(child),
            printed,
            reader: Some(reader),
            listening,
            base: String::new(),
            data_dir: data_dir.to_owned(),
            _temp: None,
            // Idle pooled connections are dropped well before the server's
            // keep-alive limit (--header-timeout) closes them, so a request
            // never races the server's close (HTTP/1.1 clients must retry
            // in that case; reqwest does not).
            http: reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(5)).build().expect("http client"),
            web_cookies: Default::default(),
        }
    }

    /// True once the server said where it listens and answers /healthz
    /// there (200, or a standby's 503 about its writer); false when it
    /// exited first.
    async fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.base.is_empty() {
                match self.listening.try_recv() {
                    Ok(url) => self.base = url,
                    Err(_) => {
                        if let Some(child) = self.child.as_mut()
                            && child.try_wait().expect("poll the server").is_some()
                        {
                            return false;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                }
            }
            if let Ok(r) = self.http.get(format!("{}/healthz", self.base)).send().await {
                if r.status().is_success() {
                    return true;
                }
                // A standby is up once it answers, even degraded: it says
                // so while the writer it forwards to does not answer.
                if let Ok(health) = r.json::<serde_json::Value>().await
                    && health["ingest"]["lease"]["role"] == "standby"
                    && health["ingest"]["lease"]["writer"].is_string()
                {
                    return true;
                }
            }
            if let Some(child) = self.child.as_mut()
                && child.try_wait().expect("poll the server").is_some()
            {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("flightlog did not answer /healthz within 60 s");
    }

    /// The port the server listens on (chosen by the kernel at start).
    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port in the server's URL")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// SIGKILL: no shutdown code runs, exactly like a crash.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
        }
    }

    /// SIGKILL in the middle of a stream of writes: once `acknowledged()`
    /// (what the clients have had acknowledged) reaches `at_least` and
    /// `after` has passed, both within 60 s; then waits for the clients'
    /// `tasks`, which end when the server is gone.
    pub async fn kill9_mid_stream(&mut self, acknowledged: impl Fn() -> u64, at_least: u64, after: Duration, tasks: Vec<tokio::task::JoinHandle<()>>) {
        let started = Instant::now();
        loop {
            let total = acknowledged();
            if total >= at_least && started.elapsed() >= after {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "only {total} steps acknowledged within 60 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.kill9();
        for t in tasks {
            t.await.unwrap();
        }
    }

    /// SIGTERM, then waits for a clean exit; returns the exit status and
    /// whatever the server printed on stdout.
    pub fn terminate(&mut self) -> (std::process::ExitStatus, String) {
        let child = self.child.take().expect("server running");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM)
            .expect("SIGTERM");
        let status = child.wait_with_output().expect("wait").status;
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the stdout reader");
        }
        (status, self.printed.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// POSTs a body to /v1/steps with optional extra headers.
    pub async fn post_steps(&self, key: &str, body: impl Into<reqwest::Body>, headers: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut req = self.http.post(format!("{}/v1/steps", self.base)).bearer_auth(key).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("POST /v1/steps");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, key: &str, path: &str) -> (StatusCode, Value) {
        let resp = self.http.get(format!("{}{path}", self.base)).bearer_auth(key).send().await.expect("GET");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn send_json(&self, method: reqwest::Method, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let resp = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(key).json(&body).send().await.expect("request");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// GET /healthz.
    pub async fn health(&self) -> Value {
        let resp = self.http.get(format!("{}/healthz", self.base)).send().await.expect("GET /healthz");
        resp.json().await.expect("healthz JSON")
    }

    /// Waits until the guard has recorded `answers` answers since start
    /// (they are written off the answer's path, shortly after).
    pub async fn wait_guard_recorded(&self, answers: u64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let h = self.health().await;
            let counts = &h["ingest"]["guard_answers"];
            assert_eq!(counts["unrecorded"], 0, "an answer was not recorded: {h}");
            if counts["recorded"].as_u64() == Some(answers) {
                return;
            }
            assert!(counts["recorded"].as_u64() < Some(answers), "more answers recorded than given: {h}");
            assert!(Instant::now() < deadline, "{answers} answers not recorded within {within:?}: {h}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until every incident found so far is durable, so that one the
    /// detectors on the request's path found for a request already answered
    /// can be read (a check that none was found needs this, not a sleep).
    pub async fn wait_incidents_durable(&self, within: Duration) {
        let deadline = Instant::now() + within;
        let handed_over = self.health().await["ingest"]["incidents"]["handed_over"].as_u64().expect("healthz counts incidents");
        loop {
            let h = self.health().await;
            if h["ingest"]["incidents"]["durable"].as_u64() >= Some(handed_over) {
                return;
            }
            assert!(Instant::now() < deadline, "incidents handed over ({handed_over}) not durable within {within:?}: {h}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the similar-failure index holds `points` points and the
    /// indexer has nothing left to do; returns /healthz's search part.
    pub async fn wait_indexed(&self, points: u64, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let h = self.health().await;
            let s = &h["search"];
            if s["points"].as_u64() == Some(points) && s["indexer"]["state"] == "up to date" {
                return s.clone();
            }
            assert!(Instant::now() < deadline, "index not at {points} points within {within:?}: {s}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the detectors behind ingestion (near-duplicates, goal
    /// drift, priced runaways) have compared every stored step.
    pub async fn wait_detectors_behind(&self, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let ingest = self.health().await["ingest"].clone();
            let d = &ingest["detectors_behind"];
            if d["state"] == "up_to_date" && d["next_log_index"] == ingest["log_size"] {
                return d.clone();
            }
            assert!(Instant::now() < deadline, "detectors behind ingestion not caught up within {within:?}: {ingest}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until the indexer has indexed every key decision stored.
    ///
    /// The indexer reports its state between rounds and its lag once a
    /// second, so an answer read right after a post may predate the post:
    /// it must say "up to date, nothing behind" twice, over a second apart.
    pub async fn wait_caught_up(&self, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        let mut since: Option<Instant> = None;
        loop {
            let s = self.health().await["search"].clone();
            if s["indexer"]["state"] == "up to date" && s["indexer"]["steps_behind"] == 0 {
                match since {
                    Some(t) if t.elapsed() > Duration::from_millis(1_200) => return s,
                    Some(_) => {}
                    None => since = Some(Instant::now()),
                }
            } else {
                since = None;
            }
            assert!(Instant::now() < deadline, "indexer not caught up within {within:?}: {s}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// A web page as a reader signed in with `key` sees it. Signs in
    /// through the sign-in form once per key, like a browser, and reuses
    /// the session cookie; a key that cannot sign in sees what a signed-out
    /// reader sees.
    pub async fn page(&self, key: &str, path: &str) -> (StatusCode, String) {
        let cached = self.web_cookies.lock().unwrap().get(key).cloned();
        let cookie = match cached {
            Some(c) => Some(c),
            None => {
                let c = self.web_sign_in(key).await;
                if let Some(c) = &c {
                    self.web_cookies.lock().unwrap().insert(key.to_string(), c.clone());
                }
                c
            }
        };
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(cookie) = cookie {
            req = req.header("cookie", cookie);
        }
        let resp = req.send().await.expect("GET page");
        let status = resp.status();
        (status, resp.text().await.unwrap_or_default())
    }

    /// Signs in to the web UI as a browser does: GET /login for the form's
    /// CSRF token and pre-session cookie, then POST the key from this
    /// site's origin. Returns the `flightlog_session=…` cookie pair, or
    /// None when the sign-in is refused.
    pub async fn web_sign_in(&self, key: &str) -> Option<String> {
        let (_, answer) = self.web_sign_in_exchange(key, &[]).await;
        cookie_pair(answer.headers(), "flightlog_session")
    }

    /// The sign-in itself, for tests about it: the form's Set-Cookie
    /// headers and the answer to the POST (sent with `extra` headers too).
    pub async fn web_sign_in_exchange(&self, key: &str, extra: &[(&str, &str)]) -> (Vec<String>, reqwest::Response) {
        let client = no_redirects();
        let form = client.get(format!("{}/login", self.base)).send().await.expect("GET /login");
        let form_cookies = set_cookies(form.headers());
        let pre_session = cookie_pair(form.headers(), "flightlog_signin").expect("the sign-in form sets its cookie");
        let token = form_token(&form.text().await.unwrap()).expect("the sign-in form has a CSRF token");
        let mut post = client
            .post(format!("{}/login", self.base))
            .header("cookie", pre_session)
            .header("origin", &self.base)
            .form(&[("key", key), ("csrf", &token)]);
        for (name, value) in extra {
            post = post.header(*name, *value);
        }
        (form_cookies, post.send().await.expect("POST /login"))
    }

    /// Creates a key through the admin API and returns it.
    pub async fn create_key(&self, project: &str, scopes: &[&str]) -> String {
        let (status, body) = self
            .send_json(reqwest::Method::POST, ADMIN_KEY, "/v1/keys", json!({"project": project, "scopes": scopes, "name": "test"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["key"].as_str().expect("key in answer").to_string()
    }

    /// Every step of a session, walking the timeline's pages.
    pub async fn all_steps(&self, key: &str, session: &str, page: u32) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after = String::new();
        loop {
            let (status, body) = self.get(key, &format!("/v1/sessions/{session}/steps?limit={page}{after}")).await;
            if status == StatusCode::NOT_FOUND {
                return out;
            }
            assert_eq!(status, StatusCode::OK, "{body}");
            out.extend(body["steps"].as_array().unwrap().iter().cloned());
            match body["next_after"].as_u64() {
                Some(n) => after = format!("&after={n}"),
                None => return out,
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// An HTTP client that stops at redirects, to see where they lead.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Every Set-Cookie header of a response, whole.
pub fn set_cookies(headers: &reqwest::header::HeaderMap) -> Vec<String> {
    headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect()
}

/// `name=value` of the cookie `name` that a response sets (not a removal).
pub fn cookie_pair(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.split_once('=').is_some_and(|(n, value)| n == name && !value.is_empty()))
        .map(str::to_string)
}

/// The hidden `csrf` field of a page's form.
pub fn form_token(html: &str) -> Option<String> {
    let start = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(html[start..].split('"').next()?.to_string())
}

/// A minimal valid step.
pub fn step(session: &str, n: u64) -> Value {
    json!({"session_id": session, "step": n, "timestamp": "2026-01-15T10:30:00Z"})
}

pub fn ndjson(values: &[Value]) -> String {
    values.iter().map(Value::to_string).collect::<Vec<_>>().join("\n")
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A browser signed in to the web UI with one key.
pub struct Browser<'a> {
    pub s: &'a Server,
    pub cookie: String,
    pub http: reqwest::Client,
}

impl<'a> Browser<'a> {
    pub async fn sign_in(s: &'a Server, key: &str) -> Browser<'a> {
        let cookie = s.web_sign_in(key).await.expect("the key signs in");
        Browser { s, cookie, http: no_redirects() }
    }

    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let resp = self.http.get(format!("{}{path}", self.s.base)).header("cookie", &self.cookie).send().await.unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    /// The form token of the signed-in pages.
    pub async fn token(&self) -> String {
        form_token(&self.get("/sessions").await.1).expect("a signed-in page has a form token")
    }

    /// Sends a form from this site with the session's token; returns the
    /// status, where it redirects to, and the page.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String, String) {
        let token = self.token().await;
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf", &token));
        self.post_as_is(path, &form).await
    }

    pub async fn post_as_is(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String, String) {
        let resp = self
            .http
            .post(format!("{}{path}", self.s.base))
            .header("cookie", &self.cookie)
            .header("origin", &self.s.base)
            .form(form)
            .send()
            .await
            .unwrap();
        let location = resp.headers().get("location").map(|l| l.to_str().unwrap().to_string()).unwrap_or_default();
        (resp.status(), location, resp.text().await.unwrap())
    }
}
