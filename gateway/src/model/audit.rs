//! The audit log's records: one entry per decision, each carrying the
//! SHA-256 of the entry before it, and signed checkpoints of the chain's
//! head.
//!
//! Entries hold metadata only: OINs, message ids, kinds, a child *reference*
//! (keyed hash), the legal basis and a short outcome. Never payload content,
//! never a BSN.

use serde::{Deserialize, Serialize};

use super::ids::{Actor, MessageId, Oin, empty_as_none};
use super::kind::Kind;
use super::message::{LegalBasis, MessageRecord};
use crate::crypto::{ChildRef, Digest, Signature};

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A message was accepted.
    SendAccepted,
    /// A message was refused; detail names the rule.
    SendRefused,
    /// A message was leased to its recipient.
    Leased,
    /// The recipient acknowledged a message.
    Delivered,
    /// The recipient refused a message.
    Rejected,
    /// A message expired undelivered.
    Expired,
    /// A message was withdrawn (consent revoked or lapsed).
    Withdrawn,
    /// A payload was destroyed after its retention period.
    Purged,
    /// A consent was registered.
    ConsentGranted,
    /// A consent was revoked.
    ConsentRevoked,
    /// The directory changed.
    DirectoryChanged,
    /// A known organisation's call was refused.
    AccessRefused,
}

/// The hash before the first entry.
pub const GENESIS_HASH: Digest = Digest(schakel_proto::audit::GENESIS_HASH);

/// An entry before the store has placed it in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// Who acted.
    pub actor: Actor,
    /// What happened.
    pub action: Action,
    /// The message concerned.
    pub message_id: Option<MessageId>,
    /// The other organisation involved.
    pub counterpart: Option<Oin>,
    /// The message kind.
    pub kind: Option<Kind>,
    /// The child reference.
    pub child_ref: Option<ChildRef>,
    /// The legal basis.
    pub legal_basis: Option<LegalBasis>,
    /// The outcome detail.
    pub detail: String,
}

impl Draft {
    /// An entry of `action` by `actor`, about nothing else yet.
    pub fn new(actor: impl Into<Actor>, action: Action) -> Self {
        Self {
            actor: actor.into(),
            action,
            message_id: None,
            counterpart: None,
            kind: None,
            child_ref: None,
            legal_basis: None,
            detail: String::new(),
        }
    }

    /// An entry about message `r`: its id, kind, child and basis, with the
    /// party other than the actor as counterpart.
    pub fn about(actor: impl Into<Actor>, action: Action, r: &MessageRecord) -> Self {
        let actor = actor.into();
        let counterpart = if actor.oin() == Some(&r.recipient) {
            r.sender.clone()
        } else {
            r.recipient.clone()
        };
        Self {
            message_id: Some(r.id.clone()),
            counterpart: Some(counterpart),
            kind: Some(r.kind),
            child_ref: r.child_ref,
            legal_basis: Some(r.legal_basis.clone()),
            ..Self::new(actor, action)
        }
    }

    /// With this detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    /// With this counterpart.
    pub fn counterpart(mut self, oin: Oin) -> Self {
        self.counterpart = Some(oin);
        self
    }
}

/// A placed entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// When (Unix ms).
    pub time_ms: i64,
    /// Who acted.
    pub actor: Actor,
    /// What happened.
    pub action: Action,
    /// The message concerned.
    #[serde(with = "empty_as_none")]
    pub message_id: Option<MessageId>,
    /// The other organisation's OIN, or empty. Kept as the text the chain
    /// hashes: entries written by release 0.1.0 for a refused send hold
    /// whatever recipient the request named, OIN or not.
    pub counterpart: String,
    /// The message kind.
    pub kind: Option<Kind>,
    /// The child reference.
    pub child_ref: Option<ChildRef>,
    /// The legal basis.
    pub legal_basis: Option<LegalBasis>,
    /// The outcome detail.
    pub detail: String,
    /// SHA-256 of the previous entry's canonical encoding (zeros first).
    pub prev_hash: Digest,
}

impl Entry {
    /// Places `draft` after the entry with sequence `prev_seq` and hash
    /// `prev_hash`.
    pub fn place(draft: Draft, prev_seq: u64, prev_hash: Digest, time_ms: i64) -> Self {
        Self {
            seq: prev_seq + 1,
            time_ms,
            actor: draft.actor,
            action: draft.action,
            message_id: draft.message_id,
            counterpart: draft.counterpart.map(String::from).unwrap_or_default(),
            kind: draft.kind,
            child_ref: draft.child_ref,
            legal_basis: draft.legal_basis,
            detail: draft.detail,
            prev_hash,
        }
    }
}

/// A signed statement of the range of entries an export (or an access
/// report) holds: its ends, so that entries cut off either end are found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// The first entry's sequence number.
    pub from: u64,
    /// The last entry's sequence number.
    pub to: u64,
    /// The hash before the first entry (its `prev_hash`).
    pub prev_hash: Digest,
    /// The last entry's hash.
    pub last_hash: Digest,
    /// When it was signed (Unix ms).
    pub time_ms: i64,
    /// The gateway's Ed25519 signature.
    pub signature: Signature,
}

/// A signed statement of the chain's head at one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The entry covered.
    pub seq: u64,
    /// Its hash.
    pub head_hash: Digest,
    /// When (Unix ms).
    pub time_ms: i64,
    /// The gateway's Ed25519 signature.
    pub signature: Signature,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(detail: &str) -> Draft {
        Draft::new(
            Oin::parse("00000099100000000001").unwrap(),
            Action::SendAccepted,
        )
        .detail(detail)
    }

    #[test]
    fn an_entry_is_stored_as_release_0_1_0_wrote_it() {
        let e = Entry::place(draft("x"), 0, GENESIS_HASH, 7);
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["actor"], "00000099100000000001");
        assert_eq!(json["message_id"], "");
        assert_eq!(json["counterpart"], "");
        assert_eq!(json["prev_hash"], "00".repeat(32));
        assert_eq!(serde_json::from_value::<Entry>(json).unwrap(), e);
    }
}
