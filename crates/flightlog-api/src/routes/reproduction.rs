//! `GET /v1/sessions/{id}/reproduction`: what is needed to re-run a session
//! (flightlog-app `reproduction`).

use crate::AppState;
use crate::auth::{Authorize, Scope};
use crate::error::ApiError;
use crate::extract::{Path, Query};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use flightlog_app::access_log::{Access, FrontEnd};
use flightlog_app::params;
use flightlog_app::sessions::MAX_PAGE;
use serde::Deserialize;
use utoipa::IntoParams;
use serde_json::Value;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
// An unknown parameter is refused, not ignored.
#[serde(deny_unknown_fields)]
pub struct ReproductionParams {
    /// Steps after this step number (the `next_after` of the page before).
    #[param(value_type = Option<u64>)]
    after: Option<String>,
    /// Steps per page (default and most: 1,000).
    #[param(schema_with = flightlog_app::param_schemas::page_size)]
    limit: Option<String>,
}

/// What is needed to re-run the session: model, settings, prompts and
/// tool results per step, a page of steps at a time (`next_after` when
/// more follow).
#[utoipa::path(get, path = "/v1/sessions/{id}/reproduction", tag = "sessions",
    params(("id" = String, Path, description = "The session id", example = "support-dup-email"), ReproductionParams),
    responses((status = 200, description = "The reproduction recipe", body = Object)), security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn reproduction(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(p): Query<ReproductionParams>,
) -> Result<Json<Value>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    let after = params::number::<u64>("after", p.after.as_deref())?;
    let limit = params::page_size(p.limit.as_deref(), MAX_PAGE, MAX_PAGE)?;
    let (recipe, users) = state.reproduction(&principal.project, &id, after, limit).await?;
    let read = Access::new(&principal, FrontEnd::Api, "GET /v1/sessions/{id}/reproduction").session(&id);
    state.record_read(read.returned(users.iter().map(String::as_str))).await?;
    Ok(Json(recipe))
}
