//! The child's whole trail over the wire: the gateway gives each thread a
//! case, a reply joins its request's case and is about its child, each
//! organisation sees its own part of a case and no more, an anonymous
//! consultation carries no personal data, and a message under consent serves
//! the consent's purpose and arrives with the consent's scope.

use schakel_client::proto as pb;
use schakel_tests::calls::{audit_query, deliver, envelope};
use schakel_tests::fixtures::{self, BSN, granted};
use schakel_tests::{TestGateway, org, refusal};
use tonic::Code;

#[tokio::test]
async fn a_reply_joins_the_case_and_the_child_of_its_request() {
    let gw = TestGateway::start().await;
    let swv = gw.client(org::SWV).await;
    let jgt = gw.client(org::JGT).await;
    let operator = gw.client(org::OPERATOR).await;
    let consent = granted(&swv).await;
    let asked = deliver(
        &swv,
        &jgt,
        fixtures::consult("q1", &gw.oin(org::JGT), &consent),
    )
    .await;
    let case = asked.sent.case_id.clone();
    assert_eq!(case.len(), 36, "a case id of the gateway's: {case}");
    let env = envelope(&asked.delivery);
    assert_eq!(
        (env.case_id.as_str(), env.case_reference.as_str()),
        (case.as_str(), "zaak-2026-001")
    );
    // The recipient is shown the consent's scope with the delivery.
    let scope = asked.delivery.consent.clone().expect("the consent's scope");
    assert_eq!(scope.consent_id, consent);
    assert_eq!(scope.purpose_code, pb::ConsentPurpose::Consultation as i32);
    assert_eq!(
        scope.message_kinds,
        [pb::MessageKind::Consultatieverzoek as i32]
    );
    assert_eq!(scope.given_by, pb::ConsentGiver::Parents as i32);
    assert_eq!(scope.status, pb::ConsentStatus::Active as i32);

    let reply = fixtures::reply("a1", &gw.oin(org::SWV), &asked.sent.message_id);
    let answered = deliver(&jgt, &swv, reply).await;
    assert_eq!(answered.sent.case_id, case);
    assert_eq!(envelope(&answered.delivery).case_id, case);
    assert!(
        answered.delivery.consent.is_some(),
        "a reply travels under the request's consent"
    );

    // The reply is in the child's trail: a query by BSN finds it, and every
    // entry about the thread carries the case.
    let about_child = audit_query(
        &operator,
        pb::AuditQueryRequest {
            child_bsn: BSN[2].into(),
            ..Default::default()
        },
    )
    .await;
    let reply_entries: Vec<_> = about_child
        .iter()
        .filter(|e| e.message_id == answered.sent.message_id)
        .collect();
    assert!(reply_entries.len() >= 3, "{reply_entries:?}");
    for e in about_child.iter().filter(|e| !e.message_id.is_empty()) {
        assert_eq!(e.case_id, case, "{e:?}");
    }

    // Each side sees the case, nobody else does.
    for who in [&swv, &jgt] {
        let listed = who.list_case(&case).await.unwrap();
        let ids: Vec<_> = listed
            .messages
            .iter()
            .map(|m| m.message_id.as_str())
            .collect();
        assert_eq!(
            ids,
            [
                asked.sent.message_id.as_str(),
                answered.sent.message_id.as_str()
            ]
        );
    }
    let school = gw.client(org::SCHOOL_PO).await;
    let m = refusal(school.list_case(&case).await, Code::NotFound);
    assert!(
        m.contains("no case") && m.contains("that you sent or received"),
        "{m}"
    );
    let m = refusal(
        school.list_case("zaak-2026-001").await,
        Code::InvalidArgument,
    );
    assert!(
        m.starts_with("case_id: must be a case id as the gateway gave it"),
        "{m}"
    );

    // Only a party can continue the case, and only about the same child.
    let mut intruder = fixtures::dossier("d", &gw.oin(org::SCHOOL_VO));
    intruder.case_id = case.clone();
    let m = refusal(school.send(intruder).await, Code::NotFound);
    assert!(m.contains("no case"), "{m}");
    let mut follow_up = fixtures::consult("q2", &gw.oin(org::JGT), &consent);
    follow_up.case_id = case.clone();
    let sent = swv.send(follow_up).await.unwrap();
    assert_eq!(sent.case_id, case);
    assert_eq!(swv.list_case(&case).await.unwrap().messages.len(), 3);
    let other_child = {
        let other = swv
            .grant_consent(fixtures::consent_grant(BSN[0]))
            .await
            .unwrap()
            .consent_id;
        let mut r = fixtures::consult("q3", &gw.oin(org::JGT), &other);
        fixtures::request_body(&mut r, |b| b.bsn = BSN[0].into());
        r.case_id = case.clone();
        r
    };
    let m = refusal(swv.send(other_child).await, Code::InvalidArgument);
    assert!(m.contains("is about another child"), "{m}");
    // A reply belongs to its request's case.
    let mut astray = fixtures::reply("a2", &gw.oin(org::SWV), &sent.message_id);
    astray.case_id = fixtures::UNKNOWN_CONSENT_ID.into();
    let m = refusal(jgt.send(astray).await, Code::InvalidArgument);
    assert!(
        m.contains("a reply belongs to the case of its request"),
        "{m}"
    );
}

#[tokio::test]
async fn an_anonymous_consultation_carries_no_personal_data_and_needs_no_consent() {
    let gw = TestGateway::start().await;
    let swv = gw.client(org::SWV).await;
    let jgt = gw.client(org::JGT).await;
    let anonymous = || {
        let mut r = fixtures::consult("anon", &gw.oin(org::JGT), fixtures::UNKNOWN_CONSENT_ID);
        fixtures::request_body(&mut r, |b| b.bsn.clear());
        r.legal_basis = fixtures::no_personal_data();
        r
    };
    let asked = deliver(&swv, &jgt, anonymous()).await;
    let basis = envelope(&asked.delivery).legal_basis.clone().unwrap();
    assert!(matches!(
        basis.basis,
        Some(pb::legal_basis::Basis::NoPersonalData(_))
    ));
    assert!(asked.delivery.consent.is_none());
    // Its reply inherits the basis.
    deliver(
        &jgt,
        &swv,
        fixtures::reply("anon-a", &gw.oin(org::SWV), &asked.sent.message_id),
    )
    .await;

    // Naming a child makes it personal data; leaving the child out makes a
    // consent beside the point.
    let mut named = anonymous();
    named.client_reference = "anon-bsn".into();
    fixtures::request_body(&mut named, |b| b.bsn = BSN[2].into());
    let m = refusal(swv.send(named).await, Code::InvalidArgument);
    assert!(
        m.starts_with("legal_basis.no_personal_data: a message that names a child"),
        "{m}"
    );
    let consent = granted(&swv).await;
    let mut under_consent = fixtures::consult("anon-c", &gw.oin(org::JGT), &consent);
    fixtures::request_body(&mut under_consent, |b| b.bsn.clear());
    let m = refusal(swv.send(under_consent).await, Code::InvalidArgument);
    assert!(m.contains("its basis is no_personal_data"), "{m}");
    let mut dossier = fixtures::dossier("anon-d", &gw.oin(org::SCHOOL_VO));
    dossier.legal_basis = fixtures::no_personal_data();
    let school = gw.client(org::SCHOOL_PO).await;
    let m = refusal(school.send(dossier).await, Code::InvalidArgument);
    assert!(m.contains("no_personal_data"), "{m}");
}

#[tokio::test]
async fn a_message_under_consent_serves_the_consents_purpose() {
    let gw = TestGateway::start().await;
    let swv = gw.client(org::SWV).await;
    let consent = granted(&swv).await;
    let mut unnamed = fixtures::consult("p1", &gw.oin(org::JGT), &consent);
    unnamed.legal_basis.as_mut().unwrap().purpose = 0;
    let m = refusal(swv.send(unnamed).await, Code::FailedPrecondition);
    assert!(
        m.contains("serves the purpose consultation: a message under it names that purpose"),
        "{m}"
    );
    let mut other = fixtures::consult("p2", &gw.oin(org::JGT), &consent);
    other.legal_basis.as_mut().unwrap().purpose = pb::ConsentPurpose::YouthCare as i32;
    let m = refusal(swv.send(other).await, Code::FailedPrecondition);
    assert!(
        m.contains("serves the purpose consultation, not youth_care"),
        "{m}"
    );
    // A grant must name its purpose from the list.
    let mut grant = fixtures::consent_grant(BSN[2]);
    grant.purpose_code = 0;
    let m = refusal(swv.grant_consent(grant).await, Code::InvalidArgument);
    assert!(m.starts_with("purpose_code: is required"), "{m}");
}

/// An anonymous consultation stays anonymous: it cannot join the case of a
/// named child, and its question may not hold a BSN or a date of birth
/// (a meeting date may be in it). Each refusal names the field.
#[tokio::test]
async fn an_anonymous_consultation_names_no_child_in_any_way() {
    let gw = TestGateway::start().await;
    let swv = gw.client(org::SWV).await;
    let jgt = gw.oin(org::JGT);
    let consent = granted(&swv).await;
    let named = swv
        .send(fixtures::consult("named", &jgt, &consent))
        .await
        .unwrap();
    let anonymous = |reference: &str, question: &str| {
        let mut r = fixtures::consult(reference, &jgt, fixtures::UNKNOWN_CONSENT_ID);
        let question = question.to_owned();
        fixtures::request_body(&mut r, move |b| {
            b.bsn.clear();
            b.question = question;
        });
        r.legal_basis = fixtures::no_personal_data();
        r
    };
    let mut joining = anonymous("join", "Hoe pakken jullie veel verzuim aan?");
    joining.case_id = named.case_id.clone();
    let m = refusal(swv.send(joining).await, Code::InvalidArgument);
    assert!(m.starts_with("case_id: ") && m.contains("anonymous"), "{m}");
    for (reference, question) in [
        ("with-bsn", "Een leerling (111222333) verzuimt veel."),
        (
            "with-birth-date",
            "Een jongen, geboren 3-5-2015, verzuimt veel.",
        ),
    ] {
        let m = refusal(
            swv.send(anonymous(reference, question)).await,
            Code::InvalidArgument,
        );
        assert!(
            m.starts_with("payload.consultatieverzoek.question: an anonymous consultation"),
            "{m}"
        );
    }
    let next_week = (time::OffsetDateTime::now_utc().date() + time::Duration::days(7))
        .format(time::macros::format_description!("[day]-[month]-[year]"))
        .unwrap();
    swv.send(anonymous(
        "meeting",
        &format!("Kunnen we op {next_week} overleggen over verzuim?"),
    ))
    .await
    .expect("a meeting date names no child");
}
