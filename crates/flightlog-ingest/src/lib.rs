//! Ingestion's write path: one writer task that owns every insert into the
//! steps table.
//!
//! Request handlers validate and encode steps in parallel, then
//! [`Ingestor::submit`] them and wait. The writer takes everything queued
//! at that moment as one group (group commit: many requests, one insert,
//! one set of fsyncs), and for each step decides:
//!
//! - **accepted**: new (project, session, step); stored and numbered in the
//!   log of acceptance;
//! - **duplicate**: the same key with identical content is already stored
//!   (a client retry); a no-op success;
//! - **conflict**: the same key with different content; rejected, and the
//!   first version stays. An audit record is never overwritten.
//!
//! A submission is answered only after its insert returned, that is, after
//! ClickHouse fsynced the new parts. Because a single task decides and
//! writes, two concurrent retries of one step cannot both be accepted.
//!
//! When several processes share one ClickHouse, only the holder of the
//! writer lease ([`lease`]) runs this writer's commits; the others forward
//! ingestion to it.
//!
//! May use: `flightlog-model`, `flightlog-store` (floor 2). Used by
//! integrity and the application core.

mod known_heads;
pub mod lease;
mod merkle_log;
mod writer;

pub use lease::{LeaseOptions, Role, WriterLease};
pub use writer::{IngestError, IngestStats, Ingestor, LogView, Outcome, Queued, SealableHead, WriterHealth};
