//! The writer's Merkle log of durable steps, and the one checkpoint it is
//! known to extend without reading the log again.
//!
//! A checkpoint must only sign a head that extends the last one signed
//! (checkpoint.rs in flightlog-integrity). The head it signs is this
//! in-memory log, which is read from the store once per load (at start-up,
//! on taking the writer lease, after a failed commit) and then only grows.
//! So one comparison per load is enough: while it streams the log, the
//! load notes its root at the newest checkpoint's size, and every head of
//! that load extends that root. A log rewritten below the checkpoint
//! before the load is refused there, however far the stored Merkle nodes
//! reach; one rewritten after it is not what this log holds.

use flightlog_model::merkle::{Frontier, Hash, leaf_hash};

/// The log's leaves (log_index order), as a frontier.
#[derive(Default)]
pub(crate) struct MerkleLog {
    frontier: Frontier,
    /// Which load of the log this is: heads of one load extend each other.
    load: u64,
    /// A (size, root) this load held: the newest checkpoint's size when
    /// it was read, then each checkpoint signed from it.
    held: Option<(u64, Hash)>,
}

/// Builds a load of the log from its entries as the store streams them,
/// noting the root at `checkpoint_size`.
pub(crate) struct Loading {
    log: MerkleLog,
    checkpoint_size: Option<u64>,
    in_order: bool,
}

impl Loading {
    /// `checkpoint_size`: the newest stored checkpoint's, read before the
    /// log; `previous`: the load this one replaces.
    pub fn new(checkpoint_size: Option<u64>, previous: &MerkleLog) -> Self {
        let log = MerkleLog { frontier: Frontier::default(), load: previous.load + 1, held: None };
        Self { log, checkpoint_size, in_order: true }
    }

    /// The entry at `index`. A position missing or repeated before the
    /// checkpoint's size leaves nothing noted: the checkpointer then reads
    /// the log itself, and refuses.
    pub fn push(&mut self, index: u64, step_hash: &Hash) {
        self.in_order &= index == self.log.frontier.size();
        self.log.frontier.push(leaf_hash(step_hash));
        if self.in_order && Some(self.log.frontier.size()) == self.checkpoint_size {
            self.log.held = Some((self.log.frontier.size(), self.log.frontier.root()));
        }
    }

    pub fn done(self) -> MerkleLog {
        self.log
    }
}

impl MerkleLog {
    pub fn push(&mut self, step_hash: &Hash) {
        self.frontier.push(leaf_hash(step_hash));
    }

    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    pub fn load(&self) -> u64 {
        self.load
    }

    pub fn held(&self) -> Option<(u64, Hash)> {
        self.held
    }

    /// A checkpoint was signed over (size, root), a head of load `load`.
    pub fn signed(&mut self, load: u64, size: u64, root: Hash) {
        if load == self.load && size <= self.size() {
            self.held = Some((size, root));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> Hash {
        [n; 32]
    }

    fn loaded(indexes: &[u64], checkpoint: Option<u64>) -> MerkleLog {
        let mut loading = Loading::new(checkpoint, &MerkleLog::default());
        for (n, index) in indexes.iter().enumerate() {
            loading.push(*index, &hash(n as u8));
        }
        loading.done()
    }

    #[test]
    fn a_load_holds_its_root_at_the_checkpoints_size() {
        let log = loaded(&[0, 1, 2, 3, 4], Some(3));
        let mut first_three = Frontier::default();
        (0..3).for_each(|n| first_three.push(leaf_hash(&hash(n))));
        assert_eq!(log.held(), Some((3, first_three.root())));
        assert_eq!((log.size(), log.load()), (5, 1));
        assert_eq!(loaded(&[0, 1], Some(3)).held(), None, "the log is shorter than the checkpoint");
        assert_eq!(loaded(&[0, 1, 2], None).held(), None, "no checkpoint yet");
    }

    #[test]
    fn a_position_missing_or_repeated_before_the_checkpoint_holds_nothing() {
        assert_eq!(loaded(&[0, 2, 3, 4], Some(3)).held(), None);
        assert_eq!(loaded(&[0, 1, 1, 2], Some(3)).held(), None);
        assert!(loaded(&[0, 1, 2, 4], Some(3)).held().is_some(), "a gap after the checkpoint is not this check's");
    }

    #[test]
    fn a_checkpoint_signed_from_a_later_load_is_not_held() {
        let mut log = loaded(&[0, 1, 2, 3], Some(2));
        let reloaded = Loading::new(Some(2), &log).done();
        assert_eq!(reloaded.load(), 2);
        log.signed(2, 4, hash(9));
        assert_eq!(log.held().map(|(size, _)| size), Some(2), "signed from another load");
        log.signed(1, 4, hash(9));
        assert_eq!(log.held(), Some((4, hash(9))));
        log.signed(1, 5, hash(8));
        assert_eq!(log.held(), Some((4, hash(9))), "past the log's size");
    }
}
