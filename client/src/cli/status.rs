//! `schakel status ID`, `schakel receipts` and `schakel case ID`: the
//! sender's side, and the caller's part of a case.

use futures::StreamExt;
use schakel_client::Client;
use serde_json::json;

use super::Output;
use super::output::{receipt_json, receipt_line, receipt_status_name, time_text};
use super::words::word_of;

pub async fn status(id: &str, client: &Client, out: &Output) -> anyhow::Result<()> {
    let s = client.status(id).await?;
    let receipts: Vec<_> = s.receipts.iter().map(receipt_json).collect();
    out.record(
        "message_status",
        json!({
            "message_id": s.message_id,
            "client_reference": s.client_reference,
            "recipient_oin": s.recipient_oin,
            "status": receipt_status_name(s.status),
            "attempts": s.attempts,
            "case_id": s.case_id,
            "overdue": s.overdue,
            "due_at": time_text(s.due_at),
            "receipts": receipts,
        }),
        || {
            let mut text = format!(
                "{} {}  to {}  (reference {}, delivery attempts: {})",
                receipt_status_name(s.status),
                s.message_id,
                s.recipient_oin,
                s.client_reference,
                s.attempts
            );
            text.push_str(&format!("\n  case {}", s.case_id));
            if s.overdue {
                text.push_str(&format!(
                    "\n  OVERDUE: not acknowledged by {}, 3 working days after it was sent",
                    time_text(s.due_at)
                ));
            }
            for r in &s.receipts {
                text.push_str(&format!("\n  {}", receipt_line(r)));
            }
            text.push_str("\n  every receipt verified");
            text
        },
    );
    Ok(())
}

/// A change of who takes part in a case, before it is shown.
#[derive(clap::Args, Default)]
pub struct PartyChange {
    /// Add this organisation (OIN) as a party: it sees the whole case.
    #[arg(long, requires = "consent", conflicts_with_all = ["remove_party", "leave"])]
    add_party: Option<String>,
    /// Record the coordinator (OIN) the parents agreed on; from then on it
    /// invites the parties.
    #[arg(long, requires = "consent", conflicts_with_all = ["add_party", "remove_party", "leave"])]
    coordinator: Option<String>,
    /// With --add-party or --coordinator: the consent you registered that
    /// names it (for a coordinator: one for care_coordination).
    #[arg(long)]
    consent: Option<String>,
    /// End the part of a party you added.
    #[arg(long, conflicts_with = "leave")]
    remove_party: Option<String>,
    /// Leave the case: your view of all of it ends.
    #[arg(long)]
    leave: bool,
}

pub async fn case(
    id: &str,
    change: PartyChange,
    client: &Client,
    out: &Output,
) -> anyhow::Result<()> {
    let case = match change {
        PartyChange {
            add_party: Some(party),
            consent: Some(consent),
            ..
        } => client.add_case_party(id, &party, &consent).await?,
        PartyChange {
            coordinator: Some(coordinator),
            consent: Some(consent),
            ..
        } => {
            client
                .set_case_coordinator(id, &coordinator, &consent)
                .await?
        }
        PartyChange {
            remove_party: Some(party),
            ..
        } => client.remove_case_party(id, Some(&party)).await?,
        PartyChange { leave: true, .. } => client.remove_case_party(id, None).await?,
        _ => client.list_case(id).await?,
    };
    if let Some(k) = &case.coordinator {
        out.record(
            "case_coordinator",
            json!({"case_id": case.case_id, "oin": k.oin, "set_by_oin": k.set_by_oin, "since": time_text(k.since)}),
            || format!("coordinator {}  since {} (recorded by {})", k.oin, time_text(k.since), k.set_by_oin),
        );
    }
    for p in &case.parties {
        out.record(
            "case_party",
            json!({
                "case_id": case.case_id,
                "oin": p.oin,
                "added_by_oin": p.added_by_oin,
                "joined_at": time_text(p.joined_at),
                "left_at": p.left_at.map(|t| time_text(Some(t))),
                "ended_by_oin": p.ended_by_oin,
                "ended_because": p.ended_because,
                "consent_id": p.legal_basis.as_ref().and_then(|b| match &b.basis {
                    Some(schakel_client::proto::legal_basis::Basis::ConsentId(c)) => Some(c.clone()),
                    _ => None,
                }),
            }),
            || {
                let ended = match p.left_at {
                    Some(t) if p.ended_by_oin.is_empty() => {
                        format!("  ended {}: {}", time_text(Some(t)), p.ended_because)
                    }
                    Some(t) => format!("  left {} ({})", time_text(Some(t)), p.ended_by_oin),
                    None => String::new(),
                };
                format!(
                    "party {}  added by {} on {}{ended}",
                    p.oin,
                    p.added_by_oin,
                    time_text(p.joined_at)
                )
            },
        );
    }
    for v in &case.plans {
        out.record(
            "case_plan",
            json!({"case_id": case.case_id, "version": v.version, "shared_by_oin": v.shared_by_oin, "shared_at": time_text(v.shared_at), "payload_sha256": v.payload_sha256}),
            || format!("plan version {}  shared by {} on {}", v.version, v.shared_by_oin, time_text(v.shared_at)),
        );
    }
    for m in &case.messages {
        let kind = word_of::<schakel_client::proto::MessageKind>(m.kind);
        let version = match m.plan_version {
            0 => String::new(),
            v => format!("  (plan version {v})"),
        };
        out.record(
            "case_message",
            json!({
                "case_id": case.case_id,
                "message_id": m.message_id,
                "kind": kind,
                "sender_oin": m.sender_oin,
                "recipient_oin": m.recipient_oin,
                "in_reply_to": m.in_reply_to,
                "created_at": time_text(m.created_at),
                "status": receipt_status_name(m.status),
                "plan_version": m.plan_version,
            }),
            || {
                format!(
                    "{}  {:<20} {} -> {}  {}{}{version}",
                    time_text(m.created_at),
                    kind,
                    m.sender_oin,
                    m.recipient_oin,
                    receipt_status_name(m.status),
                    if m.in_reply_to.is_empty() {
                        String::new()
                    } else {
                        format!("  (reply to {})", m.in_reply_to)
                    }
                )
            },
        );
    }
    Ok(())
}

pub async fn receipts(
    after: u64,
    follow: bool,
    client: &Client,
    out: &Output,
) -> anyhow::Result<()> {
    let mut stream = client.receipts(after, follow).await?;
    while let Some(event) = stream.next().await {
        let event = event?;
        let receipt = event.receipt.unwrap_or_default();
        let mut value = receipt_json(&receipt);
        value["cursor"] = event.cursor.into();
        out.record("receipt", value, || {
            format!("#{:<6} {}", event.cursor, receipt_line(&receipt))
        });
    }
    Ok(())
}
