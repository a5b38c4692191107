//! OTLP over gRPC: the OpenTelemetry `TraceService` on its own listener
//! (the OpenTelemetry default is port 4317), so a collector or SDK that
//! exports gRPC switches to Flightlog by changing an endpoint.
//!
//! It is a front end like the REST API: it authenticates the caller, then
//! hands the decoded export to the application core, which maps, validates
//! and stores the spans exactly as for OTLP/HTTP (`AppState::export_spans`).
//! An answer means durable; a re-sent span is a duplicate; spans that
//! cannot be stored are counted in `partial_success` with the reasons.
//!
//! The key comes from the `authorization` metadata (`Bearer <key>`) or
//! `x-api-key`, and needs the `ingest` scope. Requests may be gzip
//! compressed; a message may be as large as an HTTP body (`Limits`).
//! Statuses follow the OTLP specification: UNAVAILABLE (which exporters
//! retry) while the store cannot take writes or another process holds the
//! writer lease, UNAUTHENTICATED / PERMISSION_DENIED for keys,
//! RESOURCE_EXHAUSTED for too many spans in one request.
//!
//! May use: `flightlog-app` and the library crates under it. Never another
//! front end.

use flightlog_app::auth_failures::{AuthFailures, refusal_message, retry_after_seconds};
use flightlog_app::error::ErrorKind;
use flightlog_app::keys::{AuthError, Scope};
use flightlog_app::spans::{ExportError, OtlpError, prepare_decoded_spans};
use flightlog_app::{AppError, AppState};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse};
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

pub struct Traces {
    state: AppState,
    /// Failed authentications, counted with every other front end's.
    failures: AuthFailures,
}

/// The TraceService for a server, gzip accepted, messages as large as the
/// HTTP API takes.
pub fn service(state: AppState, failures: AuthFailures) -> TraceServiceServer<Traces> {
    let max = state.limits.max_body_bytes;
    TraceServiceServer::new(Traces { state, failures })
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max)
}

/// Serves OTLP/gRPC on `listener` until `shutdown` resolves; requests in
/// flight finish first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    failures: AuthFailures,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .layer(tower::util::MapResponseLayer::new(too_large_is_resource_exhausted))
        .add_service(service(state, failures))
        .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(listener), shutdown)
        .await
}

/// tonic answers a message over `max_decoding_message_size` with
/// OUT_OF_RANGE, which OTLP lists as retryable: an exporter sent the same
/// export again and again. It is RESOURCE_EXHAUSTED here, as a gzip bomb
/// and too many spans are (not retried without RetryInfo). It matches
/// tonic 0.14's wording of that error (percent-encoded in
/// `grpc-message`); tests/otlp_grpc.rs sends such a message, so a tonic
/// that words it otherwise fails there, not silently.
fn too_large_is_resource_exhausted<B>(mut answer: http::Response<B>) -> http::Response<B> {
    let headers = answer.headers_mut();
    let too_large = headers.get("grpc-status").is_some_and(|s| s == "11")
        && headers.get("grpc-message").and_then(|m| m.to_str().ok()).is_some_and(|m| m.contains("message%20length%20too%20large"));
    if too_large {
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
    }
    answer
}

#[tonic::async_trait]
impl TraceService for Traces {
    async fn export(&self, request: Request<ExportTraceServiceRequest>) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let principal = self.authenticate(&request)?;
        let export = request.into_inner();
        let (limits, project) = (self.state.limits.clone(), principal.project.clone());
        let redactor = self.state.redactor(&project).await.map_err(app_status)?;
        let prepared = tokio::task::spawn_blocking(move || prepare_decoded_spans(&export, &limits, &project, redactor.as_deref()))
            .await
            .map_err(|e| Status::internal(format!("request processing failed: {e}")))?
            .map_err(|e| match e {
                ExportError::TooManySpans(e) => Status::resource_exhausted(e.to_string()),
                ExportError::Otlp(e @ OtlpError::TooManyItems) => Status::resource_exhausted(e.to_string()),
                other => Status::invalid_argument(other.to_string()),
            })?;
        let report = self.state.export_spans(&principal.project, prepared).await.map_err(app_status)?;
        let rejected = report.rejected.len() as i64;
        let message = report.message();
        tracing::debug!(accepted = report.accepted, duplicates = report.duplicates, rejected, skipped = report.skipped, "OTLP/gRPC export");
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: (rejected > 0).then_some(ExportTracePartialSuccess { rejected_spans: rejected, error_message: message }),
        }))
    }
}

impl Traces {
    /// The caller's key, checked for the `ingest` scope, under the same
    /// failed-authentication limits as the HTTP front ends (shared
    /// counters): a blocked address is refused before its key is checked,
    /// a blocked key prefix when its key fails.
    fn authenticate<T>(&self, request: &Request<T>) -> Result<flightlog_app::keys::Principal, Status> {
        let forwarded = || request.metadata().get_all("x-forwarded-for").into_iter().map(|v| v.as_encoded_bytes());
        let peer = request.remote_addr().map(|a| self.failures.client_of(a.ip(), forwarded()));
        if let Some(left) = peer.and_then(|ip| self.failures.address_blocked(ip)) {
            return Err(too_many(left, "this address"));
        }
        let key = presented_key(request.metadata());
        let failed = match &key {
            Some(key) => match self.state.keys.check(key, Scope::Ingest) {
                Ok(principal) => return Ok(principal),
                // A key without the scope authenticated: it is not a guess.
                Err(e @ AuthError::MissingScope(_)) => return Err(auth_status(e)),
                Err(e) => auth_status(e),
            },
            None => Status::unauthenticated("no API key: send `authorization: Bearer <key>` or `x-api-key: <key>` metadata"),
        };
        match peer.and_then(|ip| self.failures.refuse_failure(ip, key.as_deref())) {
            Some(left) => Err(too_many(left, "this key")),
            None => Err(failed),
        }
    }
}

/// UNAVAILABLE, which OTLP exporters retry with backoff, as OTLP/HTTP's
/// 429 is retried: a client sharing a blocked address keeps its spans.
/// (RESOURCE_EXHAUSTED is retried only with a RetryInfo detail.)
fn too_many(left: std::time::Duration, from: &str) -> Status {
    Status::unavailable(refusal_message(retry_after_seconds(left), from))
}

/// The key in the call's metadata (the same rule as every front end:
/// `flightlog_app::keys::presented_key`).
fn presented_key(metadata: &MetadataMap) -> Option<String> {
    let text = |name| metadata.get(name).and_then(|v| v.to_str().ok());
    flightlog_app::keys::presented_key(text("authorization"), text("x-api-key"))
}

fn auth_status(e: AuthError) -> Status {
    match e {
        AuthError::MissingScope(_) => Status::permission_denied(e.to_string()),
        _ => Status::unauthenticated(e.to_string()),
    }
}

fn app_status(e: AppError) -> Status {
    match e.kind() {
        ErrorKind::Invalid => Status::invalid_argument(e.public_message()),
        ErrorKind::NotFound => Status::not_found(e.public_message()),
        ErrorKind::Conflict => Status::already_exists(e.public_message()),
        ErrorKind::OverMemoryBudget => Status::resource_exhausted(e.public_message()),
        // Retried by OTLP exporters, as the specification asks.
        _ => Status::unavailable(e.public_message()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(pairs: &[(&'static str, &'static str)]) -> MetadataMap {
        let mut m = MetadataMap::new();
        for (k, v) in pairs {
            m.insert(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn the_key_comes_from_bearer_or_x_api_key() {
        assert_eq!(presented_key(&metadata(&[("authorization", "Bearer fl_abc")])).as_deref(), Some("fl_abc"));
        assert_eq!(presented_key(&metadata(&[("authorization", "bearer  fl_abc ")])).as_deref(), Some("fl_abc"));
        assert_eq!(presented_key(&metadata(&[("x-api-key", "fl_xyz")])).as_deref(), Some("fl_xyz"));
        assert_eq!(presented_key(&metadata(&[("authorization", "Basic Zm9v")])), None, "only bearer keys");
        assert_eq!(presented_key(&metadata(&[])), None);
    }
}
