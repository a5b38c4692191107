//! Incidents (read scope to list, admin to change their state), the
//! detectors' thresholds and the alert rules (admin), in the caller's
//! project.

use crate::AppState;
use crate::auth::{Authorize, Scope};
use crate::error::ApiError;
use crate::extract::{ListedQuery, Path, json_body};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use flightlog_app::alerts::{AlertRules, AlertRulesView};
use flightlog_app::incidents::{IncidentPage, IncidentParams, IncidentState, IncidentView};
use flightlog_model::detect::DetectConfig;
use serde::Deserialize;
use utoipa::ToSchema;

/// The project's incidents, newest first: repeated side effects, loops,
/// bursts, runaways and cascading failures the detectors found as steps
/// arrived.
#[utoipa::path(get, path = "/v1/incidents", tag = "incidents", params(IncidentParams), responses((status = 200, body = IncidentPage)),
    security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn list(State(state): State<AppState>, headers: HeaderMap, ListedQuery(p): ListedQuery<IncidentParams>) -> Result<Json<IncidentPage>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    Ok(Json(state.incidents(&principal.project, &p.query()?).await?))
}

/// One incident.
#[utoipa::path(get, path = "/v1/incidents/{id}", tag = "incidents", params(("id" = String, Path, description = "The incident's id (inc_…)")),
    responses((status = 200, body = IncidentView)), security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn one(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Result<Json<IncidentView>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    Ok(Json(state.incident(&principal.project, &id).await?))
}

/// A new state for an incident.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StateChange {
    state: IncidentState,
}

/// Acknowledges, resolves or reopens an incident.
#[utoipa::path(post, path = "/v1/incidents/{id}/state", tag = "incidents", request_body = StateChange,
    params(("id" = String, Path, description = "The incident's id (inc_…)")),
    responses((status = 200, body = IncidentView)), security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn set_state(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    change: crate::extract::JsonObject<StateChange>,
) -> Result<Json<IncidentView>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    let change = json_body(change)?;
    Ok(Json(state.set_incident_state(&principal.project, &id, change.state, &principal.key_id).await?))
}

/// The detectors' thresholds for the project (its own, or the defaults).
#[utoipa::path(get, path = "/v1/policies/detection", tag = "incidents", responses((status = 200, body = DetectConfig)),
    security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn detection(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<DetectConfig>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    Ok(Json(state.detection_policy(&principal.project).await?))
}

/// Sets the detectors' thresholds for the project (omitted fields take
/// the defaults); they apply to steps that arrive from now on.
#[utoipa::path(put, path = "/v1/policies/detection", tag = "incidents", request_body = DetectConfig,
    responses((status = 200, body = DetectConfig)), security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn set_detection(
    State(state): State<AppState>,
    headers: HeaderMap,
    config: crate::extract::JsonObject<DetectConfig>,
) -> Result<Json<DetectConfig>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    let config = json_body(config)?;
    Ok(Json(state.set_detection_policy(&principal.project, config, &principal.key_id).await?))
}

/// The project's alert rules (secrets are not shown).
#[utoipa::path(get, path = "/v1/alerts/rules", tag = "incidents", responses((status = 200, body = AlertRulesView)),
    security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn rules(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<AlertRulesView>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    Ok(Json(state.alert_rules(&principal.project).await?))
}

/// Replaces the project's alert rules: incidents that open or grow from
/// now on are POSTed, signed, to each matching rule's webhook.
#[utoipa::path(put, path = "/v1/alerts/rules", tag = "incidents", request_body = AlertRules,
    responses((status = 200, body = AlertRulesView)), security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn set_rules(
    State(state): State<AppState>,
    headers: HeaderMap,
    rules: crate::extract::JsonObject<AlertRules>,
) -> Result<Json<AlertRulesView>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    let rules = json_body(rules)?;
    Ok(Json(state.set_alert_rules(&principal.project, rules, &principal.key_id).await?))
}
