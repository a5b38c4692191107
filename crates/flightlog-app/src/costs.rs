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
#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
// A misspelt filter (`user_id=`) is refused, not ignored: ignored, the
// answer would be the whole project's costs.
#[serde(deny_unknown_fields)]
pub struct CostParams {
    /// Up to two of [`CostDimension::NAMES`], comma-separated.
    #[param(schema_with = crate::param_schemas::cost_group_by)]
    pub group_by: Option<String>,
    /// Steps at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Steps before this time (RFC 3339).
    #[param(format = DateTime)]
    pub to: Option<String>,
    pub agent: Option<String>,
    pub user: Option<String>,
    pub model: Option<String>,
    /// Comma-separated; steps carrying any of them.
    pub tags: Option<String>,
    /// Groups at most (default 1000).
    #[param(schema_with = crate::param_schemas::cost_groups)]
    pub limit: Option<String>,
    /// csv, arrow or parquet: the groups as a file instead of JSON.
    #[param(schema_with = crate::param_schemas::file_format)]
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
        let (from_us, to_us) = params::time_range(self.from.as_deref(), self.to.as_deref())?;
        let limit = match self.limit.as_deref() {
            None => 1000,
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_GROUPS).contains(n))
                .ok_or_else(|| AppError::invalid("limit", format!("must be between 1 and {MAX_GROUPS}")))?,
        };
        // Sizes no step could have are refused, as ingestion would refuse
        // them: a 5,000-byte agent or 3,000 tags were looked up. (Odd
        // characters are looked up and match nothing, as the session
        // list's filters do.)
        let limits = flightlog_model::Limits::default();
        let named = |field: &str, v: &Option<String>| -> Result<Option<String>, AppError> {
            let v = v.clone().filter(|s| !s.is_empty());
            if let Some(v) = &v {
                params::id_size(field, field, v)?;
            }
            Ok(v)
        };
        let tags: Vec<String> =
            self.tags.as_ref().map(|t| t.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()).unwrap_or_default();
        if tags.len() > limits.max_list_items {
            return Err(AppError::invalid("tags", format!("names {} tags, at most {}", tags.len(), limits.max_list_items)));
        }
        for tag in &tags {
            params::id_size("tags", "tag", tag)?;
        }
        Ok(CostQuery {
            group_by,
            from_us: from_us.unwrap_or(0),
            to_us: to_us.unwrap_or(END_OF_TIME_US),
            agent: named("agent", &self.agent)?,
            user: named("user", &self.user)?,
            model: named("model", &self.model)?,
            sessions: Vec::new(),
            sessions_of_agent: None,
            tags,
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
    CostRange::last_days(days, flightlog_model::time::now_us()).query()
}

/// The longest range the costs page answers (three years of days), so a
/// client cannot ask the engine for unbounded work.
pub const MAX_SPAN_DAYS: u32 = 3 * 366;

/// The costs page's period when none is chosen: the last 30 days.
pub const DEFAULT_DAYS: u32 = 30;

const DAY_US: i64 = 86_400_000_000;

/// How far ahead of now the last-days ranges reach: steps stamped by a
/// clock slightly ahead still count.
const CLOCK_SKEW_US: i64 = 60_000_000;

/// A calendar period of finance, in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    ThisMonth,
    LastMonth,
    ThisQuarter,
    LastQuarter,
    YearToDate,
}

impl Preset {
    pub const ALL: [Preset; 5] = [Self::ThisMonth, Self::LastMonth, Self::ThisQuarter, Self::LastQuarter, Self::YearToDate];

    /// Its name in a query string.
    pub fn name(self) -> &'static str {
        match self {
            Self::ThisMonth => "this_month",
            Self::LastMonth => "last_month",
            Self::ThisQuarter => "this_quarter",
            Self::LastQuarter => "last_quarter",
            Self::YearToDate => "year_to_date",
        }
    }

    /// Its name in a sentence.
    pub fn words(self) -> &'static str {
        match self {
            Self::ThisMonth => "this month",
            Self::LastMonth => "last month",
            Self::ThisQuarter => "this quarter",
            Self::LastQuarter => "last quarter",
            Self::YearToDate => "year to date",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == s)
    }

    /// [from, to) in µs when it is `now_us`: a closed period ends at the
    /// next one's first midnight, an open one at now.
    pub fn bounds(self, now_us: i64) -> (i64, i64) {
        let today = Day::of(now_us);
        let (year, month) = (today.year, today.month as i64);
        let quarter = month - (month - 1) % 3;
        match self {
            Self::ThisMonth => (month_start(year, month), now_us),
            Self::LastMonth => (month_start(year, month - 1), month_start(year, month)),
            Self::ThisQuarter => (month_start(year, quarter), now_us),
            Self::LastQuarter => (month_start(year, quarter - 3), month_start(year, quarter)),
            Self::YearToDate => (month_start(year, 1), now_us),
        }
    }
}

/// Midnight UTC starting `month` of `year`, in µs; months before 1 or
/// after 12 roll into the years around (0 is the previous December).
fn month_start(year: i64, month: i64) -> i64 {
    let (year, month) = (year + (month - 1).div_euclid(12), (month - 1).rem_euclid(12) + 1);
    Day { year, month: month as u32, day: 1 }.start_us()
}

/// A day of the calendar in UTC (chrono's date, with what this module
/// needs of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Day {
    year: i64,
    month: u32,
    day: u32,
}

impl Day {
    /// The day holding the instant `us`.
    fn of(us: i64) -> Self {
        use chrono::Datelike;
        let date = chrono::DateTime::from_timestamp_micros(us).map_or(chrono::NaiveDate::MIN, |t| t.date_naive());
        Self { year: i64::from(date.year()), month: date.month(), day: date.day() }
    }

    fn date(self) -> chrono::NaiveDate {
        i32::try_from(self.year).ok().and_then(|y| chrono::NaiveDate::from_ymd_opt(y, self.month, self.day)).unwrap_or(chrono::NaiveDate::MIN)
    }

    /// Its first microsecond.
    fn start_us(self) -> i64 {
        self.date().and_time(chrono::NaiveTime::MIN).and_utc().timestamp_micros()
    }

    /// `2026-03-01`, as HTML's date input writes it.
    fn iso(self) -> String {
        self.date().format("%Y-%m-%d").to_string()
    }

    /// `1 Mar 2026`.
    fn words(self) -> String {
        self.date().format("%-d %b %Y").to_string()
    }
}

/// How a cost range was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chosen {
    Preset(Preset),
    /// Explicit from/to.
    Dates,
    LastDays(u32),
}

/// The period a costs page (and its downloads) covers: [from_us, to_us).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CostRange {
    pub chosen: Chosen,
    pub from_us: i64,
    pub to_us: i64,
}

/// The costs page's period as received: one of a preset, from/to (dates
/// `YYYY-MM-DD`, `to` inclusive, or RFC 3339 times), or the last `days`.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct CostRangeParams {
    pub preset: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub days: Option<String>,
}

impl CostRangeParams {
    /// The range meant when it is `now_us`; nothing chosen is the last
    /// [`DEFAULT_DAYS`] days.
    pub fn range(&self, now_us: i64) -> Result<CostRange, AppError> {
        let (preset, from, to, days) =
            (params::non_empty(&self.preset), params::non_empty(&self.from), params::non_empty(&self.to), params::non_empty(&self.days));
        let dates = from.is_some() || to.is_some();
        if [preset.is_some(), dates, days.is_some()].iter().filter(|given| **given).count() > 1 {
            let field = if preset.is_some() { "preset" } else { "days" };
            return Err(AppError::invalid(field, "choose one of a preset, from/to dates, or days, not several"));
        }
        let range = if let Some(p) = preset {
            let preset = Preset::parse(p).ok_or_else(|| {
                let names: Vec<_> = Preset::ALL.iter().map(|p| p.name()).collect();
                AppError::invalid("preset", format!("unknown preset {p:?}; use {}", names.join(", ")))
            })?;
            let (from_us, to_us) = preset.bounds(now_us);
            CostRange { chosen: Chosen::Preset(preset), from_us, to_us }
        } else if dates {
            let from_us = bound("from", from.ok_or_else(|| AppError::invalid("from", "is required with to"))?, 0)?;
            let to_us = match to {
                Some(to) => bound("to", to, DAY_US)?,
                None => now_us + CLOCK_SKEW_US,
            };
            if from_us >= to_us {
                return Err(AppError::invalid("to", "must come after from (a date as to includes its whole day)"));
            }
            CostRange { chosen: Chosen::Dates, from_us, to_us }
        } else {
            let days = params::number::<u32>("days", days)?.unwrap_or(DEFAULT_DAYS);
            if !(1..=MAX_SPAN_DAYS).contains(&days) {
                return Err(AppError::invalid("days", format!("must be between 1 and {MAX_SPAN_DAYS}, got {days}")));
            }
            CostRange::last_days(days, now_us)
        };
        if range.to_us - range.from_us > MAX_SPAN_DAYS as i64 * DAY_US {
            return Err(AppError::invalid("from", format!("the range spans more than {MAX_SPAN_DAYS} days (3 years); choose a shorter one")));
        }
        Ok(range)
    }
}

/// A range bound: a bare date (its midnight, plus `date_end` for a `to`
/// that includes its day) or an RFC 3339 time (as is).
fn bound(name: &str, s: &str, date_end: i64) -> Result<i64, AppError> {
    let bare_date = s.len() == 10 && s.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    if !bare_date {
        return params::time_bound(name, s)
            .map_err(|_| AppError::invalid(name, format!("must be a date YYYY-MM-DD or an RFC 3339 time, got {s:?}")));
    }
    // chrono (under parse_timestamp) knows the month lengths and leap years.
    let midnight = params::time(name, &format!("{s}T00:00:00Z"))
        .map_err(|_| AppError::invalid(name, format!("{s:?} is not a day between 1970-01-01 and 2199-12-31")))?;
    Ok(midnight + date_end)
}

impl CostRange {
    /// The last `days` days up to a minute from now.
    pub fn last_days(days: u32, now_us: i64) -> Self {
        Self { chosen: Chosen::LastDays(days), from_us: now_us - days as i64 * DAY_US, to_us: now_us + CLOCK_SKEW_US }
    }

    /// From the first day holding `first_us` to the last holding `last_us`
    /// (at most its last [`MAX_SPAN_DAYS`] days): where a project's steps are.
    pub fn covering(first_us: i64, last_us: i64) -> Self {
        let to_us = Day::of(last_us).start_us() + DAY_US;
        let from_us = Day::of(first_us).start_us().max(to_us - MAX_SPAN_DAYS as i64 * DAY_US);
        Self { chosen: Chosen::Dates, from_us, to_us }
    }

    /// Every group of the range (the page's queries set their own).
    pub fn query(&self) -> CostQuery {
        CostQuery { from_us: self.from_us, to_us: self.to_us, limit: MAX_GROUPS, ..Default::default() }
    }

    /// Its first day, `2026-10-01`.
    pub fn first_day(&self) -> String {
        Day::of(self.from_us).iso()
    }

    /// The last day it touches, `2026-12-31` (the first when it is empty).
    pub fn last_day(&self) -> String {
        self.last().iso()
    }

    fn last(&self) -> Day {
        Day::of((self.to_us - 1).max(self.from_us))
    }

    /// `1 Oct 2026 – 31 Dec 2026 (last quarter)`.
    pub fn words(&self) -> String {
        let days = format!("{} – {}", Day::of(self.from_us).words(), self.last().words());
        match self.chosen {
            Chosen::Preset(p) => format!("{days} ({})", p.words()),
            Chosen::Dates => days,
            Chosen::LastDays(1) => format!("{days} (last day)"),
            Chosen::LastDays(n) => format!("{days} (last {n} days)"),
        }
    }

    /// The query string that chooses it again, e.g. `preset=last_quarter`:
    /// what every link of the page carries. Explicit bounds are bare dates
    /// when they fall on midnight, RFC 3339 UTC times else, so the range
    /// comes back exactly; neither needs escaping in a query string.
    pub fn query_string(&self) -> String {
        let time = |us: i64, date_end: i64| {
            if us % DAY_US == 0 { Day::of(us - date_end).iso() } else { flightlog_model::time::format_timestamp(us) }
        };
        match self.chosen {
            Chosen::Preset(p) => format!("preset={}", p.name()),
            Chosen::Dates => format!("from={}&to={}", time(self.from_us, 0), time(self.to_us, DAY_US)),
            Chosen::LastDays(n) => format!("days={n}"),
        }
    }
}

/// csv, arrow or parquet.
pub fn file_format(s: &str) -> Result<Format, AppError> {
    Format::parse(s).ok_or_else(|| AppError::invalid("format", format!("must be csv, arrow or parquet, got {s:?}")))
}

/// The answer to a cost query: its groups and what finance totals.
pub struct CostReport {
    pub group_by: Vec<CostDimension>,
    pub groups: Vec<CostRow>,
    /// More groups than the query's limit matched: the cheaper ones are
    /// left out.
    pub more_groups: bool,
    /// The whole range under the filters; None when nothing matched.
    pub totals: Option<CostRow>,
    /// Models with steps that have tokens but no price.
    pub unpriced: Vec<CostRow>,
    /// Sessions with no failed step.
    pub successful_sessions: u64,
    /// None when no session succeeded.
    pub cost_per_successful_session: Option<f64>,
}

/// The most expensive groups of a cost query, at most its limit.
pub struct CostGroups {
    pub rows: Vec<CostRow>,
    /// More groups matched: the cheaper ones are left out.
    pub more: bool,
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
        let key = flightlog_model::pricing::model_key(&p.model_key);
        if key.is_empty() {
            // Stored, it would be a price for no model, listed with an empty key.
            return Err(AppError::invalid("model_key", format!("{:?} names no model once its prefixes and suffixes are taken off", p.model_key)));
        }
        // Stored to the microsecond: a finer time would be changed, not kept.
        let (from, finer) = flightlog_model::time::parse_instant(&p.effective_from).map_err(|e| AppError::invalid("effective_from", e.reason))?;
        if finer > 0 {
            return Err(AppError::invalid("effective_from", "is finer than a microsecond; it is kept to the microsecond"));
        }
        let prices = [
            ("input", Some(p.input)),
            ("output", Some(p.output)),
            ("cache_read", p.cache_read),
            ("cache_write", p.cache_write),
            ("reasoning", p.reasoning),
            ("tier_input", p.tier_input),
            ("tier_output", p.tier_output),
            ("tier_cache_read", p.tier_cache_read),
            ("tier_cache_write", p.tier_cache_write),
        ];
        for (field, price) in prices {
            if let Some(x) = price.filter(|x| !x.is_finite() || *x < 0.0 || *x > 1e6) {
                return Err(AppError::invalid(field, format!("{x} is not a price: prices are USD per 1M tokens, between 0 and 1,000,000")));
            }
        }
        let tiered = [
            ("tier_input", p.tier_input),
            ("tier_output", p.tier_output),
            ("tier_cache_read", p.tier_cache_read),
            ("tier_cache_write", p.tier_cache_write),
        ];
        if let Some((field, _)) = tiered.iter().find(|(_, price)| price.is_some()).filter(|_| p.tier_threshold == 0) {
            // Without a threshold no call is above it: the price would be
            // kept and never apply.
            return Err(AppError::invalid(field, "a tier price needs tier_threshold, the input tokens of one call above which it applies"));
        }
        if p.source.len() > 1024 {
            return Err(AppError::invalid("source", "the note is longer than 1024 bytes"));
        }
        self.store.put_price_override(project, p, from).await?;
        tracing::info!(project = %project, model = %p.model_key, from = %p.effective_from, by = %by, "price override");
        Ok(key)
    }

    /// The sessions over their budget, dearest first by their computed
    /// cost, at most `among`, with that cost. (Not the session list's order
    /// by cost, which is the cost the clients recorded: a session whose
    /// client sent no estimate would be missed.)
    pub async fn over_budget_sessions(&self, project: &str, among: u32) -> Result<Vec<(String, f64)>, AppError> {
        if self.budgets.is_empty() {
            return Ok(Vec::new());
        }
        // Those over the budget for every session are among the dearest
        // overall; one over an agent's smaller budget can be cheaper than
        // all of them, so the dearest sessions with a step of each
        // budgeted agent are looked at too (by their whole cost, which the
        // budget is compared with).
        let dearest = |agent: Option<&String>| CostQuery {
            group_by: vec![CostDimension::Session],
            to_us: END_OF_TIME_US,
            sessions_of_agent: agent.cloned(),
            limit: among,
            ..Default::default()
        };
        let queries: Vec<CostQuery> = std::iter::once(None).chain(self.budgets.per_agent.keys().map(Some)).map(dearest).collect();
        // Each candidate row already holds its session's whole cost (every
        // step of the session, all time), so it is kept, not read again.
        // Whole hours of it may come from the cost rollups, which a view
        // fills in the steps' own insert: they agree with the steps once a
        // commit is acknowledged, and may trail one still being written.
        let mut candidates: std::collections::BTreeMap<String, f64> = std::collections::BTreeMap::new();
        for rows in futures_util::future::try_join_all(queries.iter().map(|q| self.store.costs(project, q))).await? {
            candidates.extend(rows.iter().filter_map(|r| Some((r.value_of(CostDimension::Session)?.to_string(), r.cost.as_f64()))));
        }
        let ids: Vec<&str> = candidates.keys().map(String::as_str).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let agents: std::collections::HashMap<String, Vec<String>> =
            self.store.summaries_of(project, &ids).await?.into_iter().map(|s| (s.session_id, s.agents)).collect();
        let mut over: Vec<(String, f64)> = candidates
            .into_iter()
            .filter(|(id, cost)| self.over_budget(agents.get(id).map_or(&[][..], Vec::as_slice), *cost) == Some(true))
            .collect();
        // The cost queries' own order: dearest first, then by id.
        over.sort_by(|(a_id, a), (b_id, b)| b.total_cmp(a).then_with(|| a_id.cmp(b_id)));
        over.truncate(among as usize);
        Ok(over)
    }

    pub async fn cost_groups(&self, project: &str, query: &CostQuery) -> Result<CostGroups, AppError> {
        // One more than asked for: whether the rest were left out.
        let asked = CostQuery { limit: query.limit.saturating_add(1), ..query.clone() };
        let mut rows = self.store.costs(project, &asked).await?;
        let more = rows.len() > query.limit as usize;
        rows.truncate(query.limit as usize);
        Ok(CostGroups { rows, more })
    }

    /// The range holding all the project's steps, by whole days (the
    /// last three years of it at most); None when it has no step yet.
    pub async fn cost_data_extent(&self, project: &str) -> Result<Option<CostRange>, AppError> {
        let (steps, first_us, last_us) = self.store.cost_data_extent(project).await?;
        Ok((steps > 0).then(|| CostRange::covering(first_us, last_us)))
    }

    pub async fn cost_report(&self, project: &str, query: &CostQuery) -> Result<CostReport, AppError> {
        // Four reads, side by side on the engine's read connections.
        let totals_query = CostQuery { group_by: Vec::new(), limit: 1, ..query.clone() };
        let by_model_query = CostQuery { group_by: vec![CostDimension::Model], limit: MAX_GROUPS, ..query.clone() };
        let (groups, totals, by_model, (successful, successful_cost)) = tokio::try_join!(
            self.cost_groups(project, query),
            async { Ok::<_, AppError>(self.store.costs(project, &totals_query).await?) },
            async { Ok(self.store.costs(project, &by_model_query).await?) },
            async { Ok(self.store.successful_session_cost(project, query).await?) },
        )?;
        Ok(CostReport {
            group_by: query.group_by.clone(),
            groups: groups.rows,
            more_groups: groups.more,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        params::time("t", s).unwrap()
    }

    fn preset(p: Preset, now: &str) -> (i64, i64) {
        p.bounds(at(now))
    }

    fn range(query: &[(&str, &str)]) -> Result<CostRange, AppError> {
        let get = |name: &str| query.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        CostRangeParams { preset: get("preset"), from: get("from"), to: get("to"), days: get("days") }.range(at("2026-02-10T12:00:00Z"))
    }

    fn field_of(e: AppError) -> String {
        match e {
            AppError::Invalid { field, .. } => field,
            other => panic!("not an invalid input: {other}"),
        }
    }

    #[test]
    fn presets_follow_the_calendar_in_utc() {
        let now = "2026-02-10T12:00:00Z";
        assert_eq!(preset(Preset::ThisMonth, now), (at("2026-02-01T00:00:00Z"), at(now)));
        assert_eq!(preset(Preset::LastMonth, now), (at("2026-01-01T00:00:00Z"), at("2026-02-01T00:00:00Z")));
        assert_eq!(preset(Preset::ThisQuarter, now), (at("2026-01-01T00:00:00Z"), at(now)));
        assert_eq!(preset(Preset::LastQuarter, now), (at("2025-10-01T00:00:00Z"), at("2026-01-01T00:00:00Z")));
        assert_eq!(preset(Preset::YearToDate, now), (at("2026-01-01T00:00:00Z"), at(now)));
    }

    #[test]
    fn last_month_and_last_quarter_cross_the_year_in_january() {
        let now = "2026-01-01T00:00:00.000001Z";
        assert_eq!(preset(Preset::LastMonth, now), (at("2025-12-01T00:00:00Z"), at("2026-01-01T00:00:00Z")));
        assert_eq!(preset(Preset::LastQuarter, now), (at("2025-10-01T00:00:00Z"), at("2026-01-01T00:00:00Z")));
        let late = "2026-12-31T23:59:59Z";
        assert_eq!(preset(Preset::ThisQuarter, late), (at("2026-10-01T00:00:00Z"), at(late)));
        assert_eq!(preset(Preset::LastQuarter, late), (at("2026-07-01T00:00:00Z"), at("2026-10-01T00:00:00Z")));
        assert_eq!(preset(Preset::LastQuarter, "2026-05-31T10:00:00Z"), (at("2026-01-01T00:00:00Z"), at("2026-04-01T00:00:00Z")));
    }

    #[test]
    fn a_range_is_told_in_words_with_its_last_whole_day() {
        let (from_us, to_us) = preset(Preset::LastQuarter, "2027-01-20T08:00:00Z");
        let r = CostRange { chosen: Chosen::Preset(Preset::LastQuarter), from_us, to_us };
        assert_eq!(r.words(), "1 Oct 2026 – 31 Dec 2026 (last quarter)");
        assert_eq!((r.first_day(), r.last_day()), ("2026-10-01".into(), "2026-12-31".into()));
        let (from_us, to_us) = preset(Preset::LastMonth, "2024-03-01T08:00:00Z");
        assert_eq!(CostRange { chosen: Chosen::Preset(Preset::LastMonth), from_us, to_us }.words(), "1 Feb 2024 – 29 Feb 2024 (last month)");
    }

    #[test]
    fn days_agree_with_the_timestamp_library() {
        // Every 9th day from 1970 to 2199, leap days and centuries included.
        let mut us = 0;
        while us < flightlog_model::time::END_OF_TIME_US {
            let day = Day::of(us + 3_600_000_000);
            assert_eq!(day.iso(), flightlog_model::time::format_timestamp(us)[..10]);
            assert_eq!(day.start_us(), us);
            us += 9 * DAY_US;
        }
    }

    #[test]
    fn from_and_to_take_dates_with_to_inclusive_or_times() {
        let r = range(&[("from", "2026-03-01"), ("to", "2026-03-31")]).unwrap();
        assert_eq!((r.from_us, r.to_us), (at("2026-03-01T00:00:00Z"), at("2026-04-01T00:00:00Z")));
        assert_eq!(r.words(), "1 Mar 2026 – 31 Mar 2026");
        assert_eq!(r.query_string(), "from=2026-03-01&to=2026-03-31");
        let r = range(&[("from", "2026-03-01T10:00:00+02:00"), ("to", "2026-03-02T00:00:00Z")]).unwrap();
        assert_eq!((r.from_us, r.to_us), (at("2026-03-01T08:00:00Z"), at("2026-03-02T00:00:00Z")));
        assert_eq!(r.query_string(), "from=2026-03-01T08:00:00Z&to=2026-03-01", "midnight is the end of the day before");
        let same_day = range(&[("from", "2026-03-01"), ("to", "2026-03-01")]).unwrap();
        assert_eq!(same_day.to_us - same_day.from_us, DAY_US);
        let since = range(&[("from", "2026-02-01"), ("to", "")]).unwrap();
        assert_eq!(since.to_us, at("2026-02-10T12:01:00Z"), "no to: up to now");
    }

    #[test]
    fn every_choice_comes_back_from_its_query_string() {
        for q in ["preset=this_quarter", "from=2025-01-01&to=2025-12-31", "from=2025-01-01T06:30:00Z&to=2025-02-01T00:00:00.500Z", "days=7"] {
            let pairs: Vec<(&str, &str)> = q.split('&').map(|kv| kv.split_once('=').unwrap()).collect();
            let r = range(&pairs).unwrap();
            assert_eq!(r.query_string(), q);
            assert_eq!(range(&pairs).unwrap(), r);
        }
    }

    #[test]
    fn nothing_chosen_is_the_last_thirty_days() {
        let r = range(&[("days", "")]).unwrap();
        assert_eq!(r, CostRange::last_days(DEFAULT_DAYS, at("2026-02-10T12:00:00Z")));
        assert_eq!(r.query_string(), "days=30");
        assert_eq!(r.words(), "11 Jan 2026 – 10 Feb 2026 (last 30 days)");
    }

    #[test]
    fn bad_ranges_name_their_field() {
        let field = |q: &[(&str, &str)]| field_of(range(q).unwrap_err());
        assert_eq!(field(&[("from", "2026-05-01"), ("to", "2026-03-01")]), "to");
        assert_eq!(field(&[("from", "2026-03-01T10:00:00Z"), ("to", "2026-03-01T10:00:00Z")]), "to");
        assert_eq!(field(&[("preset", "nonsense")]), "preset");
        assert_eq!(field(&[("from", "2026-02-30"), ("to", "2026-03-01")]), "from");
        assert_eq!(field(&[("from", "yesterday"), ("to", "2026-03-01")]), "from");
        assert_eq!(field(&[("from", "2026-03-01"), ("to", "2026-3-1")]), "to");
        assert_eq!(field(&[("to", "2026-03-01")]), "from");
        assert_eq!(field(&[("from", "2020-01-01"), ("to", "2026-01-01")]), "from", "over three years");
        assert_eq!(field(&[("days", "0")]), "days");
        assert_eq!(field(&[("days", "5000")]), "days");
        assert_eq!(field(&[("days", "many")]), "days");
        assert_eq!(field(&[("preset", "this_month"), ("from", "2026-03-01")]), "preset");
        assert_eq!(field(&[("days", "7"), ("to", "2026-03-01")]), "days");
        let message = range(&[("preset", "nonsense")]).unwrap_err().to_string();
        assert!(message.contains("last_quarter"), "the choices are listed: {message}");
    }

    #[test]
    fn the_range_with_data_covers_whole_days_and_at_most_three_years() {
        let r = CostRange::covering(at("2026-03-05T10:00:00Z"), at("2026-05-20T23:59:59Z"));
        assert_eq!(r.query_string(), "from=2026-03-05&to=2026-05-20");
        let long = CostRange::covering(at("2001-01-01T00:00:00Z"), at("2026-05-20T10:00:00Z"));
        assert_eq!(long.to_us - long.from_us, MAX_SPAN_DAYS as i64 * DAY_US);
        let q = long.query_string();
        let pairs: Vec<(&str, &str)> = q.split('&').map(|kv| kv.split_once('=').unwrap()).collect();
        assert!(range(&pairs).is_ok(), "the link it makes is accepted");
    }
}
