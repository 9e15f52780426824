//! The storage layer: everything the gateway keeps goes through [`Store`].
//!
//! sled is the embedded default ([`sled::SledStore`]), so one binary runs
//! with nothing else installed. The trait is written so that a server
//! database shared by several gateway instances (PostgreSQL) can implement it
//! too:
//!
//! - every method is one atomic, durable step: a state change, the receipt it
//!   gives the sender and the audit entry that records it are written together
//!   and are on disk when the method returns;
//! - the audit chain is ordered by the store (one sequence, one head hash),
//!   not by any one process;
//! - leases are state in the store, never in memory;
//! - what a step does to a message is decided by the [`lifecycle`], written
//!   once for every engine; receipts are made by [`receipts::unsigned`] once
//!   their audit sequence number is known, stored unsigned, and proved and
//!   signed by [`receipts::seal`] where they leave the store, off the
//!   writer; the audit log is a Merkle tree whose nodes each engine keeps
//!   in its write step, with a signed tree head per group commit;
//!   checkpoints are signed by the [`Signer`](crate::crypto::Signer) the
//!   store was opened with.
//!
//! The [`contract`] suite is one body of tests that every engine must pass.

#[cfg(test)]
#[macro_use]
pub mod contract;
pub mod copy;
pub mod data_folder;
pub mod engine;
pub mod lifecycle;
mod outcome;
pub mod postgres;
pub mod receipts;
pub mod sealing;
pub mod sled;
pub mod tree_proofs;

use std::collections::HashMap;

use async_trait::async_trait;
use schakel_proto::merkle::Hash;
use schakel_proto::v1 as pb;

use crate::policy::quota::Quotas;
pub use outcome::{
    AcceptOutcome, AuditKey, CaseEdit, DueNotice, Finished, InboxFigures, Leased, NewMessage,
    OVERDUE_NOTICE, ParticipantEdit, Revoked, Room, SweepReport, Withdrawn,
};

use crate::model::{
    CaseId, CaseRecord, Checkpoint, ConsentId, ConsentRecord, Draft, Entry, KeyCheck, MessageId,
    MessageRecord, Oin, Outcome, Participant, Scheduled, TreeHead,
};

/// How much one lease may take: at most `messages` messages, and no more
/// payload bytes than `bytes` in all (each message counted with
/// [`Take::PER_MESSAGE`] for its envelope), except that the first message
/// is always taken, whatever its size: an answer that must fit a frame
/// limit takes what fits, and leases nothing it does not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Take {
    /// The most messages.
    pub messages: usize,
    /// The most bytes, payloads and envelopes together.
    pub bytes: u64,
}

impl Take {
    /// What an envelope is counted as, beside its payload.
    pub const PER_MESSAGE: u64 = 4096;

    /// Up to `messages` messages, whatever their size.
    pub fn messages(messages: usize) -> Self {
        Self {
            messages,
            bytes: u64::MAX,
        }
    }

    /// Whether a message of `payload_bytes` still fits after `used` bytes
    /// and `taken` messages; answers the bytes used with it.
    pub fn fits(&self, taken: usize, used: u64, payload_bytes: u64) -> Option<u64> {
        let with = used
            .saturating_add(payload_bytes)
            .saturating_add(Self::PER_MESSAGE);
        (taken < self.messages && (taken == 0 || with <= self.bytes)).then_some(with)
    }
}

/// A failure of the storage layer. Callers cannot repair these; the API turns
/// them into INTERNAL without leaking details to clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The underlying engine failed.
    #[error("storage engine: {0}")]
    Engine(String),
    /// Reading or syncing files failed.
    #[error("storage I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A stored record could not be decoded: the store is damaged or was
    /// written by an incompatible version.
    #[error("stored record {key} is corrupt: {message}")]
    Corrupt {
        /// The record's key.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The store cannot write now: an earlier write to disk failed (a full
    /// disk, an I/O error). Nothing was changed; the message says what the
    /// operator does about it.
    #[error("{0}")]
    Unavailable(String),
    /// Another process (a second gateway, or `audit verify` on a running
    /// one) holds the store's folder.
    #[error(
        "another gateway holds this data folder ({0}): stop it first, or give this gateway its own storage.data_dir"
    )]
    Locked(String),
    /// The store was written by a newer gateway, in a format this one does
    /// not know.
    #[error(
        "the store in {path} has format version {found}; this gateway reads versions up to {supported}: run a gateway at least as new as the one that wrote it"
    )]
    TooNew {
        /// The store's folder.
        path: String,
        /// The version found.
        found: u64,
        /// The newest version this gateway reads.
        supported: u64,
    },
}

/// What the callers of a write that failed on the disk, and of every
/// write after it while the store is at fault, are told: what failed, and
/// what the operator does about it.
pub fn fault_message(e: &str) -> String {
    format!(
        "the gateway could not write to its store ({e}); it refuses every write until it can again: free disk space (or fix the I/O error in the gateway's log), then restart the gateway if it does not recover by itself. Nothing answered ACCEPTED is lost"
    )
}

/// Where a node of the tree is: (level, index), the subtree of `2^level`
/// leaves that starts at leaf `index << level`.
pub type Position = (u32, u64);

/// What an engine reads for proofs.
#[async_trait]
pub trait TreeReads: Send + Sync {
    /// For each leaf index of `leaves` (in order), the first tree head
    /// signed over it (the smallest tree that holds it); None for a leaf no
    /// head covers yet.
    async fn heads_over(&self, leaves: &[u64]) -> Result<Vec<Option<TreeHead>>, StoreError>;

    /// The nodes kept at `positions`; a position the engine lacks is
    /// missing from the answer.
    async fn nodes_at(&self, positions: &[Position])
    -> Result<HashMap<Position, Hash>, StoreError>;

    /// The head signed over a tree of exactly `size` leaves, or the newest
    /// head when `size` is None; None when there is no such head.
    async fn tree_head(&self, size: Option<u64>) -> Result<Option<TreeHead>, StoreError>;

    /// The newest head of a tree of at most `max_size` leaves.
    async fn tree_head_within(&self, max_size: u64) -> Result<Option<TreeHead>, StoreError>;
}

/// Durable state of the gateway. Its audit log is a Merkle tree, read for
/// proofs through [`TreeReads`] ([`tree_proofs`] makes them).
#[async_trait]
pub trait Store: TreeReads + Send + Sync + 'static {
    /// Why the store cannot write now, if it cannot: an earlier write to
    /// disk failed, and every write is refused until it is fixed. The
    /// health service answers NOT_SERVING while this is set.
    fn fault(&self) -> Option<String> {
        None
    }

    /// The participant with this OIN.
    async fn participant(&self, oin: &Oin) -> Result<Option<Participant>, StoreError>;

    /// Every participant, ordered by OIN.
    async fn participants(&self) -> Result<Vec<Participant>, StoreError>;

    /// Adds `p` unless its OIN is already present, with its audit entry;
    /// returns whether it was added. Atomic: two instances adding the same
    /// OIN cannot both succeed.
    async fn insert_participant(
        &self,
        p: &Participant,
        audit: Draft,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Changes the participant with this OIN with `edit` and records the
    /// audit entry it returns, in one step, so that concurrent edits of one
    /// participant are applied one after the other; None if there is none.
    async fn update_participant(
        &self,
        oin: &Oin,
        edit: ParticipantEdit,
        now_ms: i64,
    ) -> Result<Option<Participant>, StoreError>;

    /// Accepts a message: checks the sender's client reference, stores the
    /// message, its payload, its ACCEPTED receipt and its audit entry
    /// (`audit`, placed in the chain here) in one durable step, and
    /// schedules the notice its sender gets if it becomes overdue. A
    /// message that would pass one of the `quotas` on what is held
    /// undelivered is refused in the same step that counts it.
    async fn accept(
        &self,
        message: NewMessage,
        audit: Draft,
        quotas: Quotas,
        now_ms: i64,
    ) -> Result<AcceptOutcome, StoreError>;

    /// The newest audit sequence number, and the newest one a checkpoint
    /// covers.
    async fn audit_head(&self) -> Result<(u64, u64), StoreError>;

    /// Signs a checkpoint of the chain's head, if entries were added since
    /// the last one; returns it.
    async fn checkpoint(&self, now_ms: i64) -> Result<Option<Checkpoint>, StoreError>;

    /// Up to `limit` audit entries from sequence `from` on, in order.
    async fn audit_entries(&self, from: u64, limit: usize) -> Result<Vec<Entry>, StoreError>;

    /// Up to `limit` audit entries found by `about` after sequence `after`,
    /// in order, through an index rather than a scan of the log.
    async fn audit_entries_about(
        &self,
        about: &AuditKey,
        after: u64,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<Entry>, StoreError>;

    /// The checkpoints covering entries `from..=to`, in order.
    async fn audit_checkpoints(&self, from: u64, to: u64) -> Result<Vec<Checkpoint>, StoreError>;

    /// The first sequence number still kept (1 unless old entries were
    /// removed after their retention period).
    async fn audit_start(&self) -> Result<u64, StoreError>;

    /// Removes up to `max` of the oldest audit entries made before
    /// `before_ms` whose format is at most `up_to_format` (it stops at the
    /// first that is not), and the checkpoints before them; returns how many.
    async fn prune_audit(
        &self,
        before_ms: i64,
        up_to_format: u32,
        max: usize,
    ) -> Result<usize, StoreError>;

    /// Erases the child reference of entries whose retention started before
    /// `before_ms` (at most about `max` of each sort: entries about a signal
    /// keep theirs from the signal's lapse, every other from when it was
    /// made), and records that it did in an entry of its own, made at
    /// `now_ms`, in one step; returns how many. The chain still verifies: an
    /// entry commits to its reference through a salted hash.
    async fn erase_child_refs(
        &self,
        before_ms: i64,
        max: usize,
        now_ms: i64,
    ) -> Result<usize, StoreError>;

    /// Registers a consent with its audit entry and the notices it
    /// schedules for its registrant.
    async fn grant_consent(
        &self,
        consent: &ConsentRecord,
        audit: Draft,
        notices: Vec<Scheduled>,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// One consent.
    async fn consent(&self, consent_id: &ConsentId) -> Result<Option<ConsentRecord>, StoreError>;

    /// The consents an organisation registered, newest first.
    async fn consents_of(&self, oin: &Oin) -> Result<Vec<ConsentRecord>, StoreError>;

    /// Revokes a consent on behalf of `by` (its registrant, or an
    /// organisation that received a message under it), and in the same step
    /// withdraws every undelivered message under it (payload destroyed,
    /// WITHDRAWN receipt, audit entries) and, when `by` is not the
    /// registrant, schedules the registrant's notice.
    async fn revoke_consent(
        &self,
        consent_id: &ConsentId,
        by: &Oin,
        reason: &str,
        now_ms: i64,
    ) -> Result<Revoked, StoreError>;

    /// Up to `max` scheduled notices due at `now_ms`, oldest first; they
    /// stay scheduled until [`Store::post_notice`] takes them.
    async fn due_notices(&self, now_ms: i64, max: usize) -> Result<Vec<DueNotice>, StoreError>;

    /// Takes the scheduled notices `due` (at, id) and, in the same step,
    /// puts `notice` (the message made of them, with its audit entry) in
    /// its recipient's inbox, without receipts. False, and nothing done,
    /// when none of them is scheduled any more (another step took them).
    async fn post_notice(
        &self,
        due: Vec<(i64, String)>,
        notice: Option<(NewMessage, Draft)>,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Appends audit entries that go with no state change (a refusal).
    async fn append_audit(&self, drafts: Vec<Draft>, now_ms: i64) -> Result<(), StoreError>;

    /// Leases what `take` allows of `recipient`'s inbox, oldest first, until
    /// `now_ms + lease_ms`. Messages found past their expiry on the way are
    /// expired instead, and messages whose consent no longer holds are
    /// withdrawn instead ([`lifecycle::lease`]).
    async fn lease(
        &self,
        recipient: &Oin,
        take: Take,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<Leased>, StoreError>;

    /// Ends `recipient`'s lease of a message with `outcome`. A repeated,
    /// identical call answers the same receipt. With `retention_ms` 0 the
    /// payload is destroyed in the same step.
    async fn finish(
        &self,
        recipient: &Oin,
        message_id: &MessageId,
        outcome: Outcome,
        now_ms: i64,
        retention_ms: i64,
    ) -> Result<Finished, StoreError>;

    /// Returns expired leases to their inboxes, expires undelivered messages
    /// past their expiry, withdraws undelivered messages whose consent
    /// lapsed, and destroys payloads whose retention has passed.
    async fn sweep(&self, now_ms: i64, retention_ms: i64) -> Result<SweepReport, StoreError>;

    /// One message's metadata.
    async fn message(&self, message_id: &MessageId) -> Result<Option<MessageRecord>, StoreError>;

    /// The messages of one case, oldest first.
    async fn case_messages(&self, case: &CaseId) -> Result<Vec<MessageRecord>, StoreError>;

    /// The record of a case's parties, if anyone was ever added to it.
    async fn case_record(&self, case: &CaseId) -> Result<Option<CaseRecord>, StoreError>;

    /// Changes a case's record with `edit`, given the record as it is
    /// stored then, and records the audit entry it returns, in one step, so
    /// that changes of one case are made one after the other; what `edit`
    /// refuses changes nothing.
    async fn edit_case(
        &self,
        case: &CaseId,
        edit: CaseEdit,
        now_ms: i64,
    ) -> Result<Result<CaseRecord, crate::policy::case_parties::CaseRefused>, StoreError>;

    /// Every receipt of one message, oldest first.
    async fn message_receipts(
        &self,
        message_id: &MessageId,
    ) -> Result<Vec<pb::Receipt>, StoreError>;

    /// Up to `limit` receipts for `sender` after `after_cursor`, with their
    /// cursors, oldest first.
    async fn receipts_after(
        &self,
        sender: &Oin,
        after_cursor: u64,
        limit: usize,
    ) -> Result<Vec<(u64, pb::Receipt)>, StoreError>;

    /// Figures per recipient with undelivered messages.
    async fn inbox_figures(&self) -> Result<Vec<InboxFigures>, StoreError>;

    /// The payload bytes each sender has held undelivered, for metrics
    /// and the Admin service.
    async fn sender_figures(&self) -> Result<Vec<(Oin, u64)>, StoreError>;

    /// How much room the store has left, for its free-space reserve.
    async fn room(&self) -> Result<Room, StoreError>;

    /// One recipient's (ready, leased) counts: a single read, for the inbox
    /// stream's flow control.
    async fn inbox_counts(&self, recipient: &Oin) -> Result<(u64, u64), StoreError>;

    /// Whether this gateway does the deployment's upkeep now: the sweeps,
    /// the notices that are due, the audit chain's checkpoints and
    /// retention. A store of its own is always this gateway's to keep; of
    /// gateways sharing a store, one at a time does it, and another takes
    /// over when it is gone. The steps are safe to run twice all the same.
    async fn upkeep_turn(&self) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// Records `mine` as the keys the store's data is made with, unless
    /// keys are recorded already; answers what is recorded. A store that
    /// lives in the data folder beside its keys (sled) records nothing and
    /// answers `mine`: only a store that several gateways share can meet
    /// one whose keys differ.
    async fn key_check(&self, mine: KeyCheck) -> Result<KeyCheck, StoreError> {
        Ok(mine)
    }

    /// What seals the child in this store's records: its term keys, which
    /// upkeep makes forget each day that is over.
    fn sealing(&self) -> &sealing::Sealing;

    /// Makes every write so far durable; called on shutdown.
    async fn flush(&self) -> Result<(), StoreError>;

    /// Bytes the store occupies on disk, for metrics and the Admin service.
    fn size_on_disk(&self) -> Result<u64, StoreError>;
}

impl From<sealing::SealingError> for StoreError {
    fn from(e: sealing::SealingError) -> Self {
        match e {
            sealing::SealingError::Corrupt { key, message } => Self::Corrupt { key, message },
            sealing::SealingError::Engine(message) => Self::Engine(message),
        }
    }
}

/// A transition the life cycle refused where the store's own indexes said
/// it applies: the store is inconsistent.
pub fn illegal(r: &MessageRecord, e: lifecycle::Illegal) -> StoreError {
    StoreError::Corrupt {
        key: r.id.to_string(),
        message: e.to_string(),
    }
}
