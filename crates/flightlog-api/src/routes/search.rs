//! `GET /v1/search/similar`: key decisions like a given step, or like a
//! free text, nearest first.

use crate::AppState;
use crate::auth::{Authorize, Scope};
use crate::error::ApiError;
use crate::extract::ListedQuery;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use flightlog_app::access_log::{Access, FrontEnd};
use flightlog_app::search::{SearchOrigin, Similar, SimilarHit, SimilarParams};
use serde::Serialize;
use utoipa::ToSchema;

/// One result as the API shows it: with its decision page in the web UI.
#[derive(Serialize, ToSchema)]
pub struct HitView {
    #[serde(flatten)]
    hit: SimilarHit,
    /// The decision page in the web UI.
    url: String,
}

#[derive(Serialize, ToSchema)]
pub struct SimilarResponse {
    failures_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: Option<SearchOrigin>,
    results: Vec<HitView>,
}

/// Key decisions like a step (`session_id` and `step`) or like a text
/// (`q`), nearest first.
#[utoipa::path(get, path = "/v1/search/similar", tag = "search", params(SimilarParams),
    responses((status = 200, body = SimilarResponse),
        (status = 404, description = "No such decision to search from", body = crate::error::ErrorBody),
        (status = 503, description = "Search is off or unavailable", body = crate::error::ErrorBody)), security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn similar(
    State(state): State<AppState>,
    headers: HeaderMap,
    ListedQuery(p): ListedQuery<SimilarParams>,
) -> Result<Json<SimilarResponse>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    let found = state.similar(p.request(&principal.project)?).await?;
    state.record_read(Access::new(&principal, FrontEnd::Api, "GET /v1/search/similar").filter(&p).found(&found)).await?;
    let Similar { failures_only, origin, hits, .. } = found;
    let results = hits
        .into_iter()
        .map(|hit| HitView { url: state.links.decision(&hit.session_id, hit.step), hit })
        .collect();
    Ok(Json(SimilarResponse { failures_only, origin, results }))
}
