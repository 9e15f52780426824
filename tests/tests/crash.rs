//! Process-level durability: the real gateway binary is killed with SIGKILL
//! while senders are busy, restarted on the same data folder, and must still
//! hold every message it answered ACCEPTED.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use schakel_tests::calls::drain;
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
    let found = drain(&index).await;
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

/// SIGKILL while senders send batches: every item answered ACCEPTED is
/// there after the restart, and the batch a sender was sending when the
/// gateway died, sent again, holds no second copy of any item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_batch_loses_no_accepted_item_and_a_resent_batch_adds_none() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(&tmp.path().join("pki"));
    let data = tmp.path().join("data");
    let to = pki.oin(org::VERWIJSINDEX);
    let batch_of = move |t: usize, b: usize| -> Vec<_> {
        (0..16)
            .map(|i| fixtures::signalering(&format!("batch-{t}-{b}-{i}"), &to))
            .collect()
    };

    let mut gw = GatewayProcess::spawn_with(&pki, &data, &[]);
    let school = gw.client(&pki, org::SCHOOL_PO).await;
    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let enough = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for t in 0..4 {
        let (school, accepted, enough) = (school.clone(), accepted.clone(), enough.clone());
        let batch_of = batch_of.clone();
        tasks.push(tokio::spawn(async move {
            for b in 0.. {
                // The batch under way when the gateway dies: returned.
                let Ok(answers) = school.send_batch(batch_of(t, b)).await else {
                    return b;
                };
                let mut ids = accepted.lock().unwrap();
                ids.extend(answers.into_iter().map(|a| a.unwrap().message_id));
                if ids.len() >= 400 {
                    enough.notify_one();
                }
            }
            unreachable!()
        }));
    }
    tokio::time::timeout(Duration::from_secs(120), enough.notified())
        .await
        .expect("senders made progress");
    gw.signal(libc::SIGKILL);
    assert!(!gw.wait().success());
    let mut unanswered = Vec::new();
    for (t, task) in tasks.into_iter().enumerate() {
        unanswered.push((t, task.await.unwrap()));
    }
    drop(school);
    let accepted: HashSet<String> = accepted.lock().unwrap().iter().cloned().collect();

    let gw = GatewayProcess::spawn_with(&pki, &data, &[]);
    let school = gw.client(&pki, org::SCHOOL_PO).await;
    // The unanswered batches again: each item now stored once, whether the
    // gateway had taken it before it died or not.
    let mut resent = HashSet::new();
    for (t, b) in unanswered {
        for answer in school.send_batch(batch_of(t, b)).await.unwrap() {
            resent.insert(answer.unwrap().message_id);
        }
    }
    let index = gw.client(&pki, org::VERWIJSINDEX).await;
    let found = drain(&index).await;
    let lost: Vec<_> = accepted.difference(&found).collect();
    assert!(lost.is_empty(), "{} accepted items lost", lost.len());
    assert_eq!(
        found.len(),
        accepted.len() + resent.len(),
        "every message delivered once: the answered ones and the resent batches"
    );
    let operator = gw.client(&pki, org::OPERATOR).await;
    schakel_tests::calls::log_intact(&operator).await;
}

/// Ten SIGKILLs under load (senders, and a receiver pulling and
/// acknowledging at the same time): nothing answered ACCEPTED is lost,
/// nothing acknowledged comes back, and the audit chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_sigkills_under_load_lose_nothing_and_keep_the_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(&tmp.path().join("pki"));
    let data = tmp.path().join("data");
    let to = pki.oin(org::VERWIJSINDEX);
    let accepted = Arc::new(Mutex::new(HashSet::<String>::new()));
    let acked = Arc::new(Mutex::new(HashSet::<String>::new()));
    const PER_ROUND: usize = 60;
    for round in 0..10 {
        let mut gw = GatewayProcess::spawn_with(&pki, &data, &[]);
        let school = gw.client(&pki, org::SCHOOL_PO).await;
        let index = gw.client(&pki, org::VERWIJSINDEX).await;
        let enough = Arc::new(tokio::sync::Notify::new());
        let before = accepted.lock().unwrap().len();
        let mut tasks = Vec::new();
        for t in 0..8 {
            let (school, accepted, enough, to) =
                (school.clone(), accepted.clone(), enough.clone(), to.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    let reference = format!("loop-{round}-{t}-{i}");
                    let Ok(sent) = school.send(fixtures::signalering(&reference, &to)).await else {
                        return;
                    };
                    let mut ids = accepted.lock().unwrap();
                    ids.insert(sent.message_id);
                    if ids.len() >= before + PER_ROUND {
                        enough.notify_one();
                    }
                }
            }));
        }
        let (receiver, acked_here) = (index.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                // Short leases: what a kill leaves leased comes back soon.
                let Ok(got) = receiver
                    .pull(16, Duration::from_millis(50), Duration::from_secs(1))
                    .await
                else {
                    return;
                };
                for d in got {
                    let id = d.envelope.unwrap().message_id;
                    if receiver.ack(&id).await.is_err() {
                        return;
                    }
                    acked_here.lock().unwrap().insert(id);
                }
            }
        }));
        tokio::time::timeout(Duration::from_secs(120), enough.notified())
            .await
            .expect("progress");
        gw.signal(libc::SIGKILL);
        assert!(!gw.wait().success());
        for t in tasks {
            t.await.unwrap();
        }
    }

    let sweep = [("SCHAKEL_EXCHANGE__SWEEP_INTERVAL_MS", "100".to_string())];
    let gw = GatewayProcess::spawn_with(&pki, &data, &sweep);
    let index = gw.client(&pki, org::VERWIJSINDEX).await;
    // The leases the last kill left run out.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let drained = drain(&index).await;
    let accepted = accepted.lock().unwrap().clone();
    let acked = acked.lock().unwrap().clone();
    assert!(accepted.len() >= 10 * PER_ROUND);
    // An acknowledgement a kill cut off before its answer arrived is
    // durable all the same: the sender's status says delivered.
    let school = gw.client(&pki, org::SCHOOL_PO).await;
    let mut lost = Vec::new();
    for id in accepted
        .iter()
        .filter(|id| !acked.contains(*id) && !drained.contains(*id))
    {
        let status = school.status(id).await.unwrap().status;
        if status != schakel_client::proto::ReceiptStatus::Delivered as i32 {
            lost.push((id.clone(), status));
        }
    }
    assert!(
        lost.is_empty(),
        "{} accepted and lost: {:?}",
        lost.len(),
        lost.first()
    );
    let back: Vec<_> = drained.intersection(&acked).collect();
    assert!(back.is_empty(), "acknowledged and offered again: {back:?}");
    let operator = gw.client(&pki, org::OPERATOR).await;
    let verdict = operator.audit_verify(0, 0).await.unwrap();
    assert!(verdict.ok, "{verdict:?}");
}
