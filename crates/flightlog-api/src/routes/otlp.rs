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
use flightlog_app::spans::{ExportError, OtlpError, PreparedSpans, ReceivedExport, prepare_spans};
use flightlog_decode::otlp::{self, Encoding};
use flightlog_model::Limits;

/// OTLP/HTTP: GenAI spans become steps (protobuf or JSON, gzip allowed).
#[utoipa::path(post, path = "/v1/traces", tag = "ingest",
    request_body(content(
        (crate::openapi::Binary = "application/x-protobuf"),
        (Object = "application/json"),
    )),
    responses(
        (status = 413, description = "The body, decompressed body or span count is over its limit", body = crate::error::ErrorBody),
        (status = 415, description = "Not OTLP protobuf or JSON, or an encoding other than gzip", body = crate::error::ErrorBody),
        (status = 408, description = "The body stalled: no byte arrived for the server's body timeout; nothing stored", body = crate::error::ErrorBody),
        (status = 200, description = "Stored (partial_success counts what could not be)",
        headers(
            ("x-flightlog-accepted" = u64, description = "spans stored now"),
            ("x-flightlog-duplicates" = u64, description = "spans stored before"),
            ("x-flightlog-rejected" = u64, description = "spans refused"),
            ("x-flightlog-skipped" = u64, description = "spans that are not GenAI steps"),
        ),
        content(
            (crate::openapi::Binary = "application/x-protobuf"),
            (Object = "application/json"),
        ))),
    security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
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
    let redactor = state.redactor(&project).await?;
    let export = ReceivedExport { body: bytes.into(), gzip: compressed, encoding };
    let prepared = tokio::task::spawn_blocking(move || prepare(export, &limits, &project, redactor.as_deref()))
        .await
        .map_err(|e| ApiError::unavailable("request processing failed", e))??;
    let report = state.export_spans(&principal.project, prepared).await?;
    let (accepted, duplicates, skipped) = (report.accepted, report.duplicates, report.skipped);
    let rejected = report.rejected.len();
    let message = report.message();
    let body = otlp::encode_response(encoding, rejected as i64, message);
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, encoding.content_type())], body).into_response();
    let h = response.headers_mut();
    for (name, n) in [
        ("x-flightlog-accepted", accepted),
        ("x-flightlog-duplicates", duplicates),
        ("x-flightlog-rejected", rejected),
        ("x-flightlog-skipped", skipped),
    ] {
        h.insert(name, HeaderValue::from(n));
    }
    Ok(response)
}

/// Decompression, decoding, mapping and validation: CPU work, off the
/// async threads.
fn prepare(
    export: ReceivedExport,
    limits: &Limits,
    project: &str,
    redactor: Option<&flightlog_redact::Redactor>,
) -> Result<PreparedSpans, ApiError> {
    prepare_spans(export, limits, project, redactor).map_err(|e| match e {
        ExportError::Body(e) => body_error(e),
        ExportError::Otlp(e @ OtlpError::TooManyItems) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string()),
        ExportError::Otlp(e) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.to_string()),
        ExportError::TooManySpans(e) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string()),
    })
}

