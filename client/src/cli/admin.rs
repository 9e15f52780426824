//! `schakel admin ...`: manage participants (operators only).

use clap::{Args, Subcommand};
use schakel_client::Client;
use schakel_client::proto as pb;
use serde_json::json;

use super::Output;
use super::directory::parse_kind;
use super::output::{participant_json, participant_line};

/// Admin commands.
#[derive(Subcommand)]
pub enum AdminCommand {
    /// List every participant.
    List,
    /// Add a participant.
    Add(ParticipantArgs),
    /// Replace a participant's name, kind, sector, codes and pins.
    Update(ParticipantArgs),
    /// Suspend a participant: refused from its next call on.
    Suspend {
        /// The participant's OIN.
        oin: String,
        /// Why (required, shown to operators).
        #[arg(long)]
        reason: String,
    },
    /// Lift a suspension.
    Reinstate {
        /// The participant's OIN.
        oin: String,
    },
    /// Queue figures per recipient and the store's size.
    Queues,
}

/// A participant's fields.
#[derive(Args)]
pub struct ParticipantArgs {
    /// The OIN (20 digits).
    #[arg(long)]
    oin: String,
    /// The legal name.
    #[arg(long)]
    name: String,
    /// school, swv, jgt, gemeente, veilig_thuis, verwijsindex or operator.
    #[arg(long)]
    kind: String,
    /// A school's sector: po, sbo, so, vso or vo (the onderwijskundig rapport
    /// is for po, sbo, so and vso).
    #[arg(long)]
    sector: Option<String>,
    /// BRIN (schools).
    #[arg(long, default_value = "")]
    brin: String,
    /// Vestiging code (schools).
    #[arg(long, default_value = "")]
    vestiging: String,
    /// AGB code.
    #[arg(long, default_value = "")]
    agb: String,
    /// Gemeentecode, e.g. GM0546 (gemeenten).
    #[arg(long, default_value = "")]
    gemeentecode: String,
    /// SWV number, e.g. "PO 2801" (samenwerkingsverbanden).
    #[arg(long, default_value = "")]
    swv: String,
    /// Accept only certificates with this SHA-256 fingerprint (repeatable).
    #[arg(long = "pin")]
    pins: Vec<String>,
}

impl ParticipantArgs {
    fn sector(&self) -> anyhow::Result<i32> {
        let Some(name) = &self.sector else {
            return Ok(0);
        };
        Ok(super::words::parse::<pb::SchoolSector>("--sector", name)? as i32)
    }

    fn codes(&self) -> pb::OrganisationCodes {
        pb::OrganisationCodes {
            brin: self.brin.clone(),
            vestiging: self.vestiging.clone(),
            agb: self.agb.clone(),
            gemeentecode: self.gemeentecode.clone(),
            swv_number: self.swv.clone(),
        }
    }
}

fn print(out: &Output, p: &pb::Participant) {
    out.record("participant", participant_json(p), || participant_line(p));
}

pub async fn run(command: AdminCommand, client: &Client, out: &Output) -> anyhow::Result<()> {
    match command {
        AdminCommand::List => {
            for p in client.list_participants().await? {
                print(out, &p);
            }
        }
        AdminCommand::Add(a) => {
            let request = pb::AddParticipantRequest {
                kind: parse_kind(&a.kind)? as i32,
                sector: a.sector()?,
                codes: Some(a.codes()),
                oin: a.oin,
                name: a.name,
                pinned_cert_sha256: a.pins,
            };
            print(out, &client.add_participant(request).await?);
        }
        AdminCommand::Update(a) => {
            let request = pb::UpdateParticipantRequest {
                kind: parse_kind(&a.kind)? as i32,
                sector: a.sector()?,
                codes: Some(a.codes()),
                oin: a.oin,
                name: a.name,
                pinned_cert_sha256: a.pins,
            };
            print(out, &client.update_participant(request).await?);
        }
        AdminCommand::Suspend { oin, reason } => {
            print(out, &client.suspend_participant(&oin, &reason).await?)
        }
        AdminCommand::Reinstate { oin } => print(out, &client.reinstate_participant(&oin).await?),
        AdminCommand::Queues => {
            let stats = client.queue_stats().await?;
            for i in &stats.inboxes {
                out.record(
                    "inbox_stats",
                    json!({"recipient_oin": i.recipient_oin, "ready": i.ready, "leased": i.leased, "oldest_age_seconds": i.oldest_age_seconds, "held_bytes": i.held_bytes}),
                    || format!("{}  ready {}  leased {}  oldest {} s  held {} bytes", i.recipient_oin, i.ready, i.leased, i.oldest_age_seconds, i.held_bytes),
                );
            }
            for s in &stats.senders {
                out.record(
                    "sender_stats",
                    json!({"sender_oin": s.sender_oin, "held_bytes": s.held_bytes}),
                    || {
                        format!(
                            "{}  sent, held undelivered: {} bytes",
                            s.sender_oin, s.held_bytes
                        )
                    },
                );
            }
            let headroom = stats
                .headroom_bytes
                .map_or_else(|| "no bound".to_owned(), |b| format!("{b} bytes"));
            out.record(
                "store_stats",
                json!({"store_bytes_on_disk": stats.store_bytes_on_disk, "headroom_bytes": stats.headroom_bytes}),
                || format!("store on disk: {} bytes  headroom above the reserve: {headroom}", stats.store_bytes_on_disk),
            );
        }
    }
    Ok(())
}
