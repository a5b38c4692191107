//! The overview, the page after sign-in: a chosen range of days in four
//! small charts (sessions, steps, failed steps, exact cost per day), each
//! day a link to the sessions behind it; the tools and agents that fail
//! most; the newest flagged sessions.

use crate::charts::{self, Columns};
use crate::cookie::Reader;
use crate::links::encode;
use crate::login::render;
use crate::show::short_time;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flightlog_app::AppState;
use flightlog_app::error::ErrorKind;
use flightlog_app::overview::{Overview, RANGES};
use flightlog_store::CostRow;
use flightlog_store::overview::Failing;

const DAY_US: i64 = 86_400_000_000;

#[derive(serde::Deserialize)]
pub struct Range {
    days: Option<String>,
}

pub struct Ranked {
    name: String,
    failed: u64,
    runs: u64,
    percent: u64,
    href: String,
}

pub struct Flagged {
    id: String,
    href: String,
    started: String,
    what: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct Page {
    csrf: String,
    /// The header's admin links, for admin keys only (readers got a 403).
    admin: bool,
    days: u32,
    ranges: Vec<u32>,
    charts: Vec<Columns>,
    tools: Vec<Ranked>,
    agents: Vec<Ranked>,
    flagged: Vec<Flagged>,
    flags_error: Option<String>,
}

pub async fn page(State(state): State<AppState>, Reader { principal, csrf, admin }: Reader, Query(range): Query<Range>) -> Response {
    let overview = match state.overview(&principal.project, range.days.as_deref()).await {
        Ok(o) => o,
        Err(e) if e.kind() == ErrorKind::Invalid => return (StatusCode::BAD_REQUEST, e.public_message()).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "overview unavailable");
            return (StatusCode::SERVICE_UNAVAILABLE, e.public_message()).into_response();
        }
    };
    let flags_error = overview.flagged.flags.as_ref().err().map(|e| e.public_message());
    let flags = overview.flagged.flags.as_ref().ok();
    let flagged = overview
        .flagged
        .sessions
        .iter()
        .map(|s| Flagged {
            id: s.session_id.clone(),
            href: crate::links::session(&s.session_id),
            started: short_time(s.first_us),
            what: flags
                .and_then(|f| f.get(&s.session_id))
                .map(|f| f.anomalies.iter().map(|a| a.label()).collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
        })
        .collect();
    let since = &day_of(overview.from_us);
    render(Page {
        csrf,
        admin,
        days: overview.days,
        ranges: RANGES.to_vec(),
        charts: day_charts(&overview),
        tools: ranked(&overview.failing_tools, |_| String::new()),
        agents: ranked(&overview.failing_agents, |a| format!("/sessions?agent={}&status=failed&from={since}T00:00", encode(a))),
        flagged,
        flags_error,
    })
}

fn day_of(us: i64) -> String {
    flightlog_model::time::format_timestamp(us).get(..10).unwrap_or_default().to_string()
}

/// Every day of the range, those without a step as zeros.
fn day_charts(o: &Overview) -> Vec<Columns> {
    let mut day = o.from_us - o.from_us.rem_euclid(DAY_US);
    let mut days: Vec<(String, Option<&CostRow>)> = Vec::new();
    while day <= o.to_us {
        let name = day_of(day);
        let row = o.by_day.iter().find(|r| r.group.first().is_some_and(|g| g.1 == name));
        days.push((name, row));
        day += DAY_US;
    }
    let link = |day: &str, extra: &str| {
        let next = day_of(flightlog_model::time::parse_timestamp(&format!("{day}T00:00:00Z")).unwrap_or(0) + DAY_US);
        format!("/sessions?from={day}T00:00&to={next}T00:00{extra}")
    };
    // The total under each chart is its days' sum, but for sessions: one
    // that runs over midnight counts in both days.
    let series = |name: &str, class: &str, extra: &str, value: &dyn Fn(&CostRow) -> f64, shown: &dyn Fn(f64) -> String, total: Option<f64>| {
        let points: Vec<_> = days
            .iter()
            .map(|(day, row)| {
                let v = row.map_or(0.0, value);
                (day.clone(), v, shown(v), link(day, extra))
            })
            .collect();
        let total = shown(total.unwrap_or_else(|| points.iter().map(|p| p.1).sum()));
        charts::columns(name, class, &points, total)
    };
    let count = |v: f64| format!("{v:.0}");
    vec![
        series("sessions", "ok", "", &|r| r.sessions as f64, &count, Some(o.sessions as f64)),
        series("steps", "ok", "", &|r| r.steps as f64, &count, None),
        series("failed steps", "failed", "&status=failed", &|r| r.failed_steps as f64, &count, None),
        series("cost (USD)", "cost", "", &|r| r.cost.as_f64(), &|v| format!("${v:.2}"), None),
    ]
}

fn ranked(rows: &[Failing], href: impl Fn(&str) -> String) -> Vec<Ranked> {
    let most = rows.iter().map(|r| r.failed).max().unwrap_or(1).max(1);
    rows.iter()
        .map(|r| Ranked { name: r.name.clone(), failed: r.failed, runs: r.runs, percent: r.failed * 100 / most, href: href(&r.name) })
        .collect()
}
