//! Metrics for operators, in the Prometheus text format.
//!
//! One registry per process ([`METRICS`]), like a log: every layer records
//! into it where the event happens (a message accepted, a refusal counted,
//! a group committed), and figures that are cheaper to read than to keep
//! (queue depths, the store's size) are set just before each scrape. The
//! endpoint that serves them is the server's (`[metrics]`); it listens on
//! loopback by default and carries no personal data: labels are kinds,
//! outcomes, causes and OINs.

use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

/// A metric's labels: names and values.
pub type Labels = Vec<(&'static str, String)>;

/// Every metric the gateway keeps.
pub struct Metrics {
    registry: Registry,
    /// Messages by kind and outcome: accepted, duplicate, refused,
    /// delivered, rejected, expired, withdrawn.
    pub messages: Family<Labels, Counter>,
    /// Refused calls by cause.
    pub refusals: Family<Labels, Counter>,
    /// Leases that ran out before an acknowledgement.
    pub lease_expiries: Counter,
    /// Seconds from a message's acceptance to its acknowledgement.
    pub send_to_ack_seconds: Histogram,
    /// Seconds one group commit spends making its group durable.
    pub fsync_seconds: Histogram,
    /// Steps per group commit.
    pub group_commit_size: Histogram,
    /// Ready messages per recipient (set at each scrape).
    pub inbox_ready: Family<Labels, Gauge>,
    /// Leased messages per recipient (set at each scrape).
    pub inbox_leased: Family<Labels, Gauge>,
    /// Age of the oldest ready message per recipient, seconds (set at each
    /// scrape).
    pub inbox_oldest_age_seconds: Family<Labels, Gauge>,
    /// The store's size on disk, bytes (set at each scrape).
    pub store_bytes: Gauge,
    /// Payload bytes held undelivered per recipient (set at each scrape),
    /// against `limits.max_undelivered_bytes_per_inbox`.
    pub inbox_held_bytes: Family<Labels, Gauge>,
    /// Payload bytes held undelivered per sender (set at each scrape),
    /// against `limits.max_undelivered_bytes_per_sender`.
    pub sender_held_bytes: Family<Labels, Gauge>,
    /// Bytes the store may still grow by before large payloads are refused:
    /// free space (or the database's bound) less `storage.min_free_bytes`;
    /// negative below the reserve; i64::MAX for a database without a bound.
    pub store_headroom_bytes: Gauge,
    /// Open TLS connections that finished their handshake.
    pub connections_open: Gauge,
    /// Open server streams (inbox, receipts, audit).
    pub streams_open: Gauge,
    /// Bytes of deliveries leased to open inbox streams and not yet sent.
    pub bytes_in_flight: Gauge,
    /// Bytes of request bodies held while they arrive.
    pub request_bytes_in_flight: Gauge,
    /// Days left on certificates: the gateway's own, and each
    /// participant's last-seen one (label `oin`, `gateway` for its own).
    pub certificate_days_left: Family<Labels, Gauge<f64, AtomicU64>>,
    /// Whether the store is at fault (1) or writes (0).
    pub store_fault: Gauge,
    /// Connections ended because their certificate was refused (revoked,
    /// expired, not pinned, without an OIN).
    pub connections_closed_refused: Counter,
    /// TCP connections whose TLS handshake has not finished.
    pub handshakes_pending: Gauge,
    /// TCP connections closed before their handshake because a bound on
    /// pending handshakes was reached, by the bound (`limit`).
    pub handshakes_refused: Family<Labels, Counter>,
}

/// Registers `metric` under `name` with `help`, and answers it (a handle
/// to the same figures).
fn add<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

impl Metrics {
    fn new() -> Self {
        let mut r = Registry::with_prefix("schakel");
        let buckets = |start, count| Histogram::new(exponential_buckets(start, 2.0, count));
        Self {
            messages: add(
                &mut r,
                "messages",
                "Messages by kind and outcome",
                Family::default(),
            ),
            refusals: add(
                &mut r,
                "refusals",
                "Refused calls by cause",
                Family::default(),
            ),
            lease_expiries: add(
                &mut r,
                "lease_expiries",
                "Leases that ran out before an acknowledgement",
                Counter::default(),
            ),
            send_to_ack_seconds: add(
                &mut r,
                "send_to_ack_seconds",
                "Seconds from acceptance to acknowledgement",
                buckets(0.001, 20),
            ),
            fsync_seconds: add(
                &mut r,
                "fsync_seconds",
                "Seconds a group commit takes to make its group durable",
                buckets(0.0001, 16),
            ),
            group_commit_size: add(
                &mut r,
                "group_commit_size",
                "Steps per group commit",
                buckets(1.0, 13),
            ),
            inbox_ready: add(
                &mut r,
                "inbox_ready",
                "Ready messages per recipient",
                Family::default(),
            ),
            inbox_leased: add(
                &mut r,
                "inbox_leased",
                "Leased messages per recipient",
                Family::default(),
            ),
            inbox_oldest_age_seconds: add(
                &mut r,
                "inbox_oldest_age_seconds",
                "Age of the oldest ready message per recipient",
                Family::default(),
            ),
            store_bytes: add(
                &mut r,
                "store_bytes",
                "The store's size on disk",
                Gauge::default(),
            ),
            inbox_held_bytes: add(
                &mut r,
                "inbox_held_bytes",
                "Payload bytes held undelivered per recipient",
                Family::default(),
            ),
            sender_held_bytes: add(
                &mut r,
                "sender_held_bytes",
                "Payload bytes held undelivered per sender",
                Family::default(),
            ),
            store_headroom_bytes: add(
                &mut r,
                "store_headroom_bytes",
                "Bytes the store may grow by before large payloads are refused (below the free-space reserve: negative)",
                Gauge::default(),
            ),
            connections_open: add(
                &mut r,
                "connections_open",
                "Open TLS connections",
                Gauge::default(),
            ),
            streams_open: add(
                &mut r,
                "streams_open",
                "Open server streams",
                Gauge::default(),
            ),
            bytes_in_flight: add(
                &mut r,
                "bytes_in_flight",
                "Bytes of leased deliveries held for open streams",
                Gauge::default(),
            ),
            request_bytes_in_flight: add(
                &mut r,
                "request_bytes_in_flight",
                "Bytes of request bodies held while they arrive",
                Gauge::default(),
            ),
            certificate_days_left: add(
                &mut r,
                "certificate_days_left",
                "Days left on the gateway's certificate and each participant's last-seen one",
                Family::default(),
            ),
            store_fault: add(
                &mut r,
                "store_fault",
                "1 while the store cannot write",
                Gauge::default(),
            ),
            connections_closed_refused: add(
                &mut r,
                "connections_closed_refused",
                "Connections ended because their certificate was refused",
                Counter::default(),
            ),
            handshakes_pending: add(
                &mut r,
                "handshakes_pending",
                "TCP connections whose TLS handshake has not finished",
                Gauge::default(),
            ),
            handshakes_refused: add(
                &mut r,
                "handshakes_refused",
                "Connections closed before their handshake, by the bound reached",
                Family::default(),
            ),
            registry: r,
        }
    }

    /// Counts a message of `kind` reaching `outcome`.
    pub fn message(&self, kind: &str, outcome: &str) {
        self.messages
            .get_or_create(&vec![
                ("kind", kind.to_owned()),
                ("outcome", outcome.to_owned()),
            ])
            .inc();
    }

    /// Records that the certificate of `who` (an OIN, or `gateway`) ends
    /// at `not_after` (Unix seconds), as seen at `now` (Unix seconds).
    pub fn certificate(&self, who: &str, not_after: i64, now: i64) {
        self.certificate_days_left
            .get_or_create(&vec![("oin", who.to_owned())])
            .set((not_after - now) as f64 / 86_400.0);
    }

    /// The text a scrape answers.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// The process's metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_figures_are_rendered_with_their_labels() {
        let m = Metrics::new();
        m.message("signalering", "accepted");
        m.message("signalering", "accepted");
        m.certificate("gateway", 86_400 * 10, 0);
        m.send_to_ack_seconds.observe(0.004);
        let text = m.render();
        assert!(
            text.contains(r#"schakel_messages_total{kind="signalering",outcome="accepted"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"schakel_certificate_days_left{oin="gateway"} 10"#),
            "{text}"
        );
        assert!(
            text.contains("schakel_send_to_ack_seconds_count 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
