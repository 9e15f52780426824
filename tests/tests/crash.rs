//! Process-level durability: the real gateway binary is killed with SIGKILL
//! while senders are busy, restarted on the same data folder, and must still
//! hold every message it answered ACCEPTED.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use schakel_tests::fixtures;
use schakel_tests::{GatewayProcess, TestPki, org};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_accepted_message() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(&tmp.path().join("pki"));
    let data = tmp.path().join("data");
    let index_oin = pki.oin(org::VERWIJSINDEX);

    let mut gw = GatewayProcess::spawn_with(&pki, &data, &[]);
    let school = gw.client(&pki, org::SCHOOL_PO).await;
    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let enough = Arc::new(tokio::sync::Notify::new());
    const SENDERS: usize = 16;
    const KILL_AFTER: usize = 300;
    let mut tasks = Vec::new();
    for t in 0..SENDERS {
        let (school, accepted, enough, to) = (
            school.clone(),
            accepted.clone(),
            enough.clone(),
            index_oin.clone(),
        );
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let reference = format!("crash-{t}-{i}");
                match school.send(fixtures::signalering(&reference, &to)).await {
                    Ok(sent) => {
                        let mut ids = accepted.lock().unwrap();
                        ids.push(sent.message_id);
                        if ids.len() >= KILL_AFTER {
                            enough.notify_one();
                        }
                    }
                    // The gateway is gone.
                    Err(_) => return,
                }
            }
        }));
    }
    tokio::time::timeout(Duration::from_secs(120), enough.notified())
        .await
        .expect("senders made progress");
    gw.signal(libc::SIGKILL);
    let status = gw.wait();
    assert!(!status.success(), "killed, not exited: {status:?}");
    for t in tasks {
        t.await.unwrap();
    }
    drop(school);
    let accepted: HashSet<String> = accepted.lock().unwrap().iter().cloned().collect();
    assert!(accepted.len() >= KILL_AFTER);

    // Restart on the same data folder and drain the Verwijsindex's inbox.
    let gw = GatewayProcess::spawn_with(&pki, &data, &[]);
    let index = gw.client(&pki, org::VERWIJSINDEX).await;
    let mut found = HashSet::new();
    loop {
        let got = index
            .pull(256, Duration::ZERO, Duration::from_secs(300))
            .await
            .unwrap();
        if got.is_empty() {
            break;
        }
        for d in got {
            found.insert(d.envelope.unwrap().message_id);
        }
    }
    let lost: Vec<_> = accepted.difference(&found).collect();
    assert!(
        lost.is_empty(),
        "{} accepted messages lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );
    // And the sender still holds a verifiable ACCEPTED receipt for each.
    let school = gw.client(&pki, org::SCHOOL_PO).await;
    for id in accepted.iter().take(20) {
        school.status(id).await.unwrap();
    }
}
