//! A request body whose data frames are checked as they arrive, and which
//! ends with the check's status, before the message is decoded, at the
//! first frame that fails it: what the body budget and the batch bound both
//! do, each with its own check.

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
