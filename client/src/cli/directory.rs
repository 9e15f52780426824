//! `schakel whoami` and `schakel directory ...`.

use clap::{Args, Subcommand};
use schakel_client::Client;
use schakel_client::proto::{self as pb, lookup_request::Query};
use serde_json::json;

use super::Output;
use super::output::{participant_json, participant_line, time_text};

/// Directory commands.
#[derive(Subcommand)]
pub enum DirectoryCommand {
    /// Find participants by one identifier or by kind.
    Lookup(LookupArgs),
    /// Show the gateway's public signing key (for verifying receipts and audit exports).
    GatewayKey,
}

/// Exactly one criterion.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct LookupArgs {
    /// By OIN (20 digits).
    #[arg(long)]
    oin: Option<String>,
    /// By BRIN.
    #[arg(long)]
    brin: Option<String>,
    /// By AGB code.
    #[arg(long)]
    agb: Option<String>,
    /// By gemeentecode, e.g. GM0546.
    #[arg(long)]
    gemeentecode: Option<String>,
    /// By SWV number, e.g. "PO 2801".
    #[arg(long)]
    swv: Option<String>,
    /// All of one kind: school, swv, jgt, gemeente, veilig_thuis, verwijsindex or operator.
    #[arg(long)]
    kind: Option<String>,
}

/// Parses an organisation kind name.
pub fn parse_kind(name: &str) -> anyhow::Result<pb::OrganisationKind> {
    super::words::parse::<pb::OrganisationKind>("kind", name)
}

pub async fn whoami(client: &Client, out: &Output) -> anyhow::Result<()> {
    let me = client.whoami().await?;
    let p = me.participant.unwrap_or_default();
    let mut value = participant_json(&p);
    value["certificate_sha256"] = json!(me.certificate_sha256);
    value["certificate_not_after"] = json!(time_text(me.certificate_not_after));
    out.record("identity", value, || {
        format!(
            "{}\n{}\ncertificate SHA-256 {}",
            p.name,
            participant_line(&p),
            me.certificate_sha256
        )
    });
    Ok(())
}

pub async fn run(command: DirectoryCommand, client: &Client, out: &Output) -> anyhow::Result<()> {
    match command {
        DirectoryCommand::Lookup(a) => {
            let (query, asked) = if let Some(v) = a.oin {
                (Query::Oin(v.clone()), format!("OIN {v}"))
            } else if let Some(v) = a.brin {
                (Query::Brin(v.clone()), format!("BRIN {v}"))
            } else if let Some(v) = a.agb {
                (Query::Agb(v.clone()), format!("AGB code {v}"))
            } else if let Some(v) = a.gemeentecode {
                (Query::Gemeentecode(v.clone()), format!("gemeentecode {v}"))
            } else if let Some(v) = a.swv {
                (Query::SwvNumber(v.clone()), format!("SWV number {v}"))
            } else {
                let kind = a.kind.as_deref().unwrap_or_default();
                (
                    Query::Kind(parse_kind(kind)? as i32),
                    format!("kind {kind}"),
                )
            };
            let found = client.lookup(query).await?;
            if found.is_empty() {
                anyhow::bail!(
                    "no participant with {asked} in the gateway's directory; `schakel directory lookup --kind KIND` lists those of one kind"
                );
            }
            for p in found {
                out.record("participant", participant_json(&p), || participant_line(&p));
            }
            Ok(())
        }
        DirectoryCommand::GatewayKey => {
            let answer = client.gateway_key().await?;
            let keys = match answer.keys.is_empty() {
                // A gateway from before keys could rotate lists only its one key.
                true => vec![pb::GatewayPublicKey {
                    ed25519_public_key: answer.ed25519_public_key,
                    key_id: answer.key_id,
                    active: true,
                }],
                false => answer.keys,
            };
            for key in keys {
                let hex_key = hex::encode(&key.ed25519_public_key);
                let state = if key.active { "signing" } else { "retired" };
                out.record(
                    "gateway_key",
                    json!({"ed25519_public_key": hex_key, "key_id": key.key_id, "active": key.active}),
                    || format!("{hex_key}  (key id {}, {state})", key.key_id),
                );
            }
            Ok(())
        }
    }
}
