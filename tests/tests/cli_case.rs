//! The case as the parties live it, through the `schakel` command line
//! against a real gateway: the meeting's consent registered for the case,
//! the parties added under it, the invitation and a version of the plan to
//! both parties in one command, a response to it, the case with its plan
//! versions; and a school's TLV request decided by the samenwerkingsverband.

use schakel_tests::calls::consulted_case;
use schakel_tests::fixtures::{self, BSN};
use schakel_tests::process::cli_json as schakel;
use schakel_tests::{TestGateway, org};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_and_a_plan_reach_every_party_and_a_tlv_is_decided_through_the_cli() {
    let gw = TestGateway::start().await;
    let (swv, jgt) = (gw.client(org::SWV).await, gw.client(org::JGT).await);
    let (_, case) = consulted_case(&swv, &jgt, &gw.oin(org::JGT), "cli-mdo").await;
    let (until, birth) = (fixtures::date(300), fixtures::date(-10 * 365));
    #[rustfmt::skip]
    let mdo = schakel(&gw, org::SWV, &[
        "consent", "grant", "--case", &case, "--child", BSN[2], "--birth-date", &birth,
        "--by", "parents", "--recipient", "jgt", "--recipient", "gemeente", "--recipient", "swv",
        "--kinds", "plan,overleg,planreactie", "--purpose", "Afspraken uit het MDO",
        "--purpose-code", "care_coordination", "--until", &until,
    ]).await;
    assert_eq!(mdo[0]["obtained"], "in_meeting");
    assert_eq!(mdo[0]["case_id"], case.as_str());
    let mdo = mdo[0]["consent_id"].as_str().unwrap().to_owned();
    for party in [org::SWV, org::JGT, org::GEMEENTE] {
        let oin = gw.oin(party);
        schakel(
            &gw,
            org::SWV,
            &["case", &case, "--add-party", &oin, "--consent", &mdo],
        )
        .await;
    }
    let both = format!("{},{}", gw.oin(org::JGT), gw.oin(org::GEMEENTE));
    let common = [
        "--case",
        &case,
        "--consent",
        &mdo,
        "--purpose",
        "care_coordination",
    ];
    let contact = [
        "--contact-name",
        "J. de Vries",
        "--contact-role",
        "coordinator",
        "--contact-phone",
        "071 1234567",
    ];

    #[rustfmt::skip]
    let invited = schakel(&gw, org::SWV, &[&["send", "meeting", "--to", &both, "--part", "invitation",
        "--bsn", BSN[2], "--held-on", &fixtures::date(7), "--starts-at", "14:30",
        "--location", "School, kamer 2", "--text", "Ondersteuning en regie"][..], &common, &contact].concat()).await;
    assert_eq!(invited.len(), 2, "{invited:?}");
    assert!(invited.iter().all(|s| s["case_id"] == case.as_str()));

    let files = tempfile::tempdir().unwrap();
    let plan = files.path().join("gezinsplan.pdf");
    std::fs::write(&plan, b"%PDF-1.7 gezinsplan").unwrap();
    #[rustfmt::skip]
    let shared = schakel(&gw, org::SWV, &[&["send", "plan", "--to", &both, "--version", "1",
        "--bsn", BSN[2], "--title", "Gezinsplan", "--attach", plan.to_str().unwrap()][..], &common, &contact].concat()).await;
    assert_eq!(shared.len(), 2, "{shared:?}");

    let inbox = schakel(&gw, org::JGT, &["inbox", "pull"]).await;
    let copy = inbox
        .iter()
        .find(|d| d["kind"] == "plan")
        .expect("the plan");
    assert_eq!(copy["body"]["version"], 1);
    let copy_id = copy["message_id"].as_str().unwrap().to_owned();
    #[rustfmt::skip]
    let replied = schakel(&gw, org::JGT, &[&["send", "plan-reply", "--to", &gw.oin(org::SWV),
        "--in-reply-to", &copy_id, "--position", "agrees"][..], &contact].concat()).await;
    assert_eq!(replied[0]["status"], "accepted");

    let view = schakel(&gw, org::SWV, &["case", &case]).await;
    let plans: Vec<_> = view.iter().filter(|r| r["version"].is_u64()).collect();
    assert_eq!(plans.len(), 1, "{view:?}");
    let reply = view
        .iter()
        .find(|r| r["kind"] == "planreactie")
        .expect("the response");
    assert_eq!(reply["plan_version"], 1);

    // A TLV asked and decided.
    let opp = files.path().join("opp.pdf");
    std::fs::write(&opp, b"%PDF-1.7 opp").unwrap();
    #[rustfmt::skip]
    let asked = schakel(&gw, org::SCHOOL_PO, &[&["send", "aanvraag", "--to", &gw.oin(org::SWV),
        "--type", "tlv", "--tlv-for", "so", "--bsn", BSN[2], "--family-name", "Jansen",
        "--birth-date", &birth, "--reason", "Meer nodig dan arrangementen", "--parents-consulted",
        "--attach", opp.to_str().unwrap()][..], &contact].concat()).await;
    let asked_id = asked[0]["message_id"].as_str().unwrap().to_owned();
    #[rustfmt::skip]
    let decided = schakel(&gw, org::SWV, &[&["send", "besluit", "--to", &gw.oin(org::SCHOOL_PO),
        "--in-reply-to", &asked_id, "--outcome", "granted", "--category", "low",
        "--valid-from", &fixtures::date(30), "--valid-until", &fixtures::date(400),
        "--reasons", "Beide deskundigen adviseren so", "--objection", "Binnen zes weken bij de bezwaarcommissie"][..], &contact].concat()).await;
    assert_eq!(decided[0]["status"], "accepted");
    let got = schakel(&gw, org::SCHOOL_PO, &["inbox", "pull"]).await;
    assert_eq!(got[0]["kind"], "besluit");
    assert_eq!(got[0]["body"]["outcome"], "granted");
    assert_eq!(got[0]["body"]["category"], "low");
}
