//! What the sled store reads back when it opens: the store's format version
//! (migrating a store written by an earlier release), and the audit
//! counters.
//!
//! No counter is written with the steps: the audit head, the newest
//! checkpoint and the first kept entry are read back from the `a` and `K`
//! keys, and a queue position and a receipt cursor are the sequence number
//! of the audit entry that goes with them. That saves a write per step (each
//! sled write costs 10-20 µs here).

use std::path::Path;

use schakel_proto::merkle::Frontier;

use super::keys::{AUDIT, CHECKPOINT, FORMAT, be, u64_at};
use crate::crypto::Digest;
use crate::model::{Entry, GENESIS_HASH};
use crate::store::StoreError;
use crate::store::sealing::Sealing;

/// The format this gateway writes.
///
/// - 1: the layout of release 0.1.0, which wrote no version: a store without
///   one is of this format, and opening it writes the version.
/// - 2: messages carry a case id of the gateway's (and the sender's own
///   reference beside it), and a reply its request's child; the `t` index
///   lists a case's messages, the `h` and `o` indexes find audit entries by
///   child and by organisation, `N` schedules notices. Audit entries written from now on are of
///   their own format 2 (`Entry::format`); older entries keep theirs.
/// - 3: receipts under `r` may be stored unsigned (signed where they leave
///   the store); those stored signed before stay as they are, so the step
///   from 2 changes no data. The version keeps an older gateway, which would
///   hand an unsigned receipt out as stored, from opening the store.
/// - 4: the payload bytes held undelivered per recipient (`b`) and per
///   sender (`B`), for the byte quotas; the step from 3 counts them from the
///   messages.
/// - 5: what identifies a child in a message, consent or audit entry is
///   sealed under the key of the day its term ends, and the `h` index holds
///   that day and the reference blinded under its key
///   ([`crate::store::sealing`]). The step from 4 seals every record; the
///   store is then rewritten into fresh files ([`super::compaction`]), so
///   that no plain copy is left in sled's log, and the version is written
///   into the rewritten store only.
/// - 6: the audit log is a Merkle tree: the nodes of its complete subtrees
///   under `T`, a signed head per group under `H`, the first leaf's
///   sequence number in `V`; receipts name their entry's leaf and hash. The
///   step from 5 builds the nodes over the entries kept
///   ([`super::tree::tree_to_6`]); their leaves hold no receipt digest.
pub const CURRENT_FORMAT: u64 = 6;

const FORMAT_KEY: &[u8] = b"Vformat";

/// What opening the store must still do after [`migrate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrated {
    /// The store is of the current format.
    Current,
    /// Its records were sealed: it must be rewritten into fresh files, and
    /// the rewritten store gets the version ([`record_format`]).
    Compact,
}

/// Writes the current format version into `tree`.
pub fn record_format(tree: &::sled::Tree) -> Result<(), StoreError> {
    tree.insert(FORMAT_KEY, be(CURRENT_FORMAT).to_vec())?;
    Ok(())
}

/// Reads the store's format version and brings the store to
/// [`CURRENT_FORMAT`], sealing with `sealing`; refuses a store written in a
/// newer format.
pub fn migrate(tree: &::sled::Tree, dir: &Path, sealing: &Sealing) -> Result<Migrated, StoreError> {
    debug_assert_eq!(FORMAT_KEY[0], FORMAT);
    let stored = tree.get(FORMAT_KEY)?;
    let found = match &stored {
        Some(v) => u64_at(v, 0)?,
        // A new, empty store starts at the current format; every release
        // that wrote data before versions existed wrote format 1.
        None if tree.is_empty() => CURRENT_FORMAT,
        None => 1,
    };
    if found > CURRENT_FORMAT {
        return Err(StoreError::TooNew {
            path: dir.display().to_string(),
            found,
            supported: CURRENT_FORMAT,
        });
    }
    // One step per version; each can run again after an interruption, and
    // the version is written once the step is done.
    if found < 2 {
        let migrated = super::migration::messages_to_2(tree)?;
        let indexed = super::migration::audit_indexes_to_2(tree, sealing)?;
        tracing::info!(
            migrated,
            indexed,
            "messages given case ids, audit entries indexed (store format 2)"
        );
    }
    if found < 4 {
        let held = super::migration::held_bytes_to_4(tree)?;
        tracing::info!(
            held,
            "payload bytes held undelivered counted (store format 4)"
        );
    }
    if found < 5 {
        let sealed = super::migration::sealed_to_5(tree, sealing)?;
        tracing::info!(
            sealed,
            from = found,
            "child references sealed under the keys of their terms (store format 5); the store is rewritten next"
        );
    }
    if found < 6 {
        let leaves = super::tree::tree_to_6(tree, sealing)?;
        tracing::info!(
            leaves,
            "the audit log made a Merkle tree over the entries kept (store format 6)"
        );
    }
    if found < 5 {
        return Ok(Migrated::Compact);
    }
    if stored.is_none() || found < CURRENT_FORMAT {
        record_format(tree)?;
        tracing::info!(to = CURRENT_FORMAT, "store format version recorded");
    }
    Ok(Migrated::Current)
}

/// The audit head and what the chain's ends are, kept in memory by the
/// writer and recovered from the stored chain when the store opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counters {
    /// The newest entry's sequence number.
    pub audit_seq: u64,
    /// The newest entry's hash.
    pub audit_hash: Digest,
    /// The newest entry a checkpoint covers.
    pub checkpoint_seq: u64,
    /// Entries up to here were removed after their retention period.
    pub pruned_through: u64,
    /// The right edge of the audit log's tree.
    pub tree: Frontier,
    /// The sequence number of the tree's first leaf.
    pub tree_first: u64,
    /// The size of the newest signed tree head.
    pub head_size: u64,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            audit_seq: 0,
            audit_hash: GENESIS_HASH,
            checkpoint_seq: 0,
            pruned_through: 0,
            tree: Frontier::default(),
            tree_first: 1,
            head_size: 0,
        }
    }
}

impl Counters {
    /// Reads the counters back from the stored chain: its newest entry (the
    /// head, opened with `sealing`: an entry of the first format hashes its
    /// child reference), its oldest (what was pruned before it), the newest
    /// checkpoint, and the tree's right edge and newest head.
    pub fn recover(tree: &::sled::Tree, sealing: &Sealing) -> Result<Self, StoreError> {
        let mut c = Self::default();
        if let Some(kv) = tree.scan_prefix([AUDIT]).next_back() {
            let (k, v) = kv?;
            let head: Entry = sealing.decode(&k, &v)?;
            c.audit_seq = head.seq;
            c.audit_hash = head.hash();
        }
        if let Some(kv) = tree.scan_prefix([AUDIT]).next() {
            let (k, _) = kv?;
            c.pruned_through = u64_at(&k, 1)?.saturating_sub(1);
        }
        if let Some(kv) = tree.scan_prefix([CHECKPOINT]).next_back() {
            let (k, _) = kv?;
            c.checkpoint_seq = u64_at(&k, 1)?;
        }
        (c.tree, c.tree_first, c.head_size) = super::tree::recover(tree, c.audit_seq)?;
        Ok(c)
    }

    /// The leaf index of the entry of sequence `seq`.
    pub fn leaf_of(&self, seq: u64) -> u64 {
        seq - self.tree_first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(dir: &Path) -> ::sled::Tree {
        ::sled::open(dir).unwrap().open_tree("t").unwrap()
    }

    #[test]
    fn an_unversioned_store_is_format_1_and_a_newer_one_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tree(tmp.path());
        // Data written by 0.1.0, without a version.
        t.insert(b"P00000099100000000001", b"{}".to_vec()).unwrap();
        let sealing = Sealing::open(tmp.path(), 1825, 0).unwrap();
        assert_eq!(
            migrate(&t, tmp.path(), &sealing).unwrap(),
            Migrated::Compact,
            "the version is written into the rewritten store"
        );
        assert_eq!(t.get(FORMAT_KEY).unwrap(), None);
        record_format(&t).unwrap();
        assert_eq!(
            migrate(&t, tmp.path(), &sealing).unwrap(),
            Migrated::Current
        );
        t.insert(FORMAT_KEY, be(CURRENT_FORMAT + 1).to_vec())
            .unwrap();
        let e = migrate(&t, tmp.path(), &sealing).unwrap_err();
        assert!(matches!(e, StoreError::TooNew { found, .. } if found == CURRENT_FORMAT + 1));
        assert!(
            e.to_string().contains("run a gateway at least as new"),
            "{e}"
        );
        t.insert(FORMAT_KEY, vec![1, 2]).unwrap();
        assert!(matches!(
            migrate(&t, tmp.path(), &sealing),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn a_garbled_audit_head_is_corrupt_not_genesis() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tree(tmp.path());
        let sealing = Sealing::open(tmp.path(), 1825, 0).unwrap();
        assert_eq!(
            Counters::recover(&t, &sealing).unwrap(),
            Counters::default()
        );
        t.insert([AUDIT, 0, 0, 0, 0, 0, 0, 0, 1], b"not json".to_vec())
            .unwrap();
        assert!(matches!(
            Counters::recover(&t, &sealing),
            Err(StoreError::Corrupt { .. })
        ));
        t.clear().unwrap();
        t.insert([CHECKPOINT, 1], b"{}".to_vec()).unwrap();
        assert!(matches!(
            Counters::recover(&t, &sealing),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
