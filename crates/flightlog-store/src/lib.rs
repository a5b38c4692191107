//! Storage: steps, sessions and keys in ClickHouse.
//!
//! There is one set of SQL ([`migrations`] applies `schema/*.sql`; the
//! queries live in `src/queries/`, named for the question they answer) and
//! one wire format (RowBinary in; JSONEachRow out, or RowBinary for reads
//! of long texts: [`backend::Format`]). What differs between
//! backends is only the transport, the [`Backend`] trait:
//!
//! - [`embedded::Embedded`]: chDB in this process, data in a local folder.
//!   The default, and what the test suite proves the SQL against.
//! - [`server::Server`]: a ClickHouse server (or a cluster behind one
//!   address) over HTTP, with the official `clickhouse` crate.
//!
//! [`Store`] is the typed API that the rest of Flightlog uses.
//!
//! May use: `flightlog-model`, `flightlog-chdb` (floor 1). Used by ingest,
//! index, integrity and the application core.

pub mod access_log;
pub mod backend;
pub mod error;
pub mod cost_rollups;
pub mod costs;
pub mod decisions;
pub mod embedded;
pub mod erasure;
mod erasure_records;
pub mod expirations;
pub mod export;
pub mod followed;
pub mod guard;
pub mod incidents;
pub mod indexer_marks;
pub mod integrity;
pub mod keys;
pub mod leases;
pub mod legal_holds;
pub mod log_entries;
pub mod memory;
pub mod merkle_nodes;
pub mod checkpoints;
mod content;
pub mod migrations;
pub mod open;
pub mod overview;
pub mod params;
pub mod policies;
pub mod rowbinary;
pub mod server;
pub mod sessions;
pub mod spans;
pub mod steps;
pub mod waterfall;
pub mod web_sessions;

pub use access_log::{AccessFilter, AccessRow};
pub use backend::{Backend, Format, Params};
pub use error::StoreError;
pub use memory::MemoryBudget;
pub use open::{Location, open_backend, open_store};
pub use costs::{Amount, CostDimension, CostQuery, CostRow, Measure, Price};
pub use decisions::{DecisionLag, DecisionRow};
pub use followed::{FollowedStep, SessionGoal};
pub use checkpoints::CheckpointRow;
pub use erasure::{Erasure, ErasurePlan, Held, HeldReach};
pub use expirations::{ChainStep, ExpirationRow};
pub use erasure_records::{ErasureRow, ListedErasure};
pub use legal_holds::HoldRow;
pub use policies::{PolicyKind, PolicyRow};
pub use incidents::{DeliveryRow, IncidentFilter, IncidentRow};
pub use indexer_marks::IndexerMark;
pub use integrity::{ChainPosition, IntegrityRow, Stored};
pub use keys::KeyRow;
pub use leases::LeaseRow;
pub use sessions::{PageRead, RowsSeen, Seen, SessionFilter, SessionPage, SessionSort, SessionSummary};
pub use content::{HeldMessages, MessageRow};
pub use steps::{BatchMessages, ChainHead, EncodedStep, LogEntry, LogPosition, SessionState, StoredStep, TimelineRows};

use std::sync::Arc;

/// The typed API over a ClickHouse backend. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    ch: Arc<dyn Backend>,
    /// Whether the engine gives every read of a table in one query the
    /// same snapshot of its parts (`enable_shared_storage_snapshot_in_query`,
    /// ClickHouse 25.6 and later): session pages rely on it to group the
    /// sessions of recent parts (sessions.rs).
    shared_snapshots: bool,
    /// From how many rollup rows cost queries of few groups price sums
    /// (costs.rs, `SUM_ROLLUPS_FROM` by default).
    sum_rollups_from: u64,
    /// See [`Store::lock_messages`].
    messages_lock: Arc<tokio::sync::Mutex<()>>,
    /// See [`Store::steps_removals`].
    removals: Arc<std::sync::atomic::AtomicU64>,
}

impl Store {
    /// Wraps a backend and brings its schema up to date.
    pub async fn open(ch: Arc<dyn Backend>) -> Result<Self, StoreError> {
        migrations::apply(ch.as_ref()).await?;
        let prices = costs::load_price_list(ch.as_ref()).await?;
        tracing::info!(prices, "price list loaded");
        let shared_snapshots = sessions::shares_snapshots(ch.as_ref()).await?;
        let store = Self {
            ch,
            shared_snapshots,
            sum_rollups_from: costs::SUM_ROLLUPS_FROM,
            messages_lock: Default::default(),
            removals: Default::default(),
        };
        store.repair_derived_tables().await?;
        Ok(store)
    }

    /// The same store, pricing cost queries of few groups from the rollup
    /// rows' sums from `rows` rows on (0: always), not from the default's:
    /// for tests of either way.
    pub fn with_sum_rollups_from(mut self, rows: u64) -> Self {
        self.sum_rollups_from = rows;
        self
    }

    /// Rebuilds the tables derived from `steps` by materialized views
    /// (session summaries, action counts, cost rollups) if a failed or
    /// interrupted insert left them disagreeing with it.
    pub async fn repair_derived_tables(&self) -> Result<(), StoreError> {
        self.wait_for_writes_in_flight().await;
        sessions::repair_summaries_if_needed(self.ch.as_ref()).await?;
        cost_rollups::repair_if_needed(self.ch.as_ref()).await
    }

    /// Moves on when this store (any clone of it) starts and when it ends
    /// removing steps: what the writer knows of a session's chain from its
    /// own commits holds only while this stays put.
    pub fn steps_removals(&self) -> u64 {
        self.removals.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn backend(&self) -> &dyn Backend {
        self.ch.as_ref()
    }
}

/// Rebuilds `table`, a table a materialized view derives from `steps`, when
/// `totals` (one row: `source`, what steps hold; `derived`, what the table
/// accounts for) says the two disagree: a crash between an insert and its
/// view, or a table added since the steps were stored. `rebuild` refills it
/// from steps.
pub(crate) async fn rebuild_if_apart(ch: &dyn Backend, table: &str, totals: &str, rebuild: &str) -> Result<(), StoreError> {
    #[derive(serde::Deserialize)]
    struct Totals {
        source: u64,
        derived: u64,
    }
    let found: Vec<Totals> = backend::rows(&ch.query(totals, Params::new()).await?)?;
    if let Some(t) = found.first().filter(|t| t.source != t.derived) {
        tracing::warn!(table, source = t.source, derived = t.derived, "a table derived from steps disagrees with them; rebuilding it");
        ch.query(&format!("TRUNCATE TABLE {table}"), Params::new()).await?;
        ch.query(rebuild, Params::new()).await?;
    }
    Ok(())
}
