//! `schakel.v1.Exchange`: send, pull, subscribe, ack, reject, status, receipts.

use std::sync::Arc;

use schakel_proto::v1 as pb;
use schakel_proto::v1::exchange_server::Exchange as ExchangeApi;
use tonic::{Request, Response, Status};

use super::convert::{
    case_consent, case_id, case_view, delivery, duration, inbox_event, message_id, oin,
    receipt_event,
};
use super::receipt_signatures::Signatures;
use super::status::{self, of, violation};
use super::{BoxStream, access, caller, guarded};
use crate::model::{MessageId, State, wire};
use crate::policy::invalid;
use crate::policy::requests;
use crate::service::Caller;
use crate::service::exchange::{Ended, Exchange, Sent};
use crate::transport::rate_limit::RateLimiter;

/// The Exchange service.
pub struct ExchangeService {
    exchange: Arc<Exchange>,
    /// Charges the items of a batch beyond the call itself, which the
    /// identity layer charged.
    limiter: Arc<RateLimiter>,
    /// Most items in one batch call.
    max_batch: u32,
    /// Signs the receipts of the callers that ask for it.
    signatures: Signatures,
}

impl ExchangeService {
    /// A service over `exchange`; batches of at most `max_batch` items,
    /// each charged to the caller on `limiter`; receipts signed on their
    /// own by `signatures` for the callers that ask.
    pub fn new(
        exchange: Arc<Exchange>,
        limiter: Arc<RateLimiter>,
        max_batch: u32,
        signatures: Signatures,
    ) -> Self {
        Self {
            exchange,
            limiter,
            max_batch,
            signatures,
        }
    }

    /// Checks a batch's size and charges its items beyond the first to
    /// `caller`'s rate, before any item is handled: a batch over either
    /// limit changes nothing.
    fn admit_batch(&self, caller: &Caller, field: &str, items: usize) -> Result<(), Status> {
        if items == 0 {
            return Err(violation(invalid(field, "needs at least one item")));
        }
        if items > self.max_batch as usize {
            return Err(violation(invalid(
                field,
                format!(
                    "holds {items} items; at most {} (limits.max_batch_messages) in one call: split it",
                    self.max_batch
                ),
            )));
        }
        self.limiter
            .take(caller.oin(), &caller.cert_sha256, items as u32 - 1)
            .map_err(status::access)
    }
}

/// The answer to a call of several sends, each item's on its own (its
/// error naming `field` and its place); a store failure fails the whole.
fn send_results(
    field: &str,
    answers: Vec<Result<Sent, crate::service::ServiceError>>,
    references: Vec<String>,
) -> Result<pb::SendBatchResponse, Status> {
    let answers: Vec<Result<Sent, pb::ItemError>> = answers
        .into_iter()
        .enumerate()
        .map(|(i, answer)| answer.map_err(|e| item_error(field, i, &of(e))))
        .collect();
    retry_whole(&answers)?;
    let results = answers
        .into_iter()
        .zip(references)
        .map(|(answer, client_reference)| pb::SendResult {
            client_reference,
            outcome: Some(match answer {
                Ok(sent) => pb::send_result::Outcome::Sent(send_response(sent)),
                Err(e) => pb::send_result::Outcome::Error(e),
            }),
        })
        .collect();
    Ok(pb::SendBatchResponse { results })
}

/// The answer to one send.
fn send_response(sent: Sent) -> pb::SendResponse {
    pb::SendResponse {
        message_id: sent.message_id.to_string(),
        receipt: Some(sent.receipt),
        duplicate: sent.duplicate,
        case_id: sent.case_id.to_string(),
    }
}

/// The answer to one acknowledgement.
fn ack_response(ended: Ended) -> pb::AckResponse {
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
    pb::AckResponse {
        outcome: outcome as i32,
        receipt: ended.receipt,
        detail,
    }
}

/// The status that fails a whole batch call: an item the store could not
/// write (UNAVAILABLE, INTERNAL) is no refusal of that item but trouble of
/// the gateway's, which sending the whole batch again overcomes (the items
/// stored before answer as retries), so the call fails as a single call
/// would, and gRPC retry policies see it.
fn retry_whole<T>(answers: &[Result<T, pb::ItemError>]) -> Result<(), Status> {
    let trouble = answers
        .iter()
        .filter_map(|a| a.as_ref().err())
        .map(|e| tonic::Code::from(e.code))
        .find(|c| matches!(c, tonic::Code::Unavailable | tonic::Code::Internal));
    match trouble {
        Some(code) => Err(Status::new(
            code,
            "the gateway could not store every item of this batch: send the whole batch again (items stored before answer as retries, with their receipts)",
        )),
        None => Ok(()),
    }
}

/// Item `index` of a batch, refused with `status`: its code and message,
/// the message prefixed with where the item is in the request.
fn item_error(field: &str, index: usize, status: &Status) -> pb::ItemError {
    pb::ItemError {
        code: status.code() as i32,
        message: format!("{field}[{index}]: {}", status.message()),
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
        let caller = caller(&request)?;
        let asked = self.signatures.asked(request.metadata())?;
        let sent = self
            .exchange
            .send(&caller, request.into_inner())
            .await
            .map_err(of)?;
        Ok(Response::new(
            self.signatures.apply(asked, send_response(sent)),
        ))
    }

    async fn send_batch(
        &self,
        request: Request<pb::SendBatchRequest>,
    ) -> Result<Response<pb::SendBatchResponse>, Status> {
        let caller = caller(&request)?;
        let asked = self.signatures.asked(request.metadata())?;
        let messages = request.into_inner().messages;
        self.admit_batch(&caller, "messages", messages.len())?;
        let references: Vec<String> = messages
            .iter()
            .map(|m| m.client_reference.clone())
            .collect();
        let answers = self.exchange.send_batch(&caller, messages).await;
        send_results("messages", answers, references)
            .map(|answer| Response::new(self.signatures.apply(asked, answer)))
    }

    async fn send_to_many(
        &self,
        request: Request<pb::SendToManyRequest>,
    ) -> Result<Response<pb::SendBatchResponse>, Status> {
        let caller = caller(&request)?;
        let asked = self.signatures.asked(request.metadata())?;
        let r = request.into_inner();
        let message = r.message.unwrap_or_default();
        if !message.recipient_oin.is_empty() {
            return Err(violation(invalid(
                "message.recipient_oin",
                "stays empty: the recipients are recipient_oins",
            )));
        }
        if message.client_reference.len() > 107 {
            return Err(violation(invalid(
                "message.client_reference",
                "is at most 107 characters here: each copy's is REFERENCE/OIN",
            )));
        }
        let mut recipients = Vec::with_capacity(r.recipient_oins.len());
        for (i, o) in r.recipient_oins.iter().enumerate() {
            let to = oin(&format!("recipient_oins[{i}]"), o)?;
            if recipients.contains(&to) {
                return Err(violation(invalid(
                    format!("recipient_oins[{i}]"),
                    format!("names {to} twice"),
                )));
            }
            recipients.push(to);
        }
        self.admit_batch(&caller, "recipient_oins", recipients.len())?;
        let references = recipients
            .iter()
            .map(|to| format!("{}/{to}", message.client_reference))
            .collect();
        let answers = self
            .exchange
            .send_to_many(&caller, message, &recipients)
            .await;
        send_results("recipient_oins", answers, references)
            .map(|answer| Response::new(self.signatures.apply(asked, answer)))
    }

    async fn ack_batch(
        &self,
        request: Request<pb::AckBatchRequest>,
    ) -> Result<Response<pb::AckBatchResponse>, Status> {
        let who = caller(&request)?;
        let me = who.participant.oin.clone();
        let signed = self.signatures.asked(request.metadata())?;
        let asked = request.into_inner().message_ids;
        self.admit_batch(&who, "message_ids", asked.len())?;
        // Ids that do not parse are answered on their own; the rest are
        // acknowledged together.
        let parsed: Vec<Result<MessageId, Status>> = asked
            .iter()
            .enumerate()
            .map(|(i, id)| message_id(&format!("message_ids[{i}]"), id))
            .collect();
        let valid: Vec<MessageId> = parsed.iter().filter_map(|p| p.clone().ok()).collect();
        let mut acked = self.exchange.ack_batch(&me, &valid).await.into_iter();
        // An id that does not parse names itself; the store's answer is
        // prefixed with where the id is.
        let answers: Vec<Result<Ended, pb::ItemError>> = parsed
            .into_iter()
            .enumerate()
            .map(|(i, parsed)| match parsed {
                Ok(_) => acked
                    .next()
                    .expect("one answer per valid id")
                    .map_err(|e| item_error("message_ids", i, &of(e))),
                Err(status) => Err(pb::ItemError {
                    code: status.code() as i32,
                    message: status.message().to_owned(),
                }),
            })
            .collect();
        retry_whole(&answers)?;
        let results = asked
            .into_iter()
            .zip(answers)
            .map(|(message_id, answer)| pb::AckResult {
                message_id,
                outcome: Some(match answer {
                    Ok(ended) => pb::ack_result::Outcome::Acked(ack_response(ended)),
                    Err(e) => pb::ack_result::Outcome::Error(e),
                }),
            })
            .collect();
        Ok(Response::new(
            self.signatures
                .apply(signed, pb::AckBatchResponse { results }),
        ))
    }

    async fn pull(
        &self,
        request: Request<pb::PullRequest>,
    ) -> Result<Response<pb::PullResponse>, Status> {
        let me = caller(&request)?.participant.oin;
        let r = request.into_inner();
        let max = requests::max_messages(r.max_messages).map_err(violation)?;
        let wait = requests::pull_wait(duration("wait", r.wait)?).map_err(violation)?;
        let lease = self
            .exchange
            .lease_ms(duration("lease", r.lease)?)
            .map_err(of)?;
        let got = self
            .exchange
            .pull(&me, max, wait, lease)
            .await
            .map_err(of)?;
        let now = self.exchange.clock().now_ms();
        Ok(Response::new(pb::PullResponse {
            deliveries: got.into_iter().map(|d| delivery(d, now)).collect(),
        }))
    }

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let me = caller(&request)?.participant.oin;
        let watch = access(&request)?;
        let r = request.into_inner();
        let max_in_flight = requests::max_messages(r.max_in_flight).map_err(violation)? as u64;
        let lease = self
            .exchange
            .lease_ms(duration("lease", r.lease)?)
            .map_err(of)?;
        let events = self.exchange.subscribe(me, max_in_flight, lease);
        let clock = self.exchange.clock().clone();
        Ok(Response::new(guarded(
            events,
            move |e| inbox_event(e, clock.now_ms()),
            watch,
        )))
    }

    async fn ack(
        &self,
        request: Request<pb::AckRequest>,
    ) -> Result<Response<pb::AckResponse>, Status> {
        let me = caller(&request)?.participant.oin;
        let asked = self.signatures.asked(request.metadata())?;
        let id = message_id("message_id", &request.into_inner().message_id)?;
        let ended = self.exchange.ack(&me, &id).await.map_err(of)?;
        Ok(Response::new(
            self.signatures.apply(asked, ack_response(ended)),
        ))
    }

    async fn reject(
        &self,
        request: Request<pb::RejectRequest>,
    ) -> Result<Response<pb::RejectResponse>, Status> {
        let me = caller(&request)?.participant.oin;
        let asked = self.signatures.asked(request.metadata())?;
        let r = request.into_inner();
        let id = message_id("message_id", &r.message_id)?;
        let reason = wire::reject_reason_of(r.reason);
        let ended = self
            .exchange
            .reject(&me, &id, reason, &r.detail)
            .await
            .map_err(of)?;
        Ok(Response::new(self.signatures.apply(
            asked,
            pb::RejectResponse {
                receipt: ended.receipt,
            },
        )))
    }

    async fn get_status(
        &self,
        request: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::MessageStatus>, Status> {
        let me = caller(&request)?.participant.oin;
        let asked = self.signatures.asked(request.metadata())?;
        let id = message_id("message_id", &request.into_inner().message_id)?;
        let (record, receipts) = self.exchange.status(&me, &id).await.map_err(of)?;
        let now = self.exchange.clock().now_ms();
        let status = pb::MessageStatus {
            message_id: record.id.to_string(),
            client_reference: record.client_reference,
            kind: wire::kind(record.kind) as i32,
            recipient_oin: record.recipient.to_string(),
            status: wire::receipt_status(record.state) as i32,
            attempts: record.attempts,
            receipts,
            overdue: record
                .overdue_at_ms
                .is_some_and(|at| !record.state.is_final() && now >= at),
            due_at: record.overdue_at_ms.map(wire::timestamp),
            case_id: record.case_id.to_string(),
        };
        Ok(Response::new(self.signatures.apply(asked, status)))
    }

    async fn receipts(
        &self,
        request: Request<pb::ReceiptsRequest>,
    ) -> Result<Response<Self::ReceiptsStream>, Status> {
        let me = caller(&request)?.participant.oin;
        let watch = access(&request)?;
        let asked = self.signatures.asked(request.metadata())?;
        let r = request.into_inner();
        let events = self.exchange.receipts(me, r.after_cursor, r.follow);
        let signatures = self.signatures.clone();
        Ok(Response::new(guarded(
            events,
            move |e| signatures.apply(asked, receipt_event(e)),
            watch,
        )))
    }

    async fn list_case(
        &self,
        request: Request<pb::ListCaseRequest>,
    ) -> Result<Response<pb::ListCaseResponse>, Status> {
        let me = caller(&request)?.participant.oin;
        let r = request.into_inner();
        let case = case_id("case_id", &r.case_id)?;
        let view = self.exchange.list_case(&me, &case).await.map_err(of)?;
        Ok(Response::new(case_view(&case, &view)))
    }

    async fn add_case_party(
        &self,
        request: Request<pb::AddCasePartyRequest>,
    ) -> Result<Response<pb::ListCaseResponse>, Status> {
        let me = caller(&request)?.participant.oin;
        let r = request.into_inner();
        let case = case_id("case_id", &r.case_id)?;
        let party = oin("party_oin", &r.party_oin)?;
        let consent = case_consent(r.legal_basis)?;
        let view = self
            .exchange
            .add_case_party(&me, &case, &party, &consent)
            .await
            .map_err(of)?;
        Ok(Response::new(case_view(&case, &view)))
    }

    async fn set_case_coordinator(
        &self,
        request: Request<pb::SetCaseCoordinatorRequest>,
    ) -> Result<Response<pb::ListCaseResponse>, Status> {
        let me = caller(&request)?.participant.oin;
        let r = request.into_inner();
        let case = case_id("case_id", &r.case_id)?;
        let coordinator = oin("coordinator_oin", &r.coordinator_oin)?;
        let consent = case_consent(r.legal_basis)?;
        let view = self
            .exchange
            .set_case_coordinator(&me, &case, &coordinator, &consent)
            .await
            .map_err(of)?;
        Ok(Response::new(case_view(&case, &view)))
    }

    async fn remove_case_party(
        &self,
        request: Request<pb::RemoveCasePartyRequest>,
    ) -> Result<Response<pb::ListCaseResponse>, Status> {
        let me = caller(&request)?.participant.oin;
        let r = request.into_inner();
        let case = case_id("case_id", &r.case_id)?;
        let party = match r.party_oin.as_str() {
            "" => me.clone(),
            given => oin("party_oin", given)?,
        };
        let view = self
            .exchange
            .remove_case_party(&me, &case, &party)
            .await
            .map_err(of)?;
        Ok(Response::new(case_view(&case, &view)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(code: tonic::Code) -> Result<(), pb::ItemError> {
        Err(pb::ItemError {
            code: code as i32,
            message: "x".into(),
        })
    }

    #[test]
    fn store_trouble_in_one_item_fails_the_whole_batch_and_a_refusal_does_not() {
        let refusals = [Ok(()), refused(tonic::Code::InvalidArgument)];
        assert!(retry_whole(&refusals).is_ok());
        for trouble in [tonic::Code::Unavailable, tonic::Code::Internal] {
            let answers = [Ok(()), refused(tonic::Code::NotFound), refused(trouble)];
            let status = retry_whole(&answers).unwrap_err();
            assert_eq!(status.code(), trouble);
            assert!(status.message().contains("send the whole batch again"));
        }
    }
}
