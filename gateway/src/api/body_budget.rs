//! The tower layer that holds every request body to the
//! [`BodyBudget`](crate::transport::in_flight::BodyBudget): each data frame
//! takes its bytes as it arrives, and a body that would pass a bound ends
//! with RESOURCE_EXHAUSTED naming the bound, before the message is decoded.
//! It sits inside the identity layer, so the caller is known and a refused
//! caller's body is never read.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tonic::Status;

use super::checked_body::{Checked, FrameCheck};
use super::identity_layer::ConnectionInfo;
use crate::crypto::sha256;
use crate::service::Caller;
use crate::transport::in_flight::{BodyBudget, Held};

/// The layer.
#[derive(Clone)]
pub struct BodyBudgetLayer {
    budget: Arc<BodyBudget>,
}

impl BodyBudgetLayer {
    /// A layer holding bodies to `budget`.
    pub fn new(budget: Arc<BodyBudget>) -> Self {
        Self { budget }
    }
}

impl<S> tower::Layer<S> for BodyBudgetLayer {
    type Service = BodyBudgetService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BodyBudgetService {
            inner,
            budget: self.budget.clone(),
        }
    }
}

/// The service [`BodyBudgetLayer`] wraps around the routes.
#[derive(Clone)]
pub struct BodyBudgetService<S> {
    inner: S,
    budget: Arc<BodyBudget>,
}

impl<S, B> tower::Service<http::Request<B>> for BodyBudgetService<S>
where
    S: tower::Service<http::Request<Budgeted<B>>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
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
        let held = self.budget.hold(holder);
        self.inner.call(req.map(|inner| Checked::new(inner, held)))
    }
}

/// A request body that holds its bytes to the budget until it is dropped.
pub type Budgeted<B> = Checked<B, Held>;

impl FrameCheck for Held {
    fn check(&mut self, data: &Bytes) -> Result<(), Status> {
        self.take(data.len() as u64).map_err(|exceeded| {
            tracing::warn!(%exceeded, "request body refused");
            Status::resource_exhausted(exceeded.to_string())
        })
    }
}
