//! What one connection, and one certificate's connections, may hold. A
//! connection that finished its handshake is admitted only while its
//! certificate has fewer than `per_certificate` connections open and the
//! gateway fewer than `total`. One over a limit is let in only to answer its
//! calls with RESOURCE_EXHAUSTED naming the limit, and closed after
//! [`REFUSAL_LIFETIME`] whatever it does; at most [`MAX_REFUSING`] such
//! connections are open at once, and beyond that one over a limit is closed
//! at once. The log names the limit. An admitted connection is closed when its peer has
//! sent nothing for `idle` (the gateway's HTTP/2 keep-alive pings, which a
//! live peer answers, come well within it), so silent connections cannot
//! pile up until file descriptors run out.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::task::AtomicWaker;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::AccessError;
use crate::crypto::Digest;
use crate::metrics::METRICS;

/// Connections over a limit held open at once to answer their calls with
/// the limit; more are closed at once.
pub const MAX_REFUSING: usize = 64;

/// Of those, how many one certificate may have.
pub const MAX_REFUSING_PER_CERTIFICATE: usize = 4;

/// How long a connection over a limit stays open to answer its calls.
pub const REFUSAL_LIFETIME: Duration = Duration::from_secs(2);

/// How long a connection whose certificate was refused stays open after
/// the refusal: long enough to write the refused call's answer, too short
/// to make many more calls.
pub const CLOSE_GRACE: Duration = Duration::from_millis(250);

/// The way to end one connection from above the transport: the identity
/// layer ends a connection whose certificate it refuses (revoked, expired,
/// not pinned, without an OIN), so that it makes no further calls, not
/// even refused ones. Shared by the connection and every request on it.
#[derive(Debug, Default)]
pub struct Closer {
    closing: AtomicBool,
    reason: Mutex<Option<AccessError>>,
    waker: AtomicWaker,
}

impl Closer {
    /// Ends the connection [`CLOSE_GRACE`] from now, whatever it does then;
    /// calls made until then are answered with `reason`.
    pub fn close(&self, reason: AccessError) {
        self.reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(reason);
        if !self.closing.swap(true, Ordering::SeqCst) {
            METRICS.connections_closed_refused.inc();
        }
        self.waker.wake();
    }

    /// Whether [`Closer::close`] was called.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// Why the connection is being ended, once it is.
    pub fn reason(&self) -> Option<AccessError> {
        self.reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

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
#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_certificate: HashMap<Digest, usize>,
    refusing: HashMap<Digest, usize>,
    refusing_total: usize,
}

/// Takes one from `counts[key]`, forgetting the key at zero.
fn give_back(counts: &mut HashMap<Digest, usize>, key: &Digest) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

/// The open connections, counted against the limits.
#[derive(Debug)]
pub struct Admission {
    limits: Limits,
    open: Mutex<Open>,
}

/// A connection's place, admitted or over a limit; given back when it is
/// dropped.
#[derive(Debug)]
pub struct Ticket {
    admission: Arc<Admission>,
    cert: Digest,
    over_limit: Option<String>,
}

impl Ticket {
    /// The limit this connection is over, if it is: its calls are answered
    /// with it.
    pub fn over_limit(&self) -> Option<&str> {
        self.over_limit.as_deref()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self.admission.lock();
        if self.over_limit.is_some() {
            open.refusing_total -= 1;
            give_back(&mut open.refusing, &self.cert);
            return;
        }
        open.total -= 1;
        METRICS.connections_open.dec();
        give_back(&mut open.per_certificate, &self.cert);
    }
}

impl Admission {
    /// Counting against `limits`.
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            open: Mutex::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The limits counted against.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// A place for one more connection of certificate `cert`: admitted, or
    /// over a limit (to answer its calls with it while there is room for
    /// that); otherwise the limit it would break.
    pub fn admit(self: &Arc<Self>, cert: Digest) -> Result<Ticket, String> {
        let mut open = self.lock();
        let ticket = |over_limit| Ticket {
            admission: self.clone(),
            cert,
            over_limit,
        };
        let over = if open.total >= self.limits.total {
            Some(format!(
                "the gateway holds {} connections already ([server] max_connections); retry later",
                self.limits.total
            ))
        } else if open.per_certificate.get(&cert).copied().unwrap_or(0)
            >= self.limits.per_certificate
        {
            Some(format!(
                "this certificate holds {} connections already ([server] max_connections_per_certificate); reuse one, or close one first",
                self.limits.per_certificate
            ))
        } else {
            None
        };
        match over {
            None => {
                *open.per_certificate.entry(cert).or_insert(0) += 1;
                open.total += 1;
                METRICS.connections_open.inc();
                Ok(ticket(None))
            }
            Some(limit)
                if open.refusing_total < MAX_REFUSING
                    && open.refusing.get(&cert).copied().unwrap_or(0)
                        < MAX_REFUSING_PER_CERTIFICATE =>
            {
                open.refusing_total += 1;
                *open.refusing.entry(cert).or_insert(0) += 1;
                Ok(ticket(Some(limit)))
            }
            Some(limit) => Err(limit),
        }
    }

    /// Open connections: in all, and of `cert` (those over a limit not
    /// counted).
    pub fn open(&self, cert: &Digest) -> (usize, usize) {
        let open = self.lock();
        (
            open.total,
            open.per_certificate.get(cert).copied().unwrap_or(0),
        )
    }
}

/// A connection with its place: its stream, its ticket, and the timer that
/// closes it.
pub struct Guarded<S> {
    inner: S,
    ticket: Ticket,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    closer: Arc<Closer>,
    /// Whether the closer's grace is the deadline now.
    closing: bool,
    /// Dropped with the connection, which its [`Guarded::gone`] receivers
    /// notice: tasks that watch the connection end with it.
    alive: tokio::sync::watch::Sender<()>,
}

impl<S> Guarded<S> {
    /// The stream inside.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The limit this connection is over, if it is.
    pub fn over_limit(&self) -> Option<&str> {
        self.ticket.over_limit()
    }

    /// What ends this connection from above.
    pub fn closer(&self) -> Arc<Closer> {
        self.closer.clone()
    }

    /// Completes once this connection is dropped, so that a task watching
    /// it does not outlive it (and keep the store open after a shutdown).
    pub fn gone(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut alive = self.alive.subscribe();
        async move { while alive.changed().await.is_ok() {} }
    }

    /// Whether the connection is on its way out, its deadline fixed: over
    /// a limit, or closed by its [`Closer`]. Once the closer was called,
    /// its grace becomes the deadline.
    fn ending(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.closing {
            self.closer.waker.register(cx.waker());
            if self.closer.is_closing() {
                self.closing = true;
                let grace = Instant::now() + CLOSE_GRACE;
                if grace < self.deadline.deadline() || self.ticket.over_limit.is_none() {
                    self.deadline.as_mut().reset(grace);
                }
            }
        }
        self.closing || self.ticket.over_limit.is_some()
    }

    /// `inner`, holding `ticket`: closed after `idle` without a byte read,
    /// or, over a limit, after [`REFUSAL_LIFETIME`] whatever it reads.
    pub fn new(inner: S, ticket: Ticket, idle: Duration) -> Self {
        let first = match ticket.over_limit() {
            Some(_) => REFUSAL_LIFETIME,
            None => idle,
        };
        Self {
            inner,
            ticket,
            idle,
            deadline: Box::pin(tokio::time::sleep(first)),
            closer: Arc::default(),
            closing: false,
            alive: tokio::sync::watch::Sender::new(()),
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
        let ending = self.ending(cx);
        if ending && self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(ended()));
        }
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before && !ending {
                    let next = Instant::now() + self.idle;
                    self.deadline.as_mut().reset(next);
                }
                Poll::Ready(r)
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) if ending => Poll::Ready(Err(ended())),
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "server.idle_timeout_secs: the peer sent nothing for too long",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// The error that ends a connection whose time is up: over a limit, or
/// closed for its certificate.
fn ended() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "over a connection limit, or its certificate refused: its time to hear so is up",
    )
}

impl<S> Guarded<S> {
    /// For a connection on its way out whose time is up: the error that
    /// ends it, whether it reads or not (a peer that never reads its
    /// answers would otherwise keep it open through blocked writes).
    fn refusal_ended(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        (self.ending(cx) && self.deadline.as_mut().poll(cx).is_ready()).then(ended)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.refusal_ended(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.refusal_ended(cx) {
            return Poll::Ready(Err(e));
        }
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
        if let Some(e) = self.refusal_ended(cx) {
            return Poll::Ready(Err(e));
        }
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
        let over = admission.admit(a).unwrap();
        let limit = over.over_limit().unwrap();
        assert!(
            limit.contains("[server] max_connections_per_certificate"),
            "{limit}"
        );
        let _b1 = admission.admit(b).unwrap();
        let over_b = admission.admit(b).unwrap();
        assert!(
            over_b
                .over_limit()
                .unwrap()
                .contains("[server] max_connections)")
        );
        assert_eq!(
            admission.open(&a),
            (3, 2),
            "those over a limit are not counted"
        );
        drop((over, over_b));
        drop(a1);
        assert_eq!(admission.open(&a), (2, 1));
        assert!(admission.admit(b).unwrap().over_limit().is_none());
    }

    #[test]
    fn connections_over_a_limit_are_answered_only_while_there_is_room() {
        let admission = Admission::new(Limits {
            per_certificate: 1,
            total: 10,
            idle: Duration::from_secs(1),
        });
        let a = Digest([1; 32]);
        let _in = admission.admit(a).unwrap();
        let mut refusing: Vec<_> = (0..MAX_REFUSING_PER_CERTIFICATE)
            .map(|_| admission.admit(a).unwrap())
            .collect();
        assert!(refusing.iter().all(|t| t.over_limit().is_some()));
        let e = admission.admit(a).unwrap_err();
        assert!(e.contains("max_connections_per_certificate"), "{e}");
        refusing.pop();
        assert!(admission.admit(a).unwrap().over_limit().is_some());
        // Many certificates together are held to the total.
        let none_in = Admission::new(Limits {
            per_certificate: 0,
            total: 10,
            idle: Duration::from_secs(1),
        });
        let refusing: Vec<_> = (0..MAX_REFUSING as u8)
            .map(|i| none_in.admit(Digest([i; 32])).unwrap())
            .collect();
        assert!(refusing.iter().all(|t| t.over_limit().is_some()));
        assert!(none_in.admit(Digest([255; 32])).is_err());
    }
}
