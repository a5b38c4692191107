//! Proving that the record was not altered.
//!
//! Ingestion already writes the evidence (see `flightlog-ingest`): every
//! step's hash over its fields, its link in its session's hash chain, and
//! its place in a Merkle log of all accepted steps. This crate seals and
//! checks that evidence:
//!
//! - [`signer`]: the instance's Ed25519 key, generated at first start and
//!   kept in the data folder with owner-only permissions;
//! - [`checkpoint`]: signed tree heads of the log, at an interval and on
//!   shutdown;
//! - [`sealed`]: a checked snapshot of the sealed log, for per-step checks
//!   on pages;
//! - [`verify`]: recomputes hashes, chains, inclusion and consistency proofs
//!   from stored content and names what is wrong, and where;
//! - [`bundle`]: a self-contained evidence file for one session, checkable
//!   offline with nothing but the file;
//! - [`nodes`]: the Merkle log's interior nodes, stored as the log grows,
//!   for proofs that read O(log n) pieces instead of the whole log.
//!
//! May use: `flightlog-model`, `flightlog-store`, `flightlog-ingest` (floor
//! 3). Used by the application core, and by the binary for offline bundle
//! checks.

pub mod bundle;
mod chain_pages;
pub mod checkpoint;
mod cover;
mod mark;
pub mod nodes;
mod read_ahead;
pub mod sealed;
pub mod signer;
pub mod verify;

/// Runs CPU-bound work (a page of content checked or written). In the
/// server (a multi-threaded runtime) tokio is told this thread blocks, so the other
/// tasks it holds move on meanwhile; elsewhere (the CLI) it just runs.
pub(crate) fn off_the_async_threads<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(work),
        _ => work(),
    }
}
