//! The application core: what Flightlog does, whoever asks.
//!
//! [`AppState`] holds what every use case needs (the store, the writer,
//! the key ring, the prover, the similar-failure search); the use cases are
//! its methods, grouped by what they are about ([`sessions`], [`costs`],
//! [`decisions`], [`search`], [`integrity`], [`ingest`], [`reproduction`]), with typed
//! inputs (parsed once, from the raw text a front end received) and typed
//! outputs. Errors are [`AppError`]s, which each front end maps to its own
//! form.
//!
//! May use: every library crate below it (model, decode, store, ingest,
//! index, integrity, export). Used by: the front ends (`flightlog-api`,
//! `flightlog-web`, later MCP and gRPC) and the binary. It knows nothing of
//! HTTP, HTML or URLs: where an answer must point at a page (a search hit's
//! link), it asks [`PageLinks`], which the web crate implements and the
//! binary plugs in.

pub mod access_log;
pub mod alert_receivers;
pub mod alerts;
pub mod auth_failures;
pub mod background;
pub mod costs;
pub mod decisions;
pub mod detect_behind;
pub mod error;
pub mod guard;
pub mod incidents;
pub mod ingest;
pub mod integrity;
pub mod keys;
pub mod overview;
pub mod param_schemas;
pub mod params;
mod policies;
pub mod redaction;
pub mod reproduction;
pub mod retention;
pub mod search;
pub mod seed;
pub mod sessions;
pub mod spans;
pub mod waterfall;

pub use error::AppError;

use flightlog_ingest::Ingestor;
use flightlog_integrity::checkpoint::Checkpointer;
use flightlog_integrity::sealed::SealCache;
use flightlog_model::Limits;
use flightlog_model::budget::Budgets;
use flightlog_store::Store;
use keys::KeyRing;
use std::sync::Arc;

/// What every use case can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub ingestor: Ingestor,
    pub keys: Arc<KeyRing>,
    pub limits: Arc<Limits>,
    pub checkpointer: Checkpointer,
    /// A checked snapshot of the sealed log, for per-step checks on pages.
    pub sealed: Arc<SealCache>,
    /// Cost budgets; sessions over them are flagged.
    pub budgets: Arc<Budgets>,
    /// Similar-failure search, or why it is off.
    pub search: Arc<flightlog_index::Search>,
    /// Where the pages of the web UI are, for answers that link to them.
    pub links: Arc<dyn PageLinks>,
    /// Personal data and secrets replaced before steps are stored.
    pub redaction: Arc<redaction::Redaction>,
    /// Every read of step content is recorded here before it is answered.
    pub access: Arc<access_log::AccessLog>,
    /// Asked by agents before they act; fed every stored step.
    pub guard: Arc<guard::Guard>,
    /// The detectors and the incidents they found (fed by the guard).
    pub incidents: Arc<incidents::Incidents>,
    /// Which addresses alert receivers may have.
    pub alert_receivers: alert_receivers::Receivers,
    /// Where people reach this instance's pages (`--public-url`), for the
    /// links that leave it (alerts); None: links are paths.
    pub public_url: Option<String>,
    /// Legal holds placed and released, erasures and expiries, one at a
    /// time in this process (`retention::OneAtATime`).
    pub holds_and_erasures: Arc<retention::OneAtATime>,
    /// Sessions retention found not to verify, passed over by its later
    /// runs in this process (`retention::Unverified`).
    pub unverified: Arc<retention::Unverified>,
}

/// The addresses of pages, known only to the front end that serves them.
pub trait PageLinks: Send + Sync + 'static {
    /// The decision ("why") page of one step.
    fn decision(&self, session_id: &str, step: u64) -> String;
}
