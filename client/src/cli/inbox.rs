//! `schakel inbox pull|watch|ack|reject`: the recipient's side.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Subcommand;
use futures::StreamExt;
use schakel_client::Client;
use schakel_client::proto as pb;
use serde_json::json;

use super::Output;
use super::output::{basis_json, receipt_json, receipt_line, time_text};
use super::payload::body_json;
use super::words::word_of;

/// Inbox commands.
#[derive(Subcommand)]
pub enum InboxCommand {
    /// Lease waiting messages (acknowledge each with `inbox ack ID` once processed).
    Pull {
        /// How many at most.
        #[arg(long, default_value_t = 16)]
        max: u32,
        /// Seconds to wait when the inbox is empty.
        #[arg(long, default_value_t = 0)]
        wait: u64,
        /// Seconds the lease lasts (0: the gateway's default).
        #[arg(long, default_value_t = 0)]
        lease: u64,
        /// Save attachments into this folder.
        #[arg(long)]
        save: Option<PathBuf>,
    },
    /// Stream messages as they arrive, until interrupted.
    Watch {
        /// Acknowledge each message once it is printed (and saved).
        #[arg(long)]
        ack: bool,
        /// Save attachments into this folder.
        #[arg(long)]
        save: Option<PathBuf>,
    },
    /// Acknowledge messages: each is delivered, its sender gets a receipt.
    /// Several ids go in AckBatch calls.
    Ack {
        /// The message ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Refuse a message with a reason code.
    Reject {
        /// The message id.
        id: String,
        /// technical, not_assessed, wrong_recipient, duplicate or invalid_content.
        #[arg(long)]
        reason: String,
        /// A short note for the sender (no personal data).
        #[arg(long, default_value = "")]
        detail: String,
    },
}

fn save_attachments(
    dir: &Path,
    message_id: &str,
    attachments: &[pb::Attachment],
) -> anyhow::Result<Vec<String>> {
    let folder = dir.join(message_id);
    std::fs::create_dir_all(&folder)?;
    let mut saved = Vec::new();
    for a in attachments {
        // The gateway refuses names with a path; keep only the last part anyway.
        let name = Path::new(&a.name)
            .file_name()
            .map(|n| n.to_owned())
            .unwrap_or_else(|| "attachment".into());
        let path = folder.join(name);
        std::fs::write(&path, &a.content)?;
        saved.push(path.display().to_string());
    }
    Ok(saved)
}

fn print_delivery(out: &Output, d: &pb::Delivery, save: Option<&Path>) -> anyhow::Result<String> {
    let env = d.envelope.clone().unwrap_or_default();
    let payload = schakel_client::payload::decode(&env.payload).map_err(|e| {
        anyhow::anyhow!(
            "message {}: its payload is not a Payload message: {e}",
            env.message_id
        )
    })?;
    let (body_type, body) = payload
        .body
        .as_ref()
        .map(body_json)
        .unwrap_or(("unknown", json!(null)));
    // A signal's change is of kind signalering, its body a signal_change.
    let kind = word_of::<pb::MessageKind>(env.kind);
    let saved = match save {
        Some(dir) => save_attachments(dir, &env.message_id, &payload.attachments)?,
        None => vec![],
    };
    let attachments: Vec<_> = payload
        .attachments
        .iter()
        .map(|a| json!({"name": a.name, "media_type": a.media_type, "bytes": a.content.len(), "sha256": hex::encode(&a.sha256)}))
        .collect();
    let value = json!({
        "message_id": env.message_id,
        "kind": kind,
        "body_type": body_type,
        "sender_oin": env.sender_oin,
        "case_id": env.case_id,
        "case_reference": env.case_reference,
        "in_reply_to": env.in_reply_to,
        "recipient_oin": env.recipient_oin,
        "client_reference": env.client_reference,
        "legal_basis": basis_json(env.legal_basis.as_ref()),
        "consent": d.consent.as_ref().map(scope_json),
        "attempt": d.attempt,
        "lease_expires_at": time_text(d.lease_expires_at),
        "created_at": time_text(env.created_at),
        "expires_at": time_text(env.expires_at),
        "payload_digest": hex::encode(&env.payload_digest),
        "body": body,
        "attachments": attachments,
        "saved": saved,
    });
    out.record("delivery", value, || {
        let mut text = format!(
            "{body_type} {}  from {}  attempt {}  lease until {}",
            env.message_id,
            env.sender_oin,
            d.attempt,
            time_text(d.lease_expires_at)
        );
        if !env.in_reply_to.is_empty() {
            text.push_str(&format!("  in reply to {}", env.in_reply_to));
        }
        text.push_str(&format!(
            "\ncase {}  basis: {}",
            env.case_id,
            schakel_proto::audit::legal_basis_text_v2(env.legal_basis.as_ref())
        ));
        if let Some(c) = &d.consent {
            let v = scope_json(c);
            text.push_str(&format!(
                "\nunder consent {} ({}): purpose {} \"{}\", for {}, until {}; use the data for this purpose only",
                c.consent_id, v["status"].as_str().unwrap_or_default(), v["purpose_code"].as_str().unwrap_or_default(),
                c.purpose, v["message_kinds"], time_text(c.valid_until)
            ));
        }
        text.push_str(&format!(
            "\n{}",
            serde_json::to_string_pretty(&body).unwrap_or_default()
        ));
        for a in &payload.attachments {
            text.push_str(&format!(
                "\nattachment {} ({}, {} bytes)",
                a.name,
                a.media_type,
                a.content.len()
            ));
        }
        text
    });
    Ok(env.message_id)
}

/// The scope of the consent a message arrived under, as JSON.
fn scope_json(c: &pb::ConsentScope) -> serde_json::Value {
    json!({
        "consent_id": c.consent_id,
        "registered_by_oin": c.registered_by_oin,
        "purpose_code": word_of::<pb::ConsentPurpose>(c.purpose_code),
        "purpose": c.purpose,
        "message_kinds": c.message_kinds.iter().map(|k| word_of::<pb::MessageKind>(*k)).collect::<Vec<_>>(),
        "valid_from": time_text(c.valid_from),
        "valid_until": time_text(c.valid_until),
        "given_by": word_of::<pb::ConsentGiver>(c.given_by),
        "given_on": c.given_on,
        "status": word_of::<pb::ConsentStatus>(c.status),
    })
}

/// Acknowledges every id (one Ack call, or AckBatch calls for several,
/// as many per call as the gateway takes) and
/// prints each answer; fails, after trying all, if any was refused.
async fn ack_all(ids: &[String], client: &Client, out: &Output) -> anyhow::Result<()> {
    if let [id] = ids {
        print_ack(out, id, client.ack(id).await?);
        return Ok(());
    }
    let mut refused = 0;
    for (id, answer) in ids.iter().zip(client.ack_all(ids.to_vec()).await?) {
        match answer {
            Ok(response) => print_ack(out, id, response),
            Err(status) => {
                refused += 1;
                let code = super::output::code_word(status.code());
                out.record(
                    "refused",
                    json!({"message_id": id, "code": code, "error": status.message()}),
                    || format!("{id}: refused ({code}): {}", status.message()),
                );
            }
        }
    }
    if refused > 0 {
        anyhow::bail!(
            "{refused} of {} acknowledgements were refused (see above)",
            ids.len()
        );
    }
    Ok(())
}

fn print_ack(out: &Output, id: &str, response: pb::AckResponse) {
    let Some(receipt) = response.receipt else {
        // A notice of the gateway's: acknowledged, and no sender to tell.
        out.record(
            "ack",
            json!({"message_id": id, "outcome": "delivered", "receipt": null}),
            || format!("acknowledged {id} (a notice: no receipt)"),
        );
        return;
    };
    let withdrawn = response.outcome == pb::AckOutcome::Withdrawn as i32;
    let mut value = receipt_json(&receipt);
    value["outcome"] = if withdrawn { "withdrawn" } else { "delivered" }.into();
    value["notice"] = response.detail.clone().into();
    out.record("ack", value, || {
        if withdrawn {
            format!(
                "WITHDRAWN {}: {}; delete what you hold of this message",
                receipt.message_id, response.detail
            )
        } else {
            receipt_line(&receipt)
        }
    });
}

pub async fn run(command: InboxCommand, client: &Client, out: &Output) -> anyhow::Result<()> {
    match command {
        InboxCommand::Pull {
            max,
            wait,
            lease,
            save,
        } => {
            let got = client
                .pull(max, Duration::from_secs(wait), Duration::from_secs(lease))
                .await?;
            for d in &got {
                print_delivery(out, d, save.as_deref())?;
            }
            if got.is_empty() && !out.json {
                eprintln!(
                    "inbox empty (a message you pulled and did not acknowledge comes back when its lease ends)"
                );
            }
        }
        InboxCommand::Watch { ack, save } => {
            // What has arrived together is printed, then acknowledged in
            // one call.
            let mut stream = client.subscribe(64, Duration::ZERO).await?.ready_chunks(64);
            while let Some(events) = stream.next().await {
                let mut delivered = Vec::new();
                for event in events {
                    match event?.event {
                        Some(pb::inbox_event::Event::Delivery(d)) => {
                            delivered.push(print_delivery(out, &d, save.as_deref())?);
                        }
                        Some(pb::inbox_event::Event::Withdrawal(w)) => out.record(
                            "withdrawal",
                            json!({"message_id": w.message_id, "reason": w.reason, "time": time_text(w.time)}),
                            || format!("WITHDRAWN {}: {}; delete what you hold of this message", w.message_id, w.reason),
                        ),
                        None => {}
                    }
                }
                if ack && !delivered.is_empty() {
                    ack_all(&delivered, client, out).await?;
                }
            }
        }
        InboxCommand::Ack { ids } => ack_all(&ids, client, out).await?,
        InboxCommand::Reject { id, reason, detail } => {
            let code = super::words::parse::<pb::RejectReason>("--reason", &reason)?;
            let receipt = client
                .reject(&id, code, &detail)
                .await?
                .receipt
                .unwrap_or_default();
            out.record("receipt", receipt_json(&receipt), || receipt_line(&receipt));
        }
    }
    Ok(())
}
