//! The tower layer that holds every request body to the
//! [`BodyBudget`](crate::transport::in_flight::BodyBudget): each data frame
//! takes its bytes as it arrives, and a body that would pass a bound ends
//! with RESOURCE_EXHAUSTED naming the bound, before the message is decoded.
//! It sits inside the identity layer, so the caller is known and a refused
//! caller's body is never read. The layer is a
//! [`CheckedBodyLayer`](super::checked_body::CheckedBodyLayer) over the
//! budget.

use std::sync::Arc;

use bytes::Bytes;
use tonic::Status;

use super::checked_body::{FrameCheck, MakeCheck};
use super::identity_layer::ConnectionInfo;
use crate::crypto::sha256;
use crate::service::Caller;
use crate::transport::in_flight::{BodyBudget, Held};

impl MakeCheck for Arc<BodyBudget> {
    type Check = Held;

    fn make<B>(&self, req: &http::Request<B>) -> Held {
        // A participant's bodies count together; calls that need no
        // directory entry (health, reflection) count per certificate, so
        // that a certificate nobody registered has a share of its own too.
        let holder = match req.extensions().get::<Caller>() {
            Some(c) => Some(c.participant.oin.to_string()),
            None => req
                .extensions()
                .get::<ConnectionInfo>()
                .and_then(|i| i.tls.peer_certs())
                .and_then(|certs| certs.first().map(|c| sha256(c).to_hex()))
                .map(|digest| format!("certificate {digest}")),
        };
        self.hold(holder)
    }
}

impl FrameCheck for Held {
    fn check(&mut self, data: &Bytes) -> Result<(), Status> {
        self.take(data.len() as u64).map_err(|exceeded| {
            tracing::warn!(%exceeded, "request body refused");
            Status::resource_exhausted(exceeded.to_string())
        })
    }
}
