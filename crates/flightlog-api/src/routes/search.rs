//! `GET /v1/search/similar`: key decisions like a given step, or like a
//! free text, nearest first.

use crate::AppState;
use crate::auth::Scope;
use crate::error::ApiError;
use crate::routes::sessions::{number_param, time_param};
use axum::Json;
use crate::extract::Query;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use flightlog_index::search::{MAX_LIMIT, MAX_QUERY_CHARS};
use flightlog_index::{Hit, SearchError, SearchFilter, SearchOutcome, SearchRequest};
use flightlog_model::time::format_timestamp;
use serde::{Deserialize, Serialize};

/// Identifier-like filters are at most this long (as step identifiers are).
const MAX_FILTER_BYTES: usize = 256;
const DEFAULT_LIMIT: usize = 10;

/// The query string, shared with the web UI's search page.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct SimilarParams {
    pub session_id: Option<String>,
    pub step: Option<String>,
    pub q: Option<String>,
    /// true: failures only; false: every key decision; absent: failures
    /// only when searching from a failed step.
    pub failures: Option<String>,
    pub agent: Option<String>,
    pub tool: Option<String>,
    pub model: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// true: leave out the session searched from.
    pub exclude_session: Option<String>,
    pub limit: Option<String>,
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn bool_param(name: &str, v: &Option<String>) -> Result<Option<bool>, ApiError> {
    match non_empty(v) {
        None | Some("any") => Ok(None),
        Some("true" | "1" | "yes" | "on") => Ok(Some(true)),
        Some("false" | "0" | "no" | "off") => Ok(Some(false)),
        Some(other) => Err(ApiError::bad_param(name, format!("must be true or false, got {other:?}"))),
    }
}

fn filter_param(name: &str, v: &Option<String>) -> Result<Option<String>, ApiError> {
    match non_empty(v) {
        Some(s) if s.len() > MAX_FILTER_BYTES => {
            Err(ApiError::bad_param(name, format!("is {} bytes; the limit is {MAX_FILTER_BYTES}", s.len())))
        }
        other => Ok(other.map(str::to_string)),
    }
}

/// Checks the parameters and turns them into a search of `project`.
pub fn similar_request(project: &str, p: &SimilarParams) -> Result<SearchRequest, ApiError> {
    use flightlog_index::Query as Q;
    let query = match (non_empty(&p.session_id), non_empty(&p.step), non_empty(&p.q)) {
        (Some(session_id), Some(step), None) => {
            let step = number_param::<u64>("step", Some(step))?.expect("present");
            filter_param("session_id", &p.session_id)?;
            Q::Step { session_id: session_id.to_string(), step }
        }
        (None, None, Some(q)) => {
            let chars = q.chars().count();
            if chars > MAX_QUERY_CHARS {
                return Err(ApiError::bad_param("q", format!("is {chars} characters; the limit is {MAX_QUERY_CHARS}")));
            }
            Q::Text(q.to_string())
        }
        (Some(_), None, None) => return Err(ApiError::bad_param("step", "is needed with session_id")),
        (None, Some(_), None) => return Err(ApiError::bad_param("session_id", "is needed with step")),
        (None, None, None) => {
            return Err(ApiError::bad_param("q", "give either q (free text) or session_id and step (a decision)"));
        }
        _ => return Err(ApiError::bad_param("q", "give either q or session_id and step, not both")),
    };
    let exclude_session = bool_param("exclude_session", &p.exclude_session)?.unwrap_or(false);
    let exclude_session = match (&query, exclude_session) {
        (Q::Step { session_id, .. }, true) => Some(session_id.clone()),
        (Q::Text(_), true) => return Err(ApiError::bad_param("exclude_session", "applies to a search from a step")),
        _ => None,
    };
    let limit = match number_param::<usize>("limit", non_empty(&p.limit))? {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(n) => return Err(ApiError::bad_param("limit", format!("must be between 1 and {MAX_LIMIT}, got {n}"))),
    };
    Ok(SearchRequest {
        query,
        failed_only: bool_param("failures", &p.failures)?,
        filter: SearchFilter {
            project: project.to_string(),
            failed_only: false,
            agent: filter_param("agent", &p.agent)?,
            tool: filter_param("tool", &p.tool)?,
            model: filter_param("model", &p.model)?,
            from_us: non_empty(&p.from).map(|s| time_param("from", s)).transpose()?,
            to_us: non_empty(&p.to).map(|s| time_param("to", s)).transpose()?,
            exclude_session,
            exclude_ids: Vec::new(),
        },
        limit,
    })
}

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::Unavailable(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "search_unavailable", e.to_string()),
            SearchError::StepNotFound { .. } => ApiError::not_found(e.to_string()),
            SearchError::NothingToCompare { .. } => ApiError::bad_param("step", e.to_string()),
            SearchError::Store(s) => s.into(),
            other => ApiError::unavailable("similar-failure search failed", other),
        }
    }
}

/// One result as the API shows it.
#[derive(Debug, Serialize)]
pub struct HitView {
    pub score: f32,
    pub session_id: String,
    pub step: u64,
    pub timestamp: String,
    pub agent: String,
    pub tool: String,
    pub status: String,
    pub model: String,
    pub failed: bool,
    pub snippet: String,
    /// The step's decision page in the web UI.
    pub url: String,
}

impl From<Hit> for HitView {
    fn from(h: Hit) -> Self {
        let p = h.payload;
        Self {
            score: h.score,
            url: format!("/sessions/{}/steps/{}", encode_segment(&p.session_id), p.step),
            timestamp: format_timestamp(p.ts_us),
            session_id: p.session_id,
            step: p.step,
            agent: p.agent,
            tool: p.tool,
            status: p.status,
            model: p.model,
            failed: p.failed,
            snippet: p.snippet,
        }
    }
}

/// Percent-encodes a path segment (session ids are free text): all but
/// the unreserved characters, `/` included, so the id `a/steps/0` stays one
/// segment instead of turning into step 0 of session `a`.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Serialize)]
pub struct SimilarResponse {
    failures_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: Option<Origin>,
    results: Vec<HitView>,
}

#[derive(Serialize)]
struct Origin {
    session_id: String,
    step: u64,
    failed: bool,
    text: String,
}

impl From<SearchOutcome> for SimilarResponse {
    fn from(o: SearchOutcome) -> Self {
        Self {
            failures_only: o.failed_only,
            origin: o.origin.map(|r| Origin { text: r.decision().text(), session_id: r.session_id, step: r.step, failed: r.failed }),
            results: o.hits.into_iter().map(HitView::from).collect(),
        }
    }
}

pub async fn similar(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<SimilarParams>,
) -> Result<Json<SimilarResponse>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    let req = similar_request(&principal.project, &p)?;
    let outcome = state.search.similar(&state.store, req).await?;
    Ok(Json(outcome.into()))
}
