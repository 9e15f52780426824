//! Valid messages of every kind, for tests to send and to break one field at
//! a time.

use schakel_client::proto as pb;
use time::OffsetDateTime;

/// BSNs that pass the elfproef.
pub const BSN: [&str; 3] = ["111222333", "123456782", "999999990"];

/// Today's date, "YYYY-MM-DD".
pub fn today() -> String {
    date(0)
}

/// The date `days` from today, "YYYY-MM-DD".
pub fn date(days: i64) -> String {
    let d = OffsetDateTime::now_utc().date() + time::Duration::days(days);
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

/// A statutory basis.
pub fn statute(s: pb::StatutoryBasis) -> Option<pb::LegalBasis> {
    Some(pb::LegalBasis {
        basis: Some(pb::legal_basis::Basis::Statutory(s as i32)),
    })
}

/// A consent basis.
pub fn consent(id: &str) -> Option<pb::LegalBasis> {
    Some(pb::LegalBasis {
        basis: Some(pb::legal_basis::Basis::ConsentId(id.into())),
    })
}

fn request(
    reference: &str,
    to: &str,
    basis: Option<pb::LegalBasis>,
    body: pb::payload::Body,
) -> pb::SendRequest {
    pb::SendRequest {
        client_reference: reference.into(),
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

/// A valid signal of concern about a ten-year-old, under the Verwijsindex basis.
pub fn signalering(reference: &str, to: &str) -> pb::SendRequest {
    request(
        reference,
        to,
        statute(pb::StatutoryBasis::Verwijsindex),
        pb::payload::Body::Signalering(pb::Signalering {
            bsn: BSN[0].into(),
            birth_date: date(-10 * 365),
            contact: Some(contact()),
            signal_date: today(),
            valid_until: date(365),
            parents_informed: true,
            child_informed: false,
        }),
    )
}

/// A valid PO-VO transfer dossier with one attachment, under the primary
/// school transfer basis.
pub fn dossier(reference: &str, to: &str) -> pb::SendRequest {
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
                birth_date: date(-12 * 365),
            }),
            school_history: vec![pb::SchoolHistoryEntry {
                brin: "99AA".into(),
                vestiging: "00".into(),
                school_name: "De Regenboog".into(),
                from_date: date(-8 * 365),
                until_date: String::new(),
                group: "groep 8".into(),
            }],
            school_advice: Some(pb::SchoolAdvice {
                advice: "havo/vwo".into(),
                date: date(-60),
                revised: false,
            }),
            test_results: vec![pb::TestResult {
                test_code: "DOORSTROOMTOETS".into(),
                score: "1F/2F".into(),
                date: date(-90),
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
    r.payload.as_mut().unwrap().attachments = vec![schakel_client::attachment(
        "dyslexieverklaring.pdf",
        "application/pdf",
        b"%PDF-1.4 voorbeeld".to_vec(),
    )];
    r
}

/// A valid request for consultation under consent `consent_id`.
pub fn consult(reference: &str, to: &str, consent_id: &str) -> pb::SendRequest {
    request(
        reference,
        to,
        consent(consent_id),
        pb::payload::Body::Consultatieverzoek(pb::Consultatieverzoek {
            bsn: BSN[2].into(),
            question: "Kunnen we samen kijken naar de ondersteuning thuis en op school?".into(),
            urgency: pb::Urgency::Soon as i32,
            requested_role: "jeugdverpleegkundige".into(),
            respond_by: date(14),
            contact: Some(contact()),
        }),
    )
}

/// A valid reply to request `in_reply_to`; it travels under the request's
/// legal basis, so it names none.
pub fn reply(reference: &str, to: &str, in_reply_to: &str) -> pb::SendRequest {
    let mut r = request(
        reference,
        to,
        None,
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

/// A consent id in the right shape that no consent has.
pub const UNKNOWN_CONSENT_ID: &str = "0190b2a4-7c3e-7a1b-9c2d-3e4f5a6b7c8d";

/// A year from now, as a timestamp.
pub fn in_days(days: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: OffsetDateTime::now_utc().unix_timestamp() + days * 86_400,
        nanos: 0,
    }
}

/// The parents' consent for the ten-year-old child `bsn`: consultation of
/// JGTs (any) about the child, for a year.
pub fn consent_grant(bsn: &str) -> pb::GrantConsentRequest {
    pb::GrantConsentRequest {
        bsn: bsn.into(),
        birth_date: date(-10 * 365),
        given_by: pb::ConsentGiver::Parents as i32,
        given_on: String::new(),
        recipient_oins: vec![],
        recipient_kinds: vec![pb::OrganisationKind::Jgt as i32],
        message_kinds: vec![pb::MessageKind::Consultatieverzoek as i32],
        purpose: "Afstemming ondersteuning school en thuis".into(),
        valid_from: None,
        valid_until: Some(in_days(365)),
    }
}

/// The parents' consent for child [`BSN`]`[2]` ([`consent_grant`]),
/// registered by `registrant`; its id.
pub async fn granted(registrant: &schakel_client::Client) -> String {
    registrant
        .grant_consent(consent_grant(BSN[2]))
        .await
        .expect("the consent is registered")
        .consent_id
}

/// A moment `secs` seconds from now (to the millisecond), as a timestamp.
pub fn in_seconds(secs: f64) -> prost_types::Timestamp {
    let ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
        + (secs * 1000.0) as i64;
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// The signal in a request made by [`signalering`].
pub fn signal(r: &mut pb::SendRequest) -> &mut pb::Signalering {
    match r.payload.as_mut().and_then(|p| p.body.as_mut()) {
        Some(pb::payload::Body::Signalering(s)) => s,
        _ => panic!("not a signalering"),
    }
}

/// The consultation request in a request made by [`consult`].
pub fn request_body(r: &mut pb::SendRequest) -> &mut pb::Consultatieverzoek {
    match r.payload.as_mut().and_then(|p| p.body.as_mut()) {
        Some(pb::payload::Body::Consultatieverzoek(c)) => c,
        _ => panic!("not a consultatieverzoek"),
    }
}

/// The dossier in a request made by [`dossier`].
pub fn dossier_body(r: &mut pb::SendRequest) -> &mut pb::Overdrachtsdossier {
    match r.payload.as_mut().and_then(|p| p.body.as_mut()) {
        Some(pb::payload::Body::Overdrachtsdossier(d)) => d,
        _ => panic!("not an overdrachtsdossier"),
    }
}

/// A [`dossier`] whose one attachment is `content`, as a PDF.
pub fn dossier_with(to: &str, reference: &str, content: Vec<u8>) -> pb::SendRequest {
    let mut r = dossier(reference, to);
    r.payload.as_mut().expect("a payload").attachments = vec![schakel_client::attachment(
        "dossier.pdf",
        "application/pdf",
        content,
    )];
    r
}

/// The public half of a fresh Ed25519 key that is not the gateway's.
pub fn other_public_key() -> Vec<u8> {
    use ring::signature::{Ed25519KeyPair, KeyPair};
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
        .expect("a key is generated");
    Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .expect("the key parses")
        .public_key()
        .as_ref()
        .to_vec()
}
