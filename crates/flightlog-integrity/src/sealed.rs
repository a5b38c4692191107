//! The sealed part of the log, checked once and kept, so that a page can
//! verify one step in O(1) instead of reading the whole log per view.
//!
//! A snapshot holds the leaves of the log of record up to the latest signed
//! checkpoint, after checking the signature, that the positions run 0..n,
//! and that they hash to the signed root. It is rebuilt when a newer
//! checkpoint appears, and at least every few minutes so that tampering
//! with the log of record while the server runs is noticed by pages too.
//! Full verification (`verify`) never uses it: it always reads afresh.

use crate::signer::{checkpoint_message, signature_valid};
use flightlog_model::merkle::{Hash, leaf_hash, root};
use flightlog_store::{CheckpointRow, Store, StoreError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

const MAX_AGE: Duration = Duration::from_secs(300);

pub struct SealedLog {
    pub checkpoint: CheckpointRow,
    leaves: Vec<Hash>,
    /// Why the snapshot does not prove anything, when it does not.
    pub broken: Option<String>,
}

impl SealedLog {
    /// True when position `index` is sealed with exactly this step hash.
    pub fn seals(&self, index: u64, step_hash: &Hash) -> bool {
        self.broken.is_none() && self.leaves.get(index as usize) == Some(&leaf_hash(step_hash))
    }

    pub fn size(&self) -> u64 {
        self.checkpoint.tree_size
    }
}

#[derive(Default)]
pub struct SealCache {
    current: Mutex<Option<(Arc<SealedLog>, Instant)>>,
}

impl SealCache {
    /// The snapshot for the latest checkpoint; `None` before the first one.
    pub async fn get(&self, store: &Store) -> Result<Option<Arc<SealedLog>>, StoreError> {
        let Some(latest) = store.checkpoints().await?.pop() else { return Ok(None) };
        let mut current = self.current.lock().await;
        if let Some((snapshot, at)) = current.as_ref() {
            if snapshot.checkpoint == latest && at.elapsed() < MAX_AGE {
                return Ok(Some(snapshot.clone()));
            }
        }
        let mut leaves: Vec<Hash> = Vec::with_capacity(latest.tree_size as usize);
        let mut contiguous = true;
        store
            .for_each_log_hash(Some(latest.tree_size), 200_000, |index, h| {
                contiguous &= index == leaves.len() as u64;
                leaves.push(leaf_hash(&h));
            })
            .await?;
        let message = checkpoint_message(latest.tree_size, &latest.root_hash, latest.created_us);
        let broken = if !signature_valid(&latest.public_key, &message, &latest.signature) {
            Some("the latest checkpoint's signature does not verify".to_string())
        } else if !contiguous || leaves.len() as u64 != latest.tree_size {
            Some("the log of record has lost or gained entries the latest checkpoint covers".to_string())
        } else if root(&leaves) != latest.root_hash {
            Some("the log of record no longer hashes to the signed root".to_string())
        } else {
            None
        };
        let snapshot = Arc::new(SealedLog { checkpoint: latest, leaves, broken });
        *current = Some((snapshot.clone(), Instant::now()));
        Ok(Some(snapshot))
    }
}
