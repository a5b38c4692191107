//! Key management (admin scope): create, list, revoke.

use crate::AppState;
use crate::auth::{Authorize, Scope};
use crate::error::ApiError;
use crate::extract::Path;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use flightlog_app::keys::NewKey;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    /// The secret, shown this once.
    key: String,
    key_id: String,
    project: String,
    scopes: Vec<String>,
    name: String,
}

/// Creates a key for the caller's project or another (admin).
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = NewKey,
    responses((status = 201, body = CreatedKey)), security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: crate::extract::JsonObject<NewKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    let req = crate::extract::json_body(body)?;
    let (key, row) = state.create_key(&principal.project, req).await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { key, key_id: row.key_id, project: row.project, scopes: row.scopes, name: row.name })))
}

/// A key as listed: never its secret.
#[derive(Serialize, ToSchema)]
pub struct KeyView {
    key_id: String,
    project: String,
    scopes: Vec<String>,
    name: String,
    created_at: String,
    revoked: bool,
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    keys: Vec<KeyView>,
}

/// Every key (admin).
#[utoipa::path(get, path = "/v1/keys", tag = "keys", responses((status = 200, body = KeyList)),
    security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<KeyList>, ApiError> {
    state.keys.authorize(&headers, Scope::Admin)?;
    let keys = state
        .keys
        .list()
        .await?
        .into_iter()
        .map(|k| KeyView {
            created_at: flightlog_model::time::format_timestamp(k.created_ms * 1000),
            key_id: k.key_id,
            project: k.project,
            scopes: k.scopes,
            name: k.name,
            revoked: k.revoked,
        })
        .collect();
    Ok(Json(KeyList { keys }))
}

#[derive(Serialize, ToSchema)]
pub struct Revoked {
    key_id: String,
    /// Always true.
    revoked: bool,
}

/// Revokes a key (admin); it stops working at once.
#[utoipa::path(delete, path = "/v1/keys/{key_id}", tag = "keys", params(("key_id" = String, Path)),
    responses((status = 200, body = Revoked)), security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key_id): Path<String>,
) -> Result<Json<Revoked>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    state.revoke_key(&key_id, &principal.key_id).await?;
    Ok(Json(Revoked { key_id, revoked: true }))
}
