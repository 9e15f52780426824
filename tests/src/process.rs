//! The real binaries, run as processes.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use schakel_client::Client;

use crate::gateway::TestPki;

/// Path of a binary of this workspace, built beside the running executable.
///
/// `cargo test --workspace` builds every binary of a package that has
/// integration tests before it runs any test; the gateway, client and tests
/// crates each have such tests, so their binaries are there. Running this
/// crate alone needs `cargo build --bins` first.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("the executable's folder");
    // A test runs from target/<profile>/deps, a binary from target/<profile>.
    [dir.join(name), dir.join("..").join(name)]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "{name} not found beside {}: run `cargo build --bins` (or `cargo test --workspace`) first",
                exe.display()
            )
        })
}

/// The workspace root, where certs-example/ lives.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

/// The standard output of a command that must have succeeded; panics with
/// its error output if it did not.
pub fn succeeded(out: Output) -> String {
    assert!(
        out.status.success(),
        "the command failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The error output of a command that must have failed (a start the
/// gateway refuses, say); panics with it if the command succeeded.
pub fn failed(out: Output) -> String {
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "the command was to fail: {log}");
    log
}

/// Copies the key files of one gateway's data folder into another's, made
/// 0700 as the guide says, as an operator does for a second instance over
/// the same database.
pub fn copy_keys(from: &Path, to: &Path) {
    use schakel_gateway::crypto::{
        CHILD_KEY_FILE, PAYLOAD_KEY_FILE, SIGNING_KEY_FILE, TERM_KEYS_FILE,
    };
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(to)
        .expect("the second data folder");
    for file in [
        SIGNING_KEY_FILE,
        CHILD_KEY_FILE,
        PAYLOAD_KEY_FILE,
        TERM_KEYS_FILE,
    ] {
        std::fs::copy(from.join(file), to.join(file)).expect("a key file copied");
    }
}

/// Runs `cmd` with its file-descriptor limit (soft and hard) at `limit`, as
/// `ulimit -n` would set it for a service.
pub fn limit_fds(cmd: &mut Command, limit: u64) {
    use std::os::unix::process::CommandExt;
    let rlimit = libc::rlimit {
        rlim_cur: limit as libc::rlim_t,
        rlim_max: limit as libc::rlim_t,
    };
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The real `schakel-gateway` binary running as a child process, for tests
/// that send it signals or kill it.
pub struct GatewayProcess {
    child: Child,
    /// The address it announced in its log.
    pub addr: SocketAddr,
    /// Log lines it wrote to standard error so far (collected by a thread).
    pub log: Arc<Mutex<Vec<String>>>,
    /// The thread that collects the log; it ends when the process closes
    /// its standard error.
    reader: Option<std::thread::JoinHandle<()>>,
}

/// The address a log line announces the gateway at, if it does.
fn announced(line: &str) -> Option<SocketAddr> {
    line.split("https://").nth(1).and_then(|rest| {
        rest.split(|c: char| c.is_whitespace() || c == '"' || c == '\u{1b}')
            .next()
            .and_then(|a| a.parse::<SocketAddr>().ok())
    })
}

impl GatewayProcess {
    /// Starts the binary in `cwd` with extra environment variables, and waits
    /// until its log names the address it serves on. The listen address should
    /// be 127.0.0.1:0 (set through `SCHAKEL_SERVER__LISTEN`). `RUST_LOG` is
    /// `info` unless `env` sets it.
    pub fn spawn(cwd: &Path, args: &[&str], env: &[(&str, String)]) -> Self {
        Self::spawn_command(Self::command(cwd, args, env))
    }

    /// The command [`GatewayProcess::spawn`] runs, to change before it
    /// runs (a file-descriptor limit, say).
    pub fn command(cwd: &Path, args: &[&str], env: &[(&str, String)]) -> Command {
        let mut cmd = Command::new(workspace_binary("schakel-gateway"));
        cmd.current_dir(cwd)
            .args(args)
            .env("RUST_LOG", "info")
            // A port of its own for the metrics, so that processes of
            // tests that run at once do not collide.
            .env("SCHAKEL_METRICS__LISTEN", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `cmd` (made by [`GatewayProcess::command`]) as
    /// [`GatewayProcess::spawn`] does.
    pub fn spawn_command(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().expect("gateway binary starts");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        let reader = std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let addr = announced(&line);
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
        Self {
            child,
            addr,
            log,
            reader: Some(reader),
        }
    }

    /// Starts the binary in the workspace root on `pki` and `data_dir`,
    /// configured through environment variables only (the way a container
    /// would run it).
    pub fn spawn_with(pki: &TestPki, data_dir: &Path, extra_env: &[(&str, String)]) -> Self {
        let mut env = pki.env(data_dir);
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

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal to the process.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0, "kill({signal}) failed");
    }

    /// Waits for the process to exit and returns its exit status; its whole
    /// log has been read by then.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        let status = self.child.wait().expect("wait for gateway");
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        status
    }

    /// Where its metrics endpoint listens, as its log announced.
    pub fn metrics_addr(&self) -> SocketAddr {
        let log = self.log_text();
        log.split("metrics on http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no metrics address in the log: {log}"))
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

/// The `schakel` command line.
pub struct Cli {
    cmd: Command,
}

impl Cli {
    /// `schakel` run in the workspace root.
    pub fn new() -> Self {
        let mut cmd = Command::new(workspace_binary("schakel"));
        cmd.current_dir(workspace_root());
        Self { cmd }
    }

    /// `schakel --gateway URL --identity DIR`.
    pub fn as_org(gateway: &str, identity: &Path) -> Self {
        let mut cli = Self::new();
        cli.cmd
            .arg("--gateway")
            .arg(gateway)
            .arg("--identity")
            .arg(identity);
        cli
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Sets an environment variable for it.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.cmd.env(name, value);
        self
    }

    /// Runs it and returns what it did.
    pub fn output(mut self) -> Output {
        self.cmd.output().expect("schakel runs")
    }

    /// Starts it with `--json`, its output piped, for a command that runs
    /// until it is stopped (`inbox watch`).
    pub fn spawn_json(mut self) -> std::process::Child {
        self.cmd
            .arg("--json")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("schakel starts")
    }

    /// Runs it with `--json`; it must succeed, and each line of its output
    /// is one JSON value.
    pub fn json(mut self) -> Vec<serde_json::Value> {
        self.cmd.arg("--json");
        succeeded(self.output())
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

impl Default for Cli {
    fn default() -> Self {
        Self::new()
    }
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

/// The answer to `GET path` on `addr`.
pub async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    answer
}

/// The value of the sample `name` (with its labels, as written) in `text`.
pub fn value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in:\n{text}"))
}

/// Runs `schakel --gateway URL --identity DIR --json ARGS...` against `gw`
/// as the example organisation `who` and returns its JSON lines; panics
/// with its error output if it fails.
pub async fn cli_json(gw: &crate::TestGateway, who: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let cli = Cli::as_org(&gw.url(), &gw.pki.dir.join(who)).args(args);
    tokio::task::spawn_blocking(move || cli.json())
        .await
        .expect("the CLI's thread")
}

/// `schakel-gateway audit verify --data DATA`: the offline verification of
/// a stopped gateway's data folder, as an operator runs it.
pub fn verify_data_folder(data: &Path) -> Output {
    Command::new(crate::workspace_binary("schakel-gateway"))
        .args(["audit", "verify", "--data"])
        .arg(data)
        .output()
        .expect("schakel-gateway runs")
}
