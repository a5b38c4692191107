//! The cost dashboard: cost over time stacked by model (an SVG drawn from
//! numbers only; every label goes through askama's escaping), cost by agent
//! and by user, the top sessions, unpriced models, sessions over budget, and
//! downloads of what is shown, all over one range: a finance preset (this
//! month, last quarter, ...), any from/to dates, or the last N days.

use crate::cookie::Reader;
use crate::login::render;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use flightlog_app::AppState;
use flightlog_app::costs::{CostParams, CostRange, CostRangeParams, Preset, cost_file};
use flightlog_export::Format;
use flightlog_store::{CostDimension, CostQuery, CostRow};
use std::collections::BTreeMap;

const PALETTE: [&str; 8] = ["#2557d6", "#1b7f3b", "#b42318", "#9a6700", "#7a3fd1", "#0e7490", "#c2410c", "#52606d"];
const CHART_W: f64 = 760.0;
const CHART_H: f64 = 220.0;

/// The last-N-days choices offered next to the presets.
const LAST_DAYS: [u32; 5] = [1, 7, 30, 90, 365];

/// A range the page links to; `current` when it is the one shown.
pub struct Choice {
    label: String,
    query: String,
    current: bool,
}

/// What the page says when the range holds no step.
pub struct Empty {
    /// The range holding the project's steps, in words, and its query
    /// string; None when the project has no step at all.
    with_data: Option<(String, String)>,
}

pub struct Bar {
    x: String,
    y: String,
    w: String,
    h: String,
    color: &'static str,
    label: String,
}

pub struct Share {
    name: String,
    cost: String,
    percent: String,
}

#[derive(Template, Default)]
#[template(path = "costs.html")]
struct Dashboard {
    csrf: String,
    /// The header's admin links, for admin keys only (readers got a 403).
    admin: bool,
    /// Whose costs: the reader's project, named in the header as every
    /// other page names it.
    project: String,
    /// The range in words, and the query string every link carries.
    range_words: String,
    range_query: String,
    /// The date inputs' values: the range's first and last day.
    from_value: String,
    to_value: String,
    choices: Vec<Choice>,
    /// Why no range could be shown (the input at fault).
    problem: Option<String>,
    empty: Option<Empty>,
    steps: u64,
    total: String,
    reported: String,
    bars: Vec<Bar>,
    legend: Vec<(String, &'static str)>,
    first_day: String,
    last_day: String,
    peak: String,
    agents: Vec<Share>,
    users: Vec<Share>,
    top_sessions: Vec<(String, String, u64)>,
    unpriced: Vec<(String, u64)>,
    over_budget: Vec<(String, String)>,
}


/// The row's value of a dimension ("" when absent).
fn text(r: &CostRow, d: CostDimension) -> String {
    r.value_of(d).unwrap_or("").to_string()
}

fn shares(rows: &[CostRow], d: CostDimension, total: f64) -> Vec<Share> {
    rows.iter()
        .take(10)
        .map(|r| Share {
            name: if text(r, d).is_empty() { "(none)".into() } else { text(r, d) },
            cost: crate::show::usd(r.cost.as_f64()),
            percent: format!("{:.1}", if total > 0.0 { 100.0 * r.cost.as_f64() / total } else { 0.0 }),
        })
        .collect()
}

/// The presets, then the last-N-days choices, marking the one shown.
fn choices(shown: &str) -> Vec<Choice> {
    let presets = Preset::ALL.iter().map(|p| (p.words().to_string(), format!("preset={}", p.name())));
    let days = LAST_DAYS.iter().map(|n| (if *n == 1 { "last day".into() } else { format!("last {n} days") }, format!("days={n}")));
    presets.chain(days).map(|(label, query)| Choice { current: query == shown, label, query }).collect()
}

/// The page's frame around a range: its words, links and date inputs.
fn framed(csrf: String, admin: bool, project: &str, range: &CostRange) -> Dashboard {
    let query = range.query_string();
    Dashboard {
        csrf,
        admin,
        project: project.to_string(),
        range_words: range.words(),
        from_value: range.first_day(),
        to_value: range.last_day(),
        choices: choices(&query),
        range_query: query,
        ..Default::default()
    }
}

pub async fn page(State(state): State<AppState>, Reader { principal, csrf, admin }: Reader, Query(asked): Query<CostRangeParams>) -> Response {
    let range = match asked.range(flightlog_model::time::now_us()) {
        Ok(r) => r,
        Err(e) => {
            // The form stays usable (on the default range) under the message.
            let shown = CostRange::last_days(flightlog_app::costs::DEFAULT_DAYS, flightlog_model::time::now_us());
            let page = Dashboard { problem: Some(e.public_message()), ..framed(csrf, admin, &principal.project, &shown) };
            return (axum::http::StatusCode::BAD_REQUEST, render(page)).into_response();
        }
    };
    let base = range.query();
    let project = &principal.project;
    let query = |group_by: Vec<CostDimension>, limit: u32| CostQuery { group_by, limit, ..base.clone() };
    // The six groupings are asked for at the same time: the engine's read
    // connections take them side by side.
    let asked = [
        query(vec![CostDimension::Day, CostDimension::Model], 10_000),
        query(vec![CostDimension::Agent], 10),
        query(vec![CostDimension::User], 10),
        query(vec![CostDimension::Session], 10),
        query(vec![], 1),
        query(vec![CostDimension::Model], 1000),
    ];
    let (by_day_model, by_agent, by_user, by_session, totals, by_model) = match tokio::join!(
        state.cost_groups(project, &asked[0]),
        state.cost_groups(project, &asked[1]),
        state.cost_groups(project, &asked[2]),
        state.cost_groups(project, &asked[3]),
        state.cost_groups(project, &asked[4]),
        state.cost_groups(project, &asked[5]),
    ) {
        (Ok(a), Ok(b), Ok(c), Ok(d), Ok(e), Ok(f)) => (a.rows, b.rows, c.rows, d.rows, e.rows, f.rows),
        (a, b, c, d, e, f) => {
            let first = a.err().or(b.err()).or(c.err()).or(d.err()).or(e.err()).or(f.err());
            return crate::trouble(first.expect("one of them failed"));
        }
    };
    let total = totals.first().map_or(0.0, |t| t.cost.as_f64());
    let steps = totals.first().map_or(0, |t| t.steps);
    // Only an empty range asks where the steps are (a scan: see the query).
    let empty = if steps > 0 {
        None
    } else {
        match state.cost_data_extent(project).await {
            Ok(extent) => Some(Empty { with_data: extent.map(|r| (r.words(), r.query_string())) }),
            Err(e) => return crate::trouble(e),
        }
    };

    // Cost over time, stacked by model: models ordered by their total, days in order.
    let mut models: Vec<(String, f64)> = by_model.iter().map(|r| (text(r, CostDimension::Model), r.cost.as_f64())).collect();
    models.sort_by(|a, b| b.1.total_cmp(&a.1));
    let color_of = |m: &str| PALETTE[models.iter().position(|(n, _)| n == m).unwrap_or(0) % PALETTE.len()];
    let mut per_day: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for r in &by_day_model {
        per_day.entry(text(r, CostDimension::Day)).or_default().push((text(r, CostDimension::Model), r.cost.as_f64()));
    }
    let peak = per_day.values().map(|v| v.iter().map(|(_, c)| c).sum::<f64>()).fold(0.0, f64::max);
    let slot = CHART_W / per_day.len().max(1) as f64;
    let mut bars = Vec::new();
    for (i, (day, costs)) in per_day.iter().enumerate() {
        let mut y = CHART_H;
        let mut ordered = costs.clone();
        ordered.sort_by_key(|(m, _)| models.iter().position(|(n, _)| n == m));
        for (model, cost) in ordered {
            let h = if peak > 0.0 { cost / peak * CHART_H } else { 0.0 };
            y -= h;
            bars.push(Bar {
                x: format!("{:.1}", i as f64 * slot + slot * 0.1),
                y: format!("{y:.1}"),
                w: format!("{:.1}", slot * 0.8),
                h: format!("{h:.1}"),
                color: color_of(&model),
                label: format!("{day} · {model}: {}", crate::show::usd(cost)),
            });
        }
    }

    // The sessions over their budget, dearest first; a failed read is
    // logged, and the rest of the page shown.
    let over_budget = match state.over_budget_sessions(project, 100).await {
        Ok(over) => over.into_iter().map(|(id, c)| (id, crate::show::usd(c))).collect(),
        Err(e) => {
            tracing::warn!(project, error = %e, "the sessions over their budget could not be read");
            Vec::new()
        }
    };

    render(Dashboard {
        steps,
        empty,
        total: crate::show::usd(total),
        reported: crate::show::usd(totals.first().map_or(0.0, |t| t.reported_cost.as_f64())),
        first_day: per_day.keys().next().cloned().unwrap_or_default(),
        last_day: per_day.keys().last().cloned().unwrap_or_default(),
        peak: crate::show::usd(peak),
        bars,
        legend: models.iter().take(PALETTE.len()).map(|(m, _)| (m.clone(), color_of(m))).collect(),
        agents: shares(&by_agent, CostDimension::Agent, total),
        users: shares(&by_user, CostDimension::User, total),
        top_sessions: by_session
            .iter()
            .map(|r| (text(r, CostDimension::Session), crate::show::usd(r.cost.as_f64()), r.steps))
            .collect(),
        unpriced: by_model.iter().filter(|r| r.unpriced_steps > 0).map(|r| (text(r, CostDimension::Model), r.unpriced_steps)).collect(),
        over_budget,
        ..framed(csrf, admin, project, &range)
    })
}

#[derive(serde::Deserialize)]
pub struct Download {
    format: String,
    #[serde(default)]
    group_by: Option<String>,
    #[serde(default)]
    preset: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    days: Option<String>,
}

/// What the dashboard shows, as a file (cookie auth, like the page): the
/// same range parsed the same way, its days in the file's name.
pub async fn download(State(state): State<AppState>, Reader { principal, .. }: Reader, Query(d): Query<Download>) -> Response {
    let bad = |message: String| (axum::http::StatusCode::BAD_REQUEST, message).into_response();
    let Some(format) = Format::parse(&d.format) else {
        return bad("format must be csv, arrow or parquet".into());
    };
    let asked = CostParams { group_by: Some(d.group_by.unwrap_or_else(|| "day,model".into())), ..Default::default() };
    let group_by = match asked.query() {
        Ok(q) => q.group_by,
        Err(e) => return bad(e.to_string()),
    };
    let range = CostRangeParams { preset: d.preset, from: d.from, to: d.to, days: d.days };
    let range = match range.range(flightlog_model::time::now_us()) {
        Ok(r) => r,
        Err(e) => return bad(e.public_message()),
    };
    let q = CostQuery { group_by: group_by.clone(), ..range.query() };
    let groups = match state.cost_groups(&principal.project, &q).await {
        Ok(groups) => groups,
        Err(e) => return crate::trouble(e),
    };
    // A file cut short would say nothing of it: said here instead.
    if groups.more {
        return bad(format!(
            "more than {} groups match: narrow the range or group by less (a file of the first {} would leave the rest out)",
            q.limit, q.limit
        ));
    }
    match cost_file(format, &group_by, &groups.rows) {
        Ok(bytes) => {
            // Dates and digits only: nothing to quote in the header.
            let disposition =
                format!("attachment; filename=\"flightlog-costs-{}_{}.{}\"", range.first_day(), range.last_day(), format.extension());
            ([(header::CONTENT_TYPE, format.content_type().to_string()), (header::CONTENT_DISPOSITION, disposition)], bytes)
                .into_response()
        }
        Err(e) => crate::trouble(e),
    }
}
