//! Mutual TLS and the caller's identity, tested from the attacker's side:
//! no certificate, another CA, an expired or revoked certificate, no OIN, an
//! unknown OIN, a suspended participant, a certificate that is not the pinned one.

use schakel_client::Client;
use schakel_gateway::tools::pki::{Ca, ClientSpec};
use schakel_tests::{TestGateway, org, refusal};
use time::{Duration, OffsetDateTime};
use tonic::Code;
use tonic::transport::{Certificate, ClientTlsConfig};

/// Calls WhoAmI with `identity` and returns what went wrong, whether the
/// connection or the call failed.
async fn whoami_error(gw: &TestGateway, identity: &schakel_client::Identity) -> String {
    match gw.connect(identity).await {
        Err(e) => format!("{e:?}"),
        Ok(client) => match client.whoami().await {
            Ok(me) => panic!("the gateway accepted the caller as {me:?}"),
            Err(e) => format!("{e:?}"),
        },
    }
}

#[tokio::test]
async fn every_example_organisation_is_known_by_the_oin_in_its_certificate() {
    let gw = TestGateway::start().await;
    for o in &gw.pki.orgs {
        let me = gw.client(o.dir).await.whoami().await.unwrap();
        let p = me.participant.unwrap();
        assert_eq!(p.oin, o.participant.oin.as_str());
        assert_eq!(p.name, o.participant.name);
        assert_eq!(me.certificate_sha256.len(), 64);
    }
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused() {
    let gw = TestGateway::start().await;
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(gw.pki.ca.cert_pem()));
    let outcome = match Client::connect_with_tls(&gw.url(), tls).await {
        Err(e) => format!("{e:?}"),
        Ok(client) => match client.whoami().await {
            Ok(me) => panic!("accepted without a certificate: {me:?}"),
            // A transport error, not UNAUTHENTICATED: the TLS handshake fails.
            Err(e) => format!("{e:?}"),
        },
    };
    assert!(outcome.contains("CertificateRequired"), "{outcome}");
}

/// A client identity for `oin` signed by `ca`, trusting the gateway's CA.
fn identity_from(ca: &Ca, gw: &TestGateway, oin: &str) -> schakel_client::Identity {
    let issued = ca
        .issue_client(&ClientSpec::valid_for(oin, "Aanvaller", 1))
        .unwrap();
    schakel_client::Identity {
        cert_pem: issued.cert_pem,
        key_pem: issued.key_pem,
        ca_pem: gw.pki.ca.cert_pem(),
    }
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let gw = TestGateway::start().await;
    // The OIN of a real participant, signed by a CA the gateway does not trust.
    let other_ca = Ca::generate("Een andere CA").unwrap();
    let err = whoami_error(&gw, &identity_from(&other_ca, &gw, &gw.oin(org::SCHOOL_PO))).await;
    assert!(err.contains("UnknownCA"), "{err}");
}

#[tokio::test]
async fn an_expired_certificate_is_refused() {
    let gw = TestGateway::start().await;
    let now = OffsetDateTime::now_utc();
    let spec = ClientSpec {
        not_before: now - Duration::days(30),
        not_after: now - Duration::days(1),
        ..ClientSpec::valid_for(&gw.oin(org::SCHOOL_PO), "Basisschool", 1)
    };
    let (identity, _) = gw.pki.issue(&spec);
    let err = whoami_error(&gw, &identity).await;
    assert!(err.contains("CertificateExpired"), "{err}");
    // The same organisation with a valid certificate is let in: it is the
    // expiry that was refused.
    let spec = ClientSpec::valid_for(&gw.oin(org::SCHOOL_PO), "Basisschool", 1);
    let (identity, _) = gw.pki.issue(&spec);
    gw.connect(&identity).await.unwrap().whoami().await.unwrap();
}

#[tokio::test]
async fn a_revoked_certificate_is_refused() {
    let mut revoked_serial = 0;
    let mut revoked_identity = None;
    let gw = TestGateway::start_with(|pki, config| {
        let (identity, issued) = pki.issue(&ClientSpec::valid_for(&pki.oin(org::JGT), "JGT", 30));
        revoked_serial = issued.serial;
        revoked_identity = Some(identity);
        let crl = pki.dir.join("ca/revoked.crl.pem");
        std::fs::write(&crl, pki.ca.crl_pem(&[revoked_serial]).unwrap()).unwrap();
        config.tls.crls = vec![crl];
    })
    .await;
    assert_ne!(revoked_serial, 0);
    let err = whoami_error(&gw, &revoked_identity.unwrap()).await;
    assert!(err.contains("CertificateRevoked"), "{err}");
    // Certificates not on the list still work.
    gw.client(org::JGT).await.whoami().await.unwrap();
}

#[tokio::test]
async fn a_certificate_without_the_digital_signature_key_usage_is_unauthenticated() {
    let gw = TestGateway::start().await;
    let spec = ClientSpec {
        key_usages: vec![schakel_gateway::tools::pki::KeyUsagePurpose::KeyEncipherment],
        ..ClientSpec::valid_for(&gw.oin(org::SCHOOL_PO), "Basisschool", 1)
    };
    let (identity, _) = gw.pki.issue(&spec);
    let err = whoami_error(&gw, &identity).await;
    assert!(err.contains("digitalSignature"), "{err}");
}

#[tokio::test]
async fn a_certificate_without_an_oin_is_unauthenticated() {
    let gw = TestGateway::start().await;
    for (oin, text) in [(None, "no OIN"), (Some("12345"), "20 digits")] {
        let mut spec = ClientSpec::valid_for("00000099100000000001", "Zonder geldig OIN", 1);
        spec.oin = oin.map(String::from);
        let (identity, _) = gw.pki.issue(&spec);
        let whoami = gw.connect(&identity).await.unwrap().whoami().await;
        let m = refusal(whoami, Code::Unauthenticated);
        assert!(m.contains(text), "{m}");
    }
}

#[tokio::test]
async fn an_oin_that_is_not_in_the_directory_is_permission_denied() {
    let gw = TestGateway::start().await;
    let (identity, _) = gw.pki.issue(&ClientSpec::valid_for(
        "00000099555555555555",
        "Onbekend",
        1,
    ));
    let whoami = gw.connect(&identity).await.unwrap().whoami().await;
    let m = refusal(whoami, Code::PermissionDenied);
    assert!(m.contains("not a participant"), "{m}");
}

#[tokio::test]
async fn a_suspended_participant_is_refused_from_its_next_call_on() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    school.whoami().await.unwrap();
    let operator = gw.client(org::OPERATOR).await;
    let suspended = operator
        .suspend_participant(&gw.oin(org::SCHOOL_PO), "certificate compromised")
        .await
        .unwrap();
    assert_eq!(suspended.suspended_reason, "certificate compromised");

    // Same connection, next call.
    let m = refusal(school.whoami().await, Code::PermissionDenied);
    assert!(m.contains("suspended"), "{m}");
    // Other participants are not affected.
    gw.client(org::JGT).await.whoami().await.unwrap();

    operator
        .reinstate_participant(&gw.oin(org::SCHOOL_PO))
        .await
        .unwrap();
    school.whoami().await.unwrap();
}

#[tokio::test]
async fn a_pinned_participant_accepts_only_its_pinned_certificate() {
    let gw = TestGateway::start().await;
    let operator = gw.client(org::OPERATOR).await;
    let (other_identity, _) = gw
        .pki
        .issue(&ClientSpec::valid_for(&gw.oin(org::JGT), "JGT", 1));
    let other = gw.connect(&other_identity).await.unwrap();
    let pinned = gw.client(org::JGT).await;
    let pin = pinned.whoami().await.unwrap().certificate_sha256;

    schakel_tests::calls::pin(&operator, &gw.oin(org::JGT), vec![pin]).await;

    pinned.whoami().await.unwrap();
    let m = refusal(other.whoami().await, Code::PermissionDenied);
    assert!(m.contains("pinned"), "{m}");
}

#[tokio::test]
async fn the_gateway_speaks_tls_1_2_and_1_3_only_with_the_ring_provider() {
    // A client limited to TLS 1.2 still gets in (the NCSC guidelines allow
    // 1.2 with AEAD suites); rustls cannot even offer 1.0 or 1.1.
    let gw = TestGateway::start().await;
    let pki = &gw.pki;
    let config = pki.tls_client(org::SWV, &[&rustls::version::TLS12]);
    let tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tls = connector
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    let (_, session) = tls.get_ref();
    assert_eq!(
        session.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    let suite = session.negotiated_cipher_suite().unwrap();
    let name = format!("{:?}", suite.suite());
    assert!(
        name.contains("GCM") || name.contains("CHACHA20_POLY1305"),
        "{name}"
    );
}

#[tokio::test]
async fn a_forged_ca_with_the_same_name_is_refused() {
    // An attacker who copies the CA's name but not its key.
    let gw = TestGateway::start().await;
    let fake_ca = Ca::generate(schakel_gateway::tools::pki::DEVELOPMENT_CA_NAME).unwrap();
    let err = whoami_error(&gw, &identity_from(&fake_ca, &gw, &gw.oin(org::OPERATOR))).await;
    // The signature does not verify under the real CA's key.
    assert!(
        err.contains("DecryptError") || err.contains("BadCertificate"),
        "{err}"
    );
}

#[tokio::test]
async fn a_participant_over_its_request_rate_is_told_to_slow_down() {
    let gw = TestGateway::start_with(|_, c| {
        c.limits.requests_per_second = 1;
        c.limits.request_burst = 3;
    })
    .await;
    let school = gw.client(org::SCHOOL_PO).await;
    for _ in 0..3 {
        school.whoami().await.unwrap();
    }
    let m = refusal(school.whoami().await, Code::ResourceExhausted);
    assert!(m.contains("rate limit"), "{m}");
    // Another participant has its own allowance.
    gw.client(org::JGT).await.whoami().await.unwrap();
}

#[tokio::test]
async fn health_checks_are_held_to_the_rate_of_their_certificate() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let gw = TestGateway::start_with(|_, c| {
        c.limits.requests_per_second = 1;
        c.limits.request_burst = 3;
    })
    .await;
    let monitor = gw.client(org::JGT).await;
    let mut health = HealthClient::new(monitor.channel());
    let check = || HealthCheckRequest {
        service: String::new(),
    };
    for _ in 0..3 {
        health.check(check()).await.unwrap();
    }
    let refused = health.check(check()).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(
        refused.message().contains("rate limit") && refused.message().contains("certificate"),
        "{refused:?}"
    );
    // A certificate has one bucket for all its calls; other certificates
    // have theirs.
    let m = refusal(monitor.whoami().await, Code::ResourceExhausted);
    assert!(m.contains("certificate SHA-256"), "{m}");
    gw.client(org::SCHOOL_PO).await.whoami().await.unwrap();
}

/// The SHA-256 of the certificate the gateway serves a new connection.
async fn served_cert(gw: &TestGateway) -> String {
    let tls = gw.raw_tls(org::SWV).await.unwrap();
    let der = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    hex::encode(ring::digest::digest(&ring::digest::SHA256, &der).as_ref())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateways_certificate_is_replaced_without_a_restart() {
    let gw = TestGateway::start_with(|_, c| c.tls.reload_secs = 1).await;
    let old = served_cert(&gw).await;
    let client = gw.client(org::JGT).await;
    client.whoami().await.unwrap();

    let new = gw.pki.ca.issue_server(&["localhost", "127.0.0.1"]).unwrap();
    let dir = gw.pki.dir.join("gateway");
    std::fs::write(dir.join("key.pem"), &new.key_pem).unwrap();
    std::fs::write(dir.join("cert.pem"), &new.cert_pem).unwrap();
    let mut served = old.clone();
    for _ in 0..40 {
        served = served_cert(&gw).await;
        if served != old {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_ne!(served, old, "the new certificate is served");
    client.whoami().await.unwrap();

    // A key that does not fit is refused; the pair in force stays.
    std::fs::write(dir.join("key.pem"), gw.pki.identity(org::SWV).key_pem).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(served_cert(&gw).await, served);
    gw.client(org::SWV).await.whoami().await.unwrap();
}
