//! The API: thin tonic services. Each takes the [`Caller`](crate::service::Caller)
//! the [`identity_layer`] attached, turns the request into the use case's
//! own types ([`convert`]), calls the use case, and turns the answer back,
//! or the error into a status ([`status`], the one place that does).

pub mod admin;
pub mod audit;
pub mod consent;
pub mod convert;
pub mod directory;
pub mod exchange;
pub mod identity_layer;
pub mod status;

use tokio::sync::mpsc;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Status};

use crate::service::{Caller, ServiceError};

/// A boxed server stream, as the generated traits ask for streaming RPCs.
pub type BoxStream<T> =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The caller of a request that passed the identity layer.
pub fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::internal("no caller identity on this request"))
}

/// A stream of a use case's results, each turned into its wire form.
pub fn stream<T: Send + 'static, U: Send + 'static>(
    rx: mpsc::Receiver<Result<T, ServiceError>>,
    to_pb: impl Fn(T) -> U + Send + 'static,
) -> BoxStream<U> {
    Box::pin(ReceiverStream::new(rx).map(move |r| r.map(&to_pb).map_err(status::of)))
}
