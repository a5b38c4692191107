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
use axum::middleware::{Next, from_fn_with_state};
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
    Router::new().nest_service("/mcp", service).layer(from_fn_with_state(state, authenticate))
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
    let body = serde_json::json!({"error": {"code": "unauthorized", "message": message}});
    (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], axum::Json(body)).into_response()
}
