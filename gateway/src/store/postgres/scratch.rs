//! A throwaway PostgreSQL server for tests: a real `postgres` from the
//! system's packages, in a temporary folder, on a free loopback port, with
//! TLS under a self-signed certificate (the tests trust it as their CA) and
//! password (SCRAM) logins, over TCP only with TLS. `initdb` and `postgres`
//! refuse to run as root, so under root they run as the `postgres` user,
//! who owns the folder.
//!
//! When PostgreSQL is not installed, [`Scratch::start`] answers `None` and
//! the test is skipped, unless `SCHAKEL_REQUIRE_POSTGRES` is set (CI sets
//! it), which makes a missing server a failure.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The password of the scratch server's one role.
const PASSWORD: &str = "scratch-password";
/// Its role.
const USER: &str = "schakel";

/// A running scratch server, stopped and removed when dropped.
pub struct Scratch {
    postmaster: Child,
    dir: tempfile::TempDir,
    port: u16,
}

/// The folder holding PostgreSQL's programs: the newest
/// `/usr/lib/postgresql/*/bin` (Debian's layout), or the one `initdb` is
/// found in on the `PATH`.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b).or_else(|| {
        std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .find(|d| d.join("initdb").exists() && d.join("postgres").exists())
        })
    })
}

/// The uid and gid of the `postgres` user, to run as under root.
fn postgres_user() -> Result<(u32, u32), String> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| e.to_string())?;
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&"postgres") && f.len() > 3)
                .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
                .flatten()
        })
        .ok_or_else(|| "running as root, and there is no postgres user to run PostgreSQL as: install the postgresql package".into())
}

/// A self-signed certificate for the loopback address and its key, as PEM:
/// the scratch server's, and, in tests, a stranger's.
pub fn self_signed() -> Result<(String, String), rcgen::Error> {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])?;
    Ok((made.cert.pem(), made.signing_key.serialize_pem()))
}

/// A free port on the loopback address.
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The test binary's shared server: started once, on a thread of its own
/// that lives as long as the process (the server is tied to the thread that
/// started it, and a test's thread ends with the test).
static SHARED: std::sync::OnceLock<Option<Scratch>> = std::sync::OnceLock::new();

/// Runs `start` on a thread that is never let go, and answers what it
/// started: the server is told to stop when the thread that started it
/// ends (`PR_SET_PDEATHSIG` follows the thread, not the process), so that
/// thread must outlive it; a thread of a pool does not.
fn on_kept_thread(start: fn() -> Option<Scratch>) -> Option<Scratch> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("scratch-postgres".into())
        .spawn(move || {
            let _ = tx.send(std::panic::catch_unwind(start));
            loop {
                std::thread::park();
            }
        })
        .expect("a thread for the scratch server");
    let started = rx.recv().expect("the scratch server's thread answers");
    started.unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// Stops the shared server when the test binary exits.
extern "C" fn stop_shared() {
    if let Some(Some(s)) = SHARED.get() {
        s.stop();
    }
}

impl Scratch {
    /// The server the tests of this binary share (each in databases of its
    /// own), started by the first caller; None when PostgreSQL is not
    /// installed and not required.
    pub fn shared() -> Option<&'static Scratch> {
        SHARED
            .get_or_init(|| {
                let started = on_kept_thread(Self::start);
                if started.is_some() {
                    unsafe {
                        libc::atexit(stop_shared);
                    }
                }
                started
            })
            .as_ref()
    }

    /// Starts a server, or answers `None` (and says why on stderr) when
    /// PostgreSQL is not installed and not required.
    pub fn start() -> Option<Self> {
        Self::start_as(false)
    }

    /// Starts a server that makes every commit durable, as a production
    /// server does (`fsync` on, PostgreSQL's default): for the benchmark,
    /// whose figures beside sled's mean nothing unless both wait for the
    /// disk. Started from a thread that outlives it, as the shared one is.
    pub fn start_durable() -> Option<Self> {
        on_kept_thread(|| Self::start_as(true))
    }

    fn start_as(durable: bool) -> Option<Self> {
        let Some(bin) = bin_dir() else {
            assert!(
                std::env::var_os("SCHAKEL_REQUIRE_POSTGRES").is_none(),
                "SCHAKEL_REQUIRE_POSTGRES is set but PostgreSQL is not installed (Debian: apt-get install postgresql)"
            );
            eprintln!("skipped: PostgreSQL is not installed (Debian: apt-get install postgresql)");
            return None;
        };
        Some(Self::start_with(&bin, durable).unwrap_or_else(|e| panic!("scratch PostgreSQL: {e}")))
    }

    fn start_with(bin: &Path, durable: bool) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("schakel-pg-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let owner = if unsafe { libc::geteuid() } == 0 {
            Some(postgres_user()?)
        } else {
            None
        };
        let run_as = |mut c: Command| {
            if let Some((uid, gid)) = owner {
                c.uid(uid).gid(gid);
            }
            c.current_dir(dir.path());
            // If the test dies without dropping this, the server goes with
            // it (set after the change of user, which would clear it).
            unsafe {
                c.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            c
        };
        let chown = |p: &Path| -> Result<(), String> {
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::chown(p, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
            }
            Ok(())
        };
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .map_err(|e| e.to_string())?;
        chown(dir.path())?;
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD).map_err(|e| e.to_string())?;
        chown(&pwfile)?;

        let mut initdb = run_as(Command::new(bin.join("initdb")));
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                USER,
                "--auth=scram-sha-256",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .arg(format!("--pwfile={}", pwfile.display()));
        let out = initdb.output().map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }

        // TLS under a self-signed certificate; TCP logins only over TLS.
        let (cert_pem, key_pem) = self_signed().map_err(|e| e.to_string())?;
        for (name, contents, mode) in [
            ("server.crt", &cert_pem, 0o644),
            ("server.key", &key_pem, 0o600),
        ] {
            let path = data.join(name);
            std::fs::write(&path, contents).map_err(|e| e.to_string())?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| e.to_string())?;
            chown(&path)?;
        }
        std::fs::write(dir.path().join("ca.pem"), &cert_pem).map_err(|e| e.to_string())?;
        std::fs::write(
            data.join("pg_hba.conf"),
            format!("local all all scram-sha-256\nhostssl all {USER} 127.0.0.1/32 scram-sha-256\n"),
        )
        .map_err(|e| e.to_string())?;

        let port = free_port().map_err(|e| e.to_string())?;
        let log =
            std::fs::File::create(dir.path().join("server.log")).map_err(|e| e.to_string())?;
        let mut postgres = run_as(Command::new(bin.join("postgres")));
        postgres
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-k")
            .arg(dir.path())
            .args([
                "-c",
                "ssl=on",
                "-c",
                "ssl_cert_file=server.crt",
                "-c",
                "ssl_key_file=server.key",
            ])
            // Tests stop the gateway, never the machine: the server need not
            // survive a power cut, and starts and writes faster without fsync.
            .args(["-c", if durable { "fsync=on" } else { "fsync=off" }])
            .args(["-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        let postmaster = postgres.spawn().map_err(|e| format!("postgres: {e}"))?;
        let mut scratch = Self {
            postmaster,
            dir,
            port,
        };
        scratch.wait_ready()?;
        Ok(scratch)
    }

    /// Waits until the server accepts connections, or says why it stopped.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log =
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
            if log.contains("ready to accept connections") {
                return Ok(());
            }
            if let Ok(Some(status)) = self.postmaster.try_wait() {
                return Err(format!("postgres exited ({status}): {log}"));
            }
            if Instant::now() > deadline {
                return Err(format!("postgres did not start within 60 s: {log}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's folder (its data and WAL below it), for its size.
    pub fn folder(&self) -> &Path {
        self.dir.path()
    }

    /// The PEM file the server's certificate is checked against (the
    /// certificate itself).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The connection URL of database `database`, over TLS.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// A target that reaches database `database` through the server's Unix
    /// socket, with no `sslmode` given.
    pub fn socket_target(&self, database: &str) -> super::connection::Target {
        super::connection::Target {
            url: format!(
                "host={} port={} user={USER} password={PASSWORD} dbname={database}",
                self.dir.path().display(),
                self.port
            ),
            ca_file: None,
            client_identity: None,
        }
    }

    /// The [`Target`](super::connection::Target) of database `database`.
    pub fn target(&self, database: &str) -> super::connection::Target {
        super::connection::Target {
            url: self.url(database),
            ca_file: Some(self.ca_file()),
            client_identity: None,
        }
    }

    /// Creates database `name` unless it exists.
    pub async fn ensure_database(&self, name: &str) {
        let client = super::connection::connect(&self.target("postgres"))
            .await
            .expect("connect to the scratch server");
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await
            .expect("look for a scratch database")
            .is_some();
        if !exists {
            client
                .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create a scratch database");
        }
    }
}

impl Scratch {
    /// Stops the server at once (SIGQUIT) and removes its folder, through a
    /// shared reference: the shared server is never dropped.
    fn stop(&self) {
        let pid = self.postmaster.id() as libc::pid_t;
        unsafe {
            libc::kill(pid, libc::SIGQUIT);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let mut status = 0;
            if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } != 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(self.dir.path());
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Already gone (and reaped): its pid may be another process's now.
        if let Ok(Some(_)) = self.postmaster.try_wait() {
            return;
        }
        // SIGQUIT: stop at once; the folder goes with it.
        let pid = self.postmaster.id() as libc::pid_t;
        unsafe {
            libc::kill(pid, libc::SIGQUIT);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.postmaster.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.postmaster.kill();
        let _ = self.postmaster.wait();
    }
}
