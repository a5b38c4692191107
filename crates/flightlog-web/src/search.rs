//! The similar-failure search page: from a step ("find similar") or from
//! free text, with the API's filters; each result links to its step.
//! Identical results (the same decision made again and again) are one
//! line, "×5", its copies listed under it ([`identical_hits`]).
//!
//! [`identical_hits`]: crate::identical_hits

use crate::cookie::Reader;
use crate::login::render;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use crate::identical_hits::{self, Group};
use crate::links;
use flightlog_app::search::{SimilarHit, SimilarParams};
use flightlog_app::error::ErrorKind;
use crate::access_log::unrecorded;
use flightlog_app::access_log::{Access, FrontEnd};
use flightlog_app::{AppError, AppState};

/// One result, with the link to its decision page.
pub struct HitView {
    hit: SimilarHit,
    url: String,
}

impl std::ops::Deref for HitView {
    type Target = SimilarHit;
    fn deref(&self) -> &SimilarHit {
        &self.hit
    }
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    csrf: String,
    /// The header's admin links, for admin keys only (readers got a 403).
    admin: bool,
    params: SimilarParams,
    /// Why search is off, when it is.
    unavailable: Option<String>,
    /// A problem with the request, shown above the form.
    problem: Option<String>,
    origin: Option<String>,
    failures_only: bool,
    /// The hits, identical ones grouped.
    results: Vec<Group<HitView>>,
    /// How many hits the search returned (groups hold several).
    hits: usize,
    searched: bool,
    indexer: String,
    /// No token is marked in a hit's text: the index keeps the text, not
    /// which tokens Flightlog put into it, and text an agent wrote to look
    /// like one must not be shown as removed by Flightlog.
    unmarked: crate::redacted::Recorded,
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

pub async fn page(State(state): State<AppState>, Reader { principal, csrf, admin }: Reader, Query(params): Query<SimilarParams>) -> Response {
    let s = state.search.status().snapshot();
    let mut page = SearchPage {
        csrf,
        admin,
        unavailable: state.search.unavailable().map(str::to_string),
        problem: None,
        origin: None,
        failures_only: false,
        results: Vec::new(),
        hits: 0,
        searched: false,
        indexer: format!("{} · {} key decisions not yet indexed", s.state, s.steps_behind),
        unmarked: Default::default(),
        params,
    };
    if page.unavailable.is_some() || !page.params.asks() {
        return render(page);
    }
    let req = match page.params.request(&principal.project) {
        Ok(r) => r,
        Err(e) => {
            page.problem = Some(e.to_string());
            return (StatusCode::BAD_REQUEST, render(page)).into_response();
        }
    };
    match state.similar(req).await {
        Ok(found) => {
            let read = Access::new(&principal, FrontEnd::Web, "GET /search").filter(&page.params).found(&found);
            if let Err(e) = state.record_read(read).await {
                return unrecorded(e);
            }
            page.searched = true;
            page.failures_only = found.failures_only;
            page.origin = found.origin.map(|o| o.text);
            page.hits = found.hits.len();
            let hits = found.hits.into_iter().map(|hit| HitView { url: links::decision(&hit.session_id, hit.step), hit }).collect();
            page.results = identical_hits::group(hits, |h: &HitView| &h.hit);
            render(page)
        }
        Err(e) => {
            tracing::warn!(error = %e, "similar-failure search failed");
            page.problem = Some(e.public_message());
            (status_of(&e), render(page)).into_response()
        }
    }
}

fn status_of(e: &AppError) -> StatusCode {
    match e.kind() {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unavailable | ErrorKind::OverMemoryBudget => StatusCode::SERVICE_UNAVAILABLE,
    }
}
