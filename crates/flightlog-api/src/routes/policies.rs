//! A project's policies (admin scope, the caller's own project): what is
//! redacted before steps are stored, how long content and steps are kept,
//! and the legal holds that suspend expiry and erasure.

use crate::AppState;
use crate::auth::{Authorize, Scope};
use crate::error::ApiError;
use crate::extract::{Path, Query, json_body};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use flightlog_app::redaction::{ProjectRedaction, RedactionInForce};
use flightlog_app::retention::{Hold, HoldChange, HoldRequest, RetentionInForce};
use flightlog_model::retention::{HoldSubject, Retention};
use serde::Serialize;
use utoipa::ToSchema;

/// The project's redaction policy in force (its own, or the server's default).
#[utoipa::path(get, path = "/v1/policies/redaction", tag = "policies", responses((status = 200, body = RedactionInForce)),
    security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn redaction(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<RedactionInForce>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    Ok(Json(state.redaction_policy(&principal.project).await?))
}

/// Sets the project's redaction policy: it applies to steps that arrive
/// from now on (within two seconds on every replica).
#[utoipa::path(put, path = "/v1/policies/redaction", tag = "policies", request_body = ProjectRedaction,
    responses((status = 200, body = RedactionInForce)), security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn set_redaction(
    State(state): State<AppState>,
    headers: HeaderMap,
    policy: crate::extract::JsonObject<ProjectRedaction>,
) -> Result<Json<RedactionInForce>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    let policy = json_body(policy)?;
    Ok(Json(state.set_redaction_policy(&principal.project, policy, &principal.key_id).await?))
}

/// The project's retention policy (null days: kept forever), with warnings.
#[utoipa::path(get, path = "/v1/policies/retention", tag = "policies", responses((status = 200, body = RetentionInForce)),
    security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn retention(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<RetentionInForce>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    Ok(Json(state.retention_policy(&principal.project).await?))
}

/// Sets the project's retention policy; the expiry job applies it.
#[utoipa::path(put, path = "/v1/policies/retention", tag = "policies", request_body = Retention,
    responses((status = 200, body = RetentionInForce)), security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn set_retention(
    State(state): State<AppState>,
    headers: HeaderMap,
    policy: crate::extract::JsonObject<Retention>,
) -> Result<Json<RetentionInForce>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    let policy = json_body(policy)?;
    Ok(Json(state.set_retention_policy(&principal.project, policy, &principal.key_id).await?))
}

#[derive(Serialize, ToSchema)]
pub struct HoldList {
    holds: Vec<Hold>,
}

/// The project's legal holds in force.
#[utoipa::path(get, path = "/v1/legal-holds", tag = "policies", responses((status = 200, body = HoldList)),
    security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn holds(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<HoldList>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    Ok(Json(HoldList { holds: state.legal_holds(&principal.project).await? }))
}

#[derive(Serialize, ToSchema)]
pub struct HoldHistory {
    /// Newest first.
    changes: Vec<HoldChange>,
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// Changes at most (default and at most 1,000).
    #[param(schema_with = flightlog_app::param_schemas::records_page_size)]
    limit: Option<String>,
}

/// Every placement and release of the project's legal holds, newest first:
/// who held or released what, when and why.
#[utoipa::path(get, path = "/v1/legal-holds/history", tag = "policies", params(HistoryParams), responses((status = 200, body = HoldHistory)),
    security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn hold_history(State(state): State<AppState>, headers: HeaderMap, Query(p): Query<HistoryParams>) -> Result<Json<HoldHistory>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    let limit = flightlog_app::params::page_size(p.limit.as_deref(), MAX_HISTORY, MAX_HISTORY)?;
    Ok(Json(HoldHistory { changes: state.legal_hold_history(&principal.project, limit as usize).await? }))
}

const MAX_HISTORY: u32 = 1_000;

/// Places a legal hold on a session or a user: it is neither expired nor
/// erased while held.
#[utoipa::path(post, path = "/v1/legal-holds", tag = "policies", request_body = HoldRequest,
    responses((status = 201, body = Hold),
        (status = 409, description = "Nothing changed: what it names is held already (the hold that stands is named)", body = crate::error::ErrorBody)),
    security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn place_hold(
    State(state): State<AppState>,
    headers: HeaderMap,
    req: crate::extract::JsonObject<HoldRequest>,
) -> Result<(StatusCode, Json<Hold>), ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    let req = json_body(req)?;
    Ok((StatusCode::CREATED, Json(state.place_legal_hold(&principal.project, req, &principal.key_id).await?)))
}

/// Releases a legal hold; expiry and erasure apply to the subject again.
#[utoipa::path(delete, path = "/v1/legal-holds/{subject}/{id}", tag = "policies",
    params(("subject" = HoldSubject, Path), ("id" = String, Path), ReleaseParams),
    responses((status = 204, description = "released")),
    security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn release_hold(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((subject, id)): Path<(String, String)>,
    Query(p): Query<ReleaseParams>,
) -> Result<StatusCode, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    let subject = HoldSubject::parse(&subject)
        .ok_or_else(|| ApiError::bad_request(format!("subject: must be session or user, got {subject:?}")))?;
    state.release_legal_hold(&principal.project, subject, &id, &p.reason, &principal.key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReleaseParams {
    /// Why the hold is released (kept with the release; at most 1,000 bytes).
    #[serde(default)]
    reason: String,
}
