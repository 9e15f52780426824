//! The gateway under test: one this benchmark started itself (`--spawn`), on
//! a fresh PKI and a temporary data folder, or one already running.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use schakel_client::{Client, Identity};

/// A gateway to drive.
pub struct Target {
    /// The gateway's URL.
    pub url: String,
    /// The folder with ca/, gateway/ and one identity folder per organisation.
    pub pki: PathBuf,
    spawned: Option<Spawned>,
}

struct Spawned {
    child: Child,
    data: PathBuf,
    _tmp: tempfile::TempDir,
}

/// Resident set size figures of a process, in bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rss {
    /// Now.
    pub current: u64,
    /// The peak over the process's life.
    pub peak: u64,
}

/// Reads VmRSS and VmHWM of a process.
pub fn rss_of(pid: u32) -> Option<Rss> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some(Rss {
        current: field("VmRSS:")?,
        peak: field("VmHWM:")?,
    })
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

fn gateway_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name("schakel-gateway");
    anyhow::ensure!(
        path.exists(),
        "{} not found: build it first (cargo build --release -p schakel-gateway)",
        path.display()
    );
    Ok(path)
}

fn start(pki: &Path, data: &Path) -> anyhow::Result<(Child, String)> {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(gateway_binary()?)
        .env("SCHAKEL_SERVER__LISTEN", "127.0.0.1:0")
        .env("SCHAKEL_TLS__CERT", pki.join("gateway/cert.pem"))
        .env("SCHAKEL_TLS__KEY", pki.join("gateway/key.pem"))
        .env("SCHAKEL_TLS__CLIENT_CA", pki.join("ca/ca.pem"))
        .env("SCHAKEL_DIRECTORY__FILE", pki.join("directory.toml"))
        .env("SCHAKEL_STORAGE__DATA_DIR", data)
        // The benchmark measures capacity, not the per-participant limit.
        .env("SCHAKEL_LIMITS__REQUESTS_PER_SECOND", "0")
        .env("SCHAKEL_LOG__FILTER", "warn,schakel_gateway::server=info")
        .env("SCHAKEL_LOG__FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting schakel-gateway")?;
    let stderr = child.stderr.take().expect("piped");
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let Some(line) = lines.next() else {
            anyhow::bail!("the gateway exited before it served");
        };
        let line = line?;
        if let Some(rest) = line.split("https://").nth(1) {
            let addr: String = rest
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '"')
                .collect();
            break format!("https://{addr}");
        }
    };
    // Keep draining its log so that it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Ok((child, url))
}

impl Target {
    /// Starts a gateway on a fresh PKI and temporary data folder.
    pub fn spawn() -> anyhow::Result<Self> {
        let tmp = tempfile::tempdir()?;
        let pki = tmp.path().join("pki");
        schakel_gateway::tools::pki::generate_example(&pki)?;
        let data = tmp.path().join("data");
        let (child, url) = start(&pki, &data)?;
        Ok(Self {
            url,
            pki,
            spawned: Some(Spawned {
                child,
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
        self.spawned.as_ref().map(|s| s.child.id())
    }

    /// The gateway process's memory, when this benchmark started it.
    pub fn rss(&self) -> Option<Rss> {
        self.spawned.as_ref().and_then(|s| rss_of(s.child.id()))
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
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) };
        s.child.wait()?;
        let started = Instant::now();
        let (child, url) = start(&self.pki, &s.data)?;
        s.child = child;
        self.url = url;
        let client = self.client("jgt").await?;
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

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(s) = &mut self.spawned {
            let _ = s.child.kill();
            let _ = s.child.wait();
        }
    }
}
