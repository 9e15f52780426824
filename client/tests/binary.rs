//! The `schakel` binary's offline behaviour. (Also makes
//! `cargo test --workspace` build the binary that the end-to-end tests in
//! tests/ run.)

use std::process::Command;

#[test]
fn help_lists_the_command_groups() {
    let out = Command::new(env!("CARGO_BIN_EXE_schakel"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for command in [
        "whoami",
        "directory",
        "admin",
        "--identity",
        "--gateway",
        "--json",
    ] {
        assert!(text.contains(command), "{command} missing from help");
    }
}

#[test]
fn a_missing_identity_folder_is_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_schakel"))
        .args(["--identity", "/nonexistent/identity", "whoami"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/identity/cert.pem"), "{err}");
}
