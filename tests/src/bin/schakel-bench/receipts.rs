//! The receipts a timed run was given, verified after the run.
//!
//! The load generator shares the machine's two cores with the gateway. An
//! Ed25519 verification costs it about 34 µs, more than the bare mTLS echo
//! spends on a whole message, so verifying each receipt as it arrives (as
//! the client library's `send` and `ack` do) measured the load generator as
//! much as the gateway, and neither the echo nor NATS carries that cost.
//! The scenarios therefore call the Exchange service directly, keep every
//! receipt, and verify them all once the clock has stopped: a receipt that
//! does not verify still fails the run.

use std::sync::{Arc, Mutex};

use schakel_client::proto as pb;
use schakel_client::{Client, KeyRing, verify_receipt};

/// Receipts kept during a run, shared by its tasks.
#[derive(Clone, Default)]
pub struct Kept(Arc<Mutex<Vec<pb::Receipt>>>);

impl Kept {
    /// Keeps the receipt of message `id`; an answer without one, or with
    /// another message's, fails the run.
    pub fn keep(&self, receipt: Option<pb::Receipt>, id: &str) -> anyhow::Result<()> {
        let receipt = receipt
            .ok_or_else(|| anyhow::anyhow!("message {id} was answered without a receipt"))?;
        anyhow::ensure!(
            receipt.message_id == id,
            "message {id} was answered with a receipt for {}",
            receipt.message_id
        );
        self.0.lock().expect("receipts lock").push(receipt);
        Ok(())
    }

    /// Verifies every kept receipt with the gateway's keys (fetched through
    /// `client`), on every core, and forgets them; returns how many.
    pub async fn verify_all(&self, client: &Client) -> anyhow::Result<u64> {
        let receipts = std::mem::take(&mut *self.0.lock().expect("receipts lock"));
        let keys = KeyRing::from_response(&client.gateway_key().await?);
        tokio::task::spawn_blocking(move || verify_each(&keys, &receipts)).await?
    }
}

fn verify_each(keys: &KeyRing, receipts: &[pb::Receipt]) -> anyhow::Result<u64> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = receipts.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let checks: Vec<_> = receipts
            .chunks(per_thread)
            .map(|chunk| s.spawn(move || chunk.iter().try_for_each(|r| verify_receipt(keys, r))))
            .collect();
        for check in checks {
            check
                .join()
                .map_err(|_| anyhow::anyhow!("a receipt check panicked"))??;
        }
        Ok(receipts.len() as u64)
    })
}

/// Sends `request` and keeps its receipt.
pub async fn send(
    client: &Client,
    request: pb::SendRequest,
    kept: &Kept,
) -> anyhow::Result<pb::SendResponse> {
    let mut sent = client.exchange().send(request).await?.into_inner();
    kept.keep(sent.receipt.take(), &sent.message_id)?;
    Ok(sent)
}

/// Sends `requests` as one SendBatch; every item must be accepted. Returns
/// the accepted message ids in order and keeps their receipts.
pub async fn send_batch(
    client: &Client,
    requests: Vec<pb::SendRequest>,
    kept: &Kept,
) -> anyhow::Result<Vec<String>> {
    let asked = requests.len();
    let request = pb::SendBatchRequest { messages: requests };
    let results = client
        .exchange()
        .send_batch(request)
        .await?
        .into_inner()
        .results;
    anyhow::ensure!(
        results.len() == asked,
        "{asked} items asked, {} answered",
        results.len()
    );
    results
        .into_iter()
        .map(|r| match r.outcome {
            Some(pb::send_result::Outcome::Sent(sent)) => {
                kept.keep(sent.receipt, &sent.message_id)?;
                Ok(sent.message_id)
            }
            Some(pb::send_result::Outcome::Error(e)) => {
                anyhow::bail!("an item was refused: {}", e.message)
            }
            None => anyhow::bail!("an item was answered with neither a receipt nor an error"),
        })
        .collect()
}

/// Acknowledges message `id` and keeps its receipt.
pub async fn ack(receiver: &Client, id: String, kept: &Kept) -> anyhow::Result<()> {
    let acked = receiver
        .exchange()
        .ack(pb::AckRequest {
            message_id: id.clone(),
        })
        .await?
        .into_inner();
    kept.keep(acked.receipt, &id)
}

/// Acknowledges `ids` as one AckBatch; every item must be acknowledged.
pub async fn ack_batch(receiver: &Client, ids: &[String], kept: &Kept) -> anyhow::Result<()> {
    let request = pb::AckBatchRequest {
        message_ids: ids.to_vec(),
    };
    let results = receiver
        .exchange()
        .ack_batch(request)
        .await?
        .into_inner()
        .results;
    anyhow::ensure!(
        results.len() == ids.len(),
        "{} acks asked, {} answered",
        ids.len(),
        results.len()
    );
    for (r, id) in results.into_iter().zip(ids) {
        match r.outcome {
            Some(pb::ack_result::Outcome::Acked(acked)) => kept.keep(acked.receipt, id)?,
            Some(pb::ack_result::Outcome::Error(e)) => {
                anyhow::bail!("an ack was refused: {}", e.message)
            }
            None => anyhow::bail!("an ack was answered with neither a receipt nor an error"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ring::signature::{Ed25519KeyPair, KeyPair};

    use super::*;

    #[test]
    fn a_receipt_that_does_not_verify_fails_the_run() {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let public = key.public_key().as_ref();
        let signed = |message_id: &str| {
            let mut r = pb::Receipt {
                message_id: message_id.into(),
                key_id: schakel_client::key_id(public),
                ..Default::default()
            };
            let bytes = schakel_proto::receipt::signing_bytes(&r);
            r.signature = key.sign(&bytes).as_ref().to_vec();
            r
        };
        let keys = KeyRing::single(public);
        let mut receipts: Vec<_> = (0..5).map(|i| signed(&format!("m{i}"))).collect();
        assert_eq!(verify_each(&keys, &receipts).unwrap(), 5);
        receipts[3].message_id = "altered".into();
        let e = verify_each(&keys, &receipts).unwrap_err().to_string();
        assert!(
            e.contains("altered") && e.contains("does not verify"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_receipt_or_another_messages_fails_the_run() {
        let kept = Kept::default();
        let e = kept.keep(None, "m1").unwrap_err().to_string();
        assert!(e.contains("m1") && e.contains("without a receipt"), "{e}");
        let other = pb::Receipt {
            message_id: "m2".into(),
            ..Default::default()
        };
        let e = kept.keep(Some(other), "m1").unwrap_err().to_string();
        assert!(e.contains("receipt for m2"), "{e}");
        assert!(kept.0.lock().unwrap().is_empty());
    }
}
