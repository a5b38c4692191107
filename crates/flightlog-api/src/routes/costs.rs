//! `GET /v1/costs`: what steps cost, grouped by up to two dimensions.

use crate::AppState;
use crate::auth::{Authorize, Scope};
use crate::error::ApiError;
use crate::extract::ListedQuery;
use crate::routes::exports;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use flightlog_app::costs::{CostParams, cost_file};
use flightlog_store::{CostDimension, CostRow, Price};
use serde::Serialize;
use utoipa::ToSchema;

/// Says that a cost file holds the `limit` most expensive groups and more
/// matched (`more_groups` in the JSON report).
pub const MORE_GROUPS: &str = "x-flightlog-more-groups";

/// A cost report: the groups, and what finance totals.
#[derive(Serialize, ToSchema)]
pub struct CostReportView {
    /// The dimensions grouped by, in order.
    group_by: Vec<&'static str>,
    /// Most expensive first, at most `limit`.
    groups: Vec<CostRow>,
    /// More groups than `limit` matched: the cheaper ones are left out (a
    /// file says so in its `x-flightlog-more-groups: true` header).
    more_groups: bool,
    /// The whole range under the filters; null when no step matched.
    totals: Option<CostRow>,
    /// Models with steps that have tokens but no price.
    unpriced_models: Vec<UnpricedModel>,
    /// Sessions with no failed step.
    successful_sessions: u64,
    /// null when no session succeeded.
    cost_per_successful_session: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct UnpricedModel {
    model: String,
    unpriced_steps: u64,
    input_tokens: u64,
    output_tokens: u64,
}

/// What steps cost, computed now from tokens and prices; as JSON, or as a
/// file with `format`.
#[utoipa::path(get, path = "/v1/costs", tag = "costs", params(CostParams),
    responses(
        (status = 200, description = "The report, or with `format` the groups as a file",
        headers(
            ("x-flightlog-more-groups" = String, description = "`true` on a file when more groups matched than `limit`: the cheaper ones are left out"),
        ),
        content(
            (CostReportView = "application/json"),
            (crate::openapi::Binary = "text/csv"),
            (crate::openapi::Binary = "application/vnd.apache.arrow.stream"),
            (crate::openapi::Binary = "application/vnd.apache.parquet"),
        )),
    ),
    security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn costs(State(state): State<AppState>, headers: HeaderMap, ListedQuery(p): ListedQuery<CostParams>) -> Result<Response, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    let query = p.query()?;
    if let Some(format) = p.file_format()? {
        let groups = state.cost_groups(&principal.project, &query).await?;
        let mut file = exports::file_response(format, "costs", cost_file(format, &query.group_by, &groups.rows)?);
        if groups.more {
            file.headers_mut().insert(MORE_GROUPS, axum::http::HeaderValue::from_static("true"));
        }
        return Ok(file);
    }
    let report = state.cost_report(&principal.project, &query).await?;
    let unpriced_models = report
        .unpriced
        .iter()
        .map(|m| UnpricedModel {
            model: m.value_of(CostDimension::Model).unwrap_or_default().to_string(),
            unpriced_steps: m.unpriced_steps,
            input_tokens: m.input_tokens,
            output_tokens: m.output_tokens,
        })
        .collect();
    Ok(Json(CostReportView {
        group_by: report.group_by.iter().map(|d| d.name()).collect(),
        groups: report.groups,
        more_groups: report.more_groups,
        totals: report.totals,
        unpriced_models,
        successful_sessions: report.successful_sessions,
        cost_per_successful_session: report.cost_per_successful_session,
    })
    .into_response())
}

#[derive(Serialize, ToSchema)]
pub struct PriceList {
    /// The shipped list, by model and date.
    prices: Vec<Price>,
    /// This project's overrides, which win over the list from their date on.
    overrides: Vec<Price>,
}

/// The shipped price list and this project's overrides.
#[utoipa::path(get, path = "/v1/prices", tag = "costs", responses((status = 200, body = PriceList)),
    security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn prices(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<PriceList>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    let (prices, overrides) = state.prices(&principal.project).await?;
    Ok(Json(PriceList { prices, overrides }))
}

#[derive(Serialize, ToSchema)]
pub struct OverrideAdded {
    project: String,
    /// The model name as the price list keys it.
    model_key: String,
    effective_from: String,
}

/// Adds a price override for the caller's project (admin). It applies from
/// `effective_from` on, to past steps as well.
#[utoipa::path(post, path = "/v1/prices/overrides", tag = "costs", request_body = Price,
    responses((status = 201, body = OverrideAdded)), security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn put_override(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: crate::extract::JsonObject<Price>,
) -> Result<(StatusCode, Json<OverrideAdded>), ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    let p = crate::extract::json_body(body)?;
    let model_key = state.put_price_override(&principal.project, &p, &principal.key_id).await?;
    Ok((StatusCode::CREATED, Json(OverrideAdded { project: principal.project, model_key, effective_from: p.effective_from })))
}
