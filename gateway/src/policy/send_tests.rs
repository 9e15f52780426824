//! The field-by-field table of the Send rules: each case breaks one rule of
//! a valid request and names the field and rule the refusal must carry.

use super::*;
use crate::config::Config;
use time::macros::date;

use crate::policy::statutes::ProfileStart;
use crate::policy::test_requests::{self, Draft, ID, NOW_MS, TODAY, VO, attachment, statute};

fn signalering() -> Draft {
    test_requests::signalering().into()
}

fn dossier() -> Draft {
    test_requests::dossier().into()
}

fn consult() -> Draft {
    test_requests::consult().into()
}

fn reply() -> Draft {
    test_requests::reply().into()
}

fn limits() -> LimitsConfig {
    LimitsConfig {
        max_message_bytes: 64 * 1024,
        max_attachments: 2,
        ..Config::default().limits
    }
}

fn expiry() -> ExpiryRule {
    ExpiryRule {
        default: Duration::days(30),
        max: Duration::days(365),
    }
}

fn run(r: Draft) -> Result<ValidSend, Violation> {
    let mut request = r.request;
    if let Some(p) = r.payload {
        request.payload = schakel_proto::payload::encode(&p);
    }
    check(request, &limits(), expiry(), TODAY, NOW_MS)
}

fn body(r: &mut Draft) -> &mut pb::payload::Body {
    r.payload.as_mut().unwrap().body.as_mut().unwrap()
}

fn sig(r: &mut Draft) -> &mut pb::Signalering {
    match body(r) {
        pb::payload::Body::Signalering(s) => s,
        _ => unreachable!(),
    }
}

fn dos(r: &mut Draft) -> &mut pb::Overdrachtsdossier {
    match body(r) {
        pb::payload::Body::Overdrachtsdossier(d) => d,
        _ => unreachable!(),
    }
}

fn req(r: &mut Draft) -> &mut pb::Consultatieverzoek {
    match body(r) {
        pb::payload::Body::Consultatieverzoek(c) => c,
        _ => unreachable!(),
    }
}

fn ans(r: &mut Draft) -> &mut pb::Consultatieantwoord {
    match body(r) {
        pb::payload::Body::Consultatieantwoord(a) => a,
        _ => unreachable!(),
    }
}

#[test]
fn valid_requests_of_every_kind_pass() {
    for r in [signalering(), dossier(), consult(), reply()] {
        let v = run(r).unwrap();
        assert_eq!(v.expires_at_ms(), NOW_MS + 30 * 86_400_000);
    }
    let v = run(dossier()).unwrap();
    assert_eq!(v.kind(), Kind::Overdrachtsdossier);
    assert_eq!(v.bsn(), Some("123456782"));
    assert_eq!(v.facts().dossier_start, Some(ProfileStart::Primary));
    assert_eq!(v.recipient().as_str(), VO);
    let v = run(signalering()).unwrap();
    let informing = v.facts().informing.unwrap();
    assert_eq!(
        (informing.age, informing.parents, informing.youth),
        (9, true, false)
    );
    assert!(!informing.postponed && !v.facts().necessity_declared);
    let mut declared = signalering();
    declared.legal_basis = schakel_proto::examples::meldrecht();
    // Off the Verwijsindex's statute a postponement's reason is enough,
    // and nothing of the loop is kept.
    sig(&mut declared).informing_postponed_reason = "gevaar voor het kind".into();
    let v = run(declared).unwrap();
    assert!(v.facts().necessity_declared && v.facts().informing.unwrap().postponed);
    assert!(v.signal_facts().is_none());
    let mut postponed = signalering();
    let s = sig(&mut postponed);
    s.informing_postponed_reason = "gevaar voor het kind".into();
    s.informing_postponed_code = pb::PostponementReason::AgainstChildInterest as i32;
    s.inform_by = "2027-01-31".into();
    let kept = run(postponed).unwrap().signal_facts().unwrap();
    assert_eq!(
        kept.inform_by_ms,
        Some(crate::clock::start_of_day_ms(date!(2027 - 02 - 01)))
    );
    let v = run(consult()).unwrap();
    assert_eq!(v.terms().purpose, Some(crate::model::Purpose::Consultation));
    assert_eq!((v.case_id(), v.case_reference()), (None, "zaak-2026-001"));
    let mut continued = consult();
    continued.case_id = ID.into();
    assert_eq!(run(continued).unwrap().case_id().unwrap().as_str(), ID);
    let v = run(reply()).unwrap();
    assert_eq!(v.basis(), &SendBasis::OfRequest(None));
    assert_eq!(v.in_reply_to().unwrap().as_str(), ID);
    assert_eq!(v.bsn(), None);
    let mut anonymous = consult();
    req(&mut anonymous).bsn.clear();
    assert_eq!(run(anonymous).unwrap().bsn(), None);
}

#[test]
fn the_digests_bind_the_request_and_the_payload() {
    let a = run(dossier()).unwrap();
    let b = run(dossier()).unwrap();
    assert_eq!(a.request_digest(), b.request_digest());
    assert_eq!(a.payload_digest(), b.payload_digest());
    let mut other_case = dossier();
    other_case.case_reference = "andere-zaak".into();
    let c = run(other_case).unwrap();
    assert_ne!(c.request_digest(), a.request_digest());
    assert_eq!(c.payload_digest(), a.payload_digest());
    // The payload travels encoded, with room to be sealed in place.
    // The payload is kept as the sender's bytes, with room to be sealed in
    // place, and its digest is theirs.
    let sent = test_requests::dossier().payload;
    let payload = a.into_payload();
    assert!(payload.capacity() >= payload.len() + PayloadKey::OVERHEAD);
    assert_eq!(payload, sent);
    assert_eq!(b.payload_digest(), sha256(&sent));
}

type Edit = Box<dyn Fn(&mut Draft)>;

/// A case: the request to break, how, whether the violation is of a field
/// (or of a limit), and the text it must carry.
type Case = (fn() -> Draft, Edit, bool, &'static str);

fn cases() -> Vec<Case> {
    const FIELD: bool = true;
    const LIMIT: bool = false;
    vec![
        (
            signalering,
            Box::new(|r| sig(r).bsn = "111222334".into()),
            FIELD,
            "payload.signalering.bsn: must be a BSN of 9 digits that passes the elfproef",
        ),
        (
            signalering,
            Box::new(|r| sig(r).bsn.clear()),
            FIELD,
            "payload.signalering.bsn: is required",
        ),
        (
            signalering,
            Box::new(|r| sig(r).contact = None),
            FIELD,
            "payload.signalering.contact: is required",
        ),
        (
            signalering,
            Box::new(|r| {
                sig(r).contact.as_mut().unwrap().role =
                    "zorgen over de thuissituatie, want vader drinkt en moeder is vaak weg".into()
            }),
            FIELD,
            "payload.signalering.contact.role: must be at most 64 characters",
        ),
        (
            signalering,
            Box::new(|r| sig(r).contact.as_mut().unwrap().phone.clear()),
            FIELD,
            "payload.signalering.contact: needs a phone number or an e-mail address",
        ),
        (
            signalering,
            Box::new(|r| sig(r).valid_until = "2029-01-01".into()),
            FIELD,
            "payload.signalering.valid_until: a signal is valid for at most 2 years after signal_date",
        ),
        (
            signalering,
            Box::new(|r| sig(r).valid_until = "2026-11-23".into()),
            FIELD,
            "payload.signalering.valid_until: must not be in the past: a lapsed signal is not sent",
        ),
        (
            signalering,
            Box::new(|r| {
                sig(r).birth_date = "2004-01-01".into();
                sig(r).valid_until = "2027-06-01".into()
            }),
            FIELD,
            "payload.signalering.valid_until: a signal lapses before the child's 23rd birthday",
        ),
        (
            signalering,
            Box::new(|r| sig(r).birth_date = "2027-01-01".into()),
            FIELD,
            "payload.signalering.birth_date: must not be in the future",
        ),
        (
            signalering,
            Box::new(|r| sig(r).birth_date.clear()),
            FIELD,
            "payload.signalering.birth_date: is required",
        ),
        (
            signalering,
            Box::new(|r| sig(r).signal_date = "23-11-2026".into()),
            FIELD,
            "payload.signalering.signal_date: must be a date written YYYY-MM-DD",
        ),
        (
            signalering,
            Box::new(|r| sig(r).signal_date = "2026-11-25".into()),
            FIELD,
            "payload.signalering.signal_date: must not be in the future",
        ),
        (
            signalering,
            Box::new(|r| sig(r).signal_date = "2016-03-01".into()),
            FIELD,
            "payload.signalering.signal_date: must not be before the child's birth",
        ),
        (
            signalering,
            Box::new(|r| {
                r.payload.as_mut().unwrap().attachments =
                    vec![attachment("a.txt", "text/plain", b"zorg".to_vec())]
            }),
            FIELD,
            "payload.attachments: a signalering carries no attachments",
        ),
        (
            signalering,
            Box::new(|r| r.legal_basis = None),
            FIELD,
            "legal_basis: is required: a consent id or a statutory basis",
        ),
        (
            signalering,
            Box::new(|r| {
                r.legal_basis = Some(pb::LegalBasis {
                    basis: Some(pb::legal_basis::Basis::ConsentId("not-a-uuid".into())),
                    ..pb::LegalBasis::default()
                })
            }),
            FIELD,
            "legal_basis.consent_id: must be a UUID",
        ),
        (
            signalering,
            Box::new(|r| r.legal_basis = statute(pb::StatutoryBasis::Unspecified)),
            FIELD,
            "legal_basis.statutory: must be overdracht_po, verwijsindex, meldrecht_veilig_thuis or passend_onderwijs",
        ),
        (
            signalering,
            Box::new(|r| r.client_reference.clear()),
            FIELD,
            "client_reference: must be 1 to 128 printable ASCII characters without spaces",
        ),
        (
            signalering,
            Box::new(|r| r.client_reference = "met spatie".into()),
            FIELD,
            "client_reference",
        ),
        (
            signalering,
            Box::new(|r| r.client_reference = "x".repeat(129)),
            FIELD,
            "client_reference",
        ),
        (
            signalering,
            Box::new(|r| r.recipient_oin = "123".into()),
            FIELD,
            "recipient_oin: must be an OIN of exactly 20 digits",
        ),
        (
            signalering,
            Box::new(|r| r.case_reference = "a\nb".into()),
            FIELD,
            "case_reference: must be one line without control characters",
        ),
        (
            signalering,
            Box::new(|r| r.case_id = "zaak-2026-001".into()),
            FIELD,
            "case_id: must be a case id as the gateway gave it (a UUID); put your own reference in case_reference",
        ),
        (
            consult,
            Box::new(|r| r.legal_basis.as_mut().unwrap().purpose = 99),
            FIELD,
            "legal_basis.purpose: must be one of support_at_school",
        ),
        (
            signalering,
            Box::new(|r| {
                r.legal_basis.as_mut().unwrap().purpose = pb::ConsentPurpose::Consultation as i32
            }),
            FIELD,
            "legal_basis.purpose: only a message under a consent names a purpose",
        ),
        (
            consult,
            Box::new(|r| r.legal_basis.as_mut().unwrap().necessity_declared = true),
            FIELD,
            "legal_basis.necessity_declared: is the declaration of the reporting right towards Veilig Thuis (meldrecht_veilig_thuis) only",
        ),
        (
            signalering,
            Box::new(|r| r.payload = None),
            FIELD,
            "payload: is required: a serialized Payload message",
        ),
        (
            signalering,
            Box::new(|r| {
                r.payload = None;
                r.request.payload = vec![0x0a, 0xff];
            }),
            FIELD,
            "payload: is not a serialized Payload message (payloads.proto)",
        ),
        (
            // With its attachment, so that the payload is not empty.
            dossier,
            Box::new(|r| r.payload.as_mut().unwrap().body = None),
            FIELD,
            "payload: must hold one of",
        ),
        (
            signalering,
            Box::new(|r| r.in_reply_to = ID.into()),
            FIELD,
            "in_reply_to: only a reply (consultatieantwoord, planreactie, besluit) answers another message",
        ),
        (
            signalering,
            Box::new(|r| {
                r.expires_at = Some(prost_types::Timestamp {
                    seconds: 1,
                    nanos: 0,
                })
            }),
            FIELD,
            "expires_at: must be in the future",
        ),
        (
            signalering,
            Box::new(|r| r.expires_at = Some(wire::timestamp(NOW_MS + 366 * 86_400_000))),
            FIELD,
            "expires_at: must be at most 365 days ahead",
        ),
        (
            dossier,
            Box::new(|r| dos(r).parents_viewed = false),
            FIELD,
            "payload.overdrachtsdossier.parents_viewed: the parents must have been shown the dossier",
        ),
        (
            dossier,
            Box::new(|r| dos(r).school_year = "2026-2028".into()),
            FIELD,
            "payload.overdrachtsdossier.school_year: must be two consecutive years",
        ),
        (
            dossier,
            Box::new(|r| dos(r).pupil.as_mut().unwrap().bsn = "123".into()),
            FIELD,
            "payload.overdrachtsdossier.pupil.bsn: must be a BSN",
        ),
        (
            dossier,
            Box::new(|r| dos(r).pupil = None),
            FIELD,
            "payload.overdrachtsdossier.pupil: is required",
        ),
        (
            dossier,
            Box::new(|r| dos(r).pupil.as_mut().unwrap().family_name.clear()),
            FIELD,
            "payload.overdrachtsdossier.pupil.family_name: is required",
        ),
        (
            dossier,
            Box::new(|r| dos(r).profile = 0),
            FIELD,
            "payload.overdrachtsdossier.profile: must be po_vo, po_po, vo_vo or swv_aanvraag",
        ),
        (
            dossier,
            Box::new(|r| dos(r).school_history[0].brin = "AB12".into()),
            FIELD,
            "payload.overdrachtsdossier.school_history[0].brin: must be 2 digits and 2 capital letters",
        ),
        (
            dossier,
            Box::new(|r| dos(r).school_history[0].until_date = "later".into()),
            FIELD,
            "payload.overdrachtsdossier.school_history[0].until_date: must be a date",
        ),
        (
            dossier,
            Box::new(|r| dos(r).school_advice.as_mut().unwrap().advice.clear()),
            FIELD,
            "payload.overdrachtsdossier.school_advice.advice: is required",
        ),
        (
            dossier,
            Box::new(|r| dos(r).test_results[0].date.clear()),
            FIELD,
            "payload.overdrachtsdossier.test_results[0].date: is required",
        ),
        (
            dossier,
            Box::new(|r| dos(r).support_needs = "x".repeat(20_001)),
            FIELD,
            "payload.overdrachtsdossier.support_needs: must be at most 20000 characters",
        ),
        (
            dossier,
            Box::new(|r| dos(r).parents_comment = "x".repeat(4001)),
            FIELD,
            "payload.overdrachtsdossier.parents_comment: must be at most 4000 characters",
        ),
        (
            dossier,
            Box::new(|r| r.payload.as_mut().unwrap().attachments[0].sha256[0] ^= 1),
            FIELD,
            "payload.attachments[0].sha256: does not match",
        ),
        (
            dossier,
            Box::new(|r| {
                r.payload.as_mut().unwrap().attachments[0]
                    .sha256
                    .truncate(8)
            }),
            FIELD,
            "payload.attachments[0].sha256: must be the 32-byte SHA-256 of content",
        ),
        (
            dossier,
            Box::new(|r| {
                r.payload.as_mut().unwrap().attachments[0].name = "../../etc/passwd".into()
            }),
            FIELD,
            "payload.attachments[0].name: must be a file name without a path",
        ),
        (
            dossier,
            Box::new(|r| r.payload.as_mut().unwrap().attachments[0].media_type = "pdf".into()),
            FIELD,
            "payload.attachments[0].media_type: must be a media type",
        ),
        (
            dossier,
            Box::new(|r| {
                let a = r.payload.as_ref().unwrap().attachments[0].clone();
                r.payload.as_mut().unwrap().attachments = vec![a.clone(), a.clone(), a];
            }),
            LIMIT,
            "payload.attachments: 3 attachments; the limit is 2",
        ),
        (
            dossier,
            Box::new(|r| {
                r.payload.as_mut().unwrap().attachments = vec![attachment(
                    "groot.pdf",
                    "application/pdf",
                    vec![7; 100 * 1024],
                )]
            }),
            LIMIT,
            "the limit is 65536 bytes",
        ),
        (
            consult,
            Box::new(|r| req(r).question.clear()),
            FIELD,
            "payload.consultatieverzoek.question: is required",
        ),
        (
            consult,
            Box::new(|r| req(r).urgency = 0),
            FIELD,
            "payload.consultatieverzoek.urgency: must be routine, soon or urgent",
        ),
        (
            consult,
            Box::new(|r| req(r).respond_by = "2026-11-23".into()),
            FIELD,
            "payload.consultatieverzoek.respond_by: must not be in the past",
        ),
        (
            consult,
            Box::new(|r| req(r).bsn = "12".into()),
            FIELD,
            "payload.consultatieverzoek.bsn: must be a BSN",
        ),
        (
            reply,
            Box::new(|r| r.in_reply_to.clear()),
            FIELD,
            "in_reply_to: is required",
        ),
        (
            reply,
            Box::new(|r| ans(r).outcome = 0),
            FIELD,
            "payload.consultatieantwoord.outcome: must be accepted, declined, answered or needs_consent",
        ),
        (
            reply,
            Box::new(|r| ans(r).answer.clear()),
            FIELD,
            "payload.consultatieantwoord.answer: is required",
        ),
        (
            reply,
            Box::new(|r| ans(r).proposed_coordinator_oin = "1".into()),
            FIELD,
            "payload.consultatieantwoord.proposed_coordinator_oin: must be an OIN",
        ),
    ]
}

#[test]
fn each_rule_is_refused_by_field_and_rule() {
    for (make, edit, is_field, text) in cases() {
        let mut r = make();
        edit(&mut r);
        let violation = run(r).unwrap_err();
        assert_eq!(
            matches!(violation, Violation::Field { .. }),
            is_field,
            "{violation}"
        );
        assert!(
            violation.to_string().contains(text),
            "{violation:?} should contain {text:?}"
        );
    }
}

#[test]
fn a_declined_reply_needs_no_answer_and_a_signal_may_last_to_the_day_before_23() {
    let answered = run(reply()).unwrap();
    assert!(answered.answers(), "an answer carries personal data back");
    let mut r = reply();
    ans(&mut r).outcome = pb::ReplyOutcome::Declined as i32;
    ans(&mut r).answer.clear();
    let declined = run(r).unwrap();
    assert!(!declined.answers(), "an outcome alone does not");
    let mut r = signalering();
    sig(&mut r).birth_date = "2004-06-01".into();
    sig(&mut r).valid_until = "2027-05-31".into();
    assert!(run(r).is_ok());
    // 29 February plus whole years is 28 February.
    assert_eq!(
        payloads::add_years(date!(2024 - 02 - 29), 1),
        Some(date!(2025 - 02 - 28))
    );
}
