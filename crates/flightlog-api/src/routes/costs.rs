//! `GET /v1/costs`: what steps cost, grouped by up to two dimensions.

use crate::AppState;
use crate::auth::Scope;
use crate::error::ApiError;
use crate::routes::exports;
use axum::Json;
use axum::response::{IntoResponse, Response};
use flightlog_export::{Column, Format, Kind, SharedBuffer, TableWriter};
use crate::extract::Query;
use axum::extract::State;
use axum::http::HeaderMap;
use flightlog_model::time::parse_timestamp;
use flightlog_store::{CostDimension, CostQuery};
use serde::Deserialize;
use serde_json::{Value, json};

const MAX_GROUPS: u32 = 10_000;

#[derive(Deserialize)]
pub struct CostParams {
    group_by: Option<String>,
    from: Option<String>,
    to: Option<String>,
    agent: Option<String>,
    user: Option<String>,
    model: Option<String>,
    tags: Option<String>,
    limit: Option<String>,
    /// csv, arrow or parquet: the groups as a file instead of JSON.
    format: Option<String>,
}

pub async fn costs(State(state): State<AppState>, headers: HeaderMap, Query(p): Query<CostParams>) -> Result<Response, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    let group_by = match p.group_by.as_deref().filter(|g| !g.is_empty()) {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|g| {
                CostDimension::parse(g.trim()).ok_or_else(|| {
                    ApiError::bad_param("group_by", format!("unknown dimension {g:?}; use {}", CostDimension::NAMES.join(", ")))
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    if group_by.len() > 2 {
        return Err(ApiError::bad_param("group_by", "at most two dimensions at once"));
    }
    let time = |name: &str, v: &Option<String>, default: i64| match v {
        None => Ok(default),
        Some(s) => parse_timestamp(s).map_err(|e| ApiError::bad_param(name, e.reason)),
    };
    let limit = match p.limit.as_deref() {
        None => 1000,
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_GROUPS).contains(n))
            .ok_or_else(|| ApiError::bad_param("limit", format!("must be between 1 and {MAX_GROUPS}")))?,
    };
    let query = CostQuery {
        group_by: group_by.clone(),
        from_us: time("from", &p.from, 0)?,
        to_us: time("to", &p.to, 7_258_118_400_000_000)?,
        agent: p.agent.filter(|s| !s.is_empty()),
        user: p.user.filter(|s| !s.is_empty()),
        model: p.model.filter(|s| !s.is_empty()),
        sessions: Vec::new(),
        tags: p.tags.map(|t| t.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()).unwrap_or_default(),
        limit,
    };
    let project = &principal.project;
    let groups = state.store.costs(project, &query).await?;
    if let Some(format) = p.format.as_deref() {
        return Ok(cost_file(exports::format_param(format)?, &group_by, groups));
    }
    let totals = state.store.costs(project, &CostQuery { group_by: Vec::new(), limit: 1, ..query.clone() }).await?;
    let by_model =
        state.store.costs(project, &CostQuery { group_by: vec![CostDimension::Model], limit: MAX_GROUPS, ..query.clone() }).await?;
    let (successful, successful_cost) = state.store.successful_session_cost(project, &query).await?;
    let unpriced: Vec<Value> = by_model
        .into_iter()
        .filter(|m| m.get("unpriced_steps").and_then(Value::as_u64).unwrap_or(0) > 0)
        .map(|m| json!({"model": m["model"], "unpriced_steps": m["unpriced_steps"], "input_tokens": m["input_tokens"], "output_tokens": m["output_tokens"]}))
        .collect();
    let mut totals = totals.into_iter().next().map(Value::Object).unwrap_or(Value::Null);
    if let Value::Object(t) = &mut totals {
        t.remove("scope");
    }
    Ok(Json(json!({
        "group_by": group_by.iter().map(|d| d.name()).collect::<Vec<_>>(),
        "groups": groups,
        "totals": totals,
        "unpriced_models": unpriced,
        "successful_sessions": successful,
        "cost_per_successful_session": if successful > 0 { json!(successful_cost / successful as f64) } else { Value::Null },
    }))
    .into_response())
}

/// The cost groups as a CSV, Arrow or Parquet file (they are few: one batch).
pub fn cost_file(format: Format, group_by: &[CostDimension], groups: Vec<serde_json::Map<String, Value>>) -> Response {
    let mut columns: Vec<Column> = if group_by.is_empty() {
        vec![Column::new("scope", Kind::Text)]
    } else {
        group_by.iter().map(|d| Column::new(d.name(), Kind::Text)).collect()
    };
    for (name, kind) in [("steps", Kind::Int), ("sessions", Kind::Int), ("input_tokens", Kind::Int), ("cache_read_tokens", Kind::Int),
                         ("cache_write_tokens", Kind::Int), ("output_tokens", Kind::Int), ("reasoning_tokens", Kind::Int),
                         ("cost", Kind::Float), ("reported_cost", Kind::Float), ("estimate_differs", Kind::Bool), ("unpriced_steps", Kind::Int), ("failed_steps", Kind::Int)] {
        columns.push(Column::new(name, kind));
    }
    exports::stream_file(format, "costs", move |tx| async move {
        let buf = SharedBuffer::default();
        let written = TableWriter::new(format, columns.clone(), buf.clone())
            .and_then(|mut w| w.write(&exports::as_rows(&columns, &groups)).map(|_| w))
            .and_then(|w| w.finish());
        let _ = match written {
            Ok(_) => tx.send(Ok(buf.take().into())).await,
            Err(e) => tx.send(Err(std::io::Error::other(e.to_string()))).await,
        };
    })
}

/// The shipped price list and this project's overrides.
pub async fn prices(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    let (list, overrides) = state.store.prices(&principal.project).await?;
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
    if p.model_key.trim().is_empty() || p.model_key.len() > 256 {
        return Err(ApiError::bad_param("model_key", "is required (any spelling of the model name), at most 256 bytes"));
    }
    let from = parse_timestamp(&p.effective_from).map_err(|e| ApiError::bad_param("effective_from", e.reason))?;
    let prices = [Some(p.input), Some(p.output), Some(p.cache_read), Some(p.cache_write), p.reasoning, p.tier_input, p.tier_output, p.tier_cache_read];
    if prices.iter().flatten().any(|x| !x.is_finite() || *x < 0.0 || *x > 1e6) {
        return Err(ApiError::bad_param("input", "prices are USD per 1M tokens, between 0 and 1,000,000"));
    }
    if p.source.len() > 1024 {
        return Err(ApiError::bad_param("source", "the note is longer than 1024 bytes"));
    }
    state.store.put_price_override(&principal.project, &p, from).await?;
    tracing::info!(project = %principal.project, model = %p.model_key, from = %p.effective_from, by = %principal.key_id, "price override");
    Ok((axum::http::StatusCode::CREATED, Json(json!({"project": principal.project, "model_key": flightlog_model::pricing::model_key(&p.model_key), "effective_from": p.effective_from}))))
}
