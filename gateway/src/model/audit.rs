//! The audit log's records: one entry per decision, each carrying the
//! SHA-256 of the entry before it, and signed checkpoints of the chain's
//! head.
//!
//! Entries hold metadata only: OINs, message ids, kinds, a child *reference*
//! (keyed hash), the legal basis and a short outcome. Never payload content,
//! never a BSN.

use serde::{Deserialize, Serialize};

use super::ids::{Actor, CaseId, MessageId, Oin, empty_as_none};
use super::kind::Kind;
use super::message::{LegalBasis, MessageRecord, Terms};
use crate::crypto::{ChildRef, Digest, Salt, Signature, random_bytes};

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
    /// The gateway put a notice in an organisation's inbox.
    NoticeSent,
    /// An operator read the audit log.
    AuditRead,
    /// Child references past their retention were erased from old entries.
    ChildRefsErased,
    /// A signaller withdrew or extended its signal, or informed the family.
    SignalChanged,
    /// An organisation joined, left or was removed from a case.
    CaseChanged,
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
    /// What the basis binds the message to.
    pub terms: Terms,
    /// The case.
    pub case_id: Option<CaseId>,
    /// When the retention of the child reference starts, if later than the
    /// entry: a signal's lapse (its audit keeps the reference five years
    /// after the signal lapsed, not after the entry).
    pub retention_from_ms: Option<i64>,
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
            terms: Terms::default(),
            case_id: None,
            retention_from_ms: None,
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
            terms: r.terms,
            case_id: Some(r.case_id.clone()),
            retention_from_ms: r.lapses_at_ms,
            ..Self::new(actor, action)
        }
    }

    /// With this detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    /// The entry that records an erasure of child references from `count`
    /// entries, the newest of them `last`, after their retention.
    pub fn child_refs_erased(count: usize, last: u64) -> Self {
        Self::new(Actor::Gateway, Action::ChildRefsErased).detail(format!(
            "child references erased from {count} entries, up to entry {last}, after their retention"
        ))
    }

    /// The entry that records that the term keys of `days` days, the last
    /// of them `last_day` (days since 1970-01-01), were destroyed: every
    /// record, and every copy of one, whose term ended by then no longer
    /// names a child.
    pub fn terms_forgotten(days: u64, last_day: i64) -> Self {
        let date = crate::crypto::date_of_day(last_day);
        Self::new(Actor::Gateway, Action::ChildRefsErased).detail(format!(
            "term keys of {days} day(s) destroyed, through {date}: no record whose term ended by then, nor any copy of one, names a child any more"
        ))
    }

    /// With this counterpart.
    pub fn counterpart(mut self, oin: Oin) -> Self {
        self.counterpart = Some(oin);
        self
    }
}

/// The format entries are written in now (see `schakel_proto::audit`):
/// format 2 commits to the child reference through a salted hash, and
/// carries the case.
pub const ENTRY_FORMAT: u32 = schakel_proto::audit::FORMAT;

fn first_format() -> u32 {
    1
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
    /// The format it was written in: 1 for entries of releases before
    /// cases (absent in their stored form), [`ENTRY_FORMAT`] now.
    #[serde(default = "first_format")]
    pub format: u32,
    /// What the basis bound the message to (format 2).
    #[serde(default, skip_serializing_if = "is_default")]
    pub terms: Terms,
    /// The case (format 2).
    #[serde(
        default,
        with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub case_id: Option<CaseId>,
    /// The salt of the child reference's commitment (format 2); gone with
    /// the reference when it is erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_salt: Option<Salt>,
    /// SHA-256(salt || child reference), which the entry's hash covers
    /// instead of the reference itself (format 2); kept when the reference
    /// is erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_commitment: Option<Digest>,
    /// When the retention of its child reference starts, if later than the
    /// entry (a signal's lapse), as the draft said: kept with the entry so
    /// that every engine, and every copy between them, counts its term
    /// alike. Not covered by the hash: it says how long the entry is kept,
    /// not what happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_from_ms: Option<i64>,
    /// The digest of the receipt the entry's event gave its sender
    /// (`schakel_proto::receipt::leaf_digest`), part of the entry's leaf
    /// in the audit log's tree ([`Entry::leaf`]). Not covered by the
    /// entry's hash, which is older than the tree: the leaf covers both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_digest: Option<Digest>,
}

fn is_default(t: &Terms) -> bool {
    *t == Terms::default()
}

impl Entry {
    /// Places `draft` after the entry with sequence `prev_seq` and hash
    /// `prev_hash`, in the current format: a child reference gets a fresh
    /// salt and the commitment the entry's hash covers.
    pub fn place(draft: Draft, prev_seq: u64, prev_hash: Digest, time_ms: i64) -> Self {
        let (child_salt, child_commitment) = match &draft.child_ref {
            Some(child) => {
                let salt = Salt(random_bytes());
                let commitment =
                    schakel_proto::audit::child_commitment(salt.as_bytes(), child.as_bytes());
                (Some(salt), Some(Digest(commitment)))
            }
            None => (None, None),
        };
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
            format: ENTRY_FORMAT,
            terms: draft.terms,
            case_id: draft.case_id,
            child_salt,
            child_commitment,
            retention_from_ms: draft.retention_from_ms,
            receipt_digest: None,
        }
    }

    /// When the retention of its child reference starts: for an entry about
    /// a signal, the signal's lapse (five years after it lapsed, as the law
    /// asks); for every other, the entry itself.
    pub fn retention_start_ms(&self) -> i64 {
        match (self.kind, self.retention_from_ms) {
            (Some(Kind::Signalering), Some(from)) => from.max(self.time_ms),
            _ => self.time_ms,
        }
    }

    /// Erases the child reference after its retention, keeping the
    /// commitment the entry's hash covers, so that the chain still
    /// verifies. False for an entry of the first format, whose hash covers
    /// the reference itself: such an entry is removed whole instead.
    pub fn erase_child_ref(&mut self) -> bool {
        if self.format < 2 {
            return false;
        }
        self.child_ref = None;
        self.child_salt = None;
        true
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
    /// The id of the key that signed it.
    pub key_id: String,
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
    /// The id of the key that signed it; empty on checkpoints made before
    /// keys could rotate, which any of the gateway's keys may have signed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key_id: String,
}

/// What an audit entry says of text a caller typed (a reason, a detail,
/// a purpose): how much there was, never the text itself. The audit chain
/// cannot be erased, and text typed about a child may name it; the text
/// stays where it can be (a record, a notice, a receipt).
pub fn withheld(text: &str) -> String {
    match text.chars().count() {
        0 => "no text given".to_owned(),
        n => format!("text of {n} characters given, not kept in the log"),
    }
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
    fn an_entry_of_release_0_1_0_reads_back_in_the_first_format() {
        let json = serde_json::json!({
            "seq": 3, "time_ms": 7, "actor": "00000099100000000001",
            "action": "send_accepted", "message_id": "", "counterpart": "123",
            "kind": "signalering", "child_ref": "07".repeat(32),
            "legal_basis": {"statute": "verwijsindex"}, "detail": "",
            "prev_hash": "00".repeat(32),
        });
        let e: Entry = serde_json::from_value(json).unwrap();
        assert_eq!((e.format, e.case_id.clone(), e.child_salt), (1, None, None));
        let mut erased = e.clone();
        assert!(
            !erased.erase_child_ref(),
            "a first-format entry hashes its reference"
        );
        assert_eq!(erased, e);
    }

    #[test]
    fn a_new_entry_salts_its_child_reference_and_can_lose_it() {
        let mut d = draft("x");
        d.child_ref = Some(ChildRef([7; 32]));
        d.case_id = Some(CaseId::derived(b"c"));
        let e = Entry::place(d.clone(), 0, GENESIS_HASH, 7);
        let twin = Entry::place(d, 0, GENESIS_HASH, 7);
        assert_eq!(e.format, ENTRY_FORMAT);
        assert_ne!(
            e.child_commitment, twin.child_commitment,
            "salted: equal children do not link"
        );
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(serde_json::from_value::<Entry>(json).unwrap(), e);
        let mut erased = e.clone();
        assert!(erased.erase_child_ref());
        assert_eq!((erased.child_ref, erased.child_salt), (None, None));
        assert_eq!(erased.child_commitment, e.child_commitment);
        assert_eq!(erased.hash(), e.hash(), "the chain does not notice");
    }
}
