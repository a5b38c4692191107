//! `POST /v1/steps`: decode, validate and encode in parallel on the
//! blocking pool, then hand the batch to the single writer and answer once
//! it is durable.

use crate::AppState;
use crate::auth::Scope;
use crate::error::ApiError;
use axum::Json;
use axum::body::{Body, Bytes};
use http_body_util::BodyExt;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use flightlog_decode::{BodyError, decode_body};
use flightlog_ingest::Outcome;
use flightlog_model::{FieldError, Limits, step_from_json};
use flightlog_store::EncodedStep;
use serde::Serialize;

#[derive(Serialize)]
pub struct IngestResponse {
    /// Newly stored.
    pub accepted: usize,
    /// Already stored with identical content (retries): success, no-op.
    pub duplicates: usize,
    pub rejected: Vec<Rejection>,
}

#[derive(Serialize)]
pub struct Rejection {
    /// Position of the record in the request (0-based).
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    /// `invalid` (fix the record) or `conflict` (this step is already
    /// stored with different content; the stored version is kept).
    pub code: &'static str,
    pub field: String,
    pub reason: String,
}

pub async fn ingest(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<IngestResponse>), ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Ingest)?;
    check_content_type(&headers)?;
    let bytes = read_limited(body, state.limits.max_body_bytes).await?;
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let project = principal.project.clone();
    let limits = state.limits.clone();
    let (steps, mut rejected) =
        tokio::task::spawn_blocking(move || prepare(&bytes, encoding.as_deref(), &limits, &project))
            .await
            .map_err(|e| ApiError::unavailable("request processing failed", e))??;

    let indexes: Vec<usize> = steps.iter().map(|(i, _)| *i).collect();
    let encoded: Vec<EncodedStep> = steps.into_iter().map(|(_, s)| s).collect();
    let keys: Vec<(String, u64)> = encoded.iter().map(|s| (s.session_id.clone(), s.step)).collect();
    let outcomes = state.ingestor.submit(principal.project, encoded).await?;

    let mut response = IngestResponse { accepted: 0, duplicates: 0, rejected: Vec::new() };
    for ((index, (session_id, step)), outcome) in indexes.into_iter().zip(keys).zip(outcomes) {
        match outcome {
            Outcome::Accepted => response.accepted += 1,
            Outcome::Duplicate => response.duplicates += 1,
            Outcome::Conflict => rejected.push(Rejection {
                index,
                reason: format!(
                    "step {step} of session {session_id:?} is already stored with different content; \
                     the stored version is kept"
                ),
                session_id: Some(session_id),
                step: Some(step),
                code: "conflict",
                field: "(record)".into(),
            }),
        }
    }
    rejected.sort_by_key(|r| r.index);
    response.rejected = rejected;
    Ok((status_of(&response), Json(response)))
}

/// 200 when anything was stored or already there (partial success lists
/// the rest); when every record was refused, 400, or 409 if all refusals
/// were conflicts.
fn status_of(r: &IngestResponse) -> StatusCode {
    if r.rejected.is_empty() || r.accepted + r.duplicates > 0 {
        StatusCode::OK
    } else if r.rejected.iter().all(|x| x.code == "conflict") {
        StatusCode::CONFLICT
    } else {
        StatusCode::BAD_REQUEST
    }
}

/// Reads the body up to `limit` bytes. Past the limit it keeps reading and
/// discarding (up to a cap) before answering 413: a client still sending
/// would otherwise see a reset connection instead of the named limit.
pub(crate) async fn read_limited(mut body: Body, limit: usize) -> Result<Bytes, ApiError> {
    const DISCARD_CAP: usize = 256 << 20;
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        seen += data.len();
        if seen <= limit {
            buf.extend_from_slice(&data);
        } else if seen > limit + DISCARD_CAP {
            break;
        }
    }
    if seen > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("body is larger than the limit of {limit} bytes; send smaller batches"),
        ));
    }
    Ok(Bytes::from(buf))
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return Ok(()) };
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match mime.as_str() {
        // curl -d sends form-urlencoded unless told otherwise; the body is
        // JSON all the same, so it is not worth a refusal.
        "application/json" | "application/x-ndjson" | "application/jsonl" | "application/jsonlines" | "text/plain"
        | "application/x-www-form-urlencoded" | "" => Ok(()),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("Content-Type {other:?} is not accepted here; send application/json or application/x-ndjson"),
        )),
    }
}

type Prepared = (Vec<(usize, EncodedStep)>, Vec<Rejection>);

/// Decoding, validation and encoding: CPU work, run off the async threads.
fn prepare(body: &[u8], encoding: Option<&str>, limits: &Limits, project: &str) -> Result<Prepared, ApiError> {
    let records = decode_body(body, encoding, limits).map_err(body_error)?;
    let mut steps = Vec::with_capacity(records.len());
    let mut rejected = Vec::new();
    for (index, record) in records.into_iter().enumerate() {
        let ids = record.as_ref().ok().map(identify).unwrap_or_default();
        match record.and_then(|value| step_from_json(value, limits)) {
            Ok(step) => steps.push((index, EncodedStep::new(project, &step))),
            Err(FieldError { field, reason }) => {
                rejected.push(Rejection { index, session_id: ids.0, step: ids.1, code: "invalid", field, reason })
            }
        }
    }
    Ok((steps, rejected))
}

/// Best-effort ids of a record, so that a rejection says which step it was.
fn identify(v: &serde_json::Value) -> (Option<String>, Option<u64>) {
    let session = v.get("session_id").and_then(|s| s.as_str()).map(|s| s.chars().take(256).collect());
    (session, v.get("step").and_then(|s| s.as_u64()))
}

pub(crate) fn body_error(e: BodyError) -> ApiError {
    if e.is_too_large() {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
    } else {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.to_string())
    }
}
