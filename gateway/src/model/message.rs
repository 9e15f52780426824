//! A message as the gateway keeps it: its metadata and its place in the
//! delivery life cycle. The payload itself is stored apart, encrypted, and
//! destroyed after delivery plus the retention period; this record stays for
//! the audit trail.

use serde::{Deserialize, Serialize};

use super::consent::Purpose;
use super::ids::{CaseId, ConsentId, MessageId, Oin, empty_as_none};
use super::kind::Kind;
use super::signal::SignalFacts;
use super::statute::Statute;
use crate::crypto::{ChildRef, Digest};

/// Why a message may flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    /// A registered consent, by id.
    Consent(ConsentId),
    /// A statutory basis.
    Statute(Statute),
    /// The message holds no personal data (an anonymous consultation and
    /// its reply, the gateway's notices): no consent is needed.
    NoPersonalData,
}

impl std::fmt::Display for LegalBasis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LegalBasis::Consent(id) => write!(f, "consent {id}"),
            LegalBasis::Statute(s) => write!(f, "statute {}", s.as_str()),
            LegalBasis::NoPersonalData => f.write_str("no personal data"),
        }
    }
}

/// What a message's legal basis binds it to, besides the basis itself: the
/// consent's purpose it serves, and the declaration a statute asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    /// Under a consent: the purpose the message serves (the consent's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Purpose>,
    /// On the reporting right: the sender declared the information
    /// necessary to end or investigate domestic violence or child abuse.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub necessity_declared: bool,
}

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// In the recipient's inbox, waiting to be leased.
    Ready,
    /// Leased to the recipient until `lease_until_ms`.
    Leased,
    /// Acknowledged by the recipient.
    Delivered,
    /// Refused by the recipient.
    Rejected,
    /// Not delivered before its expiry.
    Expired,
    /// Its consent was revoked or lapsed before delivery.
    Withdrawn,
}

impl State {
    /// Whether the message has reached the end of its life.
    pub fn is_final(self) -> bool {
        !matches!(self, State::Ready | State::Leased)
    }
}

/// Why a recipient refuses a message (the return codes of iJw messaging).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Technically unreadable or unprocessable.
    Technical,
    /// Received but not assessed.
    NotAssessed,
    /// Sent to the wrong organisation.
    WrongRecipient,
    /// Already received under another id.
    Duplicate,
    /// The content is not valid for the recipient.
    InvalidContent,
}

impl RejectReason {
    /// The code as receipts and audit entries write it, e.g. "WRONG_RECIPIENT".
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Technical => "TECHNICAL",
            RejectReason::NotAssessed => "NOT_ASSESSED",
            RejectReason::WrongRecipient => "WRONG_RECIPIENT",
            RejectReason::Duplicate => "DUPLICATE",
            RejectReason::InvalidContent => "INVALID_CONTENT",
        }
    }
}

/// How a recipient ends its lease of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged: the recipient holds the message.
    Delivered,
    /// Refused, with a reason code and a short note.
    Rejected {
        /// The reason code.
        reason: RejectReason,
        /// A one-line note, possibly empty.
        detail: String,
    },
}

/// The stored metadata of one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// UUID v7, given by the gateway.
    pub id: MessageId,
    /// The sender's OIN.
    pub sender: Oin,
    /// The recipient's OIN.
    pub recipient: Oin,
    /// The sender's own reference (idempotency key).
    pub client_reference: String,
    /// The kind.
    pub kind: Kind,
    /// The case the message belongs to, as the gateway gave it.
    pub case_id: CaseId,
    /// The sender's own reference for the case, if it gave one. Always
    /// written, even empty: its presence marks a record of store format 2.
    #[serde(default)]
    pub case_reference: String,
    /// The request a reply answers.
    #[serde(with = "empty_as_none")]
    pub in_reply_to: Option<MessageId>,
    /// Why it may flow.
    pub legal_basis: LegalBasis,
    /// What the basis binds it to.
    #[serde(default)]
    pub terms: Terms,
    /// Keyed hash of the child's BSN, if the message names a child.
    pub child_ref: Option<ChildRef>,
    /// When it was accepted (Unix ms).
    pub created_at_ms: i64,
    /// When it expires if undelivered (Unix ms).
    pub expires_at_ms: i64,
    /// When it is overdue if not acknowledged (Unix ms): three working
    /// days after it was sent. None for notices, and for messages of
    /// release 0.1.0 that were final before this was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overdue_at_ms: Option<i64>,
    /// For a signal: when it lapses (the end of its last valid day, Unix
    /// ms). It is not delivered after it, and its content is destroyed at
    /// it at the latest. None for other kinds, and for signals of release
    /// 0.1.0 (whose payloads the store cannot read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lapses_at_ms: Option<i64>,
    /// For a signal to the Verwijsindex: what its changes and match notices
    /// are checked against. None for other messages, and for signals
    /// accepted before the gateway kept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<SignalFacts>,
    /// For a version of a case's plan, or a response to one: the version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_version: Option<u32>,
    /// The payload digest named in envelopes and receipts.
    pub payload_digest: Digest,
    /// SHA-256 of the Send request as received: tells a retry from a
    /// conflicting reuse of the client reference.
    pub request_digest: Digest,
    /// Size of the encoded payload in bytes.
    pub payload_bytes: u64,
    /// Where it is in its life.
    pub state: State,
    /// How many times it was leased.
    pub attempts: u32,
    /// Until when the current lease holds (Unix ms), when leased.
    pub lease_until_ms: Option<i64>,
    /// Position in the recipient's FIFO inbox; kept when a lease expires so
    /// that a redelivered message keeps its place.
    pub queue_seq: u64,
    /// When it reached a final state (Unix ms).
    pub final_at_ms: Option<i64>,
    /// Whether the payload has been destroyed.
    pub payload_purged: bool,
    /// The reason code or cause of a final state other than delivery.
    pub final_detail: String,
    /// The cursors of its receipts in the sender's receipt stream, oldest
    /// first: how the store finds one message's receipts without keeping a
    /// second copy of each.
    #[serde(default)]
    pub receipt_cursors: Vec<u64>,
}

/// What is fixed about a message when it is accepted; [`MessageRecord::new`]
/// adds the life-cycle fields as they start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHead {
    /// UUID v7, given by the gateway.
    pub id: MessageId,
    /// The sender's OIN.
    pub sender: Oin,
    /// The recipient's OIN.
    pub recipient: Oin,
    /// The sender's own reference (idempotency key).
    pub client_reference: String,
    /// The kind.
    pub kind: Kind,
    /// The case the message belongs to.
    pub case_id: CaseId,
    /// The sender's own reference for the case.
    pub case_reference: String,
    /// The request a reply answers.
    pub in_reply_to: Option<MessageId>,
    /// Why it may flow.
    pub legal_basis: LegalBasis,
    /// What the basis binds it to.
    pub terms: Terms,
    /// Keyed hash of the child's BSN, if the message names a child.
    pub child_ref: Option<ChildRef>,
    /// When it was accepted (Unix ms).
    pub created_at_ms: i64,
    /// When it expires if undelivered (Unix ms).
    pub expires_at_ms: i64,
    /// When it is overdue if not acknowledged (Unix ms).
    pub overdue_at_ms: Option<i64>,
    /// For a signal: when it lapses (Unix ms).
    pub lapses_at_ms: Option<i64>,
    /// The payload digest named in envelopes and receipts.
    pub payload_digest: Digest,
    /// SHA-256 of the Send request as received.
    pub request_digest: Digest,
    /// Size of the encoded payload in bytes.
    pub payload_bytes: u64,
}

impl MessageRecord {
    /// A new message, ready in its recipient's inbox; its place in the queue
    /// is set when the store accepts it.
    pub fn new(head: MessageHead) -> Self {
        let MessageHead {
            id,
            sender,
            recipient,
            client_reference,
            kind,
            case_id,
            case_reference,
            in_reply_to,
            legal_basis,
            terms,
            child_ref,
            created_at_ms,
            expires_at_ms,
            overdue_at_ms,
            lapses_at_ms,
            payload_digest,
            request_digest,
            payload_bytes,
        } = head;
        Self {
            id,
            sender,
            recipient,
            client_reference,
            kind,
            case_id,
            case_reference,
            in_reply_to,
            legal_basis,
            terms,
            child_ref,
            created_at_ms,
            expires_at_ms,
            overdue_at_ms,
            lapses_at_ms,
            signal: None,
            plan_version: None,
            payload_digest,
            request_digest,
            payload_bytes,
            state: State::Ready,
            attempts: 0,
            lease_until_ms: None,
            queue_seq: 0,
            final_at_ms: None,
            payload_purged: false,
            final_detail: String::new(),
            receipt_cursors: Vec::new(),
        }
    }

    /// The consent it travels under, if any.
    pub fn consent_id(&self) -> Option<&ConsentId> {
        match &self.legal_basis {
            LegalBasis::Consent(id) => Some(id),
            LegalBasis::Statute(_) | LegalBasis::NoPersonalData => None,
        }
    }
}
