//! The audit log: one entry per decision, each carrying the SHA-256 of the
//! entry before it, so that a changed, removed or reordered entry breaks the
//! chain.
//!
//! Entries hold metadata only: OINs, message ids, kinds, a child *reference*
//! (keyed hash), the legal basis and a short outcome. Never payload content,
//! never a BSN. The store appends entries in the same atomic write as the
//! state change they record, so a crash never leaves one without the other.

use serde::{Deserialize, Serialize};

use crate::message::{Kind, LegalBasis};

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

impl Action {
    /// The snake_case name, as in the canonical encoding.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::SendAccepted => "send_accepted",
            Action::SendRefused => "send_refused",
            Action::Leased => "leased",
            Action::Delivered => "delivered",
            Action::Rejected => "rejected",
            Action::Expired => "expired",
            Action::Withdrawn => "withdrawn",
            Action::Purged => "purged",
            Action::ConsentGranted => "consent_granted",
            Action::ConsentRevoked => "consent_revoked",
            Action::DirectoryChanged => "directory_changed",
            Action::AccessRefused => "access_refused",
        }
    }
}

/// The actor name used for decisions the gateway makes by itself (expiry,
/// purge), which no participant caused.
pub const GATEWAY_ACTOR: &str = "gateway";

/// An entry before the store has placed it in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Draft {
    /// Who acted: an OIN, or [`GATEWAY_ACTOR`].
    pub actor: String,
    /// What happened.
    pub action: Option<Action>,
    /// The message concerned.
    pub message_id: String,
    /// The other organisation involved.
    pub counterpart: String,
    /// The message kind.
    pub kind: Option<Kind>,
    /// The child reference.
    pub child_ref: Option<String>,
    /// The legal basis.
    pub legal_basis: Option<LegalBasis>,
    /// The outcome detail.
    pub detail: String,
}

/// A placed entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// When (Unix ms).
    pub time_ms: i64,
    /// Who acted.
    pub actor: String,
    /// What happened.
    pub action: Action,
    /// The message concerned, or empty.
    pub message_id: String,
    /// The other organisation, or empty.
    pub counterpart: String,
    /// The message kind.
    pub kind: Option<Kind>,
    /// The child reference.
    pub child_ref: Option<String>,
    /// The legal basis.
    pub legal_basis: Option<LegalBasis>,
    /// The outcome detail.
    pub detail: String,
    /// SHA-256 of the previous entry's canonical encoding, hex (zeros first).
    pub prev_hash: String,
}

/// The hash before the first entry.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

impl Entry {
    /// Places `draft` after the entry with sequence `prev_seq` and hash
    /// `prev_hash`.
    pub fn place(draft: Draft, prev_seq: u64, prev_hash: &[u8; 32], time_ms: i64) -> Self {
        Self {
            seq: prev_seq + 1,
            time_ms,
            actor: draft.actor,
            action: draft.action.expect("an audit draft names its action"),
            message_id: draft.message_id,
            counterpart: draft.counterpart,
            kind: draft.kind,
            child_ref: draft.child_ref,
            legal_basis: draft.legal_basis,
            detail: draft.detail,
            prev_hash: hex::encode(prev_hash),
        }
    }

    /// The canonical encoding the chain hashes: every field in a fixed order,
    /// each as a 4-byte big-endian length and its UTF-8 bytes.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        let mut field = |s: &str| {
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        field("schakel-audit-v1");
        field(&self.seq.to_string());
        field(&self.time_ms.to_string());
        field(&self.actor);
        field(self.action.as_str());
        field(&self.message_id);
        field(&self.counterpart);
        field(self.kind.map(Kind::as_str).unwrap_or(""));
        field(self.child_ref.as_deref().unwrap_or(""));
        field(
            &self
                .legal_basis
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        );
        field(&self.detail);
        field(&self.prev_hash);
        out
    }

    /// SHA-256 of the canonical encoding.
    pub fn hash(&self) -> [u8; 32] {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.canonical());
        digest.as_ref().try_into().expect("SHA-256 is 32 bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(detail: &str) -> Draft {
        Draft {
            actor: "00000099100000000001".into(),
            action: Some(Action::SendAccepted),
            detail: detail.into(),
            ..Draft::default()
        }
    }

    #[test]
    fn entries_chain_by_hash() {
        let first = Entry::place(draft("a"), 0, &GENESIS_HASH, 1);
        let second = Entry::place(draft("b"), first.seq, &first.hash(), 2);
        assert_eq!(second.seq, 2);
        assert_eq!(second.prev_hash, hex::encode(first.hash()));
        let mut altered = first.clone();
        altered.detail = "A".into();
        assert_ne!(altered.hash(), first.hash());
    }
}
