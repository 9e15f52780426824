//! Command-line parsing and dispatch; one file per command group.

mod admin;
mod audit;
mod consent;
mod demo;
mod demo_case;
mod directory;
mod explain;
mod inbox;
mod output;
mod payload;
mod report;
mod send;
mod send_case;
mod send_file;
mod signal;
mod status;
mod witness;
mod words;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use schakel_client::{Client, DEFAULT_GATEWAY, Identity};

pub use output::Output;

/// Talk to a Schakel gateway as one participant.
#[derive(Parser)]
#[command(name = "schakel", version, about)]
struct Cli {
    /// The gateway's address.
    #[arg(long, global = true, env = "SCHAKEL_GATEWAY", default_value = DEFAULT_GATEWAY)]
    gateway: String,
    /// Identity folder with cert.pem, key.pem and ca.pem, e.g. certs-example/school-po.
    #[arg(long, short, global = true, env = "SCHAKEL_IDENTITY")]
    identity: Option<PathBuf>,
    /// Print one JSON object per line instead of readable text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
    /// Whether --gateway (or SCHAKEL_GATEWAY) was given.
    #[arg(skip)]
    gateway_given: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Show who the gateway takes you to be.
    Whoami,
    /// Find participants and the gateway's key.
    #[command(subcommand)]
    Directory(directory::DirectoryCommand),
    /// Send a message (or every message of a JSON Lines file with --from-file).
    Send(Box<send::SendArgs>),
    /// Withdraw or extend a signal you sent to the Verwijsindex, say the
    /// family was informed, or (as the Verwijsindex) tell signallers of a match.
    #[command(subcommand)]
    Signal(signal::SignalCommand),
    /// Your inbox: pull, watch, acknowledge, reject.
    #[command(subcommand)]
    Inbox(inbox::InboxCommand),
    /// One message you sent, with its verified receipts.
    Status {
        /// The message id.
        id: String,
    },
    /// The messages of a case that you sent or received (all of them while
    /// you are a party), and its parties; or change who takes part.
    Case {
        /// The case id, as the gateway gave it (in `send` and `status`).
        id: String,
        #[command(flatten)]
        change: status::PartyChange,
    },
    /// Your receipts, from a cursor (to catch up after downtime).
    Receipts {
        /// Only receipts after this cursor.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Keep waiting for new receipts.
        #[arg(long)]
        follow: bool,
    },
    /// Register, revoke and list consents.
    #[command(subcommand)]
    Consent(consent::ConsentCommand),
    /// Inspect, verify and export the audit log (operators; offline verify for anyone).
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Manage participants (operators only).
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Play one case end to end with the example organisations, narrated:
    /// consent, a signal, a consultation and its answer, the meeting with its
    /// coordinator and consent, the family plan shared and responded to, a
    /// TLV decided, a transfer dossier, a withdrawal, and the operator's audit
    /// trail.
    Demo {
        /// Start a gateway of its own (schakel-gateway, beside this binary)
        /// on the example PKI and a temporary data folder.
        #[arg(long)]
        spawn: bool,
        /// The folder with the example identities and PKI.
        #[arg(long, default_value = "certs-example")]
        pki: PathBuf,
    },
}

pub fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // Whether the address was given (on the command line or in
    // SCHAKEL_GATEWAY) rather than defaulted: `demo --spawn` refuses one.
    cli.gateway_given = matches
        .value_source("gateway")
        .is_some_and(|s| s != clap::parser::ValueSource::DefaultValue);
    let out = Output { json: cli.json };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (gateway, identity) = (cli.gateway.clone(), cli.identity.clone());
    match runtime.block_on(run(cli, &out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let cx = explain::Context {
                gateway: &gateway,
                identity: identity.as_deref(),
            };
            out.error(&e, &explain::describe(&e, &cx));
            ExitCode::FAILURE
        }
    }
}

async fn connect(cli: &Cli) -> anyhow::Result<Client> {
    let dir = cli
        .identity
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("--identity DIR is required (or set SCHAKEL_IDENTITY)"))?;
    let identity = Identity::from_dir(dir)?;
    Ok(Client::connect(&cli.gateway, &identity).await?)
}

async fn run(cli: Cli, out: &Output) -> anyhow::Result<()> {
    // Offline verification of an export needs no gateway and no identity.
    if let Command::Audit(audit::AuditCommand::Verify {
        file: Some(file),
        key: Some(key),
        ..
    }) = &cli.command
    {
        return audit::verify_offline(file, key, out);
    }
    if let Command::Audit(audit::AuditCommand::VerifyReport { file, key }) = &cli.command {
        return report::verify_offline(file, key, out);
    }
    if let Command::Demo { spawn, pki } = &cli.command {
        if *spawn && cli.gateway_given {
            anyhow::bail!(
                "demo --spawn starts a gateway of its own; leave out --gateway (and SCHAKEL_GATEWAY), or drop --spawn to play the demo against the gateway at {}",
                cli.gateway
            );
        }
        if *spawn {
            let gateway = demo::Spawned::start(pki)?;
            return demo::play(&gateway.url, pki).await;
        }
        return demo::play(&cli.gateway, pki).await;
    }
    if let Command::Send(args) = &cli.command {
        args.check()?;
    }
    let client = connect(&cli).await?;
    match cli.command {
        Command::Whoami => directory::whoami(&client, out).await,
        Command::Directory(c) => directory::run(c, &client, out).await,
        Command::Send(c) => send::run(*c, &client, out).await,
        Command::Signal(c) => signal::run(c, &client, out).await,
        Command::Inbox(c) => inbox::run(c, &client, out).await,
        Command::Status { id } => status::status(&id, &client, out).await,
        Command::Receipts { after, follow } => status::receipts(after, follow, &client, out).await,
        Command::Case { id, change } => status::case(&id, change, &client, out).await,
        Command::Consent(c) => consent::run(c, &client, out).await,
        Command::Audit(c) => audit::run(c, &client, out).await,
        Command::Admin(c) => admin::run(c, &client, out).await,
        Command::Demo { .. } => unreachable!("played above"),
    }
}
