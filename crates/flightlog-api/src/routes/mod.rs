//! One module per resource; each exposes its handlers for [`router`].
//!
//! Routes are added with utoipa-axum's `routes!`, which mounts a handler
//! at the path and method of its `#[utoipa::path]` and adds that to the
//! OpenAPI description: a route cannot exist without being described.

mod access_log;
pub(crate) mod costs;
pub(crate) mod exports;
mod guard;
mod health;
mod incidents;
mod integrity;
mod keys;
mod otlp;
mod policies;
mod reproduction;
pub(crate) mod search;
mod sessions;
mod steps;

use crate::AppState;
use crate::forward::{self, Forwarder};
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    // What appends to the log runs on the writer lease's holder.
    let to_writer = from_fn_with_state(Forwarder::new(state.clone()), forward::to_writer);
    OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::metrics))
        .routes(routes!(search::similar))
        // The ingest handlers enforce their own, named body limit (413 with
        // a JSON error), so axum's generic one is turned off there.
        .routes(routes!(steps::ingest).layer(DefaultBodyLimit::disable()).layer(to_writer.clone()))
        .routes(routes!(otlp::traces).layer(DefaultBodyLimit::disable()).layer(to_writer.clone()))
        // The Langfuse SDK's path for the same (described as its alias).
        .route(
            crate::openapi::LANGFUSE_TRACES.0,
            axum::routing::post(otlp::traces).layer(DefaultBodyLimit::disable()).layer(to_writer.clone()),
        )
        .routes(routes!(guard::ask).layer(to_writer.clone()))
        .routes(routes!(sessions::list))
        .routes(routes!(sessions::summary))
        .routes(routes!(sessions::steps))
        .routes(routes!(costs::costs))
        .routes(routes!(exports::steps))
        .routes(routes!(costs::prices))
        .routes(routes!(costs::put_override))
        .routes(routes!(keys::list, keys::create))
        .routes(routes!(keys::revoke))
        .routes(routes!(access_log::list))
        .routes(routes!(integrity::verify_session))
        .routes(routes!(integrity::evidence))
        .routes(routes!(reproduction::reproduction))
        .routes(routes!(integrity::public_key))
        .routes(routes!(integrity::checkpoints))
        .routes(routes!(integrity::seal).layer(to_writer.clone()))
        .routes(routes!(integrity::verify_all))
        .routes(routes!(integrity::consistency))
        // An erasure drops stored messages no step needs any more: beside
        // the writer, which holds off its writes of messages meanwhile
        // (flightlog-store `Store::lock_messages`).
        .routes(routes!(integrity::erase).layer(to_writer.clone()))
        .routes(routes!(integrity::erasures))
        .routes(routes!(policies::redaction, policies::set_redaction))
        .routes(routes!(policies::retention, policies::set_retention))
        // Hold changes too: there they wait for an erasure in progress, and
        // an erasure after them sees them (flightlog-app `OneAtATime`).
        .routes(routes!(policies::holds))
        .routes(routes!(policies::hold_history))
        .routes(routes!(policies::place_hold).layer(to_writer.clone()))
        .routes(routes!(policies::release_hold).layer(to_writer))
        .routes(routes!(incidents::list))
        .routes(routes!(incidents::one))
        .routes(routes!(incidents::set_state))
        .routes(routes!(incidents::detection, incidents::set_detection))
        .routes(routes!(incidents::rules, incidents::set_rules))
}
