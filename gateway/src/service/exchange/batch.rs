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

    /// Sends `message` to each of `recipients` (the copy for `OIN` with
    /// client reference `REFERENCE/OIN`), all in one case: the one the
    /// message names, or the case of the first copy accepted. Each copy is
    /// checked and answered on its own, in the order given.
    pub async fn send_to_many(
        &self,
        caller: &Caller,
        message: pb::SendRequest,
        recipients: &[Oin],
    ) -> Vec<Result<Sent, ServiceError>> {
        let copy = |to: &Oin, case_id: &str| pb::SendRequest {
            recipient_oin: to.to_string(),
            client_reference: format!("{}/{to}", message.client_reference),
            case_id: case_id.to_owned(),
            ..message.clone()
        };
        let mut answers = Vec::with_capacity(recipients.len());
        let mut case = message.case_id.clone();
        // One after the other until a copy opens the case the rest join.
        let mut rest = recipients.iter();
        for to in rest.by_ref() {
            let answer = self.send(caller, copy(to, &case)).await;
            if let Ok(sent) = &answer {
                case = sent.case_id.to_string();
            }
            let opened = answer.is_ok();
            answers.push(answer);
            if opened {
                break;
            }
        }
        let copies: Vec<_> = rest.map(|to| copy(to, &case)).collect();
        answers.extend(join_all(copies.into_iter().map(|r| self.send(caller, r))).await);
        answers
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
