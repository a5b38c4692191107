//! Session reads: the list, one summary, and the timeline of steps.

use crate::AppState;
use crate::auth::Scope;
use crate::error::ApiError;
use axum::Json;
use crate::extract::{Path, Query};
use axum::extract::State;
use axum::http::HeaderMap;
use flightlog_model::time::{format_timestamp, parse_timestamp};
use flightlog_store::{SessionFilter, SessionSort, SessionSummary};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::str::FromStr;

const MAX_PAGE: u32 = 1000;

#[derive(Deserialize)]
pub struct ListParams {
    from: Option<String>,
    to: Option<String>,
    agent: Option<String>,
    user: Option<String>,
    model: Option<String>,
    status: Option<String>,
    min_cost: Option<String>,
    min_steps: Option<String>,
    flagged: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

/// A session summary as the API shows it: timestamps in RFC 3339.
#[derive(Serialize)]
pub struct SessionView {
    session_id: String,
    first_timestamp: String,
    last_timestamp: String,
    steps: u64,
    failed_steps: u64,
    status: &'static str,
    input_tokens: u64,
    output_tokens: u64,
    cache_read_tokens: u64,
    cache_write_tokens: u64,
    reasoning_tokens: u64,
    estimated_cost: f64,
    /// Computed from tokens and prices now (the estimate is the client's).
    #[serde(skip_serializing_if = "Option::is_none")]
    cost: Option<f64>,
    /// Whether the computed cost exceeds the budget that applies; absent
    /// when no budget applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    over_budget: Option<bool>,
    /// Repeated side effects and runaway sessions (flightlog-model anomaly).
    anomalies: Vec<flightlog_model::anomaly::Anomaly>,
    agents: Vec<String>,
    models: Vec<String>,
    users: Vec<String>,
    tags: Vec<String>,
}

impl From<SessionSummary> for SessionView {
    fn from(s: SessionSummary) -> Self {
        Self {
            first_timestamp: format_timestamp(s.first_us),
            last_timestamp: format_timestamp(s.last_us),
            status: if s.failed_steps > 0 { "failed" } else { "ok" },
            session_id: s.session_id,
            steps: s.steps,
            failed_steps: s.failed_steps,
            input_tokens: s.input_tokens,
            output_tokens: s.output_tokens,
            cache_read_tokens: s.cache_read_tokens,
            cache_write_tokens: s.cache_write_tokens,
            reasoning_tokens: s.reasoning_tokens,
            estimated_cost: s.estimated_cost,
            cost: None,
            over_budget: None,
            anomalies: Vec::new(),
            agents: s.agents,
            models: s.models,
            users: s.users,
            tags: s.tags,
        }
    }
}

#[derive(Serialize)]
pub struct ListResponse {
    sessions: Vec<SessionView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<ListParams>,
) -> Result<Json<ListResponse>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    let filter = SessionFilter {
        from_us: p.from.as_deref().map(|s| time_param("from", s)).transpose()?,
        to_us: p.to.as_deref().map(|s| time_param("to", s)).transpose()?,
        agent: p.agent,
        user: p.user,
        model: p.model,
        failed: match p.status.as_deref() {
            None | Some("") | Some("any") => None,
            Some("failed") => Some(true),
            Some("ok") => Some(false),
            Some(other) => return Err(ApiError::bad_param("status", format!("must be failed, ok or any, got {other:?}"))),
        },
        min_cost: finite_param("min_cost", p.min_cost.as_deref())?,
        min_steps: number_param("min_steps", p.min_steps.as_deref())?,
        flagged: match p.flagged.as_deref() {
            None | Some("") | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(ApiError::bad_param("flagged", format!("must be true or false, got {other:?}"))),
        },
        sort: match p.sort.as_deref() {
            None => SessionSort::default(),
            Some(s) => SessionSort::parse(s)
                .ok_or_else(|| ApiError::bad_param("sort", format!("must be time, cost or steps, got {s:?}")))?,
        },
        ascending: match p.order.as_deref() {
            None | Some("desc") => false,
            Some("asc") => true,
            Some(other) => return Err(ApiError::bad_param("order", format!("must be asc or desc, got {other:?}"))),
        },
        cursor: p.cursor,
        limit: page_size(p.limit.as_deref(), 50)?,
    };
    let page = state.store.list_sessions(&principal.project, &filter).await?;
    let mut flags = state.session_flags(&principal.project, &page.sessions).await?;
    let sessions = page
        .sessions
        .into_iter()
        .map(|s| {
            let f = flags.remove(&s.session_id).unwrap_or_default();
            SessionView { cost: Some(f.cost), over_budget: f.over_budget, anomalies: f.anomalies, ..SessionView::from(s) }
        })
        .collect();
    Ok(Json(ListResponse { sessions, next_cursor: page.next_cursor }))
}

pub async fn summary(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    let summary = state.store.session_summary(&principal.project, &id).await?;
    let summary = summary.ok_or_else(|| ApiError::not_found(format!("no session {id:?} in this project")))?;
    let anomalies = state.store.anomalies_of(&principal.project, &[(&id, summary.steps)]).await?.remove(&id).unwrap_or_default();
    Ok(Json(SessionView { anomalies, ..summary.into() }))
}

#[derive(Deserialize)]
pub struct StepsParams {
    after: Option<String>,
    limit: Option<String>,
}

#[derive(Serialize)]
pub struct StepView {
    step: u64,
    log_index: u64,
    step_hash: String,
    received_at: String,
    failed: bool,
    /// The step exactly as accepted (canonical JSON), unknown fields included.
    data: Box<RawValue>,
}

#[derive(Serialize)]
pub struct StepsResponse {
    session_id: String,
    steps: Vec<StepView>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_after: Option<u64>,
}

pub async fn steps(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(p): Query<StepsParams>,
) -> Result<Json<StepsResponse>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    let after = number_param::<u64>("after", p.after.as_deref())?;
    let limit = page_size(p.limit.as_deref(), 100)?;
    let rows = state.store.session_timeline(&principal.project, &id, after, limit).await?;
    if rows.is_empty() && after.is_none() {
        return Err(ApiError::not_found(format!("no session {id:?} in this project")));
    }
    let next_after = (rows.len() as u32 == limit).then(|| rows.last().map(|r| r.step)).flatten();
    let steps = rows
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

pub(crate) fn time_param(name: &str, s: &str) -> Result<i64, ApiError> {
    parse_timestamp(s).map_err(|e| ApiError::bad_param(name, e.reason))
}

pub(crate) fn number_param<T: FromStr>(name: &str, s: Option<&str>) -> Result<Option<T>, ApiError> {
    s.map(|s| s.parse().map_err(|_| ApiError::bad_param(name, format!("must be a non-negative number, got {s:?}"))))
        .transpose()
}

/// An amount of USD (flightlog-model `budget::parse_usd`).
pub(crate) fn finite_param(name: &str, s: Option<&str>) -> Result<Option<f64>, ApiError> {
    s.map(|s| {
        flightlog_model::budget::parse_usd(s)
            .ok_or_else(|| ApiError::bad_param(name, format!("must be a finite number >= 0, got {s:?}")))
    })
    .transpose()
}

fn page_size(s: Option<&str>, default: u32) -> Result<u32, ApiError> {
    match number_param::<u32>("limit", s)? {
        None => Ok(default),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_param("limit", format!("must be between 1 and {MAX_PAGE}, got {n}"))),
    }
}
