//! The case's multidisciplinary meeting (MDO), over the wire: the consent
//! obtained in it is registered once, for the case's parties; each party
//! sends under it within its scope and in that case only; revoking it
//! withdraws what is in flight under it, whoever sent it. From the
//! attacker's side: an outsider registering one, a party that is not the
//! coordinator, a consent for another child, a non-party sending under it.
//! On the real store (sled, or PostgreSQL when SCHAKEL_TEST_STORE=postgres).

use schakel_client::Client;
use schakel_client::proto as pb;
use schakel_tests::calls::{audit_of, deliver, statuses};
use schakel_tests::fixtures::{self, BSN};
use schakel_tests::{TestGateway, org, refusal};
use tonic::Code;

/// The consent of `case`'s meeting for child `bsn`, naming `kinds`.
fn meeting_grant(case: &str, bsn: &str, kinds: &[pb::OrganisationKind]) -> pb::GrantConsentRequest {
    let mut grant = fixtures::consent_grant(bsn);
    grant.case_id = case.into();
    grant.obtained = pb::ConsentObtained::Unspecified as i32;
    grant.recipient_kinds = kinds.iter().map(|k| *k as i32).collect();
    grant
}

/// A case about child [`BSN`]`[2]` between the SWV and the JGT: its id.
async fn open_case(gw: &TestGateway, swv: &Client, jgt: &Client) -> String {
    let consent = fixtures::granted(swv).await;
    let to = gw.oin(org::JGT);
    deliver(swv, jgt, fixtures::consult("mdo-vraag", &to, &consent))
        .await
        .sent
        .case_id
}

#[tokio::test]
async fn the_meetings_consent_serves_every_party_in_its_case_and_its_revocation_withdraws_for_all()
{
    use pb::OrganisationKind::{Gemeente, Jgt, Swv};
    let gw = TestGateway::start().await;
    let (swv, jgt) = (gw.client(org::SWV).await, gw.client(org::JGT).await);
    let gemeente = gw.client(org::GEMEENTE).await;
    let case = open_case(&gw, &swv, &jgt).await;

    // Registered once, by one that takes part; recorded as obtained in the
    // meeting, for the case.
    let mdo = swv
        .grant_consent(meeting_grant(&case, BSN[2], &[Swv, Jgt, Gemeente]))
        .await
        .unwrap();
    assert_eq!(mdo.case_id, case);
    assert_eq!(mdo.obtained, pb::ConsentObtained::InMeeting as i32);
    // The parties join under it: any that takes part adds those it names.
    for party in [org::GEMEENTE, org::JGT] {
        swv.add_case_party(&case, &gw.oin(party), &mdo.consent_id)
            .await
            .unwrap();
    }

    // A party that did not register it sends under it, in the case.
    let mut ask = fixtures::consult("gemeente-vraag", &gw.oin(org::JGT), &mdo.consent_id);
    ask.case_id = case.clone();
    let first = deliver(&gemeente, &jgt, ask.clone()).await;
    assert_eq!(first.sent.case_id, case);
    // Not outside the case, and not by an organisation that is no party.
    let mut elsewhere = ask.clone();
    elsewhere.client_reference = "gemeente-elders".into();
    elsewhere.case_id.clear();
    let m = refusal(gemeente.send(elsewhere).await, Code::FailedPrecondition);
    assert!(m.contains("a message under it continues that case"), "{m}");
    let outsider = gw.client(org::SCHOOL_VO).await;
    let mut theirs = ask.clone();
    theirs.client_reference = "school-vraag".into();
    let m = refusal(outsider.send(theirs).await, Code::NotFound);
    assert!(m.starts_with("case_id: no case"), "{m}");

    // A second message from the gemeente is in flight when the JGT, which
    // received under it, hears from the parents that they withdraw it.
    let mut again = ask.clone();
    again.client_reference = "gemeente-tweede".into();
    let pending = gemeente.send(again).await.unwrap();
    let revoked = jgt
        .revoke_consent(&mdo.consent_id, "ouders trekken toestemming in")
        .await
        .unwrap();
    assert_eq!(revoked.status, pb::ConsentStatus::Revoked as i32);
    let status = gemeente.status(&pending.message_id).await.unwrap();
    assert!(
        statuses(&status.receipts).contains(&pb::ReceiptStatus::Withdrawn),
        "{status:?}"
    );
    // No party sends under it any more, nor sees the case as a party.
    let mut after = ask.clone();
    after.client_reference = "gemeente-daarna".into();
    let m = refusal(gemeente.send(after).await, Code::FailedPrecondition);
    assert!(m.contains("was revoked"), "{m}");
    // The parties' part ended with it, though nobody ended it.
    let view = swv.list_case(&case).await.unwrap();
    assert_eq!(view.parties.len(), 2);
    for p in &view.parties {
        assert!(p.left_at.is_some(), "{p:?}");
        assert!(p.ended_because.contains("was revoked"), "{p:?}");
        assert!(p.ended_by_oin.is_empty(), "{p:?}");
    }
    let seen = gemeente.list_case(&case).await.unwrap();
    assert!(
        seen.messages
            .iter()
            .all(|m| m.sender_oin == gw.oin(org::GEMEENTE)),
        "a former party sees only its own messages"
    );

    // The trail says it was registered for the case's parties.
    let operator = gw.client(org::OPERATOR).await;
    let grants = audit_of(&operator, &[pb::AuditAction::ConsentGranted]).await;
    assert!(
        grants
            .iter()
            .any(|e| e.case_id == case && e.detail.contains("for the parties of case")),
        "{grants:?}"
    );
}

#[tokio::test]
async fn only_one_that_takes_part_registers_the_meetings_consent_and_with_a_coordinator_only_it() {
    use pb::OrganisationKind::{Gemeente, Jgt, Swv};
    let gw = TestGateway::start().await;
    let (swv, jgt) = (gw.client(org::SWV).await, gw.client(org::JGT).await);
    let case = open_case(&gw, &swv, &jgt).await;
    let grant = meeting_grant(&case, BSN[2], &[Jgt, Gemeente]);

    // An outsider learns nothing of the case.
    let outsider = gw.client(org::SCHOOL_VO).await;
    let m = refusal(outsider.grant_consent(grant.clone()).await, Code::NotFound);
    assert!(m.starts_with("case_id: no case"), "{m}");
    // Another child, or obtained otherwise than in the meeting.
    let m = refusal(
        swv.grant_consent(meeting_grant(&case, BSN[1], &[Jgt]))
            .await,
        Code::FailedPrecondition,
    );
    assert!(m.contains("is about another child"), "{m}");
    let mut in_writing = grant.clone();
    in_writing.obtained = pb::ConsentObtained::InWriting as i32;
    let m = refusal(swv.grant_consent(in_writing).await, Code::InvalidArgument);
    assert!(m.starts_with("obtained:"), "{m}");

    // Once the parents agreed on a coordinator, only it registers one.
    let mut agreed = fixtures::consent_grant(BSN[2]);
    agreed.purpose_code = pb::ConsentPurpose::CareCoordination as i32;
    agreed.recipient_kinds = vec![Swv as i32];
    let agreed = swv.grant_consent(agreed).await.unwrap().consent_id;
    swv.set_case_coordinator(&case, &gw.oin(org::SWV), &agreed)
        .await
        .unwrap();
    let m = refusal(
        jgt.grant_consent(grant.clone()).await,
        Code::PermissionDenied,
    );
    assert!(
        m.contains("the coordinator registers the consent of the case's meeting"),
        "{m}"
    );
    assert!(swv.grant_consent(grant).await.is_ok());
}

/// The care-coordination basis of the meeting's consent `id`.
fn coordination(id: &str) -> Option<pb::LegalBasis> {
    schakel_proto::examples::consent_for(id, pb::ConsentPurpose::CareCoordination)
}

/// A case between the SWV and the JGT that the SWV coordinates, with the
/// JGT and the gemeente as parties under the meeting's consent for the
/// plan, the meeting and responses: the case and that consent.
async fn coordinated_case(gw: &TestGateway, swv: &Client, jgt: &Client) -> (String, String) {
    use pb::OrganisationKind::{Gemeente, Jgt, Swv};
    let case = open_case(gw, swv, jgt).await;
    let mut agreed = fixtures::consent_grant(BSN[2]);
    agreed.purpose_code = pb::ConsentPurpose::CareCoordination as i32;
    agreed.recipient_kinds = vec![Swv as i32];
    let agreed = swv.grant_consent(agreed).await.unwrap().consent_id;
    swv.set_case_coordinator(&case, &gw.oin(org::SWV), &agreed)
        .await
        .unwrap();
    let mut grant = meeting_grant(&case, BSN[2], &[Swv, Jgt, Gemeente]);
    grant.purpose_code = pb::ConsentPurpose::CareCoordination as i32;
    grant.message_kinds = [
        pb::MessageKind::Plan,
        pb::MessageKind::Planreactie,
        pb::MessageKind::Overleg,
    ]
    .iter()
    .map(|k| *k as i32)
    .collect();
    let mdo = swv.grant_consent(grant).await.unwrap().consent_id;
    for party in [org::JGT, org::GEMEENTE] {
        swv.add_case_party(&case, &gw.oin(party), &mdo)
            .await
            .unwrap();
    }
    (case, mdo)
}

/// Pulls the one message waiting for `client`, acknowledges it and
/// returns it.
async fn receive(client: &Client) -> pb::Delivery {
    let got = schakel_tests::calls::pull_until(client, 1).await.remove(0);
    client
        .ack(&schakel_tests::calls::id_of(&got))
        .await
        .unwrap();
    got
}

#[tokio::test]
async fn the_coordinator_invites_to_the_meeting_and_shares_each_version_of_the_plan_with_every_party()
 {
    use schakel_proto::examples::{case_meeting, in_case, plan, plan_reply};
    let gw = TestGateway::start().await;
    let (swv, jgt) = (gw.client(org::SWV).await, gw.client(org::JGT).await);
    let gemeente = gw.client(org::GEMEENTE).await;
    let (case, mdo) = coordinated_case(&gw, &swv, &jgt).await;
    let parties = [gw.oin(org::JGT), gw.oin(org::GEMEENTE)];
    let to: Vec<&str> = parties.iter().map(String::as_str).collect();

    // The invitation to the meeting, to both parties in one call.
    let invitation = pb::payload::Body::CaseMeeting(case_meeting(
        pb::MeetingPart::Invitation,
        &fixtures::date(7),
    ));
    let invite = in_case(
        "mdo-uitnodiging",
        "",
        &case,
        coordination(&mdo),
        (invitation, vec![]),
    );
    let sent = swv.send_to_many(invite, &to).await.unwrap();
    assert!(
        sent.iter()
            .all(|s| s.as_ref().is_ok_and(|s| s.case_id == case)),
        "{sent:?}"
    );
    for party in [&jgt, &gemeente] {
        let got = receive(party).await;
        assert_eq!(
            got.envelope.as_ref().unwrap().kind,
            pb::MessageKind::Overleg as i32
        );
    }

    // Version 1 of the plan to every party: a message and a receipt each.
    let v1 = plan("gezinsplan-1", "", &case, coordination(&mdo), 1);
    let sent = swv.send_to_many(v1.clone(), &to).await.unwrap();
    assert!(sent.iter().all(Result::is_ok), "{sent:?}");
    let jgt_copy = receive(&jgt).await;
    receive(&gemeente).await;

    // Only to parties, only by the coordinator, versions in order and a
    // version always the same document.
    let mut outsider = v1.clone();
    outsider.client_reference = "gezinsplan-school".into();
    outsider.recipient_oin = gw.oin(org::SCHOOL_PO);
    let m = refusal(swv.send(outsider).await, Code::FailedPrecondition);
    assert!(m.contains("takes no part in case"), "{m}");
    let mut not_coordinator = plan(
        "jgt-plan",
        &gw.oin(org::GEMEENTE),
        &case,
        coordination(&mdo),
        2,
    );
    not_coordinator.client_reference = "jgt-plan".into();
    let m = refusal(jgt.send(not_coordinator).await, Code::PermissionDenied);
    assert!(m.contains("the coordinator shares the plan"), "{m}");
    let skipped = plan(
        "gezinsplan-3",
        &gw.oin(org::JGT),
        &case,
        coordination(&mdo),
        3,
    );
    let m = refusal(swv.send(skipped).await, Code::FailedPrecondition);
    assert!(m.contains("the next is version 2"), "{m}");
    let mut other = plan(
        "gezinsplan-1b",
        &gw.oin(org::JGT),
        &case,
        coordination(&mdo),
        1,
    );
    schakel_proto::examples::edit_payload(&mut other, |p| {
        if let Some(pb::payload::Body::CasePlan(plan)) = p.body.as_mut() {
            plan.title = "Een ander plan".into();
        }
    });
    let m = refusal(swv.send(other).await, Code::FailedPrecondition);
    assert!(m.contains("version 1 of the plan of case"), "{m}");

    // The JGT responds to the version it had, under the plan's basis (the
    // meeting's consent, which covers its direction).
    let response = plan_reply(
        "reactie-1",
        &gw.oin(org::SWV),
        &schakel_tests::calls::id_of(&jgt_copy),
        None,
        pb::PlanPosition::Comments,
    );
    jgt.send(response).await.unwrap();
    let got = receive(&swv).await;
    assert_eq!(
        got.envelope.as_ref().unwrap().kind,
        pb::MessageKind::Planreactie as i32
    );

    // A version whose send is refused is not recorded: the next is still 2.
    let mut unfounded = plan(
        "gezinsplan-2-fout",
        &gw.oin(org::JGT),
        &case,
        coordination(&mdo),
        2,
    );
    unfounded.legal_basis = schakel_proto::examples::consent(&mdo);
    let m = refusal(swv.send(unfounded).await, Code::FailedPrecondition);
    assert!(m.contains("serves the purpose care_coordination"), "{m}");
    assert_eq!(swv.list_case(&case).await.unwrap().plans.len(), 1);

    // Version 2, then the trail: who had which version.
    let v2 = plan("gezinsplan-2", "", &case, coordination(&mdo), 2);
    let sent = swv.send_to_many(v2, &to).await.unwrap();
    assert!(sent.iter().all(Result::is_ok), "{sent:?}");
    let view = swv.list_case(&case).await.unwrap();
    let versions: Vec<_> = view.plans.iter().map(|p| p.version).collect();
    assert_eq!(versions, [1, 2]);
    assert!(
        view.plans
            .iter()
            .all(|p| p.shared_by_oin == gw.oin(org::SWV))
    );
    let had = |version: u32| {
        let mut who: Vec<_> = view
            .messages
            .iter()
            .filter(|m| m.kind == pb::MessageKind::Plan as i32 && m.plan_version == version)
            .map(|m| m.recipient_oin.clone())
            .collect();
        who.sort();
        who
    };
    let mut both = parties.to_vec();
    both.sort();
    assert_eq!(had(1), both);
    assert_eq!(had(2), both);
    let responses: Vec<_> = view
        .messages
        .iter()
        .filter(|m| m.kind == pb::MessageKind::Planreactie as i32)
        .map(|m| (m.sender_oin.clone(), m.plan_version))
        .collect();
    assert_eq!(responses, [(gw.oin(org::JGT), 1)]);
    // A party sees the versions too; the trail records each new one.
    assert_eq!(gemeente.list_case(&case).await.unwrap().plans.len(), 2);
    let operator = gw.client(org::OPERATOR).await;
    let changes = audit_of(&operator, &[pb::AuditAction::CaseChanged]).await;
    let shared: Vec<_> = changes
        .iter()
        .filter(|e| e.detail.contains("of the plan shared"))
        .map(|e| e.detail.as_str())
        .collect();
    assert_eq!(
        shared,
        [
            "version 1 of the plan shared",
            "version 2 of the plan shared"
        ]
    );

    // The minutes afterwards, a message of the case like the invitation.
    let minutes =
        pb::payload::Body::CaseMeeting(case_meeting(pb::MeetingPart::Minutes, &fixtures::date(0)));
    let minutes = in_case(
        "mdo-verslag",
        "",
        &case,
        coordination(&mdo),
        (minutes, vec![]),
    );
    let sent = swv.send_to_many(minutes, &to).await.unwrap();
    assert!(sent.iter().all(Result::is_ok), "{sent:?}");
    // Not outside a case: a meeting names the case it belongs to.
    let mut loose = in_case(
        "mdo-los",
        &gw.oin(org::JGT),
        "",
        coordination(&mdo),
        (
            pb::payload::Body::CaseMeeting(case_meeting(
                pb::MeetingPart::Invitation,
                &fixtures::date(7),
            )),
            vec![],
        ),
    );
    loose.case_id.clear();
    let m = refusal(swv.send(loose).await, Code::InvalidArgument);
    assert!(
        m.starts_with("case_id: a message of kind overleg belongs to a case"),
        "{m}"
    );
}
