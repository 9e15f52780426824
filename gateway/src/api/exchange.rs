//! `schakel.v1.Exchange`: send, pull, subscribe, ack, reject, status, receipts.
//! The contract is in place; the durable exchange implements it next.

use schakel_proto::v1 as pb;
use schakel_proto::v1::exchange_server::Exchange as ExchangeApi;
use tonic::{Request, Response, Status};

use super::{BoxStream, not_yet};

/// The Exchange service.
#[derive(Default)]
pub struct ExchangeService;

#[tonic::async_trait]
impl ExchangeApi for ExchangeService {
    type SubscribeStream = BoxStream<pb::InboxEvent>;
    type ReceiptsStream = BoxStream<pb::ReceiptEvent>;

    async fn send(
        &self,
        _: Request<pb::SendRequest>,
    ) -> Result<Response<pb::SendResponse>, Status> {
        Err(not_yet("Exchange.Send"))
    }

    async fn pull(
        &self,
        _: Request<pb::PullRequest>,
    ) -> Result<Response<pb::PullResponse>, Status> {
        Err(not_yet("Exchange.Pull"))
    }

    async fn subscribe(
        &self,
        _: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        Err(not_yet("Exchange.Subscribe"))
    }

    async fn ack(&self, _: Request<pb::AckRequest>) -> Result<Response<pb::AckResponse>, Status> {
        Err(not_yet("Exchange.Ack"))
    }

    async fn reject(
        &self,
        _: Request<pb::RejectRequest>,
    ) -> Result<Response<pb::RejectResponse>, Status> {
        Err(not_yet("Exchange.Reject"))
    }

    async fn get_status(
        &self,
        _: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::MessageStatus>, Status> {
        Err(not_yet("Exchange.GetStatus"))
    }

    async fn receipts(
        &self,
        _: Request<pb::ReceiptsRequest>,
    ) -> Result<Response<Self::ReceiptsStream>, Status> {
        Err(not_yet("Exchange.Receipts"))
    }
}
