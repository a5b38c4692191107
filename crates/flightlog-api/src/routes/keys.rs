//! Key management (admin scope): create, list, revoke.

use crate::AppState;
use crate::auth::{Authorize, Scope};
use crate::error::ApiError;
use axum::Json;
use crate::extract::Path;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use flightlog_app::keys::NewKey;
use serde_json::{Value, json};

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<NewKey>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let (key, row) = state.create_key(&principal.project, req).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"key": key, "key_id": row.key_id, "project": row.project, "scopes": row.scopes, "name": row.name})),
    ))
}

pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    state.keys.authorize(&headers, Scope::Admin)?;
    let keys: Vec<Value> = state
        .keys
        .list()
        .await?
        .into_iter()
        .map(|k| {
            json!({"key_id": k.key_id, "project": k.project, "scopes": k.scopes, "name": k.name,
                   "created_at": flightlog_model::time::format_timestamp(k.created_ms * 1000), "revoked": k.revoked})
        })
        .collect();
    Ok(Json(json!({ "keys": keys })))
}

pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    state.revoke_key(&key_id, &principal.key_id).await?;
    Ok(Json(json!({"key_id": key_id, "revoked": true})))
}
