//! The write step: what one call of the store writes, built on the writer
//! thread, read back through the group's overlay by later steps of the same
//! group, and applied with the whole group as one batch.

use std::collections::HashMap;
use std::fs::File;
use std::sync::{Arc, Mutex};

use prost::Message as _;
use schakel_proto::v1 as pb;

use super::keys::{
    AUDIT, CONSENT, COUNTS, ERASE, EXPIRY, HELD_BY_RECIPIENT, HELD_BY_SENDER, INBOX, LAPSE, LEASE,
    MESSAGE, PURGE, RECEIPT_BY_SENDER, audit_index_keys, be, counts, counts_value, held_bytes, key,
    ms,
};
use super::overlay::{Overlay, View};
use super::payloads::{Payloads, Stored};
use super::recovery::Counters;
use crate::crypto::{Digest, Signer};
use crate::model::{ConsentId, ConsentRecord, Draft, Entry, Kind, MessageId, MessageRecord, Oin};
use crate::store::lifecycle::{Change, Event, Place, Schedule};
use crate::store::sealing::Sealing;
use crate::store::{StoreError, receipts};

/// The counters, locked; a lock poisoned by a panic elsewhere still holds
/// valid counters (they are replaced whole).
pub(super) fn lock(counters: &Mutex<Counters>) -> std::sync::MutexGuard<'_, Counters> {
    counters
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where a probe after a fault writes: beside the format version, under the
/// `V` prefix that holds the store's own bookkeeping.
const PROBE_KEY: &[u8] = b"Vprobe";

/// What the writer thread works with.
pub(super) struct Writer {
    pub tree: ::sled::Tree,
    pub payloads: Arc<Payloads>,
    pub counters: Arc<Mutex<Counters>>,
    pub signer: Arc<dyn Signer>,
    pub sealing: Arc<Sealing>,
    pub db: ::sled::Db,
    pub data_file: File,
    /// Whether a step changed anything since the last sync; an idle sweep
    /// then costs no fsync.
    pub dirty: bool,
    /// The writes of the current group's steps, applied as one batch before
    /// the group's flush.
    pub pending: Overlay,
    /// The group's payload changes, kept until its batch is applied.
    pub payload_changes: PayloadChanges,
    /// Payload files of destroyed payloads, removed once the batch that
    /// destroyed them is durable: a file is the one thing that cannot be
    /// taken back.
    pub unlink_after_sync: Vec<MessageId>,
    /// The latest step time of the current group: the time its tree head
    /// is signed at.
    pub group_ms: i64,
    /// The size of the newest tree head on disk: readers hand out no head
    /// a crash could still take back.
    pub durable_head: Arc<std::sync::atomic::AtomicU64>,
    /// A test makes the next batch fail with this.
    #[cfg(test)]
    pub fail_next_batch: Arc<std::sync::atomic::AtomicBool>,
    /// A test makes the next sync fail with this, after its batch applied.
    #[cfg(test)]
    pub fail_next_sync: Arc<std::sync::atomic::AtomicBool>,
}

/// What a group does to payloads: those it stored (taken back if its batch
/// fails) and those it destroys (done only once its batch is applied), so
/// that a failed group leaves no payload without its record nor a record
/// without its payload.
#[derive(Default)]
pub(super) struct PayloadChanges {
    pub stored: Vec<MessageId>,
    pub destroyed: Vec<MessageId>,
}

impl PayloadChanges {
    /// Adds a later step's changes.
    pub fn extend(&mut self, other: PayloadChanges) {
        self.stored.extend(other.stored);
        self.destroyed.extend(other.destroyed);
    }
}

impl Writer {
    /// Applies the group's writes to the tree as one atomic batch. On a
    /// failure nothing of the group is kept: the pending writes are dropped
    /// and the counters read back from the tree.
    fn apply_pending(&mut self) -> Result<(), StoreError> {
        self.sign_tree_head()?;
        let changes = std::mem::take(&mut self.payload_changes);
        let mut batch = ::sled::Batch::default();
        for (k, v) in std::mem::take(&mut self.pending) {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        #[cfg(test)]
        let injected = self
            .fail_next_batch
            .swap(false, std::sync::atomic::Ordering::SeqCst);
        #[cfg(not(test))]
        let injected = false;
        let applied = if injected {
            Err(StoreError::Io(std::io::Error::other(
                "injected batch failure",
            )))
        } else {
            self.tree.apply_batch(batch).map_err(StoreError::from)
        };
        if let Err(e) = applied {
            self.take_back(changes.stored);
            *lock(&self.counters) = Counters::recover(&self.tree, &self.sealing)?;
            return Err(e);
        }
        for id in changes.destroyed {
            if self.payloads.forget(&id)? {
                self.unlink_after_sync.push(id);
            }
        }
        Ok(())
    }

    /// Adds to the group's batch the signed head of the tree as the group
    /// leaves it, if the group added entries: one signature per group, in
    /// the batch that makes its entries durable.
    fn sign_tree_head(&mut self) -> Result<(), StoreError> {
        let mut c = lock(&self.counters);
        let signed = super::tree::head(
            &c.tree,
            c.tree_first,
            c.head_size,
            self.group_ms,
            self.signer.as_ref(),
        )?;
        if let Some(signed) = signed {
            c.head_size = signed.head.size;
            self.pending.insert(signed.key, Some(signed.value.into()));
        }
        self.group_ms = 0;
        Ok(())
    }

    /// Removes payloads a failed group stored: nothing refers to them.
    fn take_back(&mut self, stored: Vec<MessageId>) {
        for id in stored {
            if let Err(e) = self.payloads.remove(&id) {
                tracing::error!(error = %e, message = %id, "a payload of a failed group could not be removed");
            }
        }
    }

    /// After a commit that panicked half-way: forgets the group's writes
    /// and reads the counters back from the tree, so that the next entry
    /// chains on to the last one that is really stored.
    pub fn reset(&mut self) {
        self.pending.clear();
        let changes = std::mem::take(&mut self.payload_changes);
        self.take_back(changes.stored);
        self.dirty = true;
        match Counters::recover(&self.tree, &self.sealing) {
            Ok(c) => *lock(&self.counters) = c,
            Err(e) => tracing::error!(error = %e, "could not read the audit counters back"),
        }
    }

    /// Whether the store can write again after a fault: writes a small
    /// record (the moment of the probe) and makes everything durable.
    pub fn probe(&mut self) -> Result<(), StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.tree.insert(PROBE_KEY, be(now).to_vec())?;
        self.dirty = true;
        self.sync()
    }

    /// Makes everything applied so far durable: the group's batch, the
    /// payload folder, sled's log, and the data file (sled's `flush()` does
    /// not fsync it in every case on Linux).
    pub fn sync(&mut self) -> Result<(), StoreError> {
        if !self.dirty {
            return Ok(());
        }
        self.apply_pending()?;
        #[cfg(test)]
        if self
            .fail_next_sync
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Err(StoreError::Io(std::io::Error::other(
                "injected sync failure",
            )));
        }
        self.payloads.sync_folder()?;
        self.db.flush()?;
        self.data_file.sync_all()?;
        self.dirty = false;
        let signed = lock(&self.counters).head_size;
        self.durable_head
            .store(signed, std::sync::atomic::Ordering::Release);
        for id in std::mem::take(&mut self.unlink_after_sync) {
            self.payloads.discard_file(&id)?;
        }
        Ok(())
    }
}

/// What a step does to a payload.
pub(super) enum PayloadOp {
    /// Stores it (or records its file, already written).
    Store(Stored),
    /// Destroys it.
    Destroy,
}

/// One step being built: its writes and what it changes.
pub(super) struct Step<'a> {
    tree: &'a ::sled::Tree,
    /// Writes of earlier steps of the same group, not yet in the tree.
    group: &'a Overlay,
    payloads: &'a Payloads,
    signer: &'a dyn Signer,
    sealing: &'a Sealing,
    /// Payload writes (or records of files already written) and removals,
    /// applied before the group's batch.
    payload_ops: Vec<(MessageId, PayloadOp)>,
    writes: Overlay,
    /// The audit counters as this step leaves them.
    pub counters: Counters,
    counts: HashMap<Oin, (i64, i64)>,
    /// Changes to the payload bytes held, by key (`b` recipient, `B`
    /// sender).
    held: HashMap<Vec<u8>, i64>,
    /// Records written in this step, decoded, so that later reads in the
    /// same step need not decode them again from `writes`.
    records: HashMap<MessageId, MessageRecord>,
    now_ms: i64,
    changed: bool,
}

impl<'a> Step<'a> {
    /// A step of the writer `w`, at `now_ms`.
    pub fn new(w: &'a Writer, now_ms: i64) -> Self {
        Self {
            tree: &w.tree,
            group: &w.pending,
            payloads: &w.payloads,
            signer: w.signer.as_ref(),
            sealing: w.sealing.as_ref(),
            payload_ops: Vec::new(),
            writes: Overlay::new(),
            counters: lock(&w.counters).clone(),
            counts: HashMap::new(),
            held: HashMap::new(),
            records: HashMap::new(),
            now_ms,
            changed: false,
        }
    }

    /// What seals the child in the records this step writes.
    pub fn sealing(&self) -> &'a Sealing {
        self.sealing
    }

    /// The signer for this step's checkpoints.
    pub fn signer(&self) -> &'a dyn Signer {
        self.signer
    }

    /// The store as this step sees it: its own writes, the group's, the
    /// tree.
    pub fn view(&self) -> View<'_> {
        View::layered(self.tree, &self.writes, self.group)
    }

    /// Writes `v` under `k`.
    pub fn insert(&mut self, k: Vec<u8>, v: impl Into<::sled::IVec>) {
        self.writes.insert(k, Some(v.into()));
        self.changed = true;
    }

    /// Removes `k`.
    pub fn remove(&mut self, k: Vec<u8>) {
        self.writes.insert(k, None);
        self.changed = true;
    }

    /// Stores a payload (before the group's batch).
    pub fn store_payload(&mut self, id: MessageId, stored: Stored) {
        self.payload_ops.push((id, PayloadOp::Store(stored)));
        self.changed = true;
    }

    /// Stores a message record.
    pub fn put_record(&mut self, r: &MessageRecord) -> Result<(), StoreError> {
        self.insert(
            key(MESSAGE, &[r.id.as_str().as_bytes()]),
            self.sealing.encode(r)?,
        );
        self.records.insert(r.id.clone(), r.clone());
        Ok(())
    }

    /// A message record as this step sees it.
    pub fn record(&self, id: &MessageId) -> Result<Option<MessageRecord>, StoreError> {
        match self.records.get(id) {
            Some(r) => Ok(Some(r.clone())),
            None => read_record(&self.view(), self.sealing, id),
        }
    }

    /// A consent as this step sees it.
    pub fn consent(&self, id: &ConsentId) -> Result<Option<ConsentRecord>, StoreError> {
        read_consent(&self.view(), self.sealing, id)
    }

    /// Adds to a recipient's (ready, leased) counts.
    pub fn count(&mut self, recipient: &Oin, ready: i64, leased: i64) {
        let e = self.counts.entry(recipient.clone()).or_default();
        e.0 += ready;
        e.1 += leased;
    }

    /// The sequence number the next audit entry of this step gets.
    pub fn next_audit_seq(&self) -> u64 {
        self.counters.audit_seq + 1
    }

    /// Places an audit entry in the chain; returns its sequence number. An
    /// entry that holds a child reference enters the schedule of its
    /// erasure, from when its retention starts.
    pub fn audit(&mut self, draft: Draft) -> Result<u64, StoreError> {
        Ok(self.audit_with(draft, None)?.0)
    }

    /// Places an audit entry whose event gave the receipt of digest
    /// `receipt_digest`, and its leaf in the log's tree; returns its
    /// sequence number and hash.
    fn audit_with(
        &mut self,
        draft: Draft,
        receipt_digest: Option<Digest>,
    ) -> Result<(u64, Digest), StoreError> {
        let mut entry = Entry::place(
            draft,
            self.counters.audit_seq,
            self.counters.audit_hash,
            self.now_ms,
        );
        entry.receipt_digest = receipt_digest;
        let hash = entry.hash();
        self.counters.audit_seq = entry.seq;
        self.counters.audit_hash = hash;
        let (k, v) = super::tree::grow(&mut self.counters.tree, &entry, &hash);
        self.insert(k, v);
        // An entry about a signal keeps its child reference from the
        // signal's lapse: it is scheduled. Every other entry's retention
        // starts when it is made, and the erasure walks them in order.
        if entry.child_ref.is_some() && entry.kind == Some(Kind::Signalering) {
            let from = entry.retention_start_ms();
            self.insert(key(ERASE, &[&ms(from), &be(entry.seq)]), vec![]);
        }
        for k in audit_index_keys(&entry, self.sealing) {
            self.insert(k, vec![]);
        }
        self.insert(key(AUDIT, &[&be(entry.seq)]), self.sealing.encode(&entry)?);
        Ok((entry.seq, hash))
    }

    /// Places the audit entry `draft` of an event of `r` that gives its
    /// sender a receipt with `detail`, and stores that receipt under the
    /// entry's sequence number as cursor, listed in `r`. The receipt names
    /// its entry's leaf and hash; it is stored unsigned and proved and
    /// signed where it leaves the store ([`receipts::seal`]), off the
    /// writer thread.
    fn audit_with_receipt(
        &mut self,
        r: &mut MessageRecord,
        draft: Draft,
        detail: &str,
    ) -> Result<pb::Receipt, StoreError> {
        let audit_seq = self.next_audit_seq();
        let mut receipt = receipts::unsigned(r, detail, audit_seq, self.now_ms);
        let digest = Digest(schakel_proto::receipt::leaf_digest(&receipt));
        let (_, hash) = self.audit_with(draft, Some(digest))?;
        receipts::place(&mut receipt, &hash, self.counters.leaf_of(audit_seq));
        r.receipt_cursors.push(audit_seq);
        self.insert(
            key(
                RECEIPT_BY_SENDER,
                &[r.sender.as_str().as_bytes(), &be(audit_seq)],
            ),
            receipt.encode_to_vec(),
        );
        Ok(receipt)
    }

    fn place(&mut self, r: &MessageRecord, place: Place, enter: bool) {
        let id = r.id.as_str().as_bytes();
        let sign = if enter { 1 } else { -1 };
        let (k, value, ready, leased) = match place {
            Place::Inbox { queue_seq } => (
                key(INBOX, &[r.recipient.as_str().as_bytes(), &be(queue_seq)]),
                id,
                sign,
                0,
            ),
            Place::Leased { until_ms: None } => {
                // A damaged record without its lease end: no key to move.
                self.count(&r.recipient, 0, sign);
                return;
            }
            Place::Leased {
                until_ms: Some(until_ms),
            } => (
                key(LEASE, &[&ms(until_ms), id]),
                r.recipient.as_str().as_bytes(),
                0,
                sign,
            ),
        };
        if enter {
            self.insert(k, value);
        } else {
            self.remove(k);
        }
        self.count(&r.recipient, ready, leased);
    }

    fn schedule(&mut self, prefix: u8, schedule: Option<Schedule>, id: &MessageId) {
        match schedule {
            Some(Schedule::Add(at)) => {
                self.insert(key(prefix, &[&ms(at), id.as_str().as_bytes()]), vec![])
            }
            Some(Schedule::Remove(at)) => {
                self.remove(key(prefix, &[&ms(at), id.as_str().as_bytes()]))
            }
            None => {}
        }
    }

    /// Applies what a life-cycle transition of `r` changes, stores `r`, and
    /// returns the receipt it gave the sender, if any.
    pub fn apply(
        &mut self,
        r: &mut MessageRecord,
        change: Change,
    ) -> Result<Option<pb::Receipt>, StoreError> {
        if let Some(place) = change.leaves {
            self.place(r, place, false);
        }
        if let Some(place) = change.enters {
            self.place(r, place, true);
        }
        let delta = change.held_bytes(r.payload_bytes);
        if delta != 0 {
            for k in [
                key(HELD_BY_RECIPIENT, &[r.recipient.as_str().as_bytes()]),
                key(HELD_BY_SENDER, &[r.sender.as_str().as_bytes()]),
            ] {
                *self.held.entry(k).or_default() += delta;
            }
        }
        self.schedule(EXPIRY, change.expiry, &r.id);
        self.schedule(PURGE, change.retention, &r.id);
        self.schedule(LAPSE, change.lapse, &r.id);
        if change.destroy_payload {
            self.payload_ops.push((r.id.clone(), PayloadOp::Destroy));
            self.changed = true;
        }
        let receipt = match change.event {
            Some(Event {
                audit,
                receipt: Some(detail),
            }) => Some(self.audit_with_receipt(r, audit, &detail)?),
            Some(Event {
                audit,
                receipt: None,
            }) => {
                self.audit(audit)?;
                None
            }
            None => None,
        };
        self.put_record(r)?;
        Ok(receipt)
    }

    /// Applies several changes of `r` in order; returns the first receipt.
    pub fn apply_all(
        &mut self,
        r: &mut MessageRecord,
        changes: Vec<Change>,
    ) -> Result<Option<pb::Receipt>, StoreError> {
        let mut first = None;
        for change in changes {
            let receipt = self.apply(r, change)?;
            first = first.or(receipt);
        }
        Ok(first)
    }

    /// Whether the step wrote anything.
    pub fn changed(&self) -> bool {
        self.changed
    }

    /// Finishes the step: stores its payloads (later steps of the group
    /// read them), and returns the counters to keep, the writes to add to
    /// the group's batch, and its payload changes for the group to apply or
    /// take back with its batch.
    pub fn into_writes(mut self) -> Result<(Counters, Overlay, PayloadChanges), StoreError> {
        let mut changes = PayloadChanges::default();
        if !self.changed {
            return Ok((self.counters, Overlay::new(), changes));
        }
        for (id, op) in std::mem::take(&mut self.payload_ops) {
            match op {
                PayloadOp::Store(stored) => {
                    self.payloads.insert(&id, stored)?;
                    changes.stored.push(id);
                }
                PayloadOp::Destroy => changes.destroyed.push(id),
            }
        }
        for (recipient, (d_ready, d_leased)) in std::mem::take(&mut self.counts) {
            let k = key(COUNTS, &[recipient.as_str().as_bytes()]);
            let (ready, leased) = counts(&k, self.view().get(&k)?.as_deref())?;
            let ready = (ready as i64 + d_ready).max(0) as u64;
            let leased = (leased as i64 + d_leased).max(0) as u64;
            let value = (ready > 0 || leased > 0).then(|| counts_value(ready, leased).into());
            self.writes.insert(k, value);
        }
        for (k, delta) in std::mem::take(&mut self.held) {
            let before = held_bytes(&k, self.view().get(&k)?.as_deref())?;
            let after = before.saturating_add_signed(delta);
            self.writes
                .insert(k, (after > 0).then(|| be(after).to_vec().into()));
        }
        Ok((self.counters, self.writes, changes))
    }
}

/// A message record, as `view` sees it.
pub(super) fn read_record(
    view: &View,
    sealing: &Sealing,
    id: &MessageId,
) -> Result<Option<MessageRecord>, StoreError> {
    let k = key(MESSAGE, &[id.as_str().as_bytes()]);
    Ok(view.get(&k)?.map(|v| sealing.decode(&k, &v)).transpose()?)
}

/// A consent, as `view` sees it.
pub(super) fn read_consent(
    view: &View,
    sealing: &Sealing,
    id: &ConsentId,
) -> Result<Option<ConsentRecord>, StoreError> {
    let k = key(CONSENT, &[id.as_str().as_bytes()]);
    Ok(view.get(&k)?.map(|v| sealing.decode(&k, &v)).transpose()?)
}
