//! Ingestion that reaches a process without the writer lease goes, as it
//! came, to the process that holds it (docs/scale-out.md). So every replica
//! behind a load balancer takes steps, and one process still decides
//! accepted / duplicate / conflict and numbers the log. The writer answers
//! and its answer is passed back unchanged; if it cannot be reached the
//! client gets 503 with Retry-After and nothing was acknowledged.

use crate::error::ApiError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use flightlog_app::AppState;
use flightlog_ingest::Role;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// Set on a forwarded request, so it is never forwarded a second time (a
/// writer that just lost its lease answers 503 instead).
const FORWARDED: &str = "x-flightlog-forwarded";

/// Headers about one connection, not the request (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[&str] = &["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host"];

/// The writer's whole answer, body included, must come within this.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone)]
pub struct Forwarder {
    state: AppState,
    client: Client<HttpConnector, Body>,
}

impl Forwarder {
    pub fn new(state: AppState) -> Self {
        Self { state, client: Client::builder(TokioExecutor::new()).build_http() }
    }

    async fn forward(&self, writer: &str, request: Request) -> Response {
        let (mut parts, body) = request.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let Ok(uri) = format!("{}{path}", writer.trim_end_matches('/')).parse::<Uri>() else {
            return ApiError::unavailable("the writer's advertised address is not a URL", writer).into_response();
        };
        parts.uri = uri;
        for name in HOP_BY_HOP {
            parts.headers.remove(*name);
        }
        parts.headers.insert(FORWARDED, HeaderValue::from_static("1"));
        parts.extensions = Default::default();
        let sent = self.client.request(Request::from_parts(parts, body));
        match tokio::time::timeout(FORWARD_TIMEOUT, sent).await {
            Ok(Ok(answer)) => {
                let (mut parts, body) = answer.into_parts();
                for name in HOP_BY_HOP {
                    parts.headers.remove(*name);
                }
                Response::from_parts(parts, Body::new(body))
            }
            Ok(Err(e)) => ApiError::unavailable(&format!("the writer at {writer} did not answer"), e).into_response(),
            Err(_) => ApiError::unavailable(&format!("the writer at {writer} did not answer"), "timed out").into_response(),
        }
    }
}

/// Middleware for the routes that write the log: runs them here when this
/// process writes, forwards them to the writer otherwise.
pub async fn to_writer(State(forwarder): State<Forwarder>, request: Request, next: Next) -> Response {
    match forwarder.state.ingestor.role() {
        Role::Writer { .. } => next.run(request).await,
        Role::Standby { writer: Some(writer) } if !request.headers().contains_key(FORWARDED) => {
            forwarder.forward(&writer, request).await
        }
        Role::Standby { writer } => {
            let why = writer.map_or("no process holds it yet".to_string(), |w| format!("the writer at {w} has just lost it"));
            ApiError::unavailable("the writer lease is changing hands", why).into_response()
        }
    }
}

/// Whether ingestion sent here can reach the writer: its /healthz answers
/// within `within` and is not degraded. A writer whose advertised address
/// nobody could reach made every standby refuse every step while their own
/// /healthz said `ok`.
pub async fn writer_answers(writer: &str, within: Duration) -> Result<(), String> {
    use http_body_util::BodyExt;
    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build_http();
    let asked = async {
        let uri: Uri = format!("{}/healthz", writer.trim_end_matches('/')).parse().map_err(|_| "its advertised address is not a URL".to_string())?;
        let answer = client.get(uri).await.map_err(|e| e.to_string())?;
        if answer.status().is_success() {
            return Ok(());
        }
        let body = answer.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let reason = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|h| h["reason"].as_str().map(str::to_string));
        Err(format!("it is degraded: {}", reason.unwrap_or_else(|| "no reason given".to_string())))
    };
    match tokio::time::timeout(within, asked).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(why)) => Err(format!("ingestion here goes to the writer at {writer}, and {why}")),
        Err(_) => Err(format!("ingestion here goes to the writer at {writer}, which did not answer /healthz within {} s", within.as_secs())),
    }
}
