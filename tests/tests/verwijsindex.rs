//! The Verwijsindex loop (Jeugdwet ch. 7.1), over the wire: the index tells
//! the signallers of a match of each other (who, and how to reach them,
//! never why), only for two signals in force about the same youth; a
//! signaller withdraws or extends its own signal and nobody else's; a
//! postponed informing has a reason code and a day, and the signaller is
//! told when that day passed without the family informed. On the real store
//! (sled, or PostgreSQL when SCHAKEL_TEST_STORE=postgres), with the gateway's
//! clock moved where time matters.

use schakel_client::Client;
use schakel_client::proto as pb;
use schakel_proto::examples;
use schakel_tests::calls::{
    audit_about, deliver, envelope, eventually, payload, pull_until, statuses,
};
use schakel_tests::fixtures::{self, BSN};
use schakel_tests::{TestGateway, org, refusal};
use tonic::Code;

fn days(n: i64) -> time::Duration {
    time::Duration::days(n)
}

/// A signal about `bsn` to the index, valid for `valid_days`.
fn signal(gw: &TestGateway, reference: &str, bsn: &str, valid_days: i64) -> pb::SendRequest {
    let mut r = fixtures::signalering(reference, &gw.oin(org::VERWIJSINDEX));
    fixtures::signal(&mut r, |s| {
        s.bsn = bsn.into();
        s.valid_until = fixtures::date(valid_days);
    });
    r
}

/// `signal` sent by `from` and delivered to the index; its message id.
async fn registered(from: &Client, index: &Client, request: pb::SendRequest) -> String {
    deliver(from, index, request).await.sent.message_id
}

/// A change of `signal_id` to the index.
fn change(
    gw: &TestGateway,
    reference: &str,
    signal_id: &str,
    edit: impl FnOnce(&mut pb::SignalChange),
) -> pb::SendRequest {
    let mut r = examples::signal_change(reference, &gw.oin(org::VERWIJSINDEX), signal_id);
    examples::edit_payload(&mut r, |p| match p.body.as_mut() {
        Some(pb::payload::Body::SignalChange(c)) => edit(c),
        _ => unreachable!("a signal change"),
    });
    r
}

/// The index's match notice to `to`: `signal` is theirs, `other` is
/// `other_org`'s.
fn matched(
    gw: &TestGateway,
    reference: &str,
    to: &str,
    (signal, other): (&str, &str),
    other_org: &str,
) -> pb::SendRequest {
    examples::match_notice(reference, &gw.oin(to), (signal, other), &gw.oin(other_org))
}

#[tokio::test]
async fn the_index_tells_two_signallers_of_the_same_youth_of_each_other_and_no_one_else() {
    let gw = TestGateway::start().await;
    let (school, jgt) = (gw.client(org::SCHOOL_PO).await, gw.client(org::JGT).await);
    let gemeente = gw.client(org::GEMEENTE).await;
    let index = gw.client(org::VERWIJSINDEX).await;
    let s1 = registered(&school, &index, signal(&gw, "s1", BSN[0], 365)).await;
    let s2 = registered(&jgt, &index, signal(&gw, "s2", BSN[0], 365)).await;
    let other_child = registered(&gemeente, &index, signal(&gw, "s3", BSN[1], 365)).await;

    // The school learns who else signalled, and how to reach them.
    let notice = matched(&gw, "m1", org::SCHOOL_PO, (&s1, &s2), org::JGT);
    let got = deliver(&index, &school, notice).await;
    let env = envelope(&got.delivery);
    assert_eq!(env.kind, pb::MessageKind::Matchmelding as i32);
    assert_eq!(env.sender_oin, gw.oin(org::VERWIJSINDEX));
    let Some(pb::payload::Body::MatchNotice(m)) = payload(&got.delivery).body else {
        panic!("a match notice's body");
    };
    assert_eq!(
        (m.signal_id.as_str(), m.other_signaller_oin.as_str()),
        (s1.as_str(), gw.oin(org::JGT).as_str())
    );
    assert!(m.other_contact.is_some());
    let trail = audit_about(&gw.client(org::OPERATOR).await, &got.sent.message_id).await;
    assert!(
        trail[0].detail.contains("a match of the Verwijsindex"),
        "{}",
        trail[0].detail
    );
    // And the JGT of the school: each notice is checked on its own. Sent
    // again, it is the same message, not a second one.
    let back = matched(&gw, "m2", org::JGT, (&s2, &s1), org::SCHOOL_PO);
    let first = deliver(&index, &jgt, back.clone()).await.sent;
    let again = index.send(back).await.unwrap();
    assert!(again.duplicate && again.message_id == first.message_id);

    // Only the index sends one.
    let forged = matched(&gw, "m3", org::JGT, (&s2, &s1), org::SCHOOL_PO);
    let m = refusal(school.send(forged).await, Code::PermissionDenied);
    assert!(
        m.contains("a matchmelding is sent by the Verwijsindex only"),
        "{m}"
    );
    // Not to an organisation that did not send the first signal, nor naming
    // a signaller that did not send the second: as if there were none.
    let wrong_recipient = matched(&gw, "m4", org::GEMEENTE, (&s1, &s2), org::JGT);
    let m = refusal(index.send(wrong_recipient).await, Code::NotFound);
    assert!(m.starts_with("payload.match_notice.signal_id"), "{m}");
    let wrong_other = matched(&gw, "m5", org::SCHOOL_PO, (&s1, &s2), org::GEMEENTE);
    let m = refusal(index.send(wrong_other).await, Code::NotFound);
    assert!(m.starts_with("payload.match_notice.other_signal_id"), "{m}");
    // Two signals about different youths are no match: telling would say
    // that the gemeente is involved with the school's pupil.
    let no_match = matched(
        &gw,
        "m6",
        org::SCHOOL_PO,
        (&s1, &other_child),
        org::GEMEENTE,
    );
    let m = refusal(index.send(no_match).await, Code::FailedPrecondition);
    assert!(m.contains("not about the same youth"), "{m}");
    // The index knows only the signals it was handed.
    let waiting = gemeente
        .send(signal(&gw, "s4", BSN[0], 365))
        .await
        .unwrap()
        .message_id;
    let early = matched(&gw, "m8", org::SCHOOL_PO, (&s1, &waiting), org::GEMEENTE);
    let m = refusal(index.send(early).await, Code::FailedPrecondition);
    assert!(m.contains("has not reached the Verwijsindex yet"), "{m}");
    // No content: a match notice carries no attachments, and no consent.
    let mut with_file = matched(&gw, "m7", org::SCHOOL_PO, (&s1, &s2), org::JGT);
    examples::edit_payload(&mut with_file, |p| {
        p.attachments.push(examples::attachment(
            "brief.pdf",
            "application/pdf",
            vec![1; 8],
        ))
    });
    let m = refusal(index.send(with_file).await, Code::InvalidArgument);
    assert!(m.starts_with("payload.attachments"), "{m}");
    // Nothing refused reached the school.
    assert!(
        school
            .pull(10, Default::default(), Default::default())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_signaller_withdraws_or_extends_its_own_signal_and_no_one_elses() {
    let gw = TestGateway::start_with(|_, c| c.exchange.sweep_interval_ms = 50).await;
    let (school, jgt) = (gw.client(org::SCHOOL_PO).await, gw.client(org::JGT).await);
    let gemeente = gw.client(org::GEMEENTE).await;
    let index = gw.client(org::VERWIJSINDEX).await;
    let s1 = registered(&school, &index, signal(&gw, "s1", BSN[0], 365)).await;
    let s2 = registered(&jgt, &index, signal(&gw, "s2", BSN[0], 700)).await;
    let short = registered(&gemeente, &index, signal(&gw, "s3", BSN[0], 365)).await;

    // Another organisation cannot touch the school's signal.
    let m = refusal(
        jgt.send(change(&gw, "c0", &s1, |_| {})).await,
        Code::NotFound,
    );
    assert!(
        m.starts_with("payload.signal_change.signal_id: you sent no signal"),
        "{m}"
    );
    // An extension goes at most two years ahead, and later than now.
    let too_far = change(&gw, "c1", &s1, |c| {
        c.r#type = pb::SignalChangeType::Extend as i32;
        c.valid_until = fixtures::date(800);
    });
    let m = refusal(school.send(too_far).await, Code::InvalidArgument);
    assert!(m.starts_with("payload.signal_change.valid_until"), "{m}");
    let earlier = change(&gw, "c2", &s1, |c| {
        c.r#type = pb::SignalChangeType::Extend as i32;
        c.valid_until = fixtures::date(100);
    });
    let m = refusal(school.send(earlier).await, Code::FailedPrecondition);
    assert!(
        m.contains("later than the signal's current valid_until"),
        "{m}"
    );
    let extend = change(&gw, "c3", &s1, |c| {
        c.r#type = pb::SignalChangeType::Extend as i32;
        c.valid_until = fixtures::date(700);
    });
    let got = deliver(&school, &index, extend).await;
    let Some(pb::payload::Body::SignalChange(c)) = payload(&got.delivery).body else {
        panic!("the index receives the change");
    };
    assert_eq!(c.signal_id, s1);
    let operator = gw.client(org::OPERATOR).await;
    let trail = audit_about(&operator, &s1).await;
    let changed = trail
        .iter()
        .find(|e| e.action == pb::AuditAction::SignalChanged as i32)
        .expect("the signal's own trail records the change");
    assert!(
        changed.detail.contains("extended by its signaller"),
        "{}",
        changed.detail
    );

    // A year on, the school's extended signal still matches; the gemeente's
    // lapsed with its year.
    gw.clock.advance(days(400));
    let notice = matched(&gw, "m1", org::SCHOOL_PO, (&s1, &s2), org::JGT);
    index.send(notice).await.unwrap();
    let lapsed = matched(&gw, "m2", org::GEMEENTE, (&short, &s2), org::JGT);
    let m = refusal(index.send(lapsed).await, Code::FailedPrecondition);
    assert!(m.contains("has lapsed"), "{m}");

    // Withdrawn, the signal matches no more and takes no further change;
    // the withdrawal sent again is answered as sent.
    let withdraw = change(&gw, "c4", &s1, |_| {});
    let first = school.send(withdraw.clone()).await.unwrap();
    let again = school.send(withdraw).await.unwrap();
    assert!(again.duplicate && again.message_id == first.message_id);
    let after = matched(&gw, "m3", org::JGT, (&s2, &s1), org::SCHOOL_PO);
    let m = refusal(index.send(after).await, Code::FailedPrecondition);
    assert!(m.contains("was withdrawn by its signaller"), "{m}");
    let again = change(&gw, "c5", &s1, |c| {
        c.r#type = pb::SignalChangeType::Extend as i32;
        c.valid_until = fixtures::date(720);
    });
    let m = refusal(school.send(again).await, Code::FailedPrecondition);
    assert!(m.contains("was withdrawn"), "{m}");
}

#[tokio::test]
async fn a_signal_withdrawn_before_delivery_never_reaches_the_index() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let index = gw.client(org::VERWIJSINDEX).await;
    let sent = school.send(signal(&gw, "s1", BSN[0], 365)).await.unwrap();
    let withdraw = change(&gw, "c1", &sent.message_id, |_| {});
    let withdrawal = school.send(withdraw).await.unwrap();
    // The index gets the withdrawal, and not the signal.
    let got = pull_until(&index, 1).await;
    assert_eq!(envelope(&got[0]).message_id, withdrawal.message_id);
    let status = school.status(&sent.message_id).await.unwrap();
    assert_eq!(
        statuses(&status.receipts),
        [pb::ReceiptStatus::Accepted, pb::ReceiptStatus::Withdrawn]
    );
    let more = index
        .pull(10, Default::default(), Default::default())
        .await
        .unwrap();
    assert!(more.is_empty(), "{more:?}");
}

#[tokio::test]
async fn a_postponed_informing_names_its_reason_and_day_and_its_signaller_is_told_when_it_passed() {
    let gw = TestGateway::start_with(|_, c| c.exchange.sweep_interval_ms = 50).await;
    let school = gw.client(org::SCHOOL_PO).await;
    let index = gw.client(org::VERWIJSINDEX).await;
    let postponed = |reference: &str, code: pb::PostponementReason, by: i64| {
        let mut r = signal(&gw, reference, BSN[0], 365);
        fixtures::signal(&mut r, |s| {
            s.parents_informed = false;
            s.informing_postponed_reason = "ouders nog niet bereikbaar".into();
            s.informing_postponed_code = code as i32;
            s.inform_by = fixtures::date(by);
        });
        r
    };
    let m = refusal(
        school
            .send(postponed("p0", pb::PostponementReason::Unspecified, 10))
            .await,
        Code::InvalidArgument,
    );
    assert!(
        m.starts_with("payload.signalering.informing_postponed_code"),
        "{m}"
    );
    let m = refusal(
        school
            .send(postponed("p1", pb::PostponementReason::Unreachable, 400))
            .await,
        Code::InvalidArgument,
    );
    assert!(m.starts_with("payload.signalering.inform_by"), "{m}");
    let open = registered(
        &school,
        &index,
        postponed("p2", pb::PostponementReason::Unreachable, 10),
    )
    .await;
    let done = registered(
        &school,
        &index,
        postponed("p3", pb::PostponementReason::AgainstChildInterest, 10),
    )
    .await;
    let informed = change(&gw, "c1", &done, |c| {
        c.r#type = pb::SignalChangeType::Informed as i32;
        c.parents_informed = true;
    });
    deliver(&school, &index, informed).await;
    let twice = change(&gw, "c2", &done, |c| {
        c.r#type = pb::SignalChangeType::Informed as i32;
        c.parents_informed = true;
    });
    let m = refusal(school.send(twice).await, Code::FailedPrecondition);
    assert!(m.contains("no postponed informing to end"), "{m}");

    // Past the day, the school hears of the one it did not inform, and of
    // that one only.
    gw.clock.advance(days(11));
    let notices = eventually("the informing notice", || informing_due(&school)).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let later = informing_due(&school).await;
    assert!(later.is_none(), "{later:?}");
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0].message_ids, std::slice::from_ref(&open));
    assert_eq!(notices[0].due_on, fixtures::date(10));
    assert!(
        notices[0].text.contains("Inform them now"),
        "{}",
        notices[0].text
    );
}

/// The INFORMING_DUE notices in `client`'s inbox now, everything in it
/// acknowledged; None if there are none.
async fn informing_due(client: &Client) -> Option<Vec<pb::Notice>> {
    let got = client
        .pull(10, Default::default(), Default::default())
        .await
        .unwrap();
    let mut due = Vec::new();
    for d in &got {
        client.ack(&envelope(d).message_id).await.unwrap();
        if let Some(pb::payload::Body::Notice(n)) = payload(d).body
            && n.r#type == pb::NoticeType::InformingDue as i32
        {
            due.push(n);
        }
    }
    (!due.is_empty()).then_some(due)
}

/// The signals the school sent in a folder of an earlier release, by
/// client reference: found in the audit trail, as an operator would.
async fn earlier_signals(gw: &TestGateway) -> Vec<(String, String)> {
    let operator = gw.client(org::OPERATOR).await;
    let school = gw.client(org::SCHOOL_PO).await;
    let accepted = schakel_tests::calls::audit_query(
        &operator,
        pb::AuditQueryRequest {
            org_oin: gw.oin(org::SCHOOL_PO),
            actions: vec![pb::AuditAction::SendAccepted as i32],
            ..Default::default()
        },
    )
    .await;
    let mut out = Vec::new();
    for e in accepted
        .iter()
        .filter(|e| e.kind == pb::MessageKind::Signalering as i32)
    {
        let status = school.status(&e.message_id).await.unwrap();
        out.push((status.client_reference, e.message_id.clone()));
    }
    out
}

#[tokio::test]
async fn a_signal_the_previous_release_accepted_can_be_withdrawn_but_not_extended() {
    let into = schakel_tests::over_postgres()
        .then(|| schakel_tests::postgres_database("verwijsindex_format_4"))
        .flatten();
    let (_old, gw) = schakel_tests::upgrades::open_fixture("store-format-4.tar.gz", into).await;
    let school = gw.client(org::SCHOOL_PO).await;
    let signals = earlier_signals(&gw).await;
    assert_eq!(signals.len(), 2, "fx4-delivered and fx4-ready: {signals:?}");
    let (_, delivered) = signals
        .iter()
        .find(|(reference, _)| reference == "fx4-delivered")
        .expect("fx4-delivered");
    // It did not keep the youth's 23rd birthday: no extension, which could
    // pass it.
    let extend = change(&gw, "fx4-extend", delivered, |c| {
        c.r#type = pb::SignalChangeType::Extend as i32;
        c.valid_until = fixtures::date(400);
    });
    let m = refusal(school.send(extend).await, Code::FailedPrecondition);
    assert!(m.contains("send a new signal instead"), "{m}");
    // It still matches a signal about the same youth made since (its child
    // reference opened from its sealed record)...
    let jgt = gw.client(org::JGT).await;
    let since = jgt
        .send(signal(&gw, "fx4-jgt", BSN[0], 365))
        .await
        .unwrap()
        .message_id;
    let index = gw.client(org::VERWIJSINDEX).await;
    // The index's inbox holds fx4-ready from before, then the JGT's signal.
    let got = pull_until(&index, 2).await;
    assert!(got.iter().any(|d| envelope(d).message_id == since));
    let before = matched(&gw, "fx4-m1", org::SCHOOL_PO, (delivered, &since), org::JGT);
    index.send(before).await.unwrap();
    // ...and withdrawn, it is gone from matching.
    school
        .send(change(&gw, "fx4-withdraw", delivered, |_| {}))
        .await
        .unwrap();
    let after = matched(&gw, "fx4-m2", org::SCHOOL_PO, (delivered, &since), org::JGT);
    let m = refusal(index.send(after).await, Code::FailedPrecondition);
    assert!(m.contains("was withdrawn by its signaller"), "{m}");
}

#[tokio::test]
async fn a_withdrawal_reaches_the_index_stream_that_holds_the_signal_and_a_batch_carries_changes() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let index = gw.client(org::VERWIJSINDEX).await;
    let mut stream = index.subscribe(4, std::time::Duration::ZERO).await.unwrap();
    let sent = school.send(signal(&gw, "s1", BSN[0], 365)).await.unwrap();
    let first = schakel_tests::next_event(&mut stream).await;
    assert!(matches!(
        first.event,
        Some(pb::inbox_event::Event::Delivery(_))
    ));
    // In a batch, beside a new signal: each item on its own.
    let results = school
        .send_batch(vec![
            change(&gw, "c1", &sent.message_id, |_| {}),
            signal(&gw, "s2", BSN[1], 365),
        ])
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // The index, holding the signal leased, is told to delete it.
    let withdrawal = loop {
        let e = schakel_tests::next_event(&mut stream).await;
        if let Some(pb::inbox_event::Event::Withdrawal(w)) = e.event {
            break w;
        }
    };
    assert_eq!(withdrawal.message_id, sent.message_id);
    assert!(
        withdrawal.reason.contains("withdrawn by its signaller"),
        "{}",
        withdrawal.reason
    );
    let ack = index.ack(&sent.message_id).await.unwrap();
    assert_eq!(ack.outcome, pb::AckOutcome::Withdrawn as i32);
}
