//! Flightlog's HTTP API, served by axum.
//!
//! | route | scope | what |
//! |---|---|---|
//! | `GET /healthz` | none | liveness, storage, writer and indexer status |
//! | `GET /metrics` | none | the same figures in Prometheus text format |
//! | `POST /v1/steps` | ingest | JSON object, array or NDJSON; gzip; idempotent |
//! | `POST /v1/traces`, `POST /api/public/otel/v1/traces` | ingest | OTLP/HTTP spans (protobuf or JSON, gzip) → steps |
//! | `GET /v1/sessions` | read | filtered, sorted, cursor-paged summaries |
//! | `GET /v1/sessions/{id}` | read | one session's summary |
//! | `GET /v1/sessions/{id}/steps` | read | the timeline, keyset-paged by step |
//! | `GET /v1/costs` | read | cost by up to two dimensions, computed at query time |
//! | `GET /v1/prices`, `POST /v1/prices/overrides` (admin) | read | price list and project overrides |
//! | `GET/POST /v1/keys`, `DELETE /v1/keys/{id}` | admin | API keys |
//! | `GET /v1/sessions/{id}/verify` | read | integrity report of a session |
//! | `GET /v1/sessions/{id}/evidence` | read | the session's evidence bundle |
//! | `GET /v1/sessions/{id}/reproduction` | read | model, settings, prompts, tool results to re-run it |
//! | `GET /v1/integrity/public-key` | none | the key that signs checkpoints |
//! | `GET /v1/integrity/checkpoints` | read | signed checkpoints |
//! | `POST /v1/integrity/checkpoints` | admin | sign a checkpoint now |
//! | `GET /v1/integrity/verify` | admin | verify every step and checkpoint |
//! | `GET /v1/integrity/consistency?from=M&to=N` | read | proof that checkpoint N extends M |
//! | `POST /v1/erasures` | admin | erase personal content (GDPR), proofs intact; 409 under a legal hold |
//! | `GET /v1/search/similar` | read | key decisions like a step or a text, nearest first |
//! | `GET /openapi.json` | none | the OpenAPI 3.1 description of all of these ([`openapi`]) |
//!
//! Every client error is a JSON body `{"error": {"code", "message",
//! "field"?}}` with a 4xx status ([`error`]). Handlers are thin: they read
//! the request, call a use case of the application core (`flightlog-app`)
//! and write its answer as JSON or a file.
//!
//! May use: `flightlog-app` and the library crates under it. Never another
//! front end (`flightlog-web`): links to pages come from the core's
//! `PageLinks`, which the binary fills in.

pub mod auth;
pub mod auth_failures;
pub mod body_timeout;
pub mod error;
pub mod extract;
pub mod forward;
pub mod openapi;
mod routes;
mod step_schema;

use axum::Router;
use axum::routing::get;
use error::ApiError;
pub use flightlog_app::AppState;
pub use routes::costs::MORE_GROUPS;
use std::sync::Arc;

pub fn router(state: AppState) -> Router {
    let (routes, api) = routes::router(&state).split_for_parts();
    let description = Arc::new(openapi::describe(api));
    routes
        .route(openapi::PATH, get(openapi::document).with_state(description))
        // Unknown paths and methods get the API's JSON error too.
        .fallback(|| async { ApiError::not_found("no such route; see /openapi.json") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(axum::http::StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
        })
        .with_state(state)
}
