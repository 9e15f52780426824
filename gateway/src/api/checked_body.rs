//! A request body whose data frames are checked as they arrive, and which
//! ends with the check's status, before the message is decoded, at the
//! first frame that fails it; and the tower layer that puts every request's
//! body under the check a [`MakeCheck`] makes for it. The body budget and
//! the batch bound are two such checks.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tonic::Status;

/// The error type of a body that can be refused.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a [`Checked`] body checks each data frame with.
pub trait FrameCheck {
    /// Takes in `data`; the status to end the body with, if it may not go on.
    fn check(&mut self, data: &Bytes) -> Result<(), Status>;
}

/// Makes the check of one request's body, from the request.
pub trait MakeCheck: Clone {
    /// The check.
    type Check: FrameCheck + Unpin;
    /// The check of `req`'s body.
    fn make<B>(&self, req: &http::Request<B>) -> Self::Check;
}

/// The layer that checks every request body with what `M` makes.
#[derive(Clone)]
pub struct CheckedBodyLayer<M> {
    make: M,
}

impl<M> CheckedBodyLayer<M> {
    /// A layer checking bodies with `make`'s checks.
    pub fn new(make: M) -> Self {
        Self { make }
    }
}

impl<S, M: Clone> tower::Layer<S> for CheckedBodyLayer<M> {
    type Service = CheckedBodyService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        CheckedBodyService {
            inner,
            make: self.make.clone(),
        }
    }
}

/// The service [`CheckedBodyLayer`] wraps around the routes.
#[derive(Clone)]
pub struct CheckedBodyService<S, M> {
    inner: S,
    make: M,
}

impl<S, M, B> tower::Service<http::Request<B>> for CheckedBodyService<S, M>
where
    M: MakeCheck,
    S: tower::Service<http::Request<Checked<B, M::Check>>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let check = self.make.make(&req);
        self.inner.call(req.map(|inner| Checked::new(inner, check)))
    }
}

/// A body checked frame by frame.
pub struct Checked<B, C> {
    inner: B,
    check: C,
    refused: bool,
}

impl<B, C> Checked<B, C> {
    /// `inner`, checked by `check`.
    pub fn new(inner: B, check: C) -> Self {
        Self {
            inner,
            check,
            refused: false,
        }
    }
}

impl<B, C> Body for Checked<B, C>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
    C: FrameCheck + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.refused {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref()
                    && let Err(status) = this.check.check(data)
                {
                    this.refused = true;
                    return Poll::Ready(Some(Err(Box::new(status) as _)));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.refused || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
