//! The tamper-evident audit log: one entry per decision with the right
//! fields, operators-only queries by every filter, signed checkpoints, and
//! verification that names the first altered, missing or reordered entry:
//! online, offline from an export, and on a stopped gateway's store.

use schakel_client::proto::{self as pb, AuditEntry};
use schakel_tests::calls::{
    action, audit_about, audit_of, audit_query, deliver, eventually, export_lines, gateway_keys,
    log_intact, send_signals, verify_lines,
};
use schakel_tests::fixtures::{self, BSN, granted};
use schakel_tests::process::Cli;
use schakel_tests::{GatewayProcess, TestGateway, TestPki, code_of, org, refusal};
use tonic::Code;

use pb::AuditAction as A;

#[tokio::test]
async fn every_decision_is_one_entry_with_the_right_fields() {
    let gw = TestGateway::start_with(|_, c| {
        c.exchange.retention_secs = 0;
        c.exchange.sweep_interval_ms = 50;
    })
    .await;
    let school = gw.client(org::SCHOOL_PO).await;
    let index = gw.client(org::VERWIJSINDEX).await;
    let swv = gw.client(org::SWV).await;
    let operator = gw.client(org::OPERATOR).await;

    // Accepted, leased, delivered, purged (retention 0).
    let sent = deliver(
        &school,
        &index,
        fixtures::signalering("a1", &gw.oin(org::VERWIJSINDEX)),
    )
    .await
    .sent;
    let entries = audit_about(&operator, &sent.message_id).await;
    let actions: Vec<_> = entries.iter().map(action).collect();
    assert_eq!(
        actions,
        vec![A::SendAccepted, A::Leased, A::Delivered, A::Purged]
    );
    let accepted = &entries[0];
    assert_eq!(accepted.actor_oin, gw.oin(org::SCHOOL_PO));
    assert_eq!(accepted.counterpart_oin, gw.oin(org::VERWIJSINDEX));
    assert_eq!(accepted.kind, pb::MessageKind::Signalering as i32);
    assert_eq!(accepted.child_ref.len(), 64);
    assert_eq!(
        accepted.legal_basis,
        fixtures::statute(pb::StatutoryBasis::Verwijsindex)
    );
    assert_eq!(entries[1].actor_oin, gw.oin(org::VERWIJSINDEX));
    assert_eq!(entries[2].actor_oin, gw.oin(org::VERWIJSINDEX));
    assert_eq!(entries[3].actor_oin, "gateway");
    // The receipts name the audit entries of their events.
    let receipts = school.status(&sent.message_id).await.unwrap().receipts;
    assert_eq!(receipts[0].audit_sequence, entries[0].sequence);
    assert_eq!(receipts[1].audit_sequence, entries[2].sequence);

    // Rejected.
    let rejected = school
        .send(fixtures::signalering("a2", &gw.oin(org::VERWIJSINDEX)))
        .await
        .unwrap();
    schakel_tests::pull_until(&index, 1).await;
    index
        .reject(&rejected.message_id, pb::RejectReason::Duplicate, "")
        .await
        .unwrap();
    let entries = audit_about(&operator, &rejected.message_id).await;
    let rejection = entries.iter().find(|e| action(e) == A::Rejected).unwrap();
    assert_eq!(rejection.detail, "DUPLICATE");

    // Refused send: one entry with the rule, no message.
    let refused = school
        .send(fixtures::signalering("a3", &gw.oin(org::SCHOOL_VO)))
        .await;
    assert_eq!(code_of(refused), Code::PermissionDenied);
    let entries = audit_of(&operator, &[A::SendRefused]).await;
    assert_eq!(entries.len(), 1);
    assert!(
        entries[0]
            .detail
            .contains("routing: a signalering may be sent to"),
        "{}",
        entries[0].detail
    );
    assert!(entries[0].message_id.is_empty());
    assert_eq!(entries[0].counterpart_oin, gw.oin(org::SCHOOL_VO));
    assert!(gw.inbox(org::SCHOOL_VO).await.is_empty());

    // Consent granted, revoked, and the message under it withdrawn.
    let consent = granted(&swv).await;
    let under = swv
        .send(fixtures::consult("a4", &gw.oin(org::JGT), &consent))
        .await
        .unwrap();
    swv.revoke_consent(&consent, "ingetrokken").await.unwrap();
    let basis = fixtures::consent(&consent);
    let entries = audit_query(
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
    // The reason a caller typed stays out of the chain.
    assert_eq!(
        by_action(A::ConsentRevoked)[0].detail,
        "text of 11 characters given, not kept in the log"
    );
    let withdrawn = by_action(A::Withdrawn);
    assert_eq!(withdrawn.len(), 1);
    assert_eq!(withdrawn[0].message_id, under.message_id);

    // Directory change and refused calls of known organisations.
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
    let changes = audit_of(&operator, &[A::DirectoryChanged]).await;
    let suspension = changes.last().unwrap();
    assert_eq!(suspension.actor_oin, gw.oin(org::OPERATOR));
    assert_eq!(suspension.counterpart_oin, gw.oin(org::GEMEENTE));
    assert_eq!(
        suspension.detail,
        "suspended (text of 4 characters given, not kept in the log)"
    );
    // Refusals are counted and written once a second here.
    let refusals = eventually("the refusals", || async {
        let found = audit_of(&operator, &[A::AccessRefused]).await;
        (found.len() >= 2).then_some(found)
    })
    .await;
    let mut refusals = refusals;
    refusals.sort_by_key(|e| e.actor_oin != gw.oin(org::SCHOOL_PO));
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
    let mut short = fixtures::signalering("a5", &gw.oin(org::VERWIJSINDEX));
    short.expires_at = Some(fixtures::in_seconds(2.0));
    let expiring = school.send(short).await.unwrap();
    let found = eventually("the expiry", || async {
        let entries = audit_about(&operator, &expiring.message_id).await;
        let expired: Vec<_> = entries
            .into_iter()
            .filter(|e| action(e) == A::Expired)
            .collect();
        (!expired.is_empty()).then_some(expired)
    })
    .await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].actor_oin, "gateway");

    // No entry holds a BSN in clear.
    let all = audit_query(&operator, pb::AuditQueryRequest::default()).await;
    for e in &all {
        let text = format!("{e:?}");
        assert!(BSN.iter().all(|b| !text.contains(b)), "{text}");
    }
    // And the whole chain verifies (the sweeper may have added an entry,
    // such as the expired message's purge, since the query).
    let verdict = log_intact(&operator).await;
    assert!(verdict.entries_checked >= all.len() as u64);
}

#[tokio::test]
async fn only_operators_reach_the_audit_log() {
    let gw = TestGateway::start().await;
    for who in [org::SCHOOL_PO, org::SWV, org::JGT, org::GEMEENTE] {
        let c = gw.client(who).await;
        let query = c.audit_query(pb::AuditQueryRequest::default()).await;
        let m = refusal(query.map(|_| ()), Code::PermissionDenied);
        assert!(m.contains("operators only"), "{m}");
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
    let mut sent = Vec::new();
    for request in [
        fixtures::signalering("q1", &gw.oin(org::VERWIJSINDEX)),
        fixtures::dossier("q2", &gw.oin(org::SCHOOL_VO)),
        {
            let mut report = fixtures::signalering("q3", &gw.oin(org::VEILIG_THUIS));
            report.legal_basis = schakel_tests::fixtures::meldrecht();
            report
        },
    ] {
        sent.push(school.send(request).await.unwrap().message_id);
    }
    let ids = |es: Vec<AuditEntry>| es.into_iter().map(|e| e.message_id).collect::<Vec<_>>();
    let q = |request: pb::AuditQueryRequest| audit_query(&operator, request);
    let accepted = || vec![A::SendAccepted as i32];
    // By child: the signals are about BSN[0], the dossier about BSN[1]. (A
    // query by child finds its own read too: privacy.rs.)
    let by_child = |bsn: &str| pb::AuditQueryRequest {
        child_bsn: bsn.into(),
        actions: accepted(),
        ..Default::default()
    };
    assert_eq!(
        ids(q(by_child(BSN[0])).await),
        [sent[0].clone(), sent[2].clone()]
    );
    assert_eq!(ids(q(by_child(BSN[1])).await), [sent[1].clone()]);
    // By organisation (as counterpart): its entry in the directory (seeded
    // at start), then the signal to it.
    let by_org = q(pb::AuditQueryRequest {
        org_oin: gw.oin(org::VEILIG_THUIS),
        ..Default::default()
    })
    .await;
    assert_eq!(action(&by_org[0]), A::DirectoryChanged);
    assert_eq!(ids(by_org[1..].to_vec()), [sent[2].clone()]);
    // By message and action.
    let by_msg = q(pb::AuditQueryRequest {
        message_id: sent[1].clone(),
        actions: accepted(),
        ..Default::default()
    })
    .await;
    assert_eq!(by_msg.len(), 1);
    // By time: nothing before the test started, everything after.
    let start = prost_types::Timestamp {
        seconds: before.unix_timestamp() - 1,
        nanos: 0,
    };
    let window = |from, to| pb::AuditQueryRequest {
        from,
        to,
        actions: accepted(),
        ..Default::default()
    };
    assert!(q(window(None, Some(start))).await.is_empty());
    assert_eq!(q(window(Some(start), None)).await.len(), 3);
    // Paging: two at a time, continuing after the last sequence number.
    let page = |after_sequence, limit| pb::AuditQueryRequest {
        actions: accepted(),
        after_sequence,
        limit,
        ..Default::default()
    };
    let page1 = q(page(0, 2)).await;
    assert_eq!(page1.len(), 2);
    let page2 = q(page(page1[1].sequence, 0)).await;
    assert_eq!(ids(page2), [sent[2].clone()]);
    // A bad BSN is refused by field.
    let bad = operator.audit_query(by_child("123")).await.map(|_| ());
    let m = refusal(bad, Code::InvalidArgument);
    assert!(m.starts_with("child_bsn"), "{m}");
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

/// `lines` with the entry `seq` changed by `edit`.
fn edited(lines: &[String], seq: u64, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<String> {
    let mut out = lines.to_vec();
    let i = line_of(&out, seq);
    let mut v: serde_json::Value = serde_json::from_str(&out[i]).unwrap();
    edit(&mut v);
    out[i] = v.to_string();
    out
}

#[tokio::test]
async fn the_offline_verifier_names_a_changed_a_deleted_and_a_swapped_entry() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    send_signals(&school, &gw.oin(org::VERWIJSINDEX), "v", 6).await;
    let operator = gw.client(org::OPERATOR).await;
    let key = gateway_keys(&operator).await;
    let lines = export_lines(&operator).await;
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
    let changed = edited(&lines, k, |v| {
        v["counterpart_oin"] = "00000099400000000001".into()
    });
    let verdict = verify_lines(&changed, &key);
    assert_eq!(verdict.first_broken, Some(k), "{}", verdict.problem);
    assert!(verdict.problem.contains("altered"), "{}", verdict.problem);

    // The last entry changed: only the signed checkpoint can tell, and does.
    let last = edited(&lines, head, |v| v["detail"] = "niets aan de hand".into());
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

    // Entries cut off either end: the signed range that opens the export
    // tells. (The tail cut here includes its checkpoint.)
    let mut no_head = lines.clone();
    no_head.truncate(line_of(&no_head, head));
    let verdict = verify_lines(&no_head, &key);
    assert_eq!(verdict.first_broken, Some(head), "{}", verdict.problem);
    assert!(
        verdict.problem.contains("cut off the end"),
        "{}",
        verdict.problem
    );
    let mut no_start = lines.clone();
    no_start.remove(line_of(&no_start, 1));
    let verdict = verify_lines(&no_start, &key);
    assert_eq!(verdict.first_broken, Some(1), "{}", verdict.problem);

    // Another key: the signed range and the checkpoints fail.
    let verdict = verify_lines(&lines, &fixtures::other_keys());
    assert!(!verdict.ok());
    assert!(
        verdict.problem.contains("not among the gateway's keys"),
        "{}",
        verdict.problem
    );

    // The same through the CLI, offline: no gateway, no identity.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.jsonl");
    let offline = |text: &[String], json: &[&str]| {
        std::fs::write(&file, text.join("\n")).unwrap();
        Cli::new()
            .args(["audit", "verify", "--file"])
            .args([&file])
            .args(["--key", &key.to_hex()])
            .args(json)
            .output()
    };
    let out = offline(&changed, &["--json"]);
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["first_broken_sequence"], k);
    let out = schakel_tests::succeeded(offline(&lines, &[]));
    assert!(out.contains("audit log intact"), "{out}");
}

#[tokio::test]
async fn tampering_inside_the_store_is_found_by_verify() {
    schakel_tests::sled_only!("the sled tree is altered directly");
    let mut gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    send_signals(&school, &gw.oin(org::VERWIJSINDEX), "t", 5).await;
    drop(school);
    gw.stop().await;

    // Alter entry 6 directly in the sled tree, as an intruder with disk access would.
    {
        let db = sled::open(gw.store_dir()).unwrap();
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
    let out = schakel_tests::process::verify_data_folder(&gw.config.storage.data_dir);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("BROKEN at entry 6"), "{stdout}");

    // And by the running gateway's Verify.
    let gw = gw.restart().await;
    let operator = gw.client(org::OPERATOR).await;
    let verdict = operator.audit_verify(0, 0).await.unwrap();
    assert!(!verdict.ok);
    assert_eq!(verdict.first_broken_sequence, 6, "{}", verdict.problem);
}

#[tokio::test]
async fn the_chain_continues_across_a_graceful_restart() {
    let gw = TestGateway::start().await;
    gw.send(
        org::SCHOOL_PO,
        fixtures::signalering("r1", &gw.oin(org::VERWIJSINDEX)),
    )
    .await;
    let gw = gw.restart().await;
    gw.send(
        org::SCHOOL_PO,
        fixtures::signalering("r2", &gw.oin(org::VERWIJSINDEX)),
    )
    .await;
    let operator = gw.client(org::OPERATOR).await;
    log_intact(&operator).await;
    let entries = audit_query(&operator, pb::AuditQueryRequest::default()).await;
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
    let accepted = send_signals(&school, &pki.oin(org::VERWIJSINDEX), "k", 50).await;
    gw.signal(libc::SIGKILL);
    gw.wait();
    drop(school);

    let gw = GatewayProcess::spawn_with(&pki, &data, &[]);
    let school = gw.client(&pki, org::SCHOOL_PO).await;
    school
        .send(fixtures::signalering("after", &pki.oin(org::VERWIJSINDEX)))
        .await
        .unwrap();
    let operator = gw.client(&pki, org::OPERATOR).await;
    log_intact(&operator).await;
    // Every accepted message has its entry, named by its receipt.
    let entries = audit_of(&operator, &[A::SendAccepted]).await;
    for sent in &accepted {
        let seq = sent.receipt.as_ref().unwrap().audit_sequence;
        assert!(
            entries
                .iter()
                .any(|e| e.sequence == seq && e.message_id == sent.message_id)
        );
    }
    let key = gateway_keys(&operator).await;
    assert!(verify_lines(&export_lines(&operator).await, &key).ok());
}
