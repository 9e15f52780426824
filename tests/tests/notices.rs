//! What happens over days, tested by moving the gateway's clock: a consent
//! of the parents alone lapses at the child's 12th birthday with a notice
//! ahead, one of parents and child is to be reconfirmed at 16, a message not
//! acknowledged within three working days is overdue, and a consent revoked
//! by a recipient reaches its registrant. Notices come from the reserved
//! gateway OIN, are leased and acknowledged like messages, and have no
//! receipts.

use std::time::Duration;

use schakel_client::Client;
use schakel_client::proto as pb;
use schakel_tests::calls::{audit_of, envelope, payload, statuses};
use schakel_tests::fixtures::{self, BSN};
use schakel_tests::{TestGateway, org, refusal};
use tonic::Code;

const GATEWAY_OIN: &str = "00000000000000000000";

async fn gateway() -> TestGateway {
    TestGateway::start_with(|_, c| c.exchange.sweep_interval_ms = 50).await
}

/// The next notice of type `t` in `client`'s inbox, acknowledged (with
/// any other notice before it); it must come within ten seconds.
async fn notice_of(client: &Client, t: pb::NoticeType) -> (pb::Envelope, pb::Notice) {
    loop {
        let got = schakel_tests::pull_until(client, 1).await;
        let env = envelope(&got[0]).clone();
        assert_eq!(env.kind, pb::MessageKind::Notice as i32);
        assert_eq!(env.sender_oin, GATEWAY_OIN);
        let Some(pb::payload::Body::Notice(n)) = payload(&got[0]).body.clone() else {
            panic!("a notice's body");
        };
        let ack = client.ack(&env.message_id).await.unwrap();
        assert_eq!(ack.outcome, pb::AckOutcome::Delivered as i32);
        assert!(ack.receipt.is_none(), "a notice has no receipts");
        if n.r#type == t as i32 {
            return (env, n);
        }
    }
}

fn days(n: i64) -> time::Duration {
    time::Duration::days(n)
}

#[tokio::test]
async fn a_consent_of_the_parents_alone_lapses_at_twelve_with_a_notice_ahead() {
    let gw = gateway().await;
    let swv = gw.client(org::SWV).await;
    let (birth, twelfth) = fixtures::born_turning(12, 40);
    let mut grant = fixtures::consent_grant(BSN[2]);
    grant.birth_date = birth;
    let c = swv.grant_consent(grant).await.unwrap();
    assert_eq!(c.lapses_on, twelfth);
    assert!(c.lapse_reason.contains("turns 12"), "{}", c.lapse_reason);
    let queued = swv
        .send(fixtures::lasting_consult(
            "voor-12",
            &gw.oin(org::JGT),
            &c.consent_id,
        ))
        .await
        .unwrap();
    assert!(
        swv.pull(10, Duration::ZERO, Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );

    // Thirty days ahead (the default) the registrant is told.
    gw.clock.advance(days(11));
    let (env, notice) = notice_of(&swv, pb::NoticeType::ConsentLapsing).await;
    assert_eq!(
        (notice.consent_id.as_str(), notice.due_on.as_str()),
        (c.consent_id.as_str(), twelfth.as_str())
    );
    assert!(notice.text.contains("turns 12"), "{}", notice.text);
    let operator = gw.client(org::OPERATOR).await;
    let sent: Vec<_> = audit_of(&operator, &[pb::AuditAction::NoticeSent])
        .await
        .into_iter()
        .filter(|e| e.message_id == env.message_id)
        .collect();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].detail.starts_with("consent_lapsing: consent"),
        "{}",
        sent[0].detail
    );
    assert_eq!(
        (sent[0].actor_oin.as_str(), sent[0].message_id.as_str()),
        ("gateway", env.message_id.as_str())
    );
    assert_eq!(sent[0].counterpart_oin, gw.oin(org::SWV));

    // From the birthday on the consent covers nothing: the queued message
    // is withdrawn, and a new one is refused with the reason.
    gw.clock.advance(days(31));
    let listed = swv
        .list_consents(BSN[2], pb::ConsentStatus::Unspecified)
        .await
        .unwrap();
    assert_eq!(listed[0].status, pb::ConsentStatus::Lapsed as i32);
    let withdrawn = schakel_tests::calls::eventually("the withdrawal", || async {
        let s = swv.status(&queued.message_id).await.unwrap();
        (s.status == pb::ReceiptStatus::Withdrawn as i32).then_some(s)
    })
    .await;
    assert_eq!(
        statuses(&withdrawn.receipts),
        [pb::ReceiptStatus::Accepted, pb::ReceiptStatus::Withdrawn]
    );
    let m = refusal(
        swv.send(fixtures::lasting_consult(
            "na-12",
            &gw.oin(org::JGT),
            &c.consent_id,
        ))
        .await,
        Code::FailedPrecondition,
    );
    assert!(
        m.contains(&format!("lapsed on {twelfth}: the child turns 12")),
        "{m}"
    );
    // A new consent must be given by parents and child now.
    let mut again = fixtures::consent_grant(BSN[2]);
    again.birth_date = fixtures::born_turning(12, 40).0;
    let m = refusal(swv.grant_consent(again).await, Code::InvalidArgument);
    assert!(m.contains("consents as parents_and_child"), "{m}");
}

#[tokio::test]
async fn a_consent_of_parents_and_child_is_to_be_reconfirmed_at_sixteen() {
    let gw = gateway().await;
    let swv = gw.client(org::SWV).await;
    let (birth, sixteenth) = fixtures::born_turning(16, 35);
    let mut grant = fixtures::consent_grant(BSN[2]);
    grant.birth_date = birth;
    grant.given_by = pb::ConsentGiver::ParentsAndChild as i32;
    let c = swv.grant_consent(grant).await.unwrap();
    assert_eq!(
        (c.reconfirm_on.as_str(), c.lapses_on.as_str()),
        (sixteenth.as_str(), "")
    );
    gw.clock.advance(days(6));
    let (_, notice) = notice_of(&swv, pb::NoticeType::ConsentReconfirm).await;
    assert_eq!(notice.due_on, sixteenth);
    assert!(
        notice.text.contains("given_by young_person"),
        "{}",
        notice.text
    );
    // By default the consent stays in force past the birthday.
    gw.clock.advance(days(31));
    swv.send(fixtures::lasting_consult(
        "na-16",
        &gw.oin(org::JGT),
        &c.consent_id,
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn a_message_not_acknowledged_in_three_working_days_is_overdue() {
    let gw = gateway().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let index = gw.client(org::VERWIJSINDEX).await;
    let to = gw.oin(org::VERWIJSINDEX);
    let waiting = school
        .send(fixtures::signalering("wacht", &to))
        .await
        .unwrap();
    let answered = school
        .send(fixtures::signalering("klaar", &to))
        .await
        .unwrap();
    schakel_tests::pull_until(&index, 2).await;
    index.ack(&answered.message_id).await.unwrap();
    let status = school.status(&waiting.message_id).await.unwrap();
    assert!(!status.overdue && status.due_at.is_some());

    // Three working days always end within five calendar days and a night.
    gw.clock.advance(days(6));
    let (_, notice) = notice_of(&school, pb::NoticeType::MessageOverdue).await;
    assert_eq!(
        notice.message_ids,
        std::slice::from_ref(&waiting.message_id)
    );
    let status = school.status(&waiting.message_id).await.unwrap();
    assert!(status.overdue, "{status:?}");
    assert!(!school.status(&answered.message_id).await.unwrap().overdue);
}

#[tokio::test]
async fn a_recipient_revokes_a_consent_when_the_parents_tell_it() {
    let gw = gateway().await;
    let swv = gw.client(org::SWV).await;
    let jgt = gw.client(org::JGT).await;
    let consent = fixtures::granted(&swv).await;
    let first = schakel_tests::calls::deliver(
        &swv,
        &jgt,
        fixtures::lasting_consult("q1", &gw.oin(org::JGT), &consent),
    )
    .await;
    assert!(first.ack.receipt.is_some());
    let queued = swv
        .send(fixtures::lasting_consult("q2", &gw.oin(org::JGT), &consent))
        .await
        .unwrap();
    // An organisation that received nothing under it cannot revoke it.
    let gemeente = gw.client(org::GEMEENTE).await;
    let m = refusal(
        gemeente.revoke_consent(&consent, "gehoord").await,
        Code::PermissionDenied,
    );
    assert!(
        m.contains("or an organisation that received messages under it"),
        "{m}"
    );

    let revoked = jgt
        .revoke_consent(&consent, "ouders trekken toestemming in bij het wijkteam")
        .await
        .unwrap();
    assert_eq!(revoked.status, pb::ConsentStatus::Revoked as i32);
    assert_eq!(revoked.revoked_by_oin, gw.oin(org::JGT));
    let status = swv.status(&queued.message_id).await.unwrap();
    assert_eq!(status.status, pb::ReceiptStatus::Withdrawn as i32);
    // The registrant is told, by whom and why.
    let (_, notice) = notice_of(&swv, pb::NoticeType::ConsentRevoked).await;
    assert_eq!(notice.revoked_by_oin, gw.oin(org::JGT));
    assert!(
        notice.text.contains("ouders trekken toestemming in"),
        "{}",
        notice.text
    );
    let operator = gw.client(org::OPERATOR).await;
    let entries = audit_of(&operator, &[pb::AuditAction::ConsentRevoked]).await;
    assert_eq!(
        (
            entries[0].actor_oin.as_str(),
            entries[0].counterpart_oin.as_str()
        ),
        (gw.oin(org::JGT).as_str(), gw.oin(org::SWV).as_str())
    );
}

/// Withdrawal reaches those who hold the data (AVG art. 19): when the
/// registrant revokes a consent, each organisation that received messages
/// under it gets a notice naming them, recorded in the audit; the reason
/// the registrant typed stays out of it.
#[tokio::test]
async fn a_revocation_reaches_every_organisation_that_received_messages_under_it() {
    let gw = gateway().await;
    let swv = gw.client(org::SWV).await;
    let jgt = gw.client(org::JGT).await;
    let consent = fixtures::granted(&swv).await;
    let to = gw.oin(org::JGT);
    let mut held = Vec::new();
    for r in ["h1", "h2"] {
        let got =
            schakel_tests::calls::deliver(&swv, &jgt, fixtures::lasting_consult(r, &to, &consent))
                .await;
        held.push(got.sent.message_id);
    }
    swv.revoke_consent(&consent, "ouders MARK trekken in")
        .await
        .unwrap();
    let (env, notice) = notice_of(&jgt, pb::NoticeType::ConsentRevoked).await;
    assert_eq!(notice.consent_id, consent);
    assert_eq!(notice.message_ids, held);
    assert_eq!(notice.revoked_by_oin, gw.oin(org::SWV));
    assert!(
        notice.text.contains("AVG art. 17 and 19"),
        "{}",
        notice.text
    );
    assert!(!notice.text.contains("MARK"), "{}", notice.text);
    let operator = gw.client(org::OPERATOR).await;
    let sent = audit_of(&operator, &[pb::AuditAction::NoticeSent]).await;
    assert!(
        sent.iter()
            .any(|e| e.message_id == env.message_id && e.detail.contains("consent_revoked")),
        "{sent:?}"
    );
    // The registrant, who revoked it, is told nothing it knows.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(gw.inbox(org::SWV).await.is_empty());
}
