//! Valid messages of every kind for the end-to-end tests, dated around
//! today: the shared examples of `schakel_proto::examples`, plus the grants
//! and small edits the tests repeat.

use schakel_client::proto as pb;
use schakel_proto::examples;
use time::OffsetDateTime;

pub use examples::{
    BSN, consent, contact, edit_payload, meldrecht, no_personal_data, payload_of, statute,
};

/// Today's date (UTC).
fn today_date() -> time::Date {
    // The gateway's and the command line's today: in the Netherlands.
    schakel_proto::calendar::dutch_today()
}

/// The date `days` from today, "YYYY-MM-DD".
pub fn date(days: i64) -> String {
    examples::date(today_date(), days)
}

/// A valid signal of concern about a ten-year-old, under the Verwijsindex basis.
pub fn signalering(reference: &str, to: &str) -> pb::SendRequest {
    examples::signalering(today_date(), reference, to)
}

/// A valid PO-VO transfer dossier with one attachment, under the primary
/// school transfer basis.
pub fn dossier(reference: &str, to: &str) -> pb::SendRequest {
    examples::dossier(today_date(), reference, to)
}

/// A valid request for consultation under consent `consent_id`.
pub fn consult(reference: &str, to: &str, consent_id: &str) -> pb::SendRequest {
    examples::consult(today_date(), reference, to, consent_id)
}

/// A request for consultation under consent `consent_id` to be answered
/// (and expiring) 300 days from now: long after the days a test moves the
/// gateway's clock.
pub fn lasting_consult(reference: &str, to: &str, consent_id: &str) -> pb::SendRequest {
    let mut r = consult(reference, to, consent_id);
    request_body(&mut r, |b| b.respond_by = date(300));
    r.expires_at = Some(in_days(300));
    r
}

/// A valid reply to request `in_reply_to` giving its outcome only; it
/// travels under the request's legal basis, so it names none.
pub fn reply(reference: &str, to: &str, in_reply_to: &str) -> pb::SendRequest {
    examples::reply(reference, to, in_reply_to)
}

/// An answer to request `in_reply_to` under `basis`, its own: it carries
/// personal data back to the requester.
pub fn answer(
    reference: &str,
    to: &str,
    in_reply_to: &str,
    basis: Option<pb::LegalBasis>,
) -> pb::SendRequest {
    examples::answer(reference, to, in_reply_to, basis)
}

/// The date of birth, "YYYY-MM-DD", of a child who turns `age` `in_days`
/// days from today; and that birthday.
pub fn born_turning(age: i32, in_days: i64) -> (String, String) {
    let birthday = today_date() + time::Duration::days(in_days);
    let birth =
        time::Date::from_calendar_date(birthday.year() - age, birthday.month(), birthday.day())
            .or_else(|_| {
                time::Date::from_calendar_date(birthday.year() - age, birthday.month(), 28)
            })
            .expect("a date");
    let text = |d: time::Date| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
    (text(birth), text(birthday))
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
        // Who agreed: as given_by implies (a test that changes it need not
        // change this too).
        consented_by: vec![],
        obtained: pb::ConsentObtained::InWriting as i32,
        given_on: String::new(),
        recipient_oins: vec![],
        recipient_kinds: vec![pb::OrganisationKind::Jgt as i32],
        message_kinds: vec![pb::MessageKind::Consultatieverzoek as i32],
        purpose: "Afstemming ondersteuning school en thuis".into(),
        valid_from: None,
        valid_until: Some(in_days(365)),
        purpose_code: pb::ConsentPurpose::Consultation as i32,
        case_id: String::new(),
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

/// Changes the signal in a request made by [`signalering`].
pub fn signal(r: &mut pb::SendRequest, change: impl FnOnce(&mut pb::Signalering)) {
    edit_payload(r, |p| match p.body.as_mut() {
        Some(pb::payload::Body::Signalering(s)) => change(s),
        _ => panic!("not a signalering"),
    })
}

/// Changes the consultation request in a request made by [`consult`].
pub fn request_body(r: &mut pb::SendRequest, change: impl FnOnce(&mut pb::Consultatieverzoek)) {
    edit_payload(r, |p| match p.body.as_mut() {
        Some(pb::payload::Body::Consultatieverzoek(c)) => change(c),
        _ => panic!("not a consultatieverzoek"),
    })
}

/// Changes the dossier in a request made by [`dossier`].
pub fn dossier_body(r: &mut pb::SendRequest, change: impl FnOnce(&mut pb::Overdrachtsdossier)) {
    edit_payload(r, |p| match p.body.as_mut() {
        Some(pb::payload::Body::Overdrachtsdossier(d)) => change(d),
        _ => panic!("not an overdrachtsdossier"),
    })
}

/// A [`dossier`] whose one attachment is `content`, as a PDF.
pub fn dossier_with(to: &str, reference: &str, content: Vec<u8>) -> pb::SendRequest {
    let mut r = dossier(reference, to);
    edit_payload(&mut r, |p| {
        p.attachments = vec![schakel_client::attachment(
            "dossier.pdf",
            "application/pdf",
            content,
        )]
    });
    r
}

/// A key ring of one fresh Ed25519 key that is not the gateway's.
pub fn other_keys() -> schakel_client::KeyRing {
    use ring::signature::{Ed25519KeyPair, KeyPair};
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
        .expect("a key is generated");
    schakel_client::KeyRing::single(
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
            .expect("the key parses")
            .public_key()
            .as_ref(),
    )
}
