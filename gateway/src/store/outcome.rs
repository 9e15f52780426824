//! What the store's steps answer: the outcome types of the [`Store`](super::Store)
//! trait, shared by every engine.

use schakel_proto::v1 as pb;

use crate::crypto::ChildRef;
use crate::model::{
    CaseRecord, ConsentRecord, Draft, Entry, MessageId, MessageRecord, NoticeDraft, Oin,
    Participant, SignalRef,
};

/// A message to accept: its metadata and its sealed (encrypted) payload.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Metadata, as [`MessageRecord::new`] makes it.
    pub record: MessageRecord,
    /// The encrypted payload.
    pub sealed_payload: Vec<u8>,
    /// The signals the message is about (a signal's change, a match
    /// notice), checked, and a change made, in the accept's own step
    /// ([`super::lifecycle::signals::decide`]).
    pub about: Option<SignalRef>,
}

impl NewMessage {
    /// A message that changes no other.
    pub fn new(record: MessageRecord, sealed_payload: Vec<u8>) -> Self {
        Self {
            record,
            sealed_payload,
            about: None,
        }
    }
}

/// What [`Store::accept`](super::Store::accept) did.
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
        message_id: MessageId,
    },
    /// The message would pass a quota on what is held undelivered: the
    /// recipient's inbox (messages or bytes) or the sender's bytes.
    OverQuota(crate::policy::quota::Exceeded),
    /// The signal the message changes no longer takes the change (it was
    /// withdrawn or lapsed meanwhile): nothing was stored.
    SignalRefused(crate::policy::signals::SignalRefused),
}

impl AcceptOutcome {
    /// The quota the message would have passed, when it was refused for one.
    pub fn over_quota(&self) -> Option<crate::policy::quota::Exceeded> {
        match self {
            Self::OverQuota(exceeded) => Some(*exceeded),
            _ => None,
        }
    }
}

/// A leased message with its sealed payload.
#[derive(Debug, Clone)]
pub struct Leased {
    /// Metadata, as leased (attempts and lease_until updated).
    pub record: MessageRecord,
    /// The encrypted payload.
    pub sealed_payload: Vec<u8>,
}

/// What [`Store::finish`](super::Store::finish) did.
#[derive(Debug, Clone)]
pub enum Finished {
    /// The message reached the asked state (now, or already on an earlier,
    /// identical call); here is the sender's receipt for it (none for the
    /// gateway's notices).
    Done {
        /// The message.
        record: Box<MessageRecord>,
        /// The receipt.
        receipt: Option<pb::Receipt>,
    },
    /// No message with this id for this recipient.
    NotFound,
    /// The recipient's message, not leased yet: pull it first.
    NotLeased,
    /// The message is already in another final state.
    AlreadyFinal {
        /// The message.
        record: Box<MessageRecord>,
        /// The receipt of its final state.
        receipt: Option<pb::Receipt>,
    },
}

impl Finished {
    /// The answer to an Ack or Reject of `record`, already final: `same`
    /// when it is in the state asked for (a repeated call, answered as
    /// done, with the receipt of that state), otherwise the state it is in.
    /// A gateway's notice has no receipt, and is done without one.
    pub fn already(same: bool, record: MessageRecord, receipt: Option<pb::Receipt>) -> Self {
        let record = Box::new(record);
        match (same, receipt) {
            (true, receipt @ Some(_)) => Finished::Done { record, receipt },
            (true, None) if !record.kind.is_sent_by_organisations() => Finished::Done {
                record,
                receipt: None,
            },
            (_, receipt) => Finished::AlreadyFinal { record, receipt },
        }
    }
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
    pub woken_recipients: Vec<Oin>,
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

/// What [`Store::revoke_consent`](super::Store::revoke_consent) did.
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

/// A scheduled notice that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueNotice {
    /// When it was due (Unix ms).
    pub at_ms: i64,
    /// Its schedule id.
    pub id: String,
    /// The notice.
    pub notice: NoticeDraft,
}

/// How every engine names a message's overdue notice in its schedule:
/// this and the message id. It is kept without a body and made from the
/// message when due ([`overdue_when_due`](crate::policy::notices::overdue_when_due)).
pub const OVERDUE_NOTICE: &str = "overdue-";

/// What an audit index finds entries by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditKey {
    /// The entries about a child.
    Child(ChildRef),
    /// The entries an organisation acted in or was the other party of.
    Org(Oin),
}

impl AuditKey {
    /// Whether `e` is about what this finds: it names the child, or the
    /// organisation acted in it or was its other party.
    pub fn names(&self, e: &Entry) -> bool {
        Self::of(e).contains(self)
    }

    /// What `e` is found by: its child, its actor, and its counterpart
    /// when that is another organisation.
    pub fn of(e: &Entry) -> Vec<AuditKey> {
        let mut out = Vec::with_capacity(3);
        if let Some(c) = e.child_ref {
            out.push(AuditKey::Child(c));
        }
        let actor = e.actor.oin();
        if let Some(a) = actor {
            out.push(AuditKey::Org(a.clone()));
        }
        if let Ok(counterpart) = Oin::parse(&e.counterpart)
            && Some(&counterpart) != actor
        {
            out.push(AuditKey::Org(counterpart));
        }
        out
    }
}

/// Figures of one recipient's inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxFigures {
    /// The recipient.
    pub recipient: Oin,
    /// Messages waiting to be leased.
    pub ready: u64,
    /// Messages leased and not yet finished.
    pub leased: u64,
    /// When the oldest waiting message was accepted (Unix ms).
    pub oldest_ready_ms: Option<i64>,
    /// Payload bytes held undelivered in it.
    pub held_bytes: u64,
}

/// Where the store's room runs out, for its free-space reserve
/// (`storage.min_free_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    /// A store on a file system: the bytes it still has free for the
    /// gateway's user.
    Disk {
        /// Free bytes.
        free: u64,
    },
    /// A database server's store: the bytes the database takes, as last
    /// read; its bound is the operator's (`storage.postgres_max_bytes`).
    Database {
        /// Bytes used.
        used: u64,
    },
}

/// An edit of one participant, run inside the store's step so that two
/// concurrent edits cannot overwrite each other. It changes the entry and
/// returns the audit entry that records the change.
pub type ParticipantEdit = Box<dyn FnOnce(&mut Participant) -> Draft + Send>;

/// A change of a case's record, given the record as stored (None: the case
/// has none yet): the record after it and its audit entry, or why it is
/// refused ([`crate::policy::case_parties`]).
pub type CaseEdit = Box<
    dyn FnOnce(
            Option<CaseRecord>,
        ) -> Result<(CaseRecord, Draft), crate::policy::case_parties::CaseRefused>
        + Send,
>;
