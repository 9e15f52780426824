//! Requests into the use cases' inputs, and their answers into responses.
//! Records convert through [`crate::model::wire`]; what is here adds the
//! request's field names to every refusal, so that a client learns which
//! field broke which rule.

use schakel_proto::v1 as pb;
use tonic::Status;

use super::status::violation;
use crate::model::{
    CaseId, Codes, ConsentId, Kind, MessageId, MessageRecord, Oin, OrgKind, Participant,
    consent_wire, wire,
};
use crate::policy::consent::Grant;
use crate::policy::{self, fields, invalid};
use crate::service::audit_chain::Record;
use crate::service::audit_log::{AuditLog, Filter};
use crate::service::directory::Query;
use crate::service::exchange::{CaseView, Delivery, InboxEvent};

/// An OIN field.
pub fn oin(field: &str, value: &str) -> Result<Oin, Status> {
    fields::oin(field, value).map_err(violation)
}

/// A message id field.
pub fn message_id(field: &str, value: &str) -> Result<MessageId, Status> {
    fields::message_id(field, value).map_err(violation)
}

/// A case id field: required here.
pub fn case_id(field: &str, value: &str) -> Result<CaseId, Status> {
    match fields::case_id(field, value).map_err(violation)? {
        Some(case) => Ok(case),
        None => Err(violation(invalid(field, "is required"))),
    }
}

/// A consent id field.
pub fn consent_id(field: &str, value: &str) -> Result<ConsentId, Status> {
    fields::consent_id(field, value).map_err(violation)
}

/// An organisation kind field.
pub fn org_kind(field: &str, value: i32) -> Result<OrgKind, Status> {
    wire::org_kind_of(value).ok_or_else(|| {
        violation(invalid(
            field,
            "must be one of school, swv, jgt, gemeente, veilig_thuis, verwijsindex, operator",
        ))
    })
}

/// A message kind field.
pub fn kind(field: &str, value: i32) -> Result<Kind, Status> {
    wire::kind_of(value).ok_or_else(|| {
        violation(invalid(
            field,
            "must be signalering, overdrachtsdossier, consultatieverzoek, consultatieantwoord, matchmelding, plan, planreactie, overleg, aanvraag or besluit",
        ))
    })
}

/// A duration field; absent is zero, negative is refused.
pub fn duration(
    field: &str,
    d: Option<prost_types::Duration>,
) -> Result<std::time::Duration, Status> {
    match d {
        None => Ok(std::time::Duration::ZERO),
        Some(d) if d.seconds < 0 || d.nanos < 0 => {
            Err(violation(invalid(field, "must not be negative")))
        }
        Some(d) => Ok(std::time::Duration::new(d.seconds as u64, d.nanos as u32)),
    }
}

/// A timestamp field in Unix ms, if given.
pub fn time_ms(field: &str, t: Option<prost_types::Timestamp>) -> Result<Option<i64>, Status> {
    t.map(|t| wire::ms_of(&t).ok_or_else(|| violation(invalid(field, "invalid timestamp"))))
        .transpose()
}

/// A participant from the fields of an Add or Update request.
pub fn participant(
    oin_text: &str,
    name: String,
    kind: i32,
    codes: Option<pb::OrganisationCodes>,
    pins: Vec<String>,
    sector: i32,
) -> Result<Participant, Status> {
    let codes = codes.unwrap_or_default();
    let mut p = Participant::new(oin("oin", oin_text)?, name, org_kind("kind", kind)?);
    p.sector = wire::sector_of(sector)
        .map_err(|_| violation(invalid("sector", "must be one of po, sbo, so, vso, vo")))?;
    p.codes = Codes {
        brin: codes.brin,
        vestiging: codes.vestiging,
        agb: codes.agb,
        gemeentecode: codes.gemeentecode,
        swv_number: codes.swv_number,
    };
    p.pinned_cert_sha256 = pins
        .iter()
        .map(|pin| policy::participant::pin(pin))
        .collect::<Result<_, _>>()
        .map_err(violation)?;
    Ok(p)
}

/// A consent grant.
pub fn grant(r: pb::GrantConsentRequest) -> Result<Grant, Status> {
    Ok(Grant {
        bsn: r.bsn,
        birth_date: r.birth_date,
        given_by: consent_wire::giver_of(r.given_by),
        consented_by: r
            .consented_by
            .iter()
            .map(|c| {
                consent_wire::consenter_of(*c).ok_or_else(|| {
                    violation(invalid(
                        "consented_by",
                        "each must be parent, guardian or young_person",
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
        obtained: consent_wire::obtained_of(r.obtained).map_err(|_| {
            violation(invalid(
                "obtained",
                "must be in_writing, orally, electronically, in_meeting, or unspecified (not stated)",
            ))
        })?,
        given_on: r.given_on,
        case_id: r.case_id,
        recipient_oins: r.recipient_oins,
        recipient_kinds: r
            .recipient_kinds
            .into_iter()
            .map(|k| org_kind("recipient_kinds", k))
            .collect::<Result<_, _>>()?,
        message_kinds: r
            .message_kinds
            .into_iter()
            .map(|k| kind("message_kinds", k))
            .collect::<Result<_, _>>()?,
        purpose: r.purpose,
        purpose_code: wire::purpose_of(r.purpose_code).map_err(|_| {
            violation(invalid(
                "purpose_code",
                "must be one of support_at_school, youth_care, consultation, school_placement, care_coordination",
            ))
        })?,
        valid_from_ms: time_ms("valid_from", r.valid_from)?,
        valid_until_ms: time_ms("valid_until", r.valid_until)?,
    })
}

/// A directory query: exactly one criterion, not empty.
pub fn query(q: Option<pb::lookup_request::Query>) -> Result<Query, Status> {
    use pb::lookup_request::Query as Q;
    let nonempty = |field: &str, v: String| {
        if v.is_empty() {
            Err(violation(invalid(field, "must not be empty")))
        } else {
            Ok(v)
        }
    };
    Ok(match q {
        None => {
            return Err(violation(invalid(
                "query",
                "exactly one criterion must be set",
            )));
        }
        Some(Q::Oin(v)) => Query::Oin(oin("oin", &nonempty("oin", v)?)?),
        Some(Q::Brin(v)) => Query::Brin(nonempty("brin", v)?),
        Some(Q::Agb(v)) => Query::Agb(nonempty("agb", v)?),
        Some(Q::Gemeentecode(v)) => Query::Gemeentecode(nonempty("gemeentecode", v)?),
        Some(Q::SwvNumber(v)) => Query::SwvNumber(nonempty("swv_number", v)?),
        Some(Q::Kind(k)) => Query::Kind(org_kind("kind", k)?),
    })
}

/// An audit query's filter.
pub fn filter(r: &pb::AuditQueryRequest, log: &AuditLog) -> Result<Filter, Status> {
    let child_ref = match r.child_bsn.as_str() {
        "" => None,
        bsn => Some(log.child_ref(bsn).map_err(super::status::of)?),
    };
    let actions = r
        .actions
        .iter()
        .map(|a| {
            wire::action_of(*a)
                .ok_or_else(|| violation(invalid("actions", format!("{a} is not an audit action"))))
        })
        .collect::<Result<_, _>>()?;
    Ok(Filter {
        from_ms: time_ms("from", r.from)?,
        to_ms: time_ms("to", r.to)?,
        org: (!r.org_oin.is_empty())
            .then(|| oin("org_oin", &r.org_oin))
            .transpose()?,
        message_id: (!r.message_id.is_empty())
            .then(|| message_id("message_id", &r.message_id))
            .transpose()?,
        child_ref,
        actions,
    })
}

/// A delivery as the recipient receives it, at `now_ms`.
pub fn delivery(d: Delivery, now_ms: i64) -> pb::Delivery {
    let lease_expires_at = d.record.lease_until_ms.map(wire::timestamp);
    let attempt = d.record.attempts;
    pb::Delivery {
        lease_expires_at,
        attempt,
        consent: d
            .consent
            .as_ref()
            .map(|c| consent_wire::consent_scope(c, now_ms)),
        envelope: Some(wire::envelope(d.record, d.payload)),
    }
}

/// One message of a case, as its sender or recipient sees it.
pub fn case_message(r: &MessageRecord) -> pb::CaseMessage {
    pb::CaseMessage {
        message_id: r.id.to_string(),
        kind: wire::kind(r.kind) as i32,
        sender_oin: r.sender.to_string(),
        recipient_oin: r.recipient.to_string(),
        in_reply_to: r
            .in_reply_to
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        created_at: Some(wire::timestamp(r.created_at_ms)),
        status: wire::receipt_status(r.state) as i32,
        plan_version: r.plan_version.unwrap_or_default(),
    }
}

/// A case as a caller may see it: its messages and its parties.
pub fn case_view(case: &CaseId, v: &CaseView) -> pb::ListCaseResponse {
    let parties = v.record.iter().flat_map(|c| &c.parties);
    pb::ListCaseResponse {
        case_id: case.to_string(),
        messages: v.messages.iter().map(case_message).collect(),
        parties: parties
            .map(|p| pb::CaseParty {
                oin: p.oin.to_string(),
                legal_basis: Some(wire::legal_basis(&p.basis, &Default::default())),
                added_by_oin: p.added_by.to_string(),
                joined_at: Some(wire::timestamp(p.joined_at_ms)),
                left_at: p
                    .left_at_ms
                    .or(v.basis_ended.get(&p.oin).map(|e| e.0))
                    .map(wire::timestamp),
                ended_by_oin: p
                    .ended_by
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                ended_because: v
                    .basis_ended
                    .get(&p.oin)
                    .map(|e| e.1.clone())
                    .unwrap_or_default(),
            })
            .collect(),
        coordinator: v
            .record
            .as_ref()
            .and_then(|c| c.coordinator.as_ref())
            .map(|k| pb::CaseCoordinator {
                oin: k.oin.to_string(),
                legal_basis: Some(wire::legal_basis(&k.basis, &Default::default())),
                set_by_oin: k.set_by.to_string(),
                since: Some(wire::timestamp(k.since_ms)),
            }),
        plans: v
            .record
            .iter()
            .flat_map(|c| &c.plans)
            .map(|p| pb::CasePlanVersion {
                version: p.version,
                shared_by_oin: p.shared_by.to_string(),
                shared_at: Some(wire::timestamp(p.shared_at_ms)),
                payload_sha256: p.payload_digest.to_hex(),
            })
            .collect(),
    }
}

/// The consent id a case request names as its basis (`legal_basis`).
pub fn case_consent(basis: Option<pb::LegalBasis>) -> Result<ConsentId, Status> {
    let Some(pb::legal_basis::Basis::ConsentId(consent)) = basis.and_then(|b| b.basis) else {
        return Err(violation(invalid(
            "legal_basis",
            "a case's party or coordinator is named under a consent (consent_id) that names it and the case's child; a statute covers the messages it names, not a view of the whole case, so no party joins on one",
        )));
    };
    consent_id("legal_basis.consent_id", &consent)
}

/// An event of an inbox stream, at `now_ms`.
pub fn inbox_event(e: InboxEvent, now_ms: i64) -> pb::InboxEvent {
    use pb::inbox_event::Event;
    pb::InboxEvent {
        event: Some(match e {
            InboxEvent::Delivery(d) => Event::Delivery(delivery(*d, now_ms)),
            InboxEvent::Withdrawal(n) => Event::Withdrawal(pb::Withdrawal {
                message_id: n.message_id.to_string(),
                reason: format!("{}; delete what you hold of this message", n.reason),
                time: Some(wire::timestamp(n.time_ms)),
            }),
        }),
    }
}

/// A record of an audit export.
pub fn export_record(r: Record) -> pb::AuditExportRecord {
    use pb::audit_export_record::Record as R;
    pb::AuditExportRecord {
        record: Some(match r {
            Record::Entry(e) => R::Entry(wire::audit_entry(&e)),
            Record::Checkpoint(c) => R::Checkpoint(wire::checkpoint(&c)),
            Record::TreeHead(h) => R::TreeHead(h.to_wire()),
        }),
    }
}

/// An event of a receipt stream.
pub fn receipt_event((cursor, receipt): (u64, pb::Receipt)) -> pb::ReceiptEvent {
    pb::ReceiptEvent {
        cursor,
        receipt: Some(receipt),
    }
}
