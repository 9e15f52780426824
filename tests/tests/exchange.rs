//! The durable exchange over real mutual TLS: every kind sent and delivered,
//! validation and routing refusals that store nothing, idempotent retries,
//! leases, FIFO order, isolation between organisations, signed receipts,
//! restarts, retention and expiry.

use std::time::Duration;

use futures::StreamExt;
use schakel_client::proto as pb;
use schakel_client::{ClientError, verify_receipt};
use schakel_tests::fixtures::{self, UNKNOWN_CONSENT_ID};
use schakel_tests::{TestGateway, code_of, next_receipts, org, status_of};
use tonic::Code;

fn body(d: &pb::Delivery) -> pb::payload::Body {
    d.envelope
        .as_ref()
        .unwrap()
        .payload
        .as_ref()
        .unwrap()
        .body
        .clone()
        .unwrap()
}

fn id(d: &pb::Delivery) -> String {
    d.envelope.as_ref().unwrap().message_id.clone()
}

fn attachments(d: &pb::Delivery) -> &[pb::Attachment] {
    &d.envelope
        .as_ref()
        .unwrap()
        .payload
        .as_ref()
        .unwrap()
        .attachments
}

#[tokio::test]
async fn every_kind_is_sent_delivered_and_acknowledged() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let school_vo = gw.client(org::SCHOOL_VO).await;
    let swv = gw.client(org::SWV).await;
    let jgt = gw.client(org::JGT).await;

    // Signalering: school -> JGT.
    let sent = school
        .send(fixtures::signalering("sig-1", &gw.oin(org::JGT)))
        .await
        .unwrap();
    assert!(!sent.duplicate);
    let receipt = sent.receipt.unwrap();
    assert_eq!(receipt.status, pb::ReceiptStatus::Accepted as i32);
    assert_eq!(receipt.recipient_oin, gw.oin(org::JGT));
    let got = jgt.pull(10, Duration::ZERO, Duration::ZERO).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(id(&got[0]), sent.message_id);
    assert_eq!(got[0].attempt, 1);
    let env = got[0].envelope.as_ref().unwrap();
    assert_eq!(env.sender_oin, gw.oin(org::SCHOOL_PO));
    assert_eq!(env.kind, pb::MessageKind::Signalering as i32);
    assert_eq!(env.payload_digest, receipt.payload_digest);
    let expected = fixtures::signalering("sig-1", &gw.oin(org::JGT))
        .payload
        .unwrap()
        .body
        .unwrap();
    assert_eq!(body(&got[0]), expected);
    let ack = jgt.ack(&sent.message_id).await.unwrap();
    assert_eq!(ack.outcome, pb::AckOutcome::Delivered as i32);
    assert_eq!(
        ack.receipt.unwrap().status,
        pb::ReceiptStatus::Delivered as i32
    );

    // Overdrachtsdossier with an attachment: PO school -> VO school.
    let sent = school
        .send(fixtures::dossier("dos-1", &gw.oin(org::SCHOOL_VO)))
        .await
        .unwrap();
    let got = school_vo
        .pull(1, Duration::ZERO, Duration::ZERO)
        .await
        .unwrap();
    let attachments = attachments(&got[0]);
    assert_eq!(attachments[0].name, "dyslexieverklaring.pdf");
    assert_eq!(attachments[0].content, b"%PDF-1.4 voorbeeld");
    school_vo.ack(&sent.message_id).await.unwrap();

    // Consultatieverzoek SWV -> JGT under the parents' consent, and the
    // JGT's reply back under the same basis.
    let consent = swv
        .grant_consent(fixtures::consent_grant(fixtures::BSN[2]))
        .await
        .unwrap()
        .consent_id;
    let request = swv
        .send(fixtures::consult("req-1", &gw.oin(org::JGT), &consent))
        .await
        .unwrap();
    let got = jgt.pull(1, Duration::ZERO, Duration::ZERO).await.unwrap();
    assert!(matches!(
        body(&got[0]),
        pb::payload::Body::Consultatieverzoek(_)
    ));
    jgt.ack(&request.message_id).await.unwrap();
    let answer = jgt
        .send(fixtures::reply(
            "ans-1",
            &gw.oin(org::SWV),
            &request.message_id,
        ))
        .await
        .unwrap();
    let got = swv.pull(1, Duration::ZERO, Duration::ZERO).await.unwrap();
    assert_eq!(
        got[0].envelope.as_ref().unwrap().in_reply_to,
        request.message_id
    );
    swv.ack(&answer.message_id).await.unwrap();

    // The sender sees both receipts, verified by the client library.
    let status = school.status(&sent.message_id).await.unwrap();
    assert_eq!(status.status, pb::ReceiptStatus::Delivered as i32);
    let kinds: Vec<_> = status.receipts.iter().map(|r| r.status).collect();
    assert_eq!(
        kinds,
        vec![
            pb::ReceiptStatus::Accepted as i32,
            pb::ReceiptStatus::Delivered as i32
        ]
    );
    assert!(status.receipts[1].audit_sequence > status.receipts[0].audit_sequence);
}

#[tokio::test]
async fn each_validation_rule_is_refused_by_field_and_nothing_is_stored() {
    let gw = TestGateway::start_with(|_, c| {
        c.limits.max_message_bytes = 64 * 1024;
        c.limits.max_attachments = 2;
    })
    .await;
    let school = gw.client(org::SCHOOL_PO).await;
    let jgt_oin = gw.oin(org::JGT);
    let vo = gw.oin(org::SCHOOL_VO);

    fn sig(r: &mut pb::SendRequest) -> &mut pb::Signalering {
        match r.payload.as_mut().unwrap().body.as_mut().unwrap() {
            pb::payload::Body::Signalering(s) => s,
            _ => unreachable!(),
        }
    }
    fn dos(r: &mut pb::SendRequest) -> &mut pb::Overdrachtsdossier {
        match r.payload.as_mut().unwrap().body.as_mut().unwrap() {
            pb::payload::Body::Overdrachtsdossier(d) => d,
            _ => unreachable!(),
        }
    }
    type Case = (pb::SendRequest, Code, &'static str);
    let s = || fixtures::signalering("ref", &jgt_oin);
    let d = || fixtures::dossier("ref", &vo);
    let mut cases: Vec<Case> = Vec::new();
    let mut push = |mut r: pb::SendRequest, edit: &dyn Fn(&mut pb::SendRequest), code, text| {
        edit(&mut r);
        cases.push((r, code, text));
    };
    push(
        s(),
        &|r| sig(r).bsn = "111222334".into(),
        Code::InvalidArgument,
        "payload.signalering.bsn: must be a BSN of 9 digits that passes the elfproef",
    );
    push(
        s(),
        &|r| sig(r).bsn = String::new(),
        Code::InvalidArgument,
        "payload.signalering.bsn: is required",
    );
    push(
        s(),
        &|r| sig(r).contact = None,
        Code::InvalidArgument,
        "payload.signalering.contact: is required",
    );
    push(
        s(),
        &|r| {
            sig(r).contact.as_mut().unwrap().role =
                "zorgen over de thuissituatie, want vader drinkt en moeder is vaak weg".into()
        },
        Code::InvalidArgument,
        "payload.signalering.contact.role: must be at most 64 characters",
    );
    push(
        s(),
        &|r| sig(r).contact.as_mut().unwrap().phone = String::new(),
        Code::InvalidArgument,
        "needs a phone number or an e-mail address",
    );
    push(
        s(),
        &|r| sig(r).valid_until = fixtures::date(800),
        Code::InvalidArgument,
        "at most 2 years",
    );
    push(
        s(),
        &|r| {
            sig(r).birth_date = fixtures::date(-(22 * 365 + 300));
            sig(r).valid_until = fixtures::date(200)
        },
        Code::InvalidArgument,
        "23rd birthday",
    );
    push(
        s(),
        &|r| sig(r).signal_date = "23-11-2026".into(),
        Code::InvalidArgument,
        "payload.signalering.signal_date: must be a date written YYYY-MM-DD",
    );
    push(
        s(),
        &|r| {
            r.payload.as_mut().unwrap().attachments = vec![schakel_client::attachment(
                "a.txt",
                "text/plain",
                b"zorg".to_vec(),
            )]
        },
        Code::InvalidArgument,
        "a signalering carries no attachments",
    );
    push(
        s(),
        &|r| r.legal_basis = None,
        Code::InvalidArgument,
        "legal_basis: is required",
    );
    push(
        s(),
        &|r| r.legal_basis = fixtures::consent("not-a-uuid"),
        Code::InvalidArgument,
        "legal_basis.consent_id: must be a UUID",
    );
    push(
        s(),
        &|r| r.client_reference = String::new(),
        Code::InvalidArgument,
        "client_reference",
    );
    push(
        s(),
        &|r| r.recipient_oin = "123".into(),
        Code::InvalidArgument,
        "recipient_oin: must be an OIN of exactly 20 digits",
    );
    push(
        s(),
        &|r| r.recipient_oin = "00000099999999999999".into(),
        Code::NotFound,
        "recipient_oin: no participant",
    );
    push(
        s(),
        &|r| r.payload = None,
        Code::InvalidArgument,
        "payload: is required",
    );
    push(
        s(),
        &|r| r.in_reply_to = UNKNOWN_CONSENT_ID.into(),
        Code::InvalidArgument,
        "in_reply_to: only a consultatieantwoord",
    );
    push(
        s(),
        &|r| {
            r.expires_at = Some(prost_types::Timestamp {
                seconds: 1,
                nanos: 0,
            })
        },
        Code::InvalidArgument,
        "expires_at: must be in the future",
    );
    push(
        d(),
        &|r| dos(r).parents_viewed = false,
        Code::InvalidArgument,
        "payload.overdrachtsdossier.parents_viewed",
    );
    push(
        d(),
        &|r| dos(r).school_year = "2026-2028".into(),
        Code::InvalidArgument,
        "payload.overdrachtsdossier.school_year",
    );
    push(
        d(),
        &|r| dos(r).pupil.as_mut().unwrap().bsn = "123".into(),
        Code::InvalidArgument,
        "payload.overdrachtsdossier.pupil.bsn",
    );
    push(
        d(),
        &|r| dos(r).profile = 0,
        Code::InvalidArgument,
        "payload.overdrachtsdossier.profile",
    );
    push(
        d(),
        &|r| r.payload.as_mut().unwrap().attachments[0].sha256[0] ^= 1,
        Code::InvalidArgument,
        "payload.attachments[0].sha256: does not match",
    );
    push(
        d(),
        &|r| r.payload.as_mut().unwrap().attachments[0].name = "../../etc/passwd".into(),
        Code::InvalidArgument,
        "payload.attachments[0].name: must be a file name without a path",
    );
    push(
        d(),
        &|r| {
            let a = r.payload.as_ref().unwrap().attachments[0].clone();
            r.payload.as_mut().unwrap().attachments = vec![a.clone(), a.clone(), a];
        },
        Code::ResourceExhausted,
        "3 attachments; the limit is 2",
    );
    push(
        d(),
        &|r| {
            r.payload.as_mut().unwrap().attachments = vec![schakel_client::attachment(
                "groot.pdf",
                "application/pdf",
                vec![7; 100 * 1024],
            )]
        },
        Code::ResourceExhausted,
        "the limit is 65536 bytes",
    );

    for (request, code, text) in cases {
        let status = status_of(school.send(request).await);
        assert_eq!(status.code(), code, "{}", status.message());
        assert!(
            status.message().contains(text),
            "{:?} should contain {text:?}",
            status.message()
        );
    }
    // Nothing reached any inbox.
    let operator = gw.client(org::OPERATOR).await;
    assert!(operator.queue_stats().await.unwrap().inboxes.is_empty());
    assert!(
        gw.client(org::JGT)
            .await
            .pull(10, Duration::ZERO, Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_routing_policy_refuses_by_rule() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    // A signal goes to JGT, gemeente or SWV, not to another school.
    let status = status_of(
        school
            .send(fixtures::signalering("r1", &gw.oin(org::SCHOOL_VO)))
            .await,
    );
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status.message().contains(
            "routing: a signalering may be sent to jgt, gemeente, swv only, not to a school"
        ),
        "{}",
        status.message()
    );
    // A gemeente does not send signals.
    let gemeente = gw.client(org::GEMEENTE).await;
    let status = status_of(
        gemeente
            .send(fixtures::signalering("r2", &gw.oin(org::JGT)))
            .await,
    );
    assert!(
        status
            .message()
            .contains("may be sent by school, swv, jgt only, not by a gemeente"),
        "{}",
        status.message()
    );
    // A dossier does not go to a JGT.
    let status = status_of(
        school
            .send(fixtures::dossier("r3", &gw.oin(org::JGT)))
            .await,
    );
    assert_eq!(status.code(), Code::PermissionDenied);
    // The operator exchanges no messages about children.
    let operator = gw.client(org::OPERATOR).await;
    assert_eq!(
        code_of(
            operator
                .send(fixtures::consult(
                    "r4",
                    &gw.oin(org::JGT),
                    UNKNOWN_CONSENT_ID
                ))
                .await
        ),
        Code::PermissionDenied
    );
    // Nobody sends to itself.
    let status = status_of(
        school
            .send(fixtures::consult(
                "r5",
                &gw.oin(org::SCHOOL_PO),
                UNKNOWN_CONSENT_ID,
            ))
            .await,
    );
    assert!(
        status.message().contains("to itself"),
        "{}",
        status.message()
    );

    // A reply answers a request the replier received, and goes to its sender only.
    let swv = gw.client(org::SWV).await;
    let jgt = gw.client(org::JGT).await;
    let consent = swv
        .grant_consent(fixtures::consent_grant(fixtures::BSN[2]))
        .await
        .unwrap()
        .consent_id;
    let req = swv
        .send(fixtures::consult("q", &gw.oin(org::JGT), &consent))
        .await
        .unwrap();
    let status = status_of(
        jgt.send(fixtures::reply(
            "a1",
            &gw.oin(org::SCHOOL_PO),
            &req.message_id,
        ))
        .await,
    );
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status
            .message()
            .contains("goes only to the sender of the request"),
        "{}",
        status.message()
    );
    let gemeente_reply = fixtures::reply("a2", &gw.oin(org::SWV), &req.message_id);
    let status = status_of(gemeente.send(gemeente_reply).await);
    assert!(
        status.message().contains("that the sender received"),
        "{}",
        status.message()
    );
    let unknown = fixtures::reply(
        "a3",
        &gw.oin(org::SWV),
        "0190b2a4-0000-7000-8000-000000000000",
    );
    assert_eq!(code_of(jgt.send(unknown).await), Code::PermissionDenied);
    jgt.send(fixtures::reply("a4", &gw.oin(org::SWV), &req.message_id))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_body_that_names_another_sender_is_refused() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let mut forged = fixtures::signalering("forged", &gw.oin(org::JGT));
    forged.sender_oin = gw.oin(org::SWV);
    let status = status_of(school.send(forged).await);
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status.message().contains("sender_oin"),
        "{}",
        status.message()
    );
    // Naming itself is fine, and the stored sender is the certificate's.
    let mut honest = fixtures::signalering("honest", &gw.oin(org::JGT));
    honest.sender_oin = gw.oin(org::SCHOOL_PO);
    school.send(honest).await.unwrap();
    let got = gw
        .client(org::JGT)
        .await
        .pull(10, Duration::ZERO, Duration::ZERO)
        .await
        .unwrap();
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
    let first = school
        .send(fixtures::signalering("retry-1", &gw.oin(org::JGT)))
        .await
        .unwrap();
    let again = school
        .send(fixtures::signalering("retry-1", &gw.oin(org::JGT)))
        .await
        .unwrap();
    assert_eq!(again.message_id, first.message_id);
    assert!(again.duplicate);
    assert_eq!(again.receipt, first.receipt);

    let mut other = fixtures::signalering("retry-1", &gw.oin(org::JGT));
    other.case_id = "andere-zaak".into();
    let status = status_of(school.send(other).await);
    assert_eq!(status.code(), Code::AlreadyExists);
    assert!(
        status.message().contains(&first.message_id),
        "{}",
        status.message()
    );

    // Another sender may use the same reference.
    gw.client(org::SWV)
        .await
        .send(fixtures::signalering("retry-1", &gw.oin(org::JGT)))
        .await
        .unwrap();
    let got = gw
        .client(org::JGT)
        .await
        .pull(10, Duration::ZERO, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
}

#[tokio::test]
async fn the_inbox_is_fifo_and_an_expired_lease_redelivers() {
    let gw = TestGateway::start_with(|_, c| c.exchange.sweep_interval_ms = 50).await;
    let school = gw.client(org::SCHOOL_PO).await;
    let jgt = gw.client(org::JGT).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            school
                .send(fixtures::signalering(
                    &format!("fifo-{i}"),
                    &gw.oin(org::JGT),
                ))
                .await
                .unwrap()
                .message_id,
        );
    }
    let got = jgt
        .pull(3, Duration::ZERO, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(got.iter().map(id).collect::<Vec<_>>(), ids[..3]);
    let rest = jgt
        .pull(10, Duration::ZERO, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(rest.iter().map(id).collect::<Vec<_>>(), ids[3..]);
    jgt.ack(&ids[1]).await.unwrap();

    // The unacknowledged leases of 1 s run out; those messages come back, in
    // their original order, with the attempt raised.
    let again = jgt
        .pull(10, Duration::from_secs(10), Duration::from_secs(60))
        .await
        .unwrap();
    let mut seen: Vec<_> = again.iter().map(|d| (id(d), d.attempt)).collect();
    if seen.len() < 2 {
        let more = jgt
            .pull(10, Duration::from_secs(10), Duration::from_secs(60))
            .await
            .unwrap();
        seen.extend(more.iter().map(|d| (id(d), d.attempt)));
    }
    assert_eq!(seen, vec![(ids[0].clone(), 2), (ids[2].clone(), 2)]);
    let status = school.status(&ids[0]).await.unwrap();
    assert_eq!(status.attempts, 2);
}

#[tokio::test]
async fn a_waiting_pull_and_a_subscription_get_new_messages_at_once() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let jgt = gw.client(org::JGT).await;
    let waiting = {
        let jgt = jgt.clone();
        tokio::spawn(async move { jgt.pull(10, Duration::from_secs(30), Duration::ZERO).await })
    };
    let mut inbox = gw
        .client(org::GEMEENTE)
        .await
        .subscribe(4, Duration::ZERO)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let sent = school
        .send(fixtures::signalering("wait-1", &gw.oin(org::JGT)))
        .await
        .unwrap();
    let got = waiting.await.unwrap().unwrap();
    assert_eq!(
        got.iter().map(id).collect::<Vec<_>>(),
        vec![sent.message_id]
    );
    // It was woken, not timed out.
    assert!(started.elapsed() < Duration::from_secs(10));

    let sent = school
        .send(fixtures::signalering("sub-1", &gw.oin(org::GEMEENTE)))
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), inbox.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Some(pb::inbox_event::Event::Delivery(d)) = event.event else {
        panic!("expected a delivery");
    };
    assert_eq!(id(&d), sent.message_id);
    gw.client(org::GEMEENTE)
        .await
        .ack(&sent.message_id)
        .await
        .unwrap();
}

#[tokio::test]
async fn nobody_touches_another_organisations_messages() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let sent = school
        .send(fixtures::signalering("mine", &gw.oin(org::JGT)))
        .await
        .unwrap();
    let jgt = gw.client(org::JGT).await;
    jgt.pull(1, Duration::ZERO, Duration::ZERO).await.unwrap();

    let gemeente = gw.client(org::GEMEENTE).await;
    // Its own inbox does not hold it.
    assert!(
        gemeente
            .pull(10, Duration::ZERO, Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    for result in [
        gemeente.ack(&sent.message_id).await.map(|_| ()),
        gemeente
            .reject(&sent.message_id, pb::RejectReason::Technical, "")
            .await
            .map(|_| ()),
        gemeente.status(&sent.message_id).await.map(|_| ()),
        jgt.status(&sent.message_id).await.map(|_| ()),
        school.ack(&sent.message_id).await.map(|_| ()),
    ] {
        let status = status_of(result);
        assert_eq!(status.code(), Code::NotFound);
        assert!(
            !status.message().contains(&gw.oin(org::JGT)),
            "reveals nothing: {}",
            status.message()
        );
    }
    // And the real recipient can still finish it.
    jgt.ack(&sent.message_id).await.unwrap();
}

#[tokio::test]
async fn reject_gives_the_sender_a_rejected_receipt_with_the_reason() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let jgt = gw.client(org::JGT).await;
    let sent = school
        .send(fixtures::signalering("rej", &gw.oin(org::JGT)))
        .await
        .unwrap();
    jgt.pull(1, Duration::ZERO, Duration::ZERO).await.unwrap();
    let status = status_of(
        jgt.reject(&sent.message_id, pb::RejectReason::Unspecified, "")
            .await,
    );
    assert!(
        status.message().contains("reason: is required"),
        "{}",
        status.message()
    );
    let rejected = jgt
        .reject(
            &sent.message_id,
            pb::RejectReason::WrongRecipient,
            "niet onze wijk",
        )
        .await
        .unwrap();
    let receipt = rejected.receipt.unwrap();
    assert_eq!(receipt.status, pb::ReceiptStatus::Rejected as i32);
    assert_eq!(receipt.detail, "WRONG_RECIPIENT: niet onze wijk");
    // A rejected message cannot be acknowledged afterwards.
    assert_eq!(
        code_of(jgt.ack(&sent.message_id).await),
        Code::FailedPrecondition
    );
    assert_eq!(
        school.status(&sent.message_id).await.unwrap().status,
        pb::ReceiptStatus::Rejected as i32
    );
}

#[tokio::test]
async fn receipts_verify_and_a_tampered_receipt_fails() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let sent = school
        .send(fixtures::signalering("sig", &gw.oin(org::JGT)))
        .await
        .unwrap();
    let receipt = sent.receipt.unwrap();
    let key = school.gateway_key().await.unwrap().ed25519_public_key;
    verify_receipt(&key, &receipt).unwrap();
    for tamper in [
        |r: &mut pb::Receipt| r.status = pb::ReceiptStatus::Delivered as i32,
        |r: &mut pb::Receipt| r.recipient_oin = "00000099400000000001".into(),
        |r: &mut pb::Receipt| r.payload_digest[0] ^= 1,
        |r: &mut pb::Receipt| r.time.as_mut().unwrap().seconds += 1,
        |r: &mut pb::Receipt| r.signature[10] ^= 1,
    ] {
        let mut bad = receipt.clone();
        tamper(&mut bad);
        assert!(matches!(
            verify_receipt(&key, &bad),
            Err(ClientError::BadReceipt { .. })
        ));
    }
    // A client that pinned another key refuses the gateway's genuine receipts.
    let other =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let other = ring::signature::Ed25519KeyPair::from_pkcs8(other.as_ref()).unwrap();
    use ring::signature::KeyPair;
    let pinned = gw
        .client(org::SCHOOL_PO)
        .await
        .with_gateway_key(other.public_key().as_ref().to_vec());
    let err = pinned.status(&sent.message_id).await.unwrap_err();
    assert!(matches!(err, ClientError::BadReceipt { .. }), "{err}");
}

#[tokio::test]
async fn receipts_and_messages_survive_a_restart_and_the_stream_catches_up() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let jgt = gw.client(org::JGT).await;
    let a = school
        .send(fixtures::signalering("a", &gw.oin(org::JGT)))
        .await
        .unwrap();
    let b = school
        .send(fixtures::signalering("b", &gw.oin(org::JGT)))
        .await
        .unwrap();
    jgt.pull(1, Duration::ZERO, Duration::ZERO).await.unwrap();
    jgt.ack(&a.message_id).await.unwrap();
    drop((school, jgt));

    let gw = gw.restart().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let events: Vec<_> = school
        .receipts(0, false)
        .await
        .unwrap()
        .collect::<Vec<_>>()
        .await;
    let events: Vec<_> = events.into_iter().map(Result::unwrap).collect();
    let seen: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.receipt.as_ref().unwrap().message_id.clone(),
                e.receipt.as_ref().unwrap().status,
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (a.message_id.clone(), pb::ReceiptStatus::Accepted as i32),
            (b.message_id.clone(), pb::ReceiptStatus::Accepted as i32),
            (a.message_id.clone(), pb::ReceiptStatus::Delivered as i32),
        ]
    );
    // Catching up from a cursor gives only what came after it.
    let after: Vec<_> = school
        .receipts(events[1].cursor, false)
        .await
        .unwrap()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(after.len(), 1);
    // The unacknowledged message is still there for the JGT (its lease was
    // held by the old process; it comes back once the lease has run out, or
    // at once if it was never leased).
    let jgt = gw.client(org::JGT).await;
    let status = school.status(&b.message_id).await.unwrap();
    assert_eq!(status.status, pb::ReceiptStatus::Accepted as i32);
    let got = jgt.pull(10, Duration::ZERO, Duration::ZERO).await.unwrap();
    assert_eq!(
        got.iter().map(id).collect::<Vec<_>>(),
        vec![b.message_id.clone()]
    );

    // A following stream sees a new receipt as it happens.
    let mut follow = school.receipts(events[2].cursor, true).await.unwrap();
    jgt.ack(&b.message_id).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), follow.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        next.receipt.unwrap().status,
        pb::ReceiptStatus::Delivered as i32
    );
}

#[tokio::test]
async fn an_undelivered_message_expires_and_the_sender_is_told() {
    let gw = TestGateway::start_with(|_, c| c.exchange.sweep_interval_ms = 50).await;
    let school = gw.client(org::SCHOOL_PO).await;
    let mut request = fixtures::signalering("exp", &gw.oin(org::JGT));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    request.expires_at = Some(prost_types::Timestamp {
        seconds: now + 2,
        nanos: 0,
    });
    let mut receipts = school.receipts(0, true).await.unwrap();
    let sent = school.send(request).await.unwrap();
    let statuses: Vec<_> = next_receipts(&mut receipts, 2)
        .await
        .into_iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses,
        vec![
            pb::ReceiptStatus::Accepted as i32,
            pb::ReceiptStatus::Expired as i32
        ]
    );
    assert!(
        gw.client(org::JGT)
            .await
            .pull(10, Duration::ZERO, Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        school.status(&sent.message_id).await.unwrap().status,
        pb::ReceiptStatus::Expired as i32
    );
}

/// Stops the gateway and reads its store directly.
async fn purged_after_ack(retention_secs: u64) -> (bool, bool) {
    let mut gw = TestGateway::start_with(|_, c| {
        c.exchange.retention_secs = retention_secs;
        c.exchange.sweep_interval_ms = 50;
    })
    .await;
    let school = gw.client(org::SCHOOL_PO).await;
    let jgt = gw.client(org::JGT).await;
    let sent = school
        .send(fixtures::signalering("ret", &gw.oin(org::JGT)))
        .await
        .unwrap();
    jgt.pull(1, Duration::ZERO, Duration::ZERO).await.unwrap();
    jgt.ack(&sent.message_id).await.unwrap();
    drop((school, jgt));
    gw.stop().await;

    let id = schakel_gateway::model::MessageId::parse(&sent.message_id).unwrap();
    let record = gw.open_store().message(&id).await.unwrap().unwrap();
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
    let dir = gw.store_dir().join("payloads");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn a_large_dossier_lives_in_its_own_encrypted_file_until_it_is_destroyed() {
    let gw = TestGateway::start_with(|_, c| c.exchange.retention_secs = 0).await;
    let vo = gw.oin(org::SCHOOL_VO);
    let school = gw.client(org::SCHOOL_PO).await;
    // 1 MiB of recognisable text: well over the size kept inside sled.
    let content = b"LEERLING-DOSSIER ".repeat(64 * 1024);
    let dossier = |reference: &str| {
        let mut r = fixtures::dossier(reference, &vo);
        r.payload.as_mut().unwrap().attachments = vec![schakel_client::attachment(
            "dossier.pdf",
            "application/pdf",
            content.clone(),
        )];
        r
    };
    let first = school.send(dossier("groot-1")).await.unwrap();
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
    assert_eq!(id(&got[0]), first.message_id);
    let attachments = attachments(&got[0]);
    assert_eq!(attachments[0].content, content);

    // Retention 0: acknowledging destroys the payload, file and all.
    vo_school.ack(&first.message_id).await.unwrap();
    assert!(payload_files(&gw).is_empty());
}

#[tokio::test]
async fn a_retried_large_dossier_leaves_no_second_file() {
    let gw = TestGateway::start().await;
    let vo = gw.oin(org::SCHOOL_VO);
    let school = gw.client(org::SCHOOL_PO).await;
    let mut r = fixtures::dossier("groot-retry", &vo);
    r.payload.as_mut().unwrap().attachments = vec![schakel_client::attachment(
        "dossier.pdf",
        "application/pdf",
        vec![42; 512 * 1024],
    )];
    let first = school.send(r.clone()).await.unwrap();
    let again = school.send(r).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.message_id, first.message_id);
    assert_eq!(payload_files(&gw).len(), 1);
}

#[tokio::test]
async fn concurrent_retries_store_one_message_and_concurrent_pulls_lease_each_once() {
    // Steps that arrive together are committed as one group; each must see
    // what the ones before it in the group did.
    let gw = TestGateway::start().await;
    let jgt_oin = gw.oin(org::JGT);
    let school = gw.client(org::SCHOOL_PO).await;
    let sends = (0..24).map(|_| school.send(fixtures::signalering("samen", &jgt_oin)));
    let sent: Vec<_> = futures::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(sent.iter().filter(|s| !s.duplicate).count(), 1);
    assert!(sent.iter().all(|s| s.message_id == sent[0].message_id));

    let more = (0..15).map(|i| school.send(fixtures::signalering(&format!("los-{i}"), &jgt_oin)));
    for r in futures::future::join_all(more).await {
        r.unwrap();
    }
    let jgt = gw.client(org::JGT).await;
    let pulls = (0..16).map(|_| jgt.pull(2, Duration::ZERO, Duration::ZERO));
    let mut ids: Vec<String> = futures::future::join_all(pulls)
        .await
        .into_iter()
        .flat_map(|r| r.unwrap())
        .map(|d| id(&d))
        .collect();
    let leased = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), leased, "no message was leased twice");
    assert_eq!(leased, 16, "all 16 messages were leased");
}
