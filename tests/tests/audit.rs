//! The tamper-evident audit log: one entry per decision with the right
//! fields, operators-only queries by every filter, signed checkpoints, and
//! verification that names the first altered, missing or reordered entry:
//! online, offline from an export, and on a stopped gateway's store.

use std::time::Duration;

use futures::StreamExt;
use schakel_client::proto::{self as pb, AuditEntry};
use schakel_client::{Client, audit_file};
use schakel_tests::fixtures::{self, BSN, consent_grant};
use schakel_tests::{
    GatewayProcess, TestGateway, TestPki, code_of, org, status_of, workspace_binary,
};
use tonic::Code;

async fn query(operator: &Client, request: pb::AuditQueryRequest) -> Vec<AuditEntry> {
    let stream = operator.audit_query(request).await.unwrap();
    stream.map(|e| e.unwrap()).collect().await
}

fn action(e: &AuditEntry) -> pb::AuditAction {
    pb::AuditAction::try_from(e.action).unwrap()
}

async fn export(operator: &Client) -> Vec<String> {
    let stream = operator.audit_export(0, 0).await.unwrap();
    stream
        .map(|r| audit_file::to_json(&r.unwrap()).to_string())
        .collect()
        .await
}

fn verify_lines(lines: &[String], key: &[u8]) -> schakel_proto::audit::Verdict {
    audit_file::verify(std::io::Cursor::new(lines.join("\n")), key).unwrap()
}

#[tokio::test]
async fn every_decision_is_one_entry_with_the_right_fields() {
    let gw = TestGateway::start_with(|_, c| {
        c.exchange.retention_secs = 0;
        c.exchange.sweep_interval_ms = 50;
    })
    .await;
    let school = gw.client(org::SCHOOL_PO).await;
    let jgt = gw.client(org::JGT).await;
    let swv = gw.client(org::SWV).await;
    let operator = gw.client(org::OPERATOR).await;

    // Accepted, leased, delivered, purged (retention 0).
    let sent = school
        .send(fixtures::signalering("a1", &gw.oin(org::JGT)))
        .await
        .unwrap();
    jgt.pull(1, Duration::ZERO, Duration::ZERO).await.unwrap();
    jgt.ack(&sent.message_id).await.unwrap();
    let entries = query(
        &operator,
        pb::AuditQueryRequest {
            message_id: sent.message_id.clone(),
            ..Default::default()
        },
    )
    .await;
    let actions: Vec<_> = entries.iter().map(action).collect();
    use pb::AuditAction as A;
    assert_eq!(
        actions,
        vec![A::SendAccepted, A::Leased, A::Delivered, A::Purged]
    );
    let accepted = &entries[0];
    assert_eq!(accepted.actor_oin, gw.oin(org::SCHOOL_PO));
    assert_eq!(accepted.counterpart_oin, gw.oin(org::JGT));
    assert_eq!(accepted.kind, pb::MessageKind::Signalering as i32);
    assert_eq!(accepted.child_ref.len(), 64);
    assert_eq!(
        accepted.legal_basis,
        fixtures::statute(pb::StatutoryBasis::Verwijsindex)
    );
    assert_eq!(entries[1].actor_oin, gw.oin(org::JGT));
    assert_eq!(entries[2].actor_oin, gw.oin(org::JGT));
    assert_eq!(entries[3].actor_oin, "gateway");
    // The receipts name the audit entries of their events.
    let receipts = school.status(&sent.message_id).await.unwrap().receipts;
    assert_eq!(receipts[0].audit_sequence, entries[0].sequence);
    assert_eq!(receipts[1].audit_sequence, entries[2].sequence);

    // Rejected.
    let rejected = school
        .send(fixtures::signalering("a2", &gw.oin(org::JGT)))
        .await
        .unwrap();
    jgt.pull(1, Duration::ZERO, Duration::ZERO).await.unwrap();
    jgt.reject(&rejected.message_id, pb::RejectReason::Duplicate, "")
        .await
        .unwrap();
    let entries = query(
        &operator,
        pb::AuditQueryRequest {
            message_id: rejected.message_id.clone(),
            ..Default::default()
        },
    )
    .await;
    let rejection = entries.iter().find(|e| action(e) == A::Rejected).unwrap();
    assert_eq!(rejection.detail, "DUPLICATE");

    // Refused send: one entry with the rule, no message.
    let refused = school
        .send(fixtures::signalering("a3", &gw.oin(org::SCHOOL_VO)))
        .await;
    assert_eq!(code_of(refused), Code::PermissionDenied);
    let entries = query(
        &operator,
        pb::AuditQueryRequest {
            actions: vec![A::SendRefused as i32],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(entries.len(), 1);
    assert!(
        entries[0]
            .detail
            .contains("routing: a signalering may be sent to"),
        "{}",
        entries[0].detail
    );
    assert!(entries[0].message_id.is_empty());
    assert!(
        gw.client(org::SCHOOL_VO)
            .await
            .pull(10, Duration::ZERO, Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );

    // Consent granted, revoked, and the message under it withdrawn.
    let consent = swv
        .grant_consent(consent_grant(BSN[2]))
        .await
        .unwrap()
        .consent_id;
    let under = swv
        .send(fixtures::consult("a4", &gw.oin(org::JGT), &consent))
        .await
        .unwrap();
    swv.revoke_consent(&consent, "ingetrokken").await.unwrap();
    let basis = fixtures::consent(&consent);
    let entries = query(
        &operator,
        pb::AuditQueryRequest {
            org_oin: gw.oin(org::SWV),
            ..Default::default()
        },
    )
    .await;
    let by_action = |a: A| {
        entries
            .iter()
            .filter(move |e| action(e) == a)
            .collect::<Vec<_>>()
    };
    assert_eq!(by_action(A::ConsentGranted).len(), 1);
    assert_eq!(by_action(A::ConsentGranted)[0].legal_basis, basis);
    assert_eq!(by_action(A::ConsentRevoked)[0].detail, "ingetrokken");
    let withdrawn = by_action(A::Withdrawn);
    assert_eq!(withdrawn.len(), 1);
    assert_eq!(withdrawn[0].message_id, under.message_id);

    // Directory change and a refused call of a known organisation.
    operator
        .suspend_participant(&gw.oin(org::GEMEENTE), "test")
        .await
        .unwrap();
    assert_eq!(
        code_of(school.list_participants().await),
        Code::PermissionDenied
    );
    let gemeente = gw.client(org::GEMEENTE).await;
    assert_eq!(code_of(gemeente.whoami().await), Code::PermissionDenied);
    let changes = query(
        &operator,
        pb::AuditQueryRequest {
            actions: vec![A::DirectoryChanged as i32],
            ..Default::default()
        },
    )
    .await;
    let suspension = changes.last().unwrap();
    assert_eq!(suspension.actor_oin, gw.oin(org::OPERATOR));
    assert_eq!(suspension.counterpart_oin, gw.oin(org::GEMEENTE));
    assert_eq!(suspension.detail, "suspended: test");
    let refusals = query(
        &operator,
        pb::AuditQueryRequest {
            actions: vec![A::AccessRefused as i32],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    assert_eq!(refusals[0].actor_oin, gw.oin(org::SCHOOL_PO));
    assert!(
        refusals[0].detail.contains(
            "/schakel.v1.Admin/ListParticipants: the Admin service is for operators only"
        ),
        "{}",
        refusals[0].detail
    );
    assert_eq!(refusals[1].actor_oin, gw.oin(org::GEMEENTE));
    assert!(refusals[1].detail.contains("suspended"));

    // Expired.
    let mut short = fixtures::signalering("a5", &gw.oin(org::JGT));
    short.expires_at = Some(prost_types::Timestamp {
        seconds: time::OffsetDateTime::now_utc().unix_timestamp() + 2,
        nanos: 0,
    });
    let expiring = school.send(short).await.unwrap();
    let mut found = Vec::new();
    for _ in 0..300 {
        found = query(
            &operator,
            pb::AuditQueryRequest {
                message_id: expiring.message_id.clone(),
                actions: vec![A::Expired as i32],
                ..Default::default()
            },
        )
        .await;
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].actor_oin, "gateway");

    // No entry holds a BSN in clear.
    let all = query(&operator, pb::AuditQueryRequest::default()).await;
    for e in &all {
        let text = format!("{e:?}");
        assert!(BSN.iter().all(|b| !text.contains(b)), "{text}");
    }
    // And the whole chain verifies (the sweeper may have added an entry,
    // such as the expired message's purge, since the query).
    let verdict = operator.audit_verify(0, 0).await.unwrap();
    assert!(verdict.ok, "{}", verdict.problem);
    assert!(verdict.entries_checked >= all.len() as u64);
}

#[tokio::test]
async fn only_operators_reach_the_audit_log() {
    let gw = TestGateway::start().await;
    for who in [org::SCHOOL_PO, org::SWV, org::JGT, org::GEMEENTE] {
        let c = gw.client(who).await;
        let status = status_of(
            c.audit_query(pb::AuditQueryRequest::default())
                .await
                .map(|_| ()),
        );
        assert_eq!(status.code(), Code::PermissionDenied);
        assert!(status.message().contains("operators only"));
        assert_eq!(code_of(c.audit_verify(0, 0).await), Code::PermissionDenied);
        assert_eq!(
            code_of(c.audit_export(0, 0).await.map(|_| ())),
            Code::PermissionDenied
        );
    }
}

#[tokio::test]
async fn queries_filter_by_time_org_message_child_and_action_with_paging() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let operator = gw.client(org::OPERATOR).await;
    let before = time::OffsetDateTime::now_utc();
    let first = school
        .send(fixtures::signalering("q1", &gw.oin(org::JGT)))
        .await
        .unwrap();
    let dossier = school
        .send(fixtures::dossier("q2", &gw.oin(org::SCHOOL_VO)))
        .await
        .unwrap();
    let third = school
        .send(fixtures::signalering("q3", &gw.oin(org::SWV)))
        .await
        .unwrap();

    let ids = |es: Vec<AuditEntry>| es.into_iter().map(|e| e.message_id).collect::<Vec<_>>();
    // By child: the signals are about BSN[0], the dossier about BSN[1].
    let by_child = query(
        &operator,
        pb::AuditQueryRequest {
            child_bsn: BSN[0].into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        ids(by_child),
        vec![first.message_id.clone(), third.message_id.clone()]
    );
    let by_child = query(
        &operator,
        pb::AuditQueryRequest {
            child_bsn: BSN[1].into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(ids(by_child), vec![dossier.message_id.clone()]);
    // By organisation (as counterpart).
    let by_org = query(
        &operator,
        pb::AuditQueryRequest {
            org_oin: gw.oin(org::SWV),
            ..Default::default()
        },
    )
    .await;
    // Its entry in the directory (seeded at start), then the signal to it.
    assert_eq!(action(&by_org[0]), pb::AuditAction::DirectoryChanged);
    assert_eq!(ids(by_org[1..].to_vec()), vec![third.message_id.clone()]);
    // By message and action.
    let by_msg = query(
        &operator,
        pb::AuditQueryRequest {
            message_id: dossier.message_id.clone(),
            actions: vec![pb::AuditAction::SendAccepted as i32],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(by_msg.len(), 1);
    // By time: nothing before the test started, everything after.
    let start = prost_types::Timestamp {
        seconds: before.unix_timestamp() - 1,
        nanos: 0,
    };
    let earlier = query(
        &operator,
        pb::AuditQueryRequest {
            to: Some(start),
            actions: vec![pb::AuditAction::SendAccepted as i32],
            ..Default::default()
        },
    )
    .await;
    assert!(earlier.is_empty());
    let later = query(
        &operator,
        pb::AuditQueryRequest {
            from: Some(start),
            actions: vec![pb::AuditAction::SendAccepted as i32],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(later.len(), 3);
    // Paging: two at a time, continuing after the last sequence number.
    let page1 = query(
        &operator,
        pb::AuditQueryRequest {
            actions: vec![pb::AuditAction::SendAccepted as i32],
            limit: 2,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(page1.len(), 2);
    let page2 = query(
        &operator,
        pb::AuditQueryRequest {
            actions: vec![pb::AuditAction::SendAccepted as i32],
            after_sequence: page1[1].sequence,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(ids(page2), vec![third.message_id]);
    // A bad BSN is refused by field.
    let status = status_of(
        operator
            .audit_query(pb::AuditQueryRequest {
                child_bsn: "123".into(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
    );
    assert!(
        status.message().starts_with("child_bsn"),
        "{}",
        status.message()
    );
}

/// Index of the export line holding entry `seq`.
fn line_of(lines: &[String], seq: u64) -> usize {
    lines
        .iter()
        .position(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["type"] == "entry" && v["sequence"] == seq
        })
        .unwrap()
}

#[tokio::test]
async fn the_offline_verifier_names_a_changed_a_deleted_and_a_swapped_entry() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    for i in 0..6 {
        school
            .send(fixtures::signalering(&format!("v{i}"), &gw.oin(org::JGT)))
            .await
            .unwrap();
    }
    let operator = gw.client(org::OPERATOR).await;
    let key = operator.gateway_key().await.unwrap().ed25519_public_key;
    let lines = export(&operator).await;
    let verdict = verify_lines(&lines, &key);
    assert!(verdict.ok(), "{}", verdict.problem);
    assert!(verdict.checkpoints_checked >= 1);
    assert_eq!(
        verdict.unsigned_tail, 0,
        "the export ends with a checkpoint of its head"
    );
    let head = verdict.entries_checked;
    assert!(head >= 12);

    // A changed entry, in the middle (no checkpoint of its own).
    let k = 4;
    let mut changed = lines.clone();
    let i = line_of(&changed, k);
    let mut v: serde_json::Value = serde_json::from_str(&changed[i]).unwrap();
    v["counterpart_oin"] = "00000099400000000001".into();
    changed[i] = v.to_string();
    let verdict = verify_lines(&changed, &key);
    assert_eq!(verdict.first_broken, Some(k), "{}", verdict.problem);
    assert!(verdict.problem.contains("altered"), "{}", verdict.problem);

    // The last entry changed: only the signed checkpoint can tell, and does.
    let mut last = lines.clone();
    let i = line_of(&last, head);
    let mut v: serde_json::Value = serde_json::from_str(&last[i]).unwrap();
    v["detail"] = "niets aan de hand".into();
    last[i] = v.to_string();
    let verdict = verify_lines(&last, &key);
    assert_eq!(verdict.first_broken, Some(head), "{}", verdict.problem);

    // A deleted entry.
    let mut deleted = lines.clone();
    deleted.remove(line_of(&deleted, 7));
    let verdict = verify_lines(&deleted, &key);
    assert_eq!(verdict.first_broken, Some(7), "{}", verdict.problem);
    assert!(verdict.problem.contains("missing"), "{}", verdict.problem);

    // Two entries swapped.
    let mut swapped = lines.clone();
    let (a, b) = (line_of(&swapped, 5), line_of(&swapped, 6));
    swapped.swap(a, b);
    let verdict = verify_lines(&swapped, &key);
    assert_eq!(verdict.first_broken, Some(5), "{}", verdict.problem);

    // Another key: the checkpoints fail.
    let other =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let other = ring::signature::Ed25519KeyPair::from_pkcs8(other.as_ref()).unwrap();
    use ring::signature::KeyPair;
    let verdict = verify_lines(&lines, other.public_key().as_ref());
    assert!(!verdict.ok());
    assert!(
        verdict.problem.contains("no valid signature"),
        "{}",
        verdict.problem
    );

    // The same through the CLI, offline: no gateway, no identity.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.jsonl");
    std::fs::write(&file, changed.join("\n")).unwrap();
    let out = std::process::Command::new(workspace_binary("schakel"))
        .args(["--json", "audit", "verify", "--file"])
        .arg(&file)
        .args(["--key", &hex::encode(&key)])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["first_broken_sequence"], k);
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = std::process::Command::new(workspace_binary("schakel"))
        .args(["audit", "verify", "--file"])
        .arg(&file)
        .args(["--key", &hex::encode(&key)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("audit log intact"));
}

#[tokio::test]
async fn tampering_inside_the_store_is_found_by_verify() {
    let mut gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    for i in 0..5 {
        school
            .send(fixtures::signalering(&format!("t{i}"), &gw.oin(org::JGT)))
            .await
            .unwrap();
    }
    drop(school);
    gw.stop().await;

    // Alter entry 6 directly in the sled tree, as an intruder with disk access would.
    let store_dir = gw.store_dir();
    {
        let db = sled::open(&store_dir).unwrap();
        let tree = db.open_tree("schakel").unwrap();
        let mut key = vec![b'a'];
        key.extend_from_slice(&6u64.to_be_bytes());
        let mut entry: serde_json::Value =
            serde_json::from_slice(&tree.get(&key).unwrap().unwrap()).unwrap();
        entry["actor"] = "00000099100000000002".into();
        tree.insert(key, serde_json::to_vec(&entry).unwrap())
            .unwrap();
        db.flush().unwrap();
    }
    // The stopped store, verified by the gateway binary.
    let out = std::process::Command::new(workspace_binary("schakel-gateway"))
        .args(["audit", "verify", "--data"])
        .arg(&gw.config.storage.data_dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("BROKEN at entry 6"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // And by the running gateway's Verify.
    let gw = gw.restart().await;
    let verdict = gw
        .client(org::OPERATOR)
        .await
        .audit_verify(0, 0)
        .await
        .unwrap();
    assert!(!verdict.ok);
    assert_eq!(verdict.first_broken_sequence, 6, "{}", verdict.problem);
}

#[tokio::test]
async fn the_chain_continues_across_a_graceful_restart() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    school
        .send(fixtures::signalering("r1", &gw.oin(org::JGT)))
        .await
        .unwrap();
    drop(school);
    let gw = gw.restart().await;
    gw.client(org::SCHOOL_PO)
        .await
        .send(fixtures::signalering("r2", &gw.oin(org::JGT)))
        .await
        .unwrap();
    let operator = gw.client(org::OPERATOR).await;
    let verdict = operator.audit_verify(0, 0).await.unwrap();
    assert!(verdict.ok, "{}", verdict.problem);
    let entries = query(&operator, pb::AuditQueryRequest::default()).await;
    let seqs: Vec<_> = entries.iter().map(|e| e.sequence).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_survives_sigkill_and_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(&tmp.path().join("pki"));
    let data = tmp.path().join("data");
    let mut gw = GatewayProcess::spawn_with(&pki, &data, &[]);
    let school = gw.client(&pki, org::SCHOOL_PO).await;
    let mut accepted = Vec::new();
    for i in 0..50 {
        accepted.push(
            school
                .send(fixtures::signalering(&format!("k{i}"), &pki.oin(org::JGT)))
                .await
                .unwrap(),
        );
    }
    gw.signal(libc::SIGKILL);
    gw.wait();
    drop(school);

    let gw = GatewayProcess::spawn_with(&pki, &data, &[]);
    let school = gw.client(&pki, org::SCHOOL_PO).await;
    school
        .send(fixtures::signalering("after", &pki.oin(org::JGT)))
        .await
        .unwrap();
    let operator = gw.client(&pki, org::OPERATOR).await;
    let verdict = operator.audit_verify(0, 0).await.unwrap();
    assert!(verdict.ok, "{}", verdict.problem);
    // Every accepted message has its entry, named by its receipt.
    let entries = query(
        &operator,
        pb::AuditQueryRequest {
            actions: vec![pb::AuditAction::SendAccepted as i32],
            ..Default::default()
        },
    )
    .await;
    for sent in &accepted {
        let seq = sent.receipt.as_ref().unwrap().audit_sequence;
        assert!(
            entries
                .iter()
                .any(|e| e.sequence == seq && e.message_id == sent.message_id)
        );
    }
    let key = operator.gateway_key().await.unwrap().ed25519_public_key;
    let lines = export(&operator).await;
    assert!(verify_lines(&lines, &key).ok());
}

#[tokio::test]
async fn entries_past_retention_are_removed_and_the_rest_still_verifies() {
    let gw = TestGateway::start_with(|_, c| c.audit.retention_days = 0).await;
    let school = gw.client(org::SCHOOL_PO).await;
    for i in 0..3 {
        school
            .send(fixtures::signalering(&format!("p{i}"), &gw.oin(org::JGT)))
            .await
            .unwrap();
    }
    let operator = gw.client(org::OPERATOR).await;
    // The upkeep runs every second; wait until it has removed the old entries.
    let mut remaining = Vec::new();
    for _ in 0..300 {
        remaining = query(&operator, pb::AuditQueryRequest::default()).await;
        if remaining.first().is_some_and(|e| e.sequence > 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(remaining.first().unwrap().sequence > 1, "{remaining:?}");
    let verdict = operator.audit_verify(0, 0).await.unwrap();
    assert!(verdict.ok, "{}", verdict.problem);
    let key = operator.gateway_key().await.unwrap().ed25519_public_key;
    assert!(verify_lines(&export(&operator).await, &key).ok());

    // After a restart (with a retention that removes nothing more) the store
    // finds where the kept chain begins and ends from the entries
    // themselves, and the chain goes on from its head.
    drop((school, operator));
    let mut gw = gw;
    gw.config.audit.retention_days = 3650;
    let gw = gw.restart().await;
    gw.client(org::SCHOOL_PO)
        .await
        .send(fixtures::signalering("na-herstart", &gw.oin(org::JGT)))
        .await
        .unwrap();
    let operator = gw.client(org::OPERATOR).await;
    let verdict = operator.audit_verify(0, 0).await.unwrap();
    assert!(verdict.ok, "{}", verdict.problem);
    assert!(verify_lines(&export(&operator).await, &key).ok());
}
