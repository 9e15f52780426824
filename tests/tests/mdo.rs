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
