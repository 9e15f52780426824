//! Batches: many sends or acknowledgements in one call, each item handled
//! exactly as its single call would be (checked, recorded and answered on
//! its own), all under way at once so that they share the store's group
//! commit.

use futures::future::join_all;
use schakel_proto::v1 as pb;

use super::{Ended, Exchange, Sent};
use crate::model::{MessageId, Oin};
use crate::service::{Caller, ServiceError};

impl Exchange {
    /// Sends every request from the caller, as [`Exchange::send`] would one
    /// by one; answers each in the order given. Two items with the same
    /// client reference are one message: one is accepted and the other
    /// answered as its retry (or refused, if its content differs).
    pub async fn send_batch(
        &self,
        caller: &Caller,
        requests: Vec<pb::SendRequest>,
    ) -> Vec<Result<Sent, ServiceError>> {
        join_all(requests.into_iter().map(|r| self.send(caller, r))).await
    }

    /// Acknowledges every message, as [`Exchange::ack`] would one by one;
    /// answers each in the order given.
    pub async fn ack_batch(
        &self,
        recipient: &Oin,
        ids: &[MessageId],
    ) -> Vec<Result<Ended, ServiceError>> {
        join_all(ids.iter().map(|id| self.ack(recipient, id))).await
    }
}
