//! `POST /v1/traces` (OTLP/HTTP) and the Langfuse SDK's
//! `POST /api/public/otel/v1/traces`: spans in, steps stored.
//!
//! The body is protobuf or OTLP JSON, optionally gzip-compressed. Each
//! GenAI span becomes one step (flightlog-decode `otlp::mapping`) and goes
//! through the same validation and the same single writer as
//! `POST /v1/steps`, so the answer, 200, means durable, and re-sent spans
//! are counted as duplicates, never stored twice. Spans that cannot be
//! stored are counted in `partial_success` with the reasons.

use crate::AppState;
use crate::auth::{Authorize, Scope};
use crate::error::ApiError;
use crate::routes::steps::{body_error, read_limited};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flightlog_app::ingest::{self, RejectionCode};
use flightlog_decode::body::gunzip;
use flightlog_decode::otlp::{self, Encoding, SpanOutcome};
use flightlog_model::Limits;

/// Reasons quoted in `partial_success.error_message`, at most.
const MAX_REASONS: usize = 5;

/// The spans of a request, decoded, mapped and validated.
struct Prepared {
    steps: ingest::Prepared,
    /// Span reference (trace/span) of each record given to `steps`.
    references: Vec<String>,
    /// Why spans were refused before they became records, by span position.
    refused: Vec<(usize, String)>,
    /// Span position of each record given to `steps`.
    positions: Vec<usize>,
    skipped: usize,
}

pub async fn traces(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let principal = state.keys.authorize(&headers, Scope::Ingest)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let encoding = Encoding::from_content_type(content_type).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("Content-Type {content_type:?} is not OTLP; send application/x-protobuf or application/json"),
        )
    })?;
    let compressed = match headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).map(str::trim) {
        None | Some("") | Some("identity") => false,
        Some(e) if e.eq_ignore_ascii_case("gzip") => true,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_encoding",
                format!("Content-Encoding {other:?} is not supported; send gzip or nothing"),
            ));
        }
    };
    let bytes = read_limited(body, state.limits.max_body_bytes).await?;
    let limits = state.limits.clone();
    let project = principal.project.clone();
    let prepared = tokio::task::spawn_blocking(move || prepare(&bytes, compressed, encoding, &limits, &project))
        .await
        .map_err(|e| ApiError::unavailable("request processing failed", e))??;
    let Prepared { steps, references, mut refused, positions, skipped } = prepared;
    let report = state.submit(&principal.project, steps).await?;

    // Refusals in span order, then conflicts (found when writing).
    let mut conflicts = Vec::new();
    for r in report.rejected {
        let reference = &references[r.index];
        match r.code {
            RejectionCode::Invalid => refused.push((positions[r.index], format!("span {reference}: {}: {}", r.field, r.reason))),
            RejectionCode::Conflict => conflicts.push(format!(
                "span {reference}: step {} of session {:?} is already stored with different content",
                r.step.unwrap_or_default(),
                r.session_id.unwrap_or_default()
            )),
        }
    }
    refused.sort_by_key(|(position, _)| *position);
    let rejected: Vec<String> = refused.into_iter().map(|(_, m)| m).chain(conflicts).collect();
    let (accepted, duplicates) = (report.accepted, report.duplicates);
    let message = if rejected.is_empty() {
        String::new()
    } else {
        let mut m = rejected.iter().take(MAX_REASONS).cloned().collect::<Vec<_>>().join("; ");
        if rejected.len() > MAX_REASONS {
            m.push_str(&format!("; and {} more", rejected.len() - MAX_REASONS));
        }
        m
    };
    let body = otlp::encode_response(encoding, rejected.len() as i64, message);
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, encoding.content_type())], body).into_response();
    let h = response.headers_mut();
    for (name, n) in [
        ("x-flightlog-accepted", accepted),
        ("x-flightlog-duplicates", duplicates),
        ("x-flightlog-rejected", rejected.len()),
        ("x-flightlog-skipped", skipped),
    ] {
        h.insert(name, HeaderValue::from(n));
    }
    Ok(response)
}

/// Decompression, decoding, mapping and validation: CPU work, off the
/// async threads.
fn prepare(body: &[u8], compressed: bool, encoding: Encoding, limits: &Limits, project: &str) -> Result<Prepared, ApiError> {
    let plain;
    let body = if compressed {
        plain = gunzip(body, limits.max_decoded_bytes).map_err(body_error)?;
        &plain[..]
    } else {
        body
    };
    let request = otlp::decode_request(body, encoding).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.to_string()))?;
    let spans = otlp::map_request(&request);
    if spans.len() > limits.max_records {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("{} spans in one request; the limit is {}: export smaller batches", spans.len(), limits.max_records),
        ));
    }
    let (mut records, mut references, mut positions, mut refused, mut skipped) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), 0);
    for (position, span) in spans.into_iter().enumerate() {
        match span.outcome {
            SpanOutcome::Skipped => skipped += 1,
            SpanOutcome::Rejected(reason) => refused.push((position, format!("span {}: {reason}", span.reference))),
            SpanOutcome::Step(value) => {
                records.push(Ok(value));
                references.push(span.reference);
                positions.push(position);
            }
        }
    }
    Ok(Prepared { steps: ingest::prepare(records, limits, project), references, refused, positions, skipped })
}
