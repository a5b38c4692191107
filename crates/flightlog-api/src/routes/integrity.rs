//! Tamper evidence: verification reports, evidence bundles, checkpoints.

use crate::AppState;
use crate::auth::Scope;
use crate::error::ApiError;
use axum::Json;
use crate::extract::Path;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flightlog_model::time::format_timestamp;
use flightlog_integrity::{bundle, verify};
use serde_json::{Value, json};

pub async fn verify_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<verify::Report>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    verify::verify_session(&state.store, &principal.project, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no session {id:?} in this project")))
}

/// The whole store: every project's steps, so admin only.
pub async fn verify_all(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<verify::Report>, ApiError> {
    state.keys.authorize(&headers, Scope::Admin)?;
    Ok(Json(verify::verify_all(&state.store).await?))
}

pub async fn evidence(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    let file = bundle::export(&state.store, &principal.project, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no session {id:?} in this project")))?;
    let name = format!("attachment; filename=\"evidence-{}.json\"", id.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_', "_"));
    Ok(([(header::CONTENT_TYPE, "application/json".to_string()), (header::CONTENT_DISPOSITION, name)], file).into_response())
}

/// Public: anyone checking a bundle needs the key to pin.
pub async fn public_key(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"algorithm": "ed25519", "public_key": state.checkpointer.public_key_hex()}))
}

pub async fn checkpoints(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    state.keys.authorize(&headers, Scope::Read)?;
    let list: Vec<Value> = state
        .store
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

/// Signs a checkpoint now (they are also signed at an interval and on
/// shutdown). 201 with the checkpoint, or 200 when the log has not grown.
pub async fn seal(State(state): State<AppState>, headers: HeaderMap) -> Result<(StatusCode, Json<Value>), ApiError> {
    state.keys.authorize(&headers, Scope::Admin)?;
    Ok(match state.checkpointer.seal().await? {
        Some(c) => (
            StatusCode::CREATED,
            Json(json!({"tree_size": c.tree_size, "root_hash": hex::encode(c.root_hash), "created_at": format_timestamp(c.created_us)})),
        ),
        None => (StatusCode::OK, Json(json!({"sealed": false, "reason": "no new steps since the last checkpoint"}))),
    })
}

#[derive(serde::Deserialize)]
pub struct EraseRequest {
    #[serde(default)]
    session_id: String,
    #[serde(default)]
    user_id: String,
}

/// GDPR erasure of personal content (prompt, completion, tool params and
/// results) in the caller's project: a session, a user's steps, or both.
/// Proofs stay valid; verification reports the fields as erased.
pub async fn erase(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<EraseRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if req.session_id.is_empty() && req.user_id.is_empty() {
        return Err(ApiError::bad_param("session_id", "give session_id, user_id or both: what is to be erased"));
    }
    let done = state.store.erase(&principal.project, &req.session_id, &req.user_id).await?;
    tracing::info!(project = %principal.project, session = %req.session_id, user = %req.user_id,
                   steps = done.steps_erased, by = %principal.key_id, "personal content erased");
    // The index holds a snippet of each key decision: drop those points too.
    if let Some(index) = state.search.index() {
        let ids = done.steps.iter().map(|(s, n)| flightlog_index::point_id(&principal.project, s, *n)).collect::<Vec<_>>();
        if !ids.is_empty() {
            index.delete(ids).await.map_err(|e| ApiError::unavailable("erased in storage, but the vector index failed; retry", e))?;
        }
    }
    Ok(Json(json!(done)))
}

#[derive(serde::Deserialize)]
pub struct ConsistencyParams {
    from: Option<String>,
    to: Option<String>,
}

/// The RFC 6962 consistency proof that the signed checkpoint of size `to`
/// extends the one of size `from`: anyone holding both signed roots can
/// check it (RFC 9162 §2.1.4.2) without trusting this server.
pub async fn consistency(
    State(state): State<AppState>,
    headers: HeaderMap,
    crate::extract::Query(q): crate::extract::Query<ConsistencyParams>,
) -> Result<Json<Value>, ApiError> {
    state.keys.authorize(&headers, Scope::Read)?;
    let size = |name: &str, v: Option<&str>| {
        super::sessions::number_param::<u64>(name, v)?.ok_or_else(|| ApiError::bad_param(name, "is required: a checkpoint's tree size"))
    };
    struct Sizes {
        from: u64,
        to: u64,
    }
    let p = Sizes { from: size("from", q.from.as_deref())?, to: size("to", q.to.as_deref())? };
    let checkpoints = state.store.checkpoints().await?;
    let find = |size: u64, name: &str| {
        checkpoints
            .iter()
            .find(|c| c.tree_size == size)
            .ok_or_else(|| ApiError::bad_param(name, format!("no signed checkpoint has size {size}")))
    };
    let (older, newer) = (find(p.from, "from")?, find(p.to, "to")?);
    if older.tree_size > newer.tree_size {
        return Err(ApiError::bad_param("from", "must not be larger than to"));
    }
    let leaves = state.store.log_step_hashes().await?;
    if (leaves.len() as u64) < newer.tree_size {
        return Err(ApiError::new(StatusCode::CONFLICT, "log_truncated", "the log of record is shorter than the checkpoint; run verification"));
    }
    let tree = flightlog_model::merkle::Tree::new(
        leaves[..newer.tree_size as usize].iter().map(flightlog_model::merkle::leaf_hash).collect(),
    );
    let proof: Vec<String> = tree.consistency_proof(older.tree_size as usize, newer.tree_size as usize).iter().map(hex::encode).collect();
    Ok(Json(json!({
        "from": {"tree_size": older.tree_size, "root_hash": hex::encode(older.root_hash)},
        "to": {"tree_size": newer.tree_size, "root_hash": hex::encode(newer.root_hash)},
        "proof": proof,
    })))
}
