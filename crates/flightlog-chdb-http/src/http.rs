//! The HTTP side: ClickHouse's URL parameters, headers, statuses and
//! bodies (clickhouse.com/docs/interfaces/http), mapped onto [`Engine`].

use crate::engine::{self, Engine, Exception, Job, Outcome};
use crate::sql::{self, Statement};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

pub struct Config {
    pub user: String,
    pub password: String,
    pub max_concurrent_queries: usize,
}

struct AppState {
    engine: Arc<Engine>,
    config: Config,
    slots: Semaphore,
}

pub async fn serve(engine: Engine, config: Config, listen: &str) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, version = %engine.version, "serving ClickHouse's HTTP interface over chDB");
    let state = Arc::new(AppState {
        slots: Semaphore::new(config.max_concurrent_queries),
        engine: Arc::new(engine),
        config,
    });
    let app = Router::new()
        .fallback(handle)
        .layer(DefaultBodyLimit::disable())
        .with_state(state);
    // The line tests wait for: the address, with the port actually bound.
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| e.to_string())
}

async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// URL parameters the HTTP handler reads itself; every other one that is
/// not `param_*` is a setting (ClickHouse's HTTPHandler does the same, and
/// an unknown name fails as UNKNOWN_SETTING).
const RESERVED: &[&str] = &[
    "query",
    "database",
    "default_format",
    "user",
    "password",
    "quota_key",
    "query_id",
    "session_id",
    "session_timeout",
    "session_check",
    "close_session",
    "stacktrace",
    "role",
    "buffer_size",
    "wait_end_of_query",
    "client_protocol_version",
    "compress",
    "decompress",
];

struct Reply {
    query_id: String,
    format: String,
    compress: Option<(&'static str, u32)>,
}

async fn handle(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let mut pairs: Vec<(String, String)> = match Query::<Vec<(String, String)>>::try_from_uri(&uri) {
        Ok(Query(pairs)) => pairs,
        Err(e) => {
            return exception_response(
                &state,
                None,
                &Exception::new(
                    engine::BAD_ARGUMENTS,
                    format!("Cannot parse the URL parameters: {e}"),
                ),
            );
        }
    };
    // A form body (multipart/form-data) carries the query and its
    // parameters as fields, as the `clickhouse` crate sends them; they count
    // as URL parameters and there is no other body.
    let body = match header_str(&headers, "content-type").and_then(multipart_boundary) {
        None => body,
        Some(boundary) => match form_fields(&body, &boundary) {
            Ok(fields) => {
                pairs.extend(fields);
                Bytes::new()
            }
            Err(message) => {
                return exception_response(&state, None, &Exception::new(engine::BAD_ARGUMENTS, message));
            }
        },
    };
    let get = |name: &str| {
        pairs
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let read_only = method == Method::GET || method == Method::HEAD;
    if path == "/ping" || path == "/replicas_status" || (read_only && get("query").is_none()) {
        if path == "/" || path == "/ping" || path == "/replicas_status" {
            return ok_text("Ok.\n");
        }
        let text = format!("There is no handle {path}\n\nUse / or /ping for health checks.\n");
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
            text,
        )
            .into_response();
    }
    let query_id = get("query_id")
        .map(str::to_string)
        .unwrap_or_else(new_query_id);
    if let Err(e) = authenticate(&state.config, &headers, get("user"), get("password")) {
        return exception_response(&state, Some(&query_id), &e);
    }
    let default_format = header_str(&headers, "x-clickhouse-format")
        .or(get("default_format"))
        .filter(|f| !f.is_empty())
        .unwrap_or("TabSeparated")
        .to_string();
    let mut reply = Reply {
        query_id,
        format: default_format.clone(),
        compress: None,
    };
    let flag = |name: &str| get(name).is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    if flag("compress") || flag("decompress") {
        let e = Exception::new(
            engine::NOT_IMPLEMENTED,
            "ClickHouse's native compression (compress=1, decompress=1) is not implemented by this fixture: use HTTP compression (enable_http_compression=1 with Accept-Encoding, Content-Encoding on the request)",
        );
        return exception_response(&state, Some(&reply.query_id), &e);
    }
    if flag("enable_http_compression") {
        let level = get("http_zlib_compression_level")
            .and_then(|l| l.parse().ok())
            .unwrap_or(3u32)
            .clamp(1, 9);
        reply.compress = accepted_encoding(&headers).map(|e| (e, level));
    }

    let body = match decode_body(&state.engine, &headers, body) {
        Ok(body) => body,
        Err(e) => return exception_response(&state, Some(&reply.query_id), &e),
    };
    // The query is the `query` parameter, a line break, then the body.
    let mut text = Vec::new();
    if let Some(q) = get("query").filter(|q| !q.is_empty()) {
        text.extend_from_slice(q.as_bytes());
        text.push(b'\n');
    }
    text.extend_from_slice(&body);
    drop(body);
    let statement = match sql::classify(&text) {
        Ok(statement) => statement,
        Err(sql::SyntaxError(message)) => {
            return exception_response(
                &state,
                Some(&reply.query_id),
                &Exception::new(engine::SYNTAX_ERROR, message),
            );
        }
    };
    if let Statement::Query {
        format: Some(format),
        ..
    } = &statement
    {
        reply.format = format.clone();
    }

    let mut params = Vec::new();
    let mut settings = Vec::new();
    for (name, value) in &pairs {
        if let Some(param) = name.strip_prefix("param_") {
            params.push((param.to_string(), value.clone()));
        } else if !RESERVED.contains(&name.as_str()) {
            settings.push((name.clone(), value.clone()));
        }
    }
    if let Some(id) = get("session_id") {
        tracing::debug!(
            session_id = id,
            "sessions are not kept: each request runs in a fresh session"
        );
    }
    let job = Job {
        text,
        statement,
        params,
        settings,
        database: header_str(&headers, "x-clickhouse-database")
            .or(get("database"))
            .filter(|d| !d.is_empty())
            .map(str::to_string),
        readonly: read_only,
        default_format,
    };

    let Ok(_slot) = state.slots.acquire().await else {
        return exception_response(
            &state,
            Some(&reply.query_id),
            &Exception::new(engine::UNKNOWN_EXCEPTION, "shutting down"),
        );
    };
    let started = Instant::now();
    let engine = state.engine.clone();
    let outcome = tokio::task::spawn_blocking(move || engine.run(job)).await;
    let elapsed = started.elapsed();
    match outcome {
        Ok(Ok(outcome)) => success_response(&state, &reply, outcome, elapsed.as_nanos()),
        Ok(Err(e)) => {
            tracing::debug!(code = e.code, message = %e.message, "query failed");
            exception_response(&state, Some(&reply.query_id), &e)
        }
        Err(panic) => exception_response(
            &state,
            Some(&reply.query_id),
            &Exception::new(engine::UNKNOWN_EXCEPTION, panic.to_string()),
        ),
    }
}

/// The boundary of a `multipart/form-data` content type.
fn multipart_boundary(content_type: &str) -> Option<String> {
    let (mime, rest) = content_type.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    rest.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.eq_ignore_ascii_case("boundary").then(|| v.trim_matches('"').to_string())
    })
}

/// The named text fields of a multipart/form-data body (RFC 7578).
fn form_fields(body: &[u8], boundary: &str) -> Result<Vec<(String, String)>, String> {
    let delimiter = format!("--{boundary}");
    let text = std::str::from_utf8(body).map_err(|_| "a form field is not UTF-8 text".to_string())?;
    let mut fields = Vec::new();
    for part in text.split(delimiter.as_str()).skip(1) {
        if part.starts_with("--") {
            break; // the closing delimiter
        }
        let part = part.strip_prefix("\r\n").unwrap_or(part);
        let (head, value) = part.split_once("\r\n\r\n").ok_or("a form part has no header end")?;
        let name = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .and_then(|l| l.split(';').find_map(|p| p.trim().strip_prefix("name=")))
            .map(|n| n.trim_matches('"').to_string())
            .ok_or("a form part has no name")?;
        fields.push((name, value.strip_suffix("\r\n").unwrap_or(value).to_string()));
    }
    Ok(fields)
}

fn ok_text(text: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=UTF-8")], text).into_response()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Credentials as ClickHouse reads them: `X-ClickHouse-User`/`-Key`
/// headers, else HTTP Basic, else `user`/`password` URL parameters; the
/// user `default` with an empty password when none is given.
fn authenticate(
    config: &Config,
    headers: &HeaderMap,
    url_user: Option<&str>,
    url_password: Option<&str>,
) -> Result<(), Exception> {
    let header_user = header_str(headers, "x-clickhouse-user");
    let header_key = header_str(headers, "x-clickhouse-key");
    let basic = header_str(headers, "authorization").and_then(|v| {
        let encoded = v
            .strip_prefix("Basic ")
            .or_else(|| v.strip_prefix("basic "))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (user, password) = decoded.split_once(':').unwrap_or((&decoded, ""));
        Some((user.to_string(), password.to_string()))
    });
    let (user, password) = if header_user.is_some() || header_key.is_some() {
        (
            header_user.unwrap_or("default").to_string(),
            header_key.unwrap_or("").to_string(),
        )
    } else if let Some(basic) = basic {
        basic
    } else {
        (
            url_user.unwrap_or("default").to_string(),
            url_password.unwrap_or("").to_string(),
        )
    };
    if user == config.user && password == config.password {
        return Ok(());
    }
    Err(Exception::new(
        engine::AUTHENTICATION_FAILED,
        format!(
            "{user}: Authentication failed: password is incorrect, or there is no user with such name"
        ),
    ))
}

/// gzip, then deflate, as `Accept-Encoding` allows (q=0 refuses).
fn accepted_encoding(headers: &HeaderMap) -> Option<&'static str> {
    let accept = header_str(headers, "accept-encoding")?.to_ascii_lowercase();
    let allows = |name: &str| {
        accept.split(',').any(|item| {
            let mut parts = item.split(';').map(str::trim);
            parts.next() == Some(name)
                && !parts.any(|p| {
                    p.replace(' ', "").starts_with("q=0")
                        && !p.contains(|c: char| ('1'..='9').contains(&c))
                })
        })
    };
    ["gzip", "deflate"].into_iter().find(|e| allows(e))
}

fn decode_body(engine: &Engine, headers: &HeaderMap, body: Bytes) -> Result<Vec<u8>, Exception> {
    let encoding = header_str(headers, "content-encoding")
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let mut out = Vec::new();
    let result = match encoding.as_str() {
        "" | "identity" | "none" => return Ok(body.to_vec()),
        "gzip" | "x-gzip" => flate2::read::MultiGzDecoder::new(&body[..]).read_to_end(&mut out),
        "deflate" => flate2::read::ZlibDecoder::new(&body[..]).read_to_end(&mut out),
        other => {
            return Err(Exception::new(
                engine::NOT_IMPLEMENTED,
                format!(
                    "Content-Encoding '{other}' is not implemented by this fixture (gzip and deflate are)"
                ),
            ));
        }
    };
    result.map(|_| out).map_err(|e| {
        Exception::new(
            engine
                .code_of("CANNOT_DECOMPRESS")
                .unwrap_or(engine::UNKNOWN_EXCEPTION),
            format!("Cannot decompress the request body: {e}"),
        )
    })
}

fn success_response(
    state: &AppState,
    reply: &Reply,
    outcome: Outcome,
    elapsed_ns: u128,
) -> Response {
    let (result_rows, result_bytes) = if outcome.written_rows > 0 || outcome.body.is_empty() {
        (outcome.written_rows, outcome.written_bytes)
    } else {
        (
            result_rows(&reply.format, &outcome.body),
            outcome.body.len() as u64,
        )
    };
    // In ClickHouse's order, every number as a string.
    let summary = summary_json(&[
        ("read_rows", 0),
        ("read_bytes", 0),
        ("written_rows", outcome.written_rows),
        ("written_bytes", outcome.written_bytes),
        ("total_rows_to_read", 0),
        ("result_rows", result_rows),
        ("result_bytes", result_bytes),
        ("elapsed_ns", elapsed_ns as u64),
    ]);
    let mut headers = common_headers(state, Some(&reply.query_id), &summary);
    set(
        &mut headers,
        header::CONTENT_TYPE,
        content_type(&reply.format),
    );
    set(
        &mut headers,
        HeaderName::from_static("x-clickhouse-format"),
        &reply.format,
    );
    let mut body = outcome.body;
    if let Some((encoding, level)) = reply.compress {
        let compressed = match encoding {
            "gzip" => {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
                enc.write_all(&body).and_then(|_| enc.finish())
            }
            _ => {
                let mut enc =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level));
                enc.write_all(&body).and_then(|_| enc.finish())
            }
        };
        if let Ok(compressed) = compressed {
            body = compressed;
            set(&mut headers, header::CONTENT_ENCODING, encoding);
        }
    }
    (StatusCode::OK, headers, body).into_response()
}

fn summary_json(fields: &[(&str, u64)]) -> String {
    let fields: Vec<String> = fields
        .iter()
        .map(|(name, value)| format!("\"{name}\":\"{value}\""))
        .collect();
    format!("{{{}}}", fields.join(","))
}

fn exception_response(state: &AppState, query_id: Option<&str>, e: &Exception) -> Response {
    let engine = &state.engine;
    let summary = r#"{"read_rows":"0","read_bytes":"0","written_rows":"0","written_bytes":"0","total_rows_to_read":"0","result_rows":"0","result_bytes":"0","elapsed_ns":"0"}"#;
    let mut headers = common_headers(state, query_id, summary);
    set(
        &mut headers,
        header::CONTENT_TYPE,
        "text/plain; charset=UTF-8",
    );
    set(
        &mut headers,
        HeaderName::from_static("x-clickhouse-exception-code"),
        &e.code.to_string(),
    );
    let status = http_status(engine.error_name(e.code));
    (status, headers, engine.render(e)).into_response()
}

fn common_headers(state: &AppState, query_id: Option<&str>, summary: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(id) = query_id {
        set(
            &mut headers,
            HeaderName::from_static("x-clickhouse-query-id"),
            id,
        );
    }
    set(
        &mut headers,
        HeaderName::from_static("x-clickhouse-timezone"),
        &state.engine.timezone,
    );
    set(
        &mut headers,
        HeaderName::from_static("x-clickhouse-server-display-name"),
        "flightlog-chdb-http",
    );
    set(
        &mut headers,
        HeaderName::from_static("x-clickhouse-summary"),
        summary,
    );
    headers
}

fn set(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// ClickHouse's `exceptionCodeToHTTPStatus` (src/Server/HTTP), by error
/// name; everything else is 500.
fn http_status(name: &str) -> StatusCode {
    match name {
        "REQUIRED_PASSWORD" => StatusCode::UNAUTHORIZED,
        "UNKNOWN_USER"
        | "WRONG_PASSWORD"
        | "AUTHENTICATION_FAILED"
        | "SET_NON_GRANTED_ROLE"
        | "ACCESS_DENIED" => StatusCode::FORBIDDEN,
        "BAD_ARGUMENTS"
        | "CANNOT_COMPILE_REGEXP"
        | "CANNOT_PARSE_TEXT"
        | "CANNOT_PARSE_ESCAPE_SEQUENCE"
        | "CANNOT_PARSE_QUOTED_STRING"
        | "CANNOT_PARSE_DATE"
        | "CANNOT_PARSE_DATETIME"
        | "CANNOT_PARSE_NUMBER"
        | "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING"
        | "CANNOT_PARSE_IPV4"
        | "CANNOT_PARSE_IPV6"
        | "CANNOT_PARSE_INPUT_ASSERTION_FAILED"
        | "CANNOT_PARSE_UUID"
        | "DUPLICATE_COLUMN"
        | "ILLEGAL_COLUMN"
        | "UNKNOWN_ELEMENT_IN_AST"
        | "UNKNOWN_TYPE_OF_AST_NODE"
        | "THERE_IS_NO_COLUMN"
        | "TOO_DEEP_AST"
        | "TOO_BIG_AST"
        | "UNEXPECTED_AST_STRUCTURE"
        | "SYNTAX_ERROR"
        | "INCORRECT_DATA"
        | "TYPE_MISMATCH"
        | "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE" => StatusCode::BAD_REQUEST,
        "UNKNOWN_TABLE"
        | "UNKNOWN_FUNCTION"
        | "UNKNOWN_IDENTIFIER"
        | "UNKNOWN_TYPE"
        | "UNKNOWN_STORAGE"
        | "UNKNOWN_DATABASE"
        | "UNKNOWN_SETTING"
        | "UNKNOWN_DIRECTION_OF_SORTING"
        | "UNKNOWN_AGGREGATE_FUNCTION"
        | "UNKNOWN_FORMAT"
        | "UNKNOWN_DATABASE_ENGINE"
        | "UNKNOWN_TYPE_OF_QUERY"
        | "UNKNOWN_ROLE" => StatusCode::NOT_FOUND,
        "QUERY_IS_TOO_LARGE" => StatusCode::PAYLOAD_TOO_LARGE,
        "NOT_IMPLEMENTED" => StatusCode::NOT_IMPLEMENTED,
        "SOCKET_TIMEOUT" | "CANNOT_OPEN_FILE" | "CANNOT_SCHEDULE_TASK" => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        "HTTP_LENGTH_REQUIRED" => StatusCode::LENGTH_REQUIRED,
        "TIMEOUT_EXCEEDED" => StatusCode::REQUEST_TIMEOUT,
        "UNSUPPORTED_MEDIA_TYPE" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn content_type(format: &str) -> &'static str {
    let f = format.to_ascii_lowercase();
    if f.starts_with("tabseparated") || f.starts_with("tsv") {
        "text/tab-separated-values; charset=UTF-8"
    } else if f.starts_with("csv") {
        if f.contains("withnames") {
            "text/csv; charset=UTF-8; header=present"
        } else {
            "text/csv; charset=UTF-8; header=absent"
        }
    } else if f.starts_with("json") || f == "ndjson" {
        "application/json; charset=UTF-8"
    } else if f == "xml" {
        "application/xml; charset=UTF-8"
    } else if [
        "rowbinary",
        "native",
        "parquet",
        "arrow",
        "orc",
        "avro",
        "msgpack",
        "protobuf",
        "capnproto",
        "npy",
        "bson",
    ]
    .iter()
    .any(|b| f.starts_with(b))
    {
        "application/octet-stream"
    } else {
        "text/plain; charset=UTF-8"
    }
}

/// Rows in a result whose format writes one line per row (TSV and the
/// JSON*EachRow family); 0 for the others, which this fixture cannot count.
fn result_rows(format: &str, body: &[u8]) -> u64 {
    let f = format.to_ascii_lowercase();
    let line_based = f.starts_with("tabseparated")
        || f.starts_with("tsv")
        || (f.starts_with("json") && f.contains("eachrow"))
        || f == "jsonlines"
        || f == "ndjson";
    if !line_based {
        return 0;
    }
    let header_lines = if f.ends_with("withnamesandtypes") {
        2
    } else if f.ends_with("withnames") {
        1
    } else {
        0
    };
    let lines = body.iter().filter(|&&b| b == b'\n').count() as u64;
    lines.saturating_sub(header_lines)
}

fn new_query_id() -> String {
    let b: [u8; 16] = rand::random();
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let variant = ["8", "9", "a", "b"][(b[8] & 3) as usize];
    format!(
        "{}-{}-4{}-{variant}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_are_read() {
        let body = "--b\r\nContent-Disposition: form-data; name=\"query\"\r\n\r\nSELECT {v:String}\r\n--b\r\nContent-Disposition: form-data; name=\"param_v\"\r\n\r\na\tb\r\n--b--\r\n";
        assert_eq!(multipart_boundary("multipart/form-data; boundary=b").as_deref(), Some("b"));
        assert_eq!(
            form_fields(body.as_bytes(), "b").unwrap(),
            [("query".to_string(), "SELECT {v:String}".to_string()), ("param_v".to_string(), "a\tb".to_string())]
        );
    }

    #[test]
    fn statuses_follow_clickhouse() {
        assert_eq!(http_status("SYNTAX_ERROR"), StatusCode::BAD_REQUEST);
        assert_eq!(http_status("AUTHENTICATION_FAILED"), StatusCode::FORBIDDEN);
        assert_eq!(http_status("UNKNOWN_TABLE"), StatusCode::NOT_FOUND);
        assert_eq!(
            http_status("TOO_MANY_PARTS"),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn accept_encoding() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("accept-encoding", HeaderValue::from_str(v).unwrap());
            accepted_encoding(&h)
        };
        assert_eq!(with("gzip, deflate, br"), Some("gzip"));
        assert_eq!(with("br;q=1.0, deflate"), Some("deflate"));
        assert_eq!(with("gzip;q=0, br"), None);
        assert_eq!(with("gzip;q=0.5"), Some("gzip"));
    }

    #[test]
    fn result_rows_of_line_formats() {
        assert_eq!(result_rows("JSONEachRow", b"{}\n{}\n"), 2);
        assert_eq!(result_rows("TSVWithNames", b"a\n1\n"), 1);
        assert_eq!(result_rows("JSON", b"{\n}\n"), 0);
    }
}
