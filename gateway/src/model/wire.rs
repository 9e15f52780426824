//! Records in the contract's wire form (`schakel-proto`), and back: the one
//! place where a model type meets a generated one.
//!
//! It sits in the model, below the API, because receipts, audit entries and
//! checkpoints are hashed and signed in their wire form (the canonical
//! encodings of `schakel_proto::receipt` and `schakel_proto::audit`), and the
//! store does that. The API layer builds its answers with these functions and
//! turns their `None` into a status that names the field.

use schakel_proto::v1 as pb;

use super::audit::{Action, Checkpoint, Entry, Range};
use super::consent::Purpose;
use super::kind::Kind;
use super::message::{LegalBasis, MessageRecord, RejectReason, State, Terms};
use super::notice::NoticeType;
use super::participant::{OrgKind, Participant, Sector, Status};
use super::statute::Statute;
use crate::crypto::Digest;

/// A timestamp from Unix milliseconds.
pub fn timestamp(ms: i64) -> prost_types::Timestamp {
    schakel_proto::audit::timestamp(ms)
}

/// A timestamp from Unix seconds.
pub fn timestamp_secs(secs: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: secs,
        nanos: 0,
    }
}

/// Unix milliseconds of a timestamp; None when its nanoseconds are out of
/// range.
pub fn ms_of(t: &prost_types::Timestamp) -> Option<i64> {
    if !(0..1_000_000_000).contains(&t.nanos) {
        return None;
    }
    Some(
        t.seconds
            .saturating_mul(1000)
            .saturating_add(i64::from(t.nanos) / 1_000_000),
    )
}

/// The wire kind of a message kind.
pub fn kind(k: Kind) -> pb::MessageKind {
    match k {
        Kind::Signalering => pb::MessageKind::Signalering,
        Kind::Overdrachtsdossier => pb::MessageKind::Overdrachtsdossier,
        Kind::Consultatieverzoek => pb::MessageKind::Consultatieverzoek,
        Kind::Consultatieantwoord => pb::MessageKind::Consultatieantwoord,
        Kind::Notice => pb::MessageKind::Notice,
        Kind::Matchmelding => pb::MessageKind::Matchmelding,
        Kind::Plan => pb::MessageKind::Plan,
        Kind::Planreactie => pb::MessageKind::Planreactie,
        Kind::Overleg => pb::MessageKind::Overleg,
        Kind::Aanvraag => pb::MessageKind::Aanvraag,
        Kind::Besluit => pb::MessageKind::Besluit,
    }
}

/// The message kind of a wire value, if it names one.
pub fn kind_of(value: i32) -> Option<Kind> {
    Kind::ALL.into_iter().find(|k| kind(*k) as i32 == value)
}

/// The wire kind of an organisation kind.
pub fn org_kind(k: OrgKind) -> pb::OrganisationKind {
    match k {
        OrgKind::School => pb::OrganisationKind::School,
        OrgKind::Swv => pb::OrganisationKind::Swv,
        OrgKind::Jgt => pb::OrganisationKind::Jgt,
        OrgKind::Gemeente => pb::OrganisationKind::Gemeente,
        OrgKind::Operator => pb::OrganisationKind::Operator,
        OrgKind::VeiligThuis => pb::OrganisationKind::VeiligThuis,
        OrgKind::Verwijsindex => pb::OrganisationKind::Verwijsindex,
    }
}

/// The organisation kind of a wire value, if it names one.
pub fn org_kind_of(value: i32) -> Option<OrgKind> {
    OrgKind::ALL
        .into_iter()
        .find(|k| org_kind(*k) as i32 == value)
}

/// The wire sector of a school's sector (None: unspecified).
pub fn sector(s: Option<Sector>) -> pb::SchoolSector {
    match s {
        None => pb::SchoolSector::Unspecified,
        Some(Sector::Po) => pb::SchoolSector::Po,
        Some(Sector::Sbo) => pb::SchoolSector::Sbo,
        Some(Sector::So) => pb::SchoolSector::So,
        Some(Sector::Vso) => pb::SchoolSector::Vso,
        Some(Sector::Vo) => pb::SchoolSector::Vo,
    }
}

/// A wire value that names no school sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} names no school sector")]
pub struct NoSuchSector(pub i32);

/// The sector of a wire value: None for unspecified.
pub fn sector_of(value: i32) -> Result<Option<Sector>, NoSuchSector> {
    if value == 0 {
        return Ok(None);
    }
    Sector::ALL
        .into_iter()
        .find(|s| sector(Some(*s)) as i32 == value)
        .map(Some)
        .ok_or(NoSuchSector(value))
}

fn statute(s: Statute) -> pb::StatutoryBasis {
    match s {
        Statute::OverdrachtPo => pb::StatutoryBasis::OverdrachtPo,
        Statute::Verwijsindex => pb::StatutoryBasis::Verwijsindex,
        Statute::MeldrechtVeiligThuis => pb::StatutoryBasis::MeldrechtVeiligThuis,
        Statute::PassendOnderwijs => pb::StatutoryBasis::PassendOnderwijs,
    }
}

/// The statute of a wire value, if it names one.
pub fn statute_of(value: i32) -> Option<Statute> {
    Statute::ALL
        .into_iter()
        .find(|s| statute(*s) as i32 == value)
}

/// The wire form of a legal basis with the terms it binds a message to.
pub fn legal_basis(b: &LegalBasis, terms: &Terms) -> pb::LegalBasis {
    use pb::legal_basis::Basis;
    pb::LegalBasis {
        basis: Some(match b {
            LegalBasis::Consent(id) => Basis::ConsentId(id.to_string()),
            LegalBasis::Statute(s) => Basis::Statutory(statute(*s) as i32),
            LegalBasis::NoPersonalData => Basis::NoPersonalData(pb::NoPersonalData {}),
        }),
        purpose: terms.purpose.map_or(0, |p| purpose(p) as i32),
        necessity_declared: terms.necessity_declared,
    }
}

/// The wire form of a notice's type.
pub fn notice_type(t: NoticeType) -> pb::NoticeType {
    match t {
        NoticeType::ConsentLapsing => pb::NoticeType::ConsentLapsing,
        NoticeType::ConsentReconfirm => pb::NoticeType::ConsentReconfirm,
        NoticeType::MessageOverdue => pb::NoticeType::MessageOverdue,
        NoticeType::ConsentRevoked => pb::NoticeType::ConsentRevoked,
        NoticeType::InformingDue => pb::NoticeType::InformingDue,
    }
}

/// The wire form of a consent's purpose.
pub fn purpose(p: Purpose) -> pb::ConsentPurpose {
    match p {
        Purpose::SupportAtSchool => pb::ConsentPurpose::SupportAtSchool,
        Purpose::YouthCare => pb::ConsentPurpose::YouthCare,
        Purpose::Consultation => pb::ConsentPurpose::Consultation,
        Purpose::SchoolPlacement => pb::ConsentPurpose::SchoolPlacement,
        Purpose::CareCoordination => pb::ConsentPurpose::CareCoordination,
    }
}

/// The purpose of a wire value: None for unspecified; Err for a value
/// that names none.
pub fn purpose_of(value: i32) -> Result<Option<Purpose>, i32> {
    if value == 0 {
        return Ok(None);
    }
    Purpose::ALL
        .into_iter()
        .find(|p| purpose(*p) as i32 == value)
        .map(Some)
        .ok_or(value)
}

/// The wire form of an audit action.
pub fn action(a: Action) -> pb::AuditAction {
    match a {
        Action::SendAccepted => pb::AuditAction::SendAccepted,
        Action::SendRefused => pb::AuditAction::SendRefused,
        Action::Leased => pb::AuditAction::Leased,
        Action::Delivered => pb::AuditAction::Delivered,
        Action::Rejected => pb::AuditAction::Rejected,
        Action::Expired => pb::AuditAction::Expired,
        Action::Withdrawn => pb::AuditAction::Withdrawn,
        Action::Purged => pb::AuditAction::Purged,
        Action::ConsentGranted => pb::AuditAction::ConsentGranted,
        Action::ConsentRevoked => pb::AuditAction::ConsentRevoked,
        Action::DirectoryChanged => pb::AuditAction::DirectoryChanged,
        Action::AccessRefused => pb::AuditAction::AccessRefused,
        Action::NoticeSent => pb::AuditAction::NoticeSent,
        Action::AuditRead => pb::AuditAction::AuditRead,
        Action::ChildRefsErased => pb::AuditAction::ChildRefsErased,
        Action::SignalChanged => pb::AuditAction::SignalChanged,
        Action::CaseChanged => pb::AuditAction::CaseChanged,
    }
}

/// The audit action of a wire value, if it names one.
pub fn action_of(value: i32) -> Option<Action> {
    use Action as A;
    [
        A::SendAccepted,
        A::SendRefused,
        A::Leased,
        A::Delivered,
        A::Rejected,
        A::Expired,
        A::Withdrawn,
        A::Purged,
        A::ConsentGranted,
        A::ConsentRevoked,
        A::DirectoryChanged,
        A::AccessRefused,
        A::NoticeSent,
        A::AuditRead,
        A::ChildRefsErased,
        A::SignalChanged,
        A::CaseChanged,
    ]
    .into_iter()
    .find(|a| action(*a) as i32 == value)
}

/// The receipt status that a message state gives the sender.
pub fn receipt_status(state: State) -> pb::ReceiptStatus {
    match state {
        State::Ready | State::Leased => pb::ReceiptStatus::Accepted,
        State::Delivered => pb::ReceiptStatus::Delivered,
        State::Rejected => pb::ReceiptStatus::Rejected,
        State::Expired => pb::ReceiptStatus::Expired,
        State::Withdrawn => pb::ReceiptStatus::Withdrawn,
    }
}

/// The reject reason of a wire value, if it names one.
pub fn reject_reason_of(value: i32) -> Option<RejectReason> {
    Some(match pb::RejectReason::try_from(value).ok()? {
        pb::RejectReason::Unspecified => return None,
        pb::RejectReason::Technical => RejectReason::Technical,
        pb::RejectReason::NotAssessed => RejectReason::NotAssessed,
        pb::RejectReason::WrongRecipient => RejectReason::WrongRecipient,
        pb::RejectReason::Duplicate => RejectReason::Duplicate,
        pb::RejectReason::InvalidContent => RejectReason::InvalidContent,
    })
}

/// The wire form of a participant. Pins and the suspension reason are for
/// operators only; others get them blanked.
pub fn participant(p: &Participant, for_operator: bool) -> pb::Participant {
    pb::Participant {
        oin: p.oin.to_string(),
        name: p.name.clone(),
        kind: org_kind(p.kind) as i32,
        codes: Some(pb::OrganisationCodes {
            brin: p.codes.brin.clone(),
            vestiging: p.codes.vestiging.clone(),
            agb: p.codes.agb.clone(),
            gemeentecode: p.codes.gemeentecode.clone(),
            swv_number: p.codes.swv_number.clone(),
        }),
        status: match p.status {
            Status::Active => pb::ParticipantStatus::Active,
            Status::Suspended => pb::ParticipantStatus::Suspended,
        } as i32,
        pinned_cert_sha256: if for_operator {
            p.pinned_cert_sha256.iter().map(Digest::to_hex).collect()
        } else {
            vec![]
        },
        updated_at: Some(timestamp_secs(p.updated_at)),
        suspended_reason: if for_operator {
            p.suspended_reason.clone()
        } else {
            String::new()
        },
        sector: sector(p.sector) as i32,
    }
}

/// The envelope of a message as its recipient receives it, with the
/// payload bytes as they were sent.
pub fn envelope(r: MessageRecord, payload: Vec<u8>) -> pb::Envelope {
    pb::Envelope {
        kind: kind(r.kind) as i32,
        legal_basis: Some(legal_basis(&r.legal_basis, &r.terms)),
        created_at: Some(timestamp(r.created_at_ms)),
        expires_at: Some(timestamp(r.expires_at_ms)),
        payload,
        payload_digest: r.payload_digest.as_bytes().to_vec(),
        message_id: r.id.to_string(),
        client_reference: r.client_reference,
        sender_oin: r.sender.to_string(),
        recipient_oin: r.recipient.to_string(),
        case_id: r.case_id.to_string(),
        in_reply_to: r.in_reply_to.map(String::from).unwrap_or_default(),
        case_reference: r.case_reference,
    }
}

/// A receipt for the sender of `r`, not yet signed: `status` at `time_ms`,
/// naming the audit entry `audit_seq` of its event.
pub fn unsigned_receipt(
    r: &MessageRecord,
    status: pb::ReceiptStatus,
    detail: &str,
    audit_seq: u64,
    time_ms: i64,
) -> pb::Receipt {
    pb::Receipt {
        message_id: r.id.to_string(),
        status: status as i32,
        time: Some(timestamp(time_ms)),
        payload_digest: r.payload_digest.as_bytes().to_vec(),
        sender_oin: r.sender.to_string(),
        recipient_oin: r.recipient.to_string(),
        audit_sequence: audit_seq,
        detail: detail.to_owned(),
        ..Default::default()
    }
}

/// The wire form of an audit entry, which is also what the chain hashes.
pub fn audit_entry(e: &Entry) -> pb::AuditEntry {
    pb::AuditEntry {
        sequence: e.seq,
        time: Some(timestamp(e.time_ms)),
        actor_oin: e.actor.to_string(),
        action: action(e.action) as i32,
        message_id: e
            .message_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        counterpart_oin: e.counterpart.clone(),
        kind: e.kind.map_or(0, |k| kind(k) as i32),
        child_ref: e.child_ref.map(|c| c.to_hex()).unwrap_or_default(),
        legal_basis: e.legal_basis.as_ref().map(|b| legal_basis(b, &e.terms)),
        detail: e.detail.clone(),
        prev_hash: e.prev_hash.as_bytes().to_vec(),
        format: e.format,
        case_id: e
            .case_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        child_ref_salt: e
            .child_salt
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default(),
        child_ref_commitment: e
            .child_commitment
            .map(|c| c.as_bytes().to_vec())
            .unwrap_or_default(),
        receipt_digest: e
            .receipt_digest
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default(),
    }
}

/// The wire form of a checkpoint, which is also what its signature covers
/// (without the signature).
pub fn checkpoint(c: &Checkpoint) -> pb::AuditCheckpoint {
    pb::AuditCheckpoint {
        sequence: c.seq,
        head_hash: c.head_hash.as_bytes().to_vec(),
        time: Some(timestamp(c.time_ms)),
        signature: c.signature.as_bytes().to_vec(),
        key_id: c.key_id.clone(),
    }
}

/// The wire form of a signed range, which is also what its signature
/// covers (without the signature).
pub fn range(r: &Range) -> pb::AuditExportRange {
    pb::AuditExportRange {
        from_sequence: r.from,
        to_sequence: r.to,
        prev_hash: r.prev_hash.as_bytes().to_vec(),
        last_hash: r.last_hash.as_bytes().to_vec(),
        time: Some(timestamp(r.time_ms)),
        signature: r.signature.as_bytes().to_vec(),
        key_id: r.key_id.clone(),
    }
}

/// The digest a wire field holds, if it holds 32 bytes.
pub fn digest_of(bytes: &[u8]) -> Option<Digest> {
    Digest::from_slice(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_enum_round_trips_and_unspecified_is_none() {
        for k in Kind::ALL {
            assert_eq!(kind_of(kind(k) as i32), Some(k));
        }
        for k in OrgKind::ALL {
            assert_eq!(org_kind_of(org_kind(k) as i32), Some(k));
        }
        for s in Statute::ALL {
            assert_eq!(statute_of(statute(s) as i32), Some(s));
        }
        for s in Sector::ALL {
            assert_eq!(sector_of(sector(Some(s)) as i32), Ok(Some(s)));
        }
        assert_eq!(sector_of(0), Ok(None));
        assert_eq!(sector_of(99), Err(NoSuchSector(99)));
        for p in Purpose::ALL {
            assert_eq!(purpose_of(purpose(p) as i32), Ok(Some(p)));
        }
        assert_eq!(purpose_of(0), Ok(None));
        assert_eq!(purpose_of(77), Err(77));
        for v in 1..=15 {
            let a = action_of(v).unwrap();
            assert_eq!(action(a) as i32, v);
        }
        assert_eq!(kind_of(0), None);
        assert_eq!(org_kind_of(0), None);
        assert_eq!(statute_of(0), None);
        assert_eq!(action_of(0), None);
        assert_eq!(action_of(99), None);
        assert_eq!(reject_reason_of(0), None);
        assert_eq!(
            reject_reason_of(pb::RejectReason::WrongRecipient as i32),
            Some(RejectReason::WrongRecipient)
        );
    }

    #[test]
    fn timestamps_in_milliseconds() {
        assert_eq!(ms_of(&timestamp(-1500)), Some(-1500));
        assert_eq!(
            ms_of(&timestamp(1_700_000_000_123)),
            Some(1_700_000_000_123)
        );
        let bad = prost_types::Timestamp {
            seconds: 1,
            nanos: -1,
        };
        assert_eq!(ms_of(&bad), None);
    }
}
