//! Delivery to the recipient: Pull (lease, waiting for the first message),
//! Subscribe (a stream that leases as messages arrive, within a number in
//! flight), and the end of a lease: Ack or Reject.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Delivery, Ended, Exchange, Held, InboxEvent};
use crate::metrics::METRICS;
use crate::model::{ConsentId, ConsentRecord, MessageId, Oin, Outcome, RejectReason, State};
use crate::policy::requests;
use crate::service::ServiceError;
use crate::service::notify::POLL_INTERVAL;
use crate::store::{Finished, Leased, Take};

/// Events an inbox stream's channel holds for a subscriber that has not
/// taken them yet.
pub const STREAM_BUFFER: usize = 4;

/// The most payload bytes one round of an inbox stream leases (at least
/// one message whatever its size).
pub const STREAM_ROUND_BYTES: u64 = 1 << 20;

impl Exchange {
    /// The lease length for a requested one (zero: the default).
    pub fn lease_ms(&self, requested: Duration) -> Result<i64, ServiceError> {
        Ok(requests::lease_ms(
            requested,
            self.config.default_lease_secs,
            self.config.max_lease_secs,
        )?)
    }

    /// Decrypts a leased message; `consent` is the consent it travels
    /// under, if any.
    fn open(
        &self,
        leased: Leased,
        consent: Option<ConsentRecord>,
    ) -> Result<Delivery, ServiceError> {
        let id = leased.record.id.as_str();
        let payload = self.keys.payload.open(id, &leased.sealed_payload)?;
        Ok(Delivery {
            record: leased.record,
            payload,
            consent,
            held: None,
        })
    }

    /// Leases up to `max` messages of `recipient`'s inbox now, no more
    /// than `bytes` of them (and at least one).
    async fn lease_now(
        &self,
        recipient: &Oin,
        max: usize,
        bytes: u64,
        lease_ms: i64,
    ) -> Result<Vec<Delivery>, ServiceError> {
        let take = Take {
            messages: max,
            bytes,
        };
        let leased = self
            .store
            .lease(recipient, take, self.clock.now_ms(), lease_ms)
            .await?;
        // The consents the leased messages travel under, read once each.
        let mut consents: HashMap<ConsentId, Option<ConsentRecord>> = HashMap::new();
        for l in &leased {
            if let Some(id) = l.record.consent_id()
                && !consents.contains_key(id)
            {
                consents.insert(id.clone(), self.store.consent(id).await?);
            }
        }
        leased
            .into_iter()
            .map(|l| {
                let consent = l
                    .record
                    .consent_id()
                    .and_then(|id| consents.get(id).cloned().flatten());
                self.open(l, consent)
            })
            .collect()
    }

    /// Leases up to `max` messages of `recipient`'s inbox, waiting up to
    /// `wait` for the first one when the inbox is empty.
    pub async fn pull(
        &self,
        recipient: &Oin,
        max: usize,
        wait: Duration,
        lease_ms: i64,
    ) -> Result<Vec<Delivery>, ServiceError> {
        let deadline = tokio::time::Instant::now() + wait;
        let notify = self.notifier.inbox(recipient);
        loop {
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // An answer holds what fits its frame.
            let frame = self.limits.frame_limit_bytes();
            let got = self.lease_now(recipient, max, frame, lease_ms).await?;
            let now = tokio::time::Instant::now();
            if !got.is_empty() || now >= deadline {
                return Ok(got);
            }
            let _ = tokio::time::timeout((deadline - now).min(POLL_INTERVAL), notified).await;
        }
    }

    /// Streams `recipient`'s inbox: leases messages as they arrive while
    /// fewer than `max_in_flight` are held unfinished, and passes on notices
    /// of withdrawn messages it holds. Ends when the receiver is dropped.
    ///
    /// What a slow subscriber costs is bounded, not its inbox: each round
    /// leases at most [`STREAM_ROUND_BYTES`] (or one message, if larger),
    /// the next round only once the subscriber has taken the round before
    /// (the channel holds [`STREAM_BUFFER`] events), so a stalled stream
    /// holds about two rounds and what its HTTP/2 window lets through.
    pub fn subscribe(
        self: &std::sync::Arc<Self>,
        recipient: Oin,
        max_in_flight: u64,
        lease_ms: i64,
    ) -> mpsc::Receiver<Result<InboxEvent, ServiceError>> {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let exchange = self.clone();
        let mut withdrawals = exchange.notifier.withdrawals(&recipient);
        tokio::spawn(async move {
            let me = &recipient;
            loop {
                if tx.is_closed() {
                    break;
                }
                while let Ok(notice) = withdrawals.try_recv() {
                    if tx.send(Ok(InboxEvent::Withdrawal(notice))).await.is_err() {
                        return;
                    }
                }
                let held = match exchange.store.inbox_counts(me).await {
                    Ok((_, leased)) => leased,
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        break;
                    }
                };
                let room = max_in_flight.saturating_sub(held) as usize;
                let got = if room == 0 {
                    Vec::new()
                } else {
                    // Only once the round before has been taken.
                    let Ok(permit) = tx.reserve_many(STREAM_BUFFER).await else {
                        return;
                    };
                    drop(permit);
                    match exchange
                        .lease_now(me, room, STREAM_ROUND_BYTES, lease_ms)
                        .await
                    {
                        Ok(got) => got,
                        Err(e) => {
                            let _ = tx.send(Err(e)).await;
                            break;
                        }
                    }
                };
                if got.is_empty() {
                    tokio::select! {
                        _ = exchange.notifier.inbox_changed(me) => {}
                        Ok(notice) = withdrawals.recv() => {
                            if tx.send(Ok(InboxEvent::Withdrawal(notice))).await.is_err() {
                                return;
                            }
                        }
                        _ = tx.closed() => break,
                    }
                    continue;
                }
                for mut d in got {
                    d.held = Some(Held::new(d.record.payload_bytes));
                    if tx
                        .send(Ok(InboxEvent::Delivery(Box::new(d))))
                        .await
                        .is_err()
                    {
                        // The subscriber left; its leases run out and the
                        // messages are offered again.
                        return;
                    }
                }
            }
        });
        rx
    }

    async fn finish(
        &self,
        recipient: &Oin,
        message_id: &MessageId,
        outcome: Outcome,
    ) -> Result<Ended, ServiceError> {
        let finished = self
            .store
            .finish(
                recipient,
                message_id,
                outcome,
                self.clock.now_ms(),
                self.retention_ms(),
            )
            .await?;
        self.notifier.wake_receipts();
        self.notifier.wake_inbox(recipient);
        match finished {
            Finished::NotFound => Err(ServiceError::NotFound(format!(
                "message_id: no message {message_id} was delivered to you"
            ))),
            Finished::NotLeased => Err(ServiceError::FailedPrecondition(format!(
                "message_id: message {message_id} waits in your inbox but you have not pulled it yet: pull it first (Pull or Subscribe), then ack or reject it"
            ))),
            Finished::Done { record, receipt } => {
                let outcome = match record.state {
                    State::Delivered => "delivered",
                    State::Rejected => "rejected",
                    _ => "withdrawn",
                };
                METRICS.message(record.kind.as_str(), outcome);
                if record.state == State::Delivered {
                    let waited = (self.clock.now_ms() - record.created_at_ms).max(0);
                    METRICS.send_to_ack_seconds.observe(waited as f64 / 1000.0);
                }
                Ok(Ended {
                    state: record.state,
                    receipt,
                    detail: record.final_detail,
                })
            }
            Finished::AlreadyFinal { record, receipt } => match (record.state, receipt) {
                (State::Withdrawn, Some(receipt)) => Ok(Ended {
                    state: State::Withdrawn,
                    receipt: Some(receipt),
                    detail: record.final_detail,
                }),
                (state, _) => Err(ServiceError::FailedPrecondition(format!(
                    "message_id: message {message_id} is already {state:?}, it cannot change any more"
                ))),
            },
        }
    }

    /// Acknowledges a leased message.
    pub async fn ack(
        &self,
        recipient: &Oin,
        message_id: &MessageId,
    ) -> Result<Ended, ServiceError> {
        self.finish(recipient, message_id, Outcome::Delivered).await
    }

    /// Rejects a leased message with a reason code and a note.
    pub async fn reject(
        &self,
        recipient: &Oin,
        message_id: &MessageId,
        reason: Option<RejectReason>,
        detail: &str,
    ) -> Result<Ended, ServiceError> {
        let reason = requests::rejection(reason, detail)?;
        let outcome = Outcome::Rejected {
            reason,
            detail: detail.to_owned(),
        };
        self.finish(recipient, message_id, outcome).await
    }
}
