//! The similar-failure search page: from a step ("find similar") or from
//! free text, with the API's filters; each result links to its step.

use crate::cookie::Reader;
use crate::login::render;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flightlog_api::{AppState, HitView, SimilarParams, similar_request};

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    csrf: String,
    params: SimilarParams,
    /// Why search is off, when it is.
    unavailable: Option<String>,
    /// A problem with the request, shown above the form.
    problem: Option<String>,
    origin: Option<String>,
    failures_only: bool,
    results: Vec<HitView>,
    searched: bool,
    indexer: String,
}

fn value(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

impl SearchPage {
    fn q(&self) -> &str {
        value(&self.params.q)
    }
    fn session_id(&self) -> &str {
        value(&self.params.session_id)
    }
    fn step(&self) -> &str {
        value(&self.params.step)
    }
    fn agent(&self) -> &str {
        value(&self.params.agent)
    }
    fn tool(&self) -> &str {
        value(&self.params.tool)
    }
    fn model(&self) -> &str {
        value(&self.params.model)
    }
    fn from(&self) -> &str {
        value(&self.params.from)
    }
    fn to(&self) -> &str {
        value(&self.params.to)
    }
    fn failures(&self) -> &str {
        value(&self.params.failures)
    }
    fn exclude_session(&self) -> bool {
        self.params.exclude_session.as_deref() == Some("true")
    }
    fn percent(&self, score: &f32) -> String {
        format!("{:.0}%", score * 100.0)
    }
}

pub async fn page(State(state): State<AppState>, Reader { principal, csrf }: Reader, Query(params): Query<SimilarParams>) -> Response {
    let s = state.search.status().snapshot();
    let mut page = SearchPage {
        csrf,
        unavailable: state.search.unavailable().map(str::to_string),
        problem: None,
        origin: None,
        failures_only: false,
        results: Vec::new(),
        searched: false,
        indexer: format!("{} · {} key decisions not yet indexed", s.state, s.steps_behind),
        params,
    };
    let asked = [&page.params.q, &page.params.session_id].iter().any(|v| v.as_deref().is_some_and(|s| !s.trim().is_empty()));
    if page.unavailable.is_some() || !asked {
        return render(page);
    }
    let req = match similar_request(&principal.project, &page.params) {
        Ok(r) => r,
        Err(e) => {
            page.problem = Some(format!("{}{}", e.field.map(|f| format!("{f}: ")).unwrap_or_default(), e.message));
            return (StatusCode::BAD_REQUEST, render(page)).into_response();
        }
    };
    match state.search.similar(&state.store, req).await {
        Ok(outcome) => {
            page.searched = true;
            page.failures_only = outcome.failed_only;
            page.origin = outcome.origin.map(|o| o.decision().text());
            page.results = outcome.hits.into_iter().map(HitView::from).collect();
            render(page)
        }
        Err(e) => {
            let e = flightlog_api::error::ApiError::from(e);
            page.problem = Some(e.message);
            (e.status, render(page)).into_response()
        }
    }
}
