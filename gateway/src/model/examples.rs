//! Example records for unit tests across the crate, so that every test
//! builds them the same way and changes only what it is about.

use time::macros::date;

use super::consent::{ConsentRecord, Giver};
use super::ids::{ConsentId, MessageId, Oin};
use super::kind::Kind;
use super::message::{LegalBasis, MessageHead};
use super::participant::{Codes, OrgKind, Participant};
use crate::crypto::{ChildRef, Digest};

/// The id of [`consent`].
pub const CONSENT_ID: &str = "0190b2a4-7c3e-7a1b-9c2d-3e4f5a6b7c8d";

/// The child every example is about.
pub const CHILD: ChildRef = ChildRef([7; 32]);

/// The OIN `n`, zero-padded to 20 digits.
pub fn oin(n: u8) -> Oin {
    Oin::parse(&format!("{n:020}")).expect("20 digits")
}

/// A primary school with its BRIN.
pub fn school() -> Participant {
    let mut p = Participant::new(
        Oin::parse("00000099100000000001").expect("20 digits"),
        "Basisschool De Regenboog",
        OrgKind::School,
    );
    p.codes = Codes {
        brin: "99AA".into(),
        vestiging: "00".into(),
        ..Codes::default()
    };
    p.sector = Some(super::participant::Sector::Po);
    p
}

/// The parents' consent for [`CHILD`], registered by `registered_by`:
/// consultation of JGTs, valid in `[valid_from_ms, valid_until_ms)`.
pub fn consent(registered_by: Oin, valid_from_ms: i64, valid_until_ms: i64) -> ConsentRecord {
    ConsentRecord {
        id: ConsentId::parse(CONSENT_ID).expect("a UUID"),
        registered_by,
        child_ref: Some(CHILD),
        given_by: Giver::Parents,
        given_on: date!(2026 - 01 - 31),
        recipient_oins: vec![],
        recipient_kinds: vec![OrgKind::Jgt],
        message_kinds: vec![Kind::Consultatieverzoek],
        purpose: "p".into(),
        purpose_code: Some(super::consent::Purpose::Consultation),
        valid_from_ms,
        valid_until_ms,
        created_at_ms: valid_from_ms,
        revoked_at_ms: None,
        revoke_reason: String::new(),
        revoked_by: None,
        lapse: None,
        reconfirm: None,
        consented_by: vec![super::consent::Consenter::Parent],
        obtained: Some(super::consent::Obtained::InWriting),
        birth_ref: None,
        case_id: None,
    }
}

/// A consultation request about [`CHILD`] from `sender` to `recipient` on
/// `basis`, accepted at 0 and never expiring.
pub fn head(sender: Oin, recipient: Oin, basis: LegalBasis) -> MessageHead {
    MessageHead {
        id: MessageId::new_v7(),
        sender,
        recipient,
        client_reference: "ref".into(),
        kind: Kind::Consultatieverzoek,
        case_id: super::ids::CaseId::derived(b"example"),
        case_reference: String::new(),
        in_reply_to: None,
        legal_basis: basis,
        terms: super::message::Terms::default(),
        child_ref: Some(CHILD),
        created_at_ms: 0,
        expires_at_ms: i64::MAX,
        overdue_at_ms: None,
        lapses_at_ms: None,
        payload_digest: Digest([4; 32]),
        request_digest: Digest([5; 32]),
        payload_bytes: 10,
    }
}
