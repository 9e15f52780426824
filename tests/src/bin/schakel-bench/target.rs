//! The gateway under test: one this benchmark started itself (`--spawn`), on
//! a fresh PKI and a temporary data folder, over sled or over a PostgreSQL
//! server it starts too (one or several instances sharing it), or one
//! already running.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use schakel_client::{Client, Identity};
use schakel_gateway::store::postgres::scratch::Scratch;
use schakel_tests::process::{Rss, rss_of};
use schakel_tests::{GatewayProcess, TestPki, copy_keys};

/// Where a spawned gateway keeps its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// sled, in its data folder.
    Sled,
    /// A PostgreSQL server the benchmark starts, with fsync on.
    Postgres,
}

/// The database a spawned gateway uses.
const DATABASE: &str = "bench";

/// A gateway to drive: one instance or several, spread over as clients
/// connect (as a TCP load balancer spreads connections).
pub struct Target {
    /// The instances' URLs.
    pub urls: Vec<String>,
    /// The folder with ca/, gateway/ and one identity folder per organisation.
    pub pki: PathBuf,
    /// The next instance a client connects to.
    next: AtomicUsize,
    spawned: Option<Spawned>,
}

struct Spawned {
    processes: Vec<GatewayProcess>,
    pki: TestPki,
    data: Vec<PathBuf>,
    env: Vec<(&'static str, String)>,
    database: Option<Arc<Scratch>>,
    _tmp: tempfile::TempDir,
}

/// Starts the gateway binary on `pki` and `data`, with the per-participant
/// rate limit off (the benchmark measures capacity), a quiet log, and `env`.
fn start(pki: &TestPki, data: &Path, env: &[(&'static str, String)]) -> GatewayProcess {
    let mut all = vec![
        ("SCHAKEL_LIMITS__REQUESTS_PER_SECOND", "0".to_string()),
        ("RUST_LOG", "warn,schakel_gateway::server=info".into()),
    ];
    all.extend(env.iter().cloned());
    GatewayProcess::spawn_with(pki, data, &all)
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

/// Starts a PostgreSQL server that makes its commits durable, with the
/// benchmark's database.
pub async fn durable_database() -> anyhow::Result<Arc<Scratch>> {
    let pg = tokio::task::spawn_blocking(Scratch::start_durable)
        .await?
        .context("PostgreSQL is not installed (Debian: apt-get install postgresql)")?;
    pg.ensure_database(DATABASE).await;
    Ok(Arc::new(pg))
}

impl Target {
    /// Starts `instances` gateways on a fresh PKI, each with a temporary
    /// data folder holding the same keys, over `engine`.
    pub async fn spawn(engine: Engine, instances: usize) -> anyhow::Result<Self> {
        anyhow::ensure!(
            instances == 1 || engine == Engine::Postgres,
            "--instances above 1 needs --store postgres: sled is one gateway's store"
        );
        let tmp = tempfile::tempdir()?;
        let pki = TestPki::generate(&tmp.path().join("pki"));
        let database = match engine {
            Engine::Sled => None,
            Engine::Postgres => Some(durable_database().await?),
        };
        let env = match &database {
            None => vec![],
            Some(pg) => vec![
                ("SCHAKEL_STORAGE__ENGINE", "postgres".to_string()),
                ("SCHAKEL_STORAGE__POSTGRES_URL", pg.url(DATABASE)),
                (
                    "SCHAKEL_STORAGE__POSTGRES_CA_FILE",
                    pg.ca_file().display().to_string(),
                ),
            ],
        };
        let data: Vec<PathBuf> = (0..instances)
            .map(|i| tmp.path().join(format!("data-{i}")))
            .collect();
        let mut processes = vec![start(&pki, &data[0], &env)];
        for folder in &data[1..] {
            // The first instance made the keys; the others hold copies.
            copy_keys(&data[0], folder);
            processes.push(start(&pki, folder, &env));
        }
        Ok(Self {
            urls: processes.iter().map(GatewayProcess::url).collect(),
            pki: pki.dir.clone(),
            next: AtomicUsize::new(0),
            spawned: Some(Spawned {
                processes,
                pki,
                data,
                env,
                database,
                _tmp: tmp,
            }),
        })
    }

    /// A running gateway at `url`, with identities in `pki`.
    pub fn external(url: &str, pki: &Path) -> Self {
        Self {
            urls: vec![url.to_owned()],
            pki: pki.to_owned(),
            next: AtomicUsize::new(0),
            spawned: None,
        }
    }

    /// The same instances, for a task of its own; its first client goes to
    /// the instance after the one this target's next goes to.
    pub fn view(&self) -> Self {
        Self {
            urls: self.urls.clone(),
            pki: self.pki.clone(),
            next: AtomicUsize::new(self.next.load(Ordering::Relaxed) + 1),
            spawned: None,
        }
    }

    /// A client as one of the example organisations, connected to the
    /// next instance in turn.
    pub async fn client(&self, org: &str) -> anyhow::Result<Client> {
        let identity = Identity::from_dir(&self.pki.join(org))?;
        let url = &self.urls[self.next.fetch_add(1, Ordering::Relaxed) % self.urls.len()];
        Ok(Client::connect(url, &identity).await?)
    }

    /// The first gateway's process id, when this benchmark started it.
    pub fn pid(&self) -> Option<u32> {
        self.spawned.as_ref().map(|s| s.processes[0].pid())
    }

    /// The first gateway process's memory, when this benchmark started it.
    pub fn rss(&self) -> Option<Rss> {
        self.pid().and_then(rss_of)
    }

    /// The store's size, when this benchmark started the gateway: the data
    /// folders, and the database server's folder (its WAL included).
    pub fn store_bytes(&self) -> Option<u64> {
        self.spawned.as_ref().map(|s| {
            s.data.iter().map(|d| size_on_disk(d)).sum::<u64>()
                + s.database
                    .as_ref()
                    .map_or(0, |pg| size_on_disk(pg.folder()))
        })
    }

    /// The PostgreSQL server the spawned gateways use, if they use one.
    pub fn database(&self) -> Option<Arc<Scratch>> {
        self.spawned.as_ref().and_then(|s| s.database.clone())
    }

    /// Stops the spawned gateways with SIGTERM and starts them again on the
    /// same data; returns how long it took until the first answered a call.
    pub async fn restart(&mut self) -> anyhow::Result<Duration> {
        let s = self
            .spawned
            .as_mut()
            .context("--spawn is needed to restart the gateway")?;
        for p in &mut s.processes {
            p.signal(libc::SIGTERM);
            p.wait();
        }
        let started = Instant::now();
        for (p, data) in s.processes.iter_mut().zip(&s.data) {
            *p = start(&s.pki, data, &s.env);
        }
        self.urls = s.processes.iter().map(GatewayProcess::url).collect();
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
