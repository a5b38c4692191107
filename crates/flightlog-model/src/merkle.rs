//! The log of accepted steps as a Merkle tree, hashed as in Certificate
//! Transparency (RFC 6962 §2.1, RFC 9162 §2.1): leaves are
//! `SHA-256(0x00 || step_hash)`, interior nodes `SHA-256(0x01 || left ||
//! right)`, and a tree of n leaves splits at the largest power of two
//! below n. Proofs follow RFC 6962's PATH and PROOF; verification follows
//! RFC 9162 §2.1.3.2 and §2.1.4.2 step by step.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// A hash from its hex form (either case), as stored and exported; `None`
/// unless it is exactly 64 hex digits.
pub fn hash_from_hex(text: &str) -> Option<Hash> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(text, &mut h).ok()?;
    Some(h)
}

pub fn leaf_hash(step_hash: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(step_hash);
    h.finalize().into()
}

pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Largest power of two strictly below n (n ≥ 2).
pub(crate) fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// MTH(D[n]) over leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The right edge of a growing tree: the roots of its perfect subtrees,
/// largest first. Appending is amortised O(1) and the state is O(log n), so
/// the server keeps the current root without holding every leaf.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frontier {
    size: u64,
    /// (height, subtree root); heights strictly decrease along the vector.
    peaks: Vec<(u32, Hash)>,
}

impl Frontier {
    pub fn push(&mut self, leaf: Hash) {
        self.push_seeing(leaf, |_, _, _| {});
    }

    /// Appends a leaf and calls `completed(start, height, root)` for each
    /// perfect subtree of height ≥ 1 this completes, lowest first.
    pub fn push_seeing(&mut self, leaf: Hash, mut completed: impl FnMut(u64, u32, &Hash)) {
        self.peaks.push((0, leaf));
        self.size += 1;
        while self.peaks.len() >= 2 {
            let (h2, right) = self.peaks[self.peaks.len() - 1];
            let (h1, left) = self.peaks[self.peaks.len() - 2];
            if h1 != h2 {
                break;
            }
            self.peaks.truncate(self.peaks.len() - 2);
            let joined = node_hash(&left, &right);
            completed(self.size - (1 << (h1 + 1)), h1 + 1, &joined);
            self.peaks.push((h1 + 1, joined));
        }
    }

    /// The frontier of the first `size` leaves, from the roots of the
    /// perfect subtrees `size` splits into (largest first, as
    /// [`Frontier::peaks_of`] lists them).
    pub fn from_peaks(size: u64, roots: Vec<Hash>) -> Option<Self> {
        let peaks = Self::peaks_of(size);
        (peaks.len() == roots.len()).then(|| Self { size, peaks: peaks.iter().map(|(_, h)| *h).zip(roots).collect() })
    }

    /// The perfect subtrees the first `size` leaves split into, largest
    /// first: (start, height).
    pub fn peaks_of(size: u64) -> Vec<(u64, u32)> {
        let mut start = 0;
        (0..u64::BITS)
            .rev()
            .filter(|h| size & (1 << h) != 0)
            .map(|h| {
                let peak = (start, h);
                start += 1 << h;
                peak
            })
            .collect()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some((_, last)) = peaks.next() else { return empty_root() };
        peaks.fold(*last, |acc, (_, left)| node_hash(left, &acc))
    }
}

/// Where the roots of perfect subtrees come from: a whole tree in memory
/// ([`Tree`]), or interior nodes stored beside the log
/// ([`crate::merkle_nodes`]). The RFC algorithms below only ever ask for
/// the root of an aligned perfect subtree, leaves [start, start + 2^height);
/// `None` when the source does not hold what it is made of.
pub trait PerfectRoots {
    fn perfect_root(&self, start: u64, height: u32) -> Option<Hash>;
}

/// MTH of leaves [start, start + len), split as RFC 6962 splits it.
pub fn range_root<S: PerfectRoots + ?Sized>(src: &S, start: u64, len: u64) -> Option<Hash> {
    match len {
        0 => Some(empty_root()),
        _ if len.is_power_of_two() && start.is_multiple_of(len) => src.perfect_root(start, len.trailing_zeros()),
        _ => {
            let k = split(len as usize) as u64;
            Some(node_hash(&range_root(src, start, k)?, &range_root(src, start + k, len - k)?))
        }
    }
}

/// RFC 6962 PATH for leaf `index` in the tree of the first `size` leaves.
pub fn inclusion_proof_from<S: PerfectRoots + ?Sized>(src: &S, index: u64, size: u64) -> Option<Vec<Hash>> {
    fn path<S: PerfectRoots + ?Sized>(src: &S, index: u64, start: u64, len: u64, out: &mut Vec<Hash>) -> Option<()> {
        if len <= 1 {
            return Some(());
        }
        let k = split(len as usize) as u64;
        if index < k {
            path(src, index, start, k, out)?;
            out.push(range_root(src, start + k, len - k)?);
        } else {
            path(src, index - k, start + k, len - k, out)?;
            out.push(range_root(src, start, k)?);
        }
        Some(())
    }
    assert!(index < size, "leaf {index} is not in a tree of {size}");
    let mut out = Vec::new();
    path(src, index, 0, size, &mut out)?;
    Some(out)
}

/// RFC 6962 PROOF(m, D[n]) over the first `size` leaves.
pub fn consistency_proof_from<S: PerfectRoots + ?Sized>(src: &S, m: u64, size: u64) -> Option<Vec<Hash>> {
    fn subproof<S: PerfectRoots + ?Sized>(src: &S, m: u64, start: u64, len: u64, whole: bool, out: &mut Vec<Hash>) -> Option<()> {
        if m == len {
            if !whole {
                out.push(range_root(src, start, len)?);
            }
            return Some(());
        }
        let k = split(len as usize) as u64;
        if m <= k {
            subproof(src, m, start, k, whole, out)?;
            out.push(range_root(src, start + k, len - k)?);
        } else {
            subproof(src, m - k, start + k, len - k, false, out)?;
            out.push(range_root(src, start, k)?);
        }
        Some(())
    }
    assert!(m >= 1 && m <= size, "consistency needs 1 <= m <= n");
    let mut out = Vec::new();
    subproof(src, m, 0, size, true, &mut out)?;
    Some(out)
}

/// A whole tree in memory, for producing many proofs: every complete
/// perfect subtree's root is kept by level, so the root of any range the RFC
/// algorithms ask for costs O(log n), and a proof O(log² n), instead of
/// rehashing its leaves.
pub struct Tree {
    /// levels[h][i] = root of leaves [i·2^h, (i+1)·2^h), where complete.
    levels: Vec<Vec<Hash>>,
}

impl PerfectRoots for Tree {
    fn perfect_root(&self, start: u64, height: u32) -> Option<Hash> {
        self.levels.get(height as usize)?.get((start >> height) as usize).copied()
    }
}

impl Tree {
    pub fn new(leaves: Vec<Hash>) -> Self {
        let mut levels = vec![leaves];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let below = levels.last().expect("a level");
            let above: Vec<Hash> = below.chunks_exact(2).map(|p| node_hash(&p[0], &p[1])).collect();
            levels.push(above);
        }
        Self { levels }
    }

    pub fn size(&self) -> usize {
        self.levels[0].len()
    }

    pub fn root(&self, size: usize) -> Hash {
        range_root(self, 0, size as u64).expect("the tree holds every leaf")
    }

    /// RFC 6962 PATH for leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion_proof(&self, index: usize, size: usize) -> Vec<Hash> {
        assert!(index < size && size <= self.size(), "leaf {index} is not in a tree of {size}");
        inclusion_proof_from(self, index as u64, size as u64).expect("the tree holds every leaf")
    }

    /// RFC 6962 PROOF(m, D[n]) over the first `size` leaves.
    pub fn consistency_proof(&self, m: usize, size: usize) -> Vec<Hash> {
        assert!(m >= 1 && m <= size && size <= self.size(), "consistency needs 1 <= m <= n");
        consistency_proof_from(self, m as u64, size as u64).expect("the tree holds every leaf")
    }
}

/// RFC 6962 PATH(m, D[n]): the audit path of leaf `index`.
pub fn inclusion_proof(index: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    assert!(index < n, "leaf {index} is not in a tree of {n}");
    if n == 1 {
        return Vec::new();
    }
    let k = split(n);
    let (mut path, sibling) = if index < k {
        (inclusion_proof(index, &leaves[..k]), root(&leaves[k..]))
    } else {
        (inclusion_proof(index - k, &leaves[k..]), root(&leaves[..k]))
    };
    path.push(sibling);
    path
}

/// RFC 9162 §2.1.3.2.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], expected_root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s, mut r) = (index, size - 1, *leaf);
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *expected_root
}

/// RFC 6962 PROOF(m, D[n]): shows the tree of the first m leaves is a prefix
/// of the tree of all n.
pub fn consistency_proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    assert!(m >= 1 && m <= leaves.len(), "consistency needs 1 <= m <= n");
    subproof(m, leaves, true)
}

fn subproof(m: usize, leaves: &[Hash], whole: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if whole { Vec::new() } else { vec![root(leaves)] };
    }
    let k = split(n);
    let (mut proof, extra) = if m <= k {
        (subproof(m, &leaves[..k], whole), root(&leaves[k..]))
    } else {
        (subproof(m - k, &leaves[k..], false), root(&leaves[..k]))
    };
    proof.push(extra);
    proof
}

/// RFC 9162 §2.1.4.2.
pub fn verify_consistency(m: u64, n: u64, root_m: &Hash, root_n: &Hash, proof: &[Hash]) -> bool {
    if m == 0 || m > n {
        return false;
    }
    if m == n {
        return proof.is_empty() && root_m == root_n;
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if m.is_power_of_two() {
        path.push(*root_m);
    }
    path.extend_from_slice(proof);
    let (mut f, mut s) = (m - 1, n - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && fr == *root_m && sr == *root_n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n as u64).map(|i| leaf_hash(&Sha256::digest(i.to_le_bytes()).into())).collect()
    }

    #[test]
    fn hashes_read_back_from_hex() {
        let h = leaf_hash(&[1; 32]);
        assert_eq!(hash_from_hex(&hex::encode(h)), Some(h));
        assert_eq!(hash_from_hex(&hex::encode(h).to_uppercase()), Some(h));
        assert_eq!(hash_from_hex("abc"), None);
        assert_eq!(hash_from_hex(&"zz".repeat(32)), None);
    }

    #[test]
    fn small_trees_match_the_rfc_definition() {
        assert_eq!(hex::encode(empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let l = leaves(3);
        assert_eq!(root(&l[..1]), l[0]);
        assert_eq!(root(&l), node_hash(&node_hash(&l[0], &l[1]), &l[2]));
        assert_ne!(leaf_hash(&l[0]), node_hash(&l[0], &l[0]), "leaves and nodes are domain-separated");
    }

    #[test]
    fn the_frontier_tracks_the_root_of_every_prefix() {
        let l = leaves(70);
        let mut f = Frontier::default();
        assert_eq!(f.root(), empty_root());
        for n in 1..=l.len() {
            f.push(l[n - 1]);
            assert_eq!(f.root(), root(&l[..n]), "size {n}");
        }
        assert_eq!(f.size(), 70);
    }

    #[test]
    fn inclusion_proofs_verify_and_catch_tampering() {
        let l = leaves(37);
        for n in 1..=l.len() {
            let r = root(&l[..n]);
            for i in 0..n {
                let proof = inclusion_proof(i, &l[..n]);
                assert!(verify_inclusion(i as u64, n as u64, &l[i], &proof, &r), "leaf {i} of {n}");
                let other = leaf_hash(&[7; 32]);
                assert!(!verify_inclusion(i as u64, n as u64, &other, &proof, &r), "a changed leaf fails");
                if n > 1 {
                    assert!(!verify_inclusion(((i + 1) % n) as u64, n as u64, &l[i], &proof, &r), "a moved leaf fails");
                }
            }
        }
    }

    #[test]
    fn the_in_memory_tree_gives_the_same_roots_and_proofs() {
        let l = leaves(45);
        let tree = Tree::new(l.clone());
        for n in 1..=l.len() {
            assert_eq!(tree.root(n), root(&l[..n]), "root of {n}");
            for i in 0..n {
                assert_eq!(tree.inclusion_proof(i, n), inclusion_proof(i, &l[..n]), "proof of {i} in {n}");
                assert_eq!(tree.consistency_proof(i + 1, n), consistency_proof(i + 1, &l[..n]), "consistency {} -> {n}", i + 1);
            }
        }
        assert_eq!(Tree::new(Vec::new()).root(0), empty_root());
    }

    #[test]
    fn a_frontier_rebuilt_from_its_peaks_goes_on_alike_and_names_what_it_completes() {
        let l = leaves(100);
        let tree = Tree::new(l.clone());
        for cut in [0usize, 1, 16, 37, 64, 99] {
            let roots = Frontier::peaks_of(cut as u64).iter().map(|&(s, h)| tree.perfect_root(s, h).unwrap()).collect();
            let mut resumed = Frontier::from_peaks(cut as u64, roots).unwrap();
            for leaf in &l[cut..] {
                resumed.push_seeing(*leaf, |start, height, root| {
                    assert_eq!(Some(*root), tree.perfect_root(start, height), "completed [{start}, +2^{height})");
                });
            }
            assert_eq!(resumed.root(), root(&l), "resumed at {cut}");
        }
        assert!(Frontier::from_peaks(5, vec![l[0]]).is_none(), "5 leaves are two peaks");
    }

    #[test]
    fn consistency_proofs_verify_prefixes_and_reject_rewrites() {
        let l = leaves(33);
        for n in 1..=l.len() {
            for m in 1..=n {
                let proof = consistency_proof(m, &l[..n]);
                assert!(verify_consistency(m as u64, n as u64, &root(&l[..m]), &root(&l[..n]), &proof), "{m} -> {n}");
                if m < n {
                    let mut rewritten = l[..n].to_vec();
                    rewritten[m - 1] = leaf_hash(&[9; 32]);
                    assert!(
                        !verify_consistency(m as u64, n as u64, &root(&l[..m]), &root(&rewritten), &consistency_proof(m, &rewritten)),
                        "history rewritten before {m} is caught ({n})"
                    );
                }
            }
        }
    }
}
