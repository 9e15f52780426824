//! Statutory bases from the attacker's side: each statute covers its own
//! senders, recipients and kinds under its condition, and nothing else. A
//! message that names a statute outside it is refused with the statute and
//! the rule, and the audit trail records what a message that passed rested
//! on. (Every rule is unit-tested in `policy/statutes.rs`; these cross the
//! wire.)

use schakel_client::proto as pb;
use schakel_gateway::model::{Action, LegalBasis, Statute};
use schakel_tests::calls::deliver;
use schakel_tests::fixtures::{self, UNKNOWN_CONSENT_ID};
use schakel_tests::{TestGateway, org, refusal};
use tonic::Code;

/// The refusal of `request` sent by `who`, which must be FAILED_PRECONDITION.
async fn refused(gw: &TestGateway, who: &str, request: pb::SendRequest) -> String {
    refusal(
        gw.client(who).await.send(request).await,
        Code::FailedPrecondition,
    )
}

/// A consultation request to `to` on the reporting right, declared.
fn report(reference: &str, to: &str) -> pb::SendRequest {
    let mut r = fixtures::consult(reference, to, UNKNOWN_CONSENT_ID);
    r.legal_basis = fixtures::meldrecht();
    r
}

#[tokio::test]
async fn a_verwijsindex_signal_goes_to_the_verwijsindex_only_with_the_family_informed() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let index = gw.oin(org::VERWIJSINDEX);
    school
        .send(fixtures::signalering("vi", &index))
        .await
        .unwrap();
    // To a JGT the same signal needs consent: the index is one national
    // system, and matching outside it is not what the law allows.
    for (to, kind) in [(org::JGT, "jgt"), (org::GEMEENTE, "gemeente")] {
        let m = refused(
            &gw,
            org::SCHOOL_PO,
            fixtures::signalering("vi-jgt", &gw.oin(to)),
        )
        .await;
        assert!(
            m.contains(&format!(
                "legal_basis.statutory: verwijsindex (Jeugdwet ch. 7.1): covers messages to verwijsindex only; the recipient {} is a {kind}",
                gw.oin(to)
            )),
            "{m}"
        );
    }
    // A youth of 13 must be told too, unless informing is postponed with a reason.
    let mut older = fixtures::signalering("vi-13", &index);
    fixtures::signal(&mut older, |b| b.birth_date = fixtures::date(-13 * 366));
    let m = refused(&gw, org::SCHOOL_PO, older.clone()).await;
    assert!(
        m.contains("the youth is 13: the youth must be informed (child_informed)"),
        "{m}"
    );
    fixtures::signal(&mut older, |b| {
        b.informing_postponed_reason = "informeren brengt het kind in gevaar".into();
        b.informing_postponed_code = pb::PostponementReason::AgainstChildInterest as i32;
        b.inform_by = fixtures::date(30);
    });
    school.send(older).await.unwrap();
    // The basis carries signals only.
    let mut consult = fixtures::consult("vi-consult", &index, UNKNOWN_CONSENT_ID);
    consult.legal_basis = fixtures::statute(pb::StatutoryBasis::Verwijsindex);
    let m = refusal(school.send(consult).await, Code::PermissionDenied);
    assert!(m.contains("not to a verwijsindex"), "{m}");
}

#[tokio::test]
async fn the_onderwijskundig_rapport_goes_from_a_primary_school_to_a_school() {
    let gw = TestGateway::start().await;
    let po = gw.client(org::SCHOOL_PO).await;
    let vo = gw.client(org::SCHOOL_VO).await;
    deliver(
        &po,
        &vo,
        fixtures::dossier("po-vo", &gw.oin(org::SCHOOL_VO)),
    )
    .await;
    // Not from a secondary school (the directory knows its sector).
    let mut vo_vo = fixtures::dossier("vo-vo", &gw.oin(org::SCHOOL_PO));
    fixtures::dossier_body(&mut vo_vo, |b| b.profile = pb::DossierProfile::VoVo as i32);
    let m = refused(&gw, org::SCHOOL_VO, vo_vo).await;
    assert!(
        m.contains("overdracht_po (WPO art. 42; WEC art. 43): the sending school is of sector vo"),
        "{m}"
    );
    // Not to a samenwerkingsverband, although routing lets dossiers go there.
    let m = refused(
        &gw,
        org::SCHOOL_PO,
        fixtures::dossier("po-swv", &gw.oin(org::SWV)),
    )
    .await;
    assert!(m.contains("covers messages to school only"), "{m}");
    // Not for a profile that starts in secondary education.
    let mut po_vo_vo = fixtures::dossier("po-vovo", &gw.oin(org::SCHOOL_VO));
    fixtures::dossier_body(&mut po_vo_vo, |b| {
        b.profile = pb::DossierProfile::VoVo as i32
    });
    let m = refused(&gw, org::SCHOOL_PO, po_vo_vo).await;
    assert!(
        m.contains("starts in primary or special education only"),
        "{m}"
    );
}

#[tokio::test]
async fn the_reporting_right_reaches_veilig_thuis_and_no_one_else() {
    let mut gw = TestGateway::start().await;
    let gemeente = gw.client(org::GEMEENTE).await;
    let vt = gw.client(org::VEILIG_THUIS).await;
    let school = gw.client(org::SCHOOL_PO).await;
    // A gemeente cannot consult a JGT about a child on Veilig Thuis's basis
    // (the first release let this through).
    let m = refused(&gw, org::GEMEENTE, report("gm-jgt", &gw.oin(org::JGT))).await;
    assert!(
        m.contains("meldrecht_veilig_thuis (Wmo 2015 art. 5.2.6): covers a signal or a question to Veilig Thuis"),
        "{m}"
    );
    // Without the declaration of necessity, not even to Veilig Thuis.
    let mut undeclared = report("gm-vt-0", &gw.oin(org::VEILIG_THUIS));
    undeclared.legal_basis = fixtures::statute(pb::StatutoryBasis::MeldrechtVeiligThuis);
    let m = refused(&gw, org::GEMEENTE, undeclared).await;
    assert!(m.contains("legal_basis.necessity_declared"), "{m}");
    // Declared, to Veilig Thuis: accepted.
    let reported = deliver(&gemeente, &vt, report("gm-vt", &gw.oin(org::VEILIG_THUIS)))
        .await
        .sent;
    // Veilig Thuis asks a school for information; the school answers it.
    let asked = deliver(&vt, &school, report("vt-school", &gw.oin(org::SCHOOL_PO)))
        .await
        .sent;
    let answer = deliver(
        &school,
        &vt,
        fixtures::reply("school-vt", &gw.oin(org::VEILIG_THUIS), &asked.message_id),
    )
    .await
    .sent;
    drop((gemeente, vt, school));
    gw.stop().await;

    // The audit trail shows each rested on the law and its condition.
    let entries = gw.audit_entries().await;
    let accepted = |id: &str| {
        entries
            .iter()
            .find(|e| {
                e.action == Action::SendAccepted
                    && e.message_id.as_ref().is_some_and(|m| m.as_str() == id)
            })
            .expect("an entry")
            .clone()
    };
    let meldrecht = Some(LegalBasis::Statute(Statute::MeldrechtVeiligThuis));
    for (id, condition) in [
        (&reported.message_id, "a report to Veilig Thuis"),
        (&asked.message_id, "Veilig Thuis's request for information"),
    ] {
        let e = accepted(id);
        assert_eq!(e.legal_basis, meldrecht);
        assert!(
            e.detail.contains(&format!(
                "on statutory basis meldrecht_veilig_thuis (Wmo 2015 art. 5.2.6), without consent: {condition}; the sender declared the information necessary"
            )),
            "{}",
            e.detail
        );
    }
    let reply = accepted(&answer.message_id);
    assert_eq!(reply.legal_basis, meldrecht);
    assert!(
        reply
            .detail
            .contains("a reply, on the basis of its request"),
        "{}",
        reply.detail
    );
    // Refusals are recorded with the statute and the rule.
    let refusals: Vec<_> = entries
        .iter()
        .filter(|e| e.action == Action::SendRefused)
        .collect();
    assert_eq!(refusals.len(), 2);
    assert!(
        refusals[0]
            .detail
            .contains("meldrecht_veilig_thuis (Wmo 2015 art. 5.2.6)")
    );
}
