//! `schakel status ID` and `schakel receipts`: the sender's side.

use futures::StreamExt;
use schakel_client::Client;
use serde_json::json;

use super::Output;
use super::output::{receipt_json, receipt_line, receipt_status_name};

pub async fn status(id: &str, client: &Client, out: &Output) -> anyhow::Result<()> {
    let s = client.status(id).await?;
    let receipts: Vec<_> = s.receipts.iter().map(receipt_json).collect();
    out.record(
        json!({
            "message_id": s.message_id,
            "client_reference": s.client_reference,
            "recipient_oin": s.recipient_oin,
            "status": receipt_status_name(s.status),
            "attempts": s.attempts,
            "receipts": receipts,
        }),
        || {
            let mut text = format!(
                "{} {}  to {}  (reference {}, {} delivery attempts)",
                receipt_status_name(s.status),
                s.message_id,
                s.recipient_oin,
                s.client_reference,
                s.attempts
            );
            for r in &s.receipts {
                text.push_str(&format!("\n  {}", receipt_line(r)));
            }
            text.push_str("\n  every receipt signature verified");
            text
        },
    );
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
        out.record(value, || {
            format!("#{:<6} {}", event.cursor, receipt_line(&receipt))
        });
    }
    Ok(())
}
