//! Valid Send requests of every kind, for unit tests to break one field at a
//! time. Dates are fixed around [`TODAY`].

use schakel_proto::v1 as pb;
use time::Date;
use time::macros::date;

use crate::crypto::sha256;

/// The day the requests are valid on.
pub const TODAY: Date = date!(2026 - 11 - 24);
/// Midnight (UTC) of [`TODAY`], in Unix ms.
pub const NOW_MS: i64 = 1_795_478_400_000;
/// The JGT the requests go to.
pub const JGT: &str = "00000099300000000001";
/// The VO school a dossier goes to.
pub const VO: &str = "00000099100000000002";
/// An id in the right shape.
pub const ID: &str = "0190b2a4-7c3e-7a1b-9c2d-3e4f5a6b7c8d";

/// A contact with a phone number.
pub fn contact() -> pb::Contact {
    pb::Contact {
        name: "J. de Vries".into(),
        role: "intern begeleider".into(),
        phone: "+31 71 123 4567".into(),
        email: String::new(),
    }
}

/// A statutory basis.
pub fn statute(s: pb::StatutoryBasis) -> Option<pb::LegalBasis> {
    Some(pb::LegalBasis {
        basis: Some(pb::legal_basis::Basis::Statutory(s as i32)),
    })
}

/// A request with this recipient, basis and body.
pub fn request(
    to: &str,
    basis: Option<pb::LegalBasis>,
    body: pb::payload::Body,
) -> pb::SendRequest {
    pb::SendRequest {
        client_reference: "ref-1".into(),
        recipient_oin: to.into(),
        case_id: "zaak-2026-001".into(),
        in_reply_to: String::new(),
        legal_basis: basis,
        expires_at: None,
        payload: Some(pb::Payload {
            body: Some(body),
            attachments: vec![],
        }),
        sender_oin: String::new(),
    }
}

/// A signal about a ten-year-old under the Verwijsindex basis.
pub fn signalering() -> pb::SendRequest {
    request(
        JGT,
        statute(pb::StatutoryBasis::Verwijsindex),
        pb::payload::Body::Signalering(pb::Signalering {
            bsn: "111222333".into(),
            birth_date: "2016-04-01".into(),
            contact: Some(contact()),
            signal_date: "2026-11-24".into(),
            valid_until: "2027-06-01".into(),
            parents_informed: true,
            child_informed: false,
        }),
    )
}

/// An attachment with its digest.
pub fn attachment(name: &str, content: &[u8]) -> pb::Attachment {
    pb::Attachment {
        name: name.into(),
        media_type: "application/pdf".into(),
        content: content.to_vec(),
        sha256: sha256(content).as_bytes().to_vec(),
    }
}

/// A PO-VO dossier with one attachment.
pub fn dossier() -> pb::SendRequest {
    let mut r = request(
        VO,
        statute(pb::StatutoryBasis::OverdrachtPo),
        pb::payload::Body::Overdrachtsdossier(pb::Overdrachtsdossier {
            profile: pb::DossierProfile::PoVo as i32,
            school_year: "2026-2027".into(),
            pupil: Some(pb::Pupil {
                bsn: "123456782".into(),
                given_names: "Sam".into(),
                family_name: "Jansen".into(),
                birth_date: "2014-09-01".into(),
            }),
            school_history: vec![pb::SchoolHistoryEntry {
                brin: "99AA".into(),
                vestiging: "00".into(),
                school_name: "De Regenboog".into(),
                from_date: "2018-09-01".into(),
                until_date: String::new(),
                group: "groep 8".into(),
            }],
            school_advice: Some(pb::SchoolAdvice {
                advice: "havo/vwo".into(),
                date: "2026-09-01".into(),
                revised: false,
            }),
            test_results: vec![pb::TestResult {
                test_code: "DOORSTROOMTOETS".into(),
                score: "1F/2F".into(),
                date: "2026-08-01".into(),
            }],
            support_needs: "Extra tijd bij toetsen.".into(),
            absence: None,
            parents_viewed: true,
            parents_comment: String::new(),
            contact: Some(contact()),
        }),
    );
    r.payload.as_mut().unwrap().attachments =
        vec![attachment("dyslexieverklaring.pdf", b"%PDF-1.4 voorbeeld")];
    r
}

/// A consultation request under a consent.
pub fn consult() -> pb::SendRequest {
    request(
        JGT,
        Some(pb::LegalBasis {
            basis: Some(pb::legal_basis::Basis::ConsentId(ID.into())),
        }),
        pb::payload::Body::Consultatieverzoek(pb::Consultatieverzoek {
            bsn: "999999990".into(),
            question: "Kunnen we samen kijken?".into(),
            urgency: pb::Urgency::Soon as i32,
            requested_role: "jeugdverpleegkundige".into(),
            respond_by: "2026-12-08".into(),
            contact: Some(contact()),
        }),
    )
}

/// A reply to request [`ID`].
pub fn reply() -> pb::SendRequest {
    let mut r = request(
        JGT,
        None,
        pb::payload::Body::Consultatieantwoord(pb::Consultatieantwoord {
            outcome: pb::ReplyOutcome::Answered as i32,
            answer: "Ja.".into(),
            contact: Some(contact()),
            proposed_coordinator_oin: String::new(),
        }),
    );
    r.in_reply_to = ID.into();
    r
}
