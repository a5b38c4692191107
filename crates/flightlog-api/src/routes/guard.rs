//! `POST /v1/guard`: an agent asks before it executes a side effect, and
//! is told whether to go ahead (flightlog_app::guard). Mounted with the
//! ingest routes' forwarding: the guard's memory is the writer's.

use crate::AppState;
use crate::auth::{Authorize, Scope};
use crate::error::ApiError;
use crate::routes::steps::read_limited;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use flightlog_app::guard::{GuardAnswer, GuardQuestion};
use flightlog_decode::json::parse_record;

/// Room for the identifiers and JSON around the parameters.
const BODY_OVERHEAD: usize = 64 << 10;

/// Asks whether to execute an action now: denied when this side effect
/// with these parameters already succeeded in the project (`previous`
/// says where and when), when the session is in a loop or over budget,
/// or when the agent called the tool too often lately. Every answer is
/// recorded.
#[utoipa::path(post, path = "/v1/guard", tag = "ingest",
    request_body(content((GuardQuestion = "application/json"))),
    responses(
        (status = 200, description = "The answer: allowed, or denied with the reason", body = GuardAnswer),
        (status = 413, description = "The body is over its limit", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn ask(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<Json<GuardAnswer>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Ingest)?;
    let bytes = read_limited(body, state.limits.max_field_bytes + BODY_OVERHEAD).await?;
    let value = parse_record(&bytes).map_err(|e| ApiError::bad_param(&e.field, e.reason))?;
    let question = GuardQuestion::from_json(value, &state.limits).map_err(|e| ApiError::bad_param(&e.field, e.reason))?;
    Ok(Json(state.ask_guard(&principal.project, question, &principal.key_id).await?))
}
