//! The sessions list: filters, sorting, and cursor pages that stay fast
//! however deep (the same query as `GET /v1/sessions`).

use crate::cookie::Reader;
use crate::login::render;
use crate::show::short_time;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flightlog_app::AppState;
use crate::links::encode;
use flightlog_app::sessions::SessionListParams;
use flightlog_model::anomaly::Anomaly;
use flightlog_model::time::parse_timestamp;
use flightlog_store::SessionFilter;
use flightlog_store::sessions::{COST_BUCKETS, STEP_BUCKETS, SessionSpread};
use crate::charts::{self, Columns};

/// The filter form's fields, as the browser sends them.
#[derive(Clone, Default, serde::Deserialize)]
pub struct Filters {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    agent: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    min_cost: String,
    #[serde(default)]
    min_steps: String,
    /// "true": only sessions with an anomaly.
    #[serde(default)]
    flagged: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    cursor: String,
}

pub struct Row {
    id: String,
    started: String,
    steps: u64,
    failed: u64,
    cost: String,
    over_budget: bool,
    /// Badges of its anomalies (repeated side effect, runaway, incidents
    /// the detectors found): label, and for an incident its page.
    anomalies: Vec<(String, Option<String>)>,
    agents: String,
    models: String,
    users: String,
    /// Its steps over its own life, as a sparkline's points.
    spark: String,
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct Sessions {
    csrf: String,
    /// The header's admin links, for admin keys only (readers got a 403).
    admin: bool,
    project: String,
    f: Filters,
    error: Option<String>,
    sessions: Vec<Row>,
    /// Query string of the next page, when there is one.
    next: Option<String>,
    /// Every matching session (all pages) by length and by cost.
    spread: Vec<Columns>,
}

pub async fn list(State(state): State<AppState>, Reader { principal, csrf, admin }: Reader, Query(f): Query<Filters>) -> Response {
    let mut spread = Vec::new();
    // The page is shown under its error too, so the form can be mended;
    // its status says whose mistake it was.
    let (sessions, next, error) = match filter_of(&f) {
        Err(e) => (Vec::new(), None, Some((StatusCode::BAD_REQUEST, e))),
        Ok(filter) => match tokio::join!(state.list_sessions(&principal.project, &filter), state.session_spread(&principal.project, &filter)) {
            (Err(e), _) => {
                let status = crate::refusal(&e).unwrap_or_else(|| {
                    tracing::warn!(error = %e, "session list unavailable");
                    StatusCode::SERVICE_UNAVAILABLE
                });
                (Vec::new(), None, Some((status, e.public_message())))
            }
            (Ok(page), spread_of) => {
                match spread_of {
                    Ok(s) => spread = spread_charts(&f, &s),
                    Err(e) => tracing::warn!(error = %e, "session spread unavailable"),
                }
                let ids: Vec<&str> = page.sessions.iter().map(|s| s.session_id.as_str()).collect();
                let mut sparks = state.sparklines(&principal.project, &ids).await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "sparklines unavailable");
                    Default::default()
                });
                let next = page.next_cursor.map(|c| next_query(&f, &c));
                // Without flags the page still shows the summaries.
                let mut flags = page.flags.unwrap_or_default();
                let rows = page
                    .sessions
                    .into_iter()
                    .map(|s| {
                        let f = flags.remove(&s.session_id);
                        Row {
                            started: short_time(s.first_us),
                            steps: s.steps,
                            failed: s.failed_steps,
                            // Computed from tokens and prices; the client's own
                            // estimate when the flags could not be read.
                            cost: match &f {
                                Some(f) => crate::show::session_cost(f.cost),
                                None => crate::show::usd(s.estimated_cost),
                            },
                            over_budget: f.as_ref().and_then(|f| f.over_budget).unwrap_or(false),
                            anomalies: f
                                .as_ref()
                                .map(|f| f.anomalies.iter().map(|a| (a.label(), incident_link(&s.session_id, a))).collect())
                                .unwrap_or_default(),
                            agents: s.agents.join(", "),
                            models: s.models.join(", "),
                            users: s.users.join(", "),
                            spark: sparks.remove(&s.session_id).map(|v| spark_points(&v)).unwrap_or_default(),
                            id: s.session_id,
                        }
                    })
                    .collect();
                (rows, next, None)
            }
        },
    };
    let status = error.as_ref().map_or(StatusCode::OK, |(status, _)| *status);
    let error = error.map(|(_, message)| message);
    (status, render(Sessions { csrf, admin, project: principal.project, f, error, sessions, next, spread })).into_response()
}

/// The form as the application reads list parameters: blanks are absent,
/// and `<input type="datetime-local">` times (2026-01-15T10:30, no zone)
/// are UTC.
fn filter_of(f: &Filters) -> Result<SessionFilter, String> {
    let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
    // A time without a zone, as the form's inputs send it (to the minute
    // or the second), is UTC; any other text goes on as typed, so that an
    // error quotes what was sent.
    let time = |s: &str| {
        opt(s).map(|s| {
            let utc = if s.len() == 16 { format!("{s}:00Z") } else { format!("{s}Z") };
            match parse_timestamp(&s).is_err() && parse_timestamp(&utc).is_ok() {
                true => utc,
                false => s,
            }
        })
    };
    // Ids as typed: one may start or end with a space, and trimmed it
    // names another.
    let id = |s: &str| (!s.is_empty()).then(|| s.to_string());
    SessionListParams {
        from: time(&f.from),
        to: time(&f.to),
        agent: id(&f.agent),
        user: id(&f.user),
        model: id(&f.model),
        status: opt(&f.status),
        min_cost: opt(&f.min_cost),
        min_steps: opt(&f.min_steps),
        flagged: opt(&f.flagged),
        sort: opt(&f.sort),
        order: None,
        cursor: opt(&f.cursor),
        limit: None,
    }
    .filter()
    .map_err(|e| e.to_string())
}

/// Where an incident badge leads: the session's incidents, that one in view.
fn incident_link(session_id: &str, a: &Anomaly) -> Option<String> {
    match a {
        Anomaly::Incident { id, .. } => Some(format!("/incidents?session_id={}#incident-{}", encode(session_id), encode(id))),
        _ => None,
    }
}

/// A sparkline's points in a 80 × 16 box: steps per slice of the session's life.
fn spark_points(steps: &[u64]) -> String {
    let most = steps.iter().copied().max().unwrap_or(1).max(1) as f64;
    let dx = 80.0 / (steps.len().max(2) - 1) as f64;
    steps.iter().enumerate().map(|(i, n)| format!("{:.1},{:.1}", i as f64 * dx, 15.0 - *n as f64 / most * 14.0)).collect::<Vec<_>>().join(" ")
}

/// The two histograms above the list; each bucket links to the list cut
/// at its lower bound.
fn spread_charts(f: &Filters, s: &SessionSpread) -> Vec<Columns> {
    let step_lows: Vec<u64> = std::iter::once(0).chain(STEP_BUCKETS.iter().map(|b| b + 1)).collect();
    let step_names: Vec<String> = (0..=STEP_BUCKETS.len())
        .map(|i| match (i, STEP_BUCKETS.get(i)) {
            (0, _) => "1".to_string(),
            (_, Some(hi)) if step_lows[i] == *hi => hi.to_string(),
            (_, Some(hi)) => format!("{}–{hi}", step_lows[i]),
            (_, None) => format!(">{}", STEP_BUCKETS[STEP_BUCKETS.len() - 1]),
        })
        .collect();
    let link = |set: &dyn Fn(&mut Filters)| {
        let mut g = f.clone();
        g.cursor.clear();
        set(&mut g);
        format!("/sessions?{}", query(&g).join("&"))
    };
    let steps: Vec<_> = s
        .steps
        .iter()
        .enumerate()
        .map(|(i, n)| (step_names[i].clone(), *n as f64, n.to_string(), link(&|g: &mut Filters| g.min_steps = step_lows[i].max(1).to_string())))
        .collect();
    let cost_lows: Vec<f64> = std::iter::once(0.0).chain(COST_BUCKETS.iter().copied()).collect();
    let cost: Vec<_> = s
        .cost
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let name = match COST_BUCKETS.get(i) {
                Some(hi) => format!("<${hi}"),
                None => format!("≥${}", COST_BUCKETS[COST_BUCKETS.len() - 1]),
            };
            (name, *n as f64, n.to_string(), link(&|g: &mut Filters| g.min_cost = cost_lows[i].to_string()))
        })
        .collect();
    let total = s.steps.iter().sum::<u64>().to_string();
    vec![charts::columns("sessions by length (steps)", "ok", &steps, total.clone()), charts::columns("sessions by estimated cost", "cost", &cost, total)]
}

/// The filters as query pairs (blanks left out, no cursor).
fn query(f: &Filters) -> Vec<String> {
    let pairs = [
        ("from", &f.from),
        ("to", &f.to),
        ("agent", &f.agent),
        ("user", &f.user),
        ("model", &f.model),
        ("status", &f.status),
        ("min_cost", &f.min_cost),
        ("min_steps", &f.min_steps),
        ("flagged", &f.flagged),
        ("sort", &f.sort),
    ];
    pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", encode(v))).collect()
}

/// The same filters with the next page's cursor, as a query string.
fn next_query(f: &Filters, cursor: &str) -> String {
    let mut q = query(f);
    q.push(format!("cursor={}", encode(cursor)));
    q.join("&")
}


