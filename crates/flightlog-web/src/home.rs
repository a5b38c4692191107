use crate::cookie;
use crate::login::render;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use flightlog_api::AppState;
use flightlog_model::time::format_timestamp;
use flightlog_store::SessionFilter;

pub struct Row {
    id: String,
    started: String,
    steps: u64,
    failed: u64,
    cost: String,
    agents: String,
    models: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    project: String,
    sessions: Vec<Row>,
}

/// The most recent sessions, each linking to its first decision.
pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (principal, _) = match cookie::reader(&state, &headers) {
        Ok(p) => p,
        Err(redirect) => return redirect,
    };
    let page = state.store.list_sessions(&principal.project, &SessionFilter { limit: 50, ..Default::default() }).await;
    let sessions = page
        .map(|p| p.sessions)
        .unwrap_or_default()
        .into_iter()
        .map(|s| Row {
            started: format_timestamp(s.first_us),
            steps: s.steps,
            failed: s.failed_steps,
            cost: format!("${:.4}", s.estimated_cost),
            agents: s.agents.join(", "),
            models: s.models.join(", "),
            id: s.session_id,
        })
        .collect();
    render(Home { project: principal.project, sessions })
}
