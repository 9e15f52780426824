//! The batch calls: many sends or acknowledgements in one call, each
//! item's receipt verified as a single call's would be.

use std::future::Future;

use crate::{Client, ClientError, proto as pb};

/// Items the client puts in one call when it splits a longer list: the
/// gateway's default `limits.max_batch_messages`.
pub const ITEMS_PER_CALL: usize = 256;

impl Client {
    /// Sends every message, [`ITEMS_PER_CALL`] to a SendBatch call (fewer
    /// when the gateway takes fewer: a call it refuses for its size goes
    /// again in halves); the answers in the order given.
    pub async fn send_all(
        &self,
        messages: Vec<pb::SendRequest>,
    ) -> Result<Vec<Result<pb::SendResponse, tonic::Status>>, ClientError> {
        in_batches(messages, |chunk| self.send_batch(chunk)).await
    }

    /// Acknowledges every message as [`Client::send_all`] sends: in
    /// AckBatch calls, halved when the gateway takes fewer.
    pub async fn ack_all(
        &self,
        message_ids: Vec<String>,
    ) -> Result<Vec<Result<pb::AckResponse, tonic::Status>>, ClientError> {
        in_batches(
            message_ids,
            |chunk| async move { self.ack_batch(&chunk).await },
        )
        .await
    }

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
        self.verified_sends(response.results).await
    }

    /// The answers to several sends, each accepted one's receipt verified.
    async fn verified_sends(
        &self,
        results: Vec<pb::SendResult>,
    ) -> Result<Vec<Result<pb::SendResponse, tonic::Status>>, ClientError> {
        let outcomes = results.into_iter().map(|r| match r.outcome {
            Some(pb::send_result::Outcome::Sent(sent)) => Some(Ok(sent)),
            Some(pb::send_result::Outcome::Error(e)) => Some(Err(e)),
            None => None,
        });
        self.verified_items(outcomes, |sent| sent.receipt.as_ref())
            .await
    }

    /// Sends one message to each of `recipients` in one call, all in one
    /// case; each answer (in the order of `recipients`) is that copy's
    /// SendResponse, its receipt verified, or the status it was refused
    /// with. `message` has no recipient; copy `OIN`'s client reference is
    /// `REFERENCE/OIN`.
    pub async fn send_to_many(
        &self,
        message: pb::SendRequest,
        recipients: &[&str],
    ) -> Result<Vec<Result<pb::SendResponse, tonic::Status>>, ClientError> {
        let request = pb::SendToManyRequest {
            message: Some(message),
            recipient_oins: recipients.iter().map(|r| (*r).to_owned()).collect(),
        };
        let response = self.exchange().send_to_many(request).await?.into_inner();
        answered_all(recipients.len(), response.results.len())?;
        self.verified_sends(response.results).await
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

/// `items` in calls of at most [`ITEMS_PER_CALL`]; a call the gateway
/// refuses for its number of items goes again in halves. The answers in
/// the order of `items`.
async fn in_batches<T: Clone, R, Fut>(
    items: Vec<T>,
    call: impl Fn(Vec<T>) -> Fut,
) -> Result<Vec<R>, ClientError>
where
    Fut: Future<Output = Result<Vec<R>, ClientError>>,
{
    let mut out = Vec::with_capacity(items.len());
    let mut pending: Vec<Vec<T>> = items
        .chunks(ITEMS_PER_CALL)
        .rev()
        .map(<[T]>::to_vec)
        .collect();
    while let Some(chunk) = pending.pop() {
        match call(chunk.clone()).await {
            Err(ClientError::Status(s))
                if chunk.len() > 1 && s.message().contains("limits.max_batch_messages") =>
            {
                let mut first = chunk;
                let second = first.split_off(first.len() / 2);
                pending.push(second);
                pending.push(first);
            }
            answers => out.extend(answers?),
        }
    }
    Ok(out)
}
