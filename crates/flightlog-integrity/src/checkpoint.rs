//! Signed checkpoints: at an interval, on demand, and on shutdown, the
//! current head of the Merkle log is signed and stored, if it grew.

use crate::signer::{Signer, checkpoint_message};
use flightlog_ingest::LogView;
use flightlog_model::merkle::{Hash, verify_consistency};
use flightlog_store::{CheckpointRow, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

#[derive(Clone)]
pub struct Checkpointer {
    store: Store,
    log: LogView,
    signer: Arc<Signer>,
    /// Serialises sealing, and remembers the last size sealed and under
    /// which writer lease tenure.
    last: Arc<Mutex<Sealed>>,
}

#[derive(Clone, Copy)]
struct Sealed {
    tenure: u64,
    size: u64,
}

impl Checkpointer {
    pub async fn new(store: Store, log: LogView, signer: Arc<Signer>) -> Result<Self, StoreError> {
        let size = store.latest_checkpoint().await?.map_or(0, |c| c.tree_size);
        Ok(Self { store, log, signer, last: Arc::new(Mutex::new(Sealed { tenure: u64::MAX, size })) })
    }

    pub fn public_key_hex(&self) -> String {
        self.signer.public_key_hex()
    }

    /// See [`Signer::derived_secret`].
    pub fn derived_secret(&self, purpose: &str) -> Vec<u8> {
        self.signer.derived_secret(purpose)
    }

    /// Signs an expiry record with this instance's key.
    pub fn sign_expiry(&self, row: &mut flightlog_store::ExpirationRow) {
        row.public_key = self.signer.public_key_hex();
        row.signature = self.signer.sign(&crate::signer::expiry_message(row));
    }

    /// Signs a statement's message (a policy set, a hold placed): rows
    /// written behind the instance's back then carry no valid signature.
    pub fn sign(&self, message: &[u8]) -> String {
        self.signer.sign(message)
    }

    /// Whether this instance signed `message`.
    pub fn signed(&self, message: &[u8], signature: &str) -> bool {
        crate::signer::signature_valid(&self.signer.public_key_hex(), message, signature)
    }

    /// Signs and stores the current log head if it grew since the last
    /// checkpoint. Returns the new checkpoint, if one was made. Only the
    /// process writing the log signs (with several processes, the holder
    /// of the writer lease); the others return `None`.
    pub async fn seal(&self) -> Result<Option<CheckpointRow>, StoreError> {
        let mut last = self.last.lock().await;
        let Some(head) = self.log.sealable() else { return Ok(None) };
        if head.tenure != last.tenure {
            // Another process may have sealed since this one last did.
            let size = self.store.latest_checkpoint().await?.map_or(0, |c| c.tree_size);
            *last = Sealed { tenure: head.tenure, size };
        }
        let (tree_size, root_hash) = (head.size, head.root);
        if tree_size == 0 || tree_size <= last.size {
            return Ok(None);
        }
        // The proofs of what this checkpoint seals read stored nodes; a
        // failure here costs speed (proofs then read the whole log), never
        // the checkpoint.
        if let Err(e) = crate::nodes::extend(&self.store, tree_size).await {
            tracing::warn!(error = %e, "could not store the Merkle log's nodes; proofs will read the whole log");
        }
        self.check_extends_the_last(tree_size, &root_hash).await?;
        let created_us = flightlog_model::time::now_us();
        let signature = self.signer.sign(&checkpoint_message(tree_size, &root_hash, created_us));
        let row = CheckpointRow { tree_size, root_hash, created_us, public_key: self.signer.public_key_hex(), signature };
        self.store.put_checkpoint(&row).await?;
        last.size = tree_size;
        tracing::info!(tree_size, root = %hex::encode(root_hash), "signed a checkpoint");
        Ok(Some(row))
    }

    /// What a new checkpoint signs must extend what the last one signed
    /// (RFC 6962 consistency, proven from the stored nodes, which were just
    /// brought up to date from the log). A log rewritten below the last
    /// checkpoint would otherwise be sealed as it now is, and every check
    /// against the newest checkpoint would pass it.
    async fn check_extends_the_last(&self, size: u64, root: &Hash) -> Result<(), StoreError> {
        let Some(last) = self.store.latest_checkpoint().await? else { return Ok(()) };
        if last.tree_size == 0 || last.tree_size >= size {
            return Ok(());
        }
        let Some(proof) = crate::nodes::consistency_proof(&self.store, last.tree_size, size).await? else {
            // The stored nodes are still catching up with a long log.
            tracing::warn!(from = last.tree_size, to = size, "signing without checking consistency: the Merkle nodes are not stored that far yet");
            return Ok(());
        };
        if verify_consistency(last.tree_size, size, &last.root_hash, root, &proof) {
            return Ok(());
        }
        tracing::error!(
            signed = last.tree_size,
            head = size,
            "refusing to sign a checkpoint: the log of record no longer matches the last checkpoint; run `flightlog verify --all`"
        );
        Err(StoreError::Invalid(format!(
            "refusing to sign a checkpoint: the first {} entries of the log of record no longer match the checkpoint signed over them \
             (they were changed since); run `flightlog verify --all` to see where",
            last.tree_size
        )))
    }

    /// Seals every `interval` until the process ends.
    pub fn spawn_periodic(self, interval: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = self.seal().await {
                    tracing::error!(error = %e, "could not sign a checkpoint; will retry");
                }
            }
        })
    }
}
