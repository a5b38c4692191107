//! Similar-failure search: key decisions like a given step, or like a free
//! text, nearest first.

use crate::{AppError, AppState, params};
use flightlog_index::search::{MAX_LIMIT, MAX_QUERY_CHARS};
use flightlog_index::{Hit, SearchFilter, SearchOutcome, SearchRequest};
use flightlog_model::time::format_timestamp;

const DEFAULT_LIMIT: usize = 10;

/// A search as received (the API's query string, the search page's form).
#[derive(Debug, Default, Clone, serde::Deserialize, serde::Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SimilarParams {
    /// With `step`: search from this session's decision.
    pub session_id: Option<String>,
    /// With `session_id`: the decision's step number.
    #[param(value_type = Option<u64>)]
    pub step: Option<String>,
    /// Free text to search for (instead of a decision).
    pub q: Option<String>,
    /// true: failures only; false: every key decision; absent: failures
    /// only when searching from a failed step.
    #[param(schema_with = crate::param_schemas::flag)]
    pub failures: Option<String>,
    pub agent: Option<String>,
    pub tool: Option<String>,
    pub model: Option<String>,
    /// Decisions at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Decisions before this time (RFC 3339).
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// true: leave out the session searched from.
    #[param(schema_with = crate::param_schemas::flag)]
    pub exclude_session: Option<String>,
    /// Results at most (default 10).
    #[param(schema_with = crate::param_schemas::similar_results)]
    pub limit: Option<String>,
}

/// A filter's value as given (an id may start or end with a space), when
/// given: the ids' one rule (`params::filter_id`).
fn filter_param(name: &str, what: &str, v: &Option<String>) -> Result<Option<String>, AppError> {
    Ok(Some(params::filter_id(name, what, v)?).filter(|s| !s.is_empty()))
}

impl SimilarParams {
    /// Whether anything was asked (a text or a step).
    pub fn asks(&self) -> bool {
        params::non_empty(&self.q).is_some() || self.session_id.as_deref().is_some_and(|s| !s.is_empty())
    }

    /// Checks the parameters and turns them into a search of `project`.
    pub fn request(&self, project: &str) -> Result<SearchRequest, AppError> {
        self.request_as(project, "q")
    }

    /// [`request`](Self::request) for a front end whose free-text argument
    /// has another name (MCP's `text`): refusals name it as it was sent.
    pub fn request_as(&self, project: &str, text: &str) -> Result<SearchRequest, AppError> {
        use flightlog_index::Query as Q;
        let p = self;
        // The session id as given (an id may start or end with a space).
        let session_id = p.session_id.as_deref().filter(|s| !s.is_empty());
        let query = match (session_id, params::non_empty(&p.step), params::non_empty(&p.q)) {
            (Some(session_id), Some(step), None) => {
                let step = params::number::<u64>("step", Some(step))?.expect("present");
                filter_param("session_id", "session's id", &p.session_id)?;
                Q::Step { session_id: session_id.to_string(), step }
            }
            (None, None, Some(q)) => {
                let chars = q.chars().count();
                if chars > MAX_QUERY_CHARS {
                    return Err(AppError::invalid(text, format!("is {chars} characters; the limit is {MAX_QUERY_CHARS}")));
                }
                Q::Text(q.to_string())
            }
            (Some(_), None, None) => return Err(AppError::invalid("step", "is needed with session_id")),
            (None, Some(_), None) => return Err(AppError::invalid("session_id", "is needed with step")),
            (None, None, None) => {
                return Err(AppError::invalid(text, format!("give either {text} (free text) or session_id and step (a decision)")));
            }
            _ => return Err(AppError::invalid(text, format!("give either {text} or session_id and step, not both"))),
        };
        let exclude_session = params::flag("exclude_session", &p.exclude_session)?.unwrap_or(false);
        let exclude_session = match (&query, exclude_session) {
            (Q::Step { session_id, .. }, true) => Some(session_id.clone()),
            (Q::Text(_), true) => return Err(AppError::invalid("exclude_session", "applies to a search from a step")),
            _ => None,
        };
        let limit = match params::number::<usize>("limit", params::non_empty(&p.limit))? {
            None => DEFAULT_LIMIT,
            Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
            Some(n) => return Err(AppError::invalid("limit", format!("must be between 1 and {MAX_LIMIT}, got {n}"))),
        };
        let (from_us, to_us) = params::time_range(params::non_empty(&p.from), params::non_empty(&p.to))?;
        Ok(SearchRequest {
            query,
            failed_only: params::flag("failures", &p.failures)?,
            filter: SearchFilter {
                project: project.to_string(),
                failed_only: false,
                agent: filter_param("agent", "agent's name", &p.agent)?,
                tool: filter_param("tool", "tool's name", &p.tool)?,
                model: filter_param("model", "model's name", &p.model)?,
                from_us,
                to_us,
                exclude_session,
                exclude_ids: Vec::new(),
            },
            limit,
        })
    }
}

/// One result.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SimilarHit {
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
}

impl From<Hit> for SimilarHit {
    fn from(h: Hit) -> Self {
        let p = h.payload;
        Self {
            score: h.score,
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

/// The decision searched from.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SearchOrigin {
    pub session_id: String,
    pub step: u64,
    pub failed: bool,
    /// The text that was embedded for it.
    pub text: String,
}

/// What a search found.
pub struct Similar {
    pub failures_only: bool,
    pub origin: Option<SearchOrigin>,
    pub hits: Vec<SimilarHit>,
    /// The users of the decision searched from and of the hits, for the
    /// record of the read (the index's points carry none).
    pub users: Vec<String>,
}

impl From<SearchOutcome> for Similar {
    fn from(o: SearchOutcome) -> Self {
        Self {
            failures_only: o.failed_only,
            origin: o.origin.map(|r| SearchOrigin { text: r.decision().text(), session_id: r.session_id, step: r.step, failed: r.failed }),
            hits: o.hits.into_iter().map(SimilarHit::from).collect(),
            users: Vec::new(),
        }
    }
}

impl AppState {
    pub async fn similar(&self, request: SearchRequest) -> Result<Similar, AppError> {
        let project = request.filter.project.clone();
        let mut found: Similar = self.search.similar(&self.store, request).await?.into();
        // Named when read: whose data a search returned is asked of the
        // access log later, when the sessions may be gone.
        let origin = found.origin.iter().map(|o| (o.session_id.as_str(), o.step));
        let steps: Vec<(&str, u64)> = origin.chain(found.hits.iter().map(|h| (h.session_id.as_str(), h.step))).collect();
        found.users = self.store.users_of_steps(&project, &steps).await?;
        Ok(found)
    }
}
