//! The `schakel-gateway` binary: parses the command line and calls the library.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use schakel_gateway::crypto::{GatewayKeys, Signer, key_id, rotate};
use schakel_gateway::model::{Oin, OrgKind};
use schakel_gateway::tools::{dev_ca, migrate, pki, verify};
use schakel_gateway::transport::tls;
use schakel_gateway::{Config, config::LogFormat, logging, server};

/// Schakel gateway: consent-bound message exchange for education and youth care.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (TOML). Without it, the embedded defaults apply:
    /// loopback, the example PKI in certs-example/, data in ./schakel-data.
    #[arg(long, short, global = true, env = "SCHAKEL_CONFIG")]
    config: Option<PathBuf>,
    /// Log JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gateway (the default).
    Serve,
    /// Certificate tools for examples and tests.
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Print the default configuration, with a comment for every field.
    DefaultConfig,
    /// Audit log tools.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The key that signs receipts, checkpoints and reports.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Copy a stopped gateway's store into another engine: its sled store
    /// (storage.data_dir) into the empty PostgreSQL database of
    /// storage.postgres_url, with its audit chain intact, verified after
    /// the copy.
    Migrate {
        /// The engine the store is in now.
        #[arg(long, value_enum)]
        from: Engine,
        /// The engine to copy it into.
        #[arg(long, value_enum)]
        to: Engine,
    },
}

/// A storage engine, on the command line.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Engine {
    /// The embedded store in the data folder.
    Sled,
    /// A PostgreSQL database.
    Postgres,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// List the signing key and the retired keys that still verify.
    List {
        /// The gateway's data folder.
        #[arg(long, default_value = "schakel-data")]
        data: PathBuf,
    },
    /// Retire the signing key and make a new one. The new key signs from the
    /// gateway's next start; the retired key stays published, so that what
    /// it signed still verifies.
    Rotate {
        /// The gateway's data folder.
        #[arg(long, default_value = "schakel-data")]
        data: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the hash chain and signed checkpoints of a stopped gateway's
    /// store; names the first altered, missing or reordered entry.
    Verify {
        /// The gateway's data folder.
        #[arg(long, default_value = "schakel-data")]
        data: PathBuf,
    },
}

#[derive(Subcommand)]
enum PkiCommand {
    /// Write a fresh example PKI and directory (EXAMPLE MATERIAL, not for production).
    Example {
        /// Output folder; existing files there are replaced.
        #[arg(long, default_value = "certs-example")]
        out: PathBuf,
    },
    /// Issue an identity folder for an organisation from the development CA
    /// (the example PKI's), after `schakel admin add`. Refused unless the
    /// gateway's tls.client_ca is that development CA, with its key beside it.
    Issue {
        /// The organisation's OIN (20 digits).
        #[arg(long)]
        oin: String,
        /// Its legal name, as in the directory.
        #[arg(long)]
        name: String,
        /// Its kind (school, swv, jgt, gemeente, veilig_thuis, verwijsindex or
        /// operator), for the `admin add` command this prints.
        #[arg(long)]
        kind: String,
        /// The identity folder to write (default: beside the CA's folder,
        /// named after the OIN).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    tls::install_default_provider();
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The causes in one line, never a backtrace: these are errors a
            // person acts on (a setting, a file, a folder), not bugs.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::DefaultConfig => {
            print!("{}", schakel_gateway::config::DEFAULT_TOML);
            Ok(())
        }
        Command::Audit(AuditCommand::Verify { data }) => {
            let retention = Config::load(cli.config.as_deref())?.audit.retention_days;
            let verdict = tokio::runtime::Runtime::new()?
                .block_on(verify::verify_data_dir(&data, retention))?;
            if verdict.ok() {
                println!(
                    "audit log intact: {} entries, {} signed checkpoints, {} entries after the last checkpoint",
                    verdict.entries_checked, verdict.checkpoints_checked, verdict.unsigned_tail
                );
                Ok(())
            } else {
                println!(
                    "audit log BROKEN at entry {}: {}",
                    verdict.first_broken.unwrap_or_default(),
                    verdict.problem
                );
                std::process::exit(1);
            }
        }
        Command::Migrate { from, to } => {
            if (from, to) != (Engine::Sled, Engine::Postgres) {
                anyhow::bail!(
                    "only --from sled --to postgres is supported: a store in PostgreSQL is backed up and moved with PostgreSQL's own tools"
                );
            }
            let config = Config::load(cli.config.as_deref())?;
            let migrated = tokio::runtime::Runtime::new()?.block_on(migrate::sled_to_postgres(
                &config.storage,
                config.audit.retention_days,
                |line| eprintln!("{line}"),
            ))?;
            println!(
                "copied the store of {} into {}: {}",
                config.storage.data_dir.display(),
                migrated.database,
                migrated.tally
            );
            println!(
                "audit log intact in the database: {} entries, {} signed checkpoints, {} entries after the last checkpoint",
                migrated.verdict.entries_checked,
                migrated.verdict.checkpoints_checked,
                migrated.verdict.unsigned_tail
            );
            println!(
                "next: set storage.engine = \"postgres\" and start the gateway on this data folder (it keeps the keys); give every other instance copies of its key files (docs/OPERATIONS.md, \"Several gateways over PostgreSQL\"). The sled store stays in {} (in this release's format): keep it until the gateways run well over the database",
                config
                    .storage
                    .data_dir
                    .join(schakel_gateway::store::engine::STORE_DIR)
                    .display()
            );
            Ok(())
        }
        Command::Keys(KeysCommand::List { data }) => {
            let keys = GatewayKeys::load(&data)
                .with_context(|| format!("{} holds no gateway signing key", data.display()))?;
            println!("{}  signing", keys.key_id());
            for retired in keys.retired() {
                println!("{}  retired", key_id(retired));
            }
            Ok(())
        }
        Command::Keys(KeysCommand::Rotate { data }) => {
            let rotation = rotate(&data)
                .with_context(|| format!("cannot rotate the signing key in {}", data.display()))?;
            println!(
                "retired key {} (public half kept in {}); new signing key {}",
                rotation.retired,
                rotation.retired_file.display(),
                rotation.signing
            );
            println!(
                "restart the gateway to sign with the new key; until then it signs with {}, which stays published",
                rotation.retired
            );
            Ok(())
        }
        Command::Pki(PkiCommand::Example { out }) => {
            let (_ca, orgs) = pki::generate_example(&out)?;
            for o in orgs {
                println!(
                    "{}/{}\t{}\t{}",
                    out.display(),
                    o.dir,
                    o.participant.oin,
                    o.participant.name
                );
            }
            Ok(())
        }
        Command::Pki(PkiCommand::Issue {
            oin,
            name,
            kind,
            out,
        }) => {
            let config = Config::load(cli.config.as_deref())?;
            let oin = Oin::parse(&oin).map_err(|e| anyhow::anyhow!("--oin {oin:?}: {e}"))?;
            let kind = OrgKind::ALL
                .into_iter()
                .find(|k| k.as_str() == kind)
                .ok_or_else(|| {
                    anyhow::anyhow!("--kind {kind:?}: use {}", OrgKind::names(&OrgKind::ALL))
                })?;
            let ca = dev_ca::open_for(&config.tls.client_ca)?;
            let out = out.unwrap_or_else(|| {
                let ca_dir = config.tls.client_ca.parent().unwrap_or(Path::new("."));
                ca_dir.parent().unwrap_or(Path::new(".")).join(oin.as_str())
            });
            dev_ca::issue(&ca, &oin, &name, &out)?;
            println!(
                "issued {} ({name}) an identity in {}, valid {} days, from the development CA",
                oin,
                out.display(),
                dev_ca::VALID_DAYS
            );
            println!("add it to the directory as the operator, unless it is there already:");
            println!(
                "  schakel -i {} admin add --oin {oin} --name {name:?} --kind {}",
                config
                    .tls
                    .client_ca
                    .parent()
                    .and_then(Path::parent)
                    .unwrap_or(Path::new("."))
                    .join("operator")
                    .display(),
                kind.as_str()
            );
            println!("then: schakel -i {} whoami", out.display());
            Ok(())
        }
        Command::Serve => {
            let mut config = Config::load(cli.config.as_deref())?;
            if cli.log_json {
                config.log.format = LogFormat::Json;
            }
            logging::init(&config.log);
            tracing::info!(
                config = cli
                    .config
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "embedded defaults".into()),
                "starting schakel-gateway {}",
                env!("CARGO_PKG_VERSION")
            );
            // Before anything is bound or created (the configured files are
            // checked by the server, before it creates anything).
            if !config.server.listen.ip().is_loopback()
                && dev_ca::is_development(&config.tls.client_ca)
            {
                anyhow::bail!(
                    "tls.client_ca ({}) is a development CA, whose key is not secret (the example's is in git), and server.listen ({}) is not a loopback address: anyone could make a certificate this gateway would trust. Give it the CA bundle of your PKIoverheid provider, or listen on 127.0.0.1",
                    config.tls.client_ca.display(),
                    config.server.listen
                );
            }
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                // Install the handlers before anything is announced, so that a
                // signal that arrives early still stops the gateway gracefully.
                let shutdown = shutdown_signal()?;
                let listener = tokio::net::TcpListener::bind(config.server.listen)
                    .await
                    .with_context(|| format!("cannot listen on {}", config.server.listen))?;
                server::run(config, listener, shutdown).await
            })
        }
    }
}

/// Installs SIGTERM and SIGINT (Ctrl-C) handlers now; the returned future
/// completes when either arrives.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT (Ctrl-C) received"),
        }
    })
}
