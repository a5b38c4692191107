//! The web UI: server-rendered pages (askama templates in `web/templates`)
//! served by the same process and state as the HTTP API.
//!
//! Sign-in is an API key with the `read` scope, exchanged for a web
//! session ([`web_sessions`]): the cookie holds a random token, never the
//! key. Every form POST is checked against cross-site forgery ([`csrf`]),
//! every response carries a strict Content-Security-Policy and the other
//! security headers ([`headers`]), and every piece of agent-supplied text
//! goes through askama's HTML escaping; ids in links are percent-encoded
//! as whole path segments (`urlencode_strict`).
//!
//! Pages so far: sign-in; the sessions list (filters, sorting, cursor
//! pages); a session's timeline (paged, jump to the first failure); and the
//! decision ("why") page of one step, with its integrity status and
//! evidence bundle; the cost dashboard; the similar-failure search,
//! reached from any key decision's "find similar", identical results shown
//! once; and the incidents the detectors found, with their alert rules.
//!
//! May use: `flightlog-app` and the library crates under it (floor 5). Never
//! the other front ends: `flightlog-api` is a sibling. Page URLs are built
//! here only ([`links`]); the core reaches them through `PageLinks`.

mod access_log;
mod admin;
mod alert_rules;
mod assets;
mod charts;
mod cookie;
mod costs;
mod csrf;
mod decision;
pub mod headers;
mod identical_hits;
mod incident_marks;
mod incidents;
pub mod links;
mod login;
mod overview;
mod policies;
mod redacted;
mod repeats;
mod search;
mod sessions;
mod show;
mod timeline;
mod waterfall;
mod web_sessions;

use axum::Router;
use axum::extract::FromRef;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use flightlog_app::AppState;
use std::sync::Arc;

/// The application's state plus what only the web UI keeps.
#[derive(Clone)]
pub struct WebState {
    pub app: AppState,
    sessions: Arc<web_sessions::WebSessions>,
    sign_in_form: Arc<csrf::SignInForm>,
}

impl FromRef<WebState> for AppState {
    fn from_ref(web: &WebState) -> AppState {
        web.app.clone()
    }
}

pub fn router(state: AppState) -> Router {
    let web = WebState {
        sessions: Arc::new(web_sessions::WebSessions::new(state.store.clone())),
        sign_in_form: Arc::new(csrf::SignInForm::new(state.shared_secret("web sign-in form"))),
        app: state,
    };
    Router::new()
        .route("/", get(overview::page))
        .route("/overview", get(overview::page))
        .route("/sessions", get(sessions::list))
        .route("/costs", get(costs::page))
        .route("/costs/download", get(costs::download))
        .route("/search", get(search::page))
        .route("/sessions/{id}", get(timeline::page))
        .route("/login", get(login::form).post(login::sign_in))
        .route("/logout", post(login::sign_out))
        .route("/sessions/{id}/steps/{step}", get(decision::page))
        .route("/sessions/{id}/steps/{step}/json", get(decision::json))
        .route("/sessions/{id}/evidence", get(decision::evidence))
        .route("/access-log", get(access_log::page))
        // `/policies` and its forms (admin keys), with their own body limit.
        .merge(policies::routes())
        // `/incidents` (readers; its state buttons for admin keys) and
        // `/incidents/alerts` (admin keys).
        .merge(incidents::routes())
        .route("/static/app.css", get(assets::stylesheet))
        .route("/static/print.js", get(assets::print_script))
        // Said in a line, as the pages' other refusals are (it was an
        // empty 405, where the API answers its JSON error).
        .method_not_allowed_fallback(|| async { (StatusCode::METHOD_NOT_ALLOWED, "This page does not take that method: links are GET, forms POST.") })
        .layer(middleware::from_fn(csrf::same_origin))
        .with_state(web)
}

/// Trouble underneath a page: said in a line (a query too big for the
/// memory budget says so, and what to do), the details logged.
fn trouble(e: flightlog_app::AppError) -> Response {
    tracing::warn!(error = %e, "page unavailable");
    (StatusCode::SERVICE_UNAVAILABLE, e.public_message()).into_response()
}

/// The status of a refusal for the caller's input; None for trouble underneath.
fn refusal(e: &flightlog_app::AppError) -> Option<StatusCode> {
    use flightlog_app::error::ErrorKind;
    match e.kind() {
        ErrorKind::Invalid => Some(StatusCode::BAD_REQUEST),
        ErrorKind::NotFound => Some(StatusCode::NOT_FOUND),
        ErrorKind::Conflict => Some(StatusCode::CONFLICT),
        ErrorKind::Unavailable | ErrorKind::OverMemoryBudget => None,
    }
}

/// When the session table cannot be read: an error, not a sign-in loop.
fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "sign-in is unavailable right now (storage error); try again shortly").into_response()
}
