//! Signed checkpoints: at an interval, on demand, and on shutdown, the
//! current head of the Merkle log is signed and stored, if it grew.

use crate::mark::Mark;
use crate::signer::{Signer, checkpoint_message, checkpoint_signature_valid};
use flightlog_ingest::{LogView, SealableHead};
use flightlog_model::merkle::{Frontier, Hash, leaf_hash, verify_consistency};
use flightlog_store::{CheckpointRow, Store, StoreError};
use std::path::PathBuf;
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
    /// The newest checkpoint signed here, kept outside the database.
    mark: Option<Arc<Mark>>,
}

#[derive(Clone, Copy)]
struct Sealed {
    tenure: u64,
    size: u64,
}

impl Checkpointer {
    /// `mark`: where to keep the newest checkpoint signed here, outside
    /// the database (`DATA_DIR/integrity/last-checkpoint`); None keeps none.
    pub fn new(store: Store, log: LogView, signer: Arc<Signer>, mark: Option<PathBuf>) -> Self {
        let mark = mark.map(|path| Arc::new(Mark::at(path)));
        // No tenure is u64::MAX: the first seal reads where the log was sealed.
        Self { store, log, signer, last: Arc::new(Mutex::new(Sealed { tenure: u64::MAX, size: 0 })), mark }
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
        // No load of the log begins or ends until this seal is stored and
        // known to the load it was taken from (merkle_log.rs).
        let _load = self.log.hold_load().await;
        let Some(head) = self.log.sealable() else { return Ok(None) };
        if head.tenure != last.tenure {
            // Another process may have sealed since this one last did. The
            // same checkpoint the head is checked against: a newer row
            // not signed here must not stop the signing unseen.
            let size = self.newest_signed_here().await?.map_or(0, |c| c.tree_size);
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
        self.check_extends_the_last(&head).await?;
        // Extending the nodes may have taken longer than the lease.
        if self.log.sealable().map(|h| h.tenure) != Some(head.tenure) {
            return Ok(None);
        }
        let created_us = flightlog_model::time::now_us();
        let signature = self.signer.sign(&checkpoint_message(tree_size, &root_hash, created_us));
        let row = CheckpointRow { tree_size, root_hash, created_us, public_key: self.signer.public_key_hex(), signature };
        self.store.put_checkpoint(&row).await?;
        self.log.signed(&head);
        last.size = tree_size;
        if let Some(mark) = self.mark.clone() {
            // Two fsyncs: off the async threads.
            let written = tokio::task::spawn_blocking(move || mark.write(tree_size, &root_hash)).await;
            if let Err(e) = written.map_err(std::io::Error::other).and_then(|w| w) {
                tracing::warn!(error = %e, "could not keep the mark of the checkpoint just signed");
            }
        }
        tracing::info!(tree_size, root = %hex::encode(root_hash), "signed a checkpoint");
        Ok(Some(row))
    }

    /// What a new checkpoint signs must extend what the last one signed.
    /// A log rewritten below the last checkpoint would otherwise be sealed
    /// as it now is, and every check against the newest checkpoint would
    /// pass it. The head signed is the writer's log as it read it from the
    /// store and grew it since; that load noted its root at the newest
    /// checkpoint's size (and each checkpoint signed from it since), which
    /// decides alone: a check of the store instead could pass a log put
    /// back after the writer read it. Otherwise (a checkpoint the load did
    /// not note: stored by another process since, or the load's positions
    /// out of order), RFC 6962 consistency proven from the stored nodes,
    /// which were just brought up to date from the log, or else the log's
    /// own first entries.
    ///
    /// The last checkpoint is the newest one this instance's key signed
    /// ([`Checkpointer::newest_signed_here`]). The head must not be shorter
    /// than it, nor other entries at the same size. And the newest
    /// checkpoint signed here must still be there: deleted with the log's
    /// tail, the tail's positions would be handed out again and signed over
    /// anew.
    async fn check_extends_the_last(&self, head: &SealableHead) -> Result<(), StoreError> {
        let (size, root) = (head.size, &head.root);
        let latest = self.newest_signed_here().await?;
        if let Some(marked) = self.mark.as_ref().and_then(|m| m.deleted_beyond(latest.as_ref().map_or(0, |c| c.tree_size))) {
            tracing::error!(marked, "refusing to sign a checkpoint: the newest one signed here is missing from the database");
            return Err(StoreError::Invalid(format!(
                "refusing to sign a checkpoint: the newest checkpoint this instance signed, over {marked} entries, is no longer in \
                 the database, so the log of record was rolled back; restore it (the mark is DATA_DIR/integrity/last-checkpoint)"
            )));
        }
        let Some(last) = latest else { return Ok(()) };
        if last.tree_size > size || (last.tree_size == size && last.root_hash != *root) {
            return Err(rewritten(last.tree_size, size));
        }
        if last.tree_size == 0 || last.tree_size == size {
            return Ok(());
        }
        if let Some((_, held_root)) = head.held.filter(|(held_size, _)| *held_size == last.tree_size) {
            return match held_root == last.root_hash {
                true => Ok(()),
                false => Err(rewritten(last.tree_size, size)),
            };
        }
        let proof = crate::nodes::consistency_proof(&self.store, last.tree_size, size).await?;
        if proof.as_ref().is_some_and(|p| verify_consistency(last.tree_size, size, &last.root_hash, root, p)) {
            return Ok(());
        }
        // No proof, or one that fails: the stored nodes are a cache (and
        // may not reach that far yet: at most 2^20 leaves are added a
        // seal), and a missing or wrong one must not pass for a rewritten
        // log, nor stop the signing of a sound one. The log's own first
        // entries decide.
        if self.log_root(last.tree_size).await? == Some(last.root_hash) {
            if proof.is_some() {
                tracing::warn!(tree_size = last.tree_size, "the stored Merkle nodes disagree with the log, which matches its checkpoint: the nodes are wrong");
            }
            return Ok(());
        }
        Err(rewritten(last.tree_size, size))
    }

    /// How many entries the newest checkpoint signed here covered, when no
    /// stored checkpoint reaches as far ([`Mark::deleted_from`]). Signing
    /// asks more: a checkpoint signed here, its signature checked.
    pub async fn deleted_checkpoint(&self) -> Result<Option<u64>, StoreError> {
        match &self.mark {
            Some(mark) => mark.deleted_from(&self.store).await,
            None => Ok(None),
        }
    }

    /// The newest stored checkpoint this instance's key signed, its
    /// signature checked (see [`newest_signed_by`]).
    pub async fn newest_signed_here(&self) -> Result<Option<CheckpointRow>, StoreError> {
        newest_signed_by(&self.store, &self.signer.public_key_hex()).await
    }

    /// The root of the log's first `size` entries, read from the log
    /// itself; None when a position is missing or repeated.
    async fn log_root(&self, size: u64) -> Result<Option<Hash>, StoreError> {
        let (mut frontier, mut next, mut in_order) = (Frontier::default(), 0u64, true);
        self.store
            .for_each_log_hash_from(0, Some(size), 100_000, |index, h| {
                in_order &= index == next;
                frontier.push(leaf_hash(&h));
                next += 1;
            })
            .await?;
        Ok((in_order && next == size).then(|| frontier.root()))
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

/// The refusal to sign a head of `head` entries that does not extend the
/// checkpoint signed over the log's first `signed` entries.
fn rewritten(signed: u64, head: u64) -> StoreError {
    tracing::error!(signed, head, "refusing to sign a checkpoint: the log of record no longer matches the last checkpoint; run `flightlog verify --all`");
    let what = match signed > head {
        true => format!("the newest checkpoint covers {signed} entries and this log holds {head}"),
        false => format!("the first {signed} entries of the log of record no longer match the checkpoint signed over them (they were changed since)"),
    };
    StoreError::Invalid(format!("refusing to sign a checkpoint: {what}; run `flightlog verify --all` to see where"))
}

/// The newest stored checkpoint `key` (hex) signed, its signature
/// checked (replicas share one key). Rows under another key, or under this
/// one with a signature that does not verify, are passed over: a row added
/// behind Flightlog's back over a rewritten log's root is not what the log
/// is checked against, what a bundle proves steps by, or what retention
/// takes for sealed; and a key replaced on purpose starts afresh.
pub async fn newest_signed_by(store: &Store, key: &str) -> Result<Option<CheckpointRow>, StoreError> {
    let (mut below, mut passed_over) = (u64::MAX, 0u64);
    let found = loop {
        let page = store.checkpoints_of_key_below(key, below, 100).await?;
        let Some(oldest) = page.last() else { break None };
        below = oldest.tree_size;
        for c in page {
            if checkpoint_signature_valid(&c) {
                return Ok(Some(c)).inspect(|_| warn_passed_over(passed_over));
            }
            passed_over += 1;
        }
    };
    warn_passed_over(passed_over);
    Ok(found)
}

fn warn_passed_over(rows: u64) {
    if rows > 0 {
        tracing::warn!(rows, "checkpoints under this instance's key whose signatures do not verify (written behind its back) were passed over");
    }
}
