//! The access log page (`/access-log`): who read step content in this
//! project, newest first, by session or user. Shown only to a reader whose
//! key has the admin scope (the [`Admin`] extractor); the page itself reads no step content, so it
//! is not recorded. Also [`unrecorded`]: what every content page answers
//! when its read could not be recorded.

use crate::admin::Admin;
use crate::links::{self, encode};
use crate::login::render;
use crate::show::short_time;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flightlog_app::access_log::AccessLogParams;
use flightlog_app::{AppError, AppState};

/// The filter form's fields, as the browser sends them.
#[derive(Clone, Default, serde::Deserialize)]
pub struct Filters {
    #[serde(default)]
    session_id: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    key_id: String,
    #[serde(default)]
    cursor: String,
}

pub struct Row {
    when: String,
    key_id: String,
    front_end: String,
    route: String,
    /// (session id, its page).
    sessions: Vec<(String, String)>,
    users: String,
    /// What a read spanning sessions asked for.
    filter: String,
    items: u64,
    whole_project: bool,
}

#[derive(Template)]
#[template(path = "access_log.html")]
struct AccessLogPage {
    csrf: String,
    project: String,
    f: Filters,
    error: Option<String>,
    reads: Vec<Row>,
    /// Query string of the next page, when there is one.
    next: Option<String>,
}

pub async fn page(State(state): State<AppState>, Admin { principal, csrf }: Admin, Query(f): Query<Filters>) -> Response {
    // As given: a session or user id may start or end with a space.
    let opt = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
    let params = AccessLogParams {
        session_id: opt(&f.session_id),
        user_id: opt(&f.user_id),
        key_id: opt(&f.key_id),
        cursor: opt(&f.cursor),
        ..Default::default()
    };
    let found = match params.filter() {
        Ok(filter) => state.access_log(&principal.project, &filter).await,
        Err(e) => Err(e),
    };
    let (reads, next, error) = match found {
        Ok(page) => {
            let next = page.next_cursor.map(|c| next_query(&f, &c));
            let rows = page
                .reads
                .into_iter()
                .map(|r| Row {
                    when: short_time(r.at_us),
                    sessions: r.sessions.iter().map(|s| (s.clone(), links::session(s))).collect(),
                    users: r.user_ids.join(", "),
                    key_id: r.key_id,
                    front_end: r.front_end,
                    route: r.route,
                    filter: r.filter,
                    items: r.items,
                    whole_project: r.whole_project,
                })
                .collect();
            (rows, next, None)
        }
        Err(e) if matches!(e, AppError::Invalid { .. }) => (Vec::new(), None, Some(e.to_string())),
        Err(e) => {
            tracing::warn!(error = %e, "access log unavailable");
            return (StatusCode::SERVICE_UNAVAILABLE, e.public_message()).into_response();
        }
    };
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    (status, render(AccessLogPage { csrf, project: principal.project, f, error, reads, next })).into_response()
}

/// The filters with the next page's cursor, as a query string.
fn next_query(f: &Filters, cursor: &str) -> String {
    [("session_id", &f.session_id), ("user_id", &f.user_id), ("key_id", &f.key_id)]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .chain([format!("cursor={}", encode(cursor))])
        .collect::<Vec<_>>()
        .join("&")
}

/// A content page whose read could not be recorded: nothing of it is
/// shown (fail closed), the reader is told to retry.
pub fn unrecorded(e: AppError) -> Response {
    tracing::error!(error = %e, "a web read was refused: the access log could not record it");
    (StatusCode::SERVICE_UNAVAILABLE, e.public_message()).into_response()
}
