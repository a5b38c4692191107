//! Session summaries: the list (filtered, sorted, cursor-paged) and one
//! session's header.

use crate::clickhouse::{ClickHouse, Params, StoreError, rows, string_array_param};
use crate::Store;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use flightlog_model::anomaly::{Anomaly, REPEATED_ACTION_TIMES, RUNAWAY_STEPS, anomalies};

const SESSIONS_RANKED: &str = include_str!("queries/sessions_ranked.sql");
const SESSION_SUMMARIES_OF: &str = include_str!("queries/session_summaries_of.sql");
const REBUILD_SESSION_SUMMARIES: &str = include_str!("queries/rebuild_session_summaries.sql");
const SUMMARY_TOTALS_AGREE: &str = include_str!("queries/summary_totals_agree.sql");
const REPEATED_ACTIONS_OF: &str = include_str!("queries/repeated_actions_of.sql");
const ACTIONS_TOTALS_AGREE: &str = include_str!("queries/actions_totals_agree.sql");
const REBUILD_SESSION_ACTIONS: &str = include_str!("queries/rebuild_session_actions.sql");

#[derive(Clone, Debug, serde::Deserialize, serde::Serialize, PartialEq)]
pub struct SessionSummary {
    pub session_id: String,
    pub first_us: i64,
    pub last_us: i64,
    pub steps: u64,
    pub failed_steps: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
    pub estimated_cost: f64,
    pub agents: Vec<String>,
    pub models: Vec<String>,
    pub users: Vec<String>,
    pub tags: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SessionSort {
    #[default]
    Time,
    Cost,
    Steps,
}

impl SessionSort {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "time" => Some(Self::Time),
            "cost" => Some(Self::Cost),
            "steps" => Some(Self::Steps),
            _ => None,
        }
    }

    /// The output column sorted on, and the type of its cursor parameter.
    fn column(self) -> (&'static str, &'static str) {
        match self {
            Self::Time => ("first_us", "Int64"),
            Self::Cost => ("estimated_cost", "Float64"),
            Self::Steps => ("steps", "UInt64"),
        }
    }

    fn key_of(self, s: &Ranked) -> serde_json::Value {
        match self {
            Self::Time => s.first_us.into(),
            Self::Cost => s.estimated_cost.into(),
            Self::Steps => s.steps.into(),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct SessionFilter {
    /// Sessions active in [from_us, to_us).
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    pub agent: Option<String>,
    pub user: Option<String>,
    pub model: Option<String>,
    /// Some(true): sessions with a failed step; Some(false): without.
    pub failed: Option<bool>,
    pub min_cost: Option<f64>,
    pub min_steps: Option<u64>,
    /// Only sessions with an anomaly (flightlog-model `anomaly`).
    pub flagged: bool,
    pub sort: SessionSort,
    pub ascending: bool,
    /// Opaque, from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    pub limit: u32,
}

#[derive(Debug, serde::Serialize)]
pub struct SessionPage {
    pub sessions: Vec<SessionSummary>,
    pub next_cursor: Option<String>,
}

/// A session as the ranking query returns it: its sort keys.
#[derive(serde::Deserialize)]
struct Ranked {
    session_id: String,
    first_us: i64,
    steps: u64,
    estimated_cost: f64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Cursor {
    /// The sort key of the last session on the page.
    k: serde_json::Value,
    /// Its id, the tie-breaker.
    s: String,
}

impl Store {
    pub async fn list_sessions(&self, project: &str, f: &SessionFilter) -> Result<SessionPage, StoreError> {
        let (column, key_type) = f.sort.column();
        let dir = if f.ascending { "ASC" } else { "DESC" };
        let mut params: Params = vec![("project", project.to_string()), ("limit", f.limit.to_string())];
        let mut having = String::new();
        let mut add = |fragment: &str, name: &'static str, value: String| {
            having.push_str(" AND ");
            having.push_str(fragment);
            params.push((name, value));
        };
        if let Some(v) = f.from_us {
            add("last_us >= {from_us:Int64}", "from_us", v.to_string());
        }
        if let Some(v) = f.to_us {
            add("first_us < {to_us:Int64}", "to_us", v.to_string());
        }
        if let Some(v) = &f.agent {
            add("max(has(agents, {agent:String}))", "agent", v.clone());
        }
        if let Some(v) = &f.user {
            add("max(has(users, {user:String}))", "user", v.clone());
        }
        if let Some(v) = &f.model {
            add("max(has(models, {model:String}))", "model", v.clone());
        }
        if let Some(v) = f.min_cost {
            add("estimated_cost >= {min_cost:Float64}", "min_cost", v.to_string());
        }
        if let Some(v) = f.min_steps {
            add("steps >= {min_steps:UInt64}", "min_steps", v.to_string());
        }
        if f.flagged {
            // The same thresholds as flightlog-model anomaly, bound.
            add(
                "(steps >= {runaway_steps:UInt64} OR session_id IN (\
                   SELECT session_id FROM session_actions WHERE project = {project:String} \
                   GROUP BY session_id, tool_name, params_hash HAVING sum(times) >= {repeated_times:UInt64}))",
                "runaway_steps",
                RUNAWAY_STEPS.to_string(),
            );
            add("1", "repeated_times", REPEATED_ACTION_TIMES.to_string());
        }
        if let Some(cursor) = &f.cursor {
            let c = decode_cursor(cursor)?;
            let op = if f.ascending { ">" } else { "<" };
            let fragment = format!("({column}, session_id) {op} ({{cursor_key:{key_type}}}, {{cursor_session:String}})");
            add(&fragment, "cursor_key", c.k.to_string());
            params.push(("cursor_session", c.s));
        }
        match f.failed {
            Some(true) => having.push_str(" AND failed_steps > 0"),
            Some(false) => having.push_str(" AND failed_steps = 0"),
            None => {}
        }
        let sql = SESSIONS_RANKED
            .replace("{{having}}", &having)
            .replace("{{order}}", &format!("{column} {dir}, session_id {dir}"));
        let ranked: Vec<Ranked> = rows(&self.ch.query(&sql, params).await?)?;
        let ids: Vec<&str> = ranked.iter().map(|r| r.session_id.as_str()).collect();
        let mut full: std::collections::HashMap<String, SessionSummary> =
            self.summaries_of(project, &ids).await?.into_iter().map(|s| (s.session_id.clone(), s)).collect();
        let sessions: Vec<SessionSummary> = ranked.iter().filter_map(|r| full.remove(&r.session_id)).collect();
        // The cursor carries the ranking's own values, so the next page
        // continues exactly where this ranking stopped.
        let next_cursor = (ranked.len() as u32 == f.limit && f.limit > 0).then(|| {
            let last = ranked.last().expect("a full page is not empty");
            encode_cursor(&Cursor { k: f.sort.key_of(last), s: last.session_id.clone() })
        });
        Ok(SessionPage { sessions, next_cursor })
    }

    /// The anomalies of these sessions (absent: none).
    pub async fn anomalies_of(
        &self,
        project: &str,
        sessions: &[(&str, u64)],
    ) -> Result<std::collections::HashMap<String, Vec<Anomaly>>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            session_id: String,
            tool: String,
            times: u64,
        }
        if sessions.is_empty() {
            return Ok(Default::default());
        }
        let params: Params = vec![
            ("project", project.to_string()),
            ("sessions", string_array_param(sessions.iter().map(|(s, _)| *s))),
            ("min_times", REPEATED_ACTION_TIMES.to_string()),
        ];
        let repeated: std::collections::HashMap<String, (String, u64)> = rows::<Row>(&self.ch.query(REPEATED_ACTIONS_OF, params).await?)?
            .into_iter()
            .map(|r| (r.session_id, (r.tool, r.times)))
            .collect();
        Ok(sessions
            .iter()
            .map(|(id, steps)| {
                let top = repeated.get(*id).map(|(tool, times)| (tool.as_str(), *times));
                (id.to_string(), anomalies(*steps, top))
            })
            .filter(|(_, found)| !found.is_empty())
            .collect())
    }

    pub async fn session_summary(&self, project: &str, session_id: &str) -> Result<Option<SessionSummary>, StoreError> {
        Ok(self.summaries_of(project, &[session_id]).await?.into_iter().next())
    }

    async fn summaries_of(&self, project: &str, ids: &[&str]) -> Result<Vec<SessionSummary>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let params: Params = vec![("project", project.to_string()), ("sessions", string_array_param(ids))];
        rows(&self.ch.query(SESSION_SUMMARIES_OF, params).await?)
    }
}

fn encode_cursor(c: &Cursor) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(c).expect("cursor serialises"))
}

/// The one client-supplied error this module raises: a cursor that was not
/// produced by `list_sessions`.
pub const BAD_CURSOR: &str = "cursor is not one returned by this endpoint";

fn decode_cursor(s: &str) -> Result<Cursor, StoreError> {
    let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| StoreError::Invalid(BAD_CURSOR.into()))?;
    let c: Cursor = serde_json::from_slice(&bytes).map_err(|_| StoreError::Invalid(BAD_CURSOR.into()))?;
    if !c.k.is_number() {
        return Err(StoreError::Invalid(BAD_CURSOR.into()));
    }
    Ok(c)
}

/// Rebuilds session_summaries when its totals disagree with steps.
pub(crate) async fn repair_summaries_if_needed(ch: &dyn ClickHouse) -> Result<(), StoreError> {
    #[derive(serde::Deserialize)]
    struct Totals {
        steps: u64,
        summarised: u64,
    }
    let totals: Vec<Totals> = rows(&ch.query(SUMMARY_TOTALS_AGREE, vec![]).await?)?;
    let Some(t) = totals.first() else { return Ok(()) };
    if t.steps != t.summarised {
        tracing::warn!(steps = t.steps, summarised = t.summarised, "session summaries disagree with steps; rebuilding");
        ch.query("TRUNCATE TABLE session_summaries", vec![]).await?;
        ch.query(REBUILD_SESSION_SUMMARIES, vec![]).await?;
    }
    #[derive(serde::Deserialize)]
    struct Actions {
        tool_runs: u64,
        counted: u64,
    }
    let totals: Vec<Actions> = rows(&ch.query(ACTIONS_TOTALS_AGREE, vec![]).await?)?;
    if let Some(t) = totals.first().filter(|t| t.tool_runs != t.counted) {
        tracing::warn!(tool_runs = t.tool_runs, counted = t.counted, "action counts disagree with steps; rebuilding");
        ch.query("TRUNCATE TABLE session_actions", vec![]).await?;
        ch.query(REBUILD_SESSION_ACTIONS, vec![]).await?;
    }
    Ok(())
}
