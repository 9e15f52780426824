//! The API: thin tonic services. Each takes the [`Caller`](crate::service::Caller)
//! the [`identity_layer`] attached, turns the request into the use case's
//! own types ([`convert`]), calls the use case, and turns the answer back,
//! or the error into a status ([`status`], the one place that does).

pub mod admin;
pub mod audit;
pub mod batch_bound;
pub mod body_budget;
pub mod checked_body;
pub mod consent;
pub mod convert;
pub mod decode_errors;
pub mod directory;
pub mod exchange;
pub mod free_text;
pub mod identity_layer;
pub mod receipt_signatures;
pub mod status;

use tokio::sync::mpsc;
use tonic::{Request, Status};

use crate::metrics::METRICS;
use crate::service::{Caller, ServiceError};
use crate::transport::access::AccessWatch;

/// A boxed server stream, as the generated traits ask for streaming RPCs.
pub type BoxStream<T> =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The caller of a request that passed the identity layer, once the
/// request is found to hold no BSN where it may not ([`free_text`]): every
/// handler asks for its caller before it does anything else.
pub fn caller<T: prost::Message>(request: &Request<T>) -> Result<Caller, Status> {
    let caller = request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::internal("no caller identity on this request"))?;
    free_text::refuse_bsn(&caller.rpc, request.get_ref())?;
    Ok(caller)
}

/// Counts a server stream as open for as long as it lives.
struct OpenStream;

impl OpenStream {
    fn new() -> Self {
        METRICS.streams_open.inc();
        Self
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        METRICS.streams_open.dec();
    }
}

/// The access watch of a request that passed the identity layer, for a
/// stream that must end when the caller's access does.
pub fn access<T>(request: &Request<T>) -> Result<AccessWatch, Status> {
    request
        .extensions()
        .get::<AccessWatch>()
        .cloned()
        .ok_or_else(|| Status::internal("no access watch on this request"))
}

/// A stream of a use case's results that ends, with the status that says
/// why, as soon as `watch` says the caller's access ended; each item is
/// handed out only after its access is decided again, so nothing reaches a
/// caller after a suspension.
pub fn guarded<T: Send + 'static, U: Send + 'static>(
    rx: mpsc::Receiver<Result<T, ServiceError>>,
    to_pb: impl Fn(T) -> U + Send + 'static,
    watch: AccessWatch,
) -> BoxStream<U> {
    let ended: futures::future::BoxFuture<'static, _> = {
        let watch = watch.clone();
        Box::pin(async move { watch.ended().await })
    };
    let state = Some((rx, ended, watch, to_pb, OpenStream::new()));
    Box::pin(futures::stream::unfold(state, |state| async move {
        let (mut rx, mut ended, watch, to_pb, open) = state?;
        tokio::select! {
            biased;
            refused = &mut ended => Some((Err(status::access(refused)), None)),
            item = rx.recv() => {
                let item = item?;
                if let Err(refused) = watch.check().await {
                    return Some((Err(status::access(refused)), None));
                }
                let out = item.map(&to_pb).map_err(status::of);
                Some((out, Some((rx, ended, watch, to_pb, open))))
            }
        }
    }))
}
