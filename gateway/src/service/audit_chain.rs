//! The audit chain read in order, a page at a time, with each signed
//! checkpoint and the newest signed tree head after the entry each covers;
//! and its verification, which recomputes the chain and the tree's root
//! from the entries. Export, verify and the offline tools read it alike.

use schakel_proto::audit::{Verdict, Verifier};
use schakel_proto::keys::KeyRing;

use crate::model::{Checkpoint, Entry, TreeHead, wire};
use crate::store::{Store, StoreError};

/// Entries read from the store per page.
pub const PAGE: usize = 1000;

/// One record of the chain in order: an entry, or a signed statement that
/// follows the entry it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// An entry.
    Entry(Entry),
    /// A checkpoint.
    Checkpoint(Checkpoint),
    /// The newest signed tree head of the range, whose root the verifier
    /// makes again from the leaves of the entries before it.
    TreeHead(TreeHead),
}

/// The newest signed tree head whose last entry is at most `to`.
async fn newest_head_within(store: &dyn Store, to: u64) -> Result<Option<TreeHead>, StoreError> {
    let Some(newest) = store.tree_head(None).await? else {
        return Ok(None);
    };
    if newest.last_seq() <= to {
        return Ok(Some(newest));
    }
    match (to + 1).checked_sub(newest.first_seq) {
        Some(size) if size > 0 => store.tree_head_within(size).await,
        _ => Ok(None),
    }
}

/// The records of `store` up to `to` after `after`, a page at a time, each
/// checkpoint after the entry it covers, and the newest tree head within
/// `to` after its last entry; None when the range is done.
pub async fn records_page(
    store: &dyn Store,
    after: u64,
    to: u64,
) -> Result<Option<(Vec<Record>, u64)>, StoreError> {
    let from = (after + 1).max(store.audit_start().await?);
    if from > to {
        return Ok(None);
    }
    let entries = store.audit_entries(from, PAGE).await?;
    let entries: Vec<_> = entries.into_iter().take_while(|e| e.seq <= to).collect();
    let Some(last) = entries.last().map(|e| e.seq) else {
        return Ok(None);
    };
    let mut checkpoints = store
        .audit_checkpoints(from, last)
        .await?
        .into_iter()
        .peekable();
    let mut head = newest_head_within(store, to)
        .await?
        .filter(|h| (from..=last).contains(&h.last_seq()));
    let mut out = Vec::with_capacity(entries.len() + 2);
    for e in entries {
        let seq = e.seq;
        out.push(Record::Entry(e));
        while let Some(c) = checkpoints.next_if(|c| c.seq == seq) {
            out.push(Record::Checkpoint(c));
        }
        if let Some(h) = head.take_if(|h| h.last_seq() == seq) {
            out.push(Record::TreeHead(h));
        }
    }
    Ok(Some((out, last)))
}

/// Recomputes the chain of `store` over `from..=to` and checks its
/// checkpoints against `keys`, and the root of its newest tree head within
/// the range when the range starts at the tree's first leaf. Reads only:
/// usable on a stopped gateway's store.
pub async fn verify_chain(
    store: &dyn Store,
    keys: &KeyRing,
    from: u64,
    to: u64,
) -> Result<Verdict, StoreError> {
    let from = from.max(store.audit_start().await?);
    let mut verifier = Verifier::new(keys, from == 1);
    let mut after = from - 1;
    while let Some((records, last)) = records_page(store, after, to).await? {
        for r in &records {
            match r {
                Record::Entry(e) => verifier.entry(&wire::audit_entry(e)),
                Record::Checkpoint(c) => verifier.checkpoint(&wire::checkpoint(c)),
                Record::TreeHead(h) => verifier.tree_head(&h.to_wire()),
            }
        }
        if !verifier.intact() {
            break;
        }
        after = last;
    }
    Ok(verifier.finish())
}
