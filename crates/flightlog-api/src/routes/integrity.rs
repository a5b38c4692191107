//! Tamper evidence: verification reports, evidence bundles, checkpoints.

use crate::AppState;
use crate::auth::{Authorize, Scope};
use crate::error::ApiError;
use crate::extract::{Path, Query};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flightlog_app::integrity::{ErasureRequest, evidence_file_name};
use flightlog_integrity::verify;
use flightlog_model::time::format_timestamp;
use serde_json::{Value, json};

pub async fn verify_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<verify::Report>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    Ok(Json(state.verify_session(&principal.project, &id).await?))
}

pub async fn verify_all(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<verify::Report>, ApiError> {
    state.keys.authorize(&headers, Scope::Admin)?;
    Ok(Json(state.verify_all().await?))
}

pub async fn evidence(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    let file = state.evidence(&principal.project, &id).await?;
    let name = format!("attachment; filename=\"{}\"", evidence_file_name(&id));
    Ok(([(header::CONTENT_TYPE, "application/json".to_string()), (header::CONTENT_DISPOSITION, name)], file).into_response())
}

pub async fn public_key(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"algorithm": "ed25519", "public_key": state.checkpointer.public_key_hex()}))
}

pub async fn checkpoints(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    state.keys.authorize(&headers, Scope::Read)?;
    let list: Vec<Value> = state
        .checkpoints()
        .await?
        .into_iter()
        .map(|c| {
            json!({"tree_size": c.tree_size, "root_hash": hex::encode(c.root_hash), "created_at": format_timestamp(c.created_us),
                   "created_us": c.created_us, "public_key": c.public_key, "signature": c.signature})
        })
        .collect();
    Ok(Json(json!({ "checkpoints": list })))
}

pub async fn seal(State(state): State<AppState>, headers: HeaderMap) -> Result<(StatusCode, Json<Value>), ApiError> {
    state.keys.authorize(&headers, Scope::Admin)?;
    Ok(match state.seal().await? {
        Some(c) => (
            StatusCode::CREATED,
            Json(json!({"tree_size": c.tree_size, "root_hash": hex::encode(c.root_hash), "created_at": format_timestamp(c.created_us)})),
        ),
        None => (StatusCode::OK, Json(json!({"sealed": false, "reason": "no new steps since the last checkpoint"}))),
    })
}

pub async fn erase(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<ErasureRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let done = state.erase(&principal.project, &req, &principal.key_id).await?;
    Ok(Json(json!(done)))
}

#[derive(serde::Deserialize)]
pub struct ConsistencyParams {
    from: Option<String>,
    to: Option<String>,
}

pub async fn consistency(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ConsistencyParams>,
) -> Result<Json<Value>, ApiError> {
    state.keys.authorize(&headers, Scope::Read)?;
    let c = state.consistency(q.from.as_deref(), q.to.as_deref()).await?;
    Ok(Json(json!({
        "from": {"tree_size": c.older.tree_size, "root_hash": hex::encode(c.older.root_hash)},
        "to": {"tree_size": c.newer.tree_size, "root_hash": hex::encode(c.newer.root_hash)},
        "proof": c.proof.iter().map(hex::encode).collect::<Vec<_>>(),
    })))
}
