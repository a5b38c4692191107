//! The web UI: server-rendered pages (askama templates in `web/templates`)
//! served by the same process and state as the HTTP API.
//!
//! Sign-in is an API key with the `read` scope, kept in a cookie that is
//! HttpOnly and SameSite=Strict (and Secure behind TLS). Every piece of
//! agent-supplied text goes through askama's HTML escaping.
//!
//! Pages so far: sign-in; the sessions list (filters, sorting, cursor
//! pages); a session's timeline (paged, jump to the first failure); and the
//! decision ("why") page of one step, with its integrity status and
//! evidence bundle; the cost dashboard; and the similar-failure search,
//! reached from any key decision's "find similar".

mod cookie;
mod costs;
mod decision;
mod login;
mod search;
mod sessions;
mod show;
mod timeline;

use axum::Router;
use axum::routing::{get, post};
use flightlog_api::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(sessions::list))
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
        .with_state(state)
}
