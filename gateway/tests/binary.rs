//! The `schakel-gateway` binary's offline commands. (Also makes
//! `cargo test --workspace` build the binary that the end-to-end process
//! tests in tests/ start.)

use std::process::Command;

fn gateway() -> Command {
    Command::new(env!("CARGO_BIN_EXE_schakel-gateway"))
}

#[test]
fn default_config_prints_the_commented_embedded_defaults() {
    let out = gateway().arg("default-config").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text, schakel_gateway::config::DEFAULT_TOML);
    assert!(text.contains("listen = \"127.0.0.1:7443\""));
}

#[test]
fn pki_example_writes_a_complete_example_pki() {
    let dir = tempfile::tempdir().unwrap();
    let out = gateway()
        .args(["pki", "example", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "ca/ca.pem",
        "gateway/cert.pem",
        "gateway/key.pem",
        "directory.toml",
        "school-po/cert.pem",
        "veilig-thuis/cert.pem",
        "verwijsindex/key.pem",
        "operator/key.pem",
    ] {
        assert!(dir.path().join(f).exists(), "{f} missing");
    }
    let listed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(listed.lines().count(), 8);
}

#[test]
fn a_bad_configuration_file_is_refused_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[storage]\ncache_capacity = 5\n").unwrap();
    let out = gateway().arg("--config").arg(&file).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cache_capacity"), "{err}");
}
