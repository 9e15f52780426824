//! The end-to-end test harness.
//!
//! Every [`TestGateway`] gets a fresh PKI (made with the same code as the
//! example PKI), a temporary data folder with a real sled store, and a real
//! gateway serving mutual TLS on 127.0.0.1:0. The listener is bound before the
//! gateway starts, so clients connect at once and no test sleeps to wait.
//! [`GatewayProcess`] does the same with the real `schakel-gateway` binary,
//! for tests that signal or kill the process.

pub mod fixtures;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use schakel_client::{Client, ClientError, Identity};
use schakel_gateway::Config;
use schakel_gateway::tools::pki::{
    Ca, ClientSpec, ExampleOrg, Issued, generate_example, write_identity,
};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Identity folder names of the example organisations.
pub mod org {
    /// A primary school.
    pub const SCHOOL_PO: &str = "school-po";
    /// A secondary school.
    pub const SCHOOL_VO: &str = "school-vo";
    /// A samenwerkingsverband.
    pub const SWV: &str = "swv";
    /// A jeugd- en gezinsteam.
    pub const JGT: &str = "jgt";
    /// A gemeente.
    pub const GEMEENTE: &str = "gemeente";
    /// The operator.
    pub const OPERATOR: &str = "operator";
}

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

    /// A gateway configuration for this PKI and `data_dir`.
    pub fn config(&self, data_dir: &Path) -> Config {
        let mut config = Config::default();
        config.tls.cert = self.dir.join("gateway/cert.pem");
        config.tls.key = self.dir.join("gateway/key.pem");
        config.tls.client_ca = self.dir.join("ca/ca.pem");
        config.directory.file = self.dir.join("directory.toml");
        config.storage.data_dir = data_dir.to_owned();
        config.server.shutdown_grace_secs = 5;
        config
    }
}

/// A gateway running inside the test process.
pub struct TestGateway {
    /// The PKI the gateway trusts.
    pub pki: Arc<TestPki>,
    /// The address it serves on.
    pub addr: SocketAddr,
    /// The configuration it runs with.
    pub config: Config,
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
        Self::launch(pki, config, tmp).await
    }

    async fn launch(pki: Arc<TestPki>, config: Config, tmp: Arc<TempDir>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local address");
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(schakel_gateway::run(config.clone(), listener, async {
            let _ = rx.await;
        }));
        Self {
            pki,
            addr,
            config,
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
    pub fn open_store(&self) -> Arc<dyn schakel_gateway::store::Store> {
        let data = &self.config.storage.data_dir;
        let key = schakel_gateway::crypto::SigningKey::load(data).expect("the gateway's key");
        schakel_gateway::store::engine::open_in(data, 1 << 20, Arc::new(key))
            .expect("the stopped gateway's store opens")
    }

    /// Every audit entry in the store of this stopped gateway.
    pub async fn audit_entries(&self) -> Vec<schakel_gateway::model::Entry> {
        self.open_store()
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
    /// and data folder, on a new port.
    pub async fn restart(mut self) -> Self {
        self.stop().await;
        let tmp = self._tmp.clone();
        Self::launch(self.pki.clone(), self.config.clone(), tmp).await
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Path of a binary of this workspace, built next to the running test.
///
/// `cargo test --workspace` builds every binary of a package that has
/// integration tests before it runs any test; the gateway and client crates
/// have such tests, so their binaries are there. Running this crate alone
/// needs `cargo build --bins` first.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile folder");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not found: run `cargo build --bins` (or `cargo test --workspace`) first",
        path.display()
    );
    path
}

/// The workspace root, where certs-example/ lives.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

/// The real `schakel-gateway` binary running as a child process, for tests
/// that send it signals or kill it.
pub struct GatewayProcess {
    child: Child,
    /// The address it announced in its log.
    pub addr: SocketAddr,
    /// Log lines it wrote to standard error so far (collected by a thread).
    pub log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl GatewayProcess {
    /// Starts the binary in `cwd` with extra environment variables, and waits
    /// until its log names the address it serves on. The listen address should
    /// be 127.0.0.1:0 (set through `SCHAKEL_SERVER__LISTEN`).
    pub fn spawn(cwd: &Path, args: &[&str], env: &[(&str, String)]) -> Self {
        let mut cmd = Command::new(workspace_binary("schakel-gateway"));
        cmd.current_dir(cwd)
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("gateway binary starts");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let addr = line.split("https://").nth(1).and_then(|rest| {
                    rest.split(|c: char| c.is_whitespace() || c == '"' || c == '\u{1b}')
                        .next()
                        .and_then(|a| a.parse::<SocketAddr>().ok())
                });
                // Keep the line before announcing the address, so that the
                // log a test reads then includes it.
                sink.lock().expect("log lock").push(line);
                if let Some(addr) = addr
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = match rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "gateway did not announce its address; log: {:?}",
                    log.lock().unwrap()
                );
            }
        };
        Self { child, addr, log }
    }

    /// Starts the binary in the workspace root on `pki` and `data_dir`,
    /// configured through environment variables only (the way a container
    /// would run it).
    pub fn spawn_with(pki: &TestPki, data_dir: &Path, extra_env: &[(&str, String)]) -> Self {
        let mut env = vec![
            ("SCHAKEL_SERVER__LISTEN", "127.0.0.1:0".to_string()),
            (
                "SCHAKEL_TLS__CERT",
                pki.dir.join("gateway/cert.pem").display().to_string(),
            ),
            (
                "SCHAKEL_TLS__KEY",
                pki.dir.join("gateway/key.pem").display().to_string(),
            ),
            (
                "SCHAKEL_TLS__CLIENT_CA",
                pki.dir.join("ca/ca.pem").display().to_string(),
            ),
            (
                "SCHAKEL_DIRECTORY__FILE",
                pki.dir.join("directory.toml").display().to_string(),
            ),
            ("SCHAKEL_STORAGE__DATA_DIR", data_dir.display().to_string()),
        ];
        env.extend(extra_env.iter().cloned());
        Self::spawn(&workspace_root(), &[], &env)
    }

    /// A client of this process connected as an example organisation.
    pub async fn client(&self, pki: &TestPki, org: &str) -> Client {
        Client::connect(&self.url(), &pki.identity(org))
            .await
            .expect("client connects")
    }

    /// The gateway's URL.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Sends a signal to the process.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0, "kill({signal}) failed");
    }

    /// Waits for the process to exit and returns its exit status.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().expect("wait for gateway")
    }

    /// The log so far, as one string.
    pub fn log_text(&self) -> String {
        self.log.lock().expect("log lock").join("\n")
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The gRPC code of a failed client call, for assertions.
pub fn code_of<T: std::fmt::Debug>(result: Result<T, ClientError>) -> tonic::Code {
    match result {
        Ok(v) => panic!("expected an error status, got {v:?}"),
        Err(ClientError::Status(s)) => s.code(),
        Err(e) => panic!("expected an error status, got {e}"),
    }
}

/// The status of a failed client call, for assertions on code and message.
pub fn status_of<T: std::fmt::Debug>(result: Result<T, ClientError>) -> tonic::Status {
    match result {
        Ok(v) => panic!("expected an error status, got {v:?}"),
        Err(ClientError::Status(s)) => s,
        Err(e) => panic!("expected an error status, got {e}"),
    }
}

/// Pulls from `client`'s inbox until `n` messages are leased, waiting up to
/// ten seconds in all (messages may come back only once a sweep has returned
/// their expired leases).
pub async fn pull_until(client: &Client, n: usize) -> Vec<schakel_client::proto::Delivery> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut got = Vec::new();
    while got.len() < n {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(
            !left.is_zero(),
            "only {} of {n} messages arrived: {got:?}",
            got.len()
        );
        let wait = left.min(std::time::Duration::from_secs(1));
        got.extend(
            client
                .pull((n - got.len()) as u32, wait, std::time::Duration::ZERO)
                .await
                .expect("pull"),
        );
    }
    got
}

/// The next `n` receipts of a Receipts stream, each within ten seconds.
pub async fn next_receipts<S>(stream: &mut S, n: usize) -> Vec<schakel_client::proto::Receipt>
where
    S: futures::Stream<Item = Result<schakel_client::proto::ReceiptEvent, ClientError>> + Unpin,
{
    use futures::StreamExt;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let event = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
            .await
            .expect("a receipt within ten seconds")
            .expect("the stream stays open")
            .expect("a verified receipt");
        out.push(event.receipt.expect("an event carries a receipt"));
    }
    out
}
