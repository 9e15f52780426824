//! Valid requests of every kind, around a given day, for tests and
//! benchmarks to send as they are or to break one field at a time. The
//! gateway's unit tests, the end-to-end tests and the benchmark all build
//! their messages here, so that "a valid signal" means one thing.
//!
//! Only with the `examples` feature.

use time::{Date, Duration};

pub use crate::payload::attachment;
use crate::v1 as pb;

/// BSNs that pass the elfproef (test numbers, no real children).
pub const BSN: [&str; 3] = ["111222333", "123456782", "999999990"];

/// The date `days` after `today`, "YYYY-MM-DD".
pub fn date(today: Date, days: i64) -> String {
    let d = today + Duration::days(days);
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// A contact with a phone number.
pub fn contact() -> pb::Contact {
    pb::Contact {
        name: "J. de Vries".into(),
        role: "intern begeleider".into(),
        phone: "+31 71 123 4567".into(),
        email: String::new(),
    }
}

/// A statutory basis, without a declaration.
pub fn statute(s: pb::StatutoryBasis) -> Option<pb::LegalBasis> {
    Some(pb::LegalBasis {
        basis: Some(pb::legal_basis::Basis::Statutory(s as i32)),
        ..pb::LegalBasis::default()
    })
}

/// The reporting right towards Veilig Thuis, with the sender's declaration
/// that the information is necessary.
pub fn meldrecht() -> Option<pb::LegalBasis> {
    Some(pb::LegalBasis {
        basis: Some(pb::legal_basis::Basis::Statutory(
            pb::StatutoryBasis::MeldrechtVeiligThuis as i32,
        )),
        necessity_declared: true,
        ..pb::LegalBasis::default()
    })
}

/// A consent basis, serving consultation (the purpose of the examples'
/// consents).
pub fn consent(id: &str) -> Option<pb::LegalBasis> {
    consent_for(id, pb::ConsentPurpose::Consultation)
}

/// A consent basis serving `purpose`.
pub fn consent_for(id: &str, purpose: pb::ConsentPurpose) -> Option<pb::LegalBasis> {
    Some(pb::LegalBasis {
        basis: Some(pb::legal_basis::Basis::ConsentId(id.into())),
        purpose: purpose as i32,
        ..pb::LegalBasis::default()
    })
}

/// The basis of a message without personal data.
pub fn no_personal_data() -> Option<pb::LegalBasis> {
    Some(pb::LegalBasis {
        basis: Some(pb::legal_basis::Basis::NoPersonalData(
            pb::NoPersonalData {},
        )),
        ..pb::LegalBasis::default()
    })
}

/// A request of `body` to `to` on `basis`, with client reference
/// `reference`, starting a case the sender calls `zaak-2026-001`.
pub fn request(
    reference: &str,
    to: &str,
    basis: Option<pb::LegalBasis>,
    body: pb::payload::Body,
) -> pb::SendRequest {
    pb::SendRequest {
        client_reference: reference.into(),
        recipient_oin: to.into(),
        case_id: String::new(),
        in_reply_to: String::new(),
        legal_basis: basis,
        expires_at: None,
        payload: crate::payload::encode(&pb::Payload {
            body: Some(body),
            attachments: vec![],
        }),
        sender_oin: String::new(),
        case_reference: "zaak-2026-001".into(),
    }
}

/// A signal of concern about a ten-year-old ([`BSN`]`[0]`), given
/// `today` and valid for a year, the parents informed, under the
/// Verwijsindex basis (so for the Verwijsindex as `to`).
pub fn signalering(today: Date, reference: &str, to: &str) -> pb::SendRequest {
    request(
        reference,
        to,
        statute(pb::StatutoryBasis::Verwijsindex),
        pb::payload::Body::Signalering(pb::Signalering {
            bsn: BSN[0].into(),
            birth_date: date(today, -10 * 365),
            contact: Some(contact()),
            signal_date: date(today, 0),
            valid_until: date(today, 365),
            parents_informed: true,
            child_informed: false,
            informing_postponed_reason: String::new(),
            informing_postponed_code: 0,
            inform_by: String::new(),
        }),
    )
}

/// A signaller's change of its signal `signal_id` (sent to the
/// Verwijsindex `to`): withdraw it, with no basis named (it travels on the
/// signal's own).
pub fn signal_change(reference: &str, to: &str, signal_id: &str) -> pb::SendRequest {
    request(
        reference,
        to,
        None,
        pb::payload::Body::SignalChange(pb::SignalChange {
            signal_id: signal_id.into(),
            r#type: pb::SignalChangeType::Withdraw as i32,
            ..Default::default()
        }),
    )
}

/// The Verwijsindex's match notice to `to`, the sender of `signal_id`:
/// `other_signaller` sent `other_signal_id` about the same youth.
pub fn match_notice(
    reference: &str,
    to: &str,
    (signal_id, other_signal_id): (&str, &str),
    other_signaller: &str,
) -> pb::SendRequest {
    let mut r = request(
        reference,
        to,
        statute(pb::StatutoryBasis::Verwijsindex),
        pb::payload::Body::MatchNotice(pb::MatchNotice {
            signal_id: signal_id.into(),
            other_signal_id: other_signal_id.into(),
            other_signaller_oin: other_signaller.into(),
            other_contact: Some(contact()),
        }),
    );
    r.case_reference.clear();
    r
}

/// A PO-VO transfer dossier about [`BSN`]`[1]`, shown to the parents, with
/// one small PDF attachment, under the primary school transfer basis.
pub fn dossier(today: Date, reference: &str, to: &str) -> pb::SendRequest {
    let mut r = request(
        reference,
        to,
        statute(pb::StatutoryBasis::OverdrachtPo),
        pb::payload::Body::Overdrachtsdossier(pb::Overdrachtsdossier {
            profile: pb::DossierProfile::PoVo as i32,
            school_year: "2026-2027".into(),
            pupil: Some(pb::Pupil {
                bsn: BSN[1].into(),
                given_names: "Sam".into(),
                family_name: "Jansen".into(),
                birth_date: date(today, -12 * 365),
            }),
            school_history: vec![pb::SchoolHistoryEntry {
                brin: "99AA".into(),
                vestiging: "00".into(),
                school_name: "De Regenboog".into(),
                from_date: date(today, -8 * 365),
                until_date: String::new(),
                group: "groep 8".into(),
            }],
            school_advice: Some(pb::SchoolAdvice {
                advice: "havo/vwo".into(),
                date: date(today, -60),
                revised: false,
            }),
            test_results: vec![pb::TestResult {
                test_code: "DOORSTROOMTOETS".into(),
                score: "1F/2F".into(),
                date: date(today, -90),
            }],
            support_needs: "Extra tijd bij toetsen.".into(),
            absence: Some(pb::Absence {
                authorised_days: 3,
                unauthorised_days: 0,
            }),
            parents_viewed: true,
            parents_comment: String::new(),
            contact: Some(contact()),
        }),
    );
    edit_payload(&mut r, |p| {
        p.attachments = vec![attachment(
            "dyslexieverklaring.pdf",
            "application/pdf",
            b"%PDF-1.4 voorbeeld".to_vec(),
        )]
    });
    r
}

/// The payload of `r`, decoded.
pub fn payload_of(r: &pb::SendRequest) -> pb::Payload {
    crate::payload::decode(&r.payload).expect("an example's payload decodes")
}

/// Changes the payload of `r`: decoded, changed by `change`, encoded
/// again. For tests that vary one field of a valid request.
pub fn edit_payload(r: &mut pb::SendRequest, change: impl FnOnce(&mut pb::Payload)) {
    let mut payload = payload_of(r);
    change(&mut payload);
    r.payload = crate::payload::encode(&payload);
}

/// A request for consultation about [`BSN`]`[2]`, to be answered within two
/// weeks, under consent `consent_id`.
pub fn consult(today: Date, reference: &str, to: &str, consent_id: &str) -> pb::SendRequest {
    request(
        reference,
        to,
        consent(consent_id),
        pb::payload::Body::Consultatieverzoek(pb::Consultatieverzoek {
            bsn: BSN[2].into(),
            question: "Kunnen we samen kijken naar de ondersteuning thuis en op school?".into(),
            urgency: pb::Urgency::Soon as i32,
            requested_role: "jeugdverpleegkundige".into(),
            respond_by: date(today, 14),
            contact: Some(contact()),
        }),
    )
}

/// A reply to request `in_reply_to` that accepts it and gives a contact,
/// nothing about the child: it travels under the request's legal basis, so
/// it names none.
pub fn reply(reference: &str, to: &str, in_reply_to: &str) -> pb::SendRequest {
    let mut r = request(
        reference,
        to,
        None,
        pb::payload::Body::Consultatieantwoord(pb::Consultatieantwoord {
            outcome: pb::ReplyOutcome::Accepted as i32,
            answer: String::new(),
            contact: Some(contact()),
            proposed_coordinator_oin: String::new(),
        }),
    );
    r.in_reply_to = in_reply_to.into();
    r
}

/// An answer to request `in_reply_to`: it carries personal data back to
/// the requester, so it names a basis of its own (`basis`), typically a
/// consent the replier registered that covers the requester and
/// consultatieantwoord.
pub fn answer(
    reference: &str,
    to: &str,
    in_reply_to: &str,
    basis: Option<pb::LegalBasis>,
) -> pb::SendRequest {
    let mut r = request(
        reference,
        to,
        basis,
        pb::payload::Body::Consultatieantwoord(pb::Consultatieantwoord {
            outcome: pb::ReplyOutcome::Answered as i32,
            answer: "Ja, we plannen een gesprek met ouders.".into(),
            contact: Some(contact()),
            proposed_coordinator_oin: String::new(),
        }),
    );
    r.in_reply_to = in_reply_to.into();
    r
}

/// Version `version` of the family plan of child [`BSN`]`[2]`.
pub fn case_plan(version: u32) -> pb::CasePlan {
    pb::CasePlan {
        version,
        plan_type: pb::PlanType::FamilyPlan as i32,
        bsn: BSN[2].into(),
        title: "Gezinsplan".into(),
        changes: format!("Versie {version}: afspraken uit het MDO verwerkt."),
        contact: Some(contact()),
    }
}

/// A response to a version of the plan taking `position`, with comments.
pub fn plan_response(position: pb::PlanPosition) -> pb::PlanResponse {
    pb::PlanResponse {
        position: position as i32,
        comments: "Graag de evaluatie in maart op de agenda.".into(),
        contact: Some(contact()),
    }
}

/// The meeting's `part` (invitation or minutes) for child [`BSN`]`[2]`,
/// held on `held_on` ("YYYY-MM-DD").
pub fn case_meeting(part: pb::MeetingPart, held_on: &str) -> pb::CaseMeeting {
    pb::CaseMeeting {
        part: part as i32,
        bsn: BSN[2].into(),
        held_on: held_on.into(),
        starts_at: "14:30".into(),
        location: "Basisschool De Esdoorn, kamer 2".into(),
        text: match part {
            pb::MeetingPart::Minutes => {
                "Afgesproken: JGT start gezinsbegeleiding; school evalueert in maart."
            }
            _ => "1. Opening 2. Ondersteuning op school en thuis 3. Afspraken en regie",
        }
        .into(),
        contact: Some(contact()),
    }
}

/// A school board's request of `kind` for the pupil [`BSN`]`[2]`; for a
/// TLV, for a school of `tlv_for` (sbo, so or vso).
pub fn arrangement_request(kind: pb::ArrangementType, tlv_for: &str) -> pb::ArrangementRequest {
    pb::ArrangementRequest {
        r#type: kind as i32,
        pupil: Some(pb::Pupil {
            bsn: BSN[2].into(),
            given_names: "Sam".into(),
            family_name: "Jansen".into(),
            birth_date: "2016-05-01".into(),
        }),
        tlv_for: tlv_for.into(),
        reason: "De ondersteuningsbehoefte overstijgt wat de school met arrangementen kan bieden."
            .into(),
        parents_consulted: true,
        contact: Some(contact()),
    }
}

/// The samenwerkingsverband's decision `outcome`: a grant from 2027-01-01
/// to 2028-07-31, or a refusal.
pub fn arrangement_decision(outcome: pb::DecisionOutcome) -> pb::ArrangementDecision {
    let granted = outcome == pb::DecisionOutcome::Granted;
    let when = |d: &str| if granted { d.to_owned() } else { String::new() };
    pb::ArrangementDecision {
        outcome: outcome as i32,
        category: if granted {
            pb::TlvCategory::Low as i32
        } else {
            0
        },
        valid_from: when("2027-01-01"),
        valid_until: when("2028-07-31"),
        reasons: "Beide deskundigen adviseren speciaal onderwijs.".into(),
        objection: "Bezwaar binnen zes weken bij de bezwaarcommissie van het samenwerkingsverband."
            .into(),
        contact: Some(contact()),
    }
}

/// A message of the case `case_id` with `body` and `attachments`, to `to`
/// on `basis`.
pub fn in_case(
    reference: &str,
    to: &str,
    case_id: &str,
    basis: Option<pb::LegalBasis>,
    (body, attachments): (pb::payload::Body, Vec<pb::Attachment>),
) -> pb::SendRequest {
    let mut r = request(reference, to, basis, body);
    r.case_id = case_id.into();
    edit_payload(&mut r, |p| p.attachments = attachments);
    r
}

/// Version `version` of the plan of case `case_id`, its document attached,
/// to `to` on `basis`.
pub fn plan(
    reference: &str,
    to: &str,
    case_id: &str,
    basis: Option<pb::LegalBasis>,
    version: u32,
) -> pb::SendRequest {
    let document = attachment(
        &format!("gezinsplan-v{version}.pdf"),
        "application/pdf",
        format!("%PDF-1.7 gezinsplan versie {version}").into_bytes(),
    );
    let body = pb::payload::Body::CasePlan(case_plan(version));
    in_case(reference, to, case_id, basis, (body, vec![document]))
}

/// A response to the plan message `in_reply_to`, to its sender `to`, on
/// `basis` (None: the plan's own).
pub fn plan_reply(
    reference: &str,
    to: &str,
    in_reply_to: &str,
    basis: Option<pb::LegalBasis>,
    position: pb::PlanPosition,
) -> pb::SendRequest {
    let mut r = request(
        reference,
        to,
        basis,
        pb::payload::Body::PlanResponse(plan_response(position)),
    );
    r.in_reply_to = in_reply_to.into();
    r.case_reference.clear();
    r
}

/// A school's request for a TLV for special education, the OPP attached,
/// on the passend-onderwijs statute, to the samenwerkingsverband `to`.
pub fn tlv_request(reference: &str, to: &str) -> pb::SendRequest {
    let mut r = request(
        reference,
        to,
        statute(pb::StatutoryBasis::PassendOnderwijs),
        pb::payload::Body::ArrangementRequest(arrangement_request(pb::ArrangementType::Tlv, "so")),
    );
    let opp = attachment(
        "opp.pdf",
        "application/pdf",
        b"%PDF-1.7 ontwikkelingsperspectiefplan".to_vec(),
    );
    edit_payload(&mut r, |p| p.attachments = vec![opp]);
    r
}

/// The samenwerkingsverband's decision on request `in_reply_to`, to the
/// school `to` that asked, on the request's statute.
pub fn decision(
    reference: &str,
    to: &str,
    in_reply_to: &str,
    outcome: pb::DecisionOutcome,
) -> pb::SendRequest {
    let mut r = request(
        reference,
        to,
        None,
        pb::payload::Body::ArrangementDecision(arrangement_decision(outcome)),
    );
    r.in_reply_to = in_reply_to.into();
    r.case_reference.clear();
    r
}
