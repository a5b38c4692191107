//! API errors: a status, a stable code, a message for the person who sent
//! the request, and the field at fault when there is one. Internal errors
//! are logged in full and answered with a generic message.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Every error's body: `{"error": {"code", "message", "field"?}}`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, for programs: `invalid_parameter`, `not_found`, `unauthorized`…
    code: &'static str,
    /// For the person who sent the request.
    message: String,
    /// The parameter or field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Seconds a client should wait before retrying (`Retry-After`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None, retry_after: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// A query parameter that cannot be used as given.
    pub fn bad_param(field: &str, message: impl Into<String>) -> Self {
        Self { field: Some(field.to_string()), ..Self::new(StatusCode::BAD_REQUEST, "invalid_parameter", message) }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// Storage or writer trouble: logged here, never shown to the client,
    /// who is told when to retry.
    pub fn unavailable(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "{context}");
        Self {
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("{context}; nothing from this request was acknowledged, retry later"),
            )
        }
    }
}

impl From<flightlog_store::StoreError> for ApiError {
    fn from(e: flightlog_store::StoreError) -> Self {
        match e {
            flightlog_store::StoreError::Invalid(msg) => Self::bad_param("cursor", msg),
            e @ flightlog_store::StoreError::OverMemoryBudget { .. } => {
                tracing::warn!(error = %e, "a query went over its memory budget");
                // No Retry-After: the same question will need the same memory.
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "over_memory_budget", flightlog_app::error::over_budget_message(&e))
            }
            other => Self::unavailable("storage is unavailable", other),
        }
    }
}

impl From<flightlog_ingest::IngestError> for ApiError {
    fn from(e: flightlog_ingest::IngestError) -> Self {
        match e {
            flightlog_ingest::IngestError::ShuttingDown => Self::unavailable("the server is shutting down", e),
            flightlog_ingest::IngestError::Store(e) => Self::unavailable("storage is unavailable", e),
            flightlog_ingest::IngestError::Recovering(_) => {
                Self::unavailable("storage is recovering from a failed write", e)
            }
            flightlog_ingest::IngestError::NotWriter { .. } => Self::unavailable("the writer lease is changing hands", e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = ErrorDetail { code: self.code, message: self.message, field: self.field };
        let mut response = (self.status, Json(ErrorBody { error })).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<flightlog_app::AppError> for ApiError {
    fn from(e: flightlog_app::AppError) -> Self {
        use flightlog_app::AppError::*;
        match e {
            Invalid { field, message } => Self::bad_param(&field, message),
            NotFound(message) => Self::not_found(message),
            Conflict { code, message } => Self::new(StatusCode::CONFLICT, code, message),
            Unavailable { context, cause } => Self::unavailable(context, cause),
            Store(e) => e.into(),
            Ingest(e) => e.into(),
            Search(e) => e.into(),
        }
    }
}

impl From<flightlog_index::SearchError> for ApiError {
    fn from(e: flightlog_index::SearchError) -> Self {
        use flightlog_index::SearchError;
        match e {
            SearchError::Unavailable(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "search_unavailable", e.to_string()),
            SearchError::StepNotFound { .. } => ApiError::not_found(e.to_string()),
            SearchError::NothingToCompare { .. } => ApiError::bad_param("step", e.to_string()),
            SearchError::Store(s) => s.into(),
            other => ApiError::unavailable("similar-failure search failed", other),
        }
    }
}
