//! The audit log's tree in the sled store: every complete subtree's hash
//! under `T` (level, index), written by the step that completes it, and a
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

/// The key of node (level, index).
pub(super) fn node_key(level: u32, index: u64) -> Vec<u8> {
    key(NODE, &[&[level as u8], &be(index)])
}

/// The (level, index) of node key `k`.
pub(super) fn node_of(k: &[u8]) -> Result<(u32, u64), StoreError> {
    match k.get(1) {
        Some(&level) if k.len() == 10 => Ok((u32::from(level), u64_at(k, 2)?)),
        _ => Err(StoreError::Corrupt {
            key: String::from_utf8_lossy(k).into_owned(),
            message: "not a tree node's key".into(),
        }),
    }
}

/// The key of the head of a tree of `size` leaves.
pub(super) fn head_key(size: u64) -> Vec<u8> {
    key(TREE_HEAD, &[&be(size)])
}

/// The nodes `view` holds.
struct Stored<'a>(&'a View<'a>);

impl Nodes for Stored<'_> {
    fn perfect(&self, level: u32, index: u64) -> Option<Hash> {
        let v = self.0.get(&node_key(level, index)).ok()??;
        v.as_ref().try_into().ok()
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

/// Appends `entry` (of hash `hash`) to `frontier`; returns the nodes it
/// completes, as writes.
pub(super) fn grow(
    frontier: &mut Frontier,
    entry: &Entry,
    hash: &Digest,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    frontier
        .push(entry.leaf(hash))
        .into_iter()
        .map(|(level, index, h)| (node_key(level, index), h.to_vec()))
        .collect()
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
        for (k, v) in grow(&mut frontier, &entry, &entry.hash()) {
            batch.insert(k, v);
            pending += 1;
        }
        if pending >= BATCH {
            tree.apply_batch(std::mem::take(&mut batch))?;
            pending = 0;
        }
    }
    batch.insert(TREE_FIRST, be(first.unwrap_or(1)).to_vec());
    tree.apply_batch(batch)?;
    Ok(frontier.size())
}
