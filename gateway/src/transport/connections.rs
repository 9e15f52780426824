//! What one connection, and one certificate's connections, may hold. A
//! connection that finished its handshake is admitted only while its
//! certificate has fewer than `per_certificate` connections open and the
//! gateway fewer than `total`; one over a limit is closed at once, and the
//! log names the limit. An admitted connection is closed when its peer has
//! sent nothing for `idle` (the gateway's HTTP/2 keep-alive pings, which a
//! live peer answers, come well within it), so silent connections cannot
//! pile up until file descriptors run out.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::crypto::Digest;
use crate::metrics::METRICS;

/// The limits on connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections per client certificate.
    pub per_certificate: usize,
    /// Open connections in all.
    pub total: usize,
    /// How long a peer may send nothing before its connection is closed.
    pub idle: Duration,
}

/// The open connections, counted.
#[derive(Debug)]
pub struct Admission {
    limits: Limits,
    open: Mutex<(usize, HashMap<Digest, usize>)>,
}

/// An admitted connection's place; given back when it is dropped.
#[derive(Debug)]
pub struct Ticket {
    admission: Arc<Admission>,
    cert: Digest,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self
            .admission
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.0 -= 1;
        METRICS.connections_open.dec();
        if let Some(n) = open.1.get_mut(&self.cert) {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&self.cert);
            }
        }
    }
}

impl Admission {
    /// Counting against `limits`.
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            open: Mutex::new((0, HashMap::new())),
        })
    }

    /// The limits counted against.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// A place for one more connection of certificate `cert`, or the limit
    /// it would break.
    pub fn admit(self: &Arc<Self>, cert: Digest) -> Result<Ticket, String> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.0 >= self.limits.total {
            return Err(format!(
                "server.max_connections: the gateway holds {} connections already",
                self.limits.total
            ));
        }
        let mine = open.1.entry(cert).or_insert(0);
        if *mine >= self.limits.per_certificate {
            return Err(format!(
                "server.max_connections_per_certificate: this certificate holds {} connections already",
                self.limits.per_certificate
            ));
        }
        *mine += 1;
        open.0 += 1;
        METRICS.connections_open.inc();
        Ok(Ticket {
            admission: self.clone(),
            cert,
        })
    }

    /// Open connections: in all, and of `cert`.
    pub fn open(&self, cert: &Digest) -> (usize, usize) {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        (open.0, open.1.get(cert).copied().unwrap_or(0))
    }
}

/// An admitted connection: its stream, its place, and the idle timer.
pub struct Guarded<S> {
    inner: S,
    _ticket: Ticket,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<S> Guarded<S> {
    /// The stream inside.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// `inner`, holding `ticket`, closed after `idle` without a byte read.
    pub fn new(inner: S, ticket: Ticket, idle: Duration) -> Self {
        Self {
            inner,
            _ticket: ticket,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    let next = Instant::now() + self.idle;
                    self.deadline.as_mut().reset(next);
                }
                Poll::Ready(r)
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "server.idle_timeout_secs: the peer sent nothing for too long",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_counted_per_certificate_and_in_all_and_given_back() {
        let admission = Admission::new(Limits {
            per_certificate: 2,
            total: 3,
            idle: Duration::from_secs(1),
        });
        let (a, b) = (Digest([1; 32]), Digest([2; 32]));
        let a1 = admission.admit(a).unwrap();
        let _a2 = admission.admit(a).unwrap();
        let e = admission.admit(a).unwrap_err();
        assert!(e.contains("max_connections_per_certificate"), "{e}");
        let _b1 = admission.admit(b).unwrap();
        let e = admission.admit(b).unwrap_err();
        assert!(e.contains("server.max_connections:"), "{e}");
        drop(a1);
        assert_eq!(admission.open(&a), (2, 1));
        admission.admit(b).unwrap();
    }
}
