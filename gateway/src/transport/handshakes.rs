//! Pending TLS handshakes, bounded. A TCP connection holds a file
//! descriptor, a task and rustls' buffers from the moment it is accepted,
//! before its peer has proved anything; a peer that opens sockets and never
//! starts TLS would otherwise hold them until the handshake timeout, and
//! enough of them exhaust the gateway's file descriptors (and its memory)
//! for everyone. So a connection from an address with `per_address`
//! handshakes pending already is closed at once, before a byte is read
//! from it; and when `total` are pending in all, the one pending longest
//! is ended to make room (a genuine client finishes its handshake in a few
//! milliseconds, a silent socket never does, so the oldest is the likeliest
//! to be silent). Each is counted under the bound it met.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use crate::metrics::METRICS;

/// The bounds on pending handshakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeLimits {
    /// Handshakes pending at once in all.
    pub total: usize,
    /// Handshakes pending at once from one source address.
    pub per_address: usize,
}

/// The pending handshakes, counted.
#[derive(Debug)]
pub struct Handshakes {
    limits: HandshakeLimits,
    pending: Mutex<Table>,
}

/// The pending handshakes: oldest first by number, and a count per
/// address.
#[derive(Debug, Default)]
struct Table {
    next: u64,
    by_age: BTreeMap<u64, (IpAddr, Arc<Notify>)>,
    per_address: HashMap<IpAddr, usize>,
}

impl Table {
    /// Takes handshake `number` out, if it is still in.
    fn remove(&mut self, number: u64) {
        let Some((address, _)) = self.by_age.remove(&number) else {
            return;
        };
        if let Some(n) = self.per_address.get_mut(&address) {
            *n -= 1;
            if *n == 0 {
                self.per_address.remove(&address);
            }
        }
        METRICS.handshakes_pending.dec();
    }
}

/// One pending handshake's place; given back when dropped (the handshake
/// finished, failed or timed out), or taken away to make room for a newer
/// one ([`Pending::evicted`]).
#[derive(Debug)]
pub struct Pending {
    handshakes: Arc<Handshakes>,
    number: u64,
    evicted: Arc<Notify>,
}

impl Pending {
    /// Completes when this handshake was ended to make room: its
    /// connection is then closed.
    pub async fn evicted(&self) {
        self.evicted.notified().await;
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.handshakes.lock().remove(self.number);
    }
}

impl Handshakes {
    /// Counting against `limits`.
    pub fn new(limits: HandshakeLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            pending: Mutex::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for the handshake of a connection from `address`, or the
    /// setting that bounds it; at the bound in all, the oldest pending
    /// handshake is ended to make room.
    pub fn begin(self: &Arc<Self>, address: IpAddr) -> Result<Pending, &'static str> {
        let refused = |bound: &'static str| {
            METRICS
                .handshakes_refused
                .get_or_create(&vec![("limit", bound.to_owned())])
                .inc();
            bound
        };
        let mut table = self.lock();
        if table.per_address.get(&address).copied().unwrap_or(0) >= self.limits.per_address {
            return Err(refused("server.max_pending_handshakes_per_address"));
        }
        while table.by_age.len() >= self.limits.total {
            let Some((&oldest, (_, evict))) = table.by_age.first_key_value() else {
                break;
            };
            evict.notify_one();
            table.remove(oldest);
            refused("server.max_pending_handshakes");
        }
        let number = table.next;
        table.next += 1;
        let evicted = Arc::new(Notify::new());
        table.by_age.insert(number, (address, evicted.clone()));
        *table.per_address.entry(address).or_insert(0) += 1;
        METRICS.handshakes_pending.inc();
        Ok(Pending {
            handshakes: self.clone(),
            number,
            evicted,
        })
    }

    /// Handshakes pending now: in all, and from `address`.
    pub fn pending(&self, address: IpAddr) -> (usize, usize) {
        let table = self.lock();
        (
            table.by_age.len(),
            table.per_address.get(&address).copied().unwrap_or(0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn handshakes_are_bounded_per_address_and_the_oldest_makes_room() {
        let handshakes = Handshakes::new(HandshakeLimits {
            total: 3,
            per_address: 2,
        });
        let (a, b, c): (IpAddr, IpAddr, IpAddr) = (
            "127.0.0.1".parse().unwrap(),
            "127.0.0.2".parse().unwrap(),
            "127.0.0.3".parse().unwrap(),
        );
        let a1 = handshakes.begin(a).unwrap();
        let a2 = handshakes.begin(a).unwrap();
        assert_eq!(
            handshakes.begin(a).unwrap_err(),
            "server.max_pending_handshakes_per_address"
        );
        let _b1 = handshakes.begin(b).unwrap();
        assert_eq!(handshakes.pending(a), (3, 2));
        // Full in all: the oldest (a1) is ended for the newcomer.
        let _c1 = handshakes.begin(c).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(1), a1.evicted())
            .await
            .expect("the oldest is told to end");
        assert_eq!(handshakes.pending(a), (3, 1));
        drop(a1);
        assert_eq!(
            handshakes.pending(a),
            (3, 1),
            "an evicted place is given back once"
        );
        drop(a2);
        assert_eq!(handshakes.pending(a), (2, 0), "given back when dropped");
    }
}
