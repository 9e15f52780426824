//! The README's walk-through runs as written: its shell lines, pasted one
//! after another into bash, against the gateway of the first command on
//! its embedded defaults (the example PKI), on the debug binaries the tests
//! build. Only the build line is left out, and `target/release/` reads
//! `target/debug/`.

use std::process::Command;

use schakel_tests::{GatewayProcess, succeeded, workspace_root};

const START: &str = "<!-- walk-through: start -->";
const END: &str = "<!-- walk-through: end -->";

/// The shell lines between the README's walk-through markers.
fn walk_through() -> Vec<String> {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let start = readme
        .find(START)
        .expect("the README marks its walk-through's start");
    let end = readme
        .find(END)
        .expect("the README marks its walk-through's end");
    let mut lines = Vec::new();
    let mut in_shell = false;
    for line in readme[start..end].lines() {
        match line.trim() {
            "```sh" => in_shell = true,
            "```" => in_shell = false,
            _ if in_shell => lines.push(line.to_owned()),
            _ => {}
        }
    }
    lines
}

#[test]
fn the_readme_walk_through_runs_as_written() {
    let lines = walk_through();
    assert!(lines.len() > 10, "a walk-through of a few lines: {lines:?}");
    let data = tempfile::tempdir().unwrap();
    let gw = GatewayProcess::spawn(
        &workspace_root(),
        &[],
        &[
            ("SCHAKEL_SERVER__LISTEN", "127.0.0.1:0".into()),
            (
                "SCHAKEL_STORAGE__DATA_DIR",
                data.path().join("data").display().to_string(),
            ),
        ],
    );
    let script: Vec<String> = lines
        .iter()
        .filter(|l| !l.trim_start().starts_with("cargo build"))
        .map(|l| l.replace("target/release/", "target/debug/"))
        .collect();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{}", script.join("\n")))
        .current_dir(workspace_root())
        .env("SCHAKEL_GATEWAY", gw.url())
        .env_remove("SCHAKEL_IDENTITY")
        .output()
        .unwrap();
    let printed = succeeded(out);
    println!("{printed}");
    // `status "$ID"`: the school's signal, delivered, both receipts verified.
    assert!(
        printed.lines().any(|l| l.starts_with("delivered ")
            && l.contains("to 00000099600000000001  (reference leerling-42-signaal")),
        "{printed}"
    );
    assert!(printed.contains("audit log intact"), "{printed}");
}
