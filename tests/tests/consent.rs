//! Consent over the wire: registered, enforced at send and again at
//! delivery, and revoked with everything in flight under it withdrawn;
//! statutory bases per policy; and no BSN in clear anywhere in the data
//! folder. The conditions a consent must meet, and the age and grant rules,
//! are unit-tested in the gateway (`policy/consent.rs`).

use std::time::Duration;

use schakel_client::proto as pb;
use schakel_gateway::model::{Action, Entry};
use schakel_tests::calls::statuses;
use schakel_tests::fixtures::{self, BSN, UNKNOWN_CONSENT_ID, consent_grant, granted};
use schakel_tests::{TestGateway, code_of, next_event, next_receipts, org, refusal};
use tonic::Code;

use pb::ReceiptStatus as R;

/// The refusal of a send for a legal basis that does not hold.
async fn unmet(gw: &TestGateway, who: &str, request: pb::SendRequest) -> String {
    refusal(
        gw.client(who).await.send(request).await,
        Code::FailedPrecondition,
    )
}

/// The audit entries about one message, read from the stopped gateway.
fn about<'a>(entries: &'a [Entry], message_id: &str) -> Vec<&'a Entry> {
    entries
        .iter()
        .filter(|e| {
            e.message_id
                .as_ref()
                .is_some_and(|m| m.as_str() == message_id)
        })
        .collect()
}

#[tokio::test]
async fn a_covering_consent_is_required_and_the_failed_condition_is_named() {
    let gw = TestGateway::start().await;
    let swv = gw.client(org::SWV).await;
    let jgt = gw.oin(org::JGT);
    let consent = swv.grant_consent(consent_grant(BSN[2])).await.unwrap();
    assert_eq!(consent.status, pb::ConsentStatus::Active as i32);
    assert_eq!(consent.registered_by_oin, gw.oin(org::SWV));
    assert_eq!(consent.child_ref.len(), 64);
    let id = consent.consent_id.clone();

    swv.send(fixtures::consult("ok", &jgt, &id)).await.unwrap();

    // One condition, as the consent rules name it.
    let mut other_child = fixtures::consult("child", &jgt, &id);
    fixtures::request_body(&mut other_child, |b| b.bsn = BSN[0].into());
    let m = unmet(&gw, org::SWV, other_child).await;
    assert!(m.contains("legal_basis.consent_id: consent"), "{m}");
    assert!(m.contains("is for another child"), "{m}");
    // Unknown id.
    let unknown = fixtures::consult("unknown", &jgt, UNKNOWN_CONSENT_ID);
    assert!(unmet(&gw, org::SWV, unknown).await.contains("no consent"));
    // Not yet valid: registered as pending, and refused.
    let mut later = consent_grant(BSN[2]);
    later.valid_from = Some(fixtures::in_days(30));
    let later = swv.grant_consent(later).await.unwrap();
    assert_eq!(later.status, pb::ConsentStatus::Pending as i32);
    let pending = fixtures::consult("pending", &jgt, &later.consent_id);
    assert!(
        unmet(&gw, org::SWV, pending)
            .await
            .contains("is not valid until")
    );
    // Revoked.
    let revoked = granted(&swv).await;
    swv.revoke_consent(&revoked, "ouders trekken toestemming in")
        .await
        .unwrap();
    let m = unmet(&gw, org::SWV, fixtures::consult("revoked", &jgt, &revoked)).await;
    assert!(m.contains("was revoked"), "{m}");

    // Only the one good message reached the JGT.
    assert_eq!(gw.inbox(org::JGT).await.len(), 1);
}

#[tokio::test]
async fn grants_follow_the_rules_and_are_listed_and_revoked_by_their_owner_only() {
    let gw = TestGateway::start().await;
    let swv = gw.client(org::SWV).await;
    let mut thirteen = consent_grant(BSN[0]);
    thirteen.birth_date = fixtures::date(-(13 * 365 + 10));
    let m = refusal(
        swv.grant_consent(thirteen.clone()).await,
        Code::InvalidArgument,
    );
    assert!(m.contains("given_by: a child of 13"), "{m}");
    thirteen.given_by = pb::ConsentGiver::ParentsAndChild as i32;
    swv.grant_consent(thirteen).await.unwrap();
    let mut no_kinds = consent_grant(BSN[1]);
    no_kinds.message_kinds.clear();
    let m = refusal(swv.grant_consent(no_kinds).await, Code::InvalidArgument);
    assert!(m.starts_with("message_kinds"), "{m}");
    swv.grant_consent(consent_grant(BSN[1])).await.unwrap();

    let list = |bsn: &'static str, status| {
        let swv = swv.clone();
        async move { swv.list_consents(bsn, status).await.unwrap().len() }
    };
    assert_eq!(list("", pb::ConsentStatus::Unspecified).await, 2);
    assert_eq!(list(BSN[0], pb::ConsentStatus::Unspecified).await, 1);
    assert_eq!(list("", pb::ConsentStatus::Revoked).await, 0);
    // A page at a time, each within its size, and together all of them.
    let ask = |page_size, page_token| pb::ListConsentsRequest {
        page_size,
        page_token,
        ..Default::default()
    };
    let first = swv
        .consent()
        .list(ask(1, String::new()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.consents.len(), 1);
    assert!(!first.next_page_token.is_empty());
    let second = swv
        .consent()
        .list(ask(1, first.next_page_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.consents.len(), 1);
    assert_ne!(second.consents[0].consent_id, first.consents[0].consent_id);
    assert!(second.next_page_token.is_empty(), "the last page");
    let m = refusal(
        swv.consent()
            .list(ask(5000, String::new()))
            .await
            .map_err(Into::into),
        Code::InvalidArgument,
    );
    assert!(m.contains("page_size: must be at most 1000"), "{m}");
    let school = gw.client(org::SCHOOL_PO).await;
    let theirs = swv
        .list_consents("", pb::ConsentStatus::Unspecified)
        .await
        .unwrap();
    assert!(
        school
            .list_consents("", pb::ConsentStatus::Unspecified)
            .await
            .unwrap()
            .is_empty()
    );
    let not_mine = school
        .revoke_consent(&theirs[0].consent_id, "niet van ons")
        .await;
    assert_eq!(code_of(not_mine), Code::PermissionDenied);
    assert_eq!(
        code_of(school.revoke_consent(UNKNOWN_CONSENT_ID, "x").await),
        Code::NotFound
    );
    let operator = gw.client(org::OPERATOR).await;
    let by_operator = operator.grant_consent(consent_grant(BSN[0])).await;
    assert_eq!(code_of(by_operator), Code::PermissionDenied);
}

#[tokio::test]
async fn revoking_withdraws_a_queued_message_and_the_sender_holds_a_signed_receipt() {
    let gw = TestGateway::start().await;
    let swv = gw.client(org::SWV).await;
    let consent = granted(&swv).await;
    let sent = swv
        .send(fixtures::consult("q1", &gw.oin(org::JGT), &consent))
        .await
        .unwrap();
    let mut receipts = swv.receipts(0, true).await.unwrap();
    let revoked = swv
        .revoke_consent(&consent, "ouders trekken toestemming in")
        .await
        .unwrap();
    assert_eq!(revoked.status, pb::ConsentStatus::Revoked as i32);

    // The recipient never sees it.
    assert!(gw.inbox(org::JGT).await.is_empty());
    // The sender holds a WITHDRAWN receipt, verified by the client library.
    let status = swv.status(&sent.message_id).await.unwrap();
    assert_eq!(status.status, R::Withdrawn as i32);
    let last = status.receipts.last().unwrap();
    // It says the consent was revoked; the reason stays with the consent.
    assert!(
        last.detail.ends_with(" revoked") && !last.detail.contains("ouders"),
        "{}",
        last.detail
    );
    let seen = statuses(&next_receipts(&mut receipts, 2).await);
    assert_eq!(seen, [R::Accepted, R::Withdrawn]);
}

#[tokio::test]
async fn a_leased_message_whose_consent_is_revoked_is_announced_and_its_ack_says_withdrawn() {
    let mut gw = TestGateway::start().await;
    let swv = gw.client(org::SWV).await;
    let jgt = gw.client(org::JGT).await;
    let consent = granted(&swv).await;
    let mut inbox = jgt.subscribe(4, Duration::ZERO).await.unwrap();
    let sent = swv
        .send(fixtures::consult("q1", &gw.oin(org::JGT), &consent))
        .await
        .unwrap();
    let first = next_event(&mut inbox).await;
    assert!(matches!(
        first.event,
        Some(pb::inbox_event::Event::Delivery(_))
    ));

    swv.revoke_consent(&consent, "toestemming ingetrokken")
        .await
        .unwrap();
    let next = next_event(&mut inbox).await;
    let Some(pb::inbox_event::Event::Withdrawal(w)) = next.event else {
        panic!("expected a withdrawal, got {next:?}");
    };
    assert_eq!(w.message_id, sent.message_id);
    assert!(w.reason.contains("delete what you hold"), "{}", w.reason);

    let ack = jgt.ack(&sent.message_id).await.unwrap();
    assert_eq!(ack.outcome, pb::AckOutcome::Withdrawn as i32);
    assert!(
        ack.detail.contains("delete what you hold"),
        "{}",
        ack.detail
    );
    assert_eq!(ack.receipt.unwrap().status, R::Withdrawn as i32);

    // A reply to the withdrawn request cannot travel under its consent.
    let reply = fixtures::reply("a", &gw.oin(org::SWV), &sent.message_id);
    let m = refusal(jgt.send(reply).await, Code::FailedPrecondition);
    assert!(m.contains("revoked"), "{m}");
    drop((swv, jgt, inbox));
    gw.stop().await;

    // The audit log records the withdrawal and the recipient's notice of it.
    let entries = gw.audit_entries().await;
    let actions: Vec<_> = about(&entries, &sent.message_id)
        .iter()
        .map(|e| (e.action, e.actor.to_string()))
        .collect();
    assert!(
        actions.contains(&(Action::Withdrawn, gw.oin(org::SWV))),
        "{actions:?}"
    );
    assert!(
        actions.contains(&(Action::Withdrawn, gw.oin(org::JGT))),
        "{actions:?}"
    );
    assert!(entries.iter().any(|e| e.action == Action::ConsentRevoked
        && e.detail == "text of 23 characters given, not kept in the log"));
}

/// Sends a consultation from the SWV under a consent that lapses in two
/// seconds; the message id and the SWV's client.
async fn under_a_brief_consent(gw: &TestGateway) -> (String, schakel_client::Client) {
    let swv = gw.client(org::SWV).await;
    let mut brief = consent_grant(BSN[2]);
    brief.valid_until = Some(fixtures::in_seconds(2.0));
    let consent = swv.grant_consent(brief).await.unwrap().consent_id;
    let sent = gw
        .send(
            org::SWV,
            fixtures::consult("q", &gw.oin(org::JGT), &consent),
        )
        .await;
    (sent.message_id, swv)
}

#[tokio::test]
async fn a_consent_that_lapses_before_delivery_is_checked_again_at_delivery() {
    // The sweeper is slowed down so that only the delivery-time check acts.
    let gw = TestGateway::start_with(|_, c| c.exchange.sweep_interval_ms = 3_600_000).await;
    let (sent, swv) = under_a_brief_consent(&gw).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(gw.inbox(org::JGT).await.is_empty());
    let status = swv.status(&sent).await.unwrap();
    assert_eq!(status.status, R::Withdrawn as i32);
    let detail = &status.receipts.last().unwrap().detail;
    assert!(detail.contains("checked at delivery"), "{detail}");
}

#[tokio::test]
async fn a_lapsed_consent_withdraws_its_messages_without_anyone_pulling() {
    let gw = TestGateway::start_with(|_, c| c.exchange.sweep_interval_ms = 50).await;
    let (sent, swv) = under_a_brief_consent(&gw).await;
    let mut receipts = swv.receipts(0, true).await.unwrap();
    let seen = next_receipts(&mut receipts, 2).await;
    assert_eq!(statuses(&seen), [R::Accepted, R::Withdrawn]);
    assert_eq!(seen[1].message_id, sent);
    assert!(seen[1].detail.contains("lapsed"), "{}", seen[1].detail);
}

#[tokio::test]
async fn no_bsn_is_stored_in_clear_anywhere_in_the_data_folder() {
    schakel_tests::sled_only!("the sled store's files are searched");
    let mut gw = TestGateway::start_with(|_, c| c.exchange.retention_secs = 3600).await;
    let school = gw.client(org::SCHOOL_PO).await;
    let swv = gw.client(org::SWV).await;
    school
        .send(fixtures::signalering("s", &gw.oin(org::VERWIJSINDEX)))
        .await
        .unwrap();
    school
        .send(fixtures::dossier("d", &gw.oin(org::SCHOOL_VO)))
        .await
        .unwrap();
    let consent = granted(&swv).await;
    swv.send(fixtures::consult("c", &gw.oin(org::JGT), &consent))
        .await
        .unwrap();
    swv.list_consents(BSN[2], pb::ConsentStatus::Unspecified)
        .await
        .unwrap();
    let jgt = gw.client(org::JGT).await;
    for d in gw.inbox(org::JGT).await {
        jgt.ack(&d.envelope.unwrap().message_id).await.unwrap();
    }
    drop((school, swv, jgt));
    gw.stop().await;

    let found = schakel_tests::calls::files_below(&gw.config.storage.data_dir);
    assert!(found.len() >= 4, "{found:?}");
    for path in found {
        let bytes = std::fs::read(&path).unwrap();
        for needle in BSN
            .iter()
            .map(|b| b.as_bytes())
            .chain([b"Jansen".as_slice()])
        {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} holds {:?} in clear",
                path.display(),
                String::from_utf8_lossy(needle)
            );
        }
    }
}
