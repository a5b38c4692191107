//! The sealed part of the log, for a page that verifies one step: the
//! latest signed checkpoint (its signature checked once), and the step's
//! inclusion proof from the stored Merkle nodes checked against its root,
//! a few small reads per view instead of the whole log.
//!
//! Where the nodes do not reach the checkpoint yet, the whole sealed log is
//! read once per checkpoint (and at least every few minutes), checked to
//! run 0..n and to hash to the signed root, and kept. Full verification
//! (`verify`) never uses any of this: it always reads afresh.

use crate::signer::checkpoint_signature_valid;
use flightlog_model::merkle::{Hash, leaf_hash, root, verify_inclusion};
use flightlog_store::{CheckpointRow, Store, StoreError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, OnceCell};

const MAX_AGE: Duration = Duration::from_secs(300);

pub struct SealedLog {
    pub checkpoint: CheckpointRow,
    /// Why the checkpoint proves nothing (its signature does not verify).
    pub broken: Option<String>,
    /// The whole sealed log, read and checked only where the stored Merkle
    /// nodes do not reach the checkpoint; Err says why it proves nothing.
    leaves: OnceCell<Result<Vec<Hash>, String>>,
}

impl SealedLog {
    pub fn size(&self) -> u64 {
        self.checkpoint.tree_size
    }

    /// Whether the signed tree holds exactly `step_hash` at `index`: by the
    /// step's inclusion proof from the stored nodes, checked against the
    /// signed root, or, where the nodes do not reach, against the whole
    /// sealed log. Err: the sealed log proves nothing (why).
    pub async fn seals(&self, store: &Store, index: u64, step_hash: &Hash) -> Result<Result<bool, String>, StoreError> {
        let size = self.size();
        if let Some(proof) = crate::nodes::inclusion_proofs(store, &[index], size).await?.and_then(|mut p| p.pop()) {
            return Ok(Ok(verify_inclusion(index, size, &leaf_hash(step_hash), &proof, &self.checkpoint.root_hash)));
        }
        let leaves = self.leaves.get_or_try_init(|| whole_log(store, &self.checkpoint)).await?;
        Ok(leaves.as_ref().map(|l| l.get(index as usize) == Some(&leaf_hash(step_hash))).map_err(Clone::clone))
    }
}

/// The leaves of the log the checkpoint seals, if they hash to its root.
async fn whole_log(store: &Store, checkpoint: &CheckpointRow) -> Result<Result<Vec<Hash>, String>, StoreError> {
    let mut leaves: Vec<Hash> = Vec::with_capacity(checkpoint.tree_size as usize);
    let mut contiguous = true;
    store
        .for_each_log_hash(Some(checkpoint.tree_size), 200_000, |index, h| {
            contiguous &= index == leaves.len() as u64;
            leaves.push(leaf_hash(&h));
        })
        .await?;
    Ok(if !contiguous || leaves.len() as u64 != checkpoint.tree_size {
        Err("the log of record has lost or gained entries the latest checkpoint covers".to_string())
    } else if root(&leaves) != checkpoint.root_hash {
        Err("the log of record no longer hashes to the signed root".to_string())
    } else {
        Ok(leaves)
    })
}

pub struct SealCache {
    /// The instance's public key (hex): a checkpoint under another key
    /// proves nothing here, however well it is signed.
    trusted_key: String,
    current: Mutex<Option<(Arc<SealedLog>, Instant)>>,
}

impl SealCache {
    pub fn new(trusted_key: String) -> Self {
        Self { trusted_key, current: Mutex::default() }
    }

    /// The instance's public key (hex).
    pub fn trusted_key(&self) -> &str {
        &self.trusted_key
    }

    /// The latest checkpoint, its signature and its key checked; `None`
    /// before the first one. One that fails either is kept, broken, so
    /// that a page says so rather than passing over it.
    pub async fn get(&self, store: &Store) -> Result<Option<Arc<SealedLog>>, StoreError> {
        let Some(latest) = store.latest_checkpoint().await? else { return Ok(None) };
        let mut current = self.current.lock().await;
        if let Some((snapshot, at)) = current.as_ref()
            && snapshot.checkpoint == latest && at.elapsed() < MAX_AGE
        {
            return Ok(Some(snapshot.clone()));
        }
        let broken = if latest.public_key != self.trusted_key {
            // A row signed with a key of its own over a log of its own
            // making would otherwise seal any step it was made to.
            Some("the latest checkpoint is not signed by this instance's key".to_string())
        } else {
            (!checkpoint_signature_valid(&latest)).then(|| "the latest checkpoint's signature does not verify".to_string())
        };
        let snapshot = Arc::new(SealedLog { checkpoint: latest, broken, leaves: OnceCell::new() });
        *current = Some((snapshot.clone(), Instant::now()));
        Ok(Some(snapshot))
    }
}
