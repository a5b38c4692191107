//! Interior nodes of the log's Merkle tree, stored beside the log so that a
//! proof reads O(log n) small pieces instead of every leaf.
//!
//! Every [`STRIDE`]-th height is stored (4, 8, 12, …): the root of any
//! perfect subtree is then folded from at most 2^(STRIDE-1) = 8 stored
//! nodes, or from at most 8 leaves below height 4. The stored nodes are a
//! cache, not evidence: a proof built from a forged node does not verify
//! against the signed root, which is what a proof's reader checks.

use crate::merkle::{Frontier, Hash, PerfectRoots, consistency_proof_from, inclusion_proof_from, node_hash};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

/// Heights that are stored are the multiples of this.
pub const STRIDE: u32 = 4;
/// Leaves under one node of the lowest stored height.
pub const BLOCK: u64 = 1 << STRIDE;

/// A stored node: the root of leaves [index·2^height, (index+1)·2^height).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeKey {
    pub height: u32,
    pub index: u64,
}

pub fn is_stored(height: u32) -> bool {
    height > 0 && height.is_multiple_of(STRIDE)
}

/// What the root of the perfect subtree [start, start + 2^height) is
/// folded from.
#[derive(Debug, PartialEq)]
pub enum Pieces {
    /// Leaves at these positions.
    Leaves(Range<u64>),
    /// Stored nodes of this height, these indexes.
    Nodes { height: u32, indexes: Range<u64> },
}

pub fn pieces(start: u64, height: u32) -> Pieces {
    let stored = height / STRIDE * STRIDE;
    if stored == 0 {
        return Pieces::Leaves(start..start + (1 << height));
    }
    let first = start >> stored;
    Pieces::Nodes { height: stored, indexes: first..first + (1 << (height - stored)) }
}

/// What a set of proofs needs, found by running the RFC algorithms against
/// a source that remembers what it was asked for (so which subtrees a proof
/// takes is defined once, in `merkle`).
#[derive(Default)]
pub struct Needs {
    asked: RefCell<BTreeSet<(u64, u32)>>,
}

impl PerfectRoots for Needs {
    fn perfect_root(&self, start: u64, height: u32) -> Option<Hash> {
        self.asked.borrow_mut().insert((start, height));
        Some([0; 32])
    }
}

impl Needs {
    pub fn inclusion(&self, index: u64, size: u64) {
        inclusion_proof_from(self, index, size);
    }

    pub fn consistency(&self, m: u64, size: u64) {
        consistency_proof_from(self, m, size);
    }

    /// The subtrees a frontier of `size` leaves is made of.
    pub fn peaks(&self, size: u64) {
        for (start, height) in Frontier::peaks_of(size) {
            self.perfect_root(start, height);
        }
    }

    /// Leaf positions and stored nodes to fetch.
    pub fn fetch(&self) -> (BTreeSet<u64>, BTreeSet<NodeKey>) {
        let (mut leaves, mut nodes) = (BTreeSet::new(), BTreeSet::new());
        for &(start, height) in self.asked.borrow().iter() {
            match pieces(start, height) {
                Pieces::Leaves(r) => leaves.extend(r),
                Pieces::Nodes { height, indexes } => nodes.extend(indexes.map(|index| NodeKey { height, index })),
            }
        }
        (leaves, nodes)
    }
}

/// Fetched pieces: leaf hashes (the Merkle leaves, already
/// `leaf_hash`ed) by position, and stored nodes.
#[derive(Default)]
pub struct Fetched {
    pub leaves: HashMap<u64, Hash>,
    pub nodes: HashMap<NodeKey, Hash>,
}

impl PerfectRoots for Fetched {
    fn perfect_root(&self, start: u64, height: u32) -> Option<Hash> {
        let parts: Vec<Hash> = match pieces(start, height) {
            Pieces::Leaves(r) => r.map(|i| self.leaves.get(&i).copied()).collect::<Option<_>>()?,
            Pieces::Nodes { height, indexes } => {
                indexes.map(|index| self.nodes.get(&NodeKey { height, index }).copied()).collect::<Option<_>>()?
            }
        };
        Some(fold_perfect(parts))
    }
}

/// The root of a perfect tree over `level` (a power of two of hashes).
fn fold_perfect(mut level: Vec<Hash>) -> Hash {
    while level.len() > 1 {
        level = level.chunks_exact(2).map(|p| node_hash(&p[0], &p[1])).collect();
    }
    level[0]
}

/// Makes the nodes to store as leaves are appended, going on from where the
/// stored ones end.
pub struct NodeBuilder {
    frontier: Frontier,
}

impl NodeBuilder {
    /// Going on after the first `size` leaves (a multiple of [`BLOCK`]),
    /// with the stored pieces of `size`'s peaks (see [`Needs::peaks`]);
    /// None when a piece is missing.
    pub fn resume(size: u64, fetched: &Fetched) -> Option<Self> {
        assert!(size.is_multiple_of(BLOCK), "stored nodes end at a block boundary");
        let roots = Frontier::peaks_of(size).into_iter().map(|(s, h)| fetched.perfect_root(s, h)).collect::<Option<_>>()?;
        Some(Self { frontier: Frontier::from_peaks(size, roots)? })
    }

    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Appends the next Merkle leaf; the nodes to store it completes go to `out`.
    pub fn push(&mut self, leaf: Hash, out: &mut Vec<(NodeKey, Hash)>) {
        self.frontier.push_seeing(leaf, |start, height, root| {
            if is_stored(height) {
                out.push((NodeKey { height, index: start >> height }, *root));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{Tree, consistency_proof_from, inclusion_proof_from, leaf_hash};

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&crate::merkle::node_hash(&[i as u8; 32], &[(i >> 8) as u8; 32]))).collect()
    }

    /// Builds the stored nodes of `l` in runs ending at `cuts`, each run
    /// resumed from what the earlier ones stored, as the server does.
    fn stored(l: &[Hash], cuts: &[u64]) -> HashMap<NodeKey, Hash> {
        let mut nodes = HashMap::new();
        let mut done = 0;
        for &cut in cuts {
            let needs = Needs::default();
            needs.peaks(done);
            let fetched = Fetched { leaves: HashMap::new(), nodes: nodes.clone() };
            let mut b = NodeBuilder::resume(done, &fetched).expect("the peaks are stored");
            let mut out = Vec::new();
            for leaf in &l[done as usize..cut as usize] {
                b.push(*leaf, &mut out);
            }
            nodes.extend(out);
            done = cut / BLOCK * BLOCK;
        }
        nodes
    }

    #[test]
    fn pieces_are_at_most_eight_stored_nodes_or_leaves() {
        assert_eq!(pieces(48, 3), Pieces::Leaves(48..56));
        assert_eq!(pieces(64, 4), Pieces::Nodes { height: 4, indexes: 4..5 });
        assert_eq!(pieces(128, 7), Pieces::Nodes { height: 4, indexes: 8..16 });
        assert_eq!(pieces(256, 8), Pieces::Nodes { height: 8, indexes: 1..2 });
        for h in 0..40 {
            let n = match pieces(0, h) {
                Pieces::Leaves(r) => r.end - r.start,
                Pieces::Nodes { indexes, .. } => indexes.end - indexes.start,
            };
            assert!(n <= 8, "height {h}: {n} pieces");
        }
    }

    #[test]
    fn proofs_from_stored_nodes_are_the_proofs_of_the_whole_tree() {
        let l = leaves(1100);
        let tree = Tree::new(l.clone());
        // Stored in runs of odd lengths, each resumed from the last.
        let nodes = stored(&l, &[5, 300, 301, 777, 1100]);
        assert_eq!(nodes, stored(&l, &[1100]), "the same nodes however the runs were cut");
        for size in [1u64, 2, 15, 16, 17, 255, 256, 257, 1000, 1024, 1088, 1100] {
            let indexes: Vec<u64> = (0..size).step_by(7).chain([size - 1]).collect();
            let needs = Needs::default();
            for &i in &indexes {
                needs.inclusion(i, size);
            }
            needs.consistency(size.div_ceil(3), size);
            let (want_leaves, want_nodes) = needs.fetch();
            let fetched = Fetched {
                leaves: want_leaves.iter().map(|&i| (i, l[i as usize])).collect(),
                nodes: want_nodes.iter().filter_map(|k| nodes.get(k).map(|h| (*k, *h))).collect(),
            };
            for &i in &indexes {
                let proof = inclusion_proof_from(&fetched, i, size).expect("all pieces fetched");
                assert_eq!(proof, tree.inclusion_proof(i as usize, size as usize), "leaf {i} of {size}");
            }
            let m = size.div_ceil(3);
            assert_eq!(consistency_proof_from(&fetched, m, size).unwrap(), tree.consistency_proof(m as usize, size as usize));
        }
    }

    #[test]
    fn one_proof_reads_a_bounded_number_of_pieces() {
        for size in [1100u64, 1 << 20, 10_000_000, 100_000_000] {
            for index in [0, size / 3, size - 1] {
                let needs = Needs::default();
                needs.inclusion(index, size);
                let (leaves, nodes) = needs.fetch();
                // Its block's other leaves and the partial block at the end;
                // about 1+2+4+8 nodes per four heights, and the right
                // edge's: about a hundred at 100M leaves, not millions.
                assert!(leaves.len() as u64 <= 2 * BLOCK, "{} leaves for leaf {index} of {size}", leaves.len());
                assert!(nodes.len() <= 120, "{} nodes for leaf {index} of {size}", nodes.len());
            }
        }
    }

    #[test]
    fn a_missing_piece_is_said_not_guessed() {
        let l = leaves(64);
        let mut nodes = stored(&l, &[64]);
        nodes.remove(&NodeKey { height: 4, index: 2 });
        let fetched = Fetched { leaves: l.iter().copied().enumerate().map(|(i, h)| (i as u64, h)).collect(), nodes };
        assert_eq!(inclusion_proof_from(&fetched, 0, 64), None);
        assert!(NodeBuilder::resume(48, &fetched).is_none());
    }
}
