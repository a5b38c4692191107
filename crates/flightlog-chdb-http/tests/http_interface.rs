//! The fixture binary, started on a temporary folder and spoken to over
//! HTTP as ClickHouse clients speak to a ClickHouse server.

use futures_util::future::join_all;
use reqwest::{Client, Response, StatusCode};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Fixture {
    child: Child,
    base: String,
    client: Client,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_flightlog-chdb-http"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the fixture starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Self {
            child,
            base: format!("http://{addr}/"),
            client: Client::new(),
            _dir: dir,
        }
    }

    /// POST with the statement in the body.
    async fn post(&self, sql: &str, params: &[(&str, &str)]) -> Response {
        self.client
            .post(&self.base)
            .query(params)
            .body(sql.to_string())
            .send()
            .await
            .unwrap()
    }

    async fn ok(&self, sql: &str, params: &[(&str, &str)]) -> String {
        let resp = self.post(sql, params).await;
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{sql}: {text}");
        text
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts a 200, showing the body otherwise.
async fn expect_ok(resp: Response) {
    let status = resp.status();
    assert_eq!(status, StatusCode::OK, "{}", resp.text().await.unwrap());
}

fn header<'a>(resp: &'a Response, name: &str) -> &'a str {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

fn summary(resp: &Response) -> serde_json::Value {
    serde_json::from_str(header(resp, "x-clickhouse-summary"))
        .expect("X-ClickHouse-Summary is JSON")
}

/// RowBinary of (UInt64, String).
fn row(id: u64, name: &str) -> Vec<u8> {
    let mut out = id.to_le_bytes().to_vec();
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    out
}

#[tokio::test]
async fn ping_and_root_answer_ok() {
    let fx = Fixture::start(&[]);
    for path in ["ping", ""] {
        let resp = fx
            .client
            .get(format!("{}{path}", fx.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.text().await.unwrap(), "Ok.\n");
    }
    let resp = fx
        .client
        .get(format!("{}nowhere", fx.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn rowbinary_inserts_and_selects_in_each_form() {
    let fx = Fixture::start(&[]);
    fx.ok(
        "CREATE TABLE t (id UInt64, name String) ENGINE = MergeTree ORDER BY id",
        &[],
    )
    .await;

    // Query in the URL, data in the body. The first byte of the data is a
    // line break (id 10): only the one after the format name is the query's.
    let data = [row(10, "ten"), row(11, "a\tb\nc")].concat();
    let resp = fx
        .client
        .post(&fx.base)
        .query(&[("query", "INSERT INTO t (id, name) FORMAT RowBinary")])
        .body(data)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let s = summary(&resp);
    assert_eq!(s["written_rows"], "2", "{s}");
    assert_eq!(s["read_rows"], "0");
    assert!(s["elapsed_ns"].as_str().unwrap().parse::<u64>().unwrap() > 0);
    assert!(!header(&resp, "x-clickhouse-query-id").is_empty());

    // The whole INSERT in the body, data after the line break.
    let body = [
        b"INSERT INTO t FORMAT RowBinary\n".to_vec(),
        row(12, "twelve"),
    ]
    .concat();
    let resp = fx.client.post(&fx.base).body(body).send().await.unwrap();
    expect_ok(resp).await;

    // The beginning of the query in the URL, the rest (and the data) in the body.
    let resp = fx
        .client
        .post(&fx.base)
        .query(&[("query", "INSERT INTO t")])
        .body("FORMAT JSONEachRow {\"id\": 13, \"name\": \"json\"}")
        .send()
        .await
        .unwrap();
    expect_ok(resp).await;

    // default_format applies when the query has no FORMAT clause...
    let resp = fx
        .client
        .get(&fx.base)
        .query(&[
            ("query", "SELECT id, name FROM t ORDER BY id"),
            ("default_format", "JSONEachRow"),
            ("output_format_json_quote_64bit_integers", "0"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, "x-clickhouse-format"), "JSONEachRow");
    assert_eq!(
        header(&resp, "content-type"),
        "application/json; charset=UTF-8"
    );
    assert_eq!(summary(&resp)["result_rows"], "4");
    let rows: Vec<serde_json::Value> = resp
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        rows,
        [
            serde_json::json!({"id": 10, "name": "ten"}),
            serde_json::json!({"id": 11, "name": "a\tb\nc"}),
            serde_json::json!({"id": 12, "name": "twelve"}),
            serde_json::json!({"id": 13, "name": "json"}),
        ]
    );
    // ...the query's own FORMAT clause wins over it; without either, TSV.
    let resp = fx
        .post(
            "SELECT count() FROM t FORMAT CSVWithNames",
            &[("default_format", "JSONEachRow")],
        )
        .await;
    assert_eq!(header(&resp, "x-clickhouse-format"), "CSVWithNames");
    assert_eq!(
        header(&resp, "content-type"),
        "text/csv; charset=UTF-8; header=present"
    );
    assert_eq!(resp.text().await.unwrap(), "\"count()\"\n4\n");
    let resp = fx.post("SELECT name FROM t WHERE id = 11", &[]).await;
    assert_eq!(header(&resp, "x-clickhouse-format"), "TabSeparated");
    assert_eq!(
        header(&resp, "content-type"),
        "text/tab-separated-values; charset=UTF-8"
    );
    assert_eq!(resp.text().await.unwrap(), "a\\tb\\nc\n");
    let resp = fx
        .post("SELECT id, name FROM t WHERE id = 12 FORMAT RowBinary", &[])
        .await;
    assert_eq!(resp.bytes().await.unwrap().to_vec(), row(12, "twelve"));
}

#[tokio::test]
async fn params_bind_escaped_values_on_the_engine() {
    let fx = Fixture::start(&[]);
    let value = "tab\there\nnew line \\ backslash ' quote \" dq";
    // A client sends values in ClickHouse's escaped text form.
    let escaped = value
        .replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\'', "\\'");
    let resp = fx
        .post(
            "SELECT {s:String} AS s, {n:UInt32} AS n, length({s:String}) AS len FORMAT JSONEachRow",
            &[("param_s", &escaped), ("param_n", "42")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let row: serde_json::Value = serde_json::from_str(resp.text().await.unwrap().trim()).unwrap();
    assert_eq!(row["s"], value);
    assert_eq!(row["n"], 42);
    assert_eq!(row["len"], value.len());

    // Through a table, and never spliced into the SQL.
    fx.ok(
        "CREATE TABLE p (s String) ENGINE = MergeTree ORDER BY s",
        &[],
    )
    .await;
    fx.ok("INSERT INTO p SELECT {s:String}", &[("param_s", &escaped)])
        .await;
    let out = fx
        .ok(
            "SELECT s FROM p WHERE s = {s:String} FORMAT RowBinary",
            &[("param_s", &escaped)],
        )
        .await;
    assert_eq!(out.as_bytes()[1..], *value.as_bytes());

    // A value the type cannot take, and a missing one, are the engine's errors.
    let resp = fx.post("SELECT {n:UInt8}", &[("param_n", "x")]).await;
    assert_eq!(header(&resp, "x-clickhouse-exception-code"), "457");
    let resp = fx.post("SELECT {n:UInt8}", &[]).await;
    assert_eq!(header(&resp, "x-clickhouse-exception-code"), "456");
}

#[tokio::test]
async fn database_parameter_selects_the_database_for_one_request() {
    let fx = Fixture::start(&[]);
    fx.ok("CREATE DATABASE other", &[]).await;
    fx.ok(
        "CREATE TABLE other.t (a UInt8) ENGINE = MergeTree ORDER BY a",
        &[],
    )
    .await;
    let resp = fx
        .client
        .post(&fx.base)
        .query(&[
            ("query", "INSERT INTO t FORMAT RowBinary"),
            ("database", "other"),
        ])
        .body(vec![7u8])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        fx.ok(
            "SELECT currentDatabase(), sum(a) FROM t",
            &[("database", "other")]
        )
        .await,
        "other\t7\n"
    );
    // The next request is back in `default`.
    assert_eq!(fx.ok("SELECT currentDatabase()", &[]).await, "default\n");
    let resp = fx.post("SELECT 1", &[("database", "missing")]).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&resp, "x-clickhouse-exception-code"), "81");
}

#[tokio::test]
async fn settings_in_the_url_apply_to_that_request_only() {
    let fx = Fixture::start(&[]);
    let sql = "SELECT toUInt64(18446744073709551615) AS x FORMAT JSONEachRow";
    let before = fx.ok(sql, &[]).await;
    assert_eq!(
        fx.ok(sql, &[("output_format_json_quote_64bit_integers", "0")])
            .await,
        "{\"x\":18446744073709551615}\n"
    );
    assert_eq!(
        fx.ok(sql, &[("output_format_json_quote_64bit_integers", "1")])
            .await,
        "{\"x\":\"18446744073709551615\"}\n"
    );
    assert_eq!(
        fx.ok(sql, &[]).await,
        before,
        "a URL setting must not leak into the next request"
    );

    // Settings a durable client sends are accepted; HTTP-only parameters are not settings.
    fx.ok(
        "CREATE TABLE d (a UInt8) ENGINE = MergeTree ORDER BY a",
        &[],
    )
    .await;
    let resp = fx
        .client
        .post(&fx.base)
        .query(&[
            ("query", "INSERT INTO d FORMAT RowBinary"),
            ("async_insert", "0"),
            ("insert_quorum", "auto"),
            ("wait_end_of_query", "1"),
            ("max_execution_time", "30"),
            ("query_id", "my-query"),
            ("session_id", "ignored"),
        ])
        .body(vec![1u8, 2, 3])
        .send()
        .await
        .unwrap();
    assert_eq!(header(&resp, "x-clickhouse-query-id"), "my-query");
    assert_eq!(summary(&resp)["written_rows"], "3");
    expect_ok(resp).await;

    // max_execution_time is enforced by the engine.
    let resp = fx
        .post(
            "SELECT sleepEachRow(1) FROM numbers(3)",
            &[("max_execution_time", "1")],
        )
        .await;
    assert_eq!(header(&resp, "x-clickhouse-exception-code"), "159");

    let resp = fx.post("SELECT 1", &[("no_such_setting", "1")]).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&resp, "x-clickhouse-exception-code"), "115");
    assert!(resp.text().await.unwrap().contains("(UNKNOWN_SETTING)"));
}

#[tokio::test]
async fn errors_carry_the_code_header_and_clickhouse_text() {
    let fx = Fixture::start(&[]);
    let resp = fx
        .client
        .get(&fx.base)
        .query(&[("query", "SELEC 1")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(header(&resp, "x-clickhouse-exception-code"), "62");
    let text = resp.text().await.unwrap();
    assert!(
        text.starts_with("Code: 62. DB::Exception: Syntax error"),
        "{text}"
    );
    assert!(
        text.trim_end().ends_with(')') && text.contains(". (SYNTAX_ERROR) (version "),
        "{text}"
    );

    let resp = fx.post("SELECT * FROM nowhere", &[]).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&resp, "x-clickhouse-exception-code"), "60");
    assert!(
        resp.text()
            .await
            .unwrap()
            .starts_with("Code: 60. DB::Exception: ")
    );

    // Data that does not parse: the engine's code, a client error.
    fx.ok(
        "CREATE TABLE n (a UInt64) ENGINE = MergeTree ORDER BY a",
        &[],
    )
    .await;
    let resp = fx
        .client
        .post(&fx.base)
        .query(&[("query", "INSERT INTO n FORMAT TabSeparated")])
        .body("x\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(
        resp.text()
            .await
            .unwrap()
            .starts_with("Code: 27. DB::Exception: ")
    );

    // As ClickHouse: one statement per request, none is an error, GET is read-only.
    let resp = fx.post("SELECT 1; SELECT 2", &[]).await;
    assert_eq!(header(&resp, "x-clickhouse-exception-code"), "62");
    let resp = fx.post("", &[]).await;
    assert_eq!(
        (resp.status(), header(&resp, "x-clickhouse-exception-code")),
        (StatusCode::BAD_REQUEST, "62")
    );
    let text = resp.text().await.unwrap();
    assert!(
        text.starts_with("Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR) (version "),
        "{text}"
    );
    let resp = fx
        .client
        .get(&fx.base)
        .query(&[("query", "CREATE TABLE g (a UInt8) ENGINE = Memory")])
        .send()
        .await
        .unwrap();
    assert_eq!(header(&resp, "x-clickhouse-exception-code"), "164");
    // ClickHouse's native compression is refused, not silently ignored.
    let resp = fx.post("SELECT 1", &[("compress", "1")]).await;
    assert_eq!(
        (resp.status(), header(&resp, "x-clickhouse-exception-code")),
        (StatusCode::NOT_IMPLEMENTED, "48")
    );
}

#[tokio::test]
async fn credentials_are_checked_every_way_clickhouse_reads_them() {
    let fx = Fixture::start(&["--user", "alice", "--password", "s3cret"]);
    let q = [("query", "SELECT currentUser() != ''")];
    let refused = |resp: Response| async move {
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(header(&resp, "x-clickhouse-exception-code"), "516");
        let text = resp.text().await.unwrap();
        assert!(text.starts_with("Code: 516. DB::Exception: "), "{text}");
        assert!(text.contains("(AUTHENTICATION_FAILED)"), "{text}");
    };
    refused(fx.client.get(&fx.base).query(&q).send().await.unwrap()).await;
    refused(
        fx.client
            .get(&fx.base)
            .query(&q)
            .header("X-ClickHouse-User", "alice")
            .header("X-ClickHouse-Key", "wrong")
            .send()
            .await
            .unwrap(),
    )
    .await;
    refused(
        fx.client
            .get(&fx.base)
            .query(&q)
            .basic_auth("alice", Some("wrong"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    refused(
        fx.client
            .get(&fx.base)
            .query(&[q[0], ("user", "bob"), ("password", "s3cret")])
            .send()
            .await
            .unwrap(),
    )
    .await;

    for resp in [
        fx.client
            .get(&fx.base)
            .query(&q)
            .header("X-ClickHouse-User", "alice")
            .header("X-ClickHouse-Key", "s3cret")
            .send()
            .await
            .unwrap(),
        fx.client
            .get(&fx.base)
            .query(&q)
            .basic_auth("alice", Some("s3cret"))
            .send()
            .await
            .unwrap(),
        fx.client
            .get(&fx.base)
            .query(&[q[0], ("user", "alice"), ("password", "s3cret")])
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.text().await.unwrap(), "1\n");
    }
    // Health checks need no credentials.
    assert_eq!(
        fx.client
            .get(format!("{}ping", fx.base))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn gzip_both_ways() {
    let fx = Fixture::start(&[]);
    fx.ok(
        "CREATE TABLE z (a UInt32, s String) ENGINE = MergeTree ORDER BY a",
        &[],
    )
    .await;
    let rows: String = (0..1000)
        .map(|i| format!("{{\"a\":{i},\"s\":\"row {i}\"}}\n"))
        .collect();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(rows.as_bytes()).unwrap();
    let resp = fx
        .client
        .post(&fx.base)
        .query(&[("query", "INSERT INTO z FORMAT JSONEachRow")])
        .header("Content-Encoding", "gzip")
        .body(enc.finish().unwrap())
        .send()
        .await
        .unwrap();
    expect_ok(resp).await;

    let query = [
        ("query", "SELECT a, s FROM z ORDER BY a FORMAT JSONEachRow"),
        ("enable_http_compression", "1"),
    ];
    let resp = fx
        .client
        .get(&fx.base)
        .query(&query)
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, "content-encoding"), "gzip");
    let compressed = resp.bytes().await.unwrap();
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut plain)
        .unwrap();
    assert_eq!(plain, rows);
    assert!(compressed.len() < plain.len() / 3);
    // Without enable_http_compression the answer is plain.
    let resp = fx
        .client
        .get(&fx.base)
        .query(&query[..1])
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&resp, "content-encoding"), "");
    assert_eq!(resp.text().await.unwrap(), rows);
    // A body that is not gzip is refused.
    let resp = fx
        .client
        .post(&fx.base)
        .header("Content-Encoding", "gzip")
        .body("SELECT 1")
        .send()
        .await
        .unwrap();
    assert_ne!(resp.status(), StatusCode::OK);
    assert!(!header(&resp, "x-clickhouse-exception-code").is_empty());
}

#[tokio::test]
async fn concurrent_requests_run_in_parallel() {
    let fx = Fixture::start(&[]);
    fx.ok(
        "CREATE TABLE c (a UInt64) ENGINE = MergeTree ORDER BY a",
        &[],
    )
    .await;
    let started = Instant::now();
    let sleeps: Vec<_> = (0..6).map(|_| fx.ok("SELECT sleep(1)", &[])).collect();
    let inserts: Vec<_> = (0..20u64)
        .map(|i| {
            fx.client
                .post(&fx.base)
                .query(&[("query", "INSERT INTO c FORMAT RowBinary")])
                .body(i.to_le_bytes().to_vec())
                .send()
        })
        .collect();
    let (sleeps, inserts) = tokio::join!(join_all(sleeps), join_all(inserts));
    assert!(sleeps.iter().all(|s| s == "0\n"));
    assert!(
        inserts
            .into_iter()
            .all(|r| r.unwrap().status() == StatusCode::OK)
    );
    // In turn they would take at least 6 s; the margin is for a busy CI
    // machine (the inserts fsync).
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "six 1 s queries took {elapsed:?}: not run in parallel"
    );
    assert_eq!(
        fx.ok("SELECT count(), sum(a) FROM c", &[]).await,
        "20\t190\n"
    );
}

