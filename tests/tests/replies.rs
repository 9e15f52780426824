//! A reply on a basis in its own direction: an outcome alone travels under
//! the request's basis; an answer carries personal data back and needs a
//! consent the replier registered (or a statute) covering the requester;
//! Veilig Thuis tells a reporter the outcome only, and is answered on the
//! reporting right. Over the wire, against a real gateway.

use schakel_client::proto as pb;
use schakel_tests::calls::{deliver, envelope};
use schakel_tests::fixtures::{self, BSN, consent_grant, granted};
use schakel_tests::{TestGateway, org, refusal};
use tonic::Code;

/// A consent of the parents registered by `registrant` for child `bsn`,
/// covering `to` and replies: its id.
async fn own_consent(registrant: &schakel_client::Client, bsn: &str, to: &str) -> String {
    let mut g = consent_grant(bsn);
    g.recipient_kinds.clear();
    g.recipient_oins = vec![to.into()];
    g.message_kinds = vec![pb::MessageKind::Consultatieantwoord as i32];
    registrant.grant_consent(g).await.unwrap().consent_id
}

/// The basis a delivered message travelled under.
fn basis_of(d: &pb::Delivery) -> Option<pb::legal_basis::Basis> {
    envelope(d).legal_basis.clone().and_then(|b| b.basis)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_needs_a_consent_of_the_replier_that_covers_the_requester() {
    let gw = TestGateway::start().await;
    let swv = gw.client(org::SWV).await;
    let jgt = gw.client(org::JGT).await;
    let (swv_oin, jgt_oin) = (gw.oin(org::SWV), gw.oin(org::JGT));
    let consent = granted(&swv).await;
    let asked = deliver(&swv, &jgt, fixtures::consult("q", &jgt_oin, &consent)).await;
    let request_id = asked.sent.message_id.clone();

    // Under the school's consent (school to JGT) an answer cannot travel
    // back, named or not; nothing reaches the school.
    for named in [None, schakel_proto::examples::consent(&consent)] {
        let m = refusal(
            jgt.send(fixtures::answer("a", &swv_oin, &request_id, named))
                .await,
            Code::FailedPrecondition,
        );
        assert!(m.starts_with("payload.consultatieantwoord.answer: "), "{m}");
        assert!(m.contains("a consent you registered"), "{m}");
    }
    assert!(gw.inbox(org::SWV).await.is_empty());

    // A consent of the JGT for another child does not cover it.
    let other = own_consent(&jgt, BSN[0], &swv_oin).await;
    let m = refusal(
        jgt.send(fixtures::answer(
            "b",
            &swv_oin,
            &request_id,
            schakel_proto::examples::consent(&other),
        ))
        .await,
        Code::FailedPrecondition,
    );
    assert!(m.contains("for another child"), "{m}");

    // The JGT's own consent for the child, covering the school: it travels,
    // and the school is shown that consent's scope.
    let own = own_consent(&jgt, BSN[2], &swv_oin).await;
    let answered = deliver(
        &jgt,
        &swv,
        fixtures::answer(
            "c",
            &swv_oin,
            &request_id,
            schakel_proto::examples::consent(&own),
        ),
    )
    .await;
    let scope = answered.delivery.consent.as_ref().expect("the scope");
    assert_eq!(scope.consent_id, own);
    assert_eq!(scope.registered_by_oin, jgt_oin);
    assert_eq!(
        basis_of(&answered.delivery),
        Some(pb::legal_basis::Basis::ConsentId(own.clone()))
    );
    assert_eq!(
        envelope(&answered.delivery).in_reply_to,
        request_id,
        "it answers the request, in its case"
    );

    // An outcome alone (accepted, with a contact) travels under the
    // request's basis.
    let outcome = deliver(&jgt, &swv, fixtures::reply("d", &swv_oin, &request_id)).await;
    assert_eq!(
        basis_of(&outcome.delivery),
        Some(pb::legal_basis::Basis::ConsentId(consent))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn veilig_thuis_tells_a_reporter_the_outcome_only_and_is_answered_on_the_reporting_right() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let vt = gw.client(org::VEILIG_THUIS).await;
    let (school_oin, vt_oin) = (gw.oin(org::SCHOOL_PO), gw.oin(org::VEILIG_THUIS));

    // A school asks Veilig Thuis on the reporting right.
    let mut question = fixtures::consult("melding", &vt_oin, "");
    question.legal_basis = fixtures::meldrecht();
    let asked = deliver(&school, &vt, question).await;
    let m = refusal(
        vt.send(fixtures::answer(
            "uitkomst",
            &school_oin,
            &asked.sent.message_id,
            None,
        ))
        .await,
        Code::FailedPrecondition,
    );
    assert!(m.contains("outcome only"), "{m}");
    assert!(m.contains("Wmo 2015 art. 5.2.6"), "{m}");
    // The outcome, without text about the child, reaches the reporter.
    deliver(
        &vt,
        &school,
        fixtures::reply("ontvangen", &school_oin, &asked.sent.message_id),
    )
    .await;

    // Veilig Thuis asks the school for information: the school's answer is
    // information to Veilig Thuis, on the reporting right.
    let mut request = fixtures::consult("vraag", &school_oin, "");
    request.legal_basis = fixtures::meldrecht();
    let asked = deliver(&vt, &school, request).await;
    let answered = deliver(
        &school,
        &vt,
        fixtures::answer("informatie", &vt_oin, &asked.sent.message_id, None),
    )
    .await;
    assert_eq!(
        basis_of(&answered.delivery),
        Some(pb::legal_basis::Basis::Statutory(
            pb::StatutoryBasis::MeldrechtVeiligThuis as i32
        ))
    );
}
