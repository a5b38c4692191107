//! Session reads: the list, one summary, and the timeline of steps.

use crate::AppState;
use crate::auth::{Authorize, Scope};
use crate::error::ApiError;
use crate::extract::{ListedQuery, Path, Query};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use flightlog_app::access_log::{Access, FrontEnd};
use flightlog_app::params;
use flightlog_app::sessions::{MAX_PAGE, SessionListParams, SessionView};
use flightlog_model::time::format_timestamp;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct ListResponse {
    sessions: Vec<SessionView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// Sessions, filtered and sorted, a page at a time.
#[utoipa::path(get, path = "/v1/sessions", tag = "sessions", params(SessionListParams),
    responses((status = 200, body = ListResponse)), security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    ListedQuery(p): ListedQuery<SessionListParams>,
) -> Result<Json<ListResponse>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    let listing = state.list_sessions(&principal.project, &p.filter()?).await?;
    let next_cursor = listing.next_cursor.clone();
    Ok(Json(ListResponse { sessions: listing.views()?, next_cursor }))
}

/// One session's summary.
#[utoipa::path(get, path = "/v1/sessions/{id}", tag = "sessions", params(("id" = String, Path, description = "The session id", example = "support-dup-email")),
    responses((status = 200, body = SessionView)), security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn summary(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    let (summary, flags) = state.session(&principal.project, &id).await?;
    Ok(Json(SessionView::flagged(summary, flags)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
// An unknown parameter is refused, not ignored.
#[serde(deny_unknown_fields)]
pub struct StepsParams {
    /// Steps after this step number (the `next_after` of the page before).
    #[param(value_type = Option<u64>)]
    after: Option<String>,
    /// Steps per page (default 100).
    #[param(schema_with = flightlog_app::param_schemas::page_size)]
    limit: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct StepView {
    step: u64,
    log_index: u64,
    step_hash: String,
    received_at: String,
    failed: bool,
    /// The step exactly as accepted (canonical JSON), unknown fields included.
    #[schema(value_type = Object)]
    data: Box<RawValue>,
}

#[derive(Serialize, ToSchema)]
pub struct StepsResponse {
    session_id: String,
    steps: Vec<StepView>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_after: Option<u64>,
}

/// A session's timeline, a page of steps at a time, in step order.
#[utoipa::path(get, path = "/v1/sessions/{id}/steps", tag = "sessions",
    params(("id" = String, Path, description = "The session id", example = "support-dup-email"), StepsParams),
    responses((status = 200, body = StepsResponse)), security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn steps(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(p): Query<StepsParams>,
) -> Result<Json<StepsResponse>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    let after = params::number::<u64>("after", p.after.as_deref())?;
    let limit = params::page_size(p.limit.as_deref(), 100, MAX_PAGE)?;
    let read = Access::new(&principal, FrontEnd::Api, "GET /v1/sessions/{id}/steps");
    let page = state.timeline_recorded(read, &principal.project, &id, after, limit).await?;
    let next_after = page.next_after;
    let steps = page
        .steps
        .into_iter()
        .map(|r| {
            Ok(StepView {
                step: r.step,
                log_index: r.log_index,
                step_hash: r.step_hash,
                received_at: format_timestamp(r.received_us),
                failed: r.failed,
                data: RawValue::from_string(r.raw).map_err(|e| ApiError::unavailable("a stored step is unreadable", e))?,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(StepsResponse { session_id: id, steps, next_after }))
}
