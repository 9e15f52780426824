//! Arrangements and the TLV, over the wire: a school board asks its
//! samenwerkingsverband for an arrangement or a toelaatbaarheidsverklaring
//! on the statute of passend onderwijs (WPO art. 18a; WVO art. 17a; WEC art.
//! 40), the OPP attached, without a consent; the samenwerkingsverband
//! answers with its decision, to the school that asked, in the same case.
//! From the attacker's side: another kind of sender or recipient, a request
//! without its OPP, a decision by one that was not asked or to another.
//! On the real store (sled, or PostgreSQL when SCHAKEL_TEST_STORE=postgres).

use schakel_client::proto as pb;
use schakel_proto::examples::{decision, edit_payload, tlv_request};
use schakel_tests::calls::{audit_about, deliver, id_of, payload};
use schakel_tests::{TestGateway, org, refusal};
use tonic::Code;

#[tokio::test]
async fn a_school_asks_its_samenwerkingsverband_for_a_tlv_and_gets_the_decision_in_the_case() {
    let gw = TestGateway::start().await;
    let (school, swv) = (gw.client(org::SCHOOL_PO).await, gw.client(org::SWV).await);
    let asked = deliver(&school, &swv, tlv_request("tlv-1", &gw.oin(org::SWV))).await;
    let got = payload(&asked.delivery);
    assert!(matches!(
        got.body,
        Some(pb::payload::Body::ArrangementRequest(_))
    ));
    assert_eq!(got.attachments[0].name, "opp.pdf");

    let decided = deliver(
        &swv,
        &school,
        decision(
            "besluit-1",
            &gw.oin(org::SCHOOL_PO),
            &id_of(&asked.delivery),
            pb::DecisionOutcome::Granted,
        ),
    )
    .await;
    assert_eq!(decided.sent.case_id, asked.sent.case_id);
    let envelope = decided.delivery.envelope.as_ref().unwrap();
    assert_eq!(envelope.kind, pb::MessageKind::Besluit as i32);
    assert_eq!(envelope.in_reply_to, asked.sent.message_id);

    // The school sees both in its case; the trail names the statute.
    let case = school.list_case(&asked.sent.case_id).await.unwrap();
    let kinds: Vec<_> = case.messages.iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        [
            pb::MessageKind::Aanvraag as i32,
            pb::MessageKind::Besluit as i32
        ]
    );
    let operator = gw.client(org::OPERATOR).await;
    for sent in [&asked.sent, &decided.sent] {
        let trail = audit_about(&operator, &sent.message_id).await;
        assert!(
            trail[0]
                .detail
                .contains("on statutory basis passend_onderwijs"),
            "{:?}",
            trail[0].detail
        );
    }
}

#[tokio::test]
async fn only_a_school_asks_only_an_swv_decides_and_the_opp_travels_with_the_request() {
    let gw = TestGateway::start().await;
    let (school, swv) = (gw.client(org::SCHOOL_PO).await, gw.client(org::SWV).await);
    let (jgt, other_school) = (gw.client(org::JGT).await, gw.client(org::SCHOOL_VO).await);
    let to_swv = gw.oin(org::SWV);

    let mut without_opp = tlv_request("tlv-leeg", &to_swv);
    edit_payload(&mut without_opp, |p| p.attachments.clear());
    let m = refusal(school.send(without_opp).await, Code::InvalidArgument);
    assert!(
        m.starts_with(
            "payload.attachments: a request for an arrangement or a TLV carries the pupil's OPP"
        ),
        "{m}"
    );
    let mut not_consulted = tlv_request("tlv-ouders", &to_swv);
    edit_payload(&mut not_consulted, |p| {
        if let Some(pb::payload::Body::ArrangementRequest(r)) = p.body.as_mut() {
            r.parents_consulted = false;
        }
    });
    let m = refusal(school.send(not_consulted).await, Code::InvalidArgument);
    assert!(
        m.starts_with("payload.arrangement_request.parents_consulted"),
        "{m}"
    );
    // Not from a JGT, not to a JGT.
    let m = refusal(
        jgt.send(tlv_request("tlv-jgt", &to_swv)).await,
        Code::PermissionDenied,
    );
    assert!(
        m.contains("from a school to its samenwerkingsverband"),
        "{m}"
    );
    let m = refusal(
        school
            .send(tlv_request("tlv-naar-jgt", &gw.oin(org::JGT)))
            .await,
        Code::PermissionDenied,
    );
    assert!(m.starts_with("routing:"), "{m}");

    let asked = school.send(tlv_request("tlv-2", &to_swv)).await.unwrap();
    // Only the samenwerkingsverband that received it decides, and only to
    // the school that asked.
    let to_school = gw.oin(org::SCHOOL_PO);
    let refused = pb::DecisionOutcome::Refused;
    let m = refusal(
        jgt.send(decision(
            "besluit-jgt",
            &to_school,
            &asked.message_id,
            refused,
        ))
        .await,
        Code::PermissionDenied,
    );
    assert!(
        m.contains("must answer a request of kind aanvraag that the sender received"),
        "{m}"
    );
    let m = refusal(
        swv.send(decision(
            "besluit-ander",
            &gw.oin(org::SCHOOL_VO),
            &asked.message_id,
            refused,
        ))
        .await,
        Code::PermissionDenied,
    );
    assert!(m.contains("goes only to the sender of the request"), "{m}");
    let decided = swv
        .send(decision(
            "besluit-2",
            &to_school,
            &asked.message_id,
            refused,
        ))
        .await
        .unwrap();
    assert_eq!(decided.case_id, asked.case_id);
    // Another school learns nothing of the case.
    let m = refusal(other_school.list_case(&asked.case_id).await, Code::NotFound);
    assert!(m.starts_with("case_id: no case"), "{m}");
}
