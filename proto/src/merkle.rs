//! The audit log as a Merkle tree, hashed as RFC 9162 (Certificate
//! Transparency 2.0) section 2.1 defines it: a leaf is `SHA-256(0x00 ||
//! entry)`, an inner node `SHA-256(0x01 || left || right)`, and a tree of
//! `n` leaves splits at the largest power of two below `n`. A tree head
//! (size and root) signed by the gateway commits to every entry before it;
//! an inclusion proof shows one entry is in it, a consistency proof that a
//! later head extends an earlier one, so that nobody can rewrite or drop an
//! entry without every holder of an earlier head seeing it.
//!
//! Proofs are made from the hashes of the tree's complete subtrees (a
//! [`Nodes`] source: a slice of leaves here, stored nodes in the gateway),
//! and checked by [`verify_inclusion`] and [`verify_consistency`] with
//! nothing but the hashes, from any stack.

/// A SHA-256 hash in the tree.
pub type Hash = [u8; 32];

/// SHA-256 of `parts`, one after the other.
pub fn sha256(parts: &[&[u8]]) -> Hash {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    ctx.finish()
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes")
}

/// The hash of a leaf holding `entry`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    sha256(&[&[0x00], entry])
}

/// The hash of an inner node over `left` and `right`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[0x01], left, right])
}

/// The root of the empty tree: the hash of nothing.
pub fn empty_root() -> Hash {
    sha256(&[])
}

/// The largest power of two below `n` (for `n` >= 2): where a tree of `n`
/// leaves splits.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Where the hashes of complete subtrees come from: the subtree of
/// `2^level` leaves starting at leaf `index << level`.
pub trait Nodes {
    /// The hash of that subtree, if the source holds it.
    fn perfect(&self, level: u32, index: u64) -> Option<Hash>;
}

/// A slice of leaf hashes is a source of every complete subtree over it
/// (computed, for tests and for checking an exported log).
impl Nodes for [Hash] {
    fn perfect(&self, level: u32, index: u64) -> Option<Hash> {
        let width = 1u64.checked_shl(level)?;
        let start = index.checked_mul(width)?;
        let end = start.checked_add(width)?;
        if end > self.len() as u64 {
            return None;
        }
        let leaves = &self[start as usize..end as usize];
        Some(root_of_perfect(leaves))
    }
}

fn root_of_perfect(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        1 => leaves[0],
        n => node_hash(
            &root_of_perfect(&leaves[..n / 2]),
            &root_of_perfect(&leaves[n / 2..]),
        ),
    }
}

/// The root of the leaves `start..end` of a tree, a range that is a
/// subtree of some tree in RFC 9162's split (its start a multiple of the
/// largest power of two not above its length, or the rest of the tree), from
/// the complete subtrees it is made of.
fn range_root(nodes: &(impl Nodes + ?Sized), start: u64, end: u64) -> Option<Hash> {
    let n = end - start;
    if n == 0 {
        return Some(empty_root());
    }
    if n.is_power_of_two() && start.is_multiple_of(n) {
        return nodes.perfect(n.trailing_zeros(), start / n);
    }
    let k = split(n);
    Some(node_hash(
        &range_root(nodes, start, start + k)?,
        &range_root(nodes, start + k, end)?,
    ))
}

/// The root of the first `size` leaves.
pub fn root(nodes: &(impl Nodes + ?Sized), size: u64) -> Option<Hash> {
    range_root(nodes, 0, size)
}

/// The proof that leaf `index` is in the tree of the first `size` leaves
/// (RFC 9162 2.1.3.1), nearest the leaf first; None when `index` is not
/// below `size` or the source lacks a node.
pub fn inclusion_proof(nodes: &(impl Nodes + ?Sized), index: u64, size: u64) -> Option<Vec<Hash>> {
    if index >= size {
        return None;
    }
    let mut path = Vec::new();
    let (mut start, mut end, mut m) = (0u64, size, index);
    // Walk down from the root, collecting each sibling; reversed at the end.
    while end - start > 1 {
        let k = split(end - start);
        if m < k {
            path.push(range_root(nodes, start + k, end)?);
            end = start + k;
        } else {
            path.push(range_root(nodes, start, start + k)?);
            start += k;
            m -= k;
        }
    }
    path.reverse();
    Some(path)
}

/// The proof that the tree of the first `second` leaves extends the tree of
/// the first `first` (RFC 9162 2.1.4.1); None when `first` is 0 or above
/// `second`, or the source lacks a node. Equal sizes need no proof.
pub fn consistency_proof(
    nodes: &(impl Nodes + ?Sized),
    first: u64,
    second: u64,
) -> Option<Vec<Hash>> {
    if first == 0 || first > second {
        return None;
    }
    let mut path = Vec::new();
    let (mut start, mut end, mut m, mut whole) = (0u64, second, first, true);
    loop {
        let n = end - start;
        if m == n {
            if !whole {
                path.push(range_root(nodes, start, end)?);
            }
            break;
        }
        let k = split(n);
        if m <= k {
            path.push(range_root(nodes, start + k, end)?);
            end = start + k;
        } else {
            path.push(range_root(nodes, start, start + k)?);
            start += k;
            m -= k;
            whole = false;
        }
    }
    path.reverse();
    Some(path)
}

/// Why a proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofError {
    /// The index or sizes cannot be proved at all (an index past the size,
    /// a first tree larger than the second, or an empty first tree).
    OutOfRange,
    /// The proof has more or fewer hashes than the sizes ask for.
    WrongLength,
    /// The hashes do not lead to the root (or roots) given.
    Mismatch,
}

impl std::fmt::Display for ProofError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProofError::OutOfRange => "the index or tree sizes are out of range",
            ProofError::WrongLength => "the proof has the wrong number of hashes",
            ProofError::Mismatch => "the proof does not lead to the tree head's root",
        })
    }
}

impl std::error::Error for ProofError {}

/// Checks that `leaf` (a leaf hash) is leaf `index` of the tree of `size`
/// leaves whose root is `root`, by `proof` (RFC 9162 2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::OutOfRange);
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::WrongLength);
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
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if r != *root {
        return Err(ProofError::Mismatch);
    }
    Ok(())
}

/// Checks that the tree of `second` leaves with root `second_root` extends
/// the tree of `first` leaves with root `first_root`, by `proof` (RFC 9162
/// 2.1.4.2): every entry of the first is in the second, unchanged, in the
/// same place.
pub fn verify_consistency(
    (first, first_root): (u64, &Hash),
    (second, second_root): (u64, &Hash),
    proof: &[Hash],
) -> Result<(), ProofError> {
    if first == 0 || first > second {
        return Err(ProofError::OutOfRange);
    }
    if first == second {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return match first_root == second_root {
            true => Ok(()),
            false => Err(ProofError::Mismatch),
        };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let Some((head, rest)) = path.split_first() else {
        return Err(ProofError::WrongLength);
    };
    let (mut fr, mut sr) = (*head, *head);
    for c in rest {
        if s == 0 {
            return Err(ProofError::WrongLength);
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
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr != *first_root || sr != *second_root {
        return Err(ProofError::Mismatch);
    }
    Ok(())
}

/// The right edge of a growing tree: the roots of its complete subtrees,
/// largest first, from which the root of the whole is had in `O(log n)`
/// and to which a leaf is appended in the same. The gateway keeps one for
/// its log, and each new complete subtree it forms is a node to store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// One hash per set bit of `size`, the largest subtree first.
    edge: Vec<Hash>,
}

impl Frontier {
    /// The frontier of a tree of `size` leaves whose complete subtrees
    /// along the right edge are `edge` (largest first), as stored; None if
    /// `edge` does not fit `size`.
    pub fn from_parts(size: u64, edge: Vec<Hash>) -> Option<Self> {
        (edge.len() == size.count_ones() as usize).then_some(Self { size, edge })
    }

    /// The frontier of the first `size` leaves, read from the nodes a
    /// store kept: how a store finds its frontier again when it opens.
    pub fn from_nodes(nodes: &(impl Nodes + ?Sized), size: u64) -> Option<Self> {
        let mut edge = Vec::with_capacity(size.count_ones() as usize);
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if size & (1 << level) != 0 {
                edge.push(nodes.perfect(level, start >> level)?);
                start += 1 << level;
            }
        }
        Some(Self { size, edge })
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The complete subtrees along the right edge, largest first.
    pub fn edge(&self) -> &[Hash] {
        &self.edge
    }

    /// Appends a leaf hash. Returns the complete subtrees it forms, each as
    /// (level, index, hash), the leaf itself first: the nodes a store
    /// keeps to make proofs from.
    pub fn push(&mut self, leaf: Hash) -> Vec<(u32, u64, Hash)> {
        let mut formed = vec![(0, self.size, leaf)];
        let mut hash = leaf;
        let (mut level, mut index) = (0u32, self.size);
        while index & 1 == 1 {
            let left = self.edge.pop().expect("a subtree per set bit");
            hash = node_hash(&left, &hash);
            level += 1;
            index >>= 1;
            formed.push((level, index, hash));
        }
        self.edge.push(hash);
        self.size += 1;
        formed
    }

    /// The root of the tree.
    pub fn root(&self) -> Hash {
        match self.edge.split_last() {
            None => empty_root(),
            Some((last, rest)) => rest
                .iter()
                .rev()
                .fold(*last, |right, left| node_hash(left, &right)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaves of the test vectors that Certificate Transparency's
    /// implementations share (RFC 6962 and 9162 hash alike).
    fn leaves() -> Vec<Hash> {
        let entries: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        entries.iter().map(|e| leaf_hash(e)).collect()
    }

    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn roots_match_the_certificate_transparency_vectors() {
        let leaves = leaves();
        let mut frontier = Frontier::default();
        assert_eq!(frontier.root(), empty_root());
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for (n, want) in ROOTS.iter().enumerate() {
            let size = n as u64 + 1;
            assert_eq!(
                hex::encode(root(&leaves[..], size).unwrap()),
                *want,
                "size {size}"
            );
            frontier.push(leaves[n]);
            assert_eq!(hex::encode(frontier.root()), *want, "frontier at {size}");
        }
    }

    #[test]
    fn every_inclusion_proof_verifies_and_a_changed_one_does_not() {
        let leaves: Vec<Hash> = (0u32..37).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for size in 1..=leaves.len() as u64 {
            let root = root(&leaves[..], size).unwrap();
            for index in 0..size {
                let proof = inclusion_proof(&leaves[..], index, size).unwrap();
                let leaf = &leaves[index as usize];
                assert_eq!(verify_inclusion(leaf, index, size, &proof, &root), Ok(()));
                if let Some(first) = proof.first() {
                    let mut bad = proof.clone();
                    bad[0] = leaf_hash(first);
                    assert!(verify_inclusion(leaf, index, size, &bad, &root).is_err());
                    assert!(verify_inclusion(leaf, index, size, &proof[1..], &root).is_err());
                }
                let other = leaf_hash(b"another entry");
                assert!(verify_inclusion(&other, index, size, &proof, &root).is_err());
            }
            assert_eq!(
                verify_inclusion(&leaves[0], size, size, &[], &root),
                Err(ProofError::OutOfRange)
            );
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_a_rewritten_history_does_not() {
        let leaves: Vec<Hash> = (0u32..33).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut rewritten = leaves.clone();
        rewritten[5] = leaf_hash(b"rewritten");
        for second in 1..=leaves.len() as u64 {
            let second_root = root(&leaves[..], second).unwrap();
            for first in 1..=second {
                let first_root = root(&leaves[..], first).unwrap();
                let proof = consistency_proof(&leaves[..], first, second).unwrap();
                assert_eq!(
                    verify_consistency((first, &first_root), (second, &second_root), &proof),
                    Ok(()),
                    "{first} -> {second}"
                );
                // A head over a history with entry 5 rewritten is caught by
                // whoever holds a head that includes the original.
                if first > 5 {
                    let forged = root(&rewritten[..], second).unwrap();
                    let forged_proof = consistency_proof(&rewritten[..], first, second).unwrap();
                    assert!(
                        verify_consistency((first, &first_root), (second, &forged), &forged_proof)
                            .is_err(),
                        "{first} -> {second}"
                    );
                }
            }
        }
        let r = root(&leaves[..], 4).unwrap();
        assert_eq!(
            verify_consistency((5, &r), (4, &r), &[]),
            Err(ProofError::OutOfRange)
        );
    }

    #[test]
    fn the_frontier_names_each_complete_subtree_it_forms() {
        let leaves = leaves();
        let mut frontier = Frontier::default();
        let mut formed = Vec::new();
        for leaf in &leaves {
            formed.extend(frontier.push(*leaf));
        }
        // 8 leaves, 4 pairs, 2 quads, 1 of 8.
        assert_eq!(formed.len(), 15);
        for (level, index, hash) in formed {
            assert_eq!(leaves[..].perfect(level, index), Some(hash));
        }
        let again = Frontier::from_parts(frontier.size(), frontier.edge().to_vec()).unwrap();
        assert_eq!(again.root(), frontier.root());
        assert!(Frontier::from_parts(3, vec![[0; 32]]).is_none());
    }

    #[test]
    fn a_frontier_is_found_again_from_the_nodes_kept() {
        let leaves: Vec<Hash> = (0..40u8).map(|i| leaf_hash(&[i])).collect();
        let mut grown = Frontier::default();
        for size in 0..=40u64 {
            let read = Frontier::from_nodes(&leaves[..], size).unwrap();
            assert_eq!(read, grown, "size {size}");
            if let Some(leaf) = leaves.get(size as usize) {
                grown.push(*leaf);
            }
        }
        assert!(Frontier::from_nodes(&leaves[..], 41).is_none());
    }
}
