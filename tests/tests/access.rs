//! Access for as long as it is used, tried from the attacker's side: an open
//! inbox stream ends at once when its participant is suspended, when its
//! certificate is no longer pinned, and when the certificate expires, and
//! nothing is delivered on it after that; an operator cannot make itself
//! another kind of organisation, and the last active operator stays one.

use std::time::Duration;

use futures::StreamExt as _;
use schakel_client::proto as pb;
use schakel_gateway::tools::pki::ClientSpec;
use schakel_tests::{TestGateway, fixtures, next_event, org, refusal};
use tonic::Code;

const LEASE: Duration = Duration::from_secs(60);

/// The status an inbox stream ends with; it must end within `within`.
async fn end_of<S>(stream: &mut S, within: Duration) -> tonic::Status
where
    S: futures::Stream<Item = Result<pb::InboxEvent, tonic::Status>> + Unpin,
{
    let item = tokio::time::timeout(within, stream.next())
        .await
        .expect("the stream ends in time");
    match item {
        Some(Err(status)) => status,
        other => panic!("a status that ends the stream, not {other:?}"),
    }
}

/// The Verwijsindex's inbox stream, holding one signal delivered on it,
/// with a second one waiting behind it (one in flight at most); and the
/// school that sent them.
async fn a_working_stream(
    gw: &TestGateway,
    index: &schakel_client::Client,
) -> (tonic::Streaming<pb::InboxEvent>, String) {
    let school = gw.client(org::SCHOOL_PO).await;
    let mut stream = index.subscribe(1, LEASE).await.unwrap();
    let to = gw.oin(org::VERWIJSINDEX);
    school
        .send(fixtures::signalering("before", &to))
        .await
        .unwrap();
    let first = next_event(&mut stream).await;
    assert!(matches!(
        first.event,
        Some(pb::inbox_event::Event::Delivery(_))
    ));
    let waiting = school
        .send(fixtures::signalering("waiting", &to))
        .await
        .unwrap();
    (stream, waiting.message_id)
}

/// Checks that the signal that waited was never handed out.
async fn never_delivered(gw: &TestGateway, id: &str) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let school = gw.client(org::SCHOOL_PO).await;
    let status = school.status(id).await.unwrap();
    assert_eq!(status.status, pb::ReceiptStatus::Accepted as i32);
    assert_eq!(status.attempts, 0, "leased by nobody");
}

#[tokio::test]
async fn a_suspension_ends_an_open_inbox_stream_at_once() {
    let gw = TestGateway::start().await;
    let index = gw.client(org::VERWIJSINDEX).await;
    let (mut stream, waiting) = a_working_stream(&gw, &index).await;
    let operator = gw.client(org::OPERATOR).await;
    operator
        .suspend_participant(&gw.oin(org::VERWIJSINDEX), "leak investigated")
        .await
        .unwrap();
    let ended = end_of(&mut stream, Duration::from_secs(2)).await;
    assert_eq!(ended.code(), Code::PermissionDenied);
    assert!(ended.message().contains("is suspended"), "{ended:?}");
    assert!(stream.next().await.is_none(), "nothing after the end");
    never_delivered(&gw, &waiting).await;
}

#[tokio::test]
async fn a_removed_pin_ends_an_open_inbox_stream() {
    let gw = TestGateway::start().await;
    let index = gw.client(org::VERWIJSINDEX).await;
    let (mut stream, waiting) = a_working_stream(&gw, &index).await;
    let operator = gw.client(org::OPERATOR).await;
    let other = "ab".repeat(32);
    schakel_tests::calls::pin(&operator, &gw.oin(org::VERWIJSINDEX), vec![other]).await;
    let ended = end_of(&mut stream, Duration::from_secs(2)).await;
    assert_eq!(ended.code(), Code::PermissionDenied);
    assert!(ended.message().contains("not one pinned"), "{ended:?}");
    never_delivered(&gw, &waiting).await;
}

#[tokio::test]
async fn an_expiring_certificate_ends_its_stream_when_it_expires() {
    let gw = TestGateway::start().await;
    let mut spec = ClientSpec::valid_for(&gw.oin(org::VERWIJSINDEX), "Verwijsindex", 1);
    spec.not_after = time::OffsetDateTime::now_utc() + time::Duration::seconds(4);
    let (identity, _) = gw.pki.issue(&spec);
    let index = gw.connect(&identity).await.unwrap();
    let (mut stream, waiting) = a_working_stream(&gw, &index).await;
    let ended = end_of(&mut stream, Duration::from_secs(12)).await;
    assert_eq!(ended.code(), Code::Unauthenticated);
    assert!(ended.message().contains("expired"), "{ended:?}");
    never_delivered(&gw, &waiting).await;
}

#[tokio::test]
async fn an_operator_cannot_change_its_own_kind_nor_remove_the_last_operator() {
    let gw = TestGateway::start().await;
    let operator = gw.client(org::OPERATOR).await;
    let me = operator
        .lookup(pb::lookup_request::Query::Oin(gw.oin(org::OPERATOR)))
        .await
        .unwrap()
        .remove(0);
    let as_kind = |kind: pb::OrganisationKind| pb::UpdateParticipantRequest {
        oin: me.oin.clone(),
        name: me.name.clone(),
        kind: kind as i32,
        codes: Some(pb::OrganisationCodes {
            agb: "12345678".into(),
            ..Default::default()
        }),
        pinned_cert_sha256: vec![],
        sector: 0,
    };
    let m = refusal(
        operator
            .update_participant(as_kind(pb::OrganisationKind::Jgt))
            .await,
        Code::FailedPrecondition,
    );
    assert!(m.contains("cannot change its own kind"), "{m}");
    let still = operator.whoami().await.unwrap();
    assert_eq!(
        still.participant.unwrap().kind,
        pb::OrganisationKind::Operator as i32
    );

    // A second operator may be demoted while the first remains ...
    let second = "00000099100000000099";
    operator
        .add_participant(pb::AddParticipantRequest {
            oin: second.into(),
            name: "Tweede beheerder".into(),
            kind: pb::OrganisationKind::Operator as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    operator
        .suspend_participant(second, "leaves the team")
        .await
        .unwrap();
    // ... but with it suspended, nothing can take the first away: it cannot
    // suspend itself, and nobody else is left to.
    let m = refusal(
        operator
            .suspend_participant(&gw.oin(org::OPERATOR), "oops")
            .await,
        Code::FailedPrecondition,
    );
    assert!(m.contains("cannot suspend itself"), "{m}");
    operator.whoami().await.unwrap();
}

#[tokio::test]
async fn a_certificate_revoked_by_a_reloaded_crl_loses_its_stream_and_cannot_connect() {
    let mut serial = 0;
    let mut identity = None;
    let mut crl = std::path::PathBuf::new();
    let gw = TestGateway::start_with(|pki, config| {
        let spec = ClientSpec::valid_for(&pki.oin(org::VERWIJSINDEX), "Verwijsindex", 30);
        let (id, issued) = pki.issue(&spec);
        (serial, identity) = (issued.serial, Some(id));
        crl = pki.dir.join("ca/revoked.crl.pem");
        std::fs::write(&crl, pki.ca.crl_pem(&[]).unwrap()).unwrap();
        config.tls.crls = vec![crl.clone()];
        config.tls.reload_secs = 1;
    })
    .await;
    let identity = identity.unwrap();
    let index = gw.connect(&identity).await.unwrap();
    let (mut stream, waiting) = a_working_stream(&gw, &index).await;
    // The CA revokes it; the gateway notices within its reload interval.
    std::fs::write(&crl, gw.pki.ca.crl_pem(&[serial]).unwrap()).unwrap();
    let ended = end_of(&mut stream, Duration::from_secs(4)).await;
    assert_eq!(ended.code(), Code::Unauthenticated);
    assert!(ended.message().contains("no longer accepted"), "{ended:?}");
    never_delivered(&gw, &waiting).await;
    // The connection opened before the revocation makes no further call.
    let unary = index
        .whoami()
        .await
        .expect_err("refused on the open connection");
    let status = unary.status().expect("a status").clone();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(
        status.message().contains("no longer accepted"),
        "{status:?}"
    );
    let again = gw.connect(&identity).await;
    let refused = match again {
        Ok(client) => client.whoami().await.expect_err("refused"),
        Err(e) => e,
    };
    assert!(
        refused.to_string().contains("Revoked") || format!("{refused:?}").contains("Revoked"),
        "{refused:?}"
    );
    // Other certificates still work.
    gw.client(org::JGT).await.whoami().await.unwrap();
}

#[tokio::test]
async fn a_certificate_from_an_issuing_ca_below_the_trusted_root_is_checked_with_its_chain() {
    // As with PKIoverheid: the gateway trusts the root; the participant's
    // certificate comes from an issuing CA below it, sent along by the
    // client. Every call checks the certificate again with that chain.
    let gw = TestGateway::start().await;
    let issuing = gw
        .pki
        .ca
        .issue_intermediate("Voorbeeld Issuing CA (test)")
        .unwrap();
    let spec = ClientSpec::valid_for(&gw.oin(org::VERWIJSINDEX), "Verwijsindex", 30);
    let issued = issuing.issue_client(&spec).unwrap();
    let identity = schakel_client::Identity {
        cert_pem: format!("{}{}", issued.cert_pem, issuing.cert_pem()),
        key_pem: issued.key_pem,
        ca_pem: gw.pki.ca.cert_pem(),
    };
    let index = gw.connect(&identity).await.unwrap();
    let me = index.whoami().await.unwrap();
    assert_eq!(me.participant.unwrap().oin, gw.oin(org::VERWIJSINDEX));
    // A stream, which checks again before each item with the same chain,
    // hands out one message after another.
    let school = gw.client(org::SCHOOL_PO).await;
    let to = gw.oin(org::VERWIJSINDEX);
    let mut stream = index.subscribe(1, LEASE).await.unwrap();
    for reference in ["first", "second"] {
        let sent = school
            .send(fixtures::signalering(reference, &to))
            .await
            .unwrap();
        let event = next_event(&mut stream).await;
        let Some(pb::inbox_event::Event::Delivery(d)) = event.event else {
            panic!("a delivery, not {event:?}");
        };
        assert_eq!(d.envelope.unwrap().message_id, sent.message_id);
        index.ack(&sent.message_id).await.unwrap();
    }
}
