//! `GET /v1/access-log` (admin): who read which step content, newest
//! first, in the caller's project. There is no route that changes it.

use crate::AppState;
use crate::auth::{Authorize, Scope};
use crate::error::ApiError;
use crate::extract::ListedQuery;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use flightlog_app::access_log::{AccessLogParams, FrontEnd};
use flightlog_model::time::format_timestamp;
use flightlog_store::AccessRow;
use serde::Serialize;
use utoipa::ToSchema;

/// One read of step content.
#[derive(Serialize, ToSchema)]
pub struct ReadView {
    /// Names this read.
    read_id: String,
    /// When (RFC 3339, to the microsecond).
    at: String,
    at_us: i64,
    /// The API key that read.
    key_id: String,
    front_end: FrontEnd,
    /// The route template (`GET /v1/sessions/{id}/steps`), or the MCP tool.
    route: String,
    /// The one session read; absent when the read spanned sessions.
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<String>,
    /// What a read spanning sessions asked for (JSON text).
    #[serde(skip_serializing_if = "Option::is_none")]
    filter: Option<String>,
    /// The user the read filtered on, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    /// The sessions whose content was returned, as far as known.
    sessions: Vec<String>,
    /// The users whose steps were returned, as far as known.
    user_ids: Vec<String>,
    /// Steps or hits returned.
    items: u64,
    /// A read of the project's steps by time (an export): it names no
    /// session and may hold any.
    whole_project: bool,
}

fn some(s: String) -> Option<String> {
    Some(s).filter(|s| !s.is_empty())
}

impl From<AccessRow> for ReadView {
    fn from(r: AccessRow) -> Self {
        Self {
            at: format_timestamp(r.at_us),
            at_us: r.at_us,
            read_id: r.read_id,
            key_id: r.key_id,
            // Only this server writes the column, from the same enum.
            front_end: FrontEnd::parse(&r.front_end).unwrap_or(FrontEnd::Api),
            route: r.route,
            session_id: some(r.session_id),
            filter: some(r.filter),
            user_id: some(r.user_id),
            sessions: r.sessions,
            user_ids: r.user_ids,
            items: r.items,
            whole_project: r.whole_project,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AccessLogPage {
    reads: Vec<ReadView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// Who read step content in this project, newest first (admin).
#[utoipa::path(get, path = "/v1/access-log", tag = "access", params(AccessLogParams), responses((status = 200, body = AccessLogPage)),
    security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    ListedQuery(p): ListedQuery<AccessLogParams>,
) -> Result<Json<AccessLogPage>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    let page = state.access_log(&principal.project, &p.filter()?).await?;
    Ok(Json(AccessLogPage { reads: page.reads.into_iter().map(ReadView::from).collect(), next_cursor: page.next_cursor }))
}
