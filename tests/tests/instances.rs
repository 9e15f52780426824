//! Several gateway processes over one PostgreSQL database: one queue, one
//! audit chain, the same keys, and nothing lost when one of them dies.
//!
//! The database is a real PostgreSQL server that the test starts; without
//! PostgreSQL installed the tests say so and pass, unless
//! `SCHAKEL_REQUIRE_POSTGRES` is set (CI sets it).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use schakel_tests::fixtures;
use schakel_tests::{GatewayProcess, TestPki, copy_keys, org, postgres_database, workspace_binary};

/// The settings that put a gateway over database `db`.
fn on(db: &(String, std::path::PathBuf)) -> Vec<(&'static str, String)> {
    vec![
        ("SCHAKEL_STORAGE__ENGINE", "postgres".into()),
        ("SCHAKEL_STORAGE__POSTGRES_URL", db.0.clone()),
        (
            "SCHAKEL_STORAGE__POSTGRES_CA_FILE",
            db.1.display().to_string(),
        ),
    ]
}

/// Starts a gateway process on `data` over database `db`.
fn start(pki: &TestPki, data: &Path, db: &(String, std::path::PathBuf)) -> GatewayProcess {
    GatewayProcess::spawn_with(pki, data, &on(db))
}

/// Runs the gateway with `env` and expects it to stop with an error;
/// returns what it wrote.
fn refused(env: &[(&str, String)]) -> String {
    let mut child = Command::new(workspace_binary("schakel-gateway"))
        .current_dir(schakel_tests::workspace_root())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success(), "the gateway was to refuse to start");
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return err;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the gateway started, or hung, where it was to refuse");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_with_other_keys_is_refused_and_one_with_copies_shares_the_queue() {
    let Some(db) = postgres_database("keys") else {
        eprintln!("skipped: PostgreSQL is not installed");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(&tmp.path().join("pki"));
    let (data_a, data_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let a = start(&pki, &data_a, &db);

    // A second instance that made keys of its own is refused, and says
    // what to do.
    let mut env = pki.env(&data_b);
    env.extend(on(&db));
    let e = refused(&env);
    assert!(
        e.contains("payload key is not the one") && e.contains("copy the key files"),
        "{e}"
    );
    std::fs::remove_dir_all(&data_b).unwrap();

    // With copies of the first one's keys it starts, and the two share
    // one queue: sent through A, it reaches a subscriber on B promptly.
    copy_keys(&data_a, &data_b);
    let b = start(&pki, &data_b, &db);
    let index_on_b = b.client(&pki, org::VERWIJSINDEX).await;
    let mut inbox = index_on_b
        .subscribe(8, Duration::from_secs(60))
        .await
        .unwrap();
    let school_on_a = a.client(&pki, org::SCHOOL_PO).await;
    let started = Instant::now();
    let sent = school_on_a
        .send(fixtures::signalering("shared", &pki.oin(org::VERWIJSINDEX)))
        .await
        .unwrap();
    let delivery = schakel_tests::next_event(&mut inbox).await;
    let waited = started.elapsed();
    let id = match delivery.event {
        Some(schakel_client::proto::inbox_event::Event::Delivery(d)) => {
            d.envelope.unwrap().message_id
        }
        other => panic!("expected a delivery, got {other:?}"),
    };
    assert_eq!(id, sent.message_id);
    assert!(
        waited < Duration::from_secs(3),
        "a message sent through one instance took {waited:?} to reach a subscriber on the other"
    );
    // Acknowledged on B, with a receipt B signed with the shared key; A
    // answers its status as delivered.
    index_on_b.ack(&id).await.unwrap();
    let status = school_on_a.status(&id).await.unwrap();
    assert!(
        status
            .receipts
            .iter()
            .any(|r| r.status == schakel_client::proto::ReceiptStatus::Delivered as i32),
        "{status:?}"
    );
}

/// What the receivers saw: each delivery, where and when its lease began.
#[derive(Default)]
struct Seen {
    leased: HashMap<String, Vec<Instant>>,
    acked: HashSet<String>,
}

/// Pulls and acknowledges `org`'s inbox on `gw` until `stop`, or until the
/// gateway is gone; leases last `lease`.
fn receive(
    client: schakel_client::Client,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    lease: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            let Ok(got) = client.pull(16, Duration::from_millis(200), lease).await else {
                return;
            };
            for d in got {
                let id = d.envelope.unwrap().message_id;
                seen.lock()
                    .unwrap()
                    .leased
                    .entry(id.clone())
                    .or_default()
                    .push(Instant::now());
                if client.ack(&id).await.is_err() {
                    return;
                }
                seen.lock().unwrap().acked.insert(id);
            }
        }
    })
}

/// Sends signals through `client` until `stop`; the ids answered ACCEPTED.
fn send(
    client: schakel_client::Client,
    to: String,
    name: String,
    accepted: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for i in 0.. {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            match client
                .send(fixtures::signalering(&format!("{name}-{i}"), &to))
                .await
            {
                Ok(sent) => accepted.lock().unwrap().push(sent.message_id),
                Err(_) => return,
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_one_killed_mid_way_deliver_every_accepted_message_and_lease_none_twice_at_once()
 {
    let Some(db) = postgres_database("kill") else {
        eprintln!("skipped: PostgreSQL is not installed");
        return;
    };
    const LEASE: Duration = Duration::from_secs(2);
    let tmp = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(&tmp.path().join("pki"));
    let (data_a, data_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let mut a = start(&pki, &data_a, &db);
    copy_keys(&data_a, &data_b);
    let b = start(&pki, &data_b, &db);
    let to = pki.oin(org::VERWIJSINDEX);

    let accepted = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop_a = Arc::new(AtomicBool::new(false));
    let stop_b = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (gw, stop, name) in [(&a, &stop_a, "a"), (&b, &stop_b, "b")] {
        for t in 0..3 {
            tasks.push(send(
                gw.client(&pki, org::SCHOOL_PO).await,
                to.clone(),
                format!("{name}{t}"),
                accepted.clone(),
                stop.clone(),
            ));
        }
        tasks.push(receive(
            gw.client(&pki, org::VERWIJSINDEX).await,
            seen.clone(),
            stop.clone(),
            LEASE,
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while accepted.lock().unwrap().len() < 300 {
        assert!(Instant::now() < deadline, "the senders made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A dies with sends, leases and acknowledgements under way.
    a.signal(libc::SIGKILL);
    assert!(!a.wait().success());
    let at_kill = accepted.lock().unwrap().len();
    while accepted.lock().unwrap().len() < at_kill + 100 {
        assert!(Instant::now() < deadline, "B stopped taking messages");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_a.store(true, Ordering::SeqCst);
    // B's receiver goes on until every accepted message was acknowledged:
    // those A had leased come back when their leases run out.
    let accepted: HashSet<String> = {
        stop_b.store(true, Ordering::SeqCst);
        for t in tasks.drain(..) {
            t.await.unwrap();
        }
        accepted.lock().unwrap().iter().cloned().collect()
    };
    let drain = receive(
        b.client(&pki, org::VERWIJSINDEX).await,
        seen.clone(),
        Arc::new(AtomicBool::new(false)),
        LEASE,
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let school = b.client(&pki, org::SCHOOL_PO).await;
    loop {
        let unacked: Vec<String> = accepted
            .iter()
            .filter(|id| !seen.lock().unwrap().acked.contains(*id))
            .cloned()
            .collect();
        // An Ack that A stored but could not answer before it died leaves
        // the message delivered without the receiver knowing: its sender's
        // status says so.
        let mut missing = 0;
        for id in &unacked {
            let status = school.status(id).await.unwrap();
            let delivered = status
                .receipts
                .iter()
                .any(|r| r.status == schakel_client::proto::ReceiptStatus::Delivered as i32);
            if !delivered {
                missing += 1;
            }
        }
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} accepted messages were never delivered",
            accepted.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drain.abort();

    // A message leased again was leased again only after its lease ran out.
    let leased = seen.lock().unwrap().leased.clone();
    let again: Vec<_> = leased.iter().filter(|(_, l)| l.len() > 1).collect();
    for (id, leases) in &again {
        for pair in leases.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap + Duration::from_millis(250) >= LEASE,
                "{id} was leased twice {gap:?} apart, within its lease of {LEASE:?}"
            );
        }
    }
    // And the one audit chain, written by both, verifies.
    let operator = b.client(&pki, org::OPERATOR).await;
    let verdict = operator.audit_verify(0, 0).await.unwrap();
    assert!(verdict.ok, "{verdict:?}");
    eprintln!(
        "{} accepted ({} after the kill), {} leased again after the kill",
        accepted.len(),
        accepted.len() - at_kill,
        again.len()
    );
}
