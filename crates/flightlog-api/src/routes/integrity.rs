//! Tamper evidence: verification reports, evidence bundles, checkpoints.

use crate::AppState;
use crate::auth::{Authorize, Scope};
use crate::error::ApiError;
use crate::extract::{Path, Query};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flightlog_app::integrity::{ErasureRecord, ErasureRequest, evidence_file_name};
use flightlog_integrity::verify;
use flightlog_model::time::format_timestamp;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

/// Whether the session's steps are intact, sealed by a signed checkpoint,
/// and which fields were erased.
#[utoipa::path(get, path = "/v1/sessions/{id}/verify", tag = "integrity",
    params(("id" = String, Path, description = "The session id", example = "support-dup-email")),
    responses((status = 200, body = verify::Report)), security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn verify_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<verify::Report>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    Ok(Json(state.verify_session(&principal.project, &id).await?))
}

/// Verifies every step and checkpoint (admin).
#[utoipa::path(get, path = "/v1/integrity/verify", tag = "integrity",
    responses((status = 200, body = verify::Report)), security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn verify_all(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<verify::Report>, ApiError> {
    state.keys.authorize(&headers, Scope::Admin)?;
    Ok(Json(state.verify_all().await?))
}

/// The session's evidence bundle: its steps, their inclusion proofs and
/// the signed checkpoint, checkable offline with `flightlog verify-bundle`.
#[utoipa::path(get, path = "/v1/sessions/{id}/evidence", tag = "integrity",
    params(("id" = String, Path, description = "The session id", example = "support-dup-email")),
    responses((status = 200, description = "The bundle, as a file", body = Object)),
    security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn evidence(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Read)?;
    let file = state.evidence(&principal.project, &id, principal.allows(Scope::Admin)).await?;
    let read = flightlog_app::access_log::Access::new(&principal, flightlog_app::access_log::FrontEnd::Api, "GET /v1/sessions/{id}/evidence");
    state.record_read(read.session(&id).whole_session(file.steps, &file.users)).await?;
    let name = format!("attachment; filename=\"{}\"", evidence_file_name(&id));
    let headers = [
        (header::CONTENT_TYPE, "application/json".to_string()),
        (header::CONTENT_DISPOSITION, name),
        (header::CONTENT_LENGTH, file.len.to_string()),
    ];
    Ok((headers, Body::from_stream(file.into_stream())).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct PublicKey {
    /// Always `ed25519`.
    algorithm: &'static str,
    /// Hex.
    public_key: String,
}

/// The key that signs checkpoints (no key needed).
#[utoipa::path(get, path = "/v1/integrity/public-key", tag = "integrity", responses((status = 200, body = PublicKey)))]
pub async fn public_key(State(state): State<AppState>) -> Json<PublicKey> {
    Json(PublicKey { algorithm: "ed25519", public_key: state.checkpointer.public_key_hex() })
}

/// A signed statement that the log's first `tree_size` entries hash to
/// `root_hash`.
#[derive(Serialize, ToSchema)]
pub struct CheckpointView {
    tree_size: u64,
    /// Hex.
    root_hash: String,
    created_at: String,
    created_us: i64,
    public_key: String,
    signature: String,
}

#[derive(Serialize, ToSchema)]
pub struct CheckpointList {
    checkpoints: Vec<CheckpointView>,
}

/// Every signed checkpoint, oldest first.
#[utoipa::path(get, path = "/v1/integrity/checkpoints", tag = "integrity",
    responses((status = 200, body = CheckpointList)), security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn checkpoints(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<CheckpointList>, ApiError> {
    state.keys.authorize(&headers, Scope::Read)?;
    let checkpoints = state
        .checkpoints()
        .await?
        .into_iter()
        .map(|c| CheckpointView {
            tree_size: c.tree_size,
            root_hash: hex::encode(c.root_hash),
            created_at: format_timestamp(c.created_us),
            created_us: c.created_us,
            public_key: c.public_key,
            signature: c.signature,
        })
        .collect();
    Ok(Json(CheckpointList { checkpoints }))
}

#[derive(Serialize, ToSchema)]
pub struct Sealed {
    tree_size: u64,
    root_hash: String,
    created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct NotSealed {
    /// Always false.
    sealed: bool,
    reason: &'static str,
}

/// Signs a checkpoint of the log now (admin).
#[utoipa::path(post, path = "/v1/integrity/checkpoints", tag = "integrity",
    responses(
        (status = 201, description = "A new checkpoint", body = Sealed),
        (status = 200, description = "Nothing new to seal", body = NotSealed),
        (status = 409, description = "`log_rewritten`: the log no longer extends the newest checkpoint (rewritten below it, or its checkpoints deleted); nothing is signed", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn seal(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    state.keys.authorize(&headers, Scope::Admin)?;
    Ok(match state.seal().await? {
        Some(c) => {
            let sealed = Sealed { tree_size: c.tree_size, root_hash: hex::encode(c.root_hash), created_at: format_timestamp(c.created_us) };
            (StatusCode::CREATED, Json(sealed)).into_response()
        }
        None => Json(NotSealed { sealed: false, reason: "no new steps since the last checkpoint" }).into_response(),
    })
}

/// Erases personal content (GDPR) of a session or a user; the proofs stay
/// valid and report the fields as erased (admin). Refused (409) when it
/// would reach anything under a legal hold.
#[utoipa::path(post, path = "/v1/erasures", tag = "integrity", request_body = ErasureRequest,
    responses((status = 200, body = flightlog_store::Erasure),
        (status = 404, description = "Nothing erased: the project has no such session", body = crate::error::ErrorBody),
        (status = 409, description = "Nothing erased: the request names or reaches a held session or a held user's steps (named); release the hold first",
         body = crate::error::ErrorBody)),
    security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn erase(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: crate::extract::JsonObject<ErasureRequest>,
) -> Result<Json<flightlog_store::Erasure>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    let req = crate::extract::json_body(body)?;
    Ok(Json(state.erase(&principal.project, &req, &principal.key_id).await?))
}

#[derive(Serialize, ToSchema)]
pub struct ErasureList {
    /// Newest first.
    erasures: Vec<ErasureRecord>,
}

#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ErasureListParams {
    /// Records at most (default 100, at most 1,000).
    #[param(schema_with = flightlog_app::param_schemas::records_page_size)]
    limit: Option<String>,
}

/// The project's erasures, newest first: who asked for which session or
/// user, when and why, and what each blanked (admin).
#[utoipa::path(get, path = "/v1/erasures", tag = "integrity", params(ErasureListParams),
    responses((status = 200, body = ErasureList)), security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn erasures(State(state): State<AppState>, headers: HeaderMap, Query(p): Query<ErasureListParams>) -> Result<Json<ErasureList>, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Admin)?;
    let limit = flightlog_app::params::page_size(p.limit.as_deref(), 100, 1_000)?;
    Ok(Json(ErasureList { erasures: state.erasure_records(&principal.project, limit).await? }))
}

#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
// An unknown parameter is refused, not ignored.
#[serde(deny_unknown_fields)]
pub struct ConsistencyParams {
    /// The older checkpoint's tree size.
    #[param(value_type = u64)]
    from: Option<String>,
    /// The newer checkpoint's tree size.
    #[param(value_type = u64)]
    to: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TreeHead {
    tree_size: u64,
    root_hash: String,
}

#[derive(Serialize, ToSchema)]
pub struct ConsistencyProof {
    from: TreeHead,
    to: TreeHead,
    /// RFC 6962 consistency proof, hex hashes.
    proof: Vec<String>,
}

/// Proof that checkpoint `to` extends checkpoint `from`.
#[utoipa::path(get, path = "/v1/integrity/consistency", tag = "integrity", params(ConsistencyParams),
    responses((status = 200, body = ConsistencyProof),
        (status = 409, description = "The log of record is shorter than the checkpoint: run verification", body = crate::error::ErrorBody)), security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn consistency(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ConsistencyParams>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    state.keys.authorize(&headers, Scope::Read)?;
    let c = state.consistency(q.from.as_deref(), q.to.as_deref()).await?;
    let head = |t: &flightlog_store::CheckpointRow| TreeHead { tree_size: t.tree_size, root_hash: hex::encode(t.root_hash) };
    Ok(Json(ConsistencyProof { from: head(&c.older), to: head(&c.newer), proof: c.proof.iter().map(hex::encode).collect() }))
}
