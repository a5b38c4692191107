//! `GET /v1/costs`: what steps cost, grouped by up to two dimensions.

use crate::AppState;
use crate::auth::{Authorize, Scope};
use crate::error::ApiError;
use crate::extract::Query;
use crate::routes::exports;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use flightlog_app::costs::{CostParams, cost_file};
use serde_json::{Value, json};

pub async fn costs(State(state): State<AppState>, headers: HeaderMap, Query(p): Query<CostParams>) -> Result<Response, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    let query = p.query()?;
    if let Some(format) = p.file_format()? {
        let groups = state.cost_groups(&principal.project, &query).await?;
        return Ok(exports::file_response(format, "costs", cost_file(format, &query.group_by, &groups)?));
    }
    let report = state.cost_report(&principal.project, &query).await?;
    let unpriced: Vec<Value> = report
        .unpriced
        .iter()
        .map(|m| {
            json!({"model": m.value_of(flightlog_store::CostDimension::Model), "unpriced_steps": m.unpriced_steps,
                   "input_tokens": m.input_tokens, "output_tokens": m.output_tokens})
        })
        .collect();
    let totals = match &report.totals {
        Some(t) => {
            let mut t = t.to_map();
            t.remove("scope");
            Value::Object(t)
        }
        None => Value::Null,
    };
    Ok(Json(json!({
        "group_by": report.group_by.iter().map(|d| d.name()).collect::<Vec<_>>(),
        "groups": report.groups,
        "totals": totals,
        "unpriced_models": unpriced,
        "successful_sessions": report.successful_sessions,
        "cost_per_successful_session": report.cost_per_successful_session,
    }))
    .into_response())
}

/// The shipped price list and this project's overrides.
pub async fn prices(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    let (list, overrides) = state.prices(&principal.project).await?;
    Ok(Json(json!({"prices": list, "overrides": overrides})))
}

/// Adds a price override for the caller's project (admin). It applies from
/// `effective_from` on, to past steps as well.
pub async fn put_override(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<flightlog_store::Price>, axum::extract::rejection::JsonRejection>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    let Json(p) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let model_key = state.put_price_override(&principal.project, &p, &principal.key_id).await?;
    Ok((axum::http::StatusCode::CREATED, Json(json!({"project": principal.project, "model_key": model_key, "effective_from": p.effective_from}))))
}
