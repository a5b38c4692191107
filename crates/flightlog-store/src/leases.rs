//! The writer lease (`writer_leases`): which process writes
//! the log of record when several share one ClickHouse. The rules of the
//! lease (time to live, who may claim when) are the ingest crate's; this is
//! only its storage.

use crate::backend::rows;
use crate::{Params, Store, StoreError};

const CURRENT: &str = "SELECT generation, holder, address, ttl_ms FROM writer_leases ORDER BY generation DESC, claimed_us ASC LIMIT 1";

const HOLDER_OF: &str =
    "SELECT generation, holder, address, ttl_ms FROM writer_leases WHERE generation = {generation:UInt64} ORDER BY claimed_us ASC LIMIT 1";

/// One generation of the lease: who holds it and where its API listens.
/// An empty `holder` is a lease given up on a clean stop.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct LeaseRow {
    pub generation: u64,
    pub holder: String,
    pub address: String,
    /// The holder's time to live, in milliseconds (0: not known, a row
    /// written before schema/0030).
    pub ttl_ms: u64,
}

impl Store {
    /// The newest generation of the lease, if any was ever taken.
    pub async fn writer_lease(&self) -> Result<Option<LeaseRow>, StoreError> {
        Ok(rows(&self.ch.query(CURRENT, Params::new()).await?)?.into_iter().next())
    }

    /// Tries to take `generation` for `holder`; returns who holds it now
    /// (`holder` itself when the claim won). Only the first block inserted
    /// with the generation's deduplication token is kept, so of several
    /// processes claiming one generation exactly one wins, and a claim
    /// retried after a lost answer is harmless.
    pub async fn claim_writer_lease(&self, generation: u64, holder: &str, address: &str, now_us: i64, ttl_ms: u64) -> Result<LeaseRow, StoreError> {
        // The token is built from a number only: a settings clause takes
        // literals, not parameters.
        let claim = format!(
            "INSERT INTO writer_leases (generation, holder, address, claimed_us, ttl_ms) \
             SETTINGS insert_deduplicate = 1, insert_deduplication_token = 'writer-lease-{generation}' \
             SELECT {{generation:UInt64}}, {{holder:String}}, {{address:String}}, {{now:Int64}}, {{ttl_ms:UInt64}}"
        );
        let params = Params::new()
            .number("generation", generation)
            .text("holder", holder)
            .text("address", address)
            .number("now", now_us)
            .number("ttl_ms", ttl_ms);
        self.ch.query(&claim, params).await?;
        rows(&self.ch.query(HOLDER_OF, Params::new().number("generation", generation)).await?)?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Engine(format!("the claim of writer lease generation {generation} is not stored")))
    }
}
