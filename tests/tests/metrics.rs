//! The metrics endpoint of the real binary, scraped as Prometheus would:
//! every metric the operators' guide names is served, with figures that
//! follow what happened, on a port of its own, and nothing but the metrics.

use std::time::Duration;

use schakel_tests::process::{get, value};
use schakel_tests::{GatewayProcess, TestPki, fixtures, org};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_endpoint_serves_every_named_metric() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(&tmp.path().join("pki"));
    let sweep = [("SCHAKEL_EXCHANGE__SWEEP_INTERVAL_MS", "100".to_string())];
    let gw = GatewayProcess::spawn_with(&pki, &tmp.path().join("data"), &sweep);
    let school = gw.client(&pki, org::SCHOOL_PO).await;
    let index = gw.client(&pki, org::VERWIJSINDEX).await;
    let to = pki.oin(org::VERWIJSINDEX);
    // One delivered, one left on a lease that runs out, one waiting.
    school.send(fixtures::signalering("m1", &to)).await.unwrap();
    let got = index
        .pull(1, Duration::ZERO, Duration::from_secs(60))
        .await
        .unwrap();
    index
        .ack(&got[0].envelope.as_ref().unwrap().message_id)
        .await
        .unwrap();
    school.send(fixtures::signalering("m2", &to)).await.unwrap();
    index
        .pull(1, Duration::ZERO, Duration::from_secs(1))
        .await
        .unwrap();
    school.send(fixtures::signalering("m3", &to)).await.unwrap();
    // A refusal, and an open stream.
    let operator = gw.client(&pki, org::OPERATOR).await;
    assert!(school.list_participants().await.is_err());
    let _stream = gw
        .client(&pki, org::SWV)
        .await
        .subscribe(1, Duration::from_secs(60))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let answer = get(gw.metrics_addr(), "/metrics").await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.contains("application/openmetrics-text"), "{answer}");
    let text = answer.split("\r\n\r\n").nth(1).unwrap();
    let school_oin = pki.oin(org::SCHOOL_PO);
    let sig = |outcome: &str| {
        format!(r#"schakel_messages_total{{kind="signalering",outcome="{outcome}"}}"#)
    };
    assert_eq!(value(text, &sig("accepted")), 3.0);
    assert_eq!(value(text, &sig("delivered")), 1.0);
    assert!(value(text, r#"schakel_refusals_total{cause="not_operator"}"#) >= 1.0);
    assert!(value(text, "schakel_lease_expiries_total") >= 1.0);
    let inbox = |m: &str| format!(r#"schakel_inbox_{m}{{recipient="{to}"}}"#);
    assert_eq!(value(text, &inbox("ready")), 2.0);
    assert_eq!(value(text, &inbox("leased")), 0.0);
    assert!(value(text, &inbox("oldest_age_seconds")) >= 0.0);
    assert_eq!(value(text, "schakel_send_to_ack_seconds_count"), 1.0);
    assert!(value(text, "schakel_fsync_seconds_count") >= 1.0);
    assert!(value(text, "schakel_group_commit_size_count") >= 1.0);
    assert!(value(text, "schakel_store_bytes") > 0.0);
    assert!(value(text, "schakel_connections_open") >= 4.0);
    assert!(value(text, "schakel_streams_open") >= 1.0);
    assert!(value(text, "schakel_bytes_in_flight") >= 0.0);
    assert_eq!(value(text, "schakel_request_bytes_in_flight"), 0.0);
    assert_eq!(value(text, "schakel_store_fault"), 0.0);
    let days = |oin: &str| {
        value(
            text,
            &format!(r#"schakel_certificate_days_left{{oin="{oin}"}}"#),
        )
    };
    assert!(days("gateway") > 1.0);
    assert!(days(&school_oin) > 1.0);
    // No child in any figure.
    assert!(fixtures::BSN.iter().all(|b| !text.contains(b)));

    // Anything else is a 404.
    let other = get(gw.metrics_addr(), "/").await;
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");
    drop(operator);
}
