//! Flightlog's domain model: what a step is once it has been checked.
//!
//! An agent posts steps as JSON (see `PRODUCT.md` for the format). This
//! crate turns one decoded JSON value into a [`Step`], or into a
//! [`FieldError`] that names the field and the problem. Everything here is
//! plain data and pure functions: no I/O, so every rule is tested directly.
//!
//! - [`step`]: the [`Step`] struct, one typed field per column.
//! - [`columns`]: the step's stored columns and its flat (CSV) form, defined once.
//! - [`validate`]: JSON value → `Step`, enforcing [`Limits`].
//! - [`by_reference`]: long prompt messages stored once per session, by reference.
//! - [`stored`]: what the `raw` column keeps: the canonical JSON without the
//!   content its typed columns hold, put back on read.
//! - [`canonical`]: the canonical JSON form and the content hash that makes
//!   retries idempotent.
//! - [`time`]: RFC 3339 in the API, microseconds inside.
//! - [`integrity`]: field hashes and step hashes (erasure-proof), session chains.
//! - [`merkle`]: the RFC 6962 Merkle log of accepted steps, and its proofs;
//!   [`merkle_nodes`]: its interior nodes stored, for proofs in O(log n).
//! - [`pricing`]: the key a model's price is looked up by.
//! - [`action`]: what a step did (tool, canonical parameters, outcome), side-effecting tools, loops.
//! - [`anomaly`]: repeated side effects and runaway sessions.
//! - [`budget`]: cost budgets per session and per agent.
//! - [`detect`]: the detectors: repeated side effects, loops, bursts, runaways, cascades.
//! - [`semantic`]: the detectors that compare meanings: near-duplicate side effects, goal drift.
//! - [`guard`]: the guard's rules: already done, rate limits, loops, budgets.
//! - [`decision`]: which steps are key decisions, and the text embedded for them.
//! - [`retention`]: how long content and steps are kept, and legal holds.
//! - [`limits`]: every size and count a client controls has a limit.
//!
//! May use: no other Flightlog crate (floor 0: plain data and pure functions,
//! no I/O). Used by every crate above it.

pub mod action;
pub mod anomaly;
pub mod budget;
pub mod by_reference;
pub mod byte_words;
pub mod canonical;
pub mod columns;
pub mod cost_rollup;
pub mod decimal;
pub mod decision;
pub mod detect;
pub mod guard;
pub mod integrity;
pub mod limits;
pub mod merkle;
pub mod merkle_nodes;
pub mod prefix_hash;
pub mod pricing;
pub mod retention;
pub mod semantic;
pub mod step;
pub mod stored;
pub mod time;
pub mod validate;

pub use limits::Limits;
pub use step::Step;
pub use validate::{FieldError, admit, step_from_json};
