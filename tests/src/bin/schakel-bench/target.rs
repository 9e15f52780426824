//! The gateway under test: one this benchmark started itself (`--spawn`), on
//! a fresh PKI and a temporary data folder, or one already running.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use schakel_client::{Client, Identity};
use schakel_tests::process::{Rss, rss_of};
use schakel_tests::{GatewayProcess, TestPki};

/// A gateway to drive.
pub struct Target {
    /// The gateway's URL.
    pub url: String,
    /// The folder with ca/, gateway/ and one identity folder per organisation.
    pub pki: PathBuf,
    spawned: Option<Spawned>,
}

struct Spawned {
    process: GatewayProcess,
    pki: TestPki,
    data: PathBuf,
    _tmp: tempfile::TempDir,
}

/// Starts the gateway binary on `pki` and `data`, with the per-participant
/// rate limit off (the benchmark measures capacity) and a quiet log.
fn start(pki: &TestPki, data: &Path) -> GatewayProcess {
    GatewayProcess::spawn_with(
        pki,
        data,
        &[
            ("SCHAKEL_LIMITS__REQUESTS_PER_SECOND", "0".into()),
            ("RUST_LOG", "warn,schakel_gateway::server=info".into()),
        ],
    )
}

/// Bytes of all files below `dir`.
pub fn size_on_disk(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => size_on_disk(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

impl Target {
    /// Starts a gateway on a fresh PKI and temporary data folder.
    pub fn spawn() -> anyhow::Result<Self> {
        let tmp = tempfile::tempdir()?;
        let pki = TestPki::generate(&tmp.path().join("pki"));
        let data = tmp.path().join("data");
        let process = start(&pki, &data);
        Ok(Self {
            url: process.url(),
            pki: pki.dir.clone(),
            spawned: Some(Spawned {
                process,
                pki,
                data,
                _tmp: tmp,
            }),
        })
    }

    /// A running gateway at `url`, with identities in `pki`.
    pub fn external(url: &str, pki: &Path) -> Self {
        Self {
            url: url.to_owned(),
            pki: pki.to_owned(),
            spawned: None,
        }
    }

    /// A client as one of the example organisations.
    pub async fn client(&self, org: &str) -> anyhow::Result<Client> {
        let identity = Identity::from_dir(&self.pki.join(org))?;
        Ok(Client::connect(&self.url, &identity).await?)
    }

    /// The gateway's process id, when this benchmark started it.
    pub fn pid(&self) -> Option<u32> {
        self.spawned.as_ref().map(|s| s.process.pid())
    }

    /// The gateway process's memory, when this benchmark started it.
    pub fn rss(&self) -> Option<Rss> {
        self.spawned.as_ref().and_then(|s| rss_of(s.process.pid()))
    }

    /// The data folder's size, when this benchmark started the gateway.
    pub fn store_bytes(&self) -> Option<u64> {
        self.spawned.as_ref().map(|s| size_on_disk(&s.data))
    }

    /// Stops the spawned gateway with SIGTERM and starts it again on the same
    /// data; returns how long it took until it answered a call.
    pub async fn restart(&mut self) -> anyhow::Result<Duration> {
        let s = self
            .spawned
            .as_mut()
            .context("--spawn is needed to restart the gateway")?;
        s.process.signal(libc::SIGTERM);
        s.process.wait();
        let started = Instant::now();
        s.process = start(&s.pki, &s.data);
        self.url = s.process.url();
        let client = self.client(super::scenarios::RECEIVER).await?;
        client.whoami().await?;
        Ok(started.elapsed())
    }

    /// The example organisation's OIN, read from its certificate folder's
    /// directory entry.
    pub fn oin(&self, org: &str) -> anyhow::Result<String> {
        let orgs = schakel_gateway::tools::pki::example_orgs();
        Ok(orgs
            .iter()
            .find(|o| o.dir == org)
            .with_context(|| format!("no example organisation {org}"))?
            .participant
            .oin
            .to_string())
    }
}
