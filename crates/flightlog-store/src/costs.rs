//! Costs: the price list, and cost aggregated by any dimension at query
//! time (see queries/cost_by.sql for the token accounting).

use crate::backend::{Backend, Params, StoreError, rows};
use crate::rowbinary::RowBinary;
use crate::Store;
use crate::cost_rollups::{UNITS_OF_STEPS, units_of_rollups_and_steps};
use flightlog_model::cost_rollup::{read_from_steps, whole_hours};

const PRICE_LIST: &str = include_str!("../../../schema/prices.csv");
const COST_BY: &str = include_str!("queries/cost_by.sql");
/// A project's price overrides in force, one per model and date; the cost
/// queries take it for their overrides marker ([`with_overrides_in_force`]).
const OVERRIDES_IN_FORCE: &str = include_str!("queries/price_overrides_in_force.sql");

/// `sql` reading the project's overrides in force where it says
/// `{{overrides}}`.
pub(crate) fn with_overrides_in_force(sql: &str) -> String {
    sql.replace("{{overrides}}", OVERRIDES_IN_FORCE.trim_end())
}
const UNITS_SUMMED: &str = include_str!("queries/cost_units_summed.sql");
const SESSIONS_APART: &str = include_str!("queries/cost_sessions_apart.sql");
/// From this many rollup rows in a query's hours, groups of few values are
/// priced from the rows' sums: faster from about 900k rows (30M steps),
/// slower in the tail at 306k (10M steps); the README's costs section has
/// the figures (`flightlog-bench costs`).
pub(crate) const SUM_ROLLUPS_FROM: u64 = 500_000;
const COST_DATA_EXTENT: &str = include_str!("queries/cost_data_extent.sql");
const INSERT_PRICES: &str = "INSERT INTO prices (provider, model_key, effective_from, input, output, cache_read, \
    cache_write, reasoning, tier_threshold, tier_input, tier_output, tier_cache_read, tier_cache_write, source)";

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
            // Counted back from a Date32: toDate, toMonday and
            // toStartOfMonth answer a Date, which ends in 2149 and starts
            // in 1970, where a step may be dated up to 2199 (and the week
            // of 1970-01-01 begins in 1969).
            Day => "toString(toDate32(ts)) AS day",
            Week => "toString(toDate32(ts) - (toDayOfWeek(ts) - 1)) AS week",
            Month => "toString(toDate32(ts) - (toDayOfMonth(ts) - 1)) AS month",
        }
    }

    pub fn name(self) -> &'static str {
        let sql = self.sql();
        &sql[sql.rfind(' ').map_or(0, |i| i + 1)..]
    }
}

/// What one group of steps cost (queries/cost_by.sql).
#[derive(Clone, Debug, PartialEq)]
pub struct CostRow {
    /// The group's value of each dimension, in the query's order; empty
    /// when the query has none (the whole scope).
    pub group: Vec<(CostDimension, String)>,
    pub steps: u64,
    pub sessions: u64,
    pub input_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
    /// Computed now from tokens and prices, in USD.
    pub cost: Amount,
    /// The sum of the clients' own estimates, in USD.
    pub reported_cost: Amount,
    /// The estimate is off by more than 1%.
    pub estimate_differs: bool,
    pub unpriced_steps: u64,
    pub failed_steps: u64,
}

/// An amount in USD exactly as the engine wrote it (`2`, not `2.0`), so it
/// is shown as computed; [`Amount::as_f64`] for arithmetic.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(transparent)]
pub struct Amount(serde_json::Number);

impl Amount {
    pub fn as_f64(&self) -> f64 {
        self.0.as_f64().unwrap_or(0.0)
    }
}

/// What kind of value a cost row's measure is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    Count,
    /// USD.
    Amount,
    Flag,
}

impl CostRow {
    /// The row's measures after its dimensions, in the query's order: the
    /// one list the JSON, the files and their columns follow.
    pub const MEASURES: [(&'static str, Measure); 12] = [
        ("steps", Measure::Count),
        ("sessions", Measure::Count),
        ("input_tokens", Measure::Count),
        ("cache_read_tokens", Measure::Count),
        ("cache_write_tokens", Measure::Count),
        ("output_tokens", Measure::Count),
        ("reasoning_tokens", Measure::Count),
        ("cost", Measure::Amount),
        ("reported_cost", Measure::Amount),
        ("estimate_differs", Measure::Flag),
        ("unpriced_steps", Measure::Count),
        ("failed_steps", Measure::Count),
    ];

    /// One measure by its name in [`Self::MEASURES`] (null for another name).
    pub fn measure(&self, name: &str) -> serde_json::Value {
        use serde_json::Value;
        match name {
            "steps" => self.steps.into(),
            "sessions" => self.sessions.into(),
            "input_tokens" => self.input_tokens.into(),
            "cache_read_tokens" => self.cache_read_tokens.into(),
            "cache_write_tokens" => self.cache_write_tokens.into(),
            "output_tokens" => self.output_tokens.into(),
            "reasoning_tokens" => self.reasoning_tokens.into(),
            "cost" => Value::Number(self.cost.0.clone()),
            "reported_cost" => Value::Number(self.reported_cost.0.clone()),
            "estimate_differs" => self.estimate_differs.into(),
            "unpriced_steps" => self.unpriced_steps.into(),
            "failed_steps" => self.failed_steps.into(),
            _ => Value::Null,
        }
    }

    /// The value of one of the row's dimensions.
    pub fn value_of(&self, d: CostDimension) -> Option<&str> {
        self.group.iter().find(|(dim, _)| *dim == d).map(|(_, v)| v.as_str())
    }

    /// The row as the engine answered it, its fields in the query's order
    /// (`scope: "all"` first when it has no dimension): how the API shows it.
    pub fn to_map(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        if self.group.is_empty() {
            m.insert("scope".into(), "all".into());
        }
        for (d, v) in &self.group {
            m.insert(d.name().into(), v.clone().into());
        }
        for (name, _) in Self::MEASURES {
            m.insert(name.into(), self.measure(name));
        }
        m
    }

    /// One row of the engine's answer to a cost query grouped by `group_by`.
    pub fn from_engine_row(mut row: serde_json::Map<String, serde_json::Value>, group_by: &[CostDimension]) -> Result<Self, StoreError> {
        use serde_json::Value;
        let bad = |name: &str, row: &serde_json::Map<String, Value>| {
            StoreError::Decode(format!("cost row without a readable {name}: {}", Value::Object(row.clone())))
        };
        let count = |name: &str| row.get(name).and_then(Value::as_u64).ok_or_else(|| bad(name, &row));
        let (steps, sessions, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, unpriced_steps, failed_steps) = (
            count("steps")?,
            count("sessions")?,
            count("input_tokens")?,
            count("cache_read_tokens")?,
            count("cache_write_tokens")?,
            count("output_tokens")?,
            count("reasoning_tokens")?,
            count("unpriced_steps")?,
            count("failed_steps")?,
        );
        let mut amount = |name: &str| match row.remove(name) {
            Some(Value::Number(n)) => Ok(Amount(n)),
            other => Err(StoreError::Decode(format!("cost row without a readable {name}: {other:?}"))),
        };
        let (cost, reported_cost) = (amount("cost")?, amount("reported_cost")?);
        let estimate_differs = row.get("estimate_differs").and_then(Value::as_bool).ok_or_else(|| bad("estimate_differs", &row))?;
        // Read, not removed: a dimension asked for twice (model,model) is
        // one key of the engine's row.
        let group = group_by
            .iter()
            .map(|d| match row.get(d.name()) {
                Some(Value::String(v)) => Ok((*d, v.clone())),
                _ => Err(bad(d.name(), &row)),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            group,
            steps,
            sessions,
            input_tokens,
            cache_read_tokens,
            cache_write_tokens,
            output_tokens,
            reasoning_tokens,
            cost,
            reported_cost,
            estimate_differs,
            unpriced_steps,
            failed_steps,
        })
    }
}

impl serde::Serialize for CostRow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(s)
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
    /// Only the sessions with a step of this agent, all their steps (where
    /// `agent` keeps only that agent's steps).
    pub sessions_of_agent: Option<String>,
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
        let (inner, params) = self.cost_sql(project, &per_session).await?;
        let sql = format!("SELECT count() AS sessions, round(sum(cost), 9) AS cost FROM ({inner}) WHERE failed_steps = 0");
        let found: Vec<Row> = rows(&self.ch.query(&sql, params).await?)?;
        Ok(found.first().map_or((0, 0.0), |r| (r.sessions, r.cost.unwrap_or(0.0))))
    }

    /// How many steps the project has, and the times (µs) of its first and
    /// last (0 and 0 when it has none): where its costs can be found.
    pub async fn cost_data_extent(&self, project: &str) -> Result<(u64, i64, i64), StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            steps: u64,
            first_us: i64,
            last_us: i64,
        }
        let found: Vec<Row> = rows(&self.ch.query(COST_DATA_EXTENT, Params::new().text("project", project)).await?)?;
        Ok(found.first().map_or((0, 0, 0), |r| (r.steps, r.first_us, r.last_us)))
    }

    /// One row per group of the query's dimensions (one row in all when
    /// there are none), most expensive first.
    pub async fn costs(&self, project: &str, q: &CostQuery) -> Result<Vec<CostRow>, StoreError> {
        let (sql, params) = self.cost_sql(project, q).await?;
        rows::<serde_json::Map<String, serde_json::Value>>(&self.ch.query(&sql, params).await?)?
            .into_iter()
            .map(|row| CostRow::from_engine_row(row, &q.group_by))
            .collect()
    }

    /// The cost query and its parameters. Whole hours that one price covers
    /// are read from the cost rollups, the rest of the range from the
    /// steps (flightlog_model::cost_rollup says which is which); a query on
    /// tags (the rollups carry none) or on named sessions reads only steps.
    async fn cost_sql(&self, project: &str, q: &CostQuery) -> Result<(String, Params), StoreError> {
        let (groups, names) = dimension_lists(&q.group_by);
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
        if let Some(v) = &q.sessions_of_agent {
            filters.push_str(
                " AND session_id IN (SELECT session_id FROM steps WHERE project = {project:String} AND agent_name = {sessions_of_agent:String})",
            );
            params.push_text("sessions_of_agent", v);
        }
        if !q.tags.is_empty() {
            filters.push_str(" AND hasAny(tags, {tags:Array(String)})");
            params.push_texts("tags", &q.tags);
        }
        let steps = format!(
            "{UNITS_OF_STEPS}WHERE project = {{project:String}} AND ts >= fromUnixTimestamp64Micro({{from_us:Int64}}, 'UTC') \
             AND ts < fromUnixTimestamp64Micro({{to_us:Int64}}, 'UTC'){filters}"
        );
        // Named sessions are read from the steps, whose order is by session
        // (a few granules, where the rollups' order is by hour), and so in
        // step with what a reader of the steps has just seen: a view's rows
        // become visible after the steps they come from, and the runaway
        // detector prices the sessions of the steps it just read.
        let rollups_may_answer = q.tags.is_empty() && q.sessions.is_empty();
        let hours = if rollups_may_answer { whole_hours(q.from_us, q.to_us) } else { None };
        let (units, summed) = match hours {
            None => (steps, None),
            Some(hours) => {
                // Groups of few values (none by session or user) are priced
                // from sums of the units when the rollup rows are many (see
                // SUM_ROLLUPS_FROM); sums by session would add time
                // (`flightlog-bench costs`). The count and the price changes
                // are read side by side: one round trip, not two.
                let few_groups = !q.group_by.iter().any(|d| matches!(d, CostDimension::Session | CostDimension::User));
                let rollup_rows = async {
                    match few_groups {
                        true => self.rollup_rows_in(project, hours).await,
                        false => Ok(0),
                    }
                };
                let (changes, rollup_rows) = tokio::try_join!(self.price_changes(project), rollup_rows)?;
                let exceptions = read_from_steps(&changes);
                let units = units_of_rollups_and_steps(&steps, &filters, hours, (q.from_us, q.to_us), &exceptions, &mut params);
                if few_groups && rollup_rows >= self.sum_rollups_from {
                    (units_summed(&units, &q.group_by, !exceptions.models.is_empty()), Some(units))
                } else {
                    (units, None)
                }
            }
        };
        // A group of one session counts one: counting distinct ids built a
        // set per group, half the time of the top sessions by cost over
        // 100M steps (`flightlog-bench costs`). Sums are counted apart.
        let sessions = if q.group_by.contains(&CostDimension::Session) {
            "toUInt64(1)"
        } else if summed.is_some() {
            "toUInt64(0)"
        } else {
            "uniqExact(session_id)"
        };
        let costs = with_overrides_in_force(COST_BY)
            .replace("{{groups}}", &groups)
            .replace("{{group_names}}", &names)
            .replace("{{sessions}}", sessions)
            .replace("{{units}}", &units);
        let sql = match summed {
            None => costs,
            Some(units) => SESSIONS_APART
                .replace("{{groups}}", &groups)
                .replace("{{group_names}}", &names)
                .replace("{{costs}}", &costs)
                .replace("{{units}}", &units),
        };
        Ok((sql, params))
    }
}

/// The groups' SQL (`toString(model_key) AS model, …`) and their names
/// (`model, …`), each dimension once however often it was asked for (the
/// rows are read by name), or the whole scope as one group.
fn dimension_lists(dimensions: &[CostDimension]) -> (String, String) {
    let mut once: Vec<CostDimension> = Vec::new();
    for d in dimensions {
        if !once.contains(d) {
            once.push(*d);
        }
    }
    if once.is_empty() {
        return ("'all' AS scope".to_string(), "scope".to_string());
    }
    (
        once.iter().map(|d| d.sql()).collect::<Vec<_>>().join(", "),
        once.iter().map(|d| d.name()).collect::<Vec<_>>().join(", "),
    )
}

/// `units` summed per model, time, input band and the columns `group_by`
/// reads (queries/cost_units_summed.sql). `tier_models` says whether some
/// model's tier threshold is not a band edge (`steps_models`, bound by
/// `units_of_rollups_and_steps`): its steps' inputs are then kept apart.
fn units_summed(units: &str, group_by: &[CostDimension], tier_models: bool) -> String {
    let column = |d: CostDimension, name: &'static str| if group_by.contains(&d) { format!("u.{name}") } else { "''".to_string() };
    let tier_input = if tier_models { "if(has({steps_models:Array(String)}, model_key), u.min_input, 0)" } else { "toUInt64(0)" };
    UNITS_SUMMED
        .replace("{{model_provider}}", &column(CostDimension::Provider, "model_provider"))
        .replace("{{agent_name}}", &column(CostDimension::Agent, "agent_name"))
        .replace("{{tool_name}}", &column(CostDimension::Tool, "tool_name"))
        .replace("{{tier_input}}", tier_input)
        .replace("{{units}}", units)
}

/// One price row (list or override), per 1M tokens.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
// A misspelt field (`cachewrite`) is refused, not left to its default of 0.
#[serde(deny_unknown_fields)]
pub struct Price {
    #[schema(min_length = 1, max_length = 256)]
    pub model_key: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub effective_from: String,
    #[schema(minimum = 0, maximum = 1000000)]
    pub input: f64,
    #[schema(minimum = 0, maximum = 1000000)]
    pub output: f64,
    /// USD per 1M cached input tokens read. Left out of an override: the
    /// input price ([`Price::cache_prices`]), never free.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1000000)]
    pub cache_read: Option<f64>,
    /// USD per 1M input tokens written to the cache. Left out of an
    /// override: the input price.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1000000)]
    pub cache_write: Option<f64>,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1000000)]
    pub reasoning: Option<f64>,
    #[serde(default)]
    pub tier_threshold: u64,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1000000)]
    pub tier_input: Option<f64>,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1000000)]
    pub tier_output: Option<f64>,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1000000)]
    pub tier_cache_read: Option<f64>,
    /// Null: the base cache write price applies above the threshold too.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1000000)]
    pub tier_cache_write: Option<f64>,
    /// The list's source, or the override's note.
    #[serde(default)]
    pub source: String,
}

/// A price's cache prices as they apply (see [`Price::cache_prices`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CachePrices {
    pub read: f64,
    pub write: f64,
    pub tier_read: Option<f64>,
    pub tier_write: Option<f64>,
}

impl Price {
    /// The cache prices as they apply: those an override leaves out are
    /// its input price, above the tier threshold its tier input price, so
    /// cached tokens get no discount, as a provider without one bills them
    /// (0 made them free: the bill under-counted).
    pub fn cache_prices(&self) -> CachePrices {
        CachePrices {
            read: self.cache_read.unwrap_or(self.input),
            write: self.cache_write.unwrap_or(self.input),
            tier_read: if self.cache_read.is_some() { self.tier_cache_read } else { self.tier_cache_read.or(self.tier_input) },
            tier_write: if self.cache_write.is_some() { self.tier_cache_write } else { self.tier_cache_write.or(self.tier_input) },
        }
    }
}

// effective_from as RFC 3339, every digit the column holds kept.
const PRICE_COLUMNS: &str = "model_key, replaceOne(toString(effective_from), ' ', 'T') || 'Z' AS effective_from, input, output, cache_read, cache_write, \
    reasoning, tier_threshold, tier_input, tier_output, tier_cache_read, tier_cache_write";

impl Store {
    /// The shipped list and the project's overrides in force, each by model
    /// and date.
    pub async fn prices(&self, project: &str) -> Result<(Vec<Price>, Vec<Price>), StoreError> {
        let list = format!("SELECT {PRICE_COLUMNS}, source FROM prices ORDER BY model_key, effective_from");
        let overrides = format!(
            "SELECT {PRICE_COLUMNS}, note AS source FROM ({}) ORDER BY model_key, effective_from",
            OVERRIDES_IN_FORCE.trim_end()
        );
        Ok((
            rows(&self.ch.query(&list, Params::new()).await?)?,
            rows(&self.ch.query(&overrides, Params::new().text("project", project)).await?)?,
        ))
    }

    /// Adds a project price override. `p.model_key` may be any spelling.
    pub async fn put_price_override(&self, project: &str, p: &Price, effective_from_us: i64) -> Result<(), StoreError> {
        let mut buf = Vec::new();
        write_price(&mut RowBinary(&mut buf), project, p, effective_from_us);
        self.ch.insert(INSERT_OVERRIDE, buf).await?;
        Ok(())
    }
}

const INSERT_OVERRIDE: &str = "INSERT INTO price_overrides (project, model_key, effective_from, input, output, cache_read, \
    cache_write, reasoning, tier_threshold, tier_input, tier_output, tier_cache_read, tier_cache_write, note)";

/// One line of schema/prices.csv, by its header's names.
#[derive(Debug, serde::Deserialize, PartialEq)]
struct ListedPrice {
    provider: String,
    model_key: String,
    effective_from: String,
    input: f64,
    output: f64,
    cache_read: f64,
    cache_write: f64,
    reasoning: Option<f64>,
    tier_threshold: u64,
    tier_input: Option<f64>,
    tier_output: Option<f64>,
    tier_cache_read: Option<f64>,
    tier_cache_write: Option<f64>,
    source: String,
}

impl ListedPrice {
    /// The line as a price (the provider is its own column).
    fn price(&self) -> Price {
        Price {
            model_key: self.model_key.clone(),
            effective_from: self.effective_from.clone(),
            input: self.input,
            output: self.output,
            cache_read: Some(self.cache_read),
            cache_write: Some(self.cache_write),
            reasoning: self.reasoning,
            tier_threshold: self.tier_threshold,
            tier_input: self.tier_input,
            tier_output: self.tier_output,
            tier_cache_read: self.tier_cache_read,
            tier_cache_write: self.tier_cache_write,
            source: self.source.clone(),
        }
    }
}

/// One row of `prices` or `price_overrides`, whose columns are the same but
/// the first (the list's provider, the override's project) and the last
/// (the list's source, the override's note).
fn write_price(w: &mut RowBinary, first: &str, p: &Price, effective_from_us: i64) {
    let cache = p.cache_prices();
    w.string(first);
    w.string(&flightlog_model::pricing::model_key(&p.model_key));
    w.i64(effective_from_us);
    w.f64(p.input);
    w.f64(p.output);
    w.f64(cache.read);
    w.f64(cache.write);
    w.nullable(p.reasoning, RowBinary::f64);
    w.u64(p.tier_threshold);
    w.nullable(p.tier_input, RowBinary::f64);
    w.nullable(p.tier_output, RowBinary::f64);
    w.nullable(cache.tier_read, RowBinary::f64);
    w.nullable(cache.tier_write, RowBinary::f64);
    w.string(&p.source);
}

/// Parses a price list (CSV with a header, fields trimmed, an empty
/// optional price is none) and its dates, naming the line of any error.
fn parse_price_list(text: &str) -> Result<Vec<(ListedPrice, i64)>, StoreError> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let mut out = Vec::new();
    for record in reader.deserialize::<ListedPrice>() {
        let price = record.map_err(|e| {
            let line = e.position().map_or(String::new(), |p| format!(" line {}", p.line()));
            StoreError::Setup(format!("schema/prices.csv{line}: {e}"))
        })?;
        let from = flightlog_model::time::parse_timestamp(&price.effective_from)
            .map_err(|e| StoreError::Setup(format!("schema/prices.csv, {} from {}: {}", price.model_key, price.effective_from, e.reason)))?;
        out.push((price, from));
    }
    Ok(out)
}

/// Replaces the prices table with the shipped price list.
pub(crate) async fn load_price_list(ch: &dyn Backend) -> Result<usize, StoreError> {
    let listed = parse_price_list(PRICE_LIST)?;
    let mut buf = Vec::new();
    for (listed, from) in &listed {
        write_price(&mut RowBinary(&mut buf), &listed.provider, &listed.price(), *from);
    }
    let count = listed.len();
    ch.query("TRUNCATE TABLE prices", Params::new()).await?;
    ch.insert(INSERT_PRICES, buf).await?;
    Ok(count)
}

/// A cost row's shape in the HTTP API's OpenAPI description, from the
/// same [`CostRow::MEASURES`] and [`CostDimension::NAMES`] that write it.
impl utoipa::PartialSchema for CostRow {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{Object, SchemaType, Type};
        let of = |t: Type, description: &str| Object::builder().schema_type(SchemaType::Type(t)).description(Some(description)).build();
        let mut row = Object::builder()
            .description(Some("One group: its value of each dimension grouped by (named as in group_by), then the measures"))
            .property("scope", of(Type::String, "\"all\" when the query groups by nothing"));
        for name in CostDimension::NAMES {
            row = row.property(name, of(Type::String, "this group's value of the dimension, when grouped by it"));
        }
        for (name, measure) in Self::MEASURES {
            let (t, what) = match measure {
                Measure::Count => (Type::Integer, "a count"),
                Measure::Amount => (Type::Number, "USD, exactly as computed"),
                Measure::Flag => (Type::Boolean, "the clients' estimate is off by more than 1%"),
            };
            row = row.property(name, of(t, what)).required(name);
        }
        row.build().into()
    }
}

impl utoipa::ToSchema for CostRow {}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "provider,model_key,effective_from,input,output,cache_read,cache_write,reasoning,tier_threshold,tier_input,tier_output,tier_cache_read,tier_cache_write,source\n";

    #[test]
    fn cache_prices_left_out_are_the_input_prices_at_each_tier() {
        let tiered = Price { input: 2.0, tier_threshold: 200_000, tier_input: Some(4.0), ..Default::default() };
        let left_out = CachePrices { read: 2.0, write: 2.0, tier_read: Some(4.0), tier_write: Some(4.0) };
        assert_eq!(tiered.cache_prices(), left_out);
        // A cache price given keeps its own tier price, none above the
        // threshold meaning the base cache price applies there too.
        let given = Price { cache_read: Some(0.5), cache_write: Some(0.0), tier_cache_write: Some(1.0), ..tiered.clone() };
        assert_eq!(given.cache_prices(), CachePrices { read: 0.5, write: 0.0, tier_read: None, tier_write: Some(1.0) });
        let untiered = Price { input: 3.0, ..Default::default() };
        assert_eq!(untiered.cache_prices(), CachePrices { read: 3.0, write: 3.0, tier_read: None, tier_write: None });
    }

    #[test]
    fn the_shipped_price_list_parses_whole() {
        let listed = parse_price_list(PRICE_LIST).unwrap();
        assert_eq!(listed.len(), PRICE_LIST.lines().skip(1).filter(|l| !l.trim().is_empty()).count());
        let (first, from) = &listed[0];
        assert_eq!((first.provider.as_str(), first.model_key.as_str(), first.input, first.reasoning), ("openai", "gpt-4o", 5.0, None));
        assert_eq!(*from, 1_715_558_400_000_000);
    }

    #[test]
    fn a_quoted_field_may_hold_a_comma_and_empty_prices_are_none() {
        let text = format!("{HEADER}acme, m-1 ,2025-01-01T00:00:00Z,1.5,2,0,0,,200000,3,,0.25,,\"acme.com/pricing, as of 2025-01\"\n\n");
        let listed = parse_price_list(&text).unwrap();
        assert_eq!(listed.len(), 1);
        let (p, _) = &listed[0];
        assert_eq!(p.source, "acme.com/pricing, as of 2025-01");
        assert_eq!(p.model_key, "m-1", "fields are trimmed");
        assert_eq!((p.reasoning, p.tier_input, p.tier_output, p.tier_cache_read), (None, Some(3.0), None, Some(0.25)));
        assert_eq!(p.tier_threshold, 200_000);
    }

    #[test]
    fn a_bad_line_is_named() {
        let err = parse_price_list(&format!("{HEADER}acme,m,2025-01-01T00:00:00Z,cheap,2,0,0,,0,,,,s\n")).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        let err = parse_price_list(&format!("{HEADER}acme,m,2025-01-01T00:00:00Z,1,2,0,0,,0,,,,s,extra\n")).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(parse_price_list(&format!("{HEADER}acme,m,yesterday,1,2,0,0,,0,,,,s\n")).is_err());
    }
}
