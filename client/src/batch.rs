//! The batch calls: many sends or acknowledgements in one call, each
//! item's receipt verified as a single call's would be.

use crate::{Client, ClientError, proto as pb};

impl Client {
    /// Sends several messages in one call; each answer (in the order sent)
    /// is the message's SendResponse, its receipt verified, or the status
    /// the gateway refused that one item with. The call itself fails only
    /// when the batch as a whole is refused (too many items, over the rate
    /// limit, too large) or the gateway cannot be reached.
    pub async fn send_batch(
        &self,
        messages: Vec<pb::SendRequest>,
    ) -> Result<Vec<Result<pb::SendResponse, tonic::Status>>, ClientError> {
        let asked = messages.len();
        let request = pb::SendBatchRequest { messages };
        let response = self.exchange().send_batch(request).await?.into_inner();
        answered_all(asked, response.results.len())?;
        let outcomes = response.results.into_iter().map(|r| match r.outcome {
            Some(pb::send_result::Outcome::Sent(sent)) => Some(Ok(sent)),
            Some(pb::send_result::Outcome::Error(e)) => Some(Err(e)),
            None => None,
        });
        self.verified_items(outcomes, |sent| sent.receipt.as_ref())
            .await
    }

    /// Acknowledges several leased messages in one call; each answer (in
    /// the order asked) is the AckResponse, its receipt verified, or the
    /// status the gateway refused that one id with.
    pub async fn ack_batch(
        &self,
        message_ids: &[String],
    ) -> Result<Vec<Result<pb::AckResponse, tonic::Status>>, ClientError> {
        let request = pb::AckBatchRequest {
            message_ids: message_ids.to_vec(),
        };
        let response = self.exchange().ack_batch(request).await?.into_inner();
        answered_all(message_ids.len(), response.results.len())?;
        let outcomes = response.results.into_iter().map(|r| match r.outcome {
            Some(pb::ack_result::Outcome::Acked(acked)) => Some(Ok(acked)),
            Some(pb::ack_result::Outcome::Error(e)) => Some(Err(e)),
            None => None,
        });
        self.verified_items(outcomes, |acked| acked.receipt.as_ref())
            .await
    }

    /// The answers to a batch's items, each accepted one's receipt
    /// verified, each refused one as its status.
    async fn verified_items<T>(
        &self,
        outcomes: impl Iterator<Item = Option<Result<T, pb::ItemError>>>,
        receipt: impl Fn(&T) -> Option<&pb::Receipt>,
    ) -> Result<Vec<Result<T, tonic::Status>>, ClientError> {
        let mut out = Vec::new();
        for outcome in outcomes {
            out.push(match outcome {
                Some(Ok(item)) => {
                    self.verify_opt(receipt(&item)).await?;
                    Ok(item)
                }
                Some(Err(e)) => Err(tonic::Status::new(tonic::Code::from(e.code), e.message)),
                None => Err(tonic::Status::unknown("the gateway answered no outcome")),
            });
        }
        Ok(out)
    }
}

/// A batch's answer must hold one result per item asked.
fn answered_all(asked: usize, answered: usize) -> Result<(), ClientError> {
    if asked == answered {
        return Ok(());
    }
    Err(ClientError::Status(tonic::Status::internal(format!(
        "the gateway answered {answered} results for {asked} items; nothing can be matched: send the batch again (it is safe: the items are idempotent)"
    ))))
}
