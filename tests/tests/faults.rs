//! Faults, against the real binary: a disk that fills up. The gateway
//! refuses writes with UNAVAILABLE and a message that says what to do,
//! reports NOT_SERVING on its health service, loses nothing it answered
//! ACCEPTED, and serves again (after the restart the message asks for)
//! once there is room.
//!
//! The data folder sits on a small tmpfs the test mounts; where it cannot
//! mount one (not root, or no permission in a container) it says so and
//! checks nothing: the same fault is injected in the group commit's unit
//! tests, which run everywhere.

use std::time::Duration;

use schakel_tests::tmpfs::Tmpfs;
use schakel_tests::{GatewayProcess, TestPki, fixtures, org};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

async fn health(client: &schakel_client::Client) -> i32 {
    HealthClient::new(client.channel())
        .check(HealthCheckRequest {
            service: "schakel.v1.Exchange".into(),
        })
        .await
        .map_or(-1, |r| r.into_inner().status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_reports_not_serving_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(&tmp.path().join("pki"));
    let Some(disk) = Tmpfs::mount_or_skip(
        &tmp.path().join("disk"),
        48,
        "the disk-full test (left to the group commit's unit tests)",
    ) else {
        return;
    };
    let data = disk.path().join("data");
    // Room to give back later.
    let ballast = disk.path().join("ballast");
    std::fs::write(&ballast, vec![0u8; 12 << 20]).unwrap();

    let gw = GatewayProcess::spawn_with(&pki, &data, &[]);
    let school = gw.client(&pki, org::SCHOOL_PO).await;
    let to = pki.oin(org::SCHOOL_VO);
    assert_eq!(health(&school).await, ServingStatus::Serving as i32);
    let mut accepted = Vec::new();
    let mut refusal = None;
    for i in 0..2000 {
        // 60 KiB dossiers, kept in the store itself: small enough to pass
        // the free-space reserve, which holds back only larger payloads, so
        // that the disk really fills.
        let r = fixtures::dossier_with(&to, &format!("fill-{i}"), vec![i as u8; 60 << 10]);
        match school.send(r).await {
            Ok(sent) => accepted.push(sent.message_id),
            Err(e) => {
                refusal = Some(e);
                break;
            }
        }
    }
    let status = schakel_tests::status_of::<()>(Err(refusal.expect("the disk fills up")));
    assert!(
        matches!(
            status.code(),
            tonic::Code::Unavailable | tonic::Code::ResourceExhausted
        ),
        "{status:?}; log: {}",
        gw.log_text()
    );
    assert!(
        accepted.len() > 10,
        "{} accepted before the disk was full",
        accepted.len()
    );
    // Health follows within its interval; writes stay refused, reads work.
    let mut reported = -1;
    for _ in 0..50 {
        reported = health(&school).await;
        if reported == ServingStatus::NotServing as i32 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        reported,
        ServingStatus::NotServing as i32,
        "log: {}",
        gw.log_text()
    );
    let again = schakel_tests::status_of(
        school
            .send(fixtures::signalering(
                "while-full",
                &pki.oin(org::VERWIJSINDEX),
            ))
            .await,
    );
    assert_eq!(again.code(), tonic::Code::Unavailable, "{again:?}");
    assert!(again.message().contains("free disk space"), "{again:?}");
    school.whoami().await.unwrap();
    drop(school);

    // The operator frees space and restarts the gateway, as told.
    std::fs::remove_file(&ballast).unwrap();
    drop(gw);
    let gw = GatewayProcess::spawn_with(&pki, &data, &[]);
    let vo = gw.client(&pki, org::SCHOOL_VO).await;
    assert_eq!(health(&vo).await, ServingStatus::Serving as i32);
    let found = schakel_tests::calls::drain(&vo).await;
    let lost: Vec<_> = accepted.iter().filter(|id| !found.contains(*id)).collect();
    assert!(lost.is_empty(), "accepted and lost: {lost:?}");
    let operator = gw.client(&pki, org::OPERATOR).await;
    let verdict = operator.audit_verify(0, 0).await.unwrap();
    assert!(verdict.ok, "{verdict:?}");
}
