//! The data folder is its owner's alone, tried against the real binary: a
//! new folder and everything the gateway writes in it cannot be read by
//! group or others; a folder others can reach is refused at start, naming
//! it and the fix, unless the operator explicitly allows it (then the log
//! warns).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use schakel_tests::{GatewayProcess, TestPki, failed, fixtures, org, workspace_root};

/// Every file and folder under `dir` with a right for group or others.
fn open_to_others(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                folders.push(entry.path());
            }
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                found.push(format!("{} {mode:03o}", entry.path().display()));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_writes_nothing_others_can_read() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(&tmp.path().join("pki"));
    let data = tmp.path().join("data");
    let gw = GatewayProcess::spawn_with(&pki, &data, &[]);
    let school = gw.client(&pki, org::SCHOOL_PO).await;
    // A large dossier, so that its payload has a file of its own.
    let to = pki.oin(org::SCHOOL_VO);
    school
        .send(fixtures::dossier_with(&to, "big", vec![1; 300 << 10]))
        .await
        .unwrap();
    drop(school);
    drop(gw);
    let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    assert_eq!(open_to_others(&data), Vec::<String>::new());
}

#[test]
fn a_data_folder_others_can_reach_is_refused_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(&tmp.path().join("pki"));
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let old_file = data.join("left-by-an-earlier-release");
    std::fs::write(&old_file, b"x").unwrap();
    for (path, mode) in [(&old_file, 0o644), (&data, 0o755)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let env = pki.env(&data);
    let log = failed(
        GatewayProcess::command(&workspace_root(), &[], &env)
            .output()
            .unwrap(),
    );
    for named in [
        "can be read by others (mode 755)",
        "chmod 700",
        "storage.allow_shared_data_folder",
    ] {
        assert!(log.contains(named), "{named} in {log}");
    }
    assert!(
        !data.join("gateway-signing.key").exists(),
        "a refused start writes no key"
    );
    // Allowed explicitly, it starts, warns, and closes the old file.
    let mut allowed = pki.env(&data);
    allowed.push(("SCHAKEL_STORAGE__ALLOW_SHARED_DATA_FOLDER", "true".into()));
    let gw = GatewayProcess::spawn(&workspace_root(), &[], &allowed);
    assert!(
        gw.log_text().contains("started anyway"),
        "{}",
        gw.log_text()
    );
    drop(gw);
    let old = std::fs::metadata(&old_file).unwrap();
    assert_eq!(old.permissions().mode() & 0o777, 0o600);
}
