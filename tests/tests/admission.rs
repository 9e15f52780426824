//! Admission, tested from the attacker's side: a refused certificate spends
//! only its own rate bucket, never that of the certificate its organisation
//! uses, and a connection whose certificate is refused (not pinned,
//! revoked) is ended instead of being answered call after call.

use std::time::Duration;

use schakel_gateway::tools::pki::ClientSpec;
use schakel_tests::{TestGateway, org};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// An HTTP/2 connection of our own over `tls`; its driver's end (the
/// gateway closed it) is sent on the returned channel.
async fn h2_over(
    tls: TlsStream<TcpStream>,
) -> (
    h2::client::SendRequest<bytes::Bytes>,
    tokio::sync::oneshot::Receiver<()>,
) {
    let (send, connection) = h2::client::handshake(tls).await.expect("HTTP/2");
    let (ended_tx, ended) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let _ = connection.await;
        let _ = ended_tx.send(());
    });
    (send, ended)
}

/// Calls WhoAmI with an empty request over `send`; the grpc-status the
/// gateway answers (trailers or headers).
async fn whoami(send: &mut h2::client::SendRequest<bytes::Bytes>) -> Option<String> {
    let request = http::Request::post("https://localhost/schakel.v1.Directory/WhoAmI")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let mut ready = send.clone().ready().await.ok()?;
    let (response, mut body) = ready.send_request(request, false).ok()?;
    body.send_data(bytes::Bytes::from_static(&[0, 0, 0, 0, 0]), true)
        .ok()?;
    let response = response.await.ok()?;
    if let Some(status) = response.headers().get("grpc-status") {
        return Some(status.to_str().unwrap().to_owned());
    }
    let mut body = response.into_body();
    while body.data().await.is_some() {}
    let trailers = body.trailers().await.ok()??;
    trailers
        .get("grpc-status")
        .map(|s| s.to_str().unwrap().to_owned())
}

/// Whether the connection whose driver reports on `ended` ends within
/// `within`.
async fn ends_within(ended: tokio::sync::oneshot::Receiver<()>, within: Duration) -> bool {
    tokio::time::timeout(within, ended).await.is_ok()
}

/// A certificate for the JGT's OIN that the JGT's entry does not pin, as
/// an identity folder named `attacker`.
fn unpinned_jgt(gw: &TestGateway) -> schakel_client::Identity {
    let spec = ClientSpec::valid_for(&gw.oin(org::JGT), "Aanvaller met JGT-OIN", 30);
    let (identity, issued) = gw.pki.issue(&spec);
    gw.pki.write_identity("attacker", &issued);
    identity
}

/// Pins the JGT to the certificate in its own identity folder.
async fn pin_jgt(gw: &TestGateway) {
    let operator = gw.client(org::OPERATOR).await;
    let jgt = gw.client(org::JGT).await;
    let fingerprint = jgt.whoami().await.unwrap().certificate_sha256;
    schakel_tests::calls::pin(&operator, &gw.oin(org::JGT), vec![fingerprint]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpinned_certificate_with_the_jgts_oin_does_not_spend_the_jgts_rate() {
    let gw = TestGateway::start_with(|_, c| {
        c.limits.requests_per_second = 5;
        c.limits.request_burst = 20;
        c.limits.max_batch_messages = 4;
    })
    .await;
    pin_jgt(&gw).await;
    let jgt = gw.client(org::JGT).await;
    let attacker = gw.connect(&unpinned_jgt(&gw)).await.unwrap();
    // The attacker calls as fast as it can, over and over; the pinned JGT
    // makes its few calls in between, and every one of them passes.
    let flood = tokio::spawn(async move {
        let mut refused = 0;
        for _ in 0..300 {
            if attacker.whoami().await.is_err() {
                refused += 1;
            }
        }
        refused
    });
    for i in 0..15 {
        jgt.whoami()
            .await
            .unwrap_or_else(|e| panic!("the pinned JGT's call {i} was refused: {e:?}"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        flood.await.unwrap(),
        300,
        "every call of the attacker is refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_with_an_unpinned_certificate_is_ended_after_its_first_refusal() {
    let gw = TestGateway::start().await;
    pin_jgt(&gw).await;
    unpinned_jgt(&gw);
    let (mut send, ended) = h2_over(gw.raw_tls("attacker").await.unwrap()).await;
    // PERMISSION_DENIED (7), then the gateway ends the connection.
    assert_eq!(whoami(&mut send).await.as_deref(), Some("7"));
    assert!(
        ends_within(ended, Duration::from_secs(3)).await,
        "the connection stays open after its certificate was refused"
    );
    // The pinned JGT's connection stays.
    let (mut send, ended) = h2_over(gw.raw_tls(org::JGT).await.unwrap()).await;
    assert_eq!(whoami(&mut send).await.as_deref(), Some("0"));
    assert!(!ends_within(ended, Duration::from_secs(1)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_connection_is_ended_when_its_certificate_is_revoked_or_unpinned() {
    let mut serial = 0;
    let mut crl = std::path::PathBuf::new();
    let gw = TestGateway::start_with(|pki, config| {
        let spec = ClientSpec::valid_for(&pki.oin(org::VERWIJSINDEX), "Verwijsindex", 30);
        let (_, issued) = pki.issue(&spec);
        serial = issued.serial;
        pki.write_identity("revoked", &issued);
        crl = pki.dir.join("ca/revoked.crl.pem");
        std::fs::write(&crl, pki.ca.crl_pem(&[]).unwrap()).unwrap();
        config.tls.crls = vec![crl.clone()];
        config.tls.reload_secs = 1;
    })
    .await;
    // Two idle connections that called once and say nothing more: one
    // whose certificate the CA revokes, one whose pin the operator moves.
    let (mut revoked, revoked_ended) = h2_over(gw.raw_tls("revoked").await.unwrap()).await;
    assert_eq!(whoami(&mut revoked).await.as_deref(), Some("0"));
    let (mut jgt, jgt_ended) = h2_over(gw.raw_tls(org::JGT).await.unwrap()).await;
    assert_eq!(whoami(&mut jgt).await.as_deref(), Some("0"));
    std::fs::write(&crl, gw.pki.ca.crl_pem(&[serial]).unwrap()).unwrap();
    assert!(
        ends_within(revoked_ended, Duration::from_secs(5)).await,
        "a revoked certificate's idle connection stays open"
    );
    let operator = gw.client(org::OPERATOR).await;
    schakel_tests::calls::pin(&operator, &gw.oin(org::JGT), vec!["ab".repeat(32)]).await;
    assert!(
        ends_within(jgt_ended, Duration::from_secs(3)).await,
        "an idle connection whose certificate lost its pin stays open"
    );
    // Others' connections stay.
    let (mut school, school_ended) = h2_over(gw.raw_tls(org::SCHOOL_PO).await.unwrap()).await;
    assert_eq!(whoami(&mut school).await.as_deref(), Some("0"));
    assert!(!ends_within(school_ended, Duration::from_secs(1)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_certificates_open_connection_cannot_starve_the_valid_one() {
    let mut serial = 0;
    let mut revoked = None;
    let mut crl = std::path::PathBuf::new();
    let gw = TestGateway::start_with(|pki, config| {
        let spec = ClientSpec::valid_for(&pki.oin(org::JGT), "JGT, oud certificaat", 30);
        let (identity, issued) = pki.issue(&spec);
        (serial, revoked) = (issued.serial, Some(identity));
        crl = pki.dir.join("ca/revoked.crl.pem");
        std::fs::write(&crl, pki.ca.crl_pem(&[]).unwrap()).unwrap();
        config.tls.crls = vec![crl.clone()];
        config.tls.reload_secs = 1;
        config.limits.requests_per_second = 5;
        config.limits.request_burst = 20;
        config.limits.max_batch_messages = 4;
    })
    .await;
    let old = gw.connect(&revoked.unwrap()).await.unwrap();
    old.whoami().await.unwrap();
    std::fs::write(&crl, gw.pki.ca.crl_pem(&[serial]).unwrap()).unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let flood = tokio::spawn(async move {
        let mut passed = 0;
        for _ in 0..300 {
            if old.whoami().await.is_ok() {
                passed += 1;
            }
        }
        passed
    });
    let jgt = gw.client(org::JGT).await;
    for i in 0..15 {
        jgt.whoami()
            .await
            .unwrap_or_else(|e| panic!("the valid JGT's call {i} was refused: {e:?}"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        flood.await.unwrap(),
        0,
        "nothing passes on the revoked certificate"
    );
}
