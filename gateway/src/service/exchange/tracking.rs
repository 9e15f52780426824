//! The sender's view: one message with its receipts, and the stream of all
//! its receipts from a cursor, so that a sender system can catch up after
//! downtime.

use schakel_proto::v1 as pb;
use tokio::sync::mpsc;

use super::even_time::evened;
use super::{Exchange, QueueFigures};
use crate::model::{MessageId, MessageRecord, Oin};
use crate::service::ServiceError;

/// Receipts read from the store per round of a receipt stream.
const RECEIPT_PAGE: usize = 256;

impl Exchange {
    /// A message the caller sent, with its receipts. Another organisation's
    /// message is NOT_FOUND: the answer never reveals whether an id exists.
    /// Both NOT_FOUND answers take the same time ([`super::even_time`]).
    pub async fn status(
        &self,
        sender: &Oin,
        message_id: &MessageId,
    ) -> Result<(MessageRecord, Vec<pb::Receipt>), ServiceError> {
        let started = tokio::time::Instant::now();
        evened(started, self.status_now(sender, message_id).await).await
    }

    async fn status_now(
        &self,
        sender: &Oin,
        message_id: &MessageId,
    ) -> Result<(MessageRecord, Vec<pb::Receipt>), ServiceError> {
        let not_found =
            || ServiceError::NotFound(format!("message_id: you sent no message {message_id}"));
        let record = self
            .store
            .message(message_id)
            .await?
            .ok_or_else(not_found)?;
        if record.sender != *sender {
            return Err(not_found());
        }
        let receipts = self.store.message_receipts(message_id).await?;
        Ok((record, receipts))
    }

    /// The figures of every inbox and sender with undelivered messages,
    /// the bytes the store occupies on disk and its headroom above the
    /// free-space reserve: the operators' view of the queues.
    pub async fn queue_figures(&self) -> Result<QueueFigures, ServiceError> {
        Ok(QueueFigures {
            inboxes: self.store.inbox_figures().await?,
            senders: self.store.sender_figures().await?,
            store_bytes: self.store.size_on_disk()?,
            headroom_bytes: self.reserve.headroom(self.store.room().await?),
        })
    }

    /// Streams `sender`'s receipts after `cursor`, each with its cursor; with
    /// `follow`, goes on with new ones as they are made.
    pub fn receipts(
        self: &std::sync::Arc<Self>,
        sender: Oin,
        cursor: u64,
        follow: bool,
    ) -> mpsc::Receiver<Result<(u64, pb::Receipt), ServiceError>> {
        let (tx, rx) = mpsc::channel(64);
        let exchange = self.clone();
        tokio::spawn(async move {
            let mut cursor = cursor;
            loop {
                let page = match exchange
                    .store
                    .receipts_after(&sender, cursor, RECEIPT_PAGE)
                    .await
                {
                    Ok(page) => page,
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                };
                let full = page.len() == RECEIPT_PAGE;
                for (c, receipt) in page {
                    cursor = c;
                    if tx.send(Ok((c, receipt))).await.is_err() {
                        return;
                    }
                }
                if full {
                    continue;
                }
                if !follow {
                    return;
                }
                tokio::select! {
                    _ = exchange.notifier.receipts_changed() => {}
                    _ = tx.closed() => return,
                }
            }
        });
        rx
    }
}
