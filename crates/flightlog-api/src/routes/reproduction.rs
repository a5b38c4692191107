//! `GET /v1/sessions/{id}/reproduction`: what is needed to re-run a session
//! (flightlog-app `reproduction`).

use crate::AppState;
use crate::auth::{Authorize, Scope};
use crate::error::ApiError;
use crate::extract::Path;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use flightlog_app::access_log::{Access, FrontEnd};
use serde_json::Value;

/// What is needed to re-run the session: model, settings, prompts and
/// tool results per step.
#[utoipa::path(get, path = "/v1/sessions/{id}/reproduction", tag = "sessions",
    params(("id" = String, Path, description = "The session id", example = "support-dup-email")),
    responses((status = 200, description = "The reproduction recipe", body = Object)), security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn reproduction(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    let recipe = state.reproduction(&principal.project, &id).await?;
    let steps = recipe["steps"].as_array().map_or(0, Vec::len);
    state.record_read(Access::new(&principal, FrontEnd::Api, "GET /v1/sessions/{id}/reproduction").session(&id).items(steps)).await?;
    Ok(Json(recipe))
}
