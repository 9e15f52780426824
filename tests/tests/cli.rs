//! The `schakel` command line against a real gateway: a school's signal
//! reaches the Verwijsindex's inbox, is acknowledged, and the school holds a
//! verified DELIVERED receipt, all through the CLI with `--json`.

use schakel_tests::process::Cli;
use schakel_tests::{TestGateway, fixtures, org, workspace_root};
use serde_json::Value;

use schakel_tests::process::cli_json as schakel;

/// The message id a `send` answered.
fn id(sent: &[Value]) -> String {
    sent[0]["message_id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_travels_from_school_to_the_verwijsindex_through_the_cli() {
    let gw = TestGateway::start().await;
    let index = gw.oin(org::VERWIJSINDEX);
    let birth = fixtures::date(-3000);
    let until = fixtures::date(300);
    #[rustfmt::skip]
    let sent = schakel(&gw, org::SCHOOL_PO, &[
        "send", "signalering", "--to", &index, "--bsn", fixtures::BSN[0],
        "--birth-date", &birth, "--valid-until", &until, "--parents-informed",
        "--contact-name", "J. de Vries", "--contact-role", "intern begeleider",
        "--contact-phone", "071 1234567", "--legal-basis", "verwijsindex", "--reference", "cli-1",
    ]).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["status"], "accepted");
    let id = id(&sent);

    let inbox = schakel(&gw, org::VERWIJSINDEX, &["inbox", "pull"]).await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0]["message_id"], id.as_str());
    assert_eq!(inbox[0]["kind"], "signalering");
    assert_eq!(inbox[0]["body"]["bsn"], fixtures::BSN[0]);

    let acked = schakel(&gw, org::VERWIJSINDEX, &["inbox", "ack", &id]).await;
    assert_eq!(acked[0]["status"], "delivered");

    let status = schakel(&gw, org::SCHOOL_PO, &["status", &id]).await;
    assert_eq!(status[0]["status"], "delivered");
    let statuses: Vec<_> = status[0]["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(statuses, vec!["accepted", "delivered"]);

    let receipts = schakel(&gw, org::SCHOOL_PO, &["receipts"]).await;
    assert_eq!(receipts.len(), 2);
    let after = receipts[0]["cursor"].as_u64().unwrap().to_string();
    let later = schakel(&gw, org::SCHOOL_PO, &["receipts", "--after", &after]).await;
    assert_eq!(later.len(), 1);
    assert_eq!(later[0]["status"], "delivered");
}

/// A file of examples/messages, as an argument.
fn example(name: &str) -> String {
    workspace_root()
        .join("examples/messages")
        .join(name)
        .display()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_message_file_is_sent_and_arrives_as_written() {
    let gw = TestGateway::start().await;
    let dir = tempfile::tempdir().unwrap();

    // A signal from examples/messages/signalering.json: its signal date and
    // validity are left to the defaults (today, and a year).
    let index = gw.oin(org::VERWIJSINDEX);
    #[rustfmt::skip]
    let signal = schakel(&gw, org::SCHOOL_PO, &[
        "send", "signalering", "--to", &index, "--legal-basis", "verwijsindex",
        "--file", &example("signalering.json"), "--reference", "signal-from-file",
    ]).await;
    assert_eq!(signal[0]["type"], "sent");
    // Its receipt, verified by its proof in the audit log: no signature of
    // its own, a place in the tree.
    assert_eq!(signal[0]["signature"], "");
    assert!(signal[0]["tree_size"].as_u64().unwrap() > signal[0]["leaf_index"].as_u64().unwrap());
    let got = schakel(&gw, org::VERWIJSINDEX, &["inbox", "pull"]).await;
    assert_eq!(got[0]["body"]["signal_date"], fixtures::date(0));
    assert_eq!(got[0]["body"]["contact"]["role"], "intern begeleider");
    assert_eq!(got[0]["client_reference"], "signal-from-file");
    assert_eq!(got[0]["legal_basis"]["statutory"], "verwijsindex");

    // The dossier names its attachment; --attach adds another.
    let pdf = dir.path().join("verklaring.pdf");
    std::fs::write(&pdf, b"%PDF-1.4 test").unwrap();
    let vo = gw.oin(org::SCHOOL_VO);
    #[rustfmt::skip]
    let sent = schakel(&gw, org::SCHOOL_PO, &[
        "send", "dossier", "--to", &vo, "--legal-basis", "overdracht_po",
        "--file", &example("overdrachtsdossier.json"), "--attach", pdf.to_str().unwrap(),
    ]).await;
    let dossier_id = id(&sent);
    let save = dir.path().join("saved");
    let pull = ["inbox", "pull", "--save", save.to_str().unwrap()];
    let got = schakel(&gw, org::SCHOOL_VO, &pull).await;
    assert_eq!(got[0]["type"], "delivery");
    assert_eq!(got[0]["body"]["pupil"]["family_name"], "Jansen");
    assert_eq!(got[0]["attachments"][0]["name"], "dyslexieverklaring.pdf");
    assert_eq!(got[0]["attachments"][1]["media_type"], "application/pdf");
    assert_eq!(
        std::fs::read(save.join(&dossier_id).join("dyslexieverklaring.pdf")).unwrap(),
        std::fs::read(example("dyslexieverklaring.pdf")).unwrap()
    );
    assert_eq!(
        std::fs::read(save.join(&dossier_id).join("verklaring.pdf")).unwrap(),
        b"%PDF-1.4 test"
    );
    assert!(
        got[0]["expires_at"].as_str().unwrap().ends_with('Z'),
        "{}",
        got[0]
    );
    #[rustfmt::skip]
    let rejected = schakel(&gw, org::SCHOOL_VO, &[
        "inbox", "reject", &dossier_id, "--reason", "not_assessed",
        "--detail", "leerling niet ingeschreven",
    ]).await;
    assert_eq!(rejected[0]["status"], "rejected");
    assert_eq!(
        rejected[0]["detail"],
        "NOT_ASSESSED: leerling niet ingeschreven"
    );

    let jgt = gw.oin(org::JGT);
    let swv = gw.oin(org::SWV);
    let respond_by = fixtures::date(10);
    let birth = fixtures::date(-3000);
    let until = fixtures::date(200);
    #[rustfmt::skip]
    let granted = schakel(&gw, org::SWV, &[
        "consent", "grant", "--child", fixtures::BSN[0], "--birth-date", &birth,
        "--by", "parents", "--consented-by", "parent,guardian", "--obtained", "orally",
        "--recipient", "jgt", "--kinds", "consultatieverzoek",
        "--purpose", "Afstemming thuis en school", "--purpose-code", "consultation",
        "--until", &until,
    ]).await;
    assert_eq!(granted[0]["status"], "active");
    assert_eq!(
        granted[0]["consented_by"],
        serde_json::json!(["parent", "guardian"])
    );
    assert_eq!(granted[0]["obtained"], "orally");
    let consent = granted[0]["consent_id"].as_str().unwrap().to_owned();
    let list = ["consent", "list", "--child", fixtures::BSN[0]];
    assert_eq!(schakel(&gw, org::SWV, &list).await.len(), 1);
    #[rustfmt::skip]
    let request = schakel(&gw, org::SWV, &[
        "send", "consult", "--to", &jgt, "--file", &example("consultatieverzoek.json"),
        "--consent", &consent, "--purpose", "consultation",
    ]).await;
    let request_id = id(&request);
    let got = schakel(&gw, org::JGT, &["inbox", "pull"]).await;
    assert_eq!(got[0]["body"]["urgency"], "soon");
    assert_eq!(got[0]["legal_basis"]["consent_id"], consent.as_str());
    assert_eq!(got[0]["legal_basis"]["purpose"], "consultation");
    assert_eq!(got[0]["consent"]["purpose_code"], "consultation");
    assert_eq!(got[0]["consent"]["given_by"], "parents");
    schakel(&gw, org::JGT, &["inbox", "ack", &request_id]).await;
    // The answer carries personal data back: the JGT answers under the
    // parents' consent it obtained itself, covering the SWV.
    #[rustfmt::skip]
    let own = schakel(&gw, org::JGT, &[
        "consent", "grant", "--child", fixtures::BSN[0], "--birth-date", &birth,
        "--by", "parents", "--obtained", "in_writing", "--recipient", &swv,
        "--kinds", "consultatieantwoord", "--purpose", "Antwoord aan school",
        "--purpose-code", "consultation", "--until", &until,
    ]).await;
    let own = own[0]["consent_id"].as_str().unwrap().to_owned();
    #[rustfmt::skip]
    let reply = schakel(&gw, org::JGT, &[
        "send", "reply", "--to", &swv, "--in-reply-to", &request_id,
        "--file", &example("consultatieantwoord.json"),
        "--consent", &own, "--purpose", "consultation",
    ]).await;
    assert_eq!(reply[0]["status"], "accepted");
    let got = schakel(&gw, org::SWV, &["inbox", "pull"]).await;
    assert_eq!(got[0]["in_reply_to"], request_id.as_str());
    assert_eq!(got[0]["body"]["outcome"], "answered");

    // With flags instead of a file, a consultation of an anonymous kind.
    #[rustfmt::skip]
    let anonymous = schakel(&gw, org::SWV, &[
        "send", "consult", "--to", &jgt, "--question", "Meedenken over een leerling?",
        "--urgency", "routine", "--respond-by", &respond_by, "--contact-name", "A. Bakker",
        "--contact-role", "orthopedagoog", "--contact-email", "a.bakker@example.org",
        "--legal-basis", "no_personal_data",
    ]).await;
    assert_eq!(anonymous[0]["status"], "accepted");

    // Revoking the consent through the CLI.
    let revoke = ["consent", "revoke", &consent, "--reason", "ingetrokken"];
    let revoked = schakel(&gw, org::SWV, &revoke).await;
    assert_eq!(revoked[0]["status"], "revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_follows_a_child_exports_the_log_and_catches_a_changed_byte() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let sent = school
        .send(fixtures::signalering("child-1", &gw.oin(org::VERWIJSINDEX)))
        .await
        .unwrap();
    school
        .send(fixtures::dossier("other-child", &gw.oin(org::SCHOOL_VO)))
        .await
        .unwrap();

    // Every event about the child, by BSN: the signal, and this very look
    // at the child's trail.
    let by_child = ["audit", "query", "--child", fixtures::BSN[0]];
    let events = schakel(&gw, org::OPERATOR, &by_child).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["message_id"], sent.message_id.as_str());
    assert_eq!(events[0]["type"], "audit_entry");
    assert_eq!(events[0]["action"], "send_accepted");
    assert_eq!(events[0]["kind"], "signalering");
    assert_eq!(events[0]["legal_basis"]["statutory"], "verwijsindex");
    assert!(events[0]["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(events[1]["action"], "audit_read");

    // Export to a file, as `schakel audit export > file` does.
    let exported = schakel(&gw, org::OPERATOR, &["audit", "export"]).await;
    let lines: Vec<String> = exported.iter().map(|v| v.to_string()).collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let key = schakel(&gw, org::OPERATOR, &["directory", "gateway-key"]).await;
    let key = key[0]["ed25519_public_key"].as_str().unwrap().to_owned();
    let file_arg = file.to_str().unwrap();
    let verify = ["audit", "verify", "--file", file_arg, "--key", &key];
    let ok = schakel(&gw, org::OPERATOR, &verify).await;
    assert_eq!(ok[0]["ok"], true);

    // Change one byte of the entry that accepted the signal.
    let seq = events[0]["sequence"].as_u64().unwrap();
    let needle = format!("\"sequence\":{seq},");
    let altered: Vec<String> = lines
        .iter()
        .map(|l| {
            if l.contains("\"type\":\"entry\"") && l.contains(&needle) {
                l.replacen("00000099100000000001", "00000099100000000002", 1)
            } else {
                l.clone()
            }
        })
        .collect();
    std::fs::write(&file, altered.join("\n")).unwrap();
    let out = Cli::new().args(["--json"]).args(verify).output();
    assert!(!out.status.success());
    let verdict: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["first_broken_sequence"], seq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_is_pulled_and_acknowledged_through_the_cli_without_a_receipt() {
    let gw = TestGateway::start_with(|_, c| c.exchange.sweep_interval_ms = 50).await;
    let swv = gw.client(org::SWV).await;
    let jgt = gw.client(org::JGT).await;
    let consent = fixtures::granted(&swv).await;
    let request = fixtures::consult("n-1", &gw.oin(org::JGT), &consent);
    schakel_tests::calls::deliver(&swv, &jgt, request).await;
    jgt.revoke_consent(&consent, "ouders trekken toestemming in")
        .await
        .unwrap();

    // The notice is posted by the next sweep.
    let mut got = Vec::new();
    for _ in 0..100 {
        got = schakel(&gw, org::SWV, &["inbox", "pull"]).await;
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(got.len(), 1, "one notice within ten seconds");
    assert_eq!(got[0]["kind"], "notice");
    let notice = got[0]["message_id"].as_str().unwrap().to_owned();
    let acked = schakel(&gw, org::SWV, &["inbox", "ack", &notice]).await;
    assert_eq!(acked[0]["message_id"], notice.as_str());
    assert_eq!(acked[0]["outcome"], "delivered");
    assert!(acked[0]["receipt"].is_null(), "{}", acked[0]);
    let again = schakel(&gw, org::SWV, &["inbox", "pull"]).await;
    assert!(again.is_empty(), "{again:?}");
}

/// `send --from-file`: every line of examples/messages/batch.jsonl is sent
/// in batches and answered on its own; the file sent again sends nothing
/// twice; a bad line is refused by its number and field while the others
/// go; `inbox ack` with several ids acknowledges them in one call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_messages_is_sent_in_batches_and_sending_it_again_sends_nothing_twice() {
    let gw = TestGateway::start().await;
    let file = example("batch.jsonl");
    let args = ["send", "--from-file", file.as_str(), "--batch", "3"];
    let first = schakel(&gw, org::SCHOOL_PO, &args).await;
    let sent: Vec<_> = first.iter().filter(|l| l["type"] == "sent").collect();
    assert_eq!(sent.len(), 4, "{first:?}");
    assert_eq!(sent[2]["line"], 3);
    assert_eq!(sent[2]["client_reference"], "batch-dossier-1");
    assert!(sent.iter().all(|l| l["duplicate"] == false));
    let summary = first.last().unwrap();
    assert_eq!(
        (summary["type"].as_str(), summary["sent"].as_u64()),
        (Some("summary"), Some(4))
    );
    let again = schakel(&gw, org::SCHOOL_PO, &args).await;
    for (a, b) in sent.iter().zip(again.iter()) {
        assert_eq!(a["message_id"], b["message_id"]);
        assert_eq!(b["duplicate"], true);
    }

    // The dossier arrived with the attachment its body names.
    let got = schakel(&gw, org::SCHOOL_VO, &["inbox", "pull"]).await;
    assert_eq!(got[0]["client_reference"], "batch-dossier-1");
    assert_eq!(got[0]["attachments"][0]["name"], "dyslexieverklaring.pdf");

    // Two signals wait for the Verwijsindex: acknowledged in one call.
    let got = schakel(&gw, org::VERWIJSINDEX, &["inbox", "pull"]).await;
    let ids: Vec<&str> = got
        .iter()
        .map(|d| d["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    let acked = schakel(&gw, org::VERWIJSINDEX, &["inbox", "ack", ids[0], ids[1]]).await;
    assert!(
        acked.iter().all(|a| a["status"] == "delivered"),
        "{acked:?}"
    );

    // A file with a line the gateway refuses and one that is no message.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let wrong_bsn = lines[1]
        .replace("batch-signal-2", "bad-bsn")
        .replace("123456782", "123456789");
    let outside = lines[2]
        .replace("batch-dossier-1", "outside")
        .replace("\"dyslexieverklaring.pdf\"", "\"../secret.pdf\"");
    let no_basis = lines[0]
        .replace("batch-signal-1", "no-basis")
        .replace("\"legal_basis\": \"verwijsindex\", ", "");
    let text = format!(
        "{}\n{wrong_bsn}\n{{\"kind\": \"signalering\", \"to\": \"x\"}}\n{outside}\n{no_basis}\n",
        lines[0].replace("batch-signal-1", "good")
    );
    std::fs::write(&bad, text).unwrap();
    let cli = schakel_tests::process::Cli::as_org(&gw.url(), &gw.pki.dir.join(org::SCHOOL_PO))
        .args(["send", "--from-file", bad.to_str().unwrap()]);
    let out = tokio::task::spawn_blocking(move || cli.output())
        .await
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("line 1: accepted"), "{text}");
    assert!(
        text.contains("line 2: refused (invalid_argument)") && text.contains("bsn"),
        "{text}"
    );
    assert!(
        text.contains("line 3: refused") && text.contains("reference"),
        "{text}"
    );
    assert!(
        text.contains("line 4: refused")
            && text.contains("../secret.pdf")
            && text.contains("inside the file's own folder"),
        "{text}"
    );
    assert!(
        text.contains("line 5: refused") && text.contains("consent or legal_basis"),
        "{text}"
    );
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(errors.contains("4 of 5 messages were refused"), "{errors}");
}

/// A gateway that takes smaller batches than `send --from-file` asks for
/// refuses the call whole, naming its limit; the command sends the batch
/// again in halves, and every line goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_goes_in_smaller_batches_to_a_gateway_that_takes_fewer() {
    let gw = TestGateway::start_with(|_, c| c.limits.max_batch_messages = 2).await;
    let file = example("batch.jsonl");
    let sent = schakel(&gw, org::SCHOOL_PO, &["send", "--from-file", file.as_str()]).await;
    let lines: Vec<_> = sent
        .iter()
        .filter(|l| l["type"] == "sent")
        .map(|l| l["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [1, 2, 3, 4], "{sent:?}");

    // Three ids to acknowledge, one of them unknown: the call of three goes
    // again in smaller ones, and each id is answered.
    let got = schakel(&gw, org::VERWIJSINDEX, &["inbox", "pull"]).await;
    let mut ids: Vec<String> = got
        .iter()
        .map(|d| d["message_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    ids.push("01a20eb1-ffff-7000-8000-000000000000".into());
    let mut args = vec!["inbox", "ack"];
    args.extend(ids.iter().map(String::as_str));
    let cli = schakel_tests::process::Cli::as_org(&gw.url(), &gw.pki.dir.join(org::VERWIJSINDEX))
        .args(args);
    let out = tokio::task::spawn_blocking(move || cli.output())
        .await
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let delivered = text
        .lines()
        .filter(|l| l.contains(" delivered ") && !l.contains("refused"))
        .count();
    assert_eq!(delivered, 2, "{text}");
    assert!(text.contains("refused (not_found)"), "{text}");
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(errors.contains("1 of 3 acknowledgements"), "{errors}");
}

/// `inbox watch --ack` prints each message as it arrives and acknowledges
/// it (what arrives together, in one call); the sender then holds a
/// DELIVERED receipt for each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_watch_prints_and_acknowledges_what_arrives() {
    use std::io::BufRead;
    let gw = TestGateway::start().await;
    let mut watch =
        schakel_tests::process::Cli::as_org(&gw.url(), &gw.pki.dir.join(org::VERWIJSINDEX))
            .args(["inbox", "watch", "--ack"])
            .spawn_json();
    let stdout = watch.stdout.take().unwrap();
    let reader = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let value: Value = serde_json::from_str(&line.unwrap()).unwrap();
            lines.push(value);
            if lines.iter().filter(|l| l["type"] == "ack").count() == 5 {
                break;
            }
        }
        lines
    });
    let school = gw.client(org::SCHOOL_PO).await;
    let to = gw.oin(org::VERWIJSINDEX);
    let mut ids = Vec::new();
    for i in 0..5 {
        let sent = school
            .send(fixtures::signalering(&format!("watched-{i}"), &to))
            .await
            .unwrap();
        ids.push(sent.message_id);
    }
    let lines = tokio::time::timeout(std::time::Duration::from_secs(30), reader)
        .await
        .expect("five messages watched and acknowledged")
        .unwrap();
    let _ = watch.kill();
    let _ = watch.wait();
    let delivered: Vec<&str> = lines
        .iter()
        .filter(|l| l["type"] == "delivery")
        .map(|l| l["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(delivered, ids, "in the order sent");
    for id in &ids {
        let status = school.status(id).await.unwrap();
        assert_eq!(
            status.status,
            schakel_client::proto::ReceiptStatus::Delivered as i32
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signals_life_through_the_cli_postponed_informed_matched_and_withdrawn() {
    let gw = TestGateway::start().await;
    let index = gw.oin(org::VERWIJSINDEX);
    let (birth, until, by) = (
        fixtures::date(-3000),
        fixtures::date(300),
        fixtures::date(14),
    );
    let send = |who: &'static str, reference: &'static str| {
        let (gw, index, birth, until, by) = (&gw, &index, &birth, &until, &by);
        async move {
            #[rustfmt::skip]
            let sent = schakel(gw, who, &[
                "send", "signalering", "--to", index, "--bsn", fixtures::BSN[0],
                "--birth-date", birth, "--valid-until", until,
                "--informing-postponed", "ouders op reis", "--informing-postponed-code", "unreachable",
                "--inform-by", by, "--contact-name", "J. de Vries", "--contact-role", "mentor",
                "--contact-phone", "071 1234567", "--legal-basis", "verwijsindex", "--reference", reference,
            ]).await;
            id(&sent)
        }
    };
    let school = send(org::SCHOOL_PO, "cli-s1").await;
    let jgt = send(org::JGT, "cli-s2").await;
    let pulled = schakel(&gw, org::VERWIJSINDEX, &["inbox", "pull"]).await;
    assert_eq!(pulled[0]["body"]["informing_postponed_code"], "unreachable");
    assert_eq!(pulled[0]["body"]["inform_by"], by.as_str());

    let informed = schakel(
        &gw,
        org::SCHOOL_PO,
        &[
            "signal",
            "informed",
            "--to",
            &index,
            "--signal",
            &school,
            "--parents",
        ],
    )
    .await;
    assert_eq!(informed[0]["status"], "accepted");
    #[rustfmt::skip]
    let matched = schakel(&gw, org::VERWIJSINDEX, &[
        "signal", "match", "--to", &gw.oin(org::SCHOOL_PO), "--signal", &school,
        "--other-signal", &jgt, "--other-oin", &gw.oin(org::JGT),
        "--contact-name", "A. Jansen", "--contact-role", "jeugdprofessional", "--contact-phone", "071 7654321",
    ]).await;
    assert_eq!(matched[0]["status"], "accepted");
    let inbox = schakel(&gw, org::SCHOOL_PO, &["inbox", "pull"]).await;
    assert_eq!(inbox[0]["kind"], "matchmelding");
    assert_eq!(
        inbox[0]["body"]["other_signaller_oin"],
        gw.oin(org::JGT).as_str()
    );
    assert_eq!(inbox[0]["body"]["other_contact"]["name"], "A. Jansen");

    let withdrawn = schakel(
        &gw,
        org::SCHOOL_PO,
        &["signal", "withdraw", "--to", &index, "--signal", &school],
    )
    .await;
    assert_eq!(withdrawn[0]["status"], "accepted");
    let refused = Cli::as_org(&gw.url(), &gw.pki.dir.join(org::SCHOOL_PO)).args([
        "signal", "extend", "--to", &index, "--signal", &school, "--until", &until,
    ]);
    let err = tokio::task::spawn_blocking(move || schakel_tests::failed(refused.output()))
        .await
        .unwrap();
    assert!(err.contains("was withdrawn by its signaller"), "{err}");
}
