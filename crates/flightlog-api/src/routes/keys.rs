//! Key management (admin scope): create, list, revoke.

use crate::AppState;
use crate::auth::{Authorize, Scope};
use crate::error::ApiError;
use axum::Json;
use crate::extract::Path;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
pub struct CreateKey {
    /// Defaults to the caller's project.
    project: Option<String>,
    scopes: Vec<String>,
    #[serde(default)]
    name: String,
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<CreateKey>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let project = req.project.unwrap_or(principal.project);
    if project.is_empty() || project.len() > 64 || !project.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(ApiError::bad_param("project", "must be 1-64 characters of letters, digits, '-', '_' or '.'"));
    }
    if req.scopes.is_empty() {
        return Err(ApiError::bad_param("scopes", "must list at least one of ingest, read, admin"));
    }
    let scopes = req
        .scopes
        .iter()
        .map(|s| Scope::parse(s).ok_or_else(|| ApiError::bad_param("scopes", format!("unknown scope {s:?}; use ingest, read or admin"))))
        .collect::<Result<Vec<_>, _>>()?;
    if req.name.len() > 256 {
        return Err(ApiError::bad_param("name", "is longer than 256 bytes"));
    }
    let (key, row) = state.keys.create(&project, &scopes, &req.name).await?;
    tracing::info!(key_id = %row.key_id, project = %row.project, scopes = ?row.scopes, "API key created");
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
    if !state.keys.revoke(&key_id).await? {
        return Err(ApiError::not_found(format!("no key with id {key_id:?}")));
    }
    tracing::info!(key_id = %key_id, by = %principal.key_id, "API key revoked");
    Ok(Json(json!({"key_id": key_id, "revoked": true})))
}
