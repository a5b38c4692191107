//! An MCP server at `/mcp` (streamable HTTP, the official Rust SDK `rmcp`),
//! so an engineer can ask an assistant "why did session X fail, and has it
//! happened before?" and a finance user "what did this cost?". Each tool
//! answers one of the three users' questions through the application core,
//! exactly as the REST API does, and returns JSON text.
//!
//! Authenticated with an API key (`Authorization: Bearer …` or
//! `x-api-key`) with the `read` scope (the questions) or the `ingest`
//! scope (an agent asking the guard); each tool checks the scope it
//! needs. A key sees its own project only. Stateless (no MCP session is kept in memory), so any replica
//! behind a load balancer answers any request.
//!
//! May use: `flightlog-app` and the library crates under it. Never another
//! front end.

mod tools;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use flightlog_app::AppState;
use flightlog_app::keys::{Scope, presented_key};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::sync::Arc;

pub use tools::Flightlog;

/// The `/mcp` route, authenticated.
pub fn router(state: AppState) -> Router {
    let tools_state = state.clone();
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        // The key guards it; behind a proxy the Host is the public name.
        .disable_allowed_hosts();
    let service = StreamableHttpService::new(move || Ok(Flightlog::new(tools_state.clone())), Arc::new(NeverSessionManager::default()), config);
    Router::new().nest_service("/mcp", service).layer(from_fn(json_refusals)).layer(from_fn_with_state(state, authenticate))
}

/// rmcp refuses a request it cannot take in plain text, and a body that is
/// not JSON as 415 Unsupported Media Type: here each becomes the JSON error
/// every other route answers, and a body that is not JSON a 400.
async fn json_refusals(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let text_answer = response.headers().get(header::CONTENT_TYPE).is_none_or(|t| t.as_bytes().starts_with(b"text/plain"));
    if !response.status().is_client_error() || !text_answer {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // rmcp's refusals are a line of text; one that repeats a header the
    // client sent can be long, and is cut (to_bytes would refuse it whole).
    let mut text = String::new();
    if let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await {
        text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_MESSAGE)]).trim().to_string();
    }
    let not_json = parts.status == StatusCode::UNSUPPORTED_MEDIA_TYPE && text.starts_with("fail to deserialize");
    if not_json {
        parts.status = StatusCode::BAD_REQUEST;
    }
    // The codes the REST API gives the same refusals.
    let code = match parts.status {
        _ if not_json => "invalid_json",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_ACCEPTABLE => "not_acceptable",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "bad_request",
    };
    let message = if not_json { format!("the body is not a JSON-RPC message: {text}") } else { text };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    (parts, refusal(code, &message)).into_response()
}

/// The longest refusal message passed on from rmcp, in bytes.
const MAX_MESSAGE: usize = 1024;

/// The API's error body.
fn refusal(code: &str, message: &str) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"error": {"code": code, "message": message}}))
}

/// Lets through only requests with a key that may read or ingest, and
/// hands its principal to the tools (in the request's extensions), which
/// check the scope each needs.
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(key) = presented_key(text(header::AUTHORIZATION.as_str()), text("x-api-key")) else {
        return unauthorized("no API key: send `Authorization: Bearer <key>`");
    };
    match state.keys.check(&key, Scope::Read).or_else(|_| state.keys.check(&key, Scope::Ingest)) {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(e) => unauthorized(&e.to_string()),
    }
}

fn unauthorized(message: &str) -> Response {
    (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], refusal("unauthorized", message)).into_response()
}
