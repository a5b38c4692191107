//! One module per resource; each exposes its handlers for [`router`].

pub(crate) mod costs;
pub(crate) mod exports;
mod health;
mod integrity;
mod keys;
mod otlp;
mod reproduction;
pub(crate) mod search;
mod sessions;
mod steps;

use crate::AppState;
use crate::error::ApiError;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post};
use crate::forward::{self, Forwarder};

pub fn router(state: &AppState) -> Router<AppState> {
    // What appends to the log runs on the writer lease's holder.
    let to_writer = from_fn_with_state(Forwarder::new(state.clone()), forward::to_writer);
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .route("/v1/search/similar", get(search::similar))
        // The ingest handler enforces its own, named body limit (413 with a
        // JSON error), so axum's generic one is turned off there.
        .route("/v1/steps", post(steps::ingest).layer(DefaultBodyLimit::disable()).layer(to_writer.clone()))
        .route("/v1/traces", post(otlp::traces).layer(DefaultBodyLimit::disable()).layer(to_writer.clone()))
        .route("/api/public/otel/v1/traces", post(otlp::traces).layer(DefaultBodyLimit::disable()).layer(to_writer.clone()))
        .route("/v1/sessions", get(sessions::list))
        .route("/v1/sessions/{id}", get(sessions::summary))
        .route("/v1/sessions/{id}/steps", get(sessions::steps))
        .route("/v1/costs", get(costs::costs))
        .route("/v1/export/steps", get(exports::steps))
        .route("/v1/prices", get(costs::prices))
        .route("/v1/prices/overrides", post(costs::put_override))
        .route("/v1/keys", get(keys::list).post(keys::create))
        .route("/v1/keys/{key_id}", delete(keys::revoke))
        .route("/v1/sessions/{id}/verify", get(integrity::verify_session))
        .route("/v1/sessions/{id}/evidence", get(integrity::evidence))
        .route("/v1/sessions/{id}/reproduction", get(reproduction::reproduction))
        .route("/v1/integrity/public-key", get(integrity::public_key))
        .route("/v1/integrity/checkpoints", get(integrity::checkpoints).post(integrity::seal).layer(to_writer))
        .route("/v1/integrity/verify", get(integrity::verify_all))
        .route("/v1/integrity/consistency", get(integrity::consistency))
        .route("/v1/erasures", post(integrity::erase))
        // Unknown paths and methods get the API's JSON error too.
        .fallback(|| async { ApiError::not_found("no such route; see the README's HTTP API table") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(axum::http::StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
        })
}
