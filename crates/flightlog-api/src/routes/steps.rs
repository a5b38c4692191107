//! `POST /v1/steps`: decode, validate and encode in parallel on the
//! blocking pool, then hand the batch to the single writer and answer once
//! it is durable.

use crate::AppState;
use crate::auth::{Authorize, Scope};
use crate::error::ApiError;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use flightlog_app::ingest::{IngestReport, Prepared, RejectionCode, prepare};
use flightlog_decode::{BodyError, Framing, decode_body};
use flightlog_model::Limits;
use flightlog_redact::Redactor;
use http_body_util::BodyExt;

/// Stores steps: one JSON object, an array, or NDJSON (gzip allowed).
/// The answer comes once they are durable; a step sent again is counted
/// as a duplicate, never stored twice.
#[utoipa::path(post, path = "/v1/steps", tag = "ingest",
    request_body(content(
        (crate::step_schema::StepBatch = "application/json"),
        (String = "application/x-ndjson"),
    )),
    responses(
        (status = 200, description = "Some or all stored; the rest listed with why", body = IngestReport),
        (status = 400, description = "Nothing stored: every record invalid, or the body unreadable",
            body = crate::openapi::ReportOrError),
        (status = 409, description = "Nothing stored: each step conflicts with one stored with other content",
            body = IngestReport),
        (status = 413, description = "The body, decompressed body or record count is over its limit", body = crate::error::ErrorBody),
        (status = 415, description = "Not JSON or NDJSON", body = crate::error::ErrorBody),
        (status = 408, description = "The body stalled: no byte arrived for the server's body timeout; nothing stored", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn ingest(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<IngestReport>), ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Ingest)?;
    let framing = framing_of(&headers)?;
    let bytes = read_limited(body, state.limits.max_body_bytes).await?;
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let project = principal.project.clone();
    let limits = state.limits.clone();
    let redactor = state.redactor(&project).await?;
    let prepared = tokio::task::spawn_blocking(move || decode(&bytes, encoding.as_deref(), framing, &limits, &project, redactor.as_deref()))
        .await
        .map_err(|e| ApiError::unavailable("request processing failed", e))??;
    let report = state.submit(&principal.project, prepared).await?;
    Ok((status_of(&report), Json(report)))
}

/// Decoding and validation: CPU work, off the async threads.
fn decode(body: &[u8], encoding: Option<&str>, framing: Framing, limits: &Limits, project: &str, redactor: Option<&Redactor>) -> Result<Prepared, ApiError> {
    let records = decode_body(body, encoding, framing, limits).map_err(body_error)?;
    Ok(prepare(records, limits, project, redactor))
}

fn status_of(r: &IngestReport) -> StatusCode {
    if r.rejected.is_empty() || r.accepted + r.duplicates > 0 {
        StatusCode::OK
    } else if r.rejected.iter().all(|x| x.code == RejectionCode::Conflict) {
        StatusCode::CONFLICT
    } else {
        StatusCode::BAD_REQUEST
    }
}

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

/// Whether the body's type is one taken here, and whether it says NDJSON.
fn framing_of(headers: &HeaderMap) -> Result<Framing, ApiError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return Ok(Framing::Guessed) };
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match mime.as_str() {
        "application/x-ndjson" | "application/jsonl" | "application/jsonlines" | "application/ndjson" | "text/x-ndjson" => Ok(Framing::Lines),
        // curl -d sends form-urlencoded unless told otherwise; the body is
        // JSON all the same, so it is not worth a refusal.
        "application/json" | "text/plain" | "application/x-www-form-urlencoded" | "" => Ok(Framing::Guessed),
        // JSON's other names, and types that say they are JSON (RFC 6839:
        // `application/ld+json`).
        "text/json" | "application/x-json" => Ok(Framing::Guessed),
        json if json.ends_with("+json") => Ok(Framing::Guessed),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("Content-Type {other:?} is not accepted here; send application/json or application/x-ndjson"),
        )),
    }
}

pub(crate) fn body_error(e: BodyError) -> ApiError {
    if e.is_too_large() {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
    } else {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.to_string())
    }
}
