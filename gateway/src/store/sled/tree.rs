//! The audit log's tree in the sled store: every complete subtree's hash
//! under `T`, in one key per leaf (the subtrees that leaf completes),
//! written by the step that places the leaf's entry, and a
//! signed tree head under `H` (size) for every group that added entries,
//! in the group's own batch, so that no entry is durable before a head
//! that covers it is. Nodes are written once and never removed, not even
//! with the entries retention removes, so that every head stays provable.

use schakel_proto::merkle::{Frontier, Hash, Nodes};

use super::keys::{AUDIT, FORMAT, NODE, TREE_FIRST, TREE_HEAD, be, encode, key, u64_at};
use super::overlay::View;
use crate::crypto::{Digest, Signer};
use crate::model::{Entry, TreeHead};
use crate::store::StoreError;
use crate::store::sealing::Sealing;

/// Writes per batch of the migration.
const BATCH: usize = 10_000;

/// The key of the nodes leaf `leaf` completes: the leaf itself (level 0)
/// and each subtree it is the last leaf of, level by level, 32 bytes each,
/// in one value, so that a leaf costs one key however many it completes.
pub(super) fn leaf_key(leaf: u64) -> Vec<u8> {
    key(NODE, &[&be(leaf)])
}

/// Where node (level, index) is kept: the key of the leaf that completes
/// it (the subtree's last), and its place in that key's value.
pub(super) fn node_place(level: u32, index: u64) -> Option<(Vec<u8>, usize)> {
    let width = 1u64.checked_shl(level)?;
    let last = index.checked_add(1)?.checked_mul(width)?.checked_sub(1)?;
    Some((leaf_key(last), level as usize * 32))
}

/// The hash at `offset` of a leaf key's value.
pub(super) fn node_in(value: &[u8], offset: usize) -> Option<Hash> {
    value.get(offset..offset + 32)?.try_into().ok()
}

/// The nodes kept under leaf key `k` with value `v`, as (level, index,
/// hash).
pub(super) fn nodes_of(k: &[u8], v: &[u8]) -> Result<Vec<(u32, u64, Hash)>, StoreError> {
    let leaf = u64_at(k, 1)?;
    // Leaf `leaf` completes itself and one subtree per trailing one bit.
    let completes = 1 + leaf.trailing_ones() as usize;
    if k.len() != 9 || v.len() != completes * 32 {
        return Err(StoreError::Corrupt {
            key: String::from_utf8_lossy(k).into_owned(),
            message: "not the nodes of a leaf of the audit log's tree".into(),
        });
    }
    Ok(v.chunks(32)
        .enumerate()
        .map(|(level, h)| {
            let level = level as u32;
            let index = ((leaf + 1) >> level) - 1;
            (level, index, h.try_into().expect("32 bytes"))
        })
        .collect())
}

/// The key of the head of a tree of `size` leaves.
pub(super) fn head_key(size: u64) -> Vec<u8> {
    key(TREE_HEAD, &[&be(size)])
}

/// Leaf keys read for proofs, kept: a key's value is written once and never
/// changes, and the receipts of a group share most of their proofs' nodes
/// (the tree's right edge, the group's own). Cleared whole when full.
#[derive(Default)]
pub(super) struct LeafCache(std::sync::Mutex<std::collections::HashMap<Vec<u8>, ::sled::IVec>>);

/// Leaf keys the cache holds at most (about 100 bytes each).
const LEAF_CACHE: usize = 1 << 16;

impl LeafCache {
    /// The value of leaf key `k`, from the cache or from `tree`.
    pub(super) fn get(
        &self,
        tree: &::sled::Tree,
        k: &[u8],
    ) -> Result<Option<::sled::IVec>, StoreError> {
        let lock = || {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(v) = lock().get(k) {
            return Ok(Some(v.clone()));
        }
        let Some(v) = tree.get(k)? else {
            return Ok(None);
        };
        let mut cache = lock();
        if cache.len() >= LEAF_CACHE {
            cache.clear();
        }
        cache.insert(k.to_vec(), v.clone());
        Ok(Some(v))
    }
}

/// The nodes `view` holds.
struct Stored<'a>(&'a View<'a>);

impl Nodes for Stored<'_> {
    fn perfect(&self, level: u32, index: u64) -> Option<Hash> {
        let (k, offset) = node_place(level, index)?;
        node_in(&self.0.get(&k).ok()??, offset)
    }
}

/// The tree as the store left it: its frontier, the sequence number of
/// its first leaf, and the size of the newest head signed.
pub(super) fn recover(
    tree: &::sled::Tree,
    audit_seq: u64,
) -> Result<(Frontier, u64, u64), StoreError> {
    let first_seq = match tree.get(TREE_FIRST)? {
        Some(v) => u64_at(&v, 0)?,
        None => 1,
    };
    let size = (audit_seq + 1).saturating_sub(first_seq);
    let view = View::plain(tree);
    let frontier = Frontier::from_nodes(&Stored(&view), size).ok_or_else(|| StoreError::Corrupt {
        key: "T".into(),
        message: format!(
            "the audit log's tree lacks a node of its right edge at {size} leaves; restore the store from a backup"
        ),
    })?;
    let head_size = match tree.scan_prefix([TREE_HEAD]).next_back() {
        Some(kv) => u64_at(&kv?.0, 1)?,
        None => 0,
    };
    Ok((frontier, first_seq, head_size))
}

/// Appends `entry` (of hash `hash`) to `frontier`; returns the write of
/// the nodes its leaf completes.
pub(super) fn grow(frontier: &mut Frontier, entry: &Entry, hash: &Digest) -> (Vec<u8>, Vec<u8>) {
    let leaf = frontier.size();
    let formed = frontier.push(entry.leaf(hash));
    let value = formed.iter().flat_map(|(_, _, h)| *h).collect();
    (leaf_key(leaf), value)
}

/// The head of `frontier` signed at `now_ms`, with its key and value, if
/// the tree grew since the head of `signed_size`.
pub(super) fn head(
    frontier: &Frontier,
    first_seq: u64,
    signed_size: u64,
    now_ms: i64,
    signer: &dyn Signer,
) -> Result<Option<SignedHead>, StoreError> {
    if frontier.size() <= signed_size {
        return Ok(None);
    }
    let head = TreeHead::sign(frontier.size(), frontier.root(), first_seq, now_ms, signer);
    Ok(Some(SignedHead {
        key: head_key(head.size),
        value: encode(&head)?,
        head,
    }))
}

/// A head signed for a group, and its write.
pub(super) struct SignedHead {
    /// The head.
    pub head: TreeHead,
    /// Its key.
    pub key: Vec<u8>,
    /// Its value.
    pub value: Vec<u8>,
}

/// Store format 5 to 6: the nodes of the tree over the entries kept, its
/// first leaf the oldest kept entry. Written nodes are derived from the
/// entries alone, so a second run writes the same. Returns the leaves.
pub(super) fn tree_to_6(tree: &::sled::Tree, sealing: &Sealing) -> Result<u64, StoreError> {
    debug_assert_eq!(TREE_FIRST[0], FORMAT);
    let mut frontier = Frontier::default();
    let mut first = None;
    let mut batch = ::sled::Batch::default();
    let mut pending = 0;
    for kv in tree.scan_prefix([AUDIT]) {
        let (k, v) = kv?;
        // Opened: an entry of the first format hashes its child reference.
        let entry: Entry = sealing.decode(&k, &v)?;
        first.get_or_insert(entry.seq);
        let (k, v) = grow(&mut frontier, &entry, &entry.hash());
        batch.insert(k, v);
        pending += 1;
        if pending >= BATCH {
            tree.apply_batch(std::mem::take(&mut batch))?;
            pending = 0;
        }
    }
    batch.insert(TREE_FIRST, be(first.unwrap_or(1)).to_vec());
    tree.apply_batch(batch)?;
    Ok(frontier.size())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, Draft, GENESIS_HASH, Oin};

    #[test]
    fn every_node_a_leaf_completes_is_found_where_it_was_written() {
        let mut frontier = Frontier::default();
        let mut written = std::collections::HashMap::new();
        let mut expected = Vec::new();
        let actor = Oin::parse("00000099100000000001").unwrap();
        for i in 0..37u64 {
            let entry = Entry::place(
                Draft::new(actor.clone(), Action::SendAccepted),
                i,
                GENESIS_HASH,
                1,
            );
            let mut copy = frontier.clone();
            expected.extend(copy.push(entry.leaf(&entry.hash())));
            let (k, v) = grow(&mut frontier, &entry, &entry.hash());
            assert_eq!(frontier, copy);
            written.insert(k, v);
        }
        let mut read_back = Vec::new();
        for (k, v) in &written {
            read_back.extend(nodes_of(k, v).unwrap());
        }
        read_back.sort();
        let mut sorted = expected.clone();
        sorted.sort();
        assert_eq!(read_back, sorted);
        for (level, index, hash) in expected {
            let (k, offset) = node_place(level, index).unwrap();
            assert_eq!(
                node_in(&written[&k], offset),
                Some(hash),
                "({level}, {index})"
            );
        }
    }
}
