//! Costs: what steps cost by up to two dimensions, computed at query time
//! from tokens and prices; the totals finance asks for; the same groups as
//! a file.

use crate::{AppError, AppState, params};
use flightlog_export::{Column, Format, Kind, SharedBuffer, TableWriter};
use flightlog_model::time::END_OF_TIME_US;
use flightlog_store::{CostDimension, CostQuery, CostRow, Measure, Price};

/// The most groups one answer holds.
pub const MAX_GROUPS: u32 = 10_000;

/// A cost query as received.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct CostParams {
    /// Up to two of [`CostDimension::NAMES`], comma-separated.
    pub group_by: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub agent: Option<String>,
    pub user: Option<String>,
    pub model: Option<String>,
    /// Comma-separated; steps carrying any of them.
    pub tags: Option<String>,
    pub limit: Option<String>,
    /// csv, arrow or parquet: the groups as a file instead of JSON.
    pub format: Option<String>,
}

impl CostParams {
    pub fn query(&self) -> Result<CostQuery, AppError> {
        let group_by = match self.group_by.as_deref().filter(|g| !g.is_empty()) {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|g| {
                    CostDimension::parse(g.trim()).ok_or_else(|| {
                        AppError::invalid("group_by", format!("unknown dimension {g:?}; use {}", CostDimension::NAMES.join(", ")))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        if group_by.len() > 2 {
            return Err(AppError::invalid("group_by", "at most two dimensions at once"));
        }
        let time = |name: &str, v: &Option<String>, default: i64| match v {
            None => Ok(default),
            Some(s) => params::time(name, s),
        };
        let limit = match self.limit.as_deref() {
            None => 1000,
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_GROUPS).contains(n))
                .ok_or_else(|| AppError::invalid("limit", format!("must be between 1 and {MAX_GROUPS}")))?,
        };
        Ok(CostQuery {
            group_by,
            from_us: time("from", &self.from, 0)?,
            to_us: time("to", &self.to, END_OF_TIME_US)?,
            agent: self.agent.clone().filter(|s| !s.is_empty()),
            user: self.user.clone().filter(|s| !s.is_empty()),
            model: self.model.clone().filter(|s| !s.is_empty()),
            sessions: Vec::new(),
            tags: self
                .tags
                .as_ref()
                .map(|t| t.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
                .unwrap_or_default(),
            limit,
        })
    }

    /// The file format asked for, if any.
    pub fn file_format(&self) -> Result<Option<Format>, AppError> {
        self.format.as_deref().map(file_format).transpose()
    }
}

/// The last `days` days up to a minute from now (steps stamped by a clock
/// slightly ahead still count), at most [`MAX_GROUPS`] groups.
pub fn last_days(days: u32) -> CostQuery {
    let now = flightlog_model::time::now_us();
    CostQuery { from_us: now - days as i64 * 86_400_000_000, to_us: now + 60_000_000, limit: MAX_GROUPS, ..Default::default() }
}

/// csv, arrow or parquet.
pub fn file_format(s: &str) -> Result<Format, AppError> {
    Format::parse(s).ok_or_else(|| AppError::invalid("format", format!("must be csv, arrow or parquet, got {s:?}")))
}

/// The answer to a cost query: its groups and what finance totals.
pub struct CostReport {
    pub group_by: Vec<CostDimension>,
    pub groups: Vec<CostRow>,
    /// The whole range under the filters; None when nothing matched.
    pub totals: Option<CostRow>,
    /// Models with steps that have tokens but no price.
    pub unpriced: Vec<CostRow>,
    /// Sessions with no failed step.
    pub successful_sessions: u64,
    /// None when no session succeeded.
    pub cost_per_successful_session: Option<f64>,
}

impl AppState {
    /// The shipped price list and the project's overrides.
    pub async fn prices(&self, project: &str) -> Result<(Vec<Price>, Vec<Price>), AppError> {
        Ok(self.store.prices(project).await?)
    }

    /// Adds a project's price override (from `effective_from` on, past
    /// steps included); returns the model key it applies to. `by` is the
    /// key id, for the log.
    pub async fn put_price_override(&self, project: &str, p: &Price, by: &str) -> Result<String, AppError> {
        if p.model_key.trim().is_empty() || p.model_key.len() > 256 {
            return Err(AppError::invalid("model_key", "is required (any spelling of the model name), at most 256 bytes"));
        }
        let from = params::time("effective_from", &p.effective_from)?;
        let prices = [Some(p.input), Some(p.output), Some(p.cache_read), Some(p.cache_write), p.reasoning, p.tier_input, p.tier_output, p.tier_cache_read];
        if prices.iter().flatten().any(|x| !x.is_finite() || *x < 0.0 || *x > 1e6) {
            return Err(AppError::invalid("input", "prices are USD per 1M tokens, between 0 and 1,000,000"));
        }
        if p.source.len() > 1024 {
            return Err(AppError::invalid("source", "the note is longer than 1024 bytes"));
        }
        self.store.put_price_override(project, p, from).await?;
        tracing::info!(project = %project, model = %p.model_key, from = %p.effective_from, by = %by, "price override");
        Ok(flightlog_model::pricing::model_key(&p.model_key))
    }

    /// Among the `among` most expensive sessions (by their computed cost),
    /// those over their budget, with that cost.
    pub async fn over_budget_sessions(&self, project: &str, among: u32) -> Result<Vec<(String, f64)>, AppError> {
        let filter = flightlog_store::SessionFilter { sort: flightlog_store::SessionSort::Cost, limit: among, ..Default::default() };
        let expensive = self.store.list_sessions(project, &filter).await?.sessions;
        let ids: Vec<(String, Vec<String>)> = expensive.iter().map(|s| (s.session_id.clone(), s.agents.clone())).collect();
        let costs = self.session_costs(project, &ids).await?;
        Ok(ids
            .into_iter()
            .filter_map(|(id, _)| costs.get(&id).filter(|(_, over)| *over == Some(true)).map(|(c, _)| (id.clone(), *c)))
            .collect())
    }

    pub async fn cost_groups(&self, project: &str, query: &CostQuery) -> Result<Vec<CostRow>, AppError> {
        Ok(self.store.costs(project, query).await?)
    }

    pub async fn cost_report(&self, project: &str, query: &CostQuery) -> Result<CostReport, AppError> {
        let groups = self.store.costs(project, query).await?;
        let totals = self.store.costs(project, &CostQuery { group_by: Vec::new(), limit: 1, ..query.clone() }).await?;
        let by_model = self
            .store
            .costs(project, &CostQuery { group_by: vec![CostDimension::Model], limit: MAX_GROUPS, ..query.clone() })
            .await?;
        let (successful, successful_cost) = self.store.successful_session_cost(project, query).await?;
        Ok(CostReport {
            group_by: query.group_by.clone(),
            groups,
            totals: totals.into_iter().next(),
            unpriced: by_model.into_iter().filter(|m| m.unpriced_steps > 0).collect(),
            successful_sessions: successful,
            cost_per_successful_session: (successful > 0).then(|| successful_cost / successful as f64),
        })
    }
}

/// The cost groups as a CSV, Arrow or Parquet file (they are few: one batch).
pub fn cost_file(format: Format, group_by: &[CostDimension], groups: &[CostRow]) -> Result<Vec<u8>, AppError> {
    let mut columns: Vec<Column> = if group_by.is_empty() {
        vec![Column::new("scope", Kind::Text)]
    } else {
        group_by.iter().map(|d| Column::new(d.name(), Kind::Text)).collect()
    };
    for (name, measure) in CostRow::MEASURES {
        let kind = match measure {
            Measure::Count => Kind::Int,
            Measure::Amount => Kind::Float,
            Measure::Flag => Kind::Bool,
        };
        columns.push(Column::new(name, kind));
    }
    let rows: Vec<Vec<serde_json::Value>> = groups
        .iter()
        .map(|g| {
            let m = g.to_map();
            columns.iter().map(|c| m.get(&c.name).cloned().unwrap_or(serde_json::Value::Null)).collect()
        })
        .collect();
    let buf = SharedBuffer::default();
    TableWriter::new(format, columns, buf.clone())
        .and_then(|mut w| w.write(&rows).map(|_| w))
        .and_then(|w| w.finish())
        .map_err(|e| AppError::unavailable("the cost file could not be written", e))?;
    Ok(buf.take())
}
