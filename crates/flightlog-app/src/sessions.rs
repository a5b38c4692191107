//! Sessions: the filtered list with each session's cost, budget verdict and
//! anomalies; one summary; the timeline of steps.

use crate::access_log::Access;
use crate::{AppError, AppState, params};
use flightlog_model::anomaly::Anomaly;
use flightlog_model::time::END_OF_TIME_US;
use flightlog_store::{CostDimension, CostQuery, SessionFilter, SessionSort, SessionSummary, StoredStep, TimelineRows};
use std::collections::HashMap;

/// The most sessions or steps one page holds.
pub const MAX_PAGE: u32 = 1000;

/// The list's filters, sort and page as received (query string or form).
#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionListParams {
    /// Sessions active at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Sessions active before this time (RFC 3339).
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// Sessions with a step of this agent.
    pub agent: Option<String>,
    /// Sessions with a step of this user.
    pub user: Option<String>,
    /// Sessions with a step of this model.
    pub model: Option<String>,
    /// failed, ok or any.
    #[param(schema_with = crate::param_schemas::session_status)]
    pub status: Option<String>,
    /// Sessions whose estimated cost is at least this many USD.
    #[param(value_type = Option<f64>, minimum = 0)]
    pub min_cost: Option<String>,
    /// Sessions with at least this many steps.
    #[param(value_type = Option<u64>)]
    pub min_steps: Option<String>,
    /// true: only sessions with an anomaly.
    #[param(schema_with = crate::param_schemas::true_or_false)]
    pub flagged: Option<String>,
    /// time, cost or steps.
    #[param(schema_with = crate::param_schemas::session_sort)]
    pub sort: Option<String>,
    /// asc or desc.
    #[param(schema_with = crate::param_schemas::order)]
    pub order: Option<String>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
    /// Sessions per page (default 50).
    #[param(schema_with = crate::param_schemas::page_size)]
    pub limit: Option<String>,
}

impl SessionListParams {
    /// The one reading of the list's parameters, for every front end.
    pub fn filter(&self) -> Result<SessionFilter, AppError> {
        let (from_us, to_us) = params::time_range(self.from.as_deref(), self.to.as_deref())?;
        Ok(SessionFilter {
            from_us,
            to_us,
            agent: self.agent.clone(),
            user: self.user.clone(),
            model: self.model.clone(),
            failed: match self.status.as_deref() {
                None | Some("") | Some("any") => None,
                Some(s) => match SessionStatus::parse(s) {
                    Some(status) => Some(status == SessionStatus::Failed),
                    None => return Err(AppError::invalid("status", format!("must be failed, ok or any, got {s:?}"))),
                },
            },
            min_cost: params::usd("min_cost", self.min_cost.as_deref())?,
            min_steps: params::number("min_steps", self.min_steps.as_deref())?,
            flagged: match self.flagged.as_deref() {
                None | Some("") | Some("false") => false,
                Some("true") => true,
                Some(other) => return Err(AppError::invalid("flagged", format!("must be true or false, got {other:?}"))),
            },
            sort: match self.sort.as_deref() {
                None => SessionSort::default(),
                Some(s) => SessionSort::parse(s)
                    .ok_or_else(|| AppError::invalid("sort", format!("must be time, cost or steps, got {s:?}")))?,
            },
            ascending: match self.order.as_deref() {
                None | Some("desc") => false,
                Some("asc") => true,
                Some(other) => return Err(AppError::invalid("order", format!("must be asc or desc, got {other:?}"))),
            },
            cursor: self.cursor.clone(),
            limit: params::page_size(self.limit.as_deref(), 50, MAX_PAGE)?,
        })
    }
}

/// A session failed when any of its steps did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    Ok,
    Failed,
}

impl SessionStatus {
    pub fn of(summary: &SessionSummary) -> Self {
        if summary.failed_steps > 0 { Self::Failed } else { Self::Ok }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ok" => Some(Self::Ok),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// What a page of the session list shows beside each summary.
#[derive(Debug, Clone, Default)]
pub struct SessionFlags {
    /// Computed from tokens and prices now (the estimate is the client's).
    pub cost: SessionCost,
    /// None when no budget applies.
    pub over_budget: Option<bool>,
    pub anomalies: Vec<Anomaly>,
}

/// A session's cost computed now from its tokens and the prices.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SessionCost {
    /// What its priced steps cost.
    pub usd: f64,
    /// Steps with tokens whose model has no price: `usd` leaves them out,
    /// so it is a lower bound (never a zero that looks exact).
    pub unpriced_steps: u64,
}

/// One page of the session list.
pub struct SessionListing {
    pub sessions: Vec<SessionSummary>,
    /// The flags by session id; an error when they could not be computed
    /// (the API fails, a page can still show the summaries).
    pub flags: Result<HashMap<String, SessionFlags>, AppError>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One page of a session as the timeline page shows it.
pub struct SessionPage {
    pub summary: SessionSummary,
    pub timeline: TimelinePage,
    /// The first failed step, to jump to.
    pub first_failure: Option<u64>,
}

/// One page of a session's timeline.
pub struct TimelinePage {
    pub steps: Vec<StoredStep>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<u64>,
}

impl TimelinePage {
    /// A page of at most `limit` steps: a full one may have more after it.
    pub(crate) fn of(steps: Vec<StoredStep>, limit: u32) -> Self {
        let next_after = (steps.len() as u32 == limit).then(|| steps.last().map(|r| r.step)).flatten();
        Self { steps, next_after }
    }
}

/// A session summary as every front end shows it (the API's list and
/// summary, MCP's find_sessions): timestamps in RFC 3339, with its flags.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SessionView {
    session_id: String,
    first_timestamp: String,
    last_timestamp: String,
    steps: u64,
    failed_steps: u64,
    status: SessionStatus,
    input_tokens: u64,
    output_tokens: u64,
    cache_read_tokens: u64,
    cache_write_tokens: u64,
    reasoning_tokens: u64,
    estimated_cost: f64,
    /// Computed from tokens and prices now (the estimate is the client's).
    #[serde(skip_serializing_if = "Option::is_none")]
    cost: Option<f64>,
    /// Steps with tokens whose model has no price, which `cost` leaves out
    /// (so it is a lower bound); absent when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    unpriced_steps: Option<u64>,
    /// Whether the computed cost exceeds the budget that applies (with
    /// unpriced steps, whether what is priced already does); absent when no
    /// budget applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    over_budget: Option<bool>,
    /// Repeated side effects and runaway sessions (flightlog-model anomaly).
    anomalies: Vec<flightlog_model::anomaly::Anomaly>,
    agents: Vec<String>,
    models: Vec<String>,
    users: Vec<String>,
    tags: Vec<String>,
}

impl SessionView {
    /// A summary with its flags (computed cost, budget, anomalies).
    pub fn flagged(s: SessionSummary, f: SessionFlags) -> Self {
        Self {
            first_timestamp: flightlog_model::time::format_timestamp(s.first_us),
            last_timestamp: flightlog_model::time::format_timestamp(s.last_us),
            status: SessionStatus::of(&s),
            session_id: s.session_id,
            steps: s.steps,
            failed_steps: s.failed_steps,
            input_tokens: s.input_tokens,
            output_tokens: s.output_tokens,
            cache_read_tokens: s.cache_read_tokens,
            cache_write_tokens: s.cache_write_tokens,
            reasoning_tokens: s.reasoning_tokens,
            estimated_cost: s.estimated_cost,
            cost: Some(f.cost.usd),
            unpriced_steps: Some(f.cost.unpriced_steps).filter(|n| *n > 0),
            over_budget: f.over_budget,
            anomalies: f.anomalies,
            agents: s.agents,
            models: s.models,
            users: s.users,
            tags: s.tags,
        }
    }
}

impl SessionListing {
    /// The page's sessions as the front ends show them; an error when their
    /// flags could not be computed (a list without them would read as
    /// sessions that cost nothing and have no anomalies).
    pub fn views(self) -> Result<Vec<SessionView>, AppError> {
        let mut flags = self.flags?;
        Ok(self.sessions.into_iter().map(|s| {
            let f = flags.remove(&s.session_id).unwrap_or_default();
            SessionView::flagged(s, f)
        }).collect())
    }
}

impl AppState {
    /// Whether a page of a session's steps was of a session at all: an
    /// empty page is, past a session's last step; with no session of that
    /// id it is a 404 whether `after` was given or not (it was a 200 with
    /// no steps when it was).
    pub(crate) async fn found(&self, project: &str, empty: bool, after: Option<u64>, id: &str) -> Result<(), AppError> {
        match (empty, after) {
            (false, _) => Ok(()),
            (true, None) => Err(AppError::no_session(id)),
            (true, Some(_)) => match self.store.session_summary(project, id).await? {
                Some(_) => Ok(()),
                None => Err(AppError::no_session(id)),
            },
        }
    }

    /// How every session the filter passes (all its pages) spreads by
    /// length and by estimated cost.
    pub async fn session_spread(&self, project: &str, filter: &SessionFilter) -> Result<flightlog_store::sessions::SessionSpread, AppError> {
        Ok(self.store.session_spread(project, filter).await?)
    }

    /// Each session's steps over its own life (the list's sparklines).
    pub async fn sparklines(&self, project: &str, sessions: &[&str]) -> Result<HashMap<String, Vec<u64>>, AppError> {
        Ok(self.store.sparklines(project, sessions).await?)
    }

    pub async fn list_sessions(&self, project: &str, filter: &SessionFilter) -> Result<SessionListing, AppError> {
        let page = self.store.list_sessions(project, filter).await?;
        let flags = self.session_flags(project, &page.sessions).await;
        Ok(SessionListing { sessions: page.sessions, flags, next_cursor: page.next_cursor })
    }

    /// One session's summary and anomalies.
    pub async fn session(&self, project: &str, id: &str) -> Result<(SessionSummary, SessionFlags), AppError> {
        crate::params::session_id(id)?;
        let ids = [id];
        // The reads run at once, but an unknown session is a 404 whatever
        // happened to the others.
        let (summary, facts, costs) = tokio::join!(
            self.store.session_summary(project, id),
            self.store.anomaly_facts_of(project, &ids),
            self.costs_of_sessions(project, &ids)
        );
        let summary = summary?.ok_or_else(|| AppError::no_session(id))?;
        let anomalies = facts?.take(id, summary.steps);
        let cost = costs?.get(id).copied().unwrap_or_default();
        let over_budget = self.over_budget(&summary.agents, cost.usd);
        Ok((summary, SessionFlags { cost, over_budget, anomalies }))
    }

    /// Steps after `after` (all when None), in step order.
    pub async fn timeline(&self, project: &str, id: &str, after: Option<u64>, limit: u32) -> Result<TimelinePage, AppError> {
        crate::params::session_id(id)?;
        let steps = self.store.session_timeline(project, id, after, limit).await?;
        self.found(project, steps.is_empty(), after, id).await?;
        Ok(TimelinePage::of(steps, limit))
    }

    /// [`AppState::timeline`] for a front end that shows it: `read` is
    /// recorded in the access log, naming the session, the page's steps and
    /// their users, while the content stored by reference is put back, and
    /// the page comes back only once both are done. (The record is an
    /// fsynced insert: written after the whole read, it was a third of a
    /// conversation page's time.)
    pub async fn timeline_recorded(
        &self,
        read: Access,
        project: &str,
        id: &str,
        after: Option<u64>,
        limit: u32,
    ) -> Result<TimelinePage, AppError> {
        crate::params::session_id(id)?;
        let rows = self.store.session_timeline_rows(project, id, after, limit).await?;
        self.found(project, rows.is_empty(), after, id).await?;
        self.recorded_while_put_back(read, project, id, rows, limit).await
    }

    /// The page of `rows`, its content stored by reference put back while
    /// `read` is recorded with the page's steps and users.
    async fn recorded_while_put_back(&self, read: Access, project: &str, id: &str, rows: TimelineRows, limit: u32) -> Result<TimelinePage, AppError> {
        let read = read.session(id).returned(rows.users());
        let put_back = async { Ok::<_, AppError>(self.store.put_back_timeline(project, id, rows).await?) };
        let ((), steps) = tokio::try_join!(self.record_read(read), put_back)?;
        Ok(TimelinePage::of(steps, limit))
    }

    /// A session's summary, one page of its steps and its first failure,
    /// for a front end that shows them: `read` is recorded as by
    /// [`AppState::timeline_recorded`].
    pub async fn session_page(&self, read: Access, project: &str, id: &str, after: Option<u64>, limit: u32) -> Result<SessionPage, AppError> {
        crate::params::session_id(id)?;
        let (summary, rows, first_failure) = tokio::try_join!(
            self.store.session_summary(project, id),
            self.store.session_timeline_rows(project, id, after, limit),
            self.store.first_failed_step(project, id),
        )?;
        let summary = summary.ok_or_else(|| AppError::no_session(id))?;
        let timeline = self.recorded_while_put_back(read, project, id, rows, limit).await?;
        Ok(SessionPage { summary, timeline, first_failure })
    }

    /// The computed cost of each of these sessions, and whether it is over
    /// its budget (None when no budget applies). One cost query per page.
    pub async fn session_costs(
        &self,
        project: &str,
        sessions: &[(String, Vec<String>)],
    ) -> Result<HashMap<String, (SessionCost, Option<bool>)>, AppError> {
        let ids: Vec<&str> = sessions.iter().map(|(id, _)| id.as_str()).collect();
        let costs = self.costs_of_sessions(project, &ids).await?;
        Ok(sessions
            .iter()
            .map(|(id, agents)| {
                let cost = costs.get(id).copied().unwrap_or_default();
                (id.clone(), (cost, self.over_budget(agents, cost.usd)))
            })
            .collect())
    }

    /// These sessions' costs over all time, computed now from their tokens
    /// and prices (absent: nothing priced or unpriced).
    pub async fn costs_of_sessions(&self, project: &str, ids: &[&str]) -> Result<HashMap<String, SessionCost>, AppError> {
        if ids.is_empty() {
            // No sessions named would mean every session to the query.
            return Ok(Default::default());
        }
        let q = CostQuery {
            group_by: vec![CostDimension::Session],
            to_us: END_OF_TIME_US,
            sessions: ids.iter().map(|id| id.to_string()).collect(),
            limit: ids.len() as u32,
            ..Default::default()
        };
        Ok(self
            .store
            .costs(project, &q)
            .await?
            .into_iter()
            .filter_map(|r| {
                let cost = SessionCost { usd: r.cost.as_f64(), unpriced_steps: r.unpriced_steps };
                Some((r.value_of(CostDimension::Session)?.to_string(), cost))
            })
            .collect())
    }

    /// Whether a session of these agents that cost `cost` is over the
    /// budget that applies to it; None when none applies.
    pub fn over_budget(&self, agents: &[String], cost: f64) -> Option<bool> {
        self.budgets.limit_for(agents.iter().map(String::as_str)).map(|limit| cost > limit)
    }

    /// Each session's computed cost, budget verdict and anomalies; the cost
    /// query and the anomaly query run side by side.
    pub async fn session_flags(
        &self,
        project: &str,
        sessions: &[SessionSummary],
    ) -> Result<HashMap<String, SessionFlags>, AppError> {
        let ids: Vec<(String, Vec<String>)> = sessions.iter().map(|s| (s.session_id.clone(), s.agents.clone())).collect();
        let steps: Vec<(&str, u64)> = sessions.iter().map(|s| (s.session_id.as_str(), s.steps)).collect();
        let anomalies = async { self.store.anomalies_of(project, &steps).await.map_err(AppError::from) };
        let (costs, mut anomalies) = tokio::try_join!(self.session_costs(project, &ids), anomalies)?;
        Ok(costs
            .into_iter()
            .map(|(id, (cost, over_budget))| {
                let anomalies = anomalies.remove(&id).unwrap_or_default();
                (id, SessionFlags { cost, over_budget, anomalies })
            })
            .collect())
    }
}
