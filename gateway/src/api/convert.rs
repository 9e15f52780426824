//! Translation between the wire types of `schakel-proto` and the gateway's
//! own types. Kept in one place so that every service maps a field the same
//! way, and so that validation errors name wire field names.

use schakel_proto::v1 as pb;
use tonic::Status;

use crate::directory::{Codes, OrgKind, Participant, Status as PStatus};

/// A timestamp from Unix seconds.
pub fn timestamp(secs: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: secs,
        nanos: 0,
    }
}

/// The wire kind of an organisation kind.
pub fn org_kind_to_pb(kind: OrgKind) -> pb::OrganisationKind {
    match kind {
        OrgKind::School => pb::OrganisationKind::School,
        OrgKind::Swv => pb::OrganisationKind::Swv,
        OrgKind::Jgt => pb::OrganisationKind::Jgt,
        OrgKind::Gemeente => pb::OrganisationKind::Gemeente,
        OrgKind::Operator => pb::OrganisationKind::Operator,
    }
}

/// The organisation kind of a wire value; `field` names it in the error.
pub fn org_kind_from_pb(field: &str, value: i32) -> Result<OrgKind, Status> {
    match pb::OrganisationKind::try_from(value) {
        Ok(pb::OrganisationKind::School) => Ok(OrgKind::School),
        Ok(pb::OrganisationKind::Swv) => Ok(OrgKind::Swv),
        Ok(pb::OrganisationKind::Jgt) => Ok(OrgKind::Jgt),
        Ok(pb::OrganisationKind::Gemeente) => Ok(OrgKind::Gemeente),
        Ok(pb::OrganisationKind::Operator) => Ok(OrgKind::Operator),
        _ => Err(Status::invalid_argument(format!(
            "{field}: must be one of school, swv, jgt, gemeente, operator"
        ))),
    }
}

/// The wire form of a participant. Pins and the suspension reason are for
/// operators only; others get them blanked.
pub fn participant_to_pb(p: &Participant, for_operator: bool) -> pb::Participant {
    pb::Participant {
        oin: p.oin.clone(),
        name: p.name.clone(),
        kind: org_kind_to_pb(p.kind) as i32,
        codes: Some(pb::OrganisationCodes {
            brin: p.codes.brin.clone(),
            vestiging: p.codes.vestiging.clone(),
            agb: p.codes.agb.clone(),
            gemeentecode: p.codes.gemeentecode.clone(),
            swv_number: p.codes.swv_number.clone(),
        }),
        status: match p.status {
            PStatus::Active => pb::ParticipantStatus::Active,
            PStatus::Suspended => pb::ParticipantStatus::Suspended,
        } as i32,
        pinned_cert_sha256: if for_operator {
            p.pinned_cert_sha256.clone()
        } else {
            vec![]
        },
        updated_at: Some(timestamp(p.updated_at)),
        suspended_reason: if for_operator {
            p.suspended_reason.clone()
        } else {
            String::new()
        },
    }
}

/// A participant from the fields of an Add or Update request.
pub fn participant_from_pb(
    oin: String,
    name: String,
    kind: i32,
    codes: Option<pb::OrganisationCodes>,
    pins: Vec<String>,
) -> Result<Participant, Status> {
    let codes = codes.unwrap_or_default();
    Ok(Participant {
        oin,
        name,
        kind: org_kind_from_pb("kind", kind)?,
        codes: Codes {
            brin: codes.brin,
            vestiging: codes.vestiging,
            agb: codes.agb,
            gemeentecode: codes.gemeentecode,
            swv_number: codes.swv_number,
        },
        status: PStatus::Active,
        suspended_reason: String::new(),
        pinned_cert_sha256: pins,
        updated_at: 0,
    })
}

/// A timestamp from Unix milliseconds.
pub fn timestamp_ms(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// A delivery as the recipient receives it.
pub fn delivery_to_pb(d: crate::exchange::Delivery) -> pb::Delivery {
    let r = d.record;
    pb::Delivery {
        lease_expires_at: r.lease_until_ms.map(timestamp_ms),
        attempt: r.attempts,
        envelope: Some(pb::Envelope {
            kind: r.kind.to_pb() as i32,
            legal_basis: Some(r.legal_basis.to_pb()),
            created_at: Some(timestamp_ms(r.created_at_ms)),
            expires_at: Some(timestamp_ms(r.expires_at_ms)),
            payload: Some(d.payload),
            payload_digest: hex::decode(&r.payload_digest).unwrap_or_default(),
            message_id: r.id,
            client_reference: r.client_reference,
            sender_oin: r.sender,
            recipient_oin: r.recipient,
            case_id: r.case_id,
            in_reply_to: r.in_reply_to,
        }),
    }
}

/// A protobuf duration as a std one; negative is refused.
pub fn duration(
    field: &str,
    d: Option<prost_types::Duration>,
) -> Result<std::time::Duration, Status> {
    match d {
        None => Ok(std::time::Duration::ZERO),
        Some(d) if d.seconds < 0 || d.nanos < 0 => Err(Status::invalid_argument(format!(
            "{field}: must not be negative"
        ))),
        Some(d) => Ok(std::time::Duration::new(d.seconds as u64, d.nanos as u32)),
    }
}

/// The message kind of a wire value; `field` names it in the error.
pub fn kind_from_pb(field: &str, value: i32) -> Result<crate::message::Kind, Status> {
    use crate::message::Kind;
    match pb::MessageKind::try_from(value) {
        Ok(pb::MessageKind::Signalering) => Ok(Kind::Signalering),
        Ok(pb::MessageKind::Overdrachtsdossier) => Ok(Kind::Overdrachtsdossier),
        Ok(pb::MessageKind::Consultatieverzoek) => Ok(Kind::Consultatieverzoek),
        Ok(pb::MessageKind::Consultatieantwoord) => Ok(Kind::Consultatieantwoord),
        _ => Err(Status::invalid_argument(format!(
            "{field}: must be signalering, overdrachtsdossier, consultatieverzoek or consultatieantwoord"
        ))),
    }
}
