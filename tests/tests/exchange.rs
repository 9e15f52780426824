//! The durable exchange over real mutual TLS: every kind sent and delivered,
//! refusals that cross the wire with their code and store nothing, idempotent
//! retries, leases, FIFO order, isolation between organisations, signed
//! receipts, restarts, retention and expiry. The rules themselves, field by
//! field, are unit-tested in the gateway (`policy/`).

use std::time::Duration;

use futures::StreamExt;
use schakel_client::proto as pb;
use schakel_client::{ClientError, verify_receipt};
use schakel_tests::calls::{deliver, gateway_keys, id_of, payload, statuses};
use schakel_tests::fixtures::{self, UNKNOWN_CONSENT_ID};
use schakel_tests::{TestGateway, code_of, next_event, next_receipts, org, refusal};
use tonic::Code;

use pb::ReceiptStatus as R;

#[tokio::test]
async fn every_kind_is_sent_delivered_and_acknowledged() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let school_vo = gw.client(org::SCHOOL_VO).await;
    let swv = gw.client(org::SWV).await;
    let jgt = gw.client(org::JGT).await;
    let index = gw.client(org::VERWIJSINDEX).await;

    // Signalering: school -> the Verwijsindex.
    let signal = fixtures::signalering("sig-1", &gw.oin(org::VERWIJSINDEX));
    let expected = fixtures::payload_of(&signal);
    let d = deliver(&school, &index, signal).await;
    assert!(!d.sent.duplicate);
    let receipt = d.sent.receipt.unwrap();
    assert_eq!(receipt.status, R::Accepted as i32);
    assert_eq!(receipt.recipient_oin, gw.oin(org::VERWIJSINDEX));
    assert_eq!(d.delivery.attempt, 1);
    let env = d.delivery.envelope.as_ref().unwrap();
    assert_eq!(env.sender_oin, gw.oin(org::SCHOOL_PO));
    assert_eq!(env.kind, pb::MessageKind::Signalering as i32);
    assert_eq!(env.payload_digest, receipt.payload_digest);
    assert_eq!(payload(&d.delivery), expected);
    assert_eq!(d.ack.outcome, pb::AckOutcome::Delivered as i32);
    assert_eq!(d.ack.receipt.unwrap().status, R::Delivered as i32);

    // Overdrachtsdossier with an attachment: PO school -> VO school.
    let dossier = fixtures::dossier("dos-1", &gw.oin(org::SCHOOL_VO));
    let d = deliver(&school, &school_vo, dossier).await;
    let dossier_id = d.sent.message_id.clone();
    let attachment = &payload(&d.delivery).attachments[0];
    assert_eq!(attachment.name, "dyslexieverklaring.pdf");
    assert_eq!(attachment.content, b"%PDF-1.4 voorbeeld");

    // Consultatieverzoek SWV -> JGT under the parents' consent, and the
    // JGT's reply back under the same basis.
    let consent = fixtures::granted(&swv).await;
    let request = fixtures::consult("req-1", &gw.oin(org::JGT), &consent);
    let d = deliver(&swv, &jgt, request).await;
    assert!(matches!(
        payload(&d.delivery).body,
        Some(pb::payload::Body::Consultatieverzoek(_))
    ));
    let request_id = d.sent.message_id;
    let answer = fixtures::reply("ans-1", &gw.oin(org::SWV), &request_id);
    let d = deliver(&jgt, &swv, answer).await;
    assert_eq!(d.delivery.envelope.unwrap().in_reply_to, request_id);

    // The sender sees both receipts, verified by the client library.
    let status = school.status(&dossier_id).await.unwrap();
    assert_eq!(status.status, R::Delivered as i32);
    assert_eq!(statuses(&status.receipts), [R::Accepted, R::Delivered]);
    assert!(status.receipts[1].audit_sequence > status.receipts[0].audit_sequence);
}

#[tokio::test]
async fn refusals_cross_the_wire_with_their_code_and_rule_and_store_nothing() {
    let gw = TestGateway::start_with(|_, c| {
        c.limits.max_message_bytes = 64 * 1024;
        c.limits.max_attachments = 2;
    })
    .await;
    let school = gw.client(org::SCHOOL_PO).await;
    let jgt = gw.oin(org::JGT);
    let vo = gw.oin(org::SCHOOL_VO);
    let mut bad_bsn = fixtures::signalering("ref", &jgt);
    fixtures::signal(&mut bad_bsn, |b| b.bsn = "111222334".into());
    let mut many = fixtures::dossier("ref", &vo);
    fixtures::edit_payload(&mut many, |p| {
        let a = p.attachments[0].clone();
        p.attachments = vec![a.clone(), a.clone(), a];
    });
    let mut large = fixtures::dossier("ref", &vo);
    fixtures::edit_payload(&mut large, |p| {
        p.attachments = vec![schakel_client::attachment(
            "groot.pdf",
            "application/pdf",
            vec![7; 100 * 1024],
        )]
    });
    let mut nobody = fixtures::signalering("ref", &jgt);
    nobody.recipient_oin = "00000099999999999999".into();
    let cases = [
        (
            bad_bsn,
            Code::InvalidArgument,
            "payload.signalering.bsn: must be a BSN of 9 digits that passes the elfproef",
        ),
        (
            many,
            Code::ResourceExhausted,
            "payload.attachments: 3 attachments; the limit is 2",
        ),
        (large, Code::ResourceExhausted, "the limit is 65536 bytes"),
        (nobody, Code::NotFound, "recipient_oin: no participant"),
    ];
    for (request, code, text) in cases {
        let message = refusal(school.send(request).await, code);
        assert!(
            message.contains(text),
            "{message:?} should contain {text:?}"
        );
    }
    // Nothing reached any inbox.
    let operator = gw.client(org::OPERATOR).await;
    assert!(operator.queue_stats().await.unwrap().inboxes.is_empty());
    assert!(gw.inbox(org::JGT).await.is_empty());
}

#[tokio::test]
async fn the_routing_policy_refuses_by_rule() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    // A signal does not go to another school.
    let to_school = fixtures::signalering("r1", &gw.oin(org::SCHOOL_VO));
    let message = refusal(school.send(to_school).await, Code::PermissionDenied);
    assert!(
        message.contains(
            "routing: a signalering may be sent to jgt, gemeente, swv, verwijsindex, veilig_thuis only, not to a school"
        ),
        "{message}"
    );
    // The operator exchanges no messages about children.
    let operator = gw.client(org::OPERATOR).await;
    let consult = fixtures::consult("r4", &gw.oin(org::JGT), UNKNOWN_CONSENT_ID);
    assert_eq!(
        code_of(operator.send(consult).await),
        Code::PermissionDenied
    );

    // A reply answers a request the replier received, and goes to its sender only.
    let swv = gw.client(org::SWV).await;
    let jgt = gw.client(org::JGT).await;
    let gemeente = gw.client(org::GEMEENTE).await;
    let consent = fixtures::granted(&swv).await;
    let req = swv
        .send(fixtures::consult("q", &gw.oin(org::JGT), &consent))
        .await
        .unwrap();
    let elsewhere = fixtures::reply("a1", &gw.oin(org::SCHOOL_PO), &req.message_id);
    let message = refusal(jgt.send(elsewhere).await, Code::PermissionDenied);
    assert!(
        message.contains("goes only to the sender of the request"),
        "{message}"
    );
    let not_received = fixtures::reply("a2", &gw.oin(org::SWV), &req.message_id);
    let message = refusal(gemeente.send(not_received).await, Code::PermissionDenied);
    assert!(message.contains("that the sender received"), "{message}");
    let unknown = fixtures::reply("a3", &gw.oin(org::SWV), UNKNOWN_CONSENT_ID);
    assert_eq!(code_of(jgt.send(unknown).await), Code::PermissionDenied);
    jgt.send(fixtures::reply("a4", &gw.oin(org::SWV), &req.message_id))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_body_that_names_another_sender_is_refused() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let mut forged = fixtures::signalering("forged", &gw.oin(org::VERWIJSINDEX));
    forged.sender_oin = gw.oin(org::SWV);
    let message = refusal(school.send(forged).await, Code::PermissionDenied);
    assert!(message.contains("sender_oin"), "{message}");
    // Naming itself is fine, and the stored sender is the certificate's.
    let mut honest = fixtures::signalering("honest", &gw.oin(org::VERWIJSINDEX));
    honest.sender_oin = gw.oin(org::SCHOOL_PO);
    school.send(honest).await.unwrap();
    let got = gw.inbox(org::VERWIJSINDEX).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].envelope.as_ref().unwrap().sender_oin,
        gw.oin(org::SCHOOL_PO)
    );
}

#[tokio::test]
async fn a_retry_returns_the_same_message_and_a_conflicting_reuse_is_refused() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let signal = || fixtures::signalering("retry-1", &gw.oin(org::VERWIJSINDEX));
    let first = school.send(signal()).await.unwrap();
    let again = school.send(signal()).await.unwrap();
    assert_eq!(again.message_id, first.message_id);
    assert!(again.duplicate);
    assert_eq!(again.receipt, first.receipt);

    let mut other = signal();
    other.case_reference = "andere-zaak".into();
    let message = refusal(school.send(other).await, Code::AlreadyExists);
    assert!(message.contains(&first.message_id), "{message}");

    // Another sender may use the same reference.
    gw.client(org::SWV).await.send(signal()).await.unwrap();
    assert_eq!(gw.inbox(org::VERWIJSINDEX).await.len(), 2);
}

#[tokio::test]
async fn the_inbox_is_fifo_and_an_expired_lease_redelivers() {
    let gw = TestGateway::start_with(|_, c| c.exchange.sweep_interval_ms = 50).await;
    let school = gw.client(org::SCHOOL_PO).await;
    let index = gw.client(org::VERWIJSINDEX).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let signal = fixtures::signalering(&format!("fifo-{i}"), &gw.oin(org::VERWIJSINDEX));
        ids.push(school.send(signal).await.unwrap().message_id);
    }
    let got = index
        .pull(3, Duration::ZERO, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(got.iter().map(id_of).collect::<Vec<_>>(), ids[..3]);
    let rest = index
        .pull(10, Duration::ZERO, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(rest.iter().map(id_of).collect::<Vec<_>>(), ids[3..]);
    index.ack(&ids[1]).await.unwrap();

    // The unacknowledged leases of 1 s run out; those messages come back, in
    // their original order, with the attempt raised.
    let again = schakel_tests::pull_until(&index, 2).await;
    let seen: Vec<_> = again.iter().map(|d| (id_of(d), d.attempt)).collect();
    assert_eq!(seen, vec![(ids[0].clone(), 2), (ids[2].clone(), 2)]);
    let status = school.status(&ids[0]).await.unwrap();
    assert_eq!(status.attempts, 2);
}

#[tokio::test]
async fn a_waiting_pull_and_a_subscription_get_new_messages_at_once() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let index = gw.client(org::VERWIJSINDEX).await;
    let waiting = {
        let index = index.clone();
        tokio::spawn(async move {
            index
                .pull(10, Duration::from_secs(30), Duration::ZERO)
                .await
        })
    };
    let vo_school = gw.client(org::SCHOOL_VO).await;
    let mut inbox = vo_school.subscribe(4, Duration::ZERO).await.unwrap();
    let started = std::time::Instant::now();
    let sent = school
        .send(fixtures::signalering("wait-1", &gw.oin(org::VERWIJSINDEX)))
        .await
        .unwrap();
    let got = waiting.await.unwrap().unwrap();
    assert_eq!(
        got.iter().map(id_of).collect::<Vec<_>>(),
        vec![sent.message_id]
    );
    // It was woken, not timed out.
    assert!(started.elapsed() < Duration::from_secs(10));

    let sent = school
        .send(fixtures::dossier("sub-1", &gw.oin(org::SCHOOL_VO)))
        .await
        .unwrap();
    let Some(pb::inbox_event::Event::Delivery(d)) = next_event(&mut inbox).await.event else {
        panic!("expected a delivery");
    };
    assert_eq!(id_of(&d), sent.message_id);
    vo_school.ack(&sent.message_id).await.unwrap();
}

#[tokio::test]
async fn nobody_touches_another_organisations_messages() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let sent = gw
        .send(
            org::SCHOOL_PO,
            fixtures::signalering("mine", &gw.oin(org::VERWIJSINDEX)),
        )
        .await;
    let index = gw.client(org::VERWIJSINDEX).await;
    index.pull(1, Duration::ZERO, Duration::ZERO).await.unwrap();

    let gemeente = gw.client(org::GEMEENTE).await;
    // Its own inbox does not hold it.
    assert!(gw.inbox(org::GEMEENTE).await.is_empty());
    for result in [
        gemeente.ack(&sent.message_id).await.map(|_| ()),
        gemeente
            .reject(&sent.message_id, pb::RejectReason::Technical, "")
            .await
            .map(|_| ()),
        gemeente.status(&sent.message_id).await.map(|_| ()),
        index.status(&sent.message_id).await.map(|_| ()),
        school.ack(&sent.message_id).await.map(|_| ()),
    ] {
        let message = refusal(result, Code::NotFound);
        assert!(
            !message.contains(&gw.oin(org::VERWIJSINDEX)),
            "reveals nothing: {message}"
        );
    }
    // And the real recipient can still finish it.
    index.ack(&sent.message_id).await.unwrap();
}

#[tokio::test]
async fn reject_gives_the_sender_a_rejected_receipt_with_the_reason() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let index = gw.client(org::VERWIJSINDEX).await;
    let sent = school
        .send(fixtures::signalering("rej", &gw.oin(org::VERWIJSINDEX)))
        .await
        .unwrap();
    index.pull(1, Duration::ZERO, Duration::ZERO).await.unwrap();
    let unspecified = index
        .reject(&sent.message_id, pb::RejectReason::Unspecified, "")
        .await;
    let message = refusal(unspecified, Code::InvalidArgument);
    assert!(message.contains("reason: is required"), "{message}");
    let rejected = index
        .reject(
            &sent.message_id,
            pb::RejectReason::WrongRecipient,
            "niet onze wijk",
        )
        .await
        .unwrap();
    let receipt = rejected.receipt.unwrap();
    assert_eq!(receipt.status, R::Rejected as i32);
    assert_eq!(receipt.detail, "WRONG_RECIPIENT: niet onze wijk");
    // A rejected message cannot be acknowledged afterwards.
    assert_eq!(
        code_of(index.ack(&sent.message_id).await),
        Code::FailedPrecondition
    );
    let status = school.status(&sent.message_id).await.unwrap();
    assert_eq!(status.status, R::Rejected as i32);
}

#[tokio::test]
async fn receipts_verify_and_a_tampered_receipt_fails() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let sent = gw
        .send(
            org::SCHOOL_PO,
            fixtures::signalering("sig", &gw.oin(org::VERWIJSINDEX)),
        )
        .await;
    let receipt = sent.receipt.unwrap();
    let key = gateway_keys(&school).await;
    // By default a receipt is proved in the audit log's tree, under a
    // signed head, and carries no signature of its own.
    assert!(receipt.signature.is_empty() && receipt.key_id.is_empty());
    let head = receipt.tree_head.clone().expect("proved under a tree head");
    assert_eq!(
        head.key_id,
        key.ids().next().unwrap(),
        "the head names its key"
    );
    verify_receipt(&key, &receipt).unwrap();
    for tamper in [
        |r: &mut pb::Receipt| r.status = R::Delivered as i32,
        |r: &mut pb::Receipt| r.recipient_oin = "00000099400000000001".into(),
        |r: &mut pb::Receipt| r.payload_digest[0] ^= 1,
        |r: &mut pb::Receipt| r.time.as_mut().unwrap().seconds += 1,
        |r: &mut pb::Receipt| r.audit_entry_hash[0] ^= 1,
        |r: &mut pb::Receipt| r.leaf_index += 1,
        |r: &mut pb::Receipt| r.tree_head.as_mut().unwrap().root_hash[0] ^= 1,
        |r: &mut pb::Receipt| r.tree_head.as_mut().unwrap().signature[10] ^= 1,
        |r: &mut pb::Receipt| r.tree_head.as_mut().unwrap().key_id.clear(),
        |r: &mut pb::Receipt| r.tree_head = None,
    ] {
        let mut bad = receipt.clone();
        tamper(&mut bad);
        assert!(
            matches!(
                verify_receipt(&key, &bad),
                Err(ClientError::BadReceipt { .. })
            ),
            "{bad:?}"
        );
    }
    // A client that pinned another key refuses the gateway's genuine receipts.
    let pinned = school.with_gateway_keys(fixtures::other_keys());
    let err = pinned.status(&sent.message_id).await.unwrap_err();
    assert!(matches!(err, ClientError::BadReceipt { .. }), "{err}");
}

#[tokio::test]
async fn receipts_and_messages_survive_a_restart_and_the_stream_catches_up() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let index = gw.client(org::VERWIJSINDEX).await;
    let a = deliver(
        &school,
        &index,
        fixtures::signalering("a", &gw.oin(org::VERWIJSINDEX)),
    )
    .await;
    let a = a.sent.message_id;
    let b = school
        .send(fixtures::signalering("b", &gw.oin(org::VERWIJSINDEX)))
        .await
        .unwrap()
        .message_id;
    drop((school, index));

    let gw = gw.restart().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let events: Vec<_> = school.receipts(0, false).await.unwrap().collect().await;
    let events: Vec<_> = events.into_iter().map(Result::unwrap).collect();
    let seen: Vec<_> = events
        .iter()
        .map(|e| {
            let r = e.receipt.as_ref().unwrap();
            (r.message_id.clone(), r.status)
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (a.clone(), R::Accepted as i32),
            (a.clone(), R::Delivered as i32),
            (b.clone(), R::Accepted as i32),
        ]
    );
    // Catching up from a cursor gives only what came after it.
    let after: Vec<_> = school
        .receipts(events[1].cursor, false)
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(after.len(), 1);
    // The unacknowledged message is still there for the Verwijsindex.
    let status = school.status(&b).await.unwrap();
    assert_eq!(status.status, R::Accepted as i32);
    let index = gw.client(org::VERWIJSINDEX).await;
    let got = index
        .pull(10, Duration::ZERO, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(got.iter().map(id_of).collect::<Vec<_>>(), vec![b.clone()]);

    // A following stream sees a new receipt as it happens.
    let mut follow = school.receipts(events[2].cursor, true).await.unwrap();
    index.ack(&b).await.unwrap();
    let next = next_receipts(&mut follow, 1).await;
    assert_eq!(next[0].status, R::Delivered as i32);
}

#[tokio::test]
async fn an_undelivered_message_expires_and_the_sender_is_told() {
    let gw = TestGateway::start_with(|_, c| c.exchange.sweep_interval_ms = 50).await;
    let school = gw.client(org::SCHOOL_PO).await;
    let mut request = fixtures::signalering("exp", &gw.oin(org::VERWIJSINDEX));
    request.expires_at = Some(fixtures::in_seconds(2.0));
    let mut receipts = school.receipts(0, true).await.unwrap();
    let sent = school.send(request).await.unwrap();
    let seen = statuses(&next_receipts(&mut receipts, 2).await);
    assert_eq!(seen, [R::Accepted, R::Expired]);
    assert!(gw.inbox(org::VERWIJSINDEX).await.is_empty());
    let status = school.status(&sent.message_id).await.unwrap();
    assert_eq!(status.status, R::Expired as i32);
}

/// Whether the payload of an acknowledged message is gone, and its
/// destruction recorded, with `retention_secs`; read from the stopped store.
async fn purged_after_ack(retention_secs: u64) -> (bool, bool) {
    let mut gw = TestGateway::start_with(|_, c| {
        c.exchange.retention_secs = retention_secs;
        c.exchange.sweep_interval_ms = 50;
    })
    .await;
    let school = gw.client(org::SCHOOL_PO).await;
    let index = gw.client(org::VERWIJSINDEX).await;
    let sent = deliver(
        &school,
        &index,
        fixtures::signalering("ret", &gw.oin(org::VERWIJSINDEX)),
    )
    .await
    .sent;
    drop((school, index));
    gw.stop().await;

    let id = schakel_gateway::model::MessageId::parse(&sent.message_id).unwrap();
    let record = gw.open_store().await.message(&id).await.unwrap().unwrap();
    let purge_logged = gw.audit_entries().await.iter().any(|e| {
        e.action == schakel_gateway::model::Action::Purged && e.message_id.as_ref() == Some(&id)
    });
    assert_eq!(record.state, schakel_gateway::model::State::Delivered);
    (record.payload_purged, purge_logged)
}

#[tokio::test]
async fn retention_zero_destroys_the_payload_at_delivery_and_keeps_the_metadata() {
    assert_eq!(purged_after_ack(0).await, (true, true));
}

#[tokio::test]
async fn within_retention_the_payload_is_kept() {
    assert_eq!(purged_after_ack(3600).await, (false, false));
}

/// The files in the store's folder for large payloads.
fn payload_files(gw: &TestGateway) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(gw.store_dir().join("payloads"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn a_large_dossier_lives_in_its_own_encrypted_file_until_it_is_destroyed() {
    schakel_tests::sled_only!("large payloads in files of the sled store's folder");
    let gw = TestGateway::start_with(|_, c| c.exchange.retention_secs = 0).await;
    let school = gw.client(org::SCHOOL_PO).await;
    // 1 MiB of recognisable text: well over the size kept inside sled.
    let content = b"LEERLING-DOSSIER ".repeat(64 * 1024);
    let dossier = fixtures::dossier_with(&gw.oin(org::SCHOOL_VO), "groot-1", content.clone());
    let first = school.send(dossier).await.unwrap();
    let files = payload_files(&gw);
    assert_eq!(files.len(), 1, "one file for one large payload: {files:?}");
    assert!(files[0].ends_with(&first.message_id));
    let on_disk = std::fs::read(&files[0]).unwrap();
    assert!(on_disk.len() >= content.len());
    assert!(
        !on_disk.windows(16).any(|w| w == b"LEERLING-DOSSIER"),
        "the file holds the payload encrypted"
    );

    // A file left by a send that crashed before its step is removed at start;
    // the accepted dossier's file survives the restart and is delivered.
    let stray = files[0].with_file_name("0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee");
    std::fs::write(&stray, b"half a payload").unwrap();
    drop(school);
    let gw = gw.restart().await;
    let vo_school = gw.client(org::SCHOOL_VO).await;
    let got = vo_school
        .pull(1, Duration::ZERO, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(payload_files(&gw), files, "the stray file is gone");
    assert_eq!(id_of(&got[0]), first.message_id);
    assert_eq!(payload(&got[0]).attachments[0].content, content);

    // Retention 0: acknowledging destroys the payload, file and all.
    vo_school.ack(&first.message_id).await.unwrap();
    assert!(payload_files(&gw).is_empty());
}

#[tokio::test]
async fn a_retried_large_dossier_leaves_no_second_file() {
    schakel_tests::sled_only!("large payloads in files of the sled store's folder");
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let r = fixtures::dossier_with(&gw.oin(org::SCHOOL_VO), "groot-retry", vec![42; 512 * 1024]);
    let first = school.send(r.clone()).await.unwrap();
    let again = school.send(r).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.message_id, first.message_id);
    assert_eq!(payload_files(&gw).len(), 1);
}

#[tokio::test]
async fn concurrent_retries_store_one_message_and_concurrent_pulls_lease_each_once() {
    // Steps that arrive together are committed as one group; each must see
    // what the ones before it in the group did. (The store contract tests
    // the same below the wire.)
    let gw = TestGateway::start().await;
    let index_oin = gw.oin(org::VERWIJSINDEX);
    let school = gw.client(org::SCHOOL_PO).await;
    let sends = (0..24).map(|_| school.send(fixtures::signalering("samen", &index_oin)));
    let sent: Vec<_> = futures::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(sent.iter().filter(|s| !s.duplicate).count(), 1);
    assert!(sent.iter().all(|s| s.message_id == sent[0].message_id));

    let more = (0..15).map(|i| school.send(fixtures::signalering(&format!("los-{i}"), &index_oin)));
    for r in futures::future::join_all(more).await {
        r.unwrap();
    }
    let index = gw.client(org::VERWIJSINDEX).await;
    let pulls = (0..16).map(|_| index.pull(2, Duration::ZERO, Duration::ZERO));
    let mut ids: Vec<String> = futures::future::join_all(pulls)
        .await
        .into_iter()
        .flat_map(|r| r.unwrap())
        .map(|d| id_of(&d))
        .collect();
    let leased = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), leased, "no message was leased twice");
    assert_eq!(leased, 16, "all 16 messages were leased");
}
