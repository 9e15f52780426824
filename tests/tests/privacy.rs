//! The privacy officer's view: every read of the audit trail by an operator
//! is itself recorded (who, when, which filter), and the access report
//! about a child holds its whole trail (replies and reports to Veilig Thuis
//! included, the latter marked for review), is signed by the gateway, and
//! verifies offline, or fails when altered. Each organisation obtains the
//! report of its own part, as the controller that answers for it.

use schakel_client::proto as pb;
use schakel_tests::calls::{audit_of, audit_query, deliver};
use schakel_tests::fixtures::{self, BSN, granted};
use schakel_tests::process::Cli;
use schakel_tests::{TestGateway, org, refusal, succeeded};
use serde_json::Value;
use tonic::Code;

#[tokio::test]
async fn every_read_of_the_trail_by_an_operator_is_recorded() {
    let gw = TestGateway::start().await;
    let operator = gw.client(org::OPERATOR).await;
    let by_child = pb::AuditQueryRequest {
        child_bsn: BSN[2].into(),
        ..Default::default()
    };
    audit_query(&operator, by_child.clone()).await;
    operator.audit_verify(0, 0).await.unwrap();
    drop(operator.audit_export(3, 0).await.unwrap());
    let reads = audit_of(&operator, &[pb::AuditAction::AuditRead]).await;
    let details: Vec<_> = reads.iter().map(|e| e.detail.as_str()).collect();
    assert!(details[0].starts_with("query: child "), "{details:?}");
    assert_eq!(details[1], "verify: the whole log");
    assert_eq!(details[2], "export: entries 3 to the head");
    assert!(
        details[3].starts_with("query: actions AuditRead"),
        "{details:?}"
    );
    assert!(reads.iter().all(|e| e.actor_oin == gw.oin(org::OPERATOR)));
    // The read about the child carries its reference: the child's own
    // trail shows who looked.
    let trail = audit_query(&operator, by_child).await;
    let looked: Vec<_> = trail
        .iter()
        .filter(|e| e.action == pb::AuditAction::AuditRead as i32)
        .collect();
    assert_eq!(looked.len(), 2, "the first look, and this one");
    assert_eq!(looked[0].child_ref, trail.last().unwrap().child_ref);
    // A read refused with bad input is not a read.
    let bad = pb::AuditQueryRequest {
        child_bsn: "123".into(),
        ..Default::default()
    };
    let m = refusal(
        operator.audit_query(bad).await.map(|_| ()),
        Code::InvalidArgument,
    );
    assert!(m.starts_with("child_bsn: "), "{m}");
    let again = audit_of(&operator, &[pb::AuditAction::AuditRead]).await;
    assert_eq!(
        again.len(),
        reads.len() + 2,
        "the trail's query and this one, not the refused one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_report_holds_the_whole_trail_and_verifies_offline() {
    let gw = TestGateway::start().await;
    let swv = gw.client(org::SWV).await;
    let jgt = gw.client(org::JGT).await;
    let gemeente = gw.client(org::GEMEENTE).await;
    let vt = gw.client(org::VEILIG_THUIS).await;
    let operator = gw.client(org::OPERATOR).await;
    let consent = granted(&swv).await;
    let asked = deliver(
        &swv,
        &jgt,
        fixtures::consult("q", &gw.oin(org::JGT), &consent),
    )
    .await;
    let answered = deliver(
        &jgt,
        &swv,
        fixtures::reply("a", &gw.oin(org::SWV), &asked.sent.message_id),
    )
    .await;
    let mut report = fixtures::consult("vt", &gw.oin(org::VEILIG_THUIS), "");
    report.legal_basis = fixtures::meldrecht();
    let reported = deliver(&gemeente, &vt, report).await;
    // Another child's message stays out.
    let other = gw
        .send(
            org::SCHOOL_PO,
            fixtures::signalering("ander", &gw.oin(org::VERWIJSINDEX)),
        )
        .await;

    let signed = operator
        .audit_report(BSN[2], "inzageverzoek 2026-17")
        .await
        .unwrap();
    let doc: Value = serde_json::from_slice(&signed.document).unwrap();
    assert_eq!(doc["format"], "schakel-access-report-v1");
    assert_eq!(doc["reason"], "inzageverzoek 2026-17");
    let ids: Vec<_> = doc["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().to_owned())
        .collect();
    for id in [
        &asked.sent.message_id,
        &answered.sent.message_id,
        &reported.sent.message_id,
    ] {
        assert!(ids.contains(id), "{id} in {ids:?}");
    }
    assert!(!ids.contains(&other.message_id));
    let message = |id: &str| {
        doc["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["message_id"] == id)
            .unwrap()
            .clone()
    };
    let request = message(&asked.sent.message_id);
    assert_eq!(request["leases"][0]["by"], gw.oin(org::JGT));
    assert_eq!(request["state"], "delivered");
    assert!(request["review"].is_null());
    let to_vt = message(&reported.sent.message_id);
    assert!(to_vt["review"].as_str().unwrap().contains("AVG art. 15(4)"));
    assert_eq!(
        doc["for_review"],
        serde_json::json!([reported.sent.message_id])
    );
    assert_eq!(doc["consents"][0]["consent_id"], consent);
    assert_eq!(doc["consents"][0]["history"][0]["action"], "ConsentGranted");
    assert_eq!(
        doc["consents"][0]["consented_by"],
        serde_json::json!(["parent"])
    );
    assert_eq!(doc["consents"][0]["obtained"], "in_writing");
    let audit = doc["audit"].as_array().unwrap();
    assert!(audit.iter().any(|e| e["action"] == "AuditRead"
        && e["detail"] == "access report (text of 21 characters given, not kept in the log)"));

    // Through the command line: made, written, verified offline, and found
    // out when altered.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rapport.json");
    let key = hex::encode(operator.gateway_key().await.unwrap().ed25519_public_key);
    let (url, identity, file_arg) = (
        gw.url(),
        gw.pki.dir.join(org::OPERATOR),
        file.to_str().unwrap().to_owned(),
    );
    let made = tokio::task::spawn_blocking(move || {
        Cli::as_org(&url, &identity)
            .args([
                "audit",
                "report",
                "--child",
                BSN[2],
                "--reason",
                "inzage via cli",
            ])
            .args(["--out", &file_arg])
            .output()
    })
    .await
    .unwrap();
    let readable = succeeded(made);
    assert!(readable.contains("ACCESS REPORT"), "{readable}");
    assert!(
        readable.contains("REVIEW BEFORE HANDING OVER"),
        "{readable}"
    );
    let verify = |key: &str| {
        Cli::new()
            .args(["audit", "verify-report", "--file"])
            .args([&file])
            .args(["--key", key])
            .output()
    };
    let ok = succeeded(verify(&key));
    assert!(ok.contains("report signature verified"), "{ok}");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let altered = v["document"]
        .as_str()
        .unwrap()
        .replacen("delivered", "rejected", 1);
    v["document"] = altered.into();
    std::fs::write(&file, v.to_string()).unwrap();
    let out = verify(&key);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not verify"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The audit entries about the message to Veilig Thuis name the
    // reporter: they are marked for review too.
    let flagged: Vec<u64> = doc["audit_for_review"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap())
        .collect();
    let about_vt: Vec<_> = audit
        .iter()
        .filter(|e| e["message_id"] == reported.sent.message_id.as_str())
        .collect();
    assert!(!about_vt.is_empty());
    for e in &about_vt {
        assert!(flagged.contains(&e["sequence"].as_u64().unwrap()), "{e}");
        assert!(e["review"].as_str().unwrap().contains("AVG art. 15(4)"));
    }
    assert_eq!(flagged.len(), about_vt.len(), "only those");
    assert!(
        doc["controller"].is_null(),
        "the operator's is the whole trail"
    );
}

/// The signed access report of one organisation's part: `org` asks it
/// about child `BSN[2]`.
async fn own_report(client: &schakel_client::Client) -> Value {
    schakel_tests::calls::access_report(client, BSN[2], "inzageverzoek eigen deel").await
}

fn listed(doc: &Value, key: &str, field: &str) -> Vec<String> {
    doc[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m[field].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_organisation_obtains_the_report_of_its_own_part() {
    let gw = TestGateway::start().await;
    let swv = gw.client(org::SWV).await;
    let jgt = gw.client(org::JGT).await;
    let gemeente = gw.client(org::GEMEENTE).await;
    let vt = gw.client(org::VEILIG_THUIS).await;
    let operator = gw.client(org::OPERATOR).await;
    let consent = granted(&swv).await;
    let asked = deliver(
        &swv,
        &jgt,
        fixtures::consult("q", &gw.oin(org::JGT), &consent),
    )
    .await;
    let answered = deliver(
        &jgt,
        &swv,
        fixtures::reply("a", &gw.oin(org::SWV), &asked.sent.message_id),
    )
    .await;
    let mut report = fixtures::consult("vt", &gw.oin(org::VEILIG_THUIS), "");
    report.legal_basis = fixtures::meldrecht();
    let reported = deliver(&gemeente, &vt, report).await;
    // The operator looks: not part of any organisation's own trail.
    audit_query(
        &operator,
        pb::AuditQueryRequest {
            child_bsn: BSN[2].into(),
            ..Default::default()
        },
    )
    .await;

    let of_jgt = own_report(&jgt).await;
    assert_eq!(of_jgt["controller"], gw.oin(org::JGT));
    assert_eq!(of_jgt["made_by"], gw.oin(org::JGT));
    let mut ids = listed(&of_jgt, "messages", "message_id");
    ids.sort();
    let mut expected = vec![
        asked.sent.message_id.clone(),
        answered.sent.message_id.clone(),
    ];
    expected.sort();
    assert_eq!(ids, expected, "what it received and sent, not the rest");
    assert_eq!(
        listed(&of_jgt, "consents", "consent_id"),
        vec![consent.clone()],
        "the consent its messages travelled under"
    );
    let jgt_oin = gw.oin(org::JGT);
    for e in of_jgt["audit"].as_array().unwrap() {
        let mine = e["actor"] == jgt_oin.as_str()
            || e["counterpart"] == jgt_oin.as_str()
            || ids.iter().any(|m| e["message_id"] == m.as_str());
        assert!(mine, "an entry outside its part: {e}");
        assert_ne!(e["actor"], gw.oin(org::OPERATOR), "{e}");
    }
    assert!(
        of_jgt["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "AuditRead" && e["actor"] == jgt_oin.as_str()),
        "its own request is in it"
    );
    assert_eq!(of_jgt["for_review"], serde_json::json!([]));

    // The reporter's own part: the report to Veilig Thuis, marked for
    // review with the entries that name it; nothing of the others.
    let of_gemeente = own_report(&gemeente).await;
    assert_eq!(
        listed(&of_gemeente, "messages", "message_id"),
        vec![reported.sent.message_id.clone()]
    );
    assert!(listed(&of_gemeente, "consents", "consent_id").is_empty());
    assert_eq!(
        of_gemeente["for_review"],
        serde_json::json!([reported.sent.message_id])
    );
    let sent = of_gemeente["audit"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "SendAccepted")
        .expect("its send is in its part");
    assert!(sent["review"].is_string(), "{sent}");
    assert!(
        of_gemeente["audit_for_review"]
            .as_array()
            .unwrap()
            .contains(&sent["sequence"])
    );
    // Veilig Thuis's part holds the same message, under review.
    let of_vt = own_report(&vt).await;
    assert_eq!(
        listed(&of_vt, "messages", "message_id"),
        vec![reported.sent.message_id.clone()]
    );
    assert!(!of_vt["audit_for_review"].as_array().unwrap().is_empty());
    // Each request is in the operator's whole trail, with its maker.
    let whole = operator.audit_report(BSN[2], "controle").await.unwrap();
    let whole: Value = serde_json::from_slice(&whole.document).unwrap();
    let makers: Vec<_> = whole["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "AuditRead")
        .map(|e| e["actor"].as_str().unwrap().to_owned())
        .collect();
    for o in [org::JGT, org::GEMEENTE, org::VEILIG_THUIS] {
        assert!(makers.contains(&gw.oin(o)), "{o} in {makers:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_that_revokes_sees_nothing_of_the_other_recipients_in_its_report() {
    let gw = TestGateway::start().await;
    let swv = gw.client(org::SWV).await;
    let jgt = gw.client(org::JGT).await;
    let mut grant = fixtures::consent_grant(BSN[2]);
    grant.recipient_kinds = vec![
        pb::OrganisationKind::Jgt as i32,
        pb::OrganisationKind::Gemeente as i32,
    ];
    let consent = swv.grant_consent(grant).await.unwrap().consent_id;
    let asked = deliver(
        &swv,
        &jgt,
        fixtures::consult("q", &gw.oin(org::JGT), &consent),
    )
    .await;
    // A message to the gemeente under the same consent, still queued.
    let elsewhere = swv
        .send(fixtures::consult("g", &gw.oin(org::GEMEENTE), &consent))
        .await
        .unwrap();
    // The parents tell the JGT: it revokes, and so withdraws the message
    // to the gemeente (its audit entry has the JGT as actor).
    jgt.revoke_consent(&consent, "ouders trekken in")
        .await
        .unwrap();

    let of_jgt = own_report(&jgt).await;
    assert_eq!(
        listed(&of_jgt, "messages", "message_id"),
        vec![asked.sent.message_id.clone()]
    );
    for e in of_jgt["audit"].as_array().unwrap() {
        assert_ne!(e["message_id"], elsewhere.message_id.as_str(), "{e}");
        assert_ne!(e["counterpart"], gw.oin(org::GEMEENTE), "{e}");
    }
    assert!(
        of_jgt["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "ConsentRevoked"),
        "its own revocation is in its part"
    );
    // It sees the consent as a recipient does: not whom else it names.
    let c = &of_jgt["consents"][0];
    assert_eq!(c["consent_id"], consent.as_str());
    assert!(c["recipient_kinds"].is_null(), "{c}");
    assert!(c["recipient_oins"].is_null(), "{c}");
    // The registrant sees its whole record, the withdrawn message too.
    let of_swv = own_report(&swv).await;
    assert_eq!(
        of_swv["consents"][0]["recipient_kinds"],
        serde_json::json!(["jgt", "gemeente"])
    );
    assert!(listed(&of_swv, "messages", "message_id").contains(&elsewhere.message_id));
}
