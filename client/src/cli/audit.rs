//! `schakel audit query|verify|export|report|verify-report`: the operator's
//! view of the audit log, and the access report about a child;
//! `witness` and `consistency`, for every participant.

use std::io::{BufReader, IsTerminal, Write};
use std::path::PathBuf;

use clap::Subcommand;
use futures::StreamExt;
use schakel_client::audit_file;
use schakel_client::proto as pb;
use schakel_client::{Client, KeyRing};
use serde_json::json;

use super::Output;
use super::output::{basis_json, time_text};
use super::words::word_of;

/// Audit commands.
#[derive(Subcommand)]
pub enum AuditCommand {
    /// Find entries: every filter given must match.
    Query {
        /// From this moment: YYYY-MM-DD or RFC 3339.
        #[arg(long)]
        from: Option<String>,
        /// Before this moment: YYYY-MM-DD or RFC 3339.
        #[arg(long)]
        to: Option<String>,
        /// Entries where this OIN acted or was the other party.
        #[arg(long)]
        org: Option<String>,
        /// Entries about this message.
        #[arg(long)]
        message: Option<String>,
        /// Entries about this child (BSN; the gateway turns it into its reference).
        #[arg(long)]
        child: Option<String>,
        /// Only this action (repeatable), e.g. send_accepted, withdrawn, access_refused.
        #[arg(long = "action")]
        actions: Vec<String>,
        /// Only entries after this sequence number (paging).
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// At most this many entries.
        #[arg(long, default_value_t = 0)]
        limit: u32,
    },
    /// Verify the chain and checkpoints: by the gateway, or offline with --file and --key.
    Verify {
        /// An export file to verify offline, without the gateway.
        #[arg(long, requires = "key")]
        file: Option<PathBuf>,
        /// The gateway's public keys (hex, separated by commas; from
        /// `schakel directory gateway-key`): every key that signed part of it.
        #[arg(long, requires = "file", value_parser = KeyRing::parse_hex)]
        key: Option<KeyRing>,
        /// First sequence number (online).
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Last sequence number (online).
        #[arg(long, default_value_t = 0)]
        to: u64,
    },
    /// Everything the gateway knows about one child, for an access request
    /// (AVG art. 15), signed by the gateway: shown readably, kept with --out.
    /// An operator gets the whole trail, an organisation its own part.
    Report {
        /// The child's BSN.
        #[arg(long)]
        child: String,
        /// Why (e.g. the reference of the access request); recorded in the log.
        #[arg(long)]
        reason: String,
        /// Write the signed report (JSON) to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify a signed access report offline, without the gateway.
    VerifyReport {
        /// The report file written by `audit report --out`.
        #[arg(long)]
        file: PathBuf,
        /// The gateway's public keys (hex, separated by commas; from
        /// `schakel directory gateway-key`).
        #[arg(long, value_parser = KeyRing::parse_hex)]
        key: KeyRing,
    },
    /// Keep the newest signed head of the audit log and check that it
    /// extends the one kept before (any participant): an operator who
    /// rewrote or dropped entries cannot hide it from you. Run it regularly.
    Witness {
        /// Where the last head seen is kept (JSON); created on first use.
        #[arg(long, default_value = "schakel-witness.json")]
        state: PathBuf,
        /// Also check against a head another participant's witness kept
        /// (their state file): both must be of one log.
        #[arg(long)]
        compare: Option<PathBuf>,
    },
    /// Check that the log's tree of --to entries extends the tree of --from
    /// entries, by the gateway's consistency proof (any participant).
    Consistency {
        /// The size of the earlier tree (a size the gateway signed a head of).
        #[arg(long)]
        from: u64,
        /// The size of the later tree (0: the newest).
        #[arg(long, default_value_t = 0)]
        to: u64,
    },
    /// Write the log with its checkpoints as JSON lines to standard output.
    Export {
        /// First sequence number (0: the start).
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Last sequence number (0: the head).
        #[arg(long, default_value_t = 0)]
        to: u64,
    },
}

fn moment(field: &str, value: &str) -> anyhow::Result<prost_types::Timestamp> {
    use time::format_description::well_known::Rfc3339;
    let t = match time::OffsetDateTime::parse(value, &Rfc3339) {
        Ok(t) => t,
        Err(_) => {
            let d = time::Date::parse(
                value,
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .map_err(|_| anyhow::anyhow!("--{field} {value:?}: write YYYY-MM-DD or RFC 3339"))?;
            d.midnight().assume_utc()
        }
    };
    Ok(prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: t.nanosecond() as i32,
    })
}

fn action(name: &str) -> anyhow::Result<i32> {
    Ok(super::words::parse::<pb::AuditAction>("--action", name)? as i32)
}

/// An entry as `schakel audit query --json` prints it, in the command line's
/// words. (`audit export` writes the export format instead, which keeps what
/// verifying the chain needs.)
fn entry_json(e: &pb::AuditEntry) -> serde_json::Value {
    json!({
        "sequence": e.sequence,
        "time": time_text(e.time),
        "action": word_of::<pb::AuditAction>(e.action),
        "actor_oin": e.actor_oin,
        "counterpart_oin": e.counterpart_oin,
        "message_id": e.message_id,
        "kind": if e.kind == 0 { String::new() } else { word_of::<pb::MessageKind>(e.kind) },
        "case_id": e.case_id,
        "child_ref": e.child_ref,
        "legal_basis": basis_json(e.legal_basis.as_ref()),
        "detail": e.detail,
    })
}

fn entry_line(e: &pb::AuditEntry) -> String {
    let basis = schakel_proto::audit::legal_basis_text(e.legal_basis.as_ref());
    format!(
        "{:>7}  {}  {:<18} {:<20} {:<20} {:<36} {:<20} {:<8} {}{}",
        e.sequence,
        time_text(e.time),
        word_of::<pb::AuditAction>(e.action),
        e.actor_oin,
        e.counterpart_oin,
        e.message_id,
        schakel_proto::audit::kind_name(e.kind).to_ascii_lowercase(),
        if e.child_ref.is_empty() {
            ""
        } else {
            &e.child_ref[..8]
        },
        if basis.is_empty() {
            String::new()
        } else {
            format!("[{basis}] ")
        },
        e.detail
    )
}

fn print_verdict(
    out: &Output,
    ok: bool,
    entries: u64,
    checkpoints: u64,
    broken: u64,
    problem: &str,
    tail: u64,
) -> anyhow::Result<()> {
    out.record(
        "audit_verdict",
        json!({"ok": ok, "entries_checked": entries, "checkpoints_checked": checkpoints, "first_broken_sequence": if ok { None } else { Some(broken) }, "problem": problem, "entries_after_last_checkpoint": tail}),
        || {
            if ok {
                format!("audit log intact: {entries} entries, {checkpoints} signed checkpoints, {tail} entries after the last checkpoint")
            } else {
                format!("audit log BROKEN at entry {broken}: {problem}")
            }
        },
    );
    if ok {
        Ok(())
    } else {
        anyhow::bail!("the audit log does not verify (first broken entry: {broken})")
    }
}

/// Offline verification needs no gateway connection.
pub fn verify_offline(file: &std::path::Path, keys: &KeyRing, out: &Output) -> anyhow::Result<()> {
    let reader = BufReader::new(
        std::fs::File::open(file)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", file.display()))?,
    );
    let v = audit_file::verify(reader, keys)?;
    print_verdict(
        out,
        v.ok(),
        v.entries_checked,
        v.checkpoints_checked,
        v.first_broken.unwrap_or(0),
        &v.problem,
        v.unsigned_tail,
    )
}

pub async fn run(command: AuditCommand, client: &Client, out: &Output) -> anyhow::Result<()> {
    match command {
        AuditCommand::Query {
            from,
            to,
            org,
            message,
            child,
            actions,
            after,
            limit,
        } => {
            let request = pb::AuditQueryRequest {
                from: from.as_deref().map(|f| moment("from", f)).transpose()?,
                to: to.as_deref().map(|t| moment("to", t)).transpose()?,
                org_oin: org.unwrap_or_default(),
                message_id: message.unwrap_or_default(),
                child_bsn: child.unwrap_or_default(),
                actions: actions
                    .iter()
                    .map(|a| action(a))
                    .collect::<Result<_, _>>()?,
                after_sequence: after,
                limit,
            };
            let mut stream = client.audit_query(request).await?;
            if !out.json {
                println!(
                    "{:>7}  {:<24}  {:<18} {:<20} {:<20} {:<36} {:<20} {:<8} DETAIL",
                    "SEQ", "TIME", "ACTION", "ACTOR", "COUNTERPART", "MESSAGE", "KIND", "CHILD"
                );
            }
            while let Some(e) = stream.next().await {
                let e = e?;
                out.record("audit_entry", entry_json(&e), || entry_line(&e));
            }
        }
        AuditCommand::Report {
            child,
            reason,
            out: file,
        } => {
            super::report::report(client, out, &child, &reason, file.as_deref()).await?;
        }
        AuditCommand::Witness { state, compare } => {
            super::witness::witness(client, out, &state, compare.as_deref()).await?;
        }
        AuditCommand::Consistency { from, to } => {
            super::witness::consistency(client, out, from, to).await?;
        }
        AuditCommand::VerifyReport { file, key } => {
            super::report::verify_offline(&file, &key, out)?;
        }
        AuditCommand::Verify { from, to, .. } => {
            let v = client.audit_verify(from, to).await?;
            print_verdict(
                out,
                v.ok,
                v.entries_checked,
                v.checkpoints_checked,
                v.first_broken_sequence,
                &v.problem,
                v.entries_after_last_checkpoint,
            )?;
        }
        AuditCommand::Export { from, to } => {
            let mut stream = client.audit_export(from, to).await?;
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::new(stdout.lock());
            let mut bar: Option<indicatif::ProgressBar> = None;
            let mut written = 0u64;
            while let Some(record) = stream.next().await {
                let record = record?;
                if let Some(pb::audit_export_record::Record::Range(r)) = &record.record
                    && std::io::stderr().is_terminal()
                {
                    let b = indicatif::ProgressBar::new(
                        r.to_sequence.saturating_sub(r.from_sequence) + 1,
                    );
                    b.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{bar:40} {pos}/{len} entries  {per_sec}  eta {eta}",
                        )
                        .expect("valid template"),
                    );
                    bar = Some(b);
                }
                if matches!(
                    record.record,
                    Some(pb::audit_export_record::Record::Entry(_))
                ) {
                    written += 1;
                    if let Some(b) = &bar {
                        b.inc(1);
                    }
                }
                writeln!(w, "{}", audit_file::to_json(&record))?;
            }
            w.flush()?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            eprintln!("exported {written} audit entries");
        }
    }
    Ok(())
}
