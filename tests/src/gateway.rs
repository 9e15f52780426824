//! A PKI and a gateway inside the test process.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use schakel_client::proto as pb;
use schakel_client::{Client, ClientError, Identity};
use schakel_gateway::Config;
use schakel_gateway::clock::Clock;
use schakel_gateway::tools::pki::{
    Ca, ClientSpec, ExampleOrg, Issued, generate_example, write_identity,
};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The free-space reserve of test gateways: small, so that the tests'
/// large payloads pass on a CI machine with little free disk (the reserve
/// itself is tested on a small file system, in `tests/tests/quotas.rs`).
pub const TEST_MIN_FREE_BYTES: u64 = 64 << 20;

/// A fresh PKI and directory in a temporary folder.
pub struct TestPki {
    /// The CA that signed everything; issue more certificates with it.
    pub ca: Ca,
    /// The example organisations and their directory entries.
    pub orgs: Vec<ExampleOrg>,
    /// The folder holding ca/, gateway/, one folder per organisation, and
    /// directory.toml.
    pub dir: PathBuf,
}

impl TestPki {
    /// A bare rustls client configuration for organisation `org`, limited
    /// to `versions`: for tests that speak TLS without gRPC.
    pub fn tls_client(
        &self,
        org: &str,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> rustls::ClientConfig {
        use rustls::pki_types::pem::PemObject;
        use schakel_gateway::transport::pem::read_certs;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in read_certs("ca", &self.dir.join("ca/ca.pem")).expect("the CA") {
            roots.add(c).expect("a CA certificate");
        }
        let certs = read_certs("cert", &self.dir.join(org).join("cert.pem")).expect("a cert");
        let key =
            rustls::pki_types::PrivateKeyDer::from_pem_slice(self.identity(org).key_pem.as_bytes())
                .expect("a key");
        rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .expect("the versions")
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .expect("a client configuration")
    }

    /// Generates a PKI into `dir`.
    pub fn generate(dir: &Path) -> Self {
        let (ca, orgs) = generate_example(dir).expect("PKI generation works");
        Self {
            ca,
            orgs,
            dir: dir.to_owned(),
        }
    }

    /// The OIN of an example organisation, by folder name.
    pub fn oin(&self, org: &str) -> String {
        self.orgs
            .iter()
            .find(|o| o.dir == org)
            .unwrap_or_else(|| panic!("no example organisation {org}"))
            .participant
            .oin
            .to_string()
    }

    /// The identity of an example organisation.
    pub fn identity(&self, org: &str) -> Identity {
        Identity::from_dir(&self.dir.join(org)).expect("identity folder is readable")
    }

    /// An identity with a certificate issued now by this PKI's CA.
    pub fn issue(&self, spec: &ClientSpec) -> (Identity, Issued) {
        let issued = self.ca.issue_client(spec).expect("issuing works");
        let identity = Identity {
            cert_pem: issued.cert_pem.clone(),
            key_pem: issued.key_pem.clone(),
            ca_pem: self.ca.cert_pem(),
        };
        (identity, issued)
    }

    /// Writes an identity folder for `issued` under this PKI's folder.
    pub fn write_identity(&self, name: &str, issued: &Issued) -> PathBuf {
        let dir = self.dir.join(name);
        write_identity(&dir, issued, &self.ca.cert_pem()).expect("identity folder is writable");
        dir
    }

    /// A gateway configuration for this PKI and `data_dir`. Its
    /// free-space reserve is [`TEST_MIN_FREE_BYTES`].
    pub fn config(&self, data_dir: &Path) -> Config {
        let mut config = Config::default();
        if let Some((url, ca_file)) = postgres_for(data_dir) {
            config.storage.engine = schakel_gateway::config::StorageEngine::Postgres;
            config.storage.postgres_url = url;
            config.storage.postgres_ca_file = ca_file;
        }
        config.tls.cert = self.dir.join("gateway/cert.pem");
        config.tls.key = self.dir.join("gateway/key.pem");
        config.tls.client_ca = self.dir.join("ca/ca.pem");
        config.directory.file = self.dir.join("directory.toml");
        config.storage.data_dir = data_dir.to_owned();
        config.server.shutdown_grace_secs = 5;
        config.audit.refusal_interval_secs = 1;
        config.storage.min_free_bytes = TEST_MIN_FREE_BYTES;
        config
    }

    /// The settings of a gateway on this PKI and `data_dir`, as environment
    /// variables (the way a container would configure it).
    pub fn env(&self, data_dir: &Path) -> Vec<(&'static str, String)> {
        let path = |p: &str| self.dir.join(p).display().to_string();
        let mut env = vec![
            ("SCHAKEL_SERVER__LISTEN", "127.0.0.1:0".to_string()),
            ("SCHAKEL_TLS__CERT", path("gateway/cert.pem")),
            ("SCHAKEL_TLS__KEY", path("gateway/key.pem")),
            ("SCHAKEL_TLS__CLIENT_CA", path("ca/ca.pem")),
            ("SCHAKEL_DIRECTORY__FILE", path("directory.toml")),
            ("SCHAKEL_STORAGE__DATA_DIR", data_dir.display().to_string()),
            (
                "SCHAKEL_STORAGE__MIN_FREE_BYTES",
                TEST_MIN_FREE_BYTES.to_string(),
            ),
        ];
        if let Some((url, ca_file)) = postgres_for(data_dir) {
            env.push(("SCHAKEL_STORAGE__ENGINE", "postgres".into()));
            env.push(("SCHAKEL_STORAGE__POSTGRES_URL", url));
            env.push((
                "SCHAKEL_STORAGE__POSTGRES_CA_FILE",
                ca_file.display().to_string(),
            ));
        }
        env
    }
}

/// Whether the tests run their gateways over PostgreSQL
/// (`SCHAKEL_TEST_STORE=postgres`) rather than sled.
pub fn over_postgres() -> bool {
    std::env::var("SCHAKEL_TEST_STORE").is_ok_and(|v| v == "postgres")
}

/// With `SCHAKEL_TEST_STORE=postgres`: the URL and CA file of a database of
/// its own for the gateway of `data_dir`, on the test binary's scratch
/// PostgreSQL server (the same database each time for the same folder, so a
/// restarted gateway finds what it held).
pub fn postgres_for(data_dir: &Path) -> Option<(String, PathBuf)> {
    if !over_postgres() {
        return None;
    }
    let hash = schakel_gateway::crypto::sha256(data_dir.as_os_str().as_encoded_bytes());
    Some(
        postgres_database(&format!("e{}", &hash.to_hex()[..24]))
            .expect("SCHAKEL_TEST_STORE=postgres, but PostgreSQL is not installed"),
    )
}

/// The URL and CA file of database `database` on the test binary's scratch
/// PostgreSQL server, made if it is not there; None when PostgreSQL is not
/// installed (and `SCHAKEL_REQUIRE_POSTGRES` is not set).
pub fn postgres_database(database: &str) -> Option<(String, PathBuf)> {
    let pg = schakel_gateway::store::postgres::scratch::Scratch::shared()?;
    // Its own runtime, on a thread of its own: callers may be inside one.
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(pg.ensure_database(database))
        })
        .join()
        .expect("the scratch database is made")
    });
    Some((pg.url(database), pg.ca_file()))
}

/// A gateway running inside the test process.
pub struct TestGateway {
    /// The PKI the gateway trusts.
    pub pki: Arc<TestPki>,
    /// The address it serves on.
    pub addr: std::net::SocketAddr,
    /// Where its metrics endpoint listens.
    pub metrics_addr: std::net::SocketAddr,
    /// The configuration it runs with.
    pub config: Config,
    /// Its clock: move it forward to test what happens days from now.
    pub clock: Clock,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _tmp: Arc<TempDir>,
}

/// Makes log output of the gateway visible in failing tests (`RUST_LOG`).
fn init_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        schakel_gateway::transport::tls::install_default_provider();
        if std::env::var_os("RUST_LOG").is_some() {
            schakel_gateway::logging::init(&Config::default().log);
        }
    });
}

impl TestGateway {
    /// Starts a gateway with a fresh PKI and data folder.
    pub async fn start() -> Self {
        Self::start_with(|_, _| {}).await
    }

    /// Starts a gateway with a fresh PKI and data folder, after `adjust` has
    /// changed the configuration (and made files with the PKI if it needs to).
    pub async fn start_with(adjust: impl FnOnce(&TestPki, &mut Config)) -> Self {
        init_logging();
        let tmp = Arc::new(tempfile::tempdir().expect("temporary folder"));
        let pki = Arc::new(TestPki::generate(&tmp.path().join("pki")));
        let mut config = pki.config(&tmp.path().join("data"));
        adjust(&pki, &mut config);
        let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        Self::launch(pki, config, tmp, Clock::system(), any).await
    }

    async fn launch(
        pki: Arc<TestPki>,
        config: Config,
        tmp: Arc<TempDir>,
        clock: Clock,
        at: std::net::SocketAddr,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind(at).await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let metrics = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let metrics_addr = metrics.local_addr().expect("local address");
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(schakel_gateway::server::serve(
            config.clone(),
            clock.clone(),
            listener,
            Some(metrics),
            async {
                let _ = rx.await;
            },
        ));
        Self {
            pki,
            addr,
            metrics_addr,
            config,
            clock,
            shutdown: Some(tx),
            task: Some(task),
            _tmp: tmp,
        }
    }

    /// The gateway's URL.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The OIN of an example organisation.
    pub fn oin(&self, org: &str) -> String {
        self.pki.oin(org)
    }

    /// A TLS connection as `org` that has finished its handshake and says
    /// nothing more (no HTTP/2).
    pub async fn raw_tls(
        &self,
        org: &str,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let config = self.pki.tls_client(org, rustls::DEFAULT_VERSIONS);
        let tcp = tokio::net::TcpStream::connect(self.addr).await?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
        connector.connect(name, tcp).await
    }

    /// A client connected as an example organisation.
    pub async fn client(&self, org: &str) -> Client {
        self.connect(&self.pki.identity(org))
            .await
            .expect("client connects")
    }

    /// A client connected with any identity.
    pub async fn connect(&self, identity: &Identity) -> Result<Client, ClientError> {
        Client::connect(&self.url(), identity).await
    }

    /// Sends `request` as an example organisation; it must be accepted.
    pub async fn send(&self, org: &str, request: pb::SendRequest) -> pb::SendResponse {
        self.client(org)
            .await
            .send(request)
            .await
            .expect("accepted")
    }

    /// Everything waiting in an example organisation's inbox now, leased.
    pub async fn inbox(&self, org: &str) -> Vec<pb::Delivery> {
        self.client(org)
            .await
            .pull(256, Duration::ZERO, Duration::ZERO)
            .await
            .expect("pull")
    }

    /// Stops the gateway gracefully and waits until it has flushed its store.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("gateway task")
                .expect("gateway stopped cleanly");
        }
    }

    /// The store of this gateway, opened directly; call [`Self::stop`]
    /// first (sled allows one process, one open).
    pub async fn open_store(&self) -> Arc<dyn schakel_gateway::store::Store> {
        let data = &self.config.storage.data_dir;
        let key = schakel_gateway::crypto::SigningKey::load(data).expect("the gateway's key");
        let sealing = schakel_gateway::store::sealing::Sealing::open(
            data,
            self.config.audit.retention_days,
            self.clock.now_ms(),
        )
        .expect("the gateway's term keys");
        schakel_gateway::store::engine::open(&self.config.storage, Arc::new(key), sealing)
            .await
            .expect("the stopped gateway's store opens")
    }

    /// Every audit entry in the store of this stopped gateway.
    pub async fn audit_entries(&self) -> Vec<schakel_gateway::model::Entry> {
        self.open_store()
            .await
            .audit_entries(1, usize::MAX)
            .await
            .expect("the audit log reads")
    }

    /// The folder of the store inside the data folder.
    pub fn store_dir(&self) -> PathBuf {
        self.config
            .storage
            .data_dir
            .join(schakel_gateway::store::engine::STORE_DIR)
    }

    /// Stops the gateway and starts a new one on the same PKI, configuration
    /// and data folder, at the same address: clients connected before
    /// reconnect to it.
    pub async fn restart(mut self) -> Self {
        self.stop().await;
        let tmp = self._tmp.clone();
        Self::launch(
            self.pki.clone(),
            self.config.clone(),
            tmp,
            self.clock.clone(),
            self.addr,
        )
        .await
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
