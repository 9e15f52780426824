//! Data folders written by earlier releases (`tests/fixtures/`, see the
//! README there), unpacked and opened by a gateway of this one: over sled,
//! or over PostgreSQL after `schakel-gateway migrate` copied their store.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use schakel_gateway::config::StorageEngine;

use crate::{TestGateway, succeeded, workspace_binary};

/// Unpacks a fixture's `data/` folder into `into`.
pub fn unpack(fixture: &str, into: &Path) {
    let archive = crate::workspace_root().join("tests/fixtures").join(fixture);
    let status = std::process::Command::new("tar")
        .arg("xzf")
        .arg(&archive)
        .arg("-C")
        .arg(into)
        .status()
        .expect("tar runs");
    assert!(status.success(), "unpacking {}", archive.display());
}

/// Runs `schakel-gateway migrate --from sled --to postgres` on data folder
/// `data` into database `db` (its URL and CA file).
pub fn migrate(data: &Path, db: &(String, PathBuf)) -> Output {
    Command::new(workspace_binary("schakel-gateway"))
        .args(["migrate", "--from", "sled", "--to", "postgres"])
        .current_dir(crate::workspace_root())
        .env("SCHAKEL_STORAGE__DATA_DIR", data)
        .env("SCHAKEL_STORAGE__POSTGRES_URL", &db.0)
        .env("SCHAKEL_STORAGE__POSTGRES_CA_FILE", &db.1)
        .output()
        .expect("schakel-gateway runs")
}

/// A gateway on a copy of a fixture's data folder (kept in the returned
/// folder), sweeping often so that leases long run out come back at once:
/// over sled, or with `into` a database, over PostgreSQL after its store
/// was copied there.
pub async fn open_fixture(
    fixture: &str,
    into: Option<(String, PathBuf)>,
) -> (tempfile::TempDir, TestGateway) {
    open_fixture_with(fixture, into, |_| {}).await
}

/// [`open_fixture`], with the configuration adjusted by `adjust`.
pub async fn open_fixture_with(
    fixture: &str,
    into: Option<(String, PathBuf)>,
    adjust: impl FnOnce(&mut schakel_gateway::config::Config),
) -> (tempfile::TempDir, TestGateway) {
    let old = tempfile::tempdir().unwrap();
    unpack(fixture, old.path());
    let data = old.path().join("data");
    if let Some(db) = &into {
        let out = succeeded(migrate(&data, db));
        assert!(out.contains("audit log intact in the database"), "{out}");
    }
    let gw = TestGateway::start_with(|_, c| {
        c.storage.data_dir = data.clone();
        c.exchange.sweep_interval_ms = 50;
        c.storage.engine = StorageEngine::Sled;
        if let Some((url, ca_file)) = into {
            c.storage.engine = StorageEngine::Postgres;
            c.storage.postgres_url = url;
            c.storage.postgres_ca_file = ca_file;
        }
        adjust(c);
    })
    .await;
    (old, gw)
}
