//! The sessions list: filters, sorting, and cursor pages that stay fast
//! however deep (the same query as `GET /v1/sessions`).

use crate::cookie::Reader;
use crate::login::render;
use crate::show::short_time;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use flightlog_app::AppState;
use crate::links::encode;
use flightlog_app::sessions::SessionListParams;
use flightlog_store::SessionFilter;

/// The filter form's fields, as the browser sends them.
#[derive(Default, serde::Deserialize)]
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
    /// Badge labels of its anomalies (repeated side effect, runaway).
    anomalies: Vec<String>,
    agents: String,
    models: String,
    users: String,
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct Sessions {
    csrf: String,
    project: String,
    f: Filters,
    error: Option<String>,
    sessions: Vec<Row>,
    /// Query string of the next page, when there is one.
    next: Option<String>,
}

pub async fn list(State(state): State<AppState>, Reader { principal, csrf }: Reader, Query(f): Query<Filters>) -> Response {
    let (sessions, next, error) = match filter_of(&f) {
        Err(e) => (Vec::new(), None, Some(e)),
        Ok(filter) => match state.list_sessions(&principal.project, &filter).await {
            Err(e) => (Vec::new(), None, Some(e.to_string())),
            Ok(page) => {
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
                            cost: format!("${:.4}", f.as_ref().map_or(s.estimated_cost, |f| f.cost)),
                            over_budget: f.as_ref().and_then(|f| f.over_budget).unwrap_or(false),
                            anomalies: f
                                .as_ref()
                                .map(|f| f.anomalies.iter().map(|a| a.label()).collect())
                                .unwrap_or_default(),
                            agents: s.agents.join(", "),
                            models: s.models.join(", "),
                            users: s.users.join(", "),
                            id: s.session_id,
                        }
                    })
                    .collect();
                (rows, next, None)
            }
        },
    };
    render(Sessions { csrf, project: principal.project, f, error, sessions, next })
}

/// The form as the application reads list parameters: blanks are absent,
/// and `<input type="datetime-local">` times (2026-01-15T10:30, no zone)
/// are UTC.
fn filter_of(f: &Filters) -> Result<SessionFilter, String> {
    let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
    let time = |s: &str| {
        opt(s).map(|s| {
            if s.len() == 16 {
                format!("{s}:00Z")
            } else if s.ends_with('Z') || s.contains('+') {
                s
            } else {
                format!("{s}Z")
            }
        })
    };
    SessionListParams {
        from: time(&f.from),
        to: time(&f.to),
        agent: opt(&f.agent),
        user: opt(&f.user),
        model: opt(&f.model),
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

/// The same filters with the next page's cursor, as a query string.
fn next_query(f: &Filters, cursor: &str) -> String {
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
    let mut q: Vec<String> =
        pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", encode(v))).collect();
    q.push(format!("cursor={}", encode(cursor)));
    q.join("&")
}


