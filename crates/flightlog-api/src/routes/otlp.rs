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
use crate::auth::Scope;
use crate::error::ApiError;
use crate::routes::steps::{body_error, read_limited};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flightlog_decode::body::gunzip;
use flightlog_decode::otlp::{self, Encoding, SpanOutcome};
use flightlog_ingest::Outcome;
use flightlog_model::{Limits, step_from_json};
use flightlog_store::EncodedStep;

/// Reasons quoted in `partial_success.error_message`, at most.
const MAX_REASONS: usize = 5;

struct Prepared {
    steps: Vec<EncodedStep>,
    /// Span reference (trace/span) of each step, for messages.
    references: Vec<String>,
    rejected: Vec<String>,
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
    let Prepared { steps, references, mut rejected, skipped } = prepared;

    let (mut accepted, mut duplicates) = (0usize, 0usize);
    if !steps.is_empty() {
        let keys: Vec<(String, u64)> = steps.iter().map(|s| (s.session_id.clone(), s.step)).collect();
        let outcomes = state.ingestor.submit(principal.project, steps).await?;
        for ((outcome, (session, step)), reference) in outcomes.into_iter().zip(keys).zip(references) {
            match outcome {
                Outcome::Accepted => accepted += 1,
                Outcome::Duplicate => duplicates += 1,
                Outcome::Conflict => rejected.push(format!(
                    "span {reference}: step {step} of session {session:?} is already stored with different content"
                )),
            }
        }
    }
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
    // What happened to each span, for people and tests reading the answer.
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
    let mut out = Prepared { steps: Vec::new(), references: Vec::new(), rejected: Vec::new(), skipped: 0 };
    for span in spans {
        match span.outcome {
            SpanOutcome::Skipped => out.skipped += 1,
            SpanOutcome::Rejected(reason) => out.rejected.push(format!("span {}: {reason}", span.reference)),
            SpanOutcome::Step(value) => match step_from_json(value, limits) {
                Ok(step) => {
                    out.steps.push(EncodedStep::new(project, &step));
                    out.references.push(span.reference);
                }
                Err(e) => out.rejected.push(format!("span {}: {}: {}", span.reference, e.field, e.reason)),
            },
        }
    }
    Ok(out)
}
