//! The HTTP side of the failed-authentication limit (the counters are the
//! application core's, `flightlog_app::auth_failures`, shared with the
//! gRPC front end): one layer over the whole app answers 429 with
//! `Retry-After`.
//!
//! Why it works on responses: every way of failing (API header, the web
//! sign-in form) ends in a 401, so the layer needs no knowledge of the
//! handlers.

use crate::error::ApiError;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
pub use flightlog_app::auth_failures::{AuthFailures, FailureLimits};
use flightlog_app::auth_failures::{refusal_message, retry_after_seconds};
use std::net::SocketAddr;
use std::time::Duration;

/// The middleware: `router.layer(from_fn_with_state(AuthFailures::new(..), guard))`.
pub async fn guard(State(failures): State<AuthFailures>, request: Request, next: Next) -> Response {
    let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| ConnectInfo(c.0)) else {
        // Served without connection info (in-process tests): nothing to count by.
        return next.run(request).await;
    };
    let client = failures.client_of(peer.ip(), request.headers().get_all("x-forwarded-for").iter().map(|v| v.as_bytes()));
    let key = crate::auth::presented_key(request.headers());
    // A blocked address is refused before anything is checked: were its
    // guesses still checked, a right one would answer 200 and the limit
    // would slow nothing. A blocked key prefix refuses failing attempts
    // only: the key's owner, with the right key, is never locked out by
    // someone who knows its public id (an agent's steps must keep
    // arriving), and a generated key's 256 random bits need no more.
    if let Some(left) = failures.address_blocked(client) {
        tracing::debug!(%client, "refused: address blocked after failed authentications");
        return too_many(left, "this address");
    }
    let response = next.run(request).await;
    if response.status() != StatusCode::UNAUTHORIZED {
        return response;
    }
    match failures.refuse_failure(client, key.as_deref()) {
        Some(left) => too_many(left, "this key"),
        None => response,
    }
}

fn too_many(left: Duration, from: &str) -> Response {
    let seconds = retry_after_seconds(left);
    let mut response = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_failures", refusal_message(seconds, from)).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}
