//! Costs: the price list, and cost aggregated by any dimension at query
//! time (see queries/cost_by.sql for the token accounting).

use crate::backend::{Backend, Params, StoreError, rows};
use crate::rowbinary::RowBinary;
use crate::Store;

const PRICE_LIST: &str = include_str!("../../../schema/prices.csv");
const COST_BY: &str = include_str!("queries/cost_by.sql");
const INSERT_PRICES: &str = "INSERT INTO prices (provider, model_key, effective_from, input, output, cache_read, \
    cache_write, reasoning, tier_threshold, tier_input, tier_output, tier_cache_read, source)";

/// A dimension costs can be grouped by, and the SQL that computes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CostDimension {
    Session,
    Model,
    Provider,
    Agent,
    User,
    Tool,
    Day,
    Week,
    Month,
}

impl CostDimension {
    pub const NAMES: [&'static str; 9] = ["session", "model", "provider", "agent", "user", "tool", "day", "week", "month"];

    pub fn parse(s: &str) -> Option<Self> {
        use CostDimension::*;
        Some(match s {
            "session" => Session,
            "model" => Model,
            "provider" => Provider,
            "agent" => Agent,
            "user" => User,
            "tool" => Tool,
            "day" => Day,
            "week" => Week,
            "month" => Month,
            _ => return None,
        })
    }

    fn sql(self) -> &'static str {
        use CostDimension::*;
        match self {
            Session => "session_id AS session",
            Model => "toString(model_key) AS model",
            Provider => "toString(model_provider) AS provider",
            Agent => "toString(agent_name) AS agent",
            User => "user_id AS user",
            Tool => "toString(tool_name) AS tool",
            Day => "toString(toDate(ts)) AS day",
            Week => "toString(toMonday(ts)) AS week",
            Month => "toString(toStartOfMonth(ts)) AS month",
        }
    }

    pub fn name(self) -> &'static str {
        let sql = self.sql();
        &sql[sql.rfind(' ').map_or(0, |i| i + 1)..]
    }
}

#[derive(Clone, Debug, Default)]
pub struct CostQuery {
    pub group_by: Vec<CostDimension>,
    pub from_us: i64,
    pub to_us: i64,
    pub agent: Option<String>,
    pub user: Option<String>,
    /// Any spelling of a model name; compared by its model key.
    pub model: Option<String>,
    /// Steps carrying any of these tags.
    pub tags: Vec<String>,
    /// Only these sessions (empty: all).
    pub sessions: Vec<String>,
    pub limit: u32,
}

impl Store {
    /// Sessions (in the query's range and filters) with no failed step, and
    /// what they cost in all: finance's "cost per successful session".
    pub async fn successful_session_cost(&self, project: &str, q: &CostQuery) -> Result<(u64, f64), StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            sessions: u64,
            /// NULL when no session matches: the sum of nothing.
            cost: Option<f64>,
        }
        let per_session = CostQuery { group_by: vec![CostDimension::Session], limit: u32::MAX, ..q.clone() };
        let (inner, params) = self.cost_sql(project, &per_session);
        let sql = format!("SELECT count() AS sessions, round(sum(cost), 9) AS cost FROM ({inner}) WHERE failed_steps = 0");
        let found: Vec<Row> = rows(&self.ch.query(&sql, params).await?)?;
        Ok(found.first().map_or((0, 0.0), |r| (r.sessions, r.cost.unwrap_or(0.0))))
    }

    /// Cost rows: the group's dimension values by name, then steps,
    /// sessions, token totals by kind, cost, reported_cost, unpriced_steps.
    pub async fn costs(&self, project: &str, q: &CostQuery) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, StoreError> {
        let (sql, params) = self.cost_sql(project, q);
        rows(&self.ch.query(&sql, params).await?)
    }

    fn cost_sql(&self, project: &str, q: &CostQuery) -> (String, Params) {
        let (groups, names) = if q.group_by.is_empty() {
            ("'all' AS scope".to_string(), "scope".to_string())
        } else {
            (
                q.group_by.iter().map(|d| d.sql()).collect::<Vec<_>>().join(", "),
                q.group_by.iter().map(|d| d.name()).collect::<Vec<_>>().join(", "),
            )
        };
        let mut params = Params::new()
            .text("project", project)
            .number("from_us", q.from_us)
            .number("to_us", q.to_us)
            .number("limit", q.limit);
        let mut filters = String::new();
        if let Some(v) = &q.agent {
            filters.push_str(" AND agent_name = {agent:String}");
            params.push_text("agent", v);
        }
        if let Some(v) = &q.user {
            filters.push_str(" AND user_id = {user:String}");
            params.push_text("user", v);
        }
        if let Some(v) = &q.model {
            filters.push_str(" AND model_key = {model:String}");
            params.push_text("model", &flightlog_model::pricing::model_key(v));
        }
        if !q.sessions.is_empty() {
            filters.push_str(" AND session_id IN {sessions:Array(String)}");
            params.push_texts("sessions", &q.sessions);
        }
        if !q.tags.is_empty() {
            filters.push_str(" AND hasAny(tags, {tags:Array(String)})");
            params.push_texts("tags", &q.tags);
        }
        let sql = COST_BY.replace("{{groups}}", &groups).replace("{{group_names}}", &names).replace("{{filters}}", &filters);
        (sql, params)
    }
}

/// One price row (list or override), per 1M tokens.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Price {
    pub model_key: String,
    /// RFC 3339.
    pub effective_from: String,
    pub input: f64,
    pub output: f64,
    #[serde(default)]
    pub cache_read: f64,
    #[serde(default)]
    pub cache_write: f64,
    #[serde(default)]
    pub reasoning: Option<f64>,
    #[serde(default)]
    pub tier_threshold: u64,
    #[serde(default)]
    pub tier_input: Option<f64>,
    #[serde(default)]
    pub tier_output: Option<f64>,
    #[serde(default)]
    pub tier_cache_read: Option<f64>,
    /// The list's source, or the override's note.
    #[serde(default)]
    pub source: String,
}

const PRICE_COLUMNS: &str = "model_key, toString(effective_from) AS effective_from, input, output, cache_read, cache_write, \
    reasoning, tier_threshold, tier_input, tier_output, tier_cache_read";

impl Store {
    /// The shipped list and the project's overrides, each by model and date.
    pub async fn prices(&self, project: &str) -> Result<(Vec<Price>, Vec<Price>), StoreError> {
        let list = format!("SELECT {PRICE_COLUMNS}, source FROM prices ORDER BY model_key, effective_from");
        let overrides = format!(
            "SELECT {PRICE_COLUMNS}, note AS source FROM price_overrides WHERE project = {{project:String}} ORDER BY model_key, effective_from"
        );
        Ok((
            rows(&self.ch.query(&list, Params::new()).await?)?,
            rows(&self.ch.query(&overrides, Params::new().text("project", project)).await?)?,
        ))
    }

    /// Adds a project price override. `p.model_key` may be any spelling.
    pub async fn put_price_override(&self, project: &str, p: &Price, effective_from_us: i64) -> Result<(), StoreError> {
        let mut buf = Vec::new();
        let mut w = RowBinary(&mut buf);
        w.string(project);
        w.string(&flightlog_model::pricing::model_key(&p.model_key));
        w.i64(effective_from_us);
        w.f64(p.input);
        w.f64(p.output);
        w.f64(p.cache_read);
        w.f64(p.cache_write);
        w.nullable(p.reasoning, RowBinary::f64);
        w.u64(p.tier_threshold);
        w.nullable(p.tier_input, RowBinary::f64);
        w.nullable(p.tier_output, RowBinary::f64);
        w.nullable(p.tier_cache_read, RowBinary::f64);
        w.string(&p.source);
        self.ch.insert(INSERT_OVERRIDE, buf).await?;
        Ok(())
    }
}

const INSERT_OVERRIDE: &str = "INSERT INTO price_overrides (project, model_key, effective_from, input, output, cache_read, \
    cache_write, reasoning, tier_threshold, tier_input, tier_output, tier_cache_read, note)";

/// Replaces the prices table with the shipped price list.
pub(crate) async fn load_price_list(ch: &dyn Backend) -> Result<usize, StoreError> {
    let mut buf = Vec::new();
    let mut count = 0;
    for (n, line) in PRICE_LIST.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |what: &str| StoreError::Setup(format!("schema/prices.csv line {}: {what}", n + 1));
        let f: Vec<&str> = line.splitn(13, ',').map(str::trim).collect();
        if f.len() != 13 {
            return Err(bad("expected 13 columns"));
        }
        let num = |i: usize| f[i].parse::<f64>().map_err(|_| bad(&format!("column {} is not a number", i + 1)));
        let opt = |i: usize| if f[i].is_empty() { Ok(None) } else { num(i).map(Some) };
        let from = flightlog_model::time::parse_timestamp(f[2]).map_err(|e| bad(&e.reason))?;
        let mut w = RowBinary(&mut buf);
        w.string(f[0]);
        w.string(&flightlog_model::pricing::model_key(f[1]));
        w.i64(from);
        w.f64(num(3)?);
        w.f64(num(4)?);
        w.f64(num(5)?);
        w.f64(num(6)?);
        w.nullable(opt(7)?, RowBinary::f64);
        w.u64(f[8].parse().map_err(|_| bad("tier_threshold is not a whole number"))?);
        w.nullable(opt(9)?, RowBinary::f64);
        w.nullable(opt(10)?, RowBinary::f64);
        w.nullable(opt(11)?, RowBinary::f64);
        w.string(f[12]);
        count += 1;
    }
    ch.query("TRUNCATE TABLE prices", Params::new()).await?;
    ch.insert(INSERT_PRICES, buf).await?;
    Ok(count)
}
