//! Witnessing the audit log from the participants' side: each keeps the
//! last signed tree head it saw and checks every newer one against it. An
//! operator who rolls the store back offline (restores an older copy and
//! carries on, so that new entries take the places of the dropped ones)
//! signs valid heads, but none that extend what a participant already
//! holds: the participant that saw the dropped entries is told, and two
//! participants comparing their heads see it too. Real gateway, real mutual
//! TLS, the store on disk; the command line in a process.

use schakel_client::ClientError;
use schakel_client::proto as pb;
use schakel_proto::tree_head::ExtendsProblem;
use schakel_tests::calls::{send_signals, status_of};
use schakel_tests::process::{Cli, cli_json};
use schakel_tests::{TestGateway, org};
use tonic::Code;

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn not_append_only(r: Result<impl std::fmt::Debug, ClientError>) -> ExtendsProblem {
    match r {
        Err(ClientError::NotAppendOnly(p)) => p,
        other => panic!("the rewrite must be seen, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_rolled_back_offline_is_seen_by_whoever_held_a_later_head() {
    schakel_tests::sled_only!("the sled store's folder is copied back");
    let mut gw = TestGateway::start().await;
    let index = gw.oin(org::VERWIJSINDEX);
    let school = gw.client(org::SCHOOL_PO).await;
    send_signals(&school, &index, "kept", 2).await;

    // The operator copies the stopped gateway's store aside.
    gw.stop().await;
    let backup = tempfile::tempdir().unwrap();
    copy_dir(&gw.store_dir(), backup.path());
    let gw = gw.restart().await;

    // Two more signals; the JGT witnesses the log with them in it, on the
    // command line and in the library.
    send_signals(&school, &index, "dropped", 2).await;
    let jgt = gw.client(org::JGT).await;
    let state = tempfile::tempdir().unwrap();
    let jgt_state = state.path().join("jgt.json");
    let state_arg = jgt_state.to_str().unwrap();
    let first = cli_json(&gw, org::JGT, &["audit", "witness", "--state", state_arg]).await;
    assert_eq!(first[0]["first_seen"], true, "{first:?}");
    let held = jgt.witness(None).await.unwrap();
    assert_eq!(first[0]["head"]["size"], held.size);
    let again = cli_json(&gw, org::JGT, &["audit", "witness", "--state", state_arg]).await;
    assert_eq!(again[0]["extends_size"], held.size, "{again:?}");

    // Offline, the operator puts the old copy back and starts again: the
    // two signals are gone, and new entries take their places.
    let mut gw = gw;
    gw.stop().await;
    std::fs::remove_dir_all(gw.store_dir()).unwrap();
    copy_dir(backup.path(), &gw.store_dir());
    let gw = gw.restart().await;
    send_signals(&school, &index, "instead", 6).await;

    // The school saw nothing before: it takes the new log's head on trust.
    let theirs = school.witness(None).await.unwrap();
    assert!(theirs.size > held.size, "{theirs:?} after {held:?}");
    // The JGT, holding the head of the dropped entries, is told.
    let problem = not_append_only(jgt.witness(Some(&held)).await);
    assert!(matches!(problem, ExtendsProblem::Proof(_)), "{problem:?}");
    // So is the school, once the two compare heads.
    let problem = not_append_only(school.compare_heads(&theirs, &held).await);
    assert!(matches!(problem, ExtendsProblem::Proof(_)), "{problem:?}");
    // And on the command line, with the JGT's state file: the command fails
    // and keeps the head it held.
    let out = Cli::as_org(&gw.url(), &gw.pki.dir.join(org::JGT))
        .args(["audit", "witness", "--state", state_arg])
        .output();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("not the one seen before"), "{said}");
    assert!(said.contains("Keep both tree heads"), "{said}");
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&jgt_state).unwrap()).unwrap();
    assert_eq!(kept["size"], held.size);

    // An honest log stays consistent for whoever follows it from then on.
    send_signals(&school, &index, "later", 1).await;
    let next = school.witness(Some(&theirs)).await.unwrap();
    assert!(next.size > theirs.size);
    school.compare_heads(&theirs, &next).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_and_its_proof_are_asked_for_by_size_and_refused_with_the_field() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let index = gw.oin(org::VERWIJSINDEX);
    send_signals(&school, &index, "a", 1).await;
    let small = school.witness(None).await.unwrap();
    send_signals(&school, &index, "b", 3).await;
    let large = school.witness(Some(&small)).await.unwrap();

    // The proof the command line checks, between the two sizes.
    let checked = cli_json(
        &gw,
        org::SCHOOL_PO,
        &[
            "audit",
            "consistency",
            "--from",
            &small.size.to_string(),
            "--to",
            &large.size.to_string(),
        ],
    )
    .await;
    assert_eq!(checked[0]["verified"], true, "{checked:?}");
    let proof = checked[0]["proof"].as_array().expect("the proof's hashes");
    assert!(
        !proof.is_empty(),
        "two sizes apart need a proof: {checked:?}"
    );
    assert_eq!(checked[0]["from"]["size"], small.size);

    // A size with no head, and a proof from a larger tree, are refused with
    // what to do.
    let none = status_of(school.tree_head(Some(large.size + 100), None).await);
    assert_eq!(none.code(), Code::NotFound);
    assert!(
        none.message().contains("signs one per group of writes"),
        "{none:?}"
    );
    let backwards = status_of(school.tree_head(Some(small.size), Some(large.size)).await);
    assert_eq!(backwards.code(), Code::InvalidArgument);
    assert!(
        backwards.message().starts_with("extends_size"),
        "{backwards:?}"
    );
    // A head asked for by size is the one signed then.
    let same: pb::TreeHeadResponse = school.tree_head(Some(small.size), None).await.unwrap();
    assert_eq!(same.head.as_ref(), Some(&small));
}
