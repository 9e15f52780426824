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
