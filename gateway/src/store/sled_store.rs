//! The sled implementation of [`Store`], the embedded default.
//!
//! Everything but the payloads lives in one sled tree, under one-byte key
//! prefixes, so that a state change, its receipt and its audit entry go into
//! one atomic `sled::Batch`: the batch of the whole commit group the step
//! belongs to. Later steps of a group read the earlier ones' writes through
//! an [`Overlay`]; a step that fails adds nothing to it.
//!
//! Payloads live apart ([`Payloads`]: a tree of their own for small ones,
//! files for large ones), which keeps the main tree's pages small: a payload
//! is written *before* the batch that refers to it (a crash between leaves
//! only an unreferenced payload), and destroyed *before* the batch that
//! records its destruction (a crash between never leaves a payload that the
//! log says is gone).
//!
//! One writer thread runs every step, in order ([`GroupCommit`]; sled holds
//! an exclusive lock on its folder, so one process is the only writer there
//! is). Before it answers a group it applies the group's batch, then makes it
//! durable: sled's `flush()` followed by `sync_all()` of the data file `db`,
//! because `flush()` alone does not fsync the data file in every case on
//! Linux.
//!
//! Key layout (ids are UUID text, OINs 20 digits, numbers u64 big-endian so
//! that byte order is numeric order):
//!
//! | prefix | key | value |
//! | --- | --- | --- |
//! | `P` | OIN | participant (JSON) |
//! | `m` | id | message record (JSON) |
//! | (tree `payloads`) | id | sealed payload, or its length (8 bytes): in file `payloads/<id>` |
//! | `i` | recipient, queue seq | id: the FIFO inbox of ready messages |
//! | `l` | lease end ms, id | recipient: leases by end time |
//! | `x` | expiry ms, id | (): undelivered messages by expiry |
//! | `g` | final ms, id | (): payloads waiting for their retention to pass |
//! | `k` | sender, client reference | id: idempotency |
//! | `r` | sender, cursor | receipt (protobuf): a sender's receipt stream; a message's record lists its cursors |
//! | `a` | sequence | audit entry (JSON) |
//! | `c` | recipient | ready and leased counts |
//! | `C` | consent id | consent (JSON) |
//! | `n` | registering OIN, consent id | (): an organisation's consents |
//! | `w` | consent id, message id | (): the messages under a consent |
//! | `e` | valid-until ms, consent id | (): consents by end of validity |
//! | `K` | sequence | audit checkpoint (JSON) |
//!
//! No counter is written with the steps: the audit head, the newest
//! checkpoint and the first kept entry are read back from the `a` and `K`
//! keys when the store opens ([`Counters::recover`]), a queue position and a
//! receipt cursor are the sequence number of the audit entry that goes with
//! them. That saves a write per step (each sled write costs 10-20 µs here).

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use prost::Message as _;
use schakel_proto::v1 as pb;
use serde::Serialize;

use super::group_commit::GroupCommit;
use super::overlay::{Overlay, View};
use super::payloads::{Located, Payloads, Stored};
use super::{
    AcceptOutcome, Finished, InboxFigures, Leased, NewMessage, Outcome, Signer, Store, StoreError,
    SweepReport, receipt_status,
};
use super::{Revoked, Withdrawn};
use crate::audit::{self, Action, Entry, GATEWAY_ACTOR, GENESIS_HASH};
use crate::consent::ConsentRecord;
use crate::directory::Participant;
use crate::message::LegalBasis;
use crate::message::{MessageRecord, State};

const TREE: &str = "schakel";
const PAYLOADS: &str = "payloads";
const PARTICIPANT: u8 = b'P';
const MESSAGE: u8 = b'm';
const INBOX: u8 = b'i';
const LEASE: u8 = b'l';
const EXPIRY: u8 = b'x';
const PURGE: u8 = b'g';
const IDEMPOTENCY: u8 = b'k';
const RECEIPT_BY_SENDER: u8 = b'r';
const AUDIT: u8 = b'a';
const COUNTS: u8 = b'c';
const CONSENT: u8 = b'C';
const CONSENT_BY_ORG: u8 = b'n';
const MESSAGES_UNDER_CONSENT: u8 = b'w';
const CONSENT_END: u8 = b'e';
const CHECKPOINT: u8 = b'K';

/// How many items one sweep handles per kind, to bound the time the writer
/// lock is held; the rest waits for the next sweep.
const SWEEP_BATCH: usize = 10_000;

fn key(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
    k.push(prefix);
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn ms(n: i64) -> [u8; 8] {
    (n.max(0) as u64).to_be_bytes()
}

fn read_u64(bytes: &[u8]) -> u64 {
    u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"))
}

fn decode<T: serde::de::DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        message: e.to_string(),
    })
}

/// Decodes every value of a scan.
fn decode_all<T: serde::de::DeserializeOwned>(
    scan: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
) -> Result<Vec<T>, StoreError> {
    scan.map(|kv| {
        let (k, v) = kv?;
        decode(&k, &v)
    })
    .collect()
}

fn decode_receipt(key: &[u8], bytes: &[u8]) -> Result<pb::Receipt, StoreError> {
    pb::Receipt::decode(bytes).map_err(|e| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        message: e.to_string(),
    })
}

/// The keys under a time-ordered index (`prefix`, then a big-endian
/// millisecond time) that are due at `cutoff`, oldest first, at most
/// [`SWEEP_BATCH`]. Stops at the first key not yet due.
fn due(view: &View, prefix: u8, cutoff: i64) -> Result<Vec<sled::IVec>, StoreError> {
    let mut out = Vec::new();
    for kv in view.scan_prefix(&[prefix]).take(SWEEP_BATCH) {
        let (k, _) = kv?;
        if read_u64(&k[1..9]) as i64 > cutoff {
            break;
        }
        out.push(k);
    }
    Ok(out)
}

fn read_record(view: &View, id: &str) -> Result<Option<MessageRecord>, StoreError> {
    let k = key(MESSAGE, &[id.as_bytes()]);
    match view.get(&k)? {
        Some(v) => Ok(Some(decode(&k, &v)?)),
        None => Ok(None),
    }
}

fn read_consent(view: &View, id: &str) -> Result<Option<ConsentRecord>, StoreError> {
    let k = key(CONSENT, &[id.as_bytes()]);
    match view.get(&k)? {
        Some(v) => Ok(Some(decode(&k, &v)?)),
        None => Ok(None),
    }
}

/// A recipient's (ready, leased) counts as stored under `c`.
fn read_counts(view: &View, recipient: &str) -> Result<(u64, u64), StoreError> {
    Ok(match view.get(&key(COUNTS, &[recipient.as_bytes()]))? {
        Some(v) if v.len() == 16 => (read_u64(&v[..8]), read_u64(&v[8..])),
        _ => (0, 0),
    })
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialise")
}

/// What a step does to a payload.
enum PayloadOp {
    /// Stores it (or records its file, already written).
    Store(Stored),
    /// Destroys it.
    Destroy,
}

/// The audit head and what the chain's ends are, kept in memory by the
/// writer and recovered from the stored chain when the store opens.
#[derive(Debug, Clone)]
struct Counters {
    audit_seq: u64,
    audit_hash: String,
    /// The newest entry a checkpoint covers.
    checkpoint_seq: u64,
    /// Entries up to here were removed after their retention period.
    pruned_through: u64,
}

impl Counters {
    /// Reads the counters back from the stored chain: its newest entry (the
    /// head), its oldest (what was pruned before it) and the newest
    /// checkpoint.
    fn recover(tree: &sled::Tree) -> Result<Self, StoreError> {
        let mut c = Self::default();
        if let Some(kv) = tree.scan_prefix([AUDIT]).next_back() {
            let (k, v) = kv?;
            let head: Entry = decode(&k, &v)?;
            c.audit_seq = head.seq;
            c.audit_hash = hex::encode(head.hash());
        }
        if let Some(kv) = tree.scan_prefix([AUDIT]).next() {
            let (k, _) = kv?;
            c.pruned_through = read_u64(&k[1..9]).saturating_sub(1);
        }
        if let Some(kv) = tree.scan_prefix([CHECKPOINT]).next_back() {
            let (k, _) = kv?;
            c.checkpoint_seq = read_u64(&k[1..9]);
        }
        Ok(c)
    }
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            audit_seq: 0,
            audit_hash: hex::encode(GENESIS_HASH),
            checkpoint_seq: 0,
            pruned_through: 0,
        }
    }
}

/// The sled store.
#[derive(Clone)]
pub struct SledStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    tree: sled::Tree,
    /// The counters as of the last applied step, for readers; the writer
    /// thread updates them.
    counters: Arc<Mutex<Counters>>,
    commit: GroupCommit<Writer>,
    /// For writing large payloads' files before their steps.
    payloads: Arc<Payloads>,
}

/// What the writer thread works with.
struct Writer {
    tree: sled::Tree,
    payloads: Arc<Payloads>,
    counters: Arc<Mutex<Counters>>,
    signer: Arc<dyn Signer>,
    db: sled::Db,
    data_file: File,
    /// Whether a step changed anything since the last sync; an idle sweep
    /// then costs no fsync.
    dirty: bool,
    /// The writes of the current group's steps, applied as one batch before
    /// the group's flush.
    pending: Overlay,
}

impl Writer {
    /// Applies the group's writes to the tree as one atomic batch. On a
    /// failure nothing of the group is kept: the pending writes are dropped
    /// and the counters read back from the tree.
    fn apply_pending(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for (k, v) in std::mem::take(&mut self.pending) {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        if let Err(e) = self.tree.apply_batch(batch) {
            *self.counters.lock().expect("counters lock") = Counters::recover(&self.tree)?;
            return Err(e.into());
        }
        Ok(())
    }
}

/// One step being built: its writes and what it changes.
struct Step<'a> {
    tree: &'a sled::Tree,
    /// Writes of earlier steps of the same group, not yet in the tree.
    group: &'a Overlay,
    payloads: &'a Payloads,
    signer: &'a dyn Signer,
    /// Payload writes (or records of files already written) and removals,
    /// applied before the group's batch.
    payload_ops: Vec<(String, PayloadOp)>,
    writes: Overlay,
    counters: Counters,
    counts: HashMap<String, (i64, i64)>,
    /// Records written in this step, decoded, so that later reads in the
    /// same step need not decode them again from `writes`.
    records: HashMap<String, MessageRecord>,
    now_ms: i64,
    changed: bool,
}

impl<'a> Step<'a> {
    fn new(
        tree: &'a sled::Tree,
        group: &'a Overlay,
        payloads: &'a Payloads,
        signer: &'a dyn Signer,
        counters: &Counters,
        now_ms: i64,
    ) -> Self {
        Self {
            tree,
            group,
            payloads,
            signer,
            payload_ops: Vec::new(),
            writes: Overlay::new(),
            counters: counters.clone(),
            counts: HashMap::new(),
            records: HashMap::new(),
            now_ms,
            changed: false,
        }
    }

    /// The signer for this step's receipts and checkpoints.
    fn signer(&self) -> &'a dyn Signer {
        self.signer
    }

    /// The store as this step sees it: its own writes, the group's, the
    /// tree.
    fn view(&self) -> View<'_> {
        View::layered(self.tree, &self.writes, self.group)
    }

    fn insert(&mut self, k: Vec<u8>, v: impl Into<sled::IVec>) {
        self.writes.insert(k, Some(v.into()));
        self.changed = true;
    }

    fn remove(&mut self, k: Vec<u8>) {
        self.writes.insert(k, None);
        self.changed = true;
    }

    fn put_record(&mut self, r: &MessageRecord) {
        self.insert(key(MESSAGE, &[r.id.as_bytes()]), encode(r));
        self.records.insert(r.id.clone(), r.clone());
    }

    /// A message record as this step sees it.
    fn record(&self, id: &str) -> Result<Option<MessageRecord>, StoreError> {
        match self.records.get(id) {
            Some(r) => Ok(Some(r.clone())),
            None => read_record(&self.view(), id),
        }
    }

    fn count(&mut self, recipient: &str, ready: i64, leased: i64) {
        let e = self.counts.entry(recipient.to_owned()).or_default();
        e.0 += ready;
        e.1 += leased;
    }

    /// Places an audit entry in the chain; returns its sequence number.
    fn audit(&mut self, draft: audit::Draft) -> u64 {
        let prev: [u8; 32] = hex::decode(&self.counters.audit_hash)
            .ok()
            .and_then(|b| b.try_into().ok())
            .unwrap_or(GENESIS_HASH);
        let entry = Entry::place(draft, self.counters.audit_seq, &prev, self.now_ms);
        self.counters.audit_seq = entry.seq;
        self.counters.audit_hash = hex::encode(entry.hash());
        self.insert(key(AUDIT, &[&be(entry.seq)]), encode(&entry));
        entry.seq
    }

    /// Records a receipt for the sender of `r`, signed, under the cursor
    /// `audit_seq` (the sequence number of its audit entry), and lists the
    /// cursor in `r`.
    fn receipt(
        &mut self,
        r: &mut MessageRecord,
        status: pb::ReceiptStatus,
        detail: &str,
        audit_seq: u64,
        signer: &dyn Signer,
    ) -> pb::Receipt {
        let mut receipt = pb::Receipt {
            message_id: r.id.clone(),
            status: status as i32,
            time: Some(prost_types::Timestamp {
                seconds: self.now_ms.div_euclid(1000),
                nanos: (self.now_ms.rem_euclid(1000) * 1_000_000) as i32,
            }),
            payload_digest: hex::decode(&r.payload_digest).unwrap_or_default(),
            sender_oin: r.sender.clone(),
            recipient_oin: r.recipient.clone(),
            audit_sequence: audit_seq,
            detail: detail.to_owned(),
            signature: vec![],
        };
        receipt.signature = signer.sign_bytes(&schakel_proto::receipt::signing_bytes(&receipt));
        r.receipt_cursors.push(audit_seq);
        self.insert(
            key(RECEIPT_BY_SENDER, &[r.sender.as_bytes(), &be(audit_seq)]),
            receipt.encode_to_vec(),
        );
        receipt
    }

    /// Takes an undelivered message out of the queue into a final state,
    /// with its audit entry and receipt.
    #[allow(clippy::too_many_arguments)]
    fn finalise(
        &mut self,
        r: &mut MessageRecord,
        state: State,
        actor: &str,
        action: Action,
        detail: &str,
        signer: &dyn Signer,
    ) -> pb::Receipt {
        match r.state {
            State::Ready => {
                self.remove(key(INBOX, &[r.recipient.as_bytes(), &be(r.queue_seq)]));
                self.count(&r.recipient, -1, 0);
            }
            State::Leased => {
                if let Some(until) = r.lease_until_ms {
                    self.remove(key(LEASE, &[&ms(until), r.id.as_bytes()]));
                }
                self.count(&r.recipient, 0, -1);
            }
            _ => {}
        }
        self.remove(key(EXPIRY, &[&ms(r.expires_at_ms), r.id.as_bytes()]));
        r.state = state;
        r.lease_until_ms = None;
        r.final_at_ms = Some(self.now_ms);
        r.final_detail = detail.to_owned();
        self.insert(key(PURGE, &[&ms(self.now_ms), r.id.as_bytes()]), vec![]);
        let counterpart = if actor == r.recipient {
            &r.sender
        } else {
            &r.recipient
        };
        let seq = self.audit(audit::Draft {
            actor: actor.to_owned(),
            action: Some(action),
            message_id: r.id.clone(),
            counterpart: counterpart.clone(),
            kind: Some(r.kind),
            child_ref: r.child_ref.clone(),
            legal_basis: Some(r.legal_basis.clone()),
            detail: detail.to_owned(),
        });
        let receipt = self.receipt(r, receipt_status(state), detail, seq, signer);
        self.put_record(r);
        receipt
    }

    /// Expires an undelivered message: EXPIRED receipt and audit entry.
    fn expire(&mut self, r: &mut MessageRecord) {
        let signer = self.signer();
        self.finalise(
            r,
            State::Expired,
            GATEWAY_ACTOR,
            Action::Expired,
            "not delivered before its expiry",
            signer,
        );
    }

    /// Destroys a finished message's payload.
    fn purge(&mut self, r: &mut MessageRecord, detail: &str) {
        if let Some(at) = r.final_at_ms {
            self.remove(key(PURGE, &[&ms(at), r.id.as_bytes()]));
        }
        if r.payload_purged {
            return;
        }
        self.payload_ops.push((r.id.clone(), PayloadOp::Destroy));
        self.changed = true;
        r.payload_purged = true;
        self.audit(audit::Draft {
            actor: GATEWAY_ACTOR.into(),
            action: Some(Action::Purged),
            message_id: r.id.clone(),
            counterpart: r.sender.clone(),
            kind: Some(r.kind),
            child_ref: r.child_ref.clone(),
            legal_basis: None,
            detail: detail.into(),
        });
        self.put_record(r);
    }

    /// A consent as this step sees it.
    fn consent(&self, id: &str) -> Result<Option<ConsentRecord>, StoreError> {
        read_consent(&self.view(), id)
    }

    /// Withdraws one undelivered message: WITHDRAWN receipt, audit entry, and
    /// the payload destroyed at once.
    fn withdraw(
        &mut self,
        r: &mut MessageRecord,
        actor: &str,
        detail: &str,
        signer: &dyn Signer,
    ) -> Withdrawn {
        let was_leased = r.state == State::Leased;
        let receipt = self.finalise(
            r,
            State::Withdrawn,
            actor,
            Action::Withdrawn,
            detail,
            signer,
        );
        self.purge(r, "payload destroyed: its consent no longer holds");
        Withdrawn {
            record: r.clone(),
            was_leased,
            receipt,
        }
    }

    /// Withdraws every undelivered message under a consent.
    fn withdraw_under(
        &mut self,
        consent_id: &str,
        actor: &str,
        detail: &str,
        signer: &dyn Signer,
    ) -> Result<Vec<Withdrawn>, StoreError> {
        let keys: Vec<_> = self
            .view()
            .scan_prefix(&key(MESSAGES_UNDER_CONSENT, &[consent_id.as_bytes()]))
            .map(|kv| kv.map(|(k, _)| k))
            .collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        for k in keys {
            let id = String::from_utf8_lossy(&k[1 + consent_id.len()..]).into_owned();
            self.remove(k.to_vec());
            let Some(mut r) = self.record(&id)? else {
                continue;
            };
            if !r.state.is_final() {
                out.push(self.withdraw(&mut r, actor, detail, signer));
            }
        }
        Ok(out)
    }

    /// Finishes the step: applies its payload operations and returns the
    /// counters to keep and the writes to add to the group's batch.
    fn apply(mut self) -> Result<(Counters, Overlay), StoreError> {
        if !self.changed {
            return Ok((self.counters, Overlay::new()));
        }
        for (id, value) in std::mem::take(&mut self.payload_ops) {
            match value {
                PayloadOp::Store(sealed) => self.payloads.insert(&id, sealed)?,
                PayloadOp::Destroy => self.payloads.remove(&id)?,
            }
        }
        for (recipient, (d_ready, d_leased)) in std::mem::take(&mut self.counts) {
            let (ready, leased) = read_counts(&self.view(), &recipient)?;
            let k = key(COUNTS, &[recipient.as_bytes()]);
            let ready = (ready as i64 + d_ready).max(0) as u64;
            let leased = (leased as i64 + d_leased).max(0) as u64;
            if ready == 0 && leased == 0 {
                self.writes.insert(k, None);
            } else {
                let mut v = be(ready).to_vec();
                v.extend_from_slice(&be(leased));
                self.writes.insert(k, Some(v.into()));
            }
        }
        Ok((self.counters, self.writes))
    }
}

impl SledStore {
    /// Opens (or creates) the store in `dir` with a page cache of
    /// `cache_capacity` bytes; `signer` signs receipts and checkpoints.
    pub fn open(
        dir: &Path,
        cache_capacity: u64,
        signer: Arc<dyn Signer>,
    ) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_capacity)
            .mode(sled::Mode::HighThroughput)
            // Every step is made durable by the group commit; a timer-driven
            // flush would add nothing but work, and would hide a missing
            // commit from the crash tests.
            .flush_every_ms(None)
            .open()?;
        let tree = db.open_tree(TREE)?;
        let payloads = Arc::new(Payloads::open(
            db.open_tree(PAYLOADS)?,
            &dir.join(PAYLOADS),
        )?);
        let counters = Counters::recover(&tree)?;
        let data_file = File::open(dir.join("db"))?;
        // Make the folder entries of a new store durable too.
        File::open(dir)?.sync_all()?;
        let counters = Arc::new(Mutex::new(counters));
        let writer = Writer {
            tree: tree.clone(),
            payloads: payloads.clone(),
            counters: counters.clone(),
            signer,
            db: db.clone(),
            data_file,
            dirty: false,
            pending: Overlay::new(),
        };
        let commit = GroupCommit::start(writer, |w: &mut Writer| {
            if !w.dirty {
                return Ok(());
            }
            w.apply_pending().map_err(|e| e.to_string())?;
            w.payloads.sync_folder().map_err(|e| e.to_string())?;
            w.db.flush().map_err(|e| e.to_string())?;
            w.data_file.sync_all().map_err(|e| e.to_string())?;
            w.dirty = false;
            Ok(())
        });
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                tree,
                counters,
                commit,
                payloads,
            }),
        })
    }

    /// The group committer's counters.
    pub fn commit_stats(&self) -> &super::group_commit::Stats {
        self.inner.commit.stats()
    }

    fn tree(&self) -> &sled::Tree {
        &self.inner.tree
    }

    /// Runs `f` as one step on the writer thread, applies it, and answers
    /// once it is durable.
    async fn step<T: Send + 'static>(
        &self,
        now_ms: i64,
        f: impl FnOnce(&mut Step<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.inner
            .commit
            .run(move |w: &mut Writer| {
                let current = w.counters.lock().expect("counters lock").clone();
                let mut step = Step::new(
                    &w.tree,
                    &w.pending,
                    &w.payloads,
                    w.signer.as_ref(),
                    &current,
                    now_ms,
                );
                let out = f(&mut step)?;
                let changed = step.changed;
                let (next, writes) = step.apply()?;
                w.dirty |= changed;
                w.pending.extend(writes);
                *w.counters.lock().expect("counters lock") = next;
                Ok(out)
            })
            .await
    }
}

/// A message's receipts, oldest first, found through the cursors its record
/// lists.
fn receipts_of(view: &View, r: &MessageRecord) -> Result<Vec<pb::Receipt>, StoreError> {
    let mut out = Vec::with_capacity(r.receipt_cursors.len());
    for cursor in &r.receipt_cursors {
        let k = key(RECEIPT_BY_SENDER, &[r.sender.as_bytes(), &be(*cursor)]);
        if let Some(v) = view.get(&k)? {
            out.push(decode_receipt(&k, &v)?);
        }
    }
    Ok(out)
}

fn last_receipt(
    view: &View,
    r: &MessageRecord,
    status: pb::ReceiptStatus,
) -> Result<Option<pb::Receipt>, StoreError> {
    Ok(receipts_of(view, r)?
        .into_iter()
        .rev()
        .find(|x| x.status == status as i32))
}

#[async_trait]
impl Store for SledStore {
    async fn participant(&self, oin: &str) -> Result<Option<Participant>, StoreError> {
        let k = key(PARTICIPANT, &[oin.as_bytes()]);
        match self.tree().get(&k)? {
            Some(v) => Ok(Some(decode(&k, &v)?)),
            None => Ok(None),
        }
    }

    async fn participants(&self) -> Result<Vec<Participant>, StoreError> {
        decode_all(self.tree().scan_prefix([PARTICIPANT]))
    }

    async fn insert_participant(
        &self,
        p: &Participant,
        audit: audit::Draft,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let k = key(PARTICIPANT, &[p.oin.as_bytes()]);
        let value = encode(p);
        self.step(now_ms, move |step| {
            if step.view().get(&k)?.is_some() {
                return Ok(false);
            }
            step.insert(k, value);
            step.audit(audit);
            Ok(true)
        })
        .await
    }

    async fn put_participant(
        &self,
        p: &Participant,
        audit: audit::Draft,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (k, value) = (key(PARTICIPANT, &[p.oin.as_bytes()]), encode(p));
        self.step(now_ms, move |step| {
            step.insert(k, value);
            step.audit(audit);
            Ok(())
        })
        .await
    }

    async fn accept(
        &self,
        message: NewMessage,
        audit: audit::Draft,
        max_inbox: u64,
        now_ms: i64,
    ) -> Result<AcceptOutcome, StoreError> {
        let NewMessage {
            mut record,
            sealed_payload,
        } = message;
        let id = record.id.clone();
        let idem = key(
            IDEMPOTENCY,
            &[record.sender.as_bytes(), record.client_reference.as_bytes()],
        );
        // A retry of a request already stored gets its answer from the step
        // (duplicate or conflict; idempotency keys are never removed), so a
        // retried dossier is not written to disk only to be discarded.
        let retry = self.tree().contains_key(&idem)?;
        let in_file = !retry && Payloads::is_large(sealed_payload.len());
        let payload = if in_file {
            let (payloads, id, len) = (
                self.inner.payloads.clone(),
                id.clone(),
                sealed_payload.len(),
            );
            tokio::task::spawn_blocking(move || payloads.write_file(&id, &sealed_payload))
                .await
                .map_err(|e| StoreError::Engine(format!("payload writer: {e}")))??;
            PayloadOp::Store(Stored::File(len))
        } else {
            PayloadOp::Store(Stored::Inline(sealed_payload))
        };
        let outcome = self
            .step(now_ms, move |step| {
                if let Some(id) = step.view().get(&idem)? {
                    let id = String::from_utf8_lossy(&id).into_owned();
                    let earlier = step.record(&id)?.ok_or_else(|| StoreError::Corrupt {
                        key: id.clone(),
                        message: "idempotency key points to no message".into(),
                    })?;
                    if earlier.request_digest != record.request_digest {
                        return Ok(AcceptOutcome::Conflict { message_id: id });
                    }
                    let receipt =
                        last_receipt(&step.view(), &earlier, pb::ReceiptStatus::Accepted)?
                            .ok_or_else(|| StoreError::Corrupt {
                                key: id.clone(),
                                message: "accepted message without ACCEPTED receipt".into(),
                            })?;
                    return Ok(AcceptOutcome::Duplicate {
                        record: Box::new(earlier),
                        receipt,
                    });
                }
                let (ready, leased) = read_counts(&step.view(), &record.recipient)?;
                if ready + leased >= max_inbox {
                    return Ok(AcceptOutcome::InboxFull { limit: max_inbox });
                }
                // The accept's audit entry comes first: its sequence number
                // is the message's place in the queue and its receipt's
                // cursor.
                let seq = step.audit(audit);
                record.queue_seq = seq;
                let id = record.id.as_bytes();
                step.payload_ops.push((record.id.clone(), payload));
                step.insert(
                    key(INBOX, &[record.recipient.as_bytes(), &be(record.queue_seq)]),
                    id,
                );
                step.insert(key(EXPIRY, &[&ms(record.expires_at_ms), id]), vec![]);
                step.insert(idem, id);
                if let LegalBasis::Consent(consent_id) = &record.legal_basis {
                    step.insert(
                        key(MESSAGES_UNDER_CONSENT, &[consent_id.as_bytes(), id]),
                        vec![],
                    );
                }
                step.count(&record.recipient, 1, 0);
                let signer = step.signer();
                let receipt =
                    step.receipt(&mut record, pb::ReceiptStatus::Accepted, "", seq, signer);
                step.put_record(&record);
                Ok(AcceptOutcome::Accepted(receipt))
            })
            .await;
        if in_file && !matches!(outcome, Ok(AcceptOutcome::Accepted(_))) {
            self.inner.payloads.discard_file(&id)?;
        }
        outcome
    }

    async fn grant_consent(
        &self,
        consent: &ConsentRecord,
        audit: audit::Draft,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let consent = consent.clone();
        self.step(now_ms, move |step| {
            let id = consent.id.as_bytes();
            step.insert(key(CONSENT, &[id]), encode(&consent));
            step.insert(
                key(CONSENT_BY_ORG, &[consent.registered_by.as_bytes(), id]),
                vec![],
            );
            step.insert(key(CONSENT_END, &[&ms(consent.valid_until_ms), id]), vec![]);
            step.audit(audit);
            Ok(())
        })
        .await
    }

    async fn consent(&self, consent_id: &str) -> Result<Option<ConsentRecord>, StoreError> {
        read_consent(&View::plain(self.tree()), consent_id)
    }

    async fn consents_of(&self, oin: &str) -> Result<Vec<ConsentRecord>, StoreError> {
        let prefix = key(CONSENT_BY_ORG, &[oin.as_bytes()]);
        let mut out = Vec::new();
        for kv in self.tree().scan_prefix(&prefix).rev() {
            let (k, _) = kv?;
            let id = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            if let Some(c) = self.consent(&id).await? {
                out.push(c);
            }
        }
        Ok(out)
    }

    async fn revoke_consent(
        &self,
        consent_id: &str,
        by: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<Revoked, StoreError> {
        let (consent_id, by, reason) = (consent_id.to_owned(), by.to_owned(), reason.to_owned());
        self.step(now_ms, move |step| {
            let signer = step.signer();
            let (consent_id, by, reason) = (consent_id.as_str(), by.as_str(), reason.as_str());
            let Some(mut c) = step.consent(consent_id)? else {
                return Ok(Revoked::NotFound);
            };
            if c.registered_by != by {
                return Ok(Revoked::NotYours);
            }
            if c.revoked_at_ms.is_some() {
                return Ok(Revoked::Already(Box::new(c)));
            }
            c.revoked_at_ms = Some(now_ms);
            c.revoke_reason = reason.to_owned();
            step.insert(key(CONSENT, &[consent_id.as_bytes()]), encode(&c));
            step.remove(key(
                CONSENT_END,
                &[&ms(c.valid_until_ms), consent_id.as_bytes()],
            ));
            step.audit(audit::Draft {
                actor: by.to_owned(),
                action: Some(Action::ConsentRevoked),
                child_ref: Some(c.child_ref.clone()),
                legal_basis: Some(LegalBasis::Consent(c.id.clone())),
                detail: reason.to_owned(),
                ..audit::Draft::default()
            });
            let detail = format!("consent {consent_id} revoked: {reason}");
            let withdrawn = step.withdraw_under(consent_id, by, &detail, signer)?;
            Ok(Revoked::Done {
                consent: Box::new(c),
                withdrawn,
            })
        })
        .await
    }

    async fn append_audit(&self, drafts: Vec<audit::Draft>, now_ms: i64) -> Result<(), StoreError> {
        self.step(now_ms, move |step| {
            for d in drafts {
                step.audit(d);
            }
            Ok(())
        })
        .await
    }

    async fn lease(
        &self,
        recipient: &str,
        max: usize,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<Leased>, StoreError> {
        let recipient = recipient.to_owned();
        // Large payloads' files are read after the step, off the writer.
        let leased = self
            .step(now_ms, move |step| {
                let signer = step.signer();
                let recipient = recipient.as_str();
                let mut leased = Vec::new();
                let mut withdrawn = Vec::new();
                let inbox = key(INBOX, &[recipient.as_bytes()]);
                // Every entry handled below leaves the step's view of the inbox
                // (leased, expired, withdrawn or stale), so each round's scan
                // starts with entries not yet seen.
                while leased.len() < max {
                    let round: Vec<_> = step
                        .view()
                        .scan_prefix(&inbox)
                        .take(max - leased.len())
                        .collect::<Result<_, _>>()?;
                    if round.is_empty() {
                        break;
                    }
                    for (k, id) in round {
                        let id = String::from_utf8_lossy(&id).into_owned();
                        let Some(mut r) = step.record(&id)? else {
                            step.remove(k.to_vec());
                            continue;
                        };
                        if r.state != State::Ready {
                            step.remove(k.to_vec());
                            continue;
                        }
                        if r.expires_at_ms <= now_ms {
                            step.expire(&mut r);
                            continue;
                        }
                        if let LegalBasis::Consent(consent_id) = &r.legal_basis {
                            let problem = match step.consent(consent_id)? {
                                None => Some(format!("consent {consent_id} is not registered")),
                                Some(c) => c.unusable(now_ms),
                            };
                            if let Some(problem) = problem {
                                withdrawn.push(step.withdraw(
                                    &mut r,
                                    GATEWAY_ACTOR,
                                    &format!("checked at delivery: {problem}"),
                                    signer,
                                ));
                                continue;
                            }
                        }
                        let Some(payload) = step.payloads.locate(&id)? else {
                            return Err(StoreError::Corrupt {
                                key: id,
                                message: "queued message without payload".into(),
                            });
                        };
                        step.remove(k.to_vec());
                        r.state = State::Leased;
                        r.attempts += 1;
                        let until = now_ms + lease_ms;
                        r.lease_until_ms = Some(until);
                        step.insert(
                            key(LEASE, &[&ms(until), id.as_bytes()]),
                            recipient.as_bytes(),
                        );
                        step.count(recipient, -1, 1);
                        step.audit(audit::Draft {
                            actor: recipient.to_owned(),
                            action: Some(Action::Leased),
                            message_id: r.id.clone(),
                            counterpart: r.sender.clone(),
                            kind: Some(r.kind),
                            child_ref: r.child_ref.clone(),
                            legal_basis: Some(r.legal_basis.clone()),
                            detail: format!("attempt {}", r.attempts),
                        });
                        step.put_record(&r);
                        leased.push((r, payload));
                    }
                }
                if !withdrawn.is_empty() {
                    tracing::info!(
                        count = withdrawn.len(),
                        "withdrew messages whose consent no longer holds"
                    );
                }
                Ok(leased)
            })
            .await?;
        let mut out = Vec::with_capacity(leased.len());
        for (record, located) in leased {
            let sealed_payload = match located {
                Located::Inline(sealed) => sealed,
                Located::File(len) => {
                    let (payloads, id) = (self.inner.payloads.clone(), record.id.clone());
                    let read = tokio::task::spawn_blocking(move || payloads.read_file(&id, len))
                        .await
                        .map_err(|e| StoreError::Engine(format!("payload reader: {e}")))?;
                    match read {
                        Ok(sealed) => sealed,
                        // Withdrawn (payload destroyed) since the lease was
                        // taken: the recipient is told through the
                        // withdrawal notice, and its Ack answers WITHDRAWN.
                        Err(StoreError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                }
            };
            out.push(Leased {
                record,
                sealed_payload,
            });
        }
        Ok(out)
    }

    async fn finish(
        &self,
        recipient: &str,
        message_id: &str,
        outcome: Outcome,
        now_ms: i64,
        retention_ms: i64,
    ) -> Result<Finished, StoreError> {
        let (recipient, message_id) = (recipient.to_owned(), message_id.to_owned());
        self.step(now_ms, move |step| {
            let signer = step.signer();
            let (recipient, message_id) = (recipient.as_str(), message_id.as_str());
            let Some(mut r) = step.record(message_id)? else {
                return Ok(Finished::NotFound);
            };
            if r.recipient != recipient || r.attempts == 0 {
                return Ok(Finished::NotFound);
            }
            let (state, action, detail) = match &outcome {
                Outcome::Delivered => (State::Delivered, Action::Delivered, String::new()),
                Outcome::Rejected { reason, detail } => (
                    State::Rejected,
                    Action::Rejected,
                    if detail.is_empty() {
                        reason.clone()
                    } else {
                        format!("{reason}: {detail}")
                    },
                ),
            };
            if r.state.is_final() {
                if r.state == State::Withdrawn && outcome == Outcome::Delivered {
                    step.audit(audit::Draft {
                        actor: recipient.to_owned(),
                        action: Some(Action::Withdrawn),
                        message_id: r.id.clone(),
                        counterpart: r.sender.clone(),
                        kind: Some(r.kind),
                        child_ref: r.child_ref.clone(),
                        legal_basis: Some(r.legal_basis.clone()),
                        detail: "acknowledged after withdrawal: the recipient was told to delete its copy".into(),
                    });
                }
                let receipt = last_receipt(&step.view(), &r, receipt_status(r.state))?;
                let same = r.state == state;
                return Ok(match (same, receipt) {
                    (true, Some(receipt)) => Finished::Done {
                        record: Box::new(r),
                        receipt,
                    },
                    (_, receipt) => Finished::AlreadyFinal {
                        record: Box::new(r),
                        receipt,
                    },
                });
            }
            let receipt = step.finalise(&mut r, state, recipient, action, &detail, signer);
            if retention_ms <= 0 {
                step.purge(&mut r, "payload destroyed at delivery (retention 0)");
            }
            Ok(Finished::Done {
                record: Box::new(r),
                receipt,
            })
        })
        .await
    }

    async fn sweep(&self, now_ms: i64, retention_ms: i64) -> Result<SweepReport, StoreError> {
        self.step(now_ms, move |step| {
            let signer = step.signer();
            let mut report = SweepReport::default();
            for k in due(&step.view(), LEASE, now_ms)? {
                let until = read_u64(&k[1..9]) as i64;
                let id = String::from_utf8_lossy(&k[9..]).into_owned();
                step.remove(k.to_vec());
                let Some(mut r) = step.record(&id)? else {
                    continue;
                };
                if r.state != State::Leased || r.lease_until_ms != Some(until) {
                    continue;
                }
                r.state = State::Ready;
                r.lease_until_ms = None;
                step.insert(
                    key(INBOX, &[r.recipient.as_bytes(), &be(r.queue_seq)]),
                    r.id.as_bytes(),
                );
                step.count(&r.recipient, 1, -1);
                step.put_record(&r);
                report.requeued += 1;
                if !report.woken_recipients.contains(&r.recipient) {
                    report.woken_recipients.push(r.recipient.clone());
                }
            }
            for k in due(&step.view(), EXPIRY, now_ms)? {
                let id = String::from_utf8_lossy(&k[9..]).into_owned();
                step.remove(k.to_vec());
                let Some(mut r) = step.record(&id)? else {
                    continue;
                };
                if r.state.is_final() {
                    continue;
                }
                step.expire(&mut r);
                report.expired += 1;
            }
            for k in due(&step.view(), CONSENT_END, now_ms)? {
                let consent_id = String::from_utf8_lossy(&k[9..]).into_owned();
                step.remove(k.to_vec());
                let detail = format!("consent {consent_id} lapsed");
                report.withdrawn.extend(step.withdraw_under(
                    &consent_id,
                    GATEWAY_ACTOR,
                    &detail,
                    signer,
                )?);
            }
            for k in due(&step.view(), PURGE, now_ms - retention_ms)? {
                let id = String::from_utf8_lossy(&k[9..]).into_owned();
                step.remove(k.to_vec());
                let Some(mut r) = step.record(&id)? else {
                    continue;
                };
                if !r.payload_purged {
                    step.purge(&mut r, "payload destroyed after its retention period");
                    report.purged += 1;
                }
            }
            Ok(report)
        })
        .await
    }

    async fn message(&self, message_id: &str) -> Result<Option<MessageRecord>, StoreError> {
        read_record(&View::plain(self.tree()), message_id)
    }

    async fn message_receipts(&self, message_id: &str) -> Result<Vec<pb::Receipt>, StoreError> {
        let view = View::plain(self.tree());
        match read_record(&view, message_id)? {
            Some(r) => receipts_of(&view, &r),
            None => Ok(Vec::new()),
        }
    }

    async fn receipts_after(
        &self,
        sender: &str,
        after_cursor: u64,
        limit: usize,
    ) -> Result<Vec<(u64, pb::Receipt)>, StoreError> {
        let start = key(
            RECEIPT_BY_SENDER,
            &[sender.as_bytes(), &be(after_cursor.saturating_add(1))],
        );
        let end = key(RECEIPT_BY_SENDER, &[sender.as_bytes(), &be(u64::MAX)]);
        self.tree()
            .range(start..=end)
            .take(limit)
            .map(|kv| {
                let (k, v) = kv?;
                Ok((read_u64(&k[k.len() - 8..]), decode_receipt(&k, &v)?))
            })
            .collect()
    }

    async fn inbox_counts(&self, recipient: &str) -> Result<(u64, u64), StoreError> {
        read_counts(&View::plain(self.tree()), recipient)
    }

    async fn inbox_figures(&self) -> Result<Vec<InboxFigures>, StoreError> {
        self.tree()
            .scan_prefix([COUNTS])
            .map(|kv| {
                let (k, v) = kv?;
                let recipient = String::from_utf8_lossy(&k[1..]).into_owned();
                let oldest_ready_ms = match self
                    .tree()
                    .scan_prefix(key(INBOX, &[recipient.as_bytes()]))
                    .next()
                {
                    Some(kv) => {
                        let (_, id) = kv?;
                        read_record(&View::plain(self.tree()), &String::from_utf8_lossy(&id))?
                            .map(|r| r.created_at_ms)
                    }
                    None => None,
                };
                Ok(InboxFigures {
                    recipient,
                    ready: read_u64(&v[..8]),
                    leased: read_u64(&v[8..]),
                    oldest_ready_ms,
                })
            })
            .collect()
    }

    async fn audit_head(&self) -> Result<(u64, u64), StoreError> {
        let c = self.inner.counters.lock().expect("counters lock");
        Ok((c.audit_seq, c.checkpoint_seq))
    }

    async fn checkpoint(&self, now_ms: i64) -> Result<Option<audit::Checkpoint>, StoreError> {
        self.step(now_ms, move |step| {
            let c = &step.counters;
            if c.audit_seq == 0 || c.audit_seq <= c.checkpoint_seq {
                return Ok(None);
            }
            let hash: [u8; 32] = hex::decode(&c.audit_hash)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| StoreError::Corrupt {
                    key: "counters".into(),
                    message: "audit head hash is not 32 bytes of hex".into(),
                })?;
            let checkpoint = audit::Checkpoint::sign(c.audit_seq, &hash, now_ms, step.signer());
            step.counters.checkpoint_seq = checkpoint.seq;
            step.insert(key(CHECKPOINT, &[&be(checkpoint.seq)]), encode(&checkpoint));
            Ok(Some(checkpoint))
        })
        .await
    }

    async fn audit_entries(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<audit::Entry>, StoreError> {
        decode_all(
            self.tree()
                .range(key(AUDIT, &[&be(from)])..=key(AUDIT, &[&be(u64::MAX)]))
                .take(limit),
        )
    }

    async fn audit_checkpoints(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<audit::Checkpoint>, StoreError> {
        decode_all(
            self.tree()
                .range(key(CHECKPOINT, &[&be(from)])..=key(CHECKPOINT, &[&be(to)])),
        )
    }

    async fn audit_start(&self) -> Result<u64, StoreError> {
        Ok(self
            .inner
            .counters
            .lock()
            .expect("writer lock")
            .pruned_through
            + 1)
    }

    async fn prune_audit(&self, before_ms: i64, max: usize) -> Result<usize, StoreError> {
        self.step(before_ms, move |step| {
            let mut removed = 0;
            let oldest: Vec<_> = step
                .view()
                .scan_prefix(&[AUDIT])
                .take(max)
                .collect::<Result<_, _>>()?;
            for (k, v) in oldest {
                let entry: audit::Entry = decode(&k, &v)?;
                // Never the newest entry: it anchors the chain that follows.
                if entry.time_ms >= before_ms || entry.seq >= step.counters.audit_seq {
                    break;
                }
                step.remove(k.to_vec());
                step.remove(key(CHECKPOINT, &[&be(entry.seq)]));
                step.counters.pruned_through = entry.seq;
                removed += 1;
            }
            Ok(removed)
        })
        .await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.inner.commit.run(|_: &mut Writer| Ok(())).await
    }

    fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.inner.db.size_on_disk().map_err(StoreError::from)
    }
}
