//! What can go wrong in the store, whichever backend runs it.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The engine refused or failed a statement.
    #[error("clickhouse: {0}")]
    Engine(String),
    /// The engine answered something this code cannot read.
    #[error("unexpected answer from clickhouse: {0}")]
    Decode(String),
    #[error("{0}")]
    Setup(String),
    /// The caller's input cannot be turned into a query (a bad cursor).
    #[error("{0}")]
    Invalid(String),
    /// The engine stopped a statement that needed more memory than its
    /// budget: the statement is too big, not the engine down.
    #[error("the query needs more memory than its budget of {budget} ({detail})")]
    OverMemoryBudget { budget: crate::memory::MemoryBudget, detail: String },
}
