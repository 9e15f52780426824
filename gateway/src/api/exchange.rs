//! `schakel.v1.Exchange`: send, pull, subscribe, ack, reject, status, receipts.
//! Thin: it translates and calls [`crate::exchange::Exchange`].

use std::sync::Arc;
use std::time::Duration;

use schakel_proto::v1 as pb;
use schakel_proto::v1::exchange_server::Exchange as ExchangeApi;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::convert::{delivery_to_pb, duration, timestamp_ms};
use super::{BoxStream, internal};
use crate::exchange::{Exchange, ExchangeError};
use crate::identity::Caller;
use crate::message::State;
use crate::notify::WithdrawalNotice;
use crate::store::receipt_status;

/// Longest a Pull may wait for an empty inbox.
const MAX_PULL_WAIT: Duration = Duration::from_secs(60);
/// Most messages one Pull may lease.
const MAX_PULL: u32 = 256;
/// Receipts read from the store per round of a Receipts stream.
const RECEIPT_PAGE: usize = 256;

/// The Exchange service.
pub struct ExchangeService {
    exchange: Arc<Exchange>,
}

impl ExchangeService {
    /// A service over `exchange`.
    pub fn new(exchange: Arc<Exchange>) -> Self {
        Self { exchange }
    }
}

/// The status for an exchange error.
pub fn status(e: ExchangeError) -> Status {
    match e {
        ExchangeError::Invalid(r) => r.into(),
        ExchangeError::Route(r) => Status::permission_denied(r.to_string()),
        ExchangeError::PermissionDenied(m) => Status::permission_denied(m),
        ExchangeError::NotFound(m) => Status::not_found(m),
        ExchangeError::AlreadyExists(m) => Status::already_exists(m),
        ExchangeError::Exhausted(m) => Status::resource_exhausted(m),
        ExchangeError::FailedPrecondition(m) => Status::failed_precondition(m),
        e @ (ExchangeError::Store(_) | ExchangeError::Directory(_) | ExchangeError::Decrypt(_)) => {
            internal(e)
        }
    }
}

fn withdrawal_event(notice: WithdrawalNotice) -> pb::InboxEvent {
    pb::InboxEvent {
        event: Some(pb::inbox_event::Event::Withdrawal(pb::Withdrawal {
            message_id: notice.message_id,
            reason: format!("{}; delete what you hold of this message", notice.reason),
            time: Some(timestamp_ms(notice.time_ms)),
        })),
    }
}

fn max_messages(n: u32, default: u32) -> Result<usize, Status> {
    match n {
        0 => Ok(default as usize),
        n if n > MAX_PULL => Err(Status::invalid_argument(format!(
            "max_messages: must be at most {MAX_PULL}"
        ))),
        n => Ok(n as usize),
    }
}

#[tonic::async_trait]
impl ExchangeApi for ExchangeService {
    type SubscribeStream = BoxStream<pb::InboxEvent>;
    type ReceiptsStream = BoxStream<pb::ReceiptEvent>;

    async fn send(
        &self,
        request: Request<pb::SendRequest>,
    ) -> Result<Response<pb::SendResponse>, Status> {
        let sender = Caller::of(&request)?.participant.clone();
        let sent = self
            .exchange
            .send(&sender, request.into_inner())
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SendResponse {
            message_id: sent.message_id,
            receipt: Some(sent.receipt),
            duplicate: sent.duplicate,
        }))
    }

    async fn pull(
        &self,
        request: Request<pb::PullRequest>,
    ) -> Result<Response<pb::PullResponse>, Status> {
        let me = Caller::of(&request)?.oin().to_owned();
        let r = request.into_inner();
        let max = max_messages(r.max_messages, 16)?;
        let wait = duration("wait", r.wait)?;
        if wait > MAX_PULL_WAIT {
            return Err(Status::invalid_argument("wait: must be at most 60 seconds"));
        }
        let lease = self
            .exchange
            .lease_ms(Some(duration("lease", r.lease)?))
            .map_err(status)?;
        let got = self
            .exchange
            .pull(&me, max, wait, lease)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::PullResponse {
            deliveries: got.into_iter().map(delivery_to_pb).collect(),
        }))
    }

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let me = Caller::of(&request)?.oin().to_owned();
        let r = request.into_inner();
        let max_in_flight = max_messages(r.max_in_flight, 16)? as u64;
        let lease = self
            .exchange
            .lease_ms(Some(duration("lease", r.lease)?))
            .map_err(status)?;
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let exchange = self.exchange.clone();
        let mut withdrawals = exchange.notifier().withdrawals(&me);
        tokio::spawn(async move {
            loop {
                if tx.is_closed() {
                    break;
                }
                while let Ok(notice) = withdrawals.try_recv() {
                    if tx.send(Ok(withdrawal_event(notice))).await.is_err() {
                        return;
                    }
                }
                let held = match exchange.leased_count(&me).await {
                    Ok(n) => n,
                    Err(e) => {
                        let _ = tx.send(Err(status(e))).await;
                        break;
                    }
                };
                let room = max_in_flight.saturating_sub(held) as usize;
                let got = if room == 0 {
                    Vec::new()
                } else {
                    match exchange.lease_now(&me, room, lease).await {
                        Ok(got) => got,
                        Err(e) => {
                            let _ = tx.send(Err(status(e))).await;
                            break;
                        }
                    }
                };
                if got.is_empty() {
                    tokio::select! {
                        _ = exchange.wait_for_inbox(&me) => {}
                        Ok(notice) = withdrawals.recv() => {
                            if tx.send(Ok(withdrawal_event(notice))).await.is_err() {
                                return;
                            }
                        }
                        _ = tx.closed() => break,
                    }
                    continue;
                }
                for d in got {
                    let event = pb::InboxEvent {
                        event: Some(pb::inbox_event::Event::Delivery(delivery_to_pb(d))),
                    };
                    if tx.send(Ok(event)).await.is_err() {
                        // The subscriber left; its leases run out and the
                        // messages are offered again.
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn ack(
        &self,
        request: Request<pb::AckRequest>,
    ) -> Result<Response<pb::AckResponse>, Status> {
        let me = Caller::of(&request)?.oin().to_owned();
        let r = request.into_inner();
        let ended = self
            .exchange
            .ack(&me, &r.message_id)
            .await
            .map_err(status)?;
        let (outcome, detail) = if ended.state == State::Withdrawn {
            (
                pb::AckOutcome::Withdrawn,
                format!(
                    "{}; the message was withdrawn after you received it: delete what you hold of it",
                    ended.detail
                ),
            )
        } else {
            (pb::AckOutcome::Delivered, ended.detail)
        };
        Ok(Response::new(pb::AckResponse {
            outcome: outcome as i32,
            receipt: Some(ended.receipt),
            detail,
        }))
    }

    async fn reject(
        &self,
        request: Request<pb::RejectRequest>,
    ) -> Result<Response<pb::RejectResponse>, Status> {
        let me = Caller::of(&request)?.oin().to_owned();
        let r = request.into_inner();
        let reason = pb::RejectReason::try_from(r.reason).unwrap_or_default();
        let ended = self
            .exchange
            .reject(&me, &r.message_id, reason, &r.detail)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::RejectResponse {
            receipt: Some(ended.receipt),
        }))
    }

    async fn get_status(
        &self,
        request: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::MessageStatus>, Status> {
        let me = Caller::of(&request)?.oin().to_owned();
        let id = request.into_inner().message_id;
        let (record, receipts) = self.exchange.status(&me, &id).await.map_err(status)?;
        Ok(Response::new(pb::MessageStatus {
            message_id: record.id,
            client_reference: record.client_reference,
            kind: record.kind.to_pb() as i32,
            recipient_oin: record.recipient,
            status: receipt_status(record.state) as i32,
            attempts: record.attempts,
            receipts,
        }))
    }

    async fn receipts(
        &self,
        request: Request<pb::ReceiptsRequest>,
    ) -> Result<Response<Self::ReceiptsStream>, Status> {
        let me = Caller::of(&request)?.oin().to_owned();
        let r = request.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let exchange = self.exchange.clone();
        tokio::spawn(async move {
            let mut cursor = r.after_cursor;
            loop {
                let page = match exchange.receipts_after(&me, cursor, RECEIPT_PAGE).await {
                    Ok(page) => page,
                    Err(e) => {
                        let _ = tx.send(Err(status(e))).await;
                        return;
                    }
                };
                let full = page.len() == RECEIPT_PAGE;
                for (c, receipt) in page {
                    cursor = c;
                    let event = pb::ReceiptEvent {
                        cursor: c,
                        receipt: Some(receipt),
                    };
                    if tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
                if full {
                    continue;
                }
                if !r.follow {
                    return;
                }
                tokio::select! {
                    _ = exchange.wait_for_receipts() => {}
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
