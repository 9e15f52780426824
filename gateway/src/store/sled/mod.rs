//! The sled engine of [`Store`], the embedded default.
//!
//! Everything but the payloads lives in one sled tree under one-byte key
//! prefixes ([`keys`]), so that a state change, its receipt and its audit
//! entry go into one atomic `sled::Batch`: the batch of the whole commit
//! group the step belongs to. Later steps of a group read the earlier ones'
//! writes through an overlay ([`overlay`]); a step that fails adds nothing
//! to it.
//!
//! Payloads live apart ([`payloads`]: a tree of their own for small ones,
//! files for large ones), which keeps the main tree's pages small: a payload
//! is written *before* the batch that refers to it (a crash between leaves
//! only an unreferenced payload), and destroyed *before* the batch that
//! records its destruction (a crash between never leaves a payload that the
//! log says is gone).
//!
//! One writer thread runs every step, in order ([`group_commit`]; sled holds
//! an exclusive lock on its folder, so one process is the only writer there
//! is). Before it answers a group it applies the group's batch, then makes it
//! durable (see [`step::Writer::sync`]).
//!
//! | file | concern |
//! | --- | --- |
//! | [`keys`] | key layout and codecs |
//! | [`recovery`] | format version, counters read back at open |
//! | `migration` | the steps from one store format to the next |
//! | `compaction` | the store rewritten into fresh files after its records were sealed |
//! | `notices` | the schedule of notices, and posting them |
//! | [`step`] | the write set of one step, and how a life-cycle change is written |
//! | `transitions` | the write steps of a message's life (and a consent's revocation) |
//! | `records` | the write steps of the directory, consents and the audit chain's upkeep |
//! | `reads` | the reads of the trait |
//! | [`group_commit`] | the writer thread: many steps, one fsync |
//! | [`overlay`] | reads that see the group's writes not yet applied |
//! | [`payloads`] | small payloads in a tree, large ones in files |
//! | `export` | everything the store holds, read out for a copy into another engine |

mod cases;
mod compaction;
mod export;
mod free_space;
pub mod group_commit;
pub mod keys;
mod migration;
mod notices;
pub mod overlay;
pub mod payloads;
mod reads;
mod records;
pub mod recovery;
pub mod step;
mod transitions;
mod tree;
mod tree_reads;

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use schakel_proto::v1 as pb;

use self::group_commit::GroupCommit;
use self::keys::{PAYLOADS, TREE};
use self::overlay::Overlay;
use self::payloads::Payloads;
use self::recovery::Counters;
use self::step::{PayloadChanges, Step, Writer, lock};
use crate::crypto::Signer;
use crate::model::{
    CaseId, CaseRecord, Checkpoint, ConsentId, ConsentRecord, Draft, Entry, KeyCheck, MessageId,
    MessageRecord, Oin, Outcome, Participant, Scheduled,
};
use crate::policy::case_parties::CaseRefused;
use crate::policy::quota::Quotas;
use crate::store::receipts::{self, Receipts};
use crate::store::sealing::Sealing;
use crate::store::{
    AcceptOutcome, AuditKey, CaseEdit, DueNotice, Finished, InboxFigures, Leased, NewMessage,
    ParticipantEdit, Revoked, Room, Store, StoreError, SweepReport, Take,
};

/// The sled store.
#[derive(Clone)]
pub struct SledStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: ::sled::Db,
    tree: ::sled::Tree,
    /// The counters as of the last applied step, for readers; the writer
    /// thread updates them.
    counters: Arc<Mutex<Counters>>,
    commit: GroupCommit<Writer>,
    /// For writing large payloads' files before their steps.
    payloads: Arc<Payloads>,
    /// Signs the receipts a step stored unsigned, where they leave the store.
    signer: Arc<dyn Signer>,
    /// Seals the child in its records.
    sealing: Arc<Sealing>,
    /// The audit log tree's nodes read for proofs.
    leaf_cache: tree::LeafCache,
    /// The size of the newest tree head on disk (the writer's, after each
    /// sync): the only heads readers hand out.
    durable_head: Arc<std::sync::atomic::AtomicU64>,
    /// A test sets it to make the next group's batch fail.
    #[cfg(test)]
    fail_next_batch: Arc<std::sync::atomic::AtomicBool>,
    /// A test sets it to make the next sync fail after its batch applied.
    #[cfg(test)]
    fail_next_sync: Arc<std::sync::atomic::AtomicBool>,
}

/// How long an open waits for another holder of the folder to let go.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Opens sled in `dir`; a folder another holder has locked is
/// [`StoreError::Locked`].
fn open_sled(dir: &Path, cache_capacity: u64) -> Result<::sled::Db, StoreError> {
    ::sled::Config::new()
        .path(dir)
        .cache_capacity(cache_capacity)
        .mode(::sled::Mode::HighThroughput)
        // Every step is made durable by the group commit; a timer-driven
        // flush would add nothing but work, and would hide a missing
        // commit from the crash tests.
        .flush_every_ms(None)
        .open()
        .map_err(|e| match e {
            // sled locks its folder; a second process finds it taken.
            ::sled::Error::Io(io)
                if io.kind() == std::io::ErrorKind::WouldBlock
                    || io.to_string().contains("could not acquire lock") =>
            {
                StoreError::Locked(dir.display().to_string())
            }
            other => other.into(),
        })
}

impl SledStore {
    /// Opens sled in `dir` and its main tree. A gateway stopping in this
    /// process may still hold the folder for a moment after it returns
    /// (sled's I/O threads finish their last writes): the lock is waited
    /// for a little before it is called taken.
    fn open_tree(
        dir: &Path,
        cache_capacity: u64,
    ) -> Result<(::sled::Db, ::sled::Tree), StoreError> {
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        let db = loop {
            match open_sled(dir, cache_capacity) {
                Err(StoreError::Locked(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                opened => break opened?,
            }
        };
        let tree = db.open_tree(TREE)?;
        Ok((db, tree))
    }

    /// Opens (or creates) the store in `dir` with a page cache of
    /// `cache_capacity` bytes; `signer` signs receipts and checkpoints,
    /// `sealing` seals the child in its records. A store written by an
    /// earlier release is brought to the current format.
    pub fn open(
        dir: &Path,
        cache_capacity: u64,
        signer: Arc<dyn Signer>,
        sealing: Arc<Sealing>,
    ) -> Result<Self, StoreError> {
        compaction::settle(dir)?;
        std::fs::create_dir_all(dir)?;
        let (db, tree) = Self::open_tree(dir, cache_capacity)?;
        let (db, tree) = match recovery::migrate(&tree, dir, &sealing)? {
            recovery::Migrated::Current => (db, tree),
            recovery::Migrated::Compact => {
                let copied = compaction::copy(&db, dir, TREE, recovery::record_format)?;
                drop((tree, db));
                compaction::settle(dir)?;
                tracing::info!(
                    copied,
                    "store rewritten into fresh files: no copy of a plain child reference is left in them"
                );
                Self::open_tree(dir, cache_capacity)?
            }
        };
        let payloads = Arc::new(Payloads::open(
            db.open_tree(PAYLOADS)?,
            &dir.join(PAYLOADS),
        )?);
        let counters = Counters::recover(&tree, &sealing)?;
        db.flush()?;
        let data_file = File::open(dir.join("db"))?;
        data_file.sync_all()?;
        // Make the folder entries of a new store durable too.
        File::open(dir)?.sync_all()?;
        let durable_head = Arc::new(std::sync::atomic::AtomicU64::new(counters.head_size));
        let counters = Arc::new(Mutex::new(counters));
        #[cfg(test)]
        let fail_next_batch = Arc::<std::sync::atomic::AtomicBool>::default();
        #[cfg(test)]
        let fail_next_sync = Arc::<std::sync::atomic::AtomicBool>::default();
        let writer = Writer {
            tree: tree.clone(),
            payloads: payloads.clone(),
            counters: counters.clone(),
            signer: signer.clone(),
            sealing: sealing.clone(),
            db: db.clone(),
            data_file,
            dirty: false,
            pending: Overlay::new(),
            payload_changes: PayloadChanges::default(),
            unlink_after_sync: Vec::new(),
            group_ms: 0,
            durable_head: durable_head.clone(),
            #[cfg(test)]
            fail_next_batch: fail_next_batch.clone(),
            #[cfg(test)]
            fail_next_sync: fail_next_sync.clone(),
        };
        let commit = GroupCommit::start(
            writer,
            |w: &mut Writer| w.sync().map_err(|e| e.to_string()),
            Writer::reset,
            |w: &mut Writer| w.probe().map_err(|e| e.to_string()),
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                tree,
                counters,
                commit,
                payloads,
                signer,
                sealing,
                leaf_cache: tree::LeafCache::default(),
                durable_head,
                #[cfg(test)]
                fail_next_batch,
                #[cfg(test)]
                fail_next_sync,
            }),
        })
    }

    /// The group committer's counters.
    pub fn commit_stats(&self) -> &group_commit::Stats {
        self.inner.commit.stats()
    }

    fn tree(&self) -> &::sled::Tree {
        &self.inner.tree
    }

    /// `out` with its receipts proved and signed, on the caller's thread.
    async fn signed<T: Receipts>(&self, out: T) -> T {
        receipts::seal(out, self.inner.signer.as_ref(), self).await
    }

    fn payloads(&self) -> &Arc<Payloads> {
        &self.inner.payloads
    }

    fn counters(&self) -> &Mutex<Counters> {
        &self.inner.counters
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
                w.group_ms = w.group_ms.max(now_ms);
                let mut step = Step::new(w, now_ms);
                let out = f(&mut step)?;
                let changed = step.changed();
                let (next, writes, payloads) = step.into_writes()?;
                w.dirty |= changed;
                w.pending.extend(writes);
                w.payload_changes.extend(payloads);
                *lock(&w.counters) = next;
                Ok(out)
            })
            .await
    }
}

#[async_trait]
impl Store for SledStore {
    async fn participant(&self, oin: &Oin) -> Result<Option<Participant>, StoreError> {
        self.participant_read(oin)
    }

    async fn participants(&self) -> Result<Vec<Participant>, StoreError> {
        self.participants_read()
    }

    async fn insert_participant(
        &self,
        p: &Participant,
        audit: Draft,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.insert_participant_step(p, audit, now_ms).await
    }

    async fn update_participant(
        &self,
        oin: &Oin,
        edit: ParticipantEdit,
        now_ms: i64,
    ) -> Result<Option<Participant>, StoreError> {
        self.update_participant_step(oin, edit, now_ms).await
    }

    async fn accept(
        &self,
        message: NewMessage,
        audit: Draft,
        quotas: Quotas,
        now_ms: i64,
    ) -> Result<AcceptOutcome, StoreError> {
        self.signed(self.accept_step(message, audit, quotas, now_ms).await)
            .await
    }

    async fn audit_head(&self) -> Result<(u64, u64), StoreError> {
        Ok(self.audit_head_read())
    }

    async fn checkpoint(&self, now_ms: i64) -> Result<Option<Checkpoint>, StoreError> {
        self.checkpoint_step(now_ms).await
    }

    async fn audit_entries(&self, from: u64, limit: usize) -> Result<Vec<Entry>, StoreError> {
        self.audit_entries_read(from, limit)
    }

    async fn audit_entries_about(
        &self,
        about: &AuditKey,
        after: u64,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<Entry>, StoreError> {
        self.audit_entries_about_read(about, after, limit, now_ms)
    }

    async fn audit_checkpoints(&self, from: u64, to: u64) -> Result<Vec<Checkpoint>, StoreError> {
        self.audit_checkpoints_read(from, to)
    }

    async fn audit_start(&self) -> Result<u64, StoreError> {
        Ok(self.audit_start_read())
    }

    async fn prune_audit(
        &self,
        before_ms: i64,
        up_to_format: u32,
        max: usize,
    ) -> Result<usize, StoreError> {
        self.prune_audit_step(before_ms, up_to_format, max).await
    }

    async fn erase_child_refs(
        &self,
        before_ms: i64,
        max: usize,
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        self.erase_child_refs_step(before_ms, max, now_ms).await
    }

    async fn grant_consent(
        &self,
        consent: &ConsentRecord,
        audit: Draft,
        notices: Vec<Scheduled>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.grant_consent_step(consent, audit, notices, now_ms)
            .await
    }

    async fn consent(&self, consent_id: &ConsentId) -> Result<Option<ConsentRecord>, StoreError> {
        self.consent_read(consent_id)
    }

    async fn case_record(&self, case: &CaseId) -> Result<Option<CaseRecord>, StoreError> {
        self.case_record_read(case)
    }

    async fn edit_case(
        &self,
        case: &CaseId,
        edit: CaseEdit,
        now_ms: i64,
    ) -> Result<Result<CaseRecord, CaseRefused>, StoreError> {
        self.edit_case_step(case, edit, now_ms).await
    }

    async fn consents_of(&self, oin: &Oin) -> Result<Vec<ConsentRecord>, StoreError> {
        self.consents_of_read(oin)
    }

    async fn revoke_consent(
        &self,
        consent_id: &ConsentId,
        by: &Oin,
        reason: &str,
        now_ms: i64,
    ) -> Result<Revoked, StoreError> {
        self.signed(
            self.revoke_consent_step(consent_id, by, reason, now_ms)
                .await,
        )
        .await
    }

    async fn due_notices(&self, now_ms: i64, max: usize) -> Result<Vec<DueNotice>, StoreError> {
        self.due_notices_read(now_ms, max)
    }

    async fn post_notice(
        &self,
        due: Vec<(i64, String)>,
        notice: Option<(NewMessage, Draft)>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.post_notice_step(due, notice, now_ms).await
    }

    async fn append_audit(&self, drafts: Vec<Draft>, now_ms: i64) -> Result<(), StoreError> {
        self.append_audit_step(drafts, now_ms).await
    }

    async fn lease(
        &self,
        recipient: &Oin,
        take: Take,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<Leased>, StoreError> {
        self.lease_step(recipient, take, now_ms, lease_ms).await
    }

    async fn finish(
        &self,
        recipient: &Oin,
        message_id: &MessageId,
        outcome: Outcome,
        now_ms: i64,
        retention_ms: i64,
    ) -> Result<Finished, StoreError> {
        self.signed(
            self.finish_step(recipient, message_id, outcome, now_ms, retention_ms)
                .await,
        )
        .await
    }

    async fn sweep(&self, now_ms: i64, retention_ms: i64) -> Result<SweepReport, StoreError> {
        self.signed(self.sweep_step(now_ms, retention_ms).await)
            .await
    }

    async fn message(&self, message_id: &MessageId) -> Result<Option<MessageRecord>, StoreError> {
        self.message_read(message_id)
    }

    async fn message_receipts(
        &self,
        message_id: &MessageId,
    ) -> Result<Vec<pb::Receipt>, StoreError> {
        self.signed(self.message_receipts_read(message_id)).await
    }

    async fn case_messages(&self, case: &CaseId) -> Result<Vec<MessageRecord>, StoreError> {
        self.case_messages_read(case)
    }

    async fn receipts_after(
        &self,
        sender: &Oin,
        after_cursor: u64,
        limit: usize,
    ) -> Result<Vec<(u64, pb::Receipt)>, StoreError> {
        self.signed(self.receipts_after_read(sender, after_cursor, limit))
            .await
    }

    async fn inbox_figures(&self) -> Result<Vec<InboxFigures>, StoreError> {
        self.inbox_figures_read()
    }

    async fn sender_figures(&self) -> Result<Vec<(Oin, u64)>, StoreError> {
        self.sender_figures_read()
    }

    async fn room(&self) -> Result<Room, StoreError> {
        Ok(Room::Disk {
            free: free_space::free_bytes(self.inner.payloads.dir())?,
        })
    }

    async fn inbox_counts(&self, recipient: &Oin) -> Result<(u64, u64), StoreError> {
        self.inbox_counts_read(recipient)
    }

    async fn key_check(&self, mine: KeyCheck) -> Result<KeyCheck, StoreError> {
        self.step(0, move |step| {
            let k = keys::KEY_CHECK.to_vec();
            let recorded = match step.view().get(&k)? {
                Some(v) => keys::decode::<KeyCheck>(&k, &v)?,
                None => {
                    step.insert(k, keys::encode(&mine)?);
                    return Ok(mine);
                }
            };
            // Recorded by a release before term keys: this gateway's chain
            // is the store's from now on.
            if recorded.term_key_check.is_empty() && !mine.term_key_check.is_empty() {
                let upgraded = KeyCheck {
                    term_key_check: mine.term_key_check,
                    ..recorded
                };
                step.insert(k, keys::encode(&upgraded)?);
                return Ok(upgraded);
            }
            Ok(recorded)
        })
        .await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        if self.inner.commit.fault().is_some() {
            return self.inner.commit.retry().await;
        }
        self.inner.commit.run(|_: &mut Writer| Ok(())).await
    }

    fn fault(&self) -> Option<String> {
        self.inner.commit.fault()
    }

    fn sealing(&self) -> &Sealing {
        &self.inner.sealing
    }

    fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.inner.db.size_on_disk().map_err(StoreError::from)
    }
}

#[cfg(test)]
mod tests;
