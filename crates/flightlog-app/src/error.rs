//! What a use case can answer instead of its result. Front ends map each
//! kind to their own form (an HTTP status and JSON, a message on a page).

use flightlog_index::SearchError;
use flightlog_ingest::IngestError;
use flightlog_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// An input that cannot be used as given, naming the field at fault.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The thing asked for does not exist in the caller's project.
    #[error("{0}")]
    NotFound(String),
    /// The request contradicts what is stored (`code` names how).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Something below failed: `context` is for the caller, `cause` for the log.
    #[error("{context}: {cause}")]
    Unavailable { context: &'static str, cause: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Search(#[from] SearchError),
}

impl AppError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid { field: field.to_string(), message: message.into() }
    }

    pub fn unavailable(context: &'static str, cause: impl std::fmt::Display) -> Self {
        Self::Unavailable { context, cause: cause.to_string() }
    }

    pub fn no_session(id: &str) -> Self {
        Self::NotFound(format!("no session {id:?} in this project"))
    }
}

/// The kinds of answer a front end tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller's input is at fault; [`AppError`]'s text says how.
    Invalid,
    NotFound,
    Conflict,
    /// Trouble underneath; retrying later may help. Its details are for
    /// the log, not the caller.
    Unavailable,
    /// The question needs more memory than the store lets one query use:
    /// retrying the same question will not help, a narrower one will.
    OverMemoryBudget,
}

impl AppError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid { .. } | Self::Store(StoreError::Invalid(_)) => ErrorKind::Invalid,
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Conflict { .. } => ErrorKind::Conflict,
            Self::Search(SearchError::StepNotFound { .. }) => ErrorKind::NotFound,
            Self::Search(SearchError::NothingToCompare { .. }) => ErrorKind::Invalid,
            Self::Search(SearchError::Store(StoreError::Invalid(_))) => ErrorKind::Invalid,
            Self::Store(StoreError::OverMemoryBudget { .. })
            | Self::Search(SearchError::Store(StoreError::OverMemoryBudget { .. })) => ErrorKind::OverMemoryBudget,
            _ => ErrorKind::Unavailable,
        }
    }

    /// What the caller is told: the whole text for their own mistakes and
    /// for a search that is switched off, a line without internals else.
    pub fn public_message(&self) -> String {
        match (self.kind(), self) {
            (ErrorKind::OverMemoryBudget, Self::Store(e) | Self::Search(SearchError::Store(e))) => over_budget_message(e),
            (ErrorKind::Unavailable, Self::Search(e @ SearchError::Unavailable(_))) => e.to_string(),
            (ErrorKind::Unavailable, Self::Unavailable { context, .. }) => format!("{context}; retry later"),
            (ErrorKind::Unavailable, _) => "storage or search is unavailable; retry later".into(),
            _ => self.to_string(),
        }
    }
}

/// What a caller is told when a question is too big for the memory budget:
/// the budget and what to do, not the engine's internals.
pub fn over_budget_message(e: &StoreError) -> String {
    match e {
        StoreError::OverMemoryBudget { budget, .. } => format!(
            "this question needs more memory than one query may use ({budget}, --query-memory): \
             narrow it (a shorter period, a filter, fewer groups) or raise the budget"
        ),
        other => other.to_string(),
    }
}
