//! The storage trait: everything the gateway keeps goes through [`Store`].
//!
//! sled is the embedded default ([`sled_store::SledStore`]), so one binary runs
//! with nothing else installed. The trait is written so that a server database
//! shared by several gateway instances (PostgreSQL) can implement it too:
//!
//! - every method is one atomic, durable step: a state change, the receipt it
//!   gives the sender and the audit entry that records it are written together
//!   and are on disk when the method returns;
//! - the audit chain is ordered by the store (one sequence, one head hash),
//!   not by any one process;
//! - leases are state in the store (PostgreSQL: rows taken with
//!   `FOR UPDATE SKIP LOCKED`), never in memory;
//! - receipts are signed inside the step, once their audit sequence number is
//!   known, and audit checkpoints are signed, by the [`Signer`] the store was
//!   opened with.

pub mod group_commit;
pub mod overlay;
pub mod payloads;
pub mod sled_store;

use async_trait::async_trait;
use schakel_proto::v1 as pb;

use crate::audit;
use crate::consent::ConsentRecord;
use crate::directory::Participant;
use crate::message::{MessageRecord, State};

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
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Engine(e.to_string())
    }
}

/// Signs receipts and audit checkpoints; implemented by the gateway's key.
pub trait Signer: Send + Sync {
    /// The Ed25519 signature of `bytes`.
    fn sign_bytes(&self, bytes: &[u8]) -> Vec<u8>;
}

/// A message to accept: its metadata and its sealed (encrypted) payload.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Metadata; `state` is Ready.
    pub record: MessageRecord,
    /// The encrypted payload.
    pub sealed_payload: Vec<u8>,
}

/// What [`Store::accept`] did.
#[derive(Debug, Clone)]
pub enum AcceptOutcome {
    /// Stored; here is the signed ACCEPTED receipt.
    Accepted(pb::Receipt),
    /// The sender already sent this request with this client reference: the
    /// earlier message and its ACCEPTED receipt.
    Duplicate {
        /// The earlier message.
        record: Box<MessageRecord>,
        /// Its ACCEPTED receipt.
        receipt: pb::Receipt,
    },
    /// The client reference was used before for a different request.
    Conflict {
        /// The message that holds the reference.
        message_id: String,
    },
    /// The recipient's inbox holds as many undelivered messages as allowed.
    InboxFull {
        /// The limit.
        limit: u64,
    },
}

/// A leased message with its sealed payload.
#[derive(Debug, Clone)]
pub struct Leased {
    /// Metadata, as leased (attempts and lease_until updated).
    pub record: MessageRecord,
    /// The encrypted payload.
    pub sealed_payload: Vec<u8>,
}

/// How a recipient ends a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged.
    Delivered,
    /// Refused with a reason code and an optional note.
    Rejected {
        /// The reason code name, e.g. "TECHNICAL".
        reason: String,
        /// A short note.
        detail: String,
    },
}

/// What [`Store::finish`] did.
#[derive(Debug, Clone)]
pub enum Finished {
    /// The message reached the asked state (now, or already on an earlier,
    /// identical call); here is the sender's receipt for it.
    Done {
        /// The message.
        record: Box<MessageRecord>,
        /// The receipt.
        receipt: pb::Receipt,
    },
    /// No message with this id for this recipient (or never leased by it).
    NotFound,
    /// The message is already in another final state.
    AlreadyFinal {
        /// The message.
        record: Box<MessageRecord>,
        /// The receipt of its final state.
        receipt: Option<pb::Receipt>,
    },
}

/// What a sweep did.
#[derive(Debug, Clone, Default)]
pub struct SweepReport {
    /// Leases that ran out; their messages are back in their inboxes.
    pub requeued: usize,
    /// Messages that expired undelivered.
    pub expired: usize,
    /// Payloads destroyed after their retention period.
    pub purged: usize,
    /// Recipients whose inbox got a message back, to wake their waiters.
    pub woken_recipients: Vec<String>,
    /// Messages withdrawn because their consent lapsed.
    pub withdrawn: Vec<Withdrawn>,
}

/// A message withdrawn because its consent was revoked or lapsed.
#[derive(Debug, Clone)]
pub struct Withdrawn {
    /// The message, now Withdrawn, its payload destroyed.
    pub record: MessageRecord,
    /// Whether the recipient held it on a lease: then the recipient must be
    /// told to delete what it has.
    pub was_leased: bool,
    /// The sender's WITHDRAWN receipt.
    pub receipt: pb::Receipt,
}

/// What [`Store::revoke_consent`] did.
#[derive(Debug, Clone)]
pub enum Revoked {
    /// No consent with that id.
    NotFound,
    /// Registered by another organisation.
    NotYours,
    /// Revoked now; these undelivered messages were withdrawn.
    Done {
        /// The consent, revoked.
        consent: Box<ConsentRecord>,
        /// The messages withdrawn.
        withdrawn: Vec<Withdrawn>,
    },
    /// It was already revoked.
    Already(Box<ConsentRecord>),
}

/// Figures of one recipient's inbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboxFigures {
    /// The recipient.
    pub recipient: String,
    /// Messages waiting to be leased.
    pub ready: u64,
    /// Messages leased and not yet finished.
    pub leased: u64,
    /// When the oldest waiting message was accepted (Unix ms).
    pub oldest_ready_ms: Option<i64>,
}

/// Durable state of the gateway.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The participant with this OIN.
    async fn participant(&self, oin: &str) -> Result<Option<Participant>, StoreError>;

    /// Every participant, ordered by OIN.
    async fn participants(&self) -> Result<Vec<Participant>, StoreError>;

    /// Adds `p` unless its OIN is already present, with its audit entry;
    /// returns whether it was added. Atomic: two instances adding the same
    /// OIN cannot both succeed.
    async fn insert_participant(
        &self,
        p: &Participant,
        audit: audit::Draft,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Stores `p` over the entry with its OIN, with its audit entry.
    async fn put_participant(
        &self,
        p: &Participant,
        audit: audit::Draft,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// Accepts a message: checks the sender's client reference, stores the
    /// message, its payload, its ACCEPTED receipt and its audit entry
    /// (`audit`, placed in the chain here) in one durable step.
    async fn accept(
        &self,
        message: NewMessage,
        audit: audit::Draft,
        max_inbox: u64,
        now_ms: i64,
    ) -> Result<AcceptOutcome, StoreError>;

    /// The newest audit sequence number, and the newest one a checkpoint
    /// covers.
    async fn audit_head(&self) -> Result<(u64, u64), StoreError>;

    /// Signs a checkpoint of the chain's head, if entries were added since
    /// the last one; returns it.
    async fn checkpoint(&self, now_ms: i64) -> Result<Option<audit::Checkpoint>, StoreError>;

    /// Up to `limit` audit entries from sequence `from` on, in order.
    async fn audit_entries(&self, from: u64, limit: usize)
    -> Result<Vec<audit::Entry>, StoreError>;

    /// The checkpoints covering entries `from..=to`, in order.
    async fn audit_checkpoints(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<audit::Checkpoint>, StoreError>;

    /// The first sequence number still kept (1 unless old entries were
    /// removed after their retention period).
    async fn audit_start(&self) -> Result<u64, StoreError>;

    /// Removes up to `max` of the oldest audit entries made before
    /// `before_ms`, and the checkpoints before them; returns how many.
    async fn prune_audit(&self, before_ms: i64, max: usize) -> Result<usize, StoreError>;

    /// Registers a consent with its audit entry.
    async fn grant_consent(
        &self,
        consent: &ConsentRecord,
        audit: audit::Draft,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// One consent.
    async fn consent(&self, consent_id: &str) -> Result<Option<ConsentRecord>, StoreError>;

    /// The consents an organisation registered, newest first.
    async fn consents_of(&self, oin: &str) -> Result<Vec<ConsentRecord>, StoreError>;

    /// Revokes a consent registered by `by`, and in the same step withdraws
    /// every undelivered message under it: payload destroyed, WITHDRAWN
    /// receipt, audit entries.
    async fn revoke_consent(
        &self,
        consent_id: &str,
        by: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<Revoked, StoreError>;

    /// Appends audit entries that go with no state change (a refused send).
    async fn append_audit(&self, drafts: Vec<audit::Draft>, now_ms: i64) -> Result<(), StoreError>;

    /// Leases up to `max` messages of `recipient`'s inbox, oldest first, until
    /// `now_ms + lease_ms`. Messages found past their expiry on the way are
    /// expired instead, and messages whose consent no longer holds are
    /// withdrawn instead (consent is checked again at delivery).
    async fn lease(
        &self,
        recipient: &str,
        max: usize,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<Leased>, StoreError>;

    /// Ends `recipient`'s lease of a message with `outcome`. A repeated,
    /// identical call answers the same receipt. With `retention_ms` 0 the
    /// payload is destroyed in the same step.
    async fn finish(
        &self,
        recipient: &str,
        message_id: &str,
        outcome: Outcome,
        now_ms: i64,
        retention_ms: i64,
    ) -> Result<Finished, StoreError>;

    /// Returns expired leases to their inboxes, expires undelivered messages
    /// past their expiry, withdraws undelivered messages whose consent
    /// lapsed, and destroys payloads whose retention has passed.
    async fn sweep(&self, now_ms: i64, retention_ms: i64) -> Result<SweepReport, StoreError>;

    /// One message's metadata.
    async fn message(&self, message_id: &str) -> Result<Option<MessageRecord>, StoreError>;

    /// Every receipt of one message, oldest first.
    async fn message_receipts(&self, message_id: &str) -> Result<Vec<pb::Receipt>, StoreError>;

    /// Up to `limit` receipts for `sender` after `after_cursor`, with their
    /// cursors, oldest first.
    async fn receipts_after(
        &self,
        sender: &str,
        after_cursor: u64,
        limit: usize,
    ) -> Result<Vec<(u64, pb::Receipt)>, StoreError>;

    /// Figures per recipient with undelivered messages.
    async fn inbox_figures(&self) -> Result<Vec<InboxFigures>, StoreError>;

    /// One recipient's (ready, leased) counts: a single read, for the inbox
    /// stream's flow control.
    async fn inbox_counts(&self, recipient: &str) -> Result<(u64, u64), StoreError>;

    /// Makes every write so far durable; called on shutdown.
    async fn flush(&self) -> Result<(), StoreError>;

    /// Bytes the store occupies on disk, for metrics and the Admin service.
    fn size_on_disk(&self) -> Result<u64, StoreError>;
}

/// The receipt status that a final message state gives the sender.
pub fn receipt_status(state: State) -> pb::ReceiptStatus {
    match state {
        State::Ready | State::Leased => pb::ReceiptStatus::Accepted,
        State::Delivered => pb::ReceiptStatus::Delivered,
        State::Rejected => pb::ReceiptStatus::Rejected,
        State::Expired => pb::ReceiptStatus::Expired,
        State::Withdrawn => pb::ReceiptStatus::Withdrawn,
    }
}
