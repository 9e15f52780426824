//! Retention as the domain asks, tested by moving the gateway's clock: a
//! payload is destroyed a day after delivery by default, a signal's content
//! at its lapse (and it is never delivered after it); the audit log keeps a
//! child reference five years (from a signal's lapse for a signal), then
//! erases it while the chain still verifies; whole entries go only when the
//! operator asks, and the chain then verifies from the oldest kept entry.

use schakel_client::proto as pb;
use schakel_tests::calls::{
    audit_about, audit_of, audit_query, deliver, eventually, export_lines, gateway_keys,
    log_intact, send_signals, verify_lines,
};
use schakel_tests::fixtures::{self, BSN};
use schakel_tests::{TestGateway, org};

fn days(n: i64) -> time::Duration {
    time::Duration::days(n)
}

async fn gateway(adjust: impl FnOnce(&mut schakel_gateway::Config)) -> TestGateway {
    TestGateway::start_with(|_, c| {
        c.exchange.sweep_interval_ms = 50;
        adjust(c);
    })
    .await
}

/// Whether the payload of `id` was destroyed, and with which detail.
async fn purge_of(operator: &schakel_client::Client, id: &str) -> Option<String> {
    audit_about(operator, id)
        .await
        .into_iter()
        .find(|e| e.action == pb::AuditAction::Purged as i32)
        .map(|e| e.detail)
}

#[tokio::test]
async fn a_payload_is_destroyed_a_day_after_delivery_by_default() {
    let gw = gateway(|_| {}).await;
    let school = gw.client(org::SCHOOL_PO).await;
    let vo = gw.client(org::SCHOOL_VO).await;
    let operator = gw.client(org::OPERATOR).await;
    let sent = deliver(
        &school,
        &vo,
        fixtures::dossier("d", &gw.oin(org::SCHOOL_VO)),
    )
    .await
    .sent;
    gw.clock.advance(time::Duration::hours(23));
    // A sweep runs every 50 ms: give it a few rounds.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(purge_of(&operator, &sent.message_id).await, None);
    gw.clock.advance(time::Duration::hours(2));
    let detail = eventually("the purge", || async {
        purge_of(&operator, &sent.message_id).await
    })
    .await;
    assert_eq!(detail, "payload destroyed after its retention period");
}

#[tokio::test]
async fn a_signal_is_not_delivered_after_it_lapses_and_its_content_goes_with_it() {
    // A long retention, so that only the lapse can destroy a payload.
    let gw = gateway(|c| c.exchange.retention_secs = 30 * 86_400).await;
    let school = gw.client(org::SCHOOL_PO).await;
    let index = gw.client(org::VERWIJSINDEX).await;
    let operator = gw.client(org::OPERATOR).await;
    let short = |reference: &str| {
        let mut r = fixtures::signalering(reference, &gw.oin(org::VERWIJSINDEX));
        fixtures::signal(&mut r, |b| b.valid_until = fixtures::date(1));
        r
    };
    let delivered = deliver(&school, &index, short("gelezen")).await.sent;
    let waiting = school.send(short("ongelezen")).await.unwrap();
    // It expires at its lapse, not at the 30 days a message gets by default.
    let status = school.status(&waiting.message_id).await.unwrap();
    assert!(status.due_at.is_some());
    gw.clock.advance(days(3));
    let expired = eventually("the expiry at the lapse", || async {
        let s = school.status(&waiting.message_id).await.unwrap();
        (s.status == pb::ReceiptStatus::Expired as i32).then_some(s)
    })
    .await;
    assert_eq!(expired.receipts.len(), 2);
    assert!(
        index
            .pull(10, std::time::Duration::ZERO, std::time::Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    for id in [&delivered.message_id, &waiting.message_id] {
        let detail = eventually("the purge at the lapse", || async {
            purge_of(&operator, id).await
        })
        .await;
        assert_eq!(detail, "payload destroyed: the signal lapsed");
    }
}

#[tokio::test]
async fn child_references_are_erased_after_five_years_and_the_chain_still_verifies() {
    let gw = gateway(|_| {}).await;
    let school = gw.client(org::SCHOOL_PO).await;
    let operator = gw.client(org::OPERATOR).await;
    let key = gateway_keys(&operator).await;
    // A signal (about BSN[0], valid a year) and a dossier (about BSN[1]).
    school
        .send(fixtures::signalering("s", &gw.oin(org::VERWIJSINDEX)))
        .await
        .unwrap();
    school
        .send(fixtures::dossier("d", &gw.oin(org::SCHOOL_VO)))
        .await
        .unwrap();
    let about = |bsn: &str| {
        let operator = operator.clone();
        let bsn = bsn.to_owned();
        async move {
            audit_query(
                &operator,
                pb::AuditQueryRequest {
                    child_bsn: bsn,
                    actions: vec![pb::AuditAction::SendAccepted as i32],
                    ..Default::default()
                },
            )
            .await
        }
    };
    assert_eq!(about(BSN[1]).await.len(), 1);

    // Five years and a day: the dossier's reference goes; the signal's
    // stays until five years after it lapsed.
    gw.clock.advance(days(1827));
    eventually("the erasure", || async {
        about(BSN[1]).await.is_empty().then_some(())
    })
    .await;
    assert_eq!(about(BSN[0]).await.len(), 1);
    let erasures = audit_of(&operator, &[pb::AuditAction::ChildRefsErased]).await;
    assert!(!erasures.is_empty());
    log_intact(&operator).await;
    assert!(verify_lines(&export_lines(&operator).await, &key).ok());

    gw.clock.advance(days(366));
    eventually("the signal's erasure", || async {
        about(BSN[0]).await.is_empty().then_some(())
    })
    .await;
    // The entries are all still there, their chain intact.
    let all = audit_query(&operator, pb::AuditQueryRequest::default()).await;
    assert_eq!(all[0].sequence, 1);
    assert!(
        all.iter()
            .filter(|e| e.action == pb::AuditAction::SendAccepted as i32)
            .all(|e| e.child_ref.is_empty())
    );
    let verdict = verify_lines(&export_lines(&operator).await, &key);
    assert!(verdict.ok(), "{}", verdict.problem);
}

#[tokio::test]
async fn whole_entries_go_only_when_asked_and_the_rest_still_verifies() {
    let gw = gateway(|c| c.audit.keep_entries_days = 2556).await;
    let school = gw.client(org::SCHOOL_PO).await;
    send_signals(&school, &gw.oin(org::VERWIJSINDEX), "p", 3).await;
    let operator = gw.client(org::OPERATOR).await;
    gw.clock.advance(days(2557));
    // The upkeep runs every second; wait until it has removed the old entries.
    eventually("the removal of old entries", || async {
        let remaining = audit_query(&operator, pb::AuditQueryRequest::default()).await;
        remaining.first().filter(|e| e.sequence > 1).map(|_| ())
    })
    .await;
    log_intact(&operator).await;
    let key = gateway_keys(&operator).await;
    assert!(verify_lines(&export_lines(&operator).await, &key).ok());

    // After a restart (keeping entries again) the store finds where the
    // kept chain begins and ends from the entries themselves, and the chain
    // goes on from its head. (Seven years on, the signals' child is grown:
    // a dossier it is.)
    drop((school, operator));
    let mut gw = gw;
    gw.config.audit.keep_entries_days = 0;
    let gw = gw.restart().await;
    gw.send(
        org::SCHOOL_PO,
        fixtures::dossier("na-herstart", &gw.oin(org::SCHOOL_VO)),
    )
    .await;
    let operator = gw.client(org::OPERATOR).await;
    log_intact(&operator).await;
    assert!(verify_lines(&export_lines(&operator).await, &key).ok());
}
