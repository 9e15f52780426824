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
use prometheus_client::registry::Registry;

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
    /// Open TLS connections that finished their handshake.
    pub connections_open: Gauge,
    /// Open server streams (inbox, receipts, audit).
    pub streams_open: Gauge,
    /// Bytes of deliveries leased to open inbox streams and not yet sent.
    pub bytes_in_flight: Gauge,
    /// Days left on certificates: the gateway's own, and each
    /// participant's last-seen one (label `oin`, `gateway` for its own).
    pub certificate_days_left: Family<Labels, Gauge<f64, AtomicU64>>,
    /// Whether the store is at fault (1) or writes (0).
    pub store_fault: Gauge,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("schakel");
        let messages = Family::<Labels, Counter>::default();
        registry.register("messages", "Messages by kind and outcome", messages.clone());
        let refusals = Family::<Labels, Counter>::default();
        registry.register("refusals", "Refused calls by cause", refusals.clone());
        let lease_expiries = Counter::default();
        registry.register(
            "lease_expiries",
            "Leases that ran out before an acknowledgement",
            lease_expiries.clone(),
        );
        let send_to_ack_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 20));
        registry.register(
            "send_to_ack_seconds",
            "Seconds from acceptance to acknowledgement",
            send_to_ack_seconds.clone(),
        );
        let fsync_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "fsync_seconds",
            "Seconds a group commit takes to make its group durable",
            fsync_seconds.clone(),
        );
        let group_commit_size = Histogram::new(exponential_buckets(1.0, 2.0, 13));
        registry.register(
            "group_commit_size",
            "Steps per group commit",
            group_commit_size.clone(),
        );
        let inbox_ready = Family::<Labels, Gauge>::default();
        registry.register(
            "inbox_ready",
            "Ready messages per recipient",
            inbox_ready.clone(),
        );
        let inbox_leased = Family::<Labels, Gauge>::default();
        registry.register(
            "inbox_leased",
            "Leased messages per recipient",
            inbox_leased.clone(),
        );
        let inbox_oldest_age_seconds = Family::<Labels, Gauge>::default();
        registry.register(
            "inbox_oldest_age_seconds",
            "Age of the oldest ready message per recipient",
            inbox_oldest_age_seconds.clone(),
        );
        let store_bytes = Gauge::default();
        registry.register(
            "store_bytes",
            "The store's size on disk",
            store_bytes.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "connections_open",
            "Open TLS connections",
            connections_open.clone(),
        );
        let streams_open = Gauge::default();
        registry.register("streams_open", "Open server streams", streams_open.clone());
        let bytes_in_flight = Gauge::default();
        registry.register(
            "bytes_in_flight",
            "Bytes of leased deliveries held for open streams",
            bytes_in_flight.clone(),
        );
        let certificate_days_left = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "certificate_days_left",
            "Days left on the gateway's certificate and each participant's last-seen one",
            certificate_days_left.clone(),
        );
        let store_fault = Gauge::default();
        registry.register(
            "store_fault",
            "1 while the store cannot write",
            store_fault.clone(),
        );
        Self {
            registry,
            messages,
            refusals,
            lease_expiries,
            send_to_ack_seconds,
            fsync_seconds,
            group_commit_size,
            inbox_ready,
            inbox_leased,
            inbox_oldest_age_seconds,
            store_bytes,
            connections_open,
            streams_open,
            bytes_in_flight,
            certificate_days_left,
            store_fault,
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
